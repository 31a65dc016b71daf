// SPDX-License-Identifier: GPL-2.0
/*
 * Orthros journal finisher, the kernel's half (issue 25; docs/failover.md,
 * "The namespace: finishing the dead kernel's journal"; the jbd2 facts with
 * their places in the source: docs/jbd2.md).
 *
 * The dead kernel's user-data file system had, when it died, at most two jbd2
 * transactions that are not committed on the disk: the committing one (C) and
 * the running one (R).  Their metadata buffers are whole block images in the
 * dead memory.  This reads them out, checked, in the format of
 * orthros_journal_abi.h; orthros-journal appends them to the on-disk log as
 * committed transactions before the mount, whose replay then gives the
 * metadata the dead kernel presented.
 *
 * What is read is untrusted: the super_block must be the registered one and
 * an ext4 one, the journal must point back to it, each transaction to the
 * journal; each list of journal_heads is walked capped, each entry checked
 * against its transaction, its list, its buffer_head (which must point back
 * to it) and its predecessor, and counted against t_nr_buffers.  A check
 * that fails drops that transaction, named (head.why), never this OS.  R with
 * a handle open (t_updates > 0: a task inside a file-system operation) holds
 * a half-done operation: each open handle's undo records (undo.c) put back
 * the buffers it touched as they were before it, when only open handles have
 * touched them since; otherwise R is dropped and named.  C is carried when it
 * can be rebuilt from memory.
 */
#define pr_fmt(fmt) "orthros-journal: " fmt

#include <linux/buffer_head.h>
#include <linux/jbd2.h>
#include <linux/mm.h>
#include <linux/orthros.h>
#include <linux/sched.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/bsearch.h>
#include <linux/sort.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "ext4.h"	/* ext4_sb_info (Makefile: -I fs/ext4) */
#include "ext4_jbd2.h"	/* EXT4_HT_RESIZE */
#include "dead.h"
#include "orthros_journal_abi.h"
#include "orthros_migrate.h"
#include "undo.h"

/* fs/jbd2/revoke.c keeps these private: the same layout, this very build's */
struct dead_revoke_record {
	struct list_head hash;
	tid_t sequence;
	unsigned long long blocknr;
};

struct dead_revoke_table {
	int hash_size;
	int hash_shift;
	struct list_head *hash_table;
};

#define MAX_HASH	(1 << 16)	/* revoke buckets (jbd2's default: 256) */
#define MAX_REVOKES	(1 << 16)	/* revoke records, both tables */
#define MAX_LOG_BLOCKS	(1 << 22)	/* a log longer than 4 Mi blocks is no log of ext4 mkfs */
#define MAX_OPEN	256		/* open handles taken back (one per task inside ext4) */

/* A spinlock in a copy of the dead memory: was it held when its kernel died? */
static bool held(spinlock_t *lock)
{
	return arch_spin_is_locked(&lock->rlock.raw_lock);
}

struct jblock {
	u64 blocknr;
	u64 phys;			/* its image in the dead memory */
	void *buf;			/* or here, made (a merged block): owned by the jundo */
	bool unescape;			/* its first word is the jbd2 magic, zeroed */
};

struct jtxn {
	const char *name;		/* "committing" or "running" */
	u64 va;
	transaction_t t;
	bool present, dropped;
	bool needs_next;		/* a block of it exists only in the log: R must land too */
	struct jblock *blocks;
	u32 nr, cap;
	u64 *revokes;
	u32 nr_revokes, cap_revokes;
};

/* A block open handles touched: its copy from before the first of them. */
struct jundo {
	u64 blocknr;
	u64 jh_va;
	u64 phys;			/* the copy in the dead memory */
	u64 merge_phys;			/* the first one's merged bits and values, 0: none */
	u32 first;			/* the seq of the first open handle's access */
	u32 open;			/* open handles that took it */
	u32 merged;			/* finished handles merged into the first one's record */
	bool bitmap_flag;		/* its buffer_head says it is an ext4 bitmap */
	void *buf;			/* the copy with the merged bits over it */
};

/* Where a bitwise merge is sound: the group descriptor blocks and bitmaps. */
struct jlayout {
	bool read, ok;
	u64 gdt_first;
	u32 gdt_count;
	u64 *bitmaps;			/* each group's block and inode bitmap */
	u32 nr_bitmaps;
};

struct jctx {
	struct orthros_dead dm;
	journal_t j;
	u64 j_va;
	u32 bs;
	struct orthros_journal_head head;
	struct jtxn c, r;
	struct jundo *undo;
	u32 nr_undo, undone_handles, merged_blocks;
	u64 sbi_va;
	struct jlayout layout;
	bool no_undo;			/* orthros_migrate=no-undo: the control */
	bool no_merge;			/* orthros_migrate=no-merge, or a resize open */
};

/* Leave a transaction out, and say why (the first reason goes to head.why). */
static __printf(3, 4) void drop(struct jctx *x, struct jtxn *t, const char *fmt, ...)
{
	char buf[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pr_warn("%s transaction %u dropped: %s\n", t->name, t->t.t_tid, buf);
	if (t->dropped)
		return;
	t->dropped = true;
	if (!x->head.why[0]) {
		snprintf(x->head.why, sizeof(x->head.why), "%s transaction %u: %s", t->name,
			 t->t.t_tid, buf);
		x->head.dropped_tid = t->t.t_tid;
		x->head.dropped_blocks = t->t.t_nr_buffers;
		x->head.open_handles = atomic_read(&t->t.t_updates);
	}
}

static int add_phys(struct jctx *x, struct jtxn *t, u64 blocknr, u64 phys)
{
	if (t->nr == t->cap) {
		u32 cap = t->cap ? 2 * t->cap : 64;
		struct jblock *b;

		if (cap > x->j.j_total_len)
			return -E2BIG;
		b = krealloc_array(t->blocks, cap, sizeof(*b), GFP_KERNEL | __GFP_NOWARN);
		if (!b)
			return -ENOMEM;
		t->blocks = b;
		t->cap = cap;
	}
	t->blocks[t->nr].blocknr = blocknr;
	t->blocks[t->nr].phys = phys;
	t->blocks[t->nr].buf = NULL;
	t->blocks[t->nr].unescape = false;
	t->nr++;
	return 0;
}

static int add_block(struct jctx *x, struct jtxn *t, u64 blocknr, u64 data_va)
{
	u64 phys;

	if (orthros_dead_va_phys(&x->dm, data_va, x->bs, &phys))
		return -EFAULT;
	return add_phys(x, t, blocknr, phys);
}

/*
 * A block whose first word is the jbd2 magic is escaped when it is logged:
 * jbd2_journal_write_metadata_buffer() zeroes that word in the frozen copy it
 * logs (making one for it), so a frozen copy that starts with 0 where the
 * data starts with the magic is such a block: its image gets the magic back
 * (orthros-journal escapes it again as it writes it).
 */
static void mark_escaped(struct jctx *x, struct jtxn *t, u64 frozen_va, u64 data_va)
{
	__be32 f, b;

	if (!orthros_dead_read(&x->dm, frozen_va, &f, sizeof(f)) &&
	    !orthros_dead_read(&x->dm, data_va, &b, sizeof(b)) && !f &&
	    b == cpu_to_be32(JBD2_MAGIC_NUMBER))
		t->blocks[t->nr - 1].unescape = true;
}

/*
 * One of the transaction's buffer lists (the circular b_tnext/b_tprev list
 * of journal_heads whose first is at list_va): each entry checked and handed
 * to take().  The number of entries, or a negative error with why set.
 */
static int walk_list(struct jctx *x, struct jtxn *t, u64 first, unsigned int jlist,
		     int (*take)(struct jctx *x, struct jtxn *t, const struct journal_head *jh,
				 const struct buffer_head *bh),
		     const char **why)
{
	u64 jh_va = first, prev = 0;
	struct journal_head jh;
	struct buffer_head bh;
	u32 n = 0;
	int err;

	if (!first)
		return 0;
	do {
		if (n++ >= x->j.j_total_len) {
			*why = "a buffer list does not come back to its head";
			return -ELOOP;
		}
		if (orthros_dead_read(&x->dm, jh_va, &jh, sizeof(jh)) ||
		    orthros_dead_read(&x->dm, (u64)jh.b_bh, &bh, sizeof(bh))) {
			*why = "a journal_head or buffer_head cannot be read";
			return -EFAULT;
		}
		if ((u64)jh.b_transaction != t->va || jh.b_jlist != jlist ||
		    (u64)bh.b_private != jh_va || !(bh.b_state & BIT(BH_JBD)) ||
		    bh.b_size != x->bs || bh.b_bdev != x->j.j_fs_dev ||
		    (u64)bh.b_data % x->bs || (u64)jh.b_frozen_data % x->bs ||
		    (prev && (u64)jh.b_tprev != prev)) {
			*why = "a buffer on its list does not belong to it";
			return -EBADMSG;
		}
		if (held(&jh.b_state_lock)) {
			*why = "the dead kernel stopped holding a buffer's state lock";
			return -EBUSY;
		}
		err = take(x, t, &jh, &bh);
		if (err) {
			*why = "a block image cannot be read";
			return err;
		}
		prev = jh_va;
		jh_va = (u64)jh.b_tnext;
	} while (jh_va != first);
	/* the first one's predecessor must be the last one */
	if (orthros_dead_read(&x->dm, first + offsetof(struct journal_head, b_tprev), &jh_va,
			      sizeof(jh_va)) || jh_va != prev) {
		*why = "a buffer list is not circular both ways";
		return -EBADMSG;
	}
	return n;
}

/*
 * A buffer of C: its image as C logs it (the frozen copy if R has changed it
 * since, else its data).  R's changes to it, once R had dirtied it, are R's.
 */
static int take_c(struct jctx *x, struct jtxn *t, const struct journal_head *jh,
		  const struct buffer_head *bh)
{
	bool for_r = x->r.present && (u64)jh->b_next_transaction == x->r.va &&
		     jh->b_modified && !(bh->b_state & BIT(BH_Freed));
	int err = 0;

	/* a forgotten buffer (jbddirty cleared) is not logged: its revoke is */
	if (jh->b_jlist == BJ_Forget && !(bh->b_state & BIT(BH_JBDDirty)) && !for_r)
		return 0;
	if (jh->b_jlist != BJ_Forget || (bh->b_state & BIT(BH_JBDDirty))) {
		/*
		 * A frozen copy of a buffer still on t_buffers is whole once
		 * b_next_transaction is set (do_get_write_access() copies, then
		 * sets it after a write barrier); a logged one (shadow, forget)
		 * is whole.
		 */
		if (jh->b_frozen_data && (jh->b_jlist != BJ_Metadata || jh->b_next_transaction)) {
			err = add_block(x, t, bh->b_blocknr, (u64)jh->b_frozen_data);
			if (!err && jh->b_jlist != BJ_Metadata)
				mark_escaped(x, t, (u64)jh->b_frozen_data, (u64)bh->b_data);
		} else {
			/*
			 * Logged already (t_forget), no frozen copy, and R took
			 * write access since: R may have changed it in place (its
			 * b_modified is set only after the change, and reset by
			 * a forget), so C's version is only in the log.  With R
			 * landing too, C's slot may hold R's version: the pair
			 * is atomic.
			 */
			if (jh->b_jlist == BJ_Forget && jh->b_next_transaction)
				t->needs_next = true;
			err = add_block(x, t, bh->b_blocknr, (u64)bh->b_data);
		}
	}
	if (!err && for_r)
		err = add_block(x, &x->r, bh->b_blocknr, (u64)bh->b_data);
	return err;
}

/* A buffer on R's t_buffers: its current data. */
static int take_r(struct jctx *x, struct jtxn *t, const struct journal_head *jh,
		  const struct buffer_head *bh)
{
	return add_block(x, t, bh->b_blocknr, (u64)bh->b_data);
}

static void read_c(struct jctx *x)
{
	struct jtxn *c = &x->c;
	const char *why = NULL;
	int n;

	if (c->t.t_state < T_FLUSH || c->t.t_state > T_COMMIT_JFLUSH) {
		drop(x, c, "state %d is not one a committing transaction has", c->t.t_state);
		return;
	}
	n = walk_list(x, c, (u64)c->t.t_buffers, BJ_Metadata, take_c, &why);
	if (n >= 0 && n != c->t.t_nr_buffers) {
		drop(x, c, "%d buffers listed, t_nr_buffers says %d", n, c->t.t_nr_buffers);
		return;
	}
	if (n >= 0)
		n = walk_list(x, c, (u64)c->t.t_shadow_list, BJ_Shadow, take_c, &why);
	if (n >= 0)
		n = walk_list(x, c, (u64)c->t.t_forget, BJ_Forget, take_c, &why);
	if (n < 0)
		drop(x, c, "%s (%d)", why, n);
	else
		pr_info("committing transaction %u (state %d) had begun writing at log block %lu: its revoke records written there already are not carried (a lost revoke lets an older copy land on a freed block: docs/jbd2.md 6.6)\n",
			c->t.t_tid, c->t.t_state, c->t.t_log_start);
}

/*
 * Who had the handles open in R: the tasks the dead cores were running
 * (this kernel is not preemptible: a task inside a file-system operation
 * either runs there or sleeps, and a sleeper is not named) whose
 * journal_info is a handle of R, with the ext4 operation it was started for
 * (h_type, fs/ext4/ext4_jbd2.h) and the line that started it.
 */
static void name_handles(struct jctx *x, char *buf, size_t size)
{
	static const char *const types[] = {
		"misc", "inode", "write page", "map blocks", "dir", "truncate", "quota",
		"resize", "migrate", "move extents", "xattr", "extent convert",
	};
	struct orthros_stopped_cpu *stopped;
	size_t len = 0;
	int i;

	buf[0] = '\0';
	stopped = kmalloc(sizeof(orthros_stopped), GFP_KERNEL);
	if (!stopped || x->dm.self ||
	    orthros_dead_read(&x->dm, (u64)orthros_stopped, stopped, sizeof(orthros_stopped)))
		goto out;
	for (i = 0; i < ARRAY_SIZE(orthros_stopped); i++) {
		char comm[TASK_COMM_LEN];
		handle_t h;
		u64 info;
		pid_t pid;

		if (!stopped[i].task ||
		    orthros_dead_read(&x->dm, stopped[i].task + offsetof(struct task_struct, journal_info),
				      &info, sizeof(info)) || info < 4096 ||
		    orthros_dead_read(&x->dm, info, &h, sizeof(h)) ||
		    (u64)h.h_transaction != x->r.va ||
		    orthros_dead_read(&x->dm, stopped[i].task + offsetof(struct task_struct, pid),
				      &pid, sizeof(pid)) ||
		    orthros_dead_read(&x->dm, stopped[i].task + offsetof(struct task_struct, comm),
				      comm, sizeof(comm)))
			continue;
		comm[sizeof(comm) - 1] = '\0';
		pr_warn("a handle open in running transaction %u: pid %d (%s) on core %d, ext4 %s (type %u) started at line %u\n",
			x->r.t.t_tid, pid, comm, i,
			h.h_type < ARRAY_SIZE(types) ? types[h.h_type] : "?", h.h_type, h.h_line_no);
		if (len < size)
			len += scnprintf(buf + len, size - len, "%s pid %d (%s): %s, line %u",
					 len ? ";" : "", pid, comm,
					 h.h_type < ARRAY_SIZE(types) ? types[h.h_type] : "?",
					 h.h_line_no);
	}
out:
	kfree(stopped);
}

/* One undo record of an open handle, checked, into x->undo. */
static int undo_record(struct jctx *x, const struct orthros_undo *u, const char **why)
{
	struct journal_head jh;
	struct buffer_head bh;
	struct jundo *b;
	u64 phys;
	u32 i;

	u64 merge_phys = 0;

	if (orthros_dead_read(&x->dm, (u64)u->jh, &jh, sizeof(jh)) ||
	    orthros_dead_read(&x->dm, (u64)u->bh, &bh, sizeof(bh)) ||
	    !u->data || orthros_dead_va_phys(&x->dm, (u64)u->data, x->bs, &phys) ||
	    (u->merge && orthros_dead_va_phys(&x->dm, (u64)u->merge, 2 * x->bs, &merge_phys))) {
		*why = "an undo record's buffer or copy cannot be read";
		return -EFAULT;
	}
	if (u->size != x->bs || (u64)u->data % x->bs || (u64)u->merge % (2 * x->bs) ||
	    (!u->merge && u->merged) || (s32)(jh.b_orthros_seq - u->seq - u->merged) < 0 ||
	    (u64)jh.b_bh != (u64)u->bh ||
	    (u64)bh.b_private != (u64)u->jh || !(bh.b_state & BIT(BH_JBD)) ||
	    bh.b_blocknr != u->blocknr || bh.b_bdev != x->j.j_fs_dev ||
	    (s32)(jh.b_orthros_seq - u->seq) < 0) {
		*why = "an undo record does not check against its buffer";
		return -EBADMSG;
	}
	for (i = 0; i < x->nr_undo; i++) {
		b = &x->undo[i];
		if (b->blocknr != u->blocknr)
			continue;
		if (b->jh_va != (u64)u->jh) {
			*why = "two undo records of one block name two buffers";
			return -EBADMSG;
		}
		b->open++;
		if ((s32)(u->seq - b->first) < 0) {
			b->first = u->seq;
			b->phys = phys;
			b->merge_phys = merge_phys;
			b->merged = u->merged;
		}
		return 0;
	}
	if (x->nr_undo == MAX_OPEN * ORTHROS_UNDO_MAX) {
		*why = "more undo records than open handles may hold";
		return -E2BIG;
	}
	b = &x->undo[x->nr_undo++];
	b->blocknr = u->blocknr;
	b->jh_va = (u64)u->jh;
	b->phys = phys;
	b->merge_phys = merge_phys;
	b->merged = u->merged;
	b->first = u->seq;
	b->open = 1;
	b->bitmap_flag = !!(bh.b_state & BIT(BH_BITMAP_UPTODATE));
	b->buf = NULL;
	return 0;
}

#define MAX_GDT_BLOCKS	1024		/* group descriptor blocks read for the layout */

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * The file system's group descriptor blocks and bitmaps, from the dead
 * ext4_sb_info: its descriptor buffers must be the blocks right after the
 * super block's (no meta_bg), each a buffer of this journal's device; the
 * bitmaps are the ones the descriptors name.  Not read: no block merges.
 */
static void read_layout(struct jctx *x)
{
	struct jlayout *l = &x->layout;
	unsigned long gdb, dpb, dsize;
	struct buffer_head bh;
	u64 sbh_va, gd_va, es_va;
	__le32 ro_compat;
	u32 groups, i, d;
	void *blk = NULL;

	l->read = true;
	if (!x->sbi_va ||
	    orthros_dead_read(&x->dm, x->sbi_va + offsetof(struct ext4_sb_info, s_gdb_count), &gdb, sizeof(gdb)) ||
	    orthros_dead_read(&x->dm, x->sbi_va + offsetof(struct ext4_sb_info, s_desc_per_block), &dpb, sizeof(dpb)) ||
	    orthros_dead_read(&x->dm, x->sbi_va + offsetof(struct ext4_sb_info, s_desc_size), &dsize, sizeof(dsize)) ||
	    orthros_dead_read(&x->dm, x->sbi_va + offsetof(struct ext4_sb_info, s_groups_count), &groups, sizeof(groups)) ||
	    orthros_dead_read(&x->dm, x->sbi_va + offsetof(struct ext4_sb_info, s_sbh), &sbh_va, sizeof(sbh_va)) ||
	    orthros_dead_read(&x->dm, x->sbi_va + offsetof(struct ext4_sb_info, s_group_desc), &gd_va, sizeof(gd_va)) ||
	    orthros_dead_read(&x->dm, x->sbi_va + offsetof(struct ext4_sb_info, s_es), &es_va, sizeof(es_va)) ||
	    orthros_dead_read(&x->dm, es_va + offsetof(struct ext4_super_block, s_feature_ro_compat),
			      &ro_compat, sizeof(ro_compat)) ||
	    orthros_dead_read(&x->dm, sbh_va, &bh, sizeof(bh)))
		goto bad;
	/*
	 * A descriptor's checksum covers the whole descriptor and, with
	 * metadata_csum, its bitmaps: a merge would leave it stale
	 */
	if (le32_to_cpu(ro_compat) & (EXT4_FEATURE_RO_COMPAT_GDT_CSUM |
				      EXT4_FEATURE_RO_COMPAT_METADATA_CSUM))
		goto bad;
	if (!gdb || gdb > MAX_GDT_BLOCKS || (dsize != 32 && dsize != 64) || dpb != x->bs / dsize ||
	    !groups || groups > gdb * dpb || groups <= (gdb - 1) * dpb || bh.b_bdev != x->j.j_fs_dev)
		goto bad;
	l->gdt_first = bh.b_blocknr + 1;
	l->gdt_count = gdb;
	l->bitmaps = kvmalloc_array(2 * groups, sizeof(u64), GFP_KERNEL);
	blk = kmalloc(x->bs, GFP_KERNEL);
	if (!l->bitmaps || !blk)
		goto bad;
	for (i = 0; i < gdb; i++) {
		u64 bh_va;

		if (orthros_dead_read(&x->dm, gd_va + i * sizeof(u64), &bh_va, sizeof(bh_va)) ||
		    orthros_dead_read(&x->dm, bh_va, &bh, sizeof(bh)) ||
		    bh.b_blocknr != l->gdt_first + i || bh.b_bdev != x->j.j_fs_dev ||
		    bh.b_size != x->bs || orthros_dead_read(&x->dm, (u64)bh.b_data, blk, x->bs))
			goto bad;
		for (d = 0; d < dpb && i * dpb + d < groups; d++) {
			const struct ext4_group_desc *g = blk + d * dsize;

			l->bitmaps[l->nr_bitmaps++] = le32_to_cpu(g->bg_block_bitmap_lo) |
				(dsize >= 64 ? (u64)le32_to_cpu(g->bg_block_bitmap_hi) << 32 : 0);
			l->bitmaps[l->nr_bitmaps++] = le32_to_cpu(g->bg_inode_bitmap_lo) |
				(dsize >= 64 ? (u64)le32_to_cpu(g->bg_inode_bitmap_hi) << 32 : 0);
		}
	}
	sort(l->bitmaps, l->nr_bitmaps, sizeof(u64), cmp_u64, NULL);
	l->ok = true;
	kfree(blk);
	return;
bad:
	pr_warn("the file system's group descriptors cannot be read: no block takes merged changes\n");
	kfree(blk);
}

/*
 * A block whose bits two kinds of handle changed can be put back bit by
 * bit (open handles' bits from the copy, finished handles' from their
 * merge) only where each bit means something alone or within a counter
 * that handles add to and take from: a bitmap (both witnesses: its
 * buffer_head's ext4 flag and a group descriptor naming it) or a group
 * descriptor block.  A directory block or an inode is a structure: not so.
 */
static bool mergeable(struct jctx *x, const struct jundo *b)
{
	struct jlayout *l = &x->layout;

	if (x->no_merge)
		return false;
	if (!l->read)
		read_layout(x);
	if (!l->ok)
		return false;
	if (b->blocknr >= l->gdt_first && b->blocknr < l->gdt_first + l->gdt_count)
		return true;
	return b->bitmap_flag && bsearch(&b->blocknr, l->bitmaps, l->nr_bitmaps, sizeof(u64),
					 cmp_u64);
}

/*
 * R's open handles (t_orthros_handles, counted against t_updates), each
 * one's undo records read and checked; then each block they touched must
 * have been touched only by open handles since the first of them took it
 * (its count of accesses since is theirs, and no handle stopped holding it
 * since): its copy from before that first access is then R's version of it.
 * False, with why set, when R cannot be carried that way.
 */
static bool undo_handles(struct jctx *x, int updates, const char **why, char *who, size_t size)
{
	u64 head = x->r.va + offsetof(transaction_t, t_orthros_handles);
	u64 h_va = (u64)x->r.t.t_orthros_handles.next, prev = head;
	int n = 0;
	u32 i;

	if (updates < 0 || updates > MAX_OPEN) {
		*why = "more handles open than tasks could hold";
		return false;
	}
	if (held(&x->r.t.t_orthros_lock)) {
		*why = "the dead kernel stopped holding the open handles' list lock";
		return false;
	}
	x->undo = kvmalloc_array(MAX_OPEN * ORTHROS_UNDO_MAX, sizeof(*x->undo), GFP_KERNEL);
	if (!x->undo) {
		*why = "no memory for the undo records";
		return false;
	}
	while (h_va != head) {
		u64 u_va;
		handle_t h;
		int k = 0;

		if (++n > updates + NR_CPUS) {
			*why = "more handles listed than t_updates counts";
			return false;
		}
		if (orthros_dead_read(&x->dm, h_va - offsetof(handle_t, h_orthros_link), &h,
				      sizeof(h)) ||
		    (u64)h.h_orthros_link.prev != prev ||
		    (u64)h.h_transaction != x->r.va) {
			*why = "an open handle's list entry does not check";
			return false;
		}
		if (h.h_orthros_inexact) {
			*why = "an open handle changed what no copy of a buffer undoes (a forget, a revoke, or a copy not taken)";
			return false;
		}
		/* a resize writes descriptors past its dirty calls (resize.c) */
		if (h.h_type == EXT4_HT_RESIZE)
			x->no_merge = true;
		if (h.h_orthros_undo && h.h_orthros_born != x->r.t.t_orthros_untracked) {
			*why = "a handle with more buffers than records finished while an open one held records";
			return false;
		}
		for (u_va = (u64)h.h_orthros_undo; u_va; ) {
			struct orthros_undo u;

			if (++k > ORTHROS_UNDO_MAX ||
			    orthros_dead_read(&x->dm, u_va, &u, sizeof(u))) {
				*why = "an open handle's undo records cannot be read";
				return false;
			}
			if (undo_record(x, &u, why))
				return false;
			u_va = (u64)u.next;
		}
		prev = h_va;
		h_va = (u64)h.h_orthros_link.next;
	}
	/*
	 * A core may be between listing a handle and counting it, or between
	 * unlisting and uncounting one (undo.c): at most one each, and such a
	 * handle has no records.  More than that is a list that lies.
	 */
	if (n < updates - NR_CPUS || n > updates + NR_CPUS) {
		snprintf(who, size, "%d handles listed, t_updates says %d", n, updates);
		*why = who;
		return false;
	}
	for (i = 0; i < x->nr_undo; i++) {
		struct jundo *b = &x->undo[i];
		struct journal_head jh;

		if (orthros_dead_read(&x->dm, b->jh_va, &jh, sizeof(jh))) {
			*why = "a touched buffer's journal_head cannot be read";
			return false;
		}
		if ((s32)(jh.b_orthros_closed - b->first) >= 0 ||
		    jh.b_orthros_seq - b->first + 1 != b->open + b->merged) {
			snprintf(who, size,
				 "block %llu was touched by a handle that finished after an open one took it",
				 b->blocknr);
			*why = who;
			return false;
		}
		if (b->merged && !mergeable(x, b)) {
			snprintf(who, size, "block %llu not merged (%s): a finished handle changed it after an open one",
				 b->blocknr, x->no_merge ? "merges off" : "no bitmap or descriptor");
			*why = who;
			return false;
		}
	}
	x->undone_handles = updates;	/* each open, with records or with nothing done yet */
	return true;
}

/*
 * Put the copies in: each block the open handles touched is R's with its
 * copy (added to R if R did not log it: it is the block as the finished
 * handles left it, harmless to log).  A block C logged from its data, not
 * a frozen copy, may hold an open handle's change: C must then land with R.
 */
static int apply_undo(struct jctx *x)
{
	u32 i, k;
	int err;

	for (i = 0; i < x->nr_undo; i++) {
		struct jundo *b = &x->undo[i];

		if (b->merged) {
			const unsigned long *p = orthros_dead_phys(&x->dm, b->phys, x->bs);
			const unsigned long *kk = orthros_dead_phys(&x->dm, b->merge_phys, 2 * x->bs);
			unsigned long *out;
			size_t n = x->bs / sizeof(long), w;

			b->buf = kmalloc(x->bs, GFP_KERNEL);
			if (!p || !kk || !b->buf)
				return -ENOMEM;
			out = b->buf;
			for (w = 0; w < n; w++)
				out[w] = orthros_undo_merged(p[w], kk[w], kk[n + w]);
			x->merged_blocks++;
		}
		for (k = 0; k < x->c.nr; k++)
			if (x->c.blocks[k].blocknr == b->blocknr)
				x->c.needs_next = true;
		for (k = 0; k < x->r.nr; k++)
			if (x->r.blocks[k].blocknr == b->blocknr)
				break;
		if (k == x->r.nr) {
			err = add_phys(x, &x->r, b->blocknr, b->phys);
			if (err)
				return err;
		}
		x->r.blocks[k].phys = b->phys;
		x->r.blocks[k].buf = b->buf;	/* NULL: the copy itself */
		x->r.blocks[k].unescape = false;
	}
	if (x->nr_undo)
		pr_info("running transaction %u: %u open handles taken back out, %u blocks put back as they were before them (%u with the changes of handles that finished since)\n",
			x->r.t.t_tid, x->undone_handles, x->nr_undo, x->merged_blocks);
	return 0;
}

static void read_r(struct jctx *x)
{
	struct jtxn *r = &x->r;
	const char *why = NULL;
	int updates = atomic_read(&r->t.t_updates), n;

	if (r->t.t_state > T_SWITCH) {
		drop(x, r, "state %d is not one a running transaction has", r->t.t_state);
		return;
	}
	if (updates) {
		char who[96], detail[128];

		detail[0] = '\0';
		x->head.open_handles = updates;
		if (x->no_undo)
			why = "undo records not used (orthros_migrate=no-undo)";
		else if (undo_handles(x, updates, &why, detail, sizeof(detail)))
			why = NULL;
		if (why) {
			name_handles(x, who, sizeof(who));
			drop(x, r, "%d handles were open in it, not taken back out: %s%s%s",
			     updates, why, who[0] ? ":" : "", who);
			return;
		}
	}
	n = walk_list(x, r, (u64)r->t.t_buffers, BJ_Metadata, take_r, &why);
	if (n >= 0 && n != r->t.t_nr_buffers)
		drop(x, r, "%d buffers listed, t_nr_buffers says %d", n, r->t.t_nr_buffers);
	else if (n < 0)
		drop(x, r, "%s (%d)", why, n);
}

static int add_revoke(struct jtxn *t, u64 blocknr)
{
	if (t->nr_revokes == t->cap_revokes) {
		u32 cap = t->cap_revokes ? 2 * t->cap_revokes : 64;
		u64 *b = krealloc_array(t->revokes, cap, sizeof(*b), GFP_KERNEL);

		if (!b)
			return -ENOMEM;
		t->revokes = b;
		t->cap_revokes = cap;
	}
	t->revokes[t->nr_revokes++] = blocknr;
	return 0;
}

/*
 * The revoke records of C and R: each record carries the tid of the
 * transaction that revoked the block; both tables are read (which one is
 * whose switches during a commit), each bucket's list capped and checked
 * link by link.
 */
static int read_revokes(struct jctx *x)
{
	u32 total = 0;
	int i, b;

	for (i = 0; i < 2; i++) {
		struct dead_revoke_table tab;
		u64 tab_va = (u64)x->j.j_revoke_table[i];

		if (!tab_va)
			continue;
		if (orthros_dead_read(&x->dm, tab_va, &tab, sizeof(tab)) || tab.hash_size <= 0 ||
		    tab.hash_size > MAX_HASH || !is_power_of_2(tab.hash_size))
			return -EBADMSG;
		for (b = 0; b < tab.hash_size; b++) {
			u64 head = (u64)tab.hash_table + b * sizeof(struct list_head);
			u64 prev = head, next;
			struct list_head l;
			struct dead_revoke_record rec;

			if (orthros_dead_read(&x->dm, head, &l, sizeof(l)))
				return -EFAULT;
			for (next = (u64)l.next; next != head; next = (u64)rec.hash.next) {
				struct jtxn *t = NULL;

				if (++total > MAX_REVOKES ||
				    orthros_dead_read(&x->dm, next, &rec, sizeof(rec)) ||
				    (u64)rec.hash.prev != prev)
					return -EBADMSG;
				if (x->c.present && rec.sequence == x->c.t.t_tid)
					t = &x->c;
				else if (x->r.present && rec.sequence == x->r.t.t_tid)
					t = &x->r;
				if (t && add_revoke(t, rec.blocknr))
					return -ENOMEM;
				prev = next;
			}
		}
	}
	return 0;
}

static int read_txn(struct jctx *x, struct jtxn *t, u64 va, const char *name)
{
	t->name = name;
	if (!va)
		return 0;
	t->va = va;
	if (orthros_dead_read(&x->dm, va, &t->t, sizeof(t->t)) ||
	    (u64)t->t.t_journal != x->j_va) {
		pr_warn("the %s transaction at %#llx does not belong to the journal\n", name, va);
		return -EBADMSG;
	}
	t->present = true;
	return 0;
}

/* Find and check: the registered super_block, its ext4 info, its journal. */
static int read_journal(struct jctx *x)
{
	u64 sb_va = x->dm.facts.data_sb, sbi_va;
	struct super_block *sb;
	int err = -EBADMSG;

	if (!sb_va)
		return -ENOENT;
	sb = kmalloc(sizeof(*sb), GFP_KERNEL);
	if (!sb)
		return -ENOMEM;
	if (orthros_dead_read(&x->dm, sb_va, sb, sizeof(*sb)) ||
	    sb->s_magic != EXT4_SUPER_MAGIC || (u64)sb->s_root == 0) {
		pr_err("the registered super_block is not an ext4 one that can be read\n");
		goto out;
	}
	memcpy(x->head.uuid, &sb->s_uuid, sizeof(x->head.uuid));
	sbi_va = (u64)sb->s_fs_info;
	x->sbi_va = sbi_va;
	if (!sbi_va ||
	    orthros_dead_read(&x->dm, sbi_va + offsetof(struct ext4_sb_info, s_journal),
			      &x->j_va, sizeof(x->j_va))) {
		pr_err("the file system's ext4 info cannot be read\n");
		goto out;
	}
	if (!x->j_va) {
		err = -ENOENT;		/* no journal */
		goto out;
	}
	if (orthros_dead_read(&x->dm, x->j_va, &x->j, sizeof(x->j)) ||
	    (u64)x->j.j_private != sb_va || x->j.j_blocksize != sb->s_blocksize ||
	    x->j.j_blocksize < 512 || x->j.j_blocksize > PAGE_SIZE ||
	    x->j.j_first >= x->j.j_last || x->j.j_last > x->j.j_total_len ||
	    x->j.j_total_len > MAX_LOG_BLOCKS ||
	    x->j.j_head < x->j.j_first || x->j.j_head >= x->j.j_last) {
		pr_err("the journal at %#llx does not check against its super_block\n", x->j_va);
		goto out;
	}
	x->bs = x->j.j_blocksize;
	err = 0;
out:
	kfree(sb);
	return err;
}

/*
 * A CPU stopped inside jbd2 (the panic stops the others by NMI, wherever
 * they are) may have left a list half linked, a buffer's list and jbddirty
 * flag half changed, or a frozen copy half copied: the journal's list and
 * revoke locks, the write side of its state lock and each walked buffer's
 * state lock must all be free in the dead memory.  Same build: the lock
 * words read as this kernel's.
 */
static const char *jbd2_locked(journal_t *j)
{
	if (held(&j->j_list_lock))
		return "the dead kernel stopped holding the journal's list lock";
	if (held(&j->j_revoke_lock))
		return "the dead kernel stopped holding the journal's revoke lock";
	if (atomic_read(&j->j_state_lock.raw_lock.cnts) & _QW_WMASK)
		return "the dead kernel stopped holding the journal's state lock for writing";
	if (j->j_barrier_count)
		return "the journal was locked (a barrier: flush, freeze or resize)";
	return NULL;
}

/* The transactions' tids against the journal's counters: a second witness. */
static void check_tids(struct jctx *x)
{
	tid_t next = x->j.j_commit_sequence + 1;

	if (x->c.present) {
		if (x->c.t.t_tid != next)
			drop(x, &x->c, "tid %u does not follow the last committed one, %u",
			     x->c.t.t_tid, x->j.j_commit_sequence);
		next++;
	}
	if (x->r.present && x->r.t.t_tid != next)
		drop(x, &x->r, "tid %u, expected %u after the committed and committing ones",
		     x->r.t.t_tid, next);
}

static int emit_txn(struct jctx *x, struct jtxn *t, void __user *buf, u64 len, u64 *off)
{
	struct orthros_journal_txn out = {
		.tid = t->t.t_tid, .state = t->t.t_state,
		.log_start = t == &x->c ? t->t.t_log_start : 0,
		.flags = t == &x->c ? ORTHROS_JOURNAL_COMMITTING : 0,
		.nr_blocks = t->nr, .nr_revokes = t->nr_revokes,
	};
	u64 need = sizeof(out) + t->nr_revokes * 8ULL + t->nr * (8ULL + x->bs);
	u32 i;

	if (*off + need > len) {
		*off += need;
		return 0;		/* counted only: the caller learns the size */
	}
	if (copy_to_user(buf + *off, &out, sizeof(out)) ||
	    copy_to_user(buf + *off + sizeof(out), t->revokes, t->nr_revokes * 8ULL))
		return -EFAULT;
	*off += sizeof(out) + t->nr_revokes * 8ULL;
	for (i = 0; i < t->nr; i++) {
		void *p = t->blocks[i].buf ?: orthros_dead_phys(&x->dm, t->blocks[i].phys, x->bs);

		if (!p || copy_to_user(buf + *off, &t->blocks[i].blocknr, 8) ||
		    copy_to_user(buf + *off + 8, p, x->bs))
			return -EFAULT;
		if (t->blocks[i].unescape) {
			__be32 magic = cpu_to_be32(JBD2_MAGIC_NUMBER);

			if (copy_to_user(buf + *off + 8, &magic, sizeof(magic)))
				return -EFAULT;
		}
		*off += 8 + x->bs;
	}
	pr_info("%s transaction %u (state %d): %u blocks, %u revokes\n", t->name, t->t.t_tid,
		t->t.t_state, t->nr, t->nr_revokes);
	return 0;
}

int orthros_journal(u32 ordinal, u32 flags, void __user *buf, u64 len, u64 *needed,
		    struct orthros_journal_stats *st)
{
	struct jtxn *order[2];
	const char *locked;
	struct jctx *x;
	u64 off;
	int err, i, n = 0;

	x = kzalloc(sizeof(*x), GFP_KERNEL);
	if (!x)
		return -ENOMEM;
	x->head.magic = ORTHROS_JOURNAL_MAGIC;
	x->head.version = ORTHROS_JOURNAL_VERSION;
	x->c.name = "committing";
	x->r.name = "running";
	x->no_undo = flags & ORTHROS_MIGRATE_NO_UNDO;
	x->no_merge = flags & ORTHROS_MIGRATE_NO_MERGE;
	err = orthros_dead_open(&x->dm, ordinal);
	if (err)
		goto out;
	if (flags & ORTHROS_MIGRATE_NO_JOURNAL) {
		pr_warn("the dead journal is not finished (orthros_migrate=no-journal)\n");
		x->head.flags |= ORTHROS_JOURNAL_OFF;
		goto emit;
	}
	err = read_journal(x);
	if (err == -ENOENT) {
		x->head.flags |= ORTHROS_JOURNAL_NONE;
		goto emit;
	}
	if (err)
		goto out;
	x->head.blocksize = x->bs;
	x->head.first = x->j.j_first;
	x->head.last = x->j.j_last;
	x->head.head = x->j.j_head;
	x->head.commit_seq = x->j.j_commit_sequence;
	x->head.total_len = x->j.j_total_len;
	if (x->j.j_flags & JBD2_ABORT) {
		pr_warn("the dead journal was aborted: its transactions are not finished\n");
		x->head.flags |= ORTHROS_JOURNAL_ABORTED;
		goto emit;
	}
	err = read_txn(x, &x->c, (u64)x->j.j_committing_transaction, "committing");
	if (!err)
		err = read_txn(x, &x->r, (u64)x->j.j_running_transaction, "running");
	if (err)
		goto out;
	locked = jbd2_locked(&x->j);
	if (locked) {
		if (x->c.present)
			drop(x, &x->c, "%s", locked);
		if (x->r.present)
			drop(x, &x->r, "%s", locked);
	}
	check_tids(x);
	/* R first: C's walk hands R the blocks R changed while C owned them */
	if (x->r.present && !x->r.dropped)
		read_r(x);
	if (x->c.present && !x->c.dropped)
		read_c(x);
	if (x->r.present && !x->r.dropped && apply_undo(x))
		drop(x, &x->r, "its undo copies cannot be handed out");
	if ((x->c.present && !x->c.dropped) || (x->r.present && !x->r.dropped)) {
		err = read_revokes(x);
		if (err) {
			if (x->c.present)
				drop(x, &x->c, "its revoke table cannot be read (%d)", err);
			if (x->r.present)
				drop(x, &x->r, "its revoke table cannot be read (%d)", err);
		}
	}
	/* C cannot be rebuilt without R, and R cannot land without C */
	if (x->c.present && x->c.needs_next && (!x->r.present || x->r.dropped))
		drop(x, &x->c, "a block it logged was changed in place by the running transaction, which is dropped");
	if (x->c.present && x->c.dropped && x->r.present && !x->r.dropped)
		drop(x, &x->r, "the committing transaction before it is dropped");
	if (x->c.present && !x->c.dropped)
		order[n++] = &x->c;
	if (x->r.present && !x->r.dropped)
		order[n++] = &x->r;
	x->head.nr_txn = n;
emit:
	off = sizeof(x->head);
	for (i = 0; i < n; i++)
		off += sizeof(struct orthros_journal_txn) + order[i]->nr_revokes * 8ULL +
		       order[i]->nr * (8ULL + x->bs);
	x->head.bytes = off;
	*needed = off;
	if (off > len) {
		err = -ENOSPC;
		goto out;
	}
	memset(st, 0, sizeof(*st));
	st->read = 1;
	st->flags = x->head.flags;
	st->nr_txn = n;
	for (i = 0; i < n; i++) {
		st->blocks += order[i]->nr;
		st->revokes += order[i]->nr_revokes;
	}
	st->dropped_tid = x->head.dropped_tid;
	st->dropped_blocks = x->head.dropped_blocks;
	st->open_handles = x->head.open_handles;
	st->undone_handles = x->undone_handles;
	st->undone_blocks = x->undone_handles ? x->nr_undo : 0;
	st->merged_blocks = x->merged_blocks;
	BUILD_BUG_ON(sizeof(st->why) != sizeof(x->head.why));
	memcpy(st->why, x->head.why, sizeof(st->why));
	err = -EFAULT;
	if (copy_to_user(buf, &x->head, sizeof(x->head)))
		goto out;
	off = sizeof(x->head);
	for (i = 0; i < n; i++) {
		err = emit_txn(x, order[i], buf, len, &off);
		if (err)
			goto out;
	}
	err = 0;
out:
	orthros_dead_close(&x->dm);
	kfree(x->c.blocks);
	kfree(x->r.blocks);
	kfree(x->c.revokes);
	kfree(x->r.revokes);
	for (i = 0; x->undo && i < x->nr_undo; i++)
		kfree(x->undo[i].buf);
	kvfree(x->undo);
	kvfree(x->layout.bitmaps);
	kfree(x);
	return err;
}
