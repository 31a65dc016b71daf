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
 * touched, provided no handle that finished has touched them since (each
 * journal_head counts the accesses, b_orthros_seq, and notes the count when
 * a handle holding it stops, b_orthros_closed).  What a buffer cannot undo
 * (a forget, a revoke, a revoke cancelled, a copy that could not be made, too
 * many buffers) marks the handle inexact: the reader then drops the
 * transaction, named, as before.
 *
 * orthros_jbd2_undo=0 (boot, or /sys/module/kernel/parameters/) stops taking
 * copies: every handle is inexact.  The cost is one copy of a block per
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

void orthros_jbd2_start(handle_t *handle)
{
	transaction_t *t = handle->h_transaction;

	handle->h_orthros_undo = NULL;
	handle->h_orthros_nr = 0;
	handle->h_orthros_inexact = !READ_ONCE(orthros_jbd2_undo);
	spin_lock(&t->t_orthros_lock);
	list_add(&handle->h_orthros_link, &t->t_orthros_handles);
	spin_unlock(&t->t_orthros_lock);
}

void orthros_jbd2_inexact(handle_t *handle)
{
	handle->h_orthros_inexact = 1;
}

void orthros_jbd2_access(handle_t *handle, struct buffer_head *bh)
{
	struct orthros_undo *u;
	struct journal_head *jh;

	if (handle->h_orthros_inexact)
		return;
	for (u = handle->h_orthros_undo; u; u = u->next)
		if (u->bh == bh)
			return;		/* its copy is from its first access */
	if (handle->h_orthros_nr >= ORTHROS_UNDO_MAX)
		goto inexact;
	u = kmalloc(sizeof(*u), GFP_NOFS | __GFP_NOWARN);
	if (!u)
		goto inexact;
	/* a power-of-two kmalloc is aligned to its size: one block, whole */
	u->data = kmalloc(bh->b_size, GFP_NOFS | __GFP_NOWARN);
	jh = jbd2_journal_grab_journal_head(bh);
	if (!u->data || !jh) {
		if (jh)
			jbd2_journal_put_journal_head(jh);
		kfree(u->data);
		kfree(u);
		goto inexact;
	}
	u->bh = bh;
	u->jh = jh;
	u->blocknr = bh->b_blocknr;
	u->size = bh->b_size;
	spin_lock(&jh->b_state_lock);
	u->seq = ++jh->b_orthros_seq;
	spin_unlock(&jh->b_state_lock);
	/*
	 * Copied without the lock (a core stopped holding it would cost the
	 * reader the whole transaction).  A handle that changes the buffer
	 * during the copy either took access before this one (its copy, the
	 * earlier, is the one a reader uses) or after: then the count has
	 * moved by the end of the copy, and this copy is not used.
	 */
	memcpy(u->data, bh->b_data, bh->b_size);
	smp_mb();	/* the copy, then the count: pairs with the lock's release */
	if (READ_ONCE(jh->b_orthros_seq) != u->seq) {
		jbd2_journal_put_journal_head(jh);
		kfree(u->data);
		kfree(u);
		goto inexact;
	}
	/* published last: a reader finds only whole records on the list */
	u->next = handle->h_orthros_undo;
	smp_store_release(&handle->h_orthros_undo, u);	/* the record, then the link */
	handle->h_orthros_nr++;
	return;
inexact:
	handle->h_orthros_inexact = 1;
}

/*
 * The handle's operation is done.  Its records go first (a handle listed
 * with none has nothing to take back), then each buffer notes that a handle
 * holding it stopped, then the handle leaves the list, just before its
 * caller drops t_updates: a reader may find a listed handle not counted yet
 * (orthros_jbd2_start() runs first) or a counted one no longer listed, each
 * with nothing to take back.  The list must go before t_updates does: the
 * transaction may be committed and freed from then on.
 */
void orthros_jbd2_stop(handle_t *handle)
{
	transaction_t *t = handle->h_transaction;
	struct orthros_undo *u = handle->h_orthros_undo, *next;

	WRITE_ONCE(handle->h_orthros_undo, NULL);
	handle->h_orthros_nr = 0;
	smp_wmb();	/* the records unlinked before the buffers note the stop */
	for (; u; u = next) {
		next = u->next;
		spin_lock(&u->jh->b_state_lock);
		u->jh->b_orthros_closed = u->jh->b_orthros_seq;
		spin_unlock(&u->jh->b_state_lock);
		jbd2_journal_put_journal_head(u->jh);
		kfree(u->data);
		kfree(u);
	}
	spin_lock(&t->t_orthros_lock);
	list_del(&handle->h_orthros_link);
	spin_unlock(&t->t_orthros_lock);
}
