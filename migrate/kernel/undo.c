// SPDX-License-Identifier: GPL-2.0
/*
 * Orthros undo records of jbd2 handles, the dying kernel's half (issue 25;
 * docs/failover.md, "A handle open at the moment of death"; the hooks:
 * kernel-patches/0009).
 *
 * A backup finishes its dead active's journal by logging the running
 * transaction's buffers as a committed transaction (journal.c).  A handle
 * still open in it is a file-system operation half done, and its changes are
 * in the same buffers as the finished ones'.  So each handle keeps, for each
 * buffer it takes access to, a copy of the buffer as it was before: the
 * reader puts those copies back in place of the buffers the open handles
 * touched.
 *
 * A handle that finished after an open one took the same buffer (two
 * allocations in groups whose descriptors share a block, say) changed it
 * too, and its change must stay.  Each access call begins a write section
 * on the buffer that the handle's dirty call ends (ext4 changes a buffer
 * only between the two); when a handle stops, its change to a buffer is
 * told apart if no other handle's write section met its own: its copy
 * against the buffer now, the bits it changed.  Those bits and their
 * values are merged into the records of the open handles holding the
 * buffer (unless an open handle had changed one of them: a conflict), and
 * the reader puts back the copy with the merged bits over it, for the
 * blocks where a bitwise merge is sound (bitmaps, group descriptors:
 * journal.c).  Each journal_head counts the accesses (b_orthros_seq) and
 * notes the count when a handle whose change could not be told apart
 * stops (b_orthros_closed): the reader then drops the transaction, named.
 * So does a handle open at the death that cannot be undone by buffers (a
 * forget, a revoke, a revoke cancelled: inexact, its records still track
 * its changes), and a handle that had more buffers than records
 * (untracked, counted by its transaction when it stops) finishing while an
 * open one held records.
 *
 * orthros_jbd2_undo=0 (boot, or /sys/module/kernel/parameters/) stops taking
 * copies: every handle is untracked.  The cost is one copy of a block per
 * buffer per handle (make bench section 11).
 */
#define pr_fmt(fmt) "orthros-undo: " fmt

#include <linux/buffer_head.h>
#include <linux/jbd2.h>
#include <linux/moduleparam.h>
#include <linux/orthros.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#include "undo.h"

static bool orthros_jbd2_undo = true;
core_param(orthros_jbd2_undo, orthros_jbd2_undo, bool, 0644);

void (*orthros_undo_hook)(struct jbd2_journal_handle *handle, unsigned int nr);

void orthros_jbd2_start(handle_t *handle)
{
	transaction_t *t = handle->h_transaction;

	handle->h_orthros_undo = NULL;
	handle->h_orthros_nr = 0;
	handle->h_orthros_inexact = READ_ONCE(orthros_jbd2_undo) ? ORTHROS_UNDO_EXACT :
								   ORTHROS_UNDO_UNTRACKED;
	spin_lock(&t->t_orthros_lock);
	handle->h_orthros_born = t->t_orthros_untracked;
	list_add(&handle->h_orthros_link, &t->t_orthros_handles);
	spin_unlock(&t->t_orthros_lock);
}

void orthros_jbd2_inexact(handle_t *handle)
{
	if (handle->h_orthros_inexact == ORTHROS_UNDO_EXACT)
		handle->h_orthros_inexact = ORTHROS_UNDO_INEXACT;
}

/* A write section of the record's handle begins [b_state_lock] */
static void section_begins(struct orthros_undo *u, struct journal_head *jh)
{
	if (jh->b_orthros_wsec != u->wsec)
		u->clean = 0;		/* another handle's section began since */
	u->wsec = ++jh->b_orthros_wsec;
	if (!u->writing) {
		u->writing = 1;
		jh->b_orthros_writers++;
	}
}

static void section_ends(struct orthros_undo *u, struct journal_head *jh)
{
	if (u->writing) {
		u->writing = 0;
		jh->b_orthros_writers--;
	}
}

/* The handle's record of the buffer, or NULL. */
static struct orthros_undo *record_of(handle_t *handle, struct buffer_head *bh)
{
	struct orthros_undo *u;

	for (u = handle->h_orthros_undo; u; u = u->next)
		if (u->bh == bh)
			return u;
	return NULL;
}

void orthros_jbd2_access(handle_t *handle, struct buffer_head *bh)
{
	struct orthros_undo *u;
	struct journal_head *jh;
	void (*hook)(handle_t *handle, unsigned int nr);

	u = record_of(handle, bh);
	if (u) {
		/* its copy is from its first access */
		spin_lock(&u->jh->b_state_lock);
		section_begins(u, u->jh);
		spin_unlock(&u->jh->b_state_lock);
		return;
	}
	if (handle->h_orthros_inexact == ORTHROS_UNDO_UNTRACKED)
		return;
	if (handle->h_orthros_nr >= ORTHROS_UNDO_MAX)
		goto untracked;
	u = kzalloc(sizeof(*u), GFP_NOFS | __GFP_NOWARN);
	if (!u)
		goto untracked;
	jh = jbd2_journal_grab_journal_head(bh);
	if (!jh) {
		kfree(u);
		goto untracked;
	}
	/* a power-of-two kmalloc is aligned to its size: one block, whole */
	u->data = kmalloc(bh->b_size, GFP_NOFS | __GFP_NOWARN);
	u->bh = bh;
	u->jh = jh;
	u->blocknr = bh->b_blocknr;
	u->size = bh->b_size;
	spin_lock(&jh->b_state_lock);
	u->seq = ++jh->b_orthros_seq;
	u->clean = !jh->b_orthros_writers;
	u->wsec = jh->b_orthros_wsec;
	section_begins(u, jh);
	u->jnext = jh->b_orthros_undo;
	jh->b_orthros_undo = u;
	spin_unlock(&jh->b_state_lock);
	/*
	 * Copied without the lock (a core stopped holding it would cost the
	 * reader the whole transaction).  A handle that changes the buffer
	 * during the copy either took access before this one (its copy, the
	 * earlier, is the one a reader uses, and this access in its write
	 * section makes its change one not told apart) or after: then the
	 * count has moved by the end of the copy, and this copy is not used.
	 */
	if (u->data) {
		memcpy(u->data, bh->b_data, bh->b_size);
		smp_mb();	/* the copy, then the count: pairs with the lock's release */
		if (READ_ONCE(jh->b_orthros_seq) != u->seq) {
			void *data = u->data;

			spin_lock(&jh->b_state_lock);
			u->data = NULL;
			spin_unlock(&jh->b_state_lock);
			kfree(data);
		}
	}
	if (!u->data)
		orthros_jbd2_inexact(handle);
	/* published last: a reader finds only whole records on the list */
	u->next = handle->h_orthros_undo;
	smp_store_release(&handle->h_orthros_undo, u);	/* the record, then the link */
	handle->h_orthros_nr++;
	hook = READ_ONCE(orthros_undo_hook);
	if (hook)
		hook(handle, handle->h_orthros_nr);
	return;
untracked:
	handle->h_orthros_inexact = ORTHROS_UNDO_UNTRACKED;
}

void orthros_jbd2_dirty(handle_t *handle, struct buffer_head *bh)
{
	struct orthros_undo *u = record_of(handle, bh);

	if (u) {
		spin_lock(&u->jh->b_state_lock);
		section_ends(u, u->jh);
		spin_unlock(&u->jh->b_state_lock);
	}
}

/*
 * The stopping handle's change to the buffer (its copy against the buffer
 * now: no other handle wrote it meanwhile) into the records of the other
 * handles holding it, which took it earlier.  False when it cannot be: an
 * other record with no copy or a later one, an open handle's change to one
 * of the same bits (against the state the finished handles alone leave:
 * the copy with the merged bits over it), no memory.  [b_state_lock]
 */
static bool merge_into_others(struct orthros_undo *u, struct journal_head *jh)
{
	const unsigned long *p2 = u->data, *c = (const unsigned long *)u->bh->b_data;
	size_t n = u->size / sizeof(long), i;
	struct orthros_undo *v;

	for (v = jh->b_orthros_undo; v; v = v->jnext) {
		const unsigned long *p1 = v->data, *k, *m;

		if (v == u)
			continue;
		if (!p1 || (s32)(v->seq - u->seq) > 0)
			return false;
		k = v->merge;
		m = k ? k + n : NULL;
		for (i = 0; i < n; i++) {
			unsigned long e = k ? orthros_undo_merged(p1[i], k[i], m[i]) : p1[i];

			if ((e ^ p2[i]) & (p2[i] ^ c[i]))
				return false;
		}
		if (!v->merge) {
			v->merge = kzalloc(2 * u->size, GFP_NOWAIT | __GFP_NOWARN);
			if (!v->merge)
				return false;
		}
	}
	for (v = jh->b_orthros_undo; v; v = v->jnext) {
		unsigned long *k = v->merge, *m;

		if (v == u)
			continue;
		m = k + n;
		for (i = 0; i < n; i++) {
			unsigned long d = p2[i] ^ c[i];

			k[i] |= d;
			m[i] = orthros_undo_merged(m[i], d, c[i]);
		}
		v->merged++;
	}
	return true;
}

/* A record's handle stops: its change merged, or the buffer marked. */
static void finish(struct orthros_undo *u)
{
	struct journal_head *jh = u->jh;
	struct orthros_undo **pp;

	spin_lock(&jh->b_state_lock);
	section_ends(u, jh);
	if (!u->clean || u->wsec != jh->b_orthros_wsec || !u->data ||
	    !merge_into_others(u, jh))
		jh->b_orthros_closed = jh->b_orthros_seq;
	for (pp = &jh->b_orthros_undo; *pp; pp = &(*pp)->jnext)
		if (*pp == u) {
			*pp = u->jnext;
			break;
		}
	spin_unlock(&jh->b_state_lock);
}

/*
 * The handle's operation is done (its system call has not returned).  Each
 * buffer first takes its change or notes that a change not told apart
 * stopped, the records still on the handle: a reader finding the handle
 * listed then takes all of it back out (or, where a change was merged and
 * is counted twice, drops the transaction).  Then the records go (a handle
 * listed with none has nothing to take back), then the handle leaves the
 * list, just before its caller drops t_updates: a reader may find a listed
 * handle not counted yet (orthros_jbd2_start() runs first) or a counted one
 * no longer listed, each with nothing to take back.  The list must go
 * before t_updates does: the transaction may be committed and freed from
 * then on.
 */
void orthros_jbd2_stop(handle_t *handle)
{
	transaction_t *t = handle->h_transaction;
	struct orthros_undo *u = handle->h_orthros_undo, *next;

	for (next = u; next; next = next->next)
		finish(next);
	smp_wmb();	/* the buffers took the changes before the records go */
	WRITE_ONCE(handle->h_orthros_undo, NULL);
	handle->h_orthros_nr = 0;
	smp_wmb();	/* the records unlinked before they are freed */
	for (; u; u = next) {
		next = u->next;
		jbd2_journal_put_journal_head(u->jh);
		kfree(u->data);
		kfree(u->merge);
		kfree(u);
	}
	spin_lock(&t->t_orthros_lock);
	if (handle->h_orthros_inexact == ORTHROS_UNDO_UNTRACKED)
		t->t_orthros_untracked++;
	list_del(&handle->h_orthros_link);
	spin_unlock(&t->t_orthros_lock);
}
