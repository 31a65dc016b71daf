/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The process rescue's extractor, shared by its files: one file per kind of
 * state, as CRIU keeps one per resource kind.
 *
 *   rescue.c          the device, the records buffer, finding the process
 *   rescue_task.c     the task, its threads, registers, FPU, credentials
 *   rescue_mem.c      the mm: VMAs (maple tree) and resident pages
 *   rescue_files.c    open files, paths through the mounts, pipes
 *   rescue_net.c      IPv4 TCP and UDP sockets, their queued bytes
 *   rescue_signals.c  handlers, masks, queued signals
 *
 * Every structure is a copy read from the dead kernel's memory with
 * orthros_dead_read(); every pointer in it is the dead kernel's and is only
 * ever followed through orthros_dead_read() again.  Walks are capped.
 */
#ifndef ORTHROS_RESCUE_H
#define ORTHROS_RESCUE_H

#include <linux/orthros.h>
#include <linux/sched.h>
#include <linux/types.h>
#include "dead.h"
#include "orthros_rescue_abi.h"

#define RX_MAX_PROCS	256		/* processes of a tree */
#define RX_MAX_THREADS	1024		/* threads of a process */
#define RX_MAX_VMAS	65536
#define RX_MAX_FDS	4096
#define RX_MAX_SIGQ	1024
#define RX_MAX_PATH	64		/* components of a path */
#define RX_MAX_MOUNTS	16		/* mounts crossed by a path */
#define RX_MAX_HANDS	1024		/* words of the stopped tasks' live stacks */
#define RX_HANDS_BELOW	256		/* ... from this far below where a stack was left */

struct rx_ctx {
	struct orthros_dead dm;
	char *buf;			/* the records */
	size_t len, used;
	bool full;			/* a record did not fit */
	char why[ORTHROS_RX_WHY];	/* the first reason something failed */
	u32 nr_procs;
	u64 mono_ns, boot_ns;		/* the dead kernel's clocks now */
	struct orthros_stopped_cpu stopped[NR_CPUS];
	bool have_stopped;
	u64 zero_pfn;			/* its empty_zero_page */
	/*
	 * The words of the live part of the kernel stacks of the tasks the
	 * dead cores were running (and of the registers the interrupt that
	 * stopped each saved there) that point into the dead direct map: what
	 * they held, an object taken off one queue and not yet put on another,
	 * say (rescue_net.c's held_skb()).  Only a task on a core can have
	 * been in the middle of an update: this kernel is not preemptible.
	 */
	u64 hands[RX_MAX_HANDS];
	u32 nr_hands;
};

/* A new record of type and len bytes (zeroed), or NULL when full. */
void *rx_put(struct rx_ctx *c, u32 type, size_t len);
/* Note why (the first reason wins); returns err. */
__printf(3, 4) int rx_fail(struct rx_ctx *c, int err, const char *fmt, ...);
/* Read the dead object at va into buf, or fail with what it was. */
int rx_read(struct rx_ctx *c, u64 va, void *buf, size_t len, const char *what);

int rx_task(struct rx_ctx *c, u64 task_va, const struct task_struct *t,
	    struct orthros_rx_proc *p);
/* c->hands: what the tasks the dead cores were running held (rescue_task.c). */
void rx_core_hands(struct rx_ctx *c);
int rx_threads(struct rx_ctx *c, u64 leader_va, const struct task_struct *leader,
	       struct orthros_rx_proc *p);
int rx_mm(struct rx_ctx *c, const struct task_struct *t, struct orthros_rx_proc *p);
int rx_files(struct rx_ctx *c, const struct task_struct *t, struct orthros_rx_proc *p);
int rx_fs(struct rx_ctx *c, const struct task_struct *t, struct orthros_rx_proc *p);
int rx_path(struct rx_ctx *c, u64 mnt_va, u64 dentry_va, char *out, size_t len);
/* An epoll instance (rescue_epoll.c): is f one, and its EPITEM records. */
bool rx_is_epoll(const struct file *f);
int rx_epoll(struct rx_ctx *c, const struct file *f, struct orthros_rx_fd *r);
int rx_socket(struct rx_ctx *c, u64 file_va, const struct file *f, struct orthros_rx_fd *r,
	      bool *carried);
int rx_signals(struct rx_ctx *c, const struct task_struct *t, struct orthros_rx_proc *p);
int rx_thread_signals(struct rx_ctx *c, u64 va, const struct task_struct *t,
		      struct orthros_rx_thread *th);

/* Brent's cycle detection over a walk: call with each next pointer. */
struct rx_brent {
	u64 tortoise, power, lam;
};

static inline bool rx_brent_loops(struct rx_brent *b, u64 next)
{
	if (next == b->tortoise)
		return true;
	if (++b->lam == b->power) {
		b->tortoise = next;
		b->power <<= 1;
		b->lam = 0;
	}
	return false;
}

static inline void rx_brent_init(struct rx_brent *b, u64 first)
{
	b->tortoise = first;
	b->power = 1;
	b->lam = 0;
}

#endif
