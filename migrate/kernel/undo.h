/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An undo record of a jbd2 handle (undo.c writes them, journal.c reads them
 * in a dead kernel's memory): a buffer as it was when the handle first took
 * access to it, and what the handles that finished since changed in it.
 * Same build on both sides: the layout is this header's.
 */
#ifndef _ORTHROS_UNDO_H
#define _ORTHROS_UNDO_H

#include <linux/types.h>

#define ORTHROS_UNDO_MAX	64	/* buffers a handle may hold undo records of */

/* handle_t's h_orthros_inexact */
#define ORTHROS_UNDO_EXACT	0	/* its records undo it */
#define ORTHROS_UNDO_INEXACT	1	/* its records track it, they cannot undo it */
#define ORTHROS_UNDO_UNTRACKED	2	/* some of its accesses have no record */

struct buffer_head;
struct journal_head;
struct jbd2_journal_handle;

struct orthros_undo {
	struct orthros_undo *next;	/* the handle's earlier record, NULL: none */
	struct orthros_undo *jnext;	/* the next record of the buffer's handles */
	struct buffer_head *bh;
	struct journal_head *jh;	/* a reference held until the handle stops */
	u64 blocknr;
	u32 seq;			/* jh->b_orthros_seq this access made */
	u32 size;
	void *data;			/* the buffer as it was: size bytes, size-aligned; NULL: no copy */
	/*
	 * NULL, or 2 * size bytes, size-aligned: the bits that handles which
	 * finished after this access changed (a mask), then their values
	 */
	void *merge;
	u32 merged;			/* the finished handles merged into it */
	u32 wsec;			/* jh->b_orthros_wsec after its last access call */
	u8 writing;			/* access called, dirty not yet */
	u8 clean;			/* no other handle's write section met its own */
};

/*
 * A word with the bits of mask taken from val, the others from base: a
 * block as the finished handles left it (base the copy, mask and val the
 * merge), and a merge taking a finished handle's change.
 */
static inline unsigned long orthros_undo_merged(unsigned long base, unsigned long mask,
						unsigned long val)
{
	return (base & ~mask) | (val & mask);
}

/*
 * Fault injection (workloads/kernel/inject.c): called in the task's context
 * after a handle's nr-th record is published, with the handle open; it may
 * sleep.  NULL: none.
 */
extern void (*orthros_undo_hook)(struct jbd2_journal_handle *handle, unsigned int nr);

#endif
