/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An undo record of a jbd2 handle (undo.c writes them, journal.c reads them
 * in a dead kernel's memory): a buffer as it was when the handle first took
 * access to it.  Same build on both sides: the layout is this header's.
 */
#ifndef _ORTHROS_UNDO_H
#define _ORTHROS_UNDO_H

#include <linux/types.h>

#define ORTHROS_UNDO_MAX	64	/* buffers a handle may hold undo records of */

struct buffer_head;
struct journal_head;

struct orthros_undo {
	struct orthros_undo *next;	/* the handle's earlier record, NULL: none */
	struct buffer_head *bh;
	struct journal_head *jh;	/* a reference held until the handle stops */
	u64 blocknr;
	u32 seq;			/* jh->b_orthros_seq this access made */
	u32 size;
	void *data;			/* the buffer as it was: size bytes, size-aligned */
};

#endif
