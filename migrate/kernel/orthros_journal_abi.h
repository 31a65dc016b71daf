/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The dead kernel's unfinished jbd2 transactions (issue 25; docs/failover.md,
 * "The namespace: finishing the dead kernel's journal"): what the kernel
 * reads out of the dead memory (migrate/kernel/journal.c) and what
 * orthros-journal appends to the on-disk log of the user-data file system
 * before it is mounted, so that the mount's replay gives the metadata the dead
 * kernel presented.
 *
 * ORTHROS_FAILOVER_JOURNAL (on /dev/orthros-failover, while a failover runs)
 * fills the caller's buffer with, all in host byte order:
 *
 *   struct orthros_journal_head
 *   nr_txn times, in commit order (the committing transaction first):
 *     struct orthros_journal_txn
 *     nr_revokes x __u64           file-system blocks the transaction revoked
 *     nr_blocks x {
 *       __u64 blocknr;             the file-system block this image is of
 *       __u8 data[blocksize];      its content as the transaction logs it
 *     }
 *
 * head.bytes is the size of all of it.  A buffer too small: -ENOSPC and
 * req.needed says how large it must be.  What cannot be carried is not in the
 * buffer: head.dropped_* and head.why name it.
 */
#ifndef ORTHROS_JOURNAL_ABI_H
#define ORTHROS_JOURNAL_ABI_H

#include <linux/types.h>

#define ORTHROS_JOURNAL_MAGIC	0x4f4a524eU	/* "OJRN" */
#define ORTHROS_JOURNAL_VERSION	1
#define ORTHROS_JOURNAL_MAX_TXN	2

/* head.flags */
#define ORTHROS_JOURNAL_OFF	0x1	/* orthros_migrate=no-journal: nothing carried */
#define ORTHROS_JOURNAL_ABORTED	0x2	/* the dead journal was aborted: nothing carried */
#define ORTHROS_JOURNAL_NONE	0x4	/* no journal (no file system, or none on it) */

struct orthros_journal_head {
	__u32 magic;			/* ORTHROS_JOURNAL_MAGIC */
	__u32 version;			/* ORTHROS_JOURNAL_VERSION */
	__u32 flags;
	__u32 blocksize;		/* the journal's block size (the file system's) */
	__u32 nr_txn;			/* transactions that follow, 0..MAX_TXN */
	__u32 first, last;		/* the dead j_first, j_last: the usable log blocks */
	__u32 head;			/* the dead j_head: the first log block it had not used */
	__u32 commit_seq;		/* the dead j_commit_sequence: its last committed tid */
	__u32 total_len;		/* the dead j_total_len: the log's length in blocks */
	__u64 bytes;			/* everything, this head included */
	__u8 uuid[16];			/* the dead file system's s_uuid */
	/* what was read and left out: named, never silent */
	__u32 dropped_tid;		/* a transaction dropped (0: none) */
	__u32 dropped_blocks;		/* its block images */
	__u32 open_handles;		/* handles open in it (t_updates) when it died */
	__u32 pad;
	char why[160];			/* why it was dropped ("" if nothing was) */
};

/* txn.flags */
#define ORTHROS_JOURNAL_COMMITTING 0x1	/* the dead j_committing_transaction */

struct orthros_journal_txn {
	__u32 tid;
	__u32 state;			/* its t_state: T_RUNNING 0 .. T_FINISHED 8 */
	__u32 log_start;		/* committing: its t_log_start; else 0 */
	__u32 flags;
	__u32 nr_blocks;
	__u32 nr_revokes;
};

struct orthros_journal_req {
	__u64 buf;			/* user address of the buffer */
	__u64 len;			/* its size */
	__u64 needed;			/* out: bytes written, or needed (-ENOSPC) */
};

#define ORTHROS_FAILOVER_JOURNAL _IOWR(0xb8, 18, struct orthros_journal_req)

#endif
