// SPDX-License-Identifier: GPL-2.0
/*
 * Process rescue: the task, its threads, their registers and FPU state, the
 * process's credentials, ids and limits (see rescue.h).
 *
 * A thread's general registers are the pt_regs at the top of its kernel
 * stack (saved on every entry into the kernel).  Its FPU/SSE/AVX registers
 * are in its fpstate, current for a thread that was not on a core; a thread
 * that was on a core when the OS died has them there only if that core
 * saved them on its way down (orthros_cpu_stopping(), kernel-patches/0006).
 */
#define pr_fmt(fmt) "orthros-rescue: " fmt

#include <linux/cred.h>
#include <linux/pid.h>
#include <linux/sched/signal.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/regset.h>
#include <linux/futex.h>
#include <linux/nsproxy.h>
#include <linux/time_namespace.h>
#include <asm/unistd.h>
#include <asm/fpu/api.h>
#include <asm/fpu/types.h>
#include <asm/ptrace.h>

#include "../../arch/x86/kernel/fpu/internal.h"
#include "../../arch/x86/kernel/fpu/xstate.h"
#include "io_progress.h"
#include "rescue.h"

/* The number of a dead struct pid in the initial namespace (level 0). */
static u32 pid_nr_of(struct rx_ctx *c, u64 pid_va)
{
	struct upid up;

	if (!pid_va || orthros_dead_read(&c->dm, pid_va + offsetof(struct pid, numbers), &up,
					 sizeof(up)))
		return 0;
	return up.nr > 0 ? up.nr : 0;
}

/*
 * The clocks the process sees: a process rescued before lives in the time
 * namespace its restore gave it, whose offsets continue an older OS's
 * clocks; they are added, so that its CLOCK_MONOTONIC never goes back.
 */
static int time_offsets(struct rx_ctx *c, const struct task_struct *t,
			struct orthros_rx_proc *p)
{
	struct time_namespace tns;
	struct nsproxy ns;

	if (!t->nsproxy)
		return 0;
	if (rx_read(c, (u64)t->nsproxy, &ns, sizeof(ns), "the namespaces"))
		return -EFAULT;
	if (!ns.time_ns || (u64)ns.time_ns == (u64)&init_time_ns)
		return 0;
	if (rx_read(c, (u64)ns.time_ns, &tns, sizeof(tns), "the time namespace"))
		return -EFAULT;
	p->mono_ns += timespec64_to_ns(&tns.offsets.monotonic);
	p->boot_ns += timespec64_to_ns(&tns.offsets.boottime);
	return 0;
}

int rx_task(struct rx_ctx *c, u64 task_va, const struct task_struct *t,
	    struct orthros_rx_proc *p)
{
	struct signal_struct *sig;
	struct cred *cr;
	int err, i;

	sig = kmalloc(sizeof(*sig), GFP_KERNEL);
	cr = kmalloc(sizeof(*cr), GFP_KERNEL);
	err = -ENOMEM;
	if (!sig || !cr)
		goto out;
	err = rx_read(c, (u64)t->signal, sig, sizeof(*sig), "the signal_struct");
	if (!err)
		err = rx_read(c, (u64)t->real_cred, cr, sizeof(*cr), "the credentials");
	if (err)
		goto out;
	p->pgid = pid_nr_of(c, (u64)sig->pids[PIDTYPE_PGID]);
	p->sid = pid_nr_of(c, (u64)sig->pids[PIDTYPE_SID]);
	if (!p->pgid || !p->sid) {
		err = rx_fail(c, -EFAULT, "process %d: its process group or session does not check",
			      t->pid);
		goto out;
	}
	p->nr_threads = sig->nr_threads;
	memcpy(p->comm, t->comm, sizeof(p->comm));
	p->comm[sizeof(p->comm) - 1] = '\0';
	p->personality = t->personality;
	p->exit_signal = t->exit_signal;
	p->start_time_ns = t->start_time;
	p->mono_ns = c->mono_ns;
	p->boot_ns = c->boot_ns;
	err = time_offsets(c, t, p);
	if (err)
		goto out;
	for (i = 0; i < ORTHROS_RX_NRLIM && i < RLIM_NLIMITS; i++) {
		p->rlim_cur[i] = sig->rlim[i].rlim_cur;
		p->rlim_max[i] = sig->rlim[i].rlim_max;
	}
	p->uid = cr->uid.val;
	p->euid = cr->euid.val;
	p->suid = cr->suid.val;
	p->fsuid = cr->fsuid.val;
	p->gid = cr->gid.val;
	p->egid = cr->egid.val;
	p->sgid = cr->sgid.val;
	p->fsgid = cr->fsgid.val;
	p->secbits = cr->securebits;
	p->cap_inh = cr->cap_inheritable.val;
	p->cap_prm = cr->cap_permitted.val;
	p->cap_eff = cr->cap_effective.val;
	p->cap_bnd = cr->cap_bset.val;
	p->cap_amb = cr->cap_ambient.val;
	if (cr->group_info) {
		struct group_info gi;

		err = rx_read(c, (u64)cr->group_info, &gi, sizeof(gi), "the groups");
		if (err)
			goto out;
		if (gi.ngroups < 0 || gi.ngroups > ORTHROS_RX_NGROUPS) {
			err = rx_fail(c, -E2BIG, "process %d has %d groups (at most %d carried)",
				      t->pid, gi.ngroups, ORTHROS_RX_NGROUPS);
			goto out;
		}
		p->ngroups = gi.ngroups;
		if (gi.ngroups) {
			kgid_t g[ORTHROS_RX_NGROUPS];

			err = rx_read(c, (u64)cr->group_info + offsetof(struct group_info, gid), g,
				      gi.ngroups * sizeof(g[0]), "the groups");
			if (err)
				goto out;
			for (i = 0; i < gi.ngroups; i++)
				p->groups[i] = g[i].val;
		}
	}
	err = 0;
out:
	kfree(sig);
	kfree(cr);
	return err;
}

/*
 * Was this thread on a core, and did the core save its user state?  *ksp:
 * where its kernel stack was left (the core's note, or the last switch of
 * a thread that was not running), 0 if not known.
 */
static u32 on_cpu_flags(struct rx_ctx *c, u64 va, const struct task_struct *t, u64 *ksp)
{
	int i;

	*ksp = 0;
	for (i = 0; c->have_stopped && i < NR_CPUS; i++)
		if (c->stopped[i].task == va) {
			*ksp = c->stopped[i].ksp;
			return ORTHROS_RXT_ON_CPU | (c->stopped[i].saved ? ORTHROS_RXT_SAVED : 0);
		}
	if (t->on_cpu || c->dm.self)
		return c->dm.self ? 0 : ORTHROS_RXT_ON_CPU;
	*ksp = t->thread.sp;
	return 0;
}

/*
 * A read() or recvfrom() the thread was stopped in may have copied bytes to
 * the user's buffer and taken them off a pipe's or a socket's queue without
 * returning: restarted, the call would lose them; a write() with O_APPEND
 * may have appended part of its buffer: restarted, it would append it again.  Its progress is its
 * iov_iter (ITER_UBUF on the user's buffer: iov_offset bytes done, count
 * left), in a live frame of the kernel stack, between where the stack was
 * left and the top: found by that shape (the furthest of its copies, see
 * orthros_io_progress()).  User space checks it against the queue's bytes before it trusts
 * it (see orthros-rescue's read_done()).  stack: a copy of the whole stack at
 * base; ksp: inside it, below its pt_regs (the caller checked).
 */
static void syscall_progress(const u8 *stack, u64 base, u64 ksp, const struct pt_regs *regs,
			     struct orthros_rx_thread *th)
{
	u64 top = base + THREAD_SIZE - sizeof(struct pt_regs);
	u64 done = 0;
	int n;

	if (regs->ax != (unsigned long)-ENOSYS ||
	    (regs->orig_ax != __NR_read && regs->orig_ax != __NR_recvfrom &&
	     regs->orig_ax != __NR_write))
		return;
	ksp &= ~7ULL;
	n = orthros_io_progress(stack + (ksp - base), top - ksp, regs->si, regs->dx,
				regs->orig_ax == __NR_write ? ITER_SOURCE : ITER_DEST, &done);
	if (n > 0 && done <= U32_MAX) {
		th->io_done = done;
		th->flags |= ORTHROS_RXT_IO_KNOWN;
	}
}

/*
 * What a task on a stopped core held: the words of its live frames, and of
 * the registers the interrupt that stopped the core saved just below them,
 * that point into the dead direct map (c->hands).
 */
static void task_hands(struct rx_ctx *c, const u8 *stack, u64 base, u64 ksp)
{
	u64 top = base + THREAD_SIZE - sizeof(struct pt_regs), a, w;

	a = max(base, (ksp & ~7ULL) - RX_HANDS_BELOW);
	for (; a < top && c->nr_hands < RX_MAX_HANDS; a += sizeof(u64)) {
		memcpy(&w, stack + (a - base), sizeof(w));
		if (w >= c->dm.facts.page_offset_base && w < c->dm.facts.direct_map_end &&
		    !(w & 7))
			c->hands[c->nr_hands++] = w;
	}
}

/*
 * What the tasks the dead cores were running held: a core stopped in the
 * middle of an update of a socket's queues was running the socket's owner
 * (a system call, or the backlog it processes in release_sock()) or another
 * task (a softirq, or the injector's writer).  A thread that was not on a
 * core is not in the middle of anything: this kernel is not preemptible.
 */
void rx_core_hands(struct rx_ctx *c)
{
	u8 *stack;
	u64 base;
	int i;

	c->nr_hands = 0;
	stack = kmalloc(THREAD_SIZE, GFP_KERNEL);
	for (i = 0; stack && c->have_stopped && i < NR_CPUS; i++) {
		u64 task = c->stopped[i].task, ksp = c->stopped[i].ksp;

		if (!task || !ksp ||
		    orthros_dead_read(&c->dm, task + offsetof(struct task_struct, stack),
				      &base, sizeof(base)) ||
		    ksp < base || ksp >= base + THREAD_SIZE - sizeof(struct pt_regs) ||
		    orthros_dead_read_stack(&c->dm, base, stack))
			continue;
		task_hands(c, stack, base, ksp);
	}
	kfree(stack);
}

/* The FPU state in the standard (non-compacted) XSAVE layout. */
static int thread_fpu(struct rx_ctx *c, u64 va, const struct task_struct *t,
		      struct orthros_rx_thread *th)
{
	u64 embedded = va + offsetof(struct task_struct, thread.fpu.__fpstate);
	struct fpstate *fps = (struct fpstate *)&t->thread.fpu.__fpstate;
	struct membuf to = { .p = th->xsave, .left = sizeof(th->xsave) };

	if ((u64)t->thread.fpu.fpstate != embedded)
		return rx_fail(c, -EOPNOTSUPP,
			       "thread %d: its FPU state is outside its task (a large xstate): not carried",
			       t->pid);
	if (fps->size > sizeof(fps->regs) || fps->user_size > sizeof(th->xsave) ||
	    fps->user_size < sizeof(struct fxregs_state))
		return rx_fail(c, -EFAULT, "thread %d: its FPU state does not check (size %u/%u)",
			       t->pid, fps->size, fps->user_size);
	__copy_xstate_to_uabi_buf(to, fps, fps->user_xfeatures, t->thread.pkru,
				  cpu_feature_enabled(X86_FEATURE_XSAVE) ? XSTATE_COPY_XSAVE : XSTATE_COPY_FX);
	th->xsave_len = cpu_feature_enabled(X86_FEATURE_XSAVE) ? fps->user_size : sizeof(struct fxregs_state);
	th->xfeatures = fps->user_xfeatures;
	return 0;
}

/* The rest of a thread's state, from its task_struct. */
static int thread_state(struct rx_ctx *c, u64 va, const struct task_struct *t,
			struct orthros_rx_thread *th)
{
	int err;

	th->fs_base = t->thread.fsbase;
	th->gs_base = t->thread.gsbase;
	th->ds = t->thread.ds;
	th->es = t->thread.es;
	th->fs = t->thread.fsindex;
	th->gs = t->thread.gsindex;
	th->blocked = t->blocked.sig[0];
	th->sas_sp = t->sas_ss_sp;
	th->sas_size = t->sas_ss_size;
	th->sas_flags = t->sas_ss_flags;
#ifdef CONFIG_RSEQ
	th->rseq = (u64)t->rseq;
	th->rseq_len = t->rseq_len;
	th->rseq_sig = t->rseq_sig;
#endif
	th->clear_child_tid = (u64)t->clear_child_tid;
	th->robust_list = (u64)t->robust_list;
	th->robust_len = t->robust_list ? sizeof(struct robust_list_head) : 0;
	memcpy(th->comm, t->comm, sizeof(th->comm));
	th->comm[sizeof(th->comm) - 1] = '\0';
	err = thread_fpu(c, va, t, th);
	if (!err)
		err = rx_thread_signals(c, va, t, th);
	return err;
}

/*
 * The thread's kernel stack, read once: its user registers (the pt_regs at
 * the top) and, for a system call it was in, the live frames below them.
 * With CONFIG_VMAP_STACK the stack is vmalloc'd: read through the dead
 * kernel's page tables, page by page (dead.c).
 */
static int one_thread(struct rx_ctx *c, u64 va, const struct task_struct *t,
		      struct orthros_rx_thread *th)
{
	u64 base = (u64)t->stack, ksp;
	struct pt_regs regs;
	u8 *stack;
	int err;

	stack = kmalloc(THREAD_SIZE, GFP_KERNEL);
	if (!stack)
		return -ENOMEM;
	if (orthros_dead_read_stack(&c->dm, base, stack)) {
		err = rx_fail(c, -EFAULT, "thread %d: its kernel stack at %#llx cannot be read (%s)",
			      t->pid, base, c->dm.facts.flags & ORTHROS_FACT_VMAP_STACK ?
			      "not mapped in its vmalloc area" : "not in its direct map");
		goto out;
	}
	memcpy(&regs, stack + THREAD_SIZE - sizeof(regs), sizeof(regs));
	if (!user_mode(&regs) || regs.ip >= TASK_SIZE_MAX || regs.sp >= TASK_SIZE_MAX) {
		err = rx_fail(c, -EFAULT, "thread %d: its user registers do not check (ip %#lx)",
			      t->pid, regs.ip);
		goto out;
	}
	BUILD_BUG_ON(sizeof(th->regs) != sizeof(regs));
	memcpy(&th->regs, &regs, sizeof(regs));
	th->tid = t->pid;
	th->flags = on_cpu_flags(c, va, t, &ksp);
	if (c->dm.facts.flags & ORTHROS_FACT_VMAP_STACK)
		th->flags |= ORTHROS_RXT_STACK_VMAP;
	if ((th->flags & ORTHROS_RXT_ON_CPU) && !(th->flags & ORTHROS_RXT_SAVED)) {
		err = rx_fail(c, -EAGAIN,
			      "thread %d was running on a core that did not save its FPU state and fs/gs bases",
			      t->pid);
		goto out;
	}
	/* the live frames are between where the stack was left and its pt_regs */
	if (ksp >= base && ksp < base + THREAD_SIZE - sizeof(struct pt_regs))
		th->flags |= ORTHROS_RXT_KSP;
	if ((long)regs.orig_ax >= 0) {
		th->flags |= ORTHROS_RXT_IN_SYSCALL;
		if (th->flags & ORTHROS_RXT_KSP)
			syscall_progress(stack, base, ksp, &regs, th);
	}
	err = 0;
out:
	kfree(stack);
	return err ? err : thread_state(c, va, t, th);
}

int rx_threads(struct rx_ctx *c, u64 leader_va, const struct task_struct *leader,
	       struct orthros_rx_proc *p)
{
	u64 head = (u64)leader->signal + offsetof(struct signal_struct, thread_head);
	struct orthros_rx_thread *th;
	struct task_struct *t;
	struct list_head l;
	struct rx_brent b;
	u32 n = 0;
	u64 next;
	int err;

	th = rx_put(c, ORTHROS_RX_THREAD, sizeof(*th));
	if (!th)
		return -ENOSPC;
	err = one_thread(c, leader_va, leader, th);
	if (err)
		return err;
	t = kmalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	err = rx_read(c, head, &l, sizeof(l), "the thread list");
	next = (u64)l.next;
	rx_brent_init(&b, next);
	while (!err && next != head) {
		u64 va = next - offsetof(struct task_struct, thread_node);

		if (++n > RX_MAX_THREADS) {
			err = rx_fail(c, -E2BIG, "process %d has more than %u threads", leader->pid,
				      RX_MAX_THREADS);
			break;
		}
		err = rx_read(c, va, t, sizeof(*t), "a thread's task_struct");
		if (err)
			break;
		if (t->tgid != leader->pid || t->signal != leader->signal ||
		    t->flags & PF_KTHREAD) {
			err = rx_fail(c, -EFAULT, "process %d: its thread list does not check at %#llx",
				      leader->pid, va);
			break;
		}
		if (va != leader_va && !t->exit_state && !(t->flags & PF_EXITING)) {
			th = rx_put(c, ORTHROS_RX_THREAD, sizeof(*th));
			err = th ? one_thread(c, va, t, th) : -ENOSPC;
		}
		next = (u64)t->thread_node.next;
		if (!err && rx_brent_loops(&b, next))
			err = rx_fail(c, -ELOOP, "process %d: its thread list loops", leader->pid);
	}
	kfree(t);
	return err;
}
