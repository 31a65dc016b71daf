// SPDX-License-Identifier: GPL-2.0
/*
 * Process rescue: signal handlers, the blocked and pending sets, and the
 * queued signals with their siginfo (see rescue.h).
 */
#define pr_fmt(fmt) "orthros-rescue: " fmt

#include <linux/sched/signal.h>
#include <linux/signal.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "rescue.h"

/* The sigqueue entries of a dead sigpending list, as SIGQ records. */
static int queued(struct rx_ctx *c, u64 list_va, u64 first, u32 tid)
{
	struct sigqueue q;
	struct rx_brent b;
	u32 n = 0;
	u64 next = first;

	rx_brent_init(&b, next);
	while (next != list_va) {
		struct orthros_rx_sigq *r;

		if (++n > RX_MAX_SIGQ)
			return rx_fail(c, -E2BIG, "more than %u queued signals", RX_MAX_SIGQ);
		if (rx_read(c, next - offsetof(struct sigqueue, list), &q, sizeof(q),
			    "a queued signal"))
			return -EFAULT;
		if (q.info.si_signo < 1 || q.info.si_signo > _NSIG)
			return rx_fail(c, -EFAULT, "a queued signal does not check (signal %d)",
				       q.info.si_signo);
		r = rx_put(c, ORTHROS_RX_SIGQ, sizeof(*r));
		if (!r)
			return -ENOSPC;
		r->tid = tid;
		r->signo = q.info.si_signo;
		BUILD_BUG_ON(sizeof(q.info) > sizeof(r->siginfo));
		memcpy(r->siginfo, &q.info, sizeof(q.info));
		next = (u64)q.list.next;
		if (rx_brent_loops(&b, next))
			return rx_fail(c, -ELOOP, "a list of queued signals loops");
	}
	return 0;
}

int rx_signals(struct rx_ctx *c, const struct task_struct *t, struct orthros_rx_proc *p)
{
	struct sighand_struct *sh;
	struct signal_struct *sig;
	int err, i;

	sh = kmalloc(sizeof(*sh), GFP_KERNEL);
	sig = kmalloc(sizeof(*sig), GFP_KERNEL);
	err = -ENOMEM;
	if (!sh || !sig)
		goto out;
	err = rx_read(c, (u64)t->sighand, sh, sizeof(*sh), "the signal handlers");
	if (!err)
		err = rx_read(c, (u64)t->signal, sig, sizeof(*sig), "the signal_struct");
	if (err)
		goto out;
	for (i = 0; i < ORTHROS_RX_NSIG && i < _NSIG; i++) {
		const struct sigaction *sa = &sh->action[i].sa;

		p->sigaction[i].handler = (u64)sa->sa_handler;
		p->sigaction[i].flags = sa->sa_flags;
		p->sigaction[i].restorer = (u64)sa->sa_restorer;
		p->sigaction[i].mask = sa->sa_mask.sig[0];
	}
	p->shared_pending = sig->shared_pending.signal.sig[0];
	err = queued(c, (u64)t->signal + offsetof(struct signal_struct, shared_pending.list),
		     (u64)sig->shared_pending.list.next, 0);
out:
	kfree(sh);
	kfree(sig);
	return err;
}

int rx_thread_signals(struct rx_ctx *c, u64 va, const struct task_struct *t,
		      struct orthros_rx_thread *th)
{
	th->pending = t->pending.signal.sig[0];
	return queued(c, va + offsetof(struct task_struct, pending.list),
		      (u64)t->pending.list.next, t->pid);
}
