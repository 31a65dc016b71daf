/* SPDX-License-Identifier: GPL-2.0 */
/* What migrate/ offers failover/. */
#ifndef ORTHROS_MIGRATE_H
#define ORTHROS_MIGRATE_H

#include "../shmem/orthros_shm_abi.h"

/*
 * Apply the dirty page cache of the dead OS's registered file system to the
 * same file system mounted here at mnt.  0, or an error when nothing could
 * be done; objects that do not check are counted in st->skipped, what the
 * witnesses disagree on in st->disagreements, what cannot be carried in
 * st->losses.  ORTHROS_MIGRATE_TREE_ONLY: the page-cache trees alone, no
 * memmap witness (for tests: what a damaged tree costs without it).
 */
#define ORTHROS_MIGRATE_TREE_ONLY	0x1
int orthros_migrate(u32 ordinal, const char *mnt, u32 flags, struct orthros_migrate_stats *st);

/*
 * The dead OS's unfinished journal transactions of its registered file
 * system, into the user buffer buf of len bytes in the format of
 * orthros_journal_abi.h (journal.c); *needed: its size.  0, -ENOSPC (the
 * buffer is too small), or an error when nothing could be read; st: what
 * was handed out and what was left out.
 * ORTHROS_MIGRATE_NO_JOURNAL: none read (for tests: the control).
 * ORTHROS_MIGRATE_NO_UNDO: open handles are not taken back out with their
 * undo records (undo.c): a running transaction with one open is dropped
 * (for tests: the control).
 * ORTHROS_MIGRATE_NO_MERGE: a block a finished handle changed after an open
 * one took it is not put back with the finished one's change merged: the
 * running transaction is dropped (for tests: the control).
 */
#define ORTHROS_MIGRATE_NO_JOURNAL	0x2
#define ORTHROS_MIGRATE_NO_UNDO		0x4
#define ORTHROS_MIGRATE_NO_MERGE	0x8
int orthros_journal(u32 ordinal, u32 flags, void __user *buf, u64 len, u64 *needed,
		    struct orthros_journal_stats *st);

/*
 * failover/ provides: the OS being taken over (its ordinal) once a failover
 * runs or is done here, 0 otherwise.
 */
u32 orthros_failover_source(void);

/*
 * failover/ provides: has the memory of the OS of this ordinal been hot-added
 * here (it is this OS's RAM now, no longer the dead kernel's)?
 */
bool orthros_repartition_reused(u32 ordinal);
/* ... and is this physical address in the memory it hot-added? */
bool orthros_repartition_added(u64 phys);
/* The added range overlapping [start, end), clipped: 0, or 1 if none. */
int orthros_repartition_added_range(u64 start, u64 end, u64 *a0, u64 *a1);
/* What a takeover would hot-add here (the general area less its memmap), or 0. */
u64 orthros_repartition_general_bytes(void);

/* A process of OS `from` restored here: its registry entry becomes this OS's. */
int orthros_protect_adopt(u32 pid, u32 from);
/* How many processes OS owner registered (protect.c). */
u32 orthros_protect_count(u32 owner);

#endif
