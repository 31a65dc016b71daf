// SPDX-License-Identifier: GPL-2.0
/*
 * Orthros fault injection: crash this OS on purpose, in a known place.
 *
 * Write one command to /sys/kernel/orthros_inject (root only):
 *
 *   panic        panic() inside this write() system call
 *   oops         a NULL pointer write inside this system call: an oops,
 *                which panics when panic_on_oops is set
 *   hang         every core of this OS spins with interrupts off; no panic
 *                code runs, nothing is said
 *   write PID    panic when a timer interrupt finds process PID inside a
 *                write() system call (in the middle of a file write)
 *   user PID     panic when a timer interrupt finds process PID running
 *                its own user code
 *   rename PID   panic when a timer interrupt finds process PID inside a
 *                rename() (a file-system operation half done: its journal
 *                handle may be open)
 *   rename-in-handle PID
 *                the same, only while its journal handle is open (the task's
 *                journal_info: the running transaction has a half-done
 *                operation, t_updates > 0) and has taken write access to a
 *                buffer (an undo record, migrate/kernel/undo.c: its change
 *                may be in the running transaction's buffers already)
 *   read PID     panic when a timer interrupt finds process PID inside a
 *                read() that has copied bytes to its buffer and not
 *                returned (what the rescue must not lose; read() only: a
 *                recvfrom() of a UDP probe would stand in for the stream's
 *                read the tests mean)
 *   read-returned PID
 *                panic when a timer interrupt finds process PID inside a
 *                read() whose file's read has just returned bytes: where
 *                ksys_read() resumes after vfs_read(), the count still in
 *                the core's rax (the call's iov_iter is in a frame that has
 *                returned, and its result is not yet in the user's
 *                registers unless the kernel put it there: what the rescue
 *                must not lose either)
 *   append PID   panic when a timer interrupt finds process PID inside a
 *                write() to an O_APPEND file that has copied bytes, the fd's
 *                position past the end of the file (the first append after
 *                a truncation: the rescue must not append those bytes twice),
 *                and the file has grown (before the first page's i_size
 *                update nothing reached the file: no cut to check)
 *   corrupt PATH damage the page cache of file PATH (its xarray head points
 *                outside this OS's memory), then panic: what the backup's
 *                page-cache migration must survive
 *   damage-cache PATH  overwrite the leaf node of PATH's page-cache tree
 *                that holds its pages 64-127 with a byte pattern and clear
 *                its parent's marks for it, then panic: what the memmap
 *                witness of the migration must see through
 *   cut-send-queue PID  cut an skb of the send queues of process PID's first
 *                established TCP socket in two as tcp_fragment() does, the
 *                second half not yet linked (held by this call only), then
 *                panic: a socket stopped between two updates of its queues,
 *                which the process rescue must carry whole
 *   stall PID N  the next journal handle of process PID that takes its N-th
 *                buffer (its N-th undo record, migrate/kernel/undo.c) sleeps
 *                there, the handle open, until a "panic" (or 20 s): a task
 *                stopped inside a file-system operation at a known step,
 *                while other tasks finish theirs.  "stalled ..." in the log
 *                says it is there
 *   corrupt-task PID  damage process PID's memory map (its VMA tree's root
 *                points outside this OS's memory), then panic: what the
 *                process rescue must survive (that process is skipped)
 *
 * The moment of the fault is marked in the shared memory (the fault_tsc of
 * this OS's heartbeat line) so the detection latency can be measured.
 * The "write", "user", "rename", "read", "read-returned" and "append" traps
 * give up after 20 s.
 */
#define pr_fmt(fmt) "orthros-inject: " fmt

#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/hrtimer.h>
#include <linux/init.h>
#include <linux/jbd2.h>
#include <linux/kobject.h>
#include <linux/namei.h>
#include <linux/fdtable.h>
#include <linux/fs.h>
#include <linux/orthros.h>
#include <linux/percpu.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/maple_tree.h>
#include <linux/delay.h>
#include <linux/file.h>
#include <linux/net.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/task_stack.h>
#include <linux/smp.h>
#include <linux/stop_machine.h>
#include <linux/string.h>
#include <linux/syscalls.h>
#include <linux/sysfs.h>
#include <linux/xarray.h>
#include <asm/irq_regs.h>
#include <asm/syscall.h>
#include <asm/unistd.h>

#include "../heartbeat/orthros_heartbeat.h"
#include "../migrate/io_progress.h"
#include "../migrate/undo.h"

#define TRAP_PERIOD_US	200
#define TRAP_GIVE_UP_S	20

enum trap_kind {
	TRAP_NONE, TRAP_WRITE, TRAP_USER, TRAP_READ, TRAP_READ_RETURNED, TRAP_APPEND, TRAP_RENAME,
	TRAP_RENAME_HANDLE
};

static const char *const trap_where[] = {
	[TRAP_WRITE] = "in write()",
	[TRAP_USER] = "in user code",
	[TRAP_READ] = "in read() with bytes copied",
	[TRAP_READ_RETURNED] = "in read() on its way out with bytes read",
	[TRAP_APPEND] = "in an append after a truncation with bytes copied",
	[TRAP_RENAME] = "in rename()",
	[TRAP_RENAME_HANDLE] = "in rename() with its journal handle open",
};

/* The command that arms each trap. */
static const char *const trap_cmd[] = {
	[TRAP_WRITE] = "write",
	[TRAP_USER] = "user",
	[TRAP_READ] = "read",
	[TRAP_READ_RETURNED] = "read-returned",
	[TRAP_APPEND] = "append",
	[TRAP_RENAME] = "rename",
	[TRAP_RENAME_HANDLE] = "rename-in-handle",
};

static int trap_of(const char *cmd)
{
	int k;

	for (k = TRAP_NONE + 1; k < ARRAY_SIZE(trap_cmd); k++)
		if (!strcmp(cmd, trap_cmd[k]))
			return k;
	return TRAP_NONE;
}

static DEFINE_PER_CPU(struct hrtimer, trap_timer);
static int trap_kind;
static pid_t trap_pid;
static ktime_t trap_until;
static unsigned long read_return_ip;

/*
 * Where ksys_read() resumes when vfs_read() returns: the return address of
 * its call to vfs_read() (e8 and a 32-bit displacement), found in its code.
 * 0: not found (another compiler's code).
 */
static unsigned long read_return_site(void)
{
	const u8 *p = (const u8 *)ksys_read;
	unsigned long next;
	s32 rel;
	int i;

	for (i = 0; i < 512; i++) {
		if (p[i] != 0xe8)
			continue;
		memcpy(&rel, p + i + 1, sizeof(rel));
		next = (unsigned long)(p + i + 5);
		if (next + rel == (unsigned long)vfs_read)
			return next;
	}
	return 0;
}

/* A command's PID argument: 0, or -EINVAL. */
static int pid_arg(const char *arg, pid_t *pid)
{
	return !arg || kstrtoint(arg, 10, pid) || *pid <= 0 ? -EINVAL : 0;
}

static int hang_cpu(void *unused)
{
	/* stop_machine() has turned interrupts off on every core */
	for (;;)
		cpu_relax();
	return 0;
}

/*
 * The interrupted task is in read() (no result yet) and the
 * call's iov_iter, in the live part of its stack, says bytes were copied:
 * panic there.
 */
static void read_copied(const struct pt_regs *regs)
{
	struct pt_regs *u = task_pt_regs(current);
	unsigned long base = (unsigned long)task_stack_page(current);
	u64 done = 0;

	if (u->orig_ax != __NR_read || u->ax != (unsigned long)-ENOSYS || regs->sp - base >= THREAD_SIZE ||
	    (unsigned long)u <= regs->sp)
		return;
	if (orthros_io_progress((const u8 *)(regs->sp & ~7UL), (unsigned long)u - (regs->sp & ~7UL),
				u->si, u->dx, ITER_DEST, &done) > 0 && done) {
		orthros_hb_note_fault();
		panic("orthros-inject: pid %d (%s) interrupted in read() with %llu of %lu bytes copied",
		      current->pid, current->comm, done, u->dx);
	}
}

/*
 * The interrupted task is in read(), stopped where ksys_read() resumes after
 * vfs_read() returned a count (in rax): the bytes are off the queue and in
 * the user's buffer, the iov_iter that said so is in vfs_read()'s returned
 * frame, and the system call has not returned: panic there.
 */
static void read_returned(const struct pt_regs *regs)
{
	struct pt_regs *u = task_pt_regs(current);

	if (regs->ip != read_return_ip || u->orig_ax != __NR_read || (long)regs->ax <= 0)
		return;
	orthros_hb_note_fault();
	panic("orthros-inject: pid %d (%s) interrupted in read() on its way out, %ld of %lu bytes read, its registers' result %ld",
	      current->pid, current->comm, (long)regs->ax, u->dx, (long)u->ax);
}

/*
 * The interrupted task is in write() (no result yet) to an O_APPEND file
 * whose fd's position is past its end (as after ftruncate()), the file is
 * not empty (the append's first bytes are in its size), and the call's
 * iov_iter says bytes were copied: panic there.
 */
static void append_copied(const struct pt_regs *regs)
{
	struct pt_regs *u = task_pt_regs(current);
	unsigned long base = (unsigned long)task_stack_page(current);
	struct file *f;
	u64 done = 0;
	bool stale;

	if (u->orig_ax != __NR_write || u->ax != (unsigned long)-ENOSYS ||
	    regs->sp - base >= THREAD_SIZE || (unsigned long)u <= regs->sp || !current->files)
		return;
	rcu_read_lock();
	f = files_lookup_fd_raw(current->files, u->di);
	stale = f && (f->f_flags & O_APPEND) && S_ISREG(file_inode(f)->i_mode) &&
		i_size_read(file_inode(f)) > 0 && f->f_pos > i_size_read(file_inode(f));
	rcu_read_unlock();
	if (stale && orthros_io_progress((const u8 *)(regs->sp & ~7UL),
					 (unsigned long)u - (regs->sp & ~7UL), u->si, u->dx,
					 ITER_SOURCE, &done) > 0 && done) {
		orthros_hb_note_fault();
		panic("orthros-inject: pid %d (%s) interrupted in an append after a truncation with %llu of %lu bytes copied",
		      current->pid, current->comm, done, u->dx);
	}
}

static enum hrtimer_restart trap_tick(struct hrtimer *t)
{
	struct pt_regs *regs = get_irq_regs();
	int kind = READ_ONCE(trap_kind);

	if (kind == TRAP_NONE)
		return HRTIMER_NORESTART;
	if (ktime_after(ktime_get(), trap_until)) {
		if (cmpxchg(&trap_kind, kind, TRAP_NONE) == kind)
			pr_warn("gave up: pid %d was not caught %s within %d s\n", trap_pid,
				trap_where[kind], TRAP_GIVE_UP_S);
		return HRTIMER_NORESTART;
	}
	if (regs && current->tgid == READ_ONCE(trap_pid)) {
		if (kind == TRAP_USER && user_mode(regs)) {
			orthros_hb_note_fault();
			panic("orthros-inject: pid %d (%s) interrupted in user code at ip %lx",
			      current->pid, current->comm, regs->ip);
		}
		if (kind == TRAP_READ && !user_mode(regs) && current->mm)
			read_copied(regs);
		if (kind == TRAP_READ_RETURNED && !user_mode(regs) && current->mm)
			read_returned(regs);
		if (kind == TRAP_APPEND && !user_mode(regs) && current->mm)
			append_copied(regs);
		if ((kind == TRAP_RENAME || kind == TRAP_RENAME_HANDLE) && !user_mode(regs) &&
		    current->mm) {
			long nr = syscall_get_nr(current, task_pt_regs(current));
			/* ext4 without a journal keeps a small number there, not a handle */
			bool handle = (unsigned long)current->journal_info >= 4096 &&
				      READ_ONCE(((handle_t *)current->journal_info)->h_orthros_undo);

			if ((nr == __NR_rename || nr == __NR_renameat || nr == __NR_renameat2) &&
			    (kind == TRAP_RENAME || handle)) {
				orthros_hb_note_fault();
				panic("orthros-inject: pid %d (%s) interrupted in the middle of rename()%s",
				      current->pid, current->comm,
				      handle ? " with its journal handle open, a buffer taken" : "");
			}
		}
		if (kind == TRAP_WRITE && !user_mode(regs) && current->mm &&
		    syscall_get_nr(current, task_pt_regs(current)) == __NR_write) {
			orthros_hb_note_fault();
			panic("orthros-inject: pid %d (%s) interrupted in the middle of write()",
			      current->pid, current->comm);
		}
	}
	hrtimer_forward_now(t, ns_to_ktime(TRAP_PERIOD_US * NSEC_PER_USEC));
	return HRTIMER_RESTART;
}

static void arm_cpu(void *unused)
{
	struct hrtimer *t = this_cpu_ptr(&trap_timer);

	hrtimer_start(t, ns_to_ktime(TRAP_PERIOD_US * NSEC_PER_USEC), HRTIMER_MODE_REL_PINNED_HARD);
}

/* stall PID N: the handle of PID that takes its N-th buffer sleeps there. */
static pid_t stall_pid;
static unsigned int stall_nr;

static void stall_hook(handle_t *handle, unsigned int nr)
{
	ktime_t until = ktime_add_ms(ktime_get(), TRAP_GIVE_UP_S * MSEC_PER_SEC);
	struct orthros_undo *u;
	char blocks[200];
	size_t len = 0;

	blocks[0] = '\0';
	if (current->tgid != READ_ONCE(stall_pid) || nr != READ_ONCE(stall_nr) ||
	    cmpxchg(&stall_pid, current->tgid, 0) != current->tgid)
		return;
	for (u = handle->h_orthros_undo; u && len < sizeof(blocks) - 1; u = u->next)
		len += scnprintf(blocks + len, sizeof(blocks) - len, " %llu",
				 (unsigned long long)u->blocknr);
	pr_info("stalled: pid %d (%s) in a journal handle of transaction %u, after its buffer %u (blocks, last first:%s)\n",
		current->pid, current->comm, handle->h_transaction->t_tid, nr, blocks);
	while (ktime_before(ktime_get(), until))
		msleep(20);
	pr_warn("stall of pid %d given up after %d s\n", current->pid, TRAP_GIVE_UP_S);
}

static int stall(const char *arg)
{
	struct task_struct *t;
	char pid_s[16];
	unsigned int nr;
	pid_t pid;

	if (!arg || sscanf(arg, "%15s %u", pid_s, &nr) != 2 || pid_arg(pid_s, &pid) || !nr ||
	    nr > ORTHROS_UNDO_MAX)
		return -EINVAL;
	t = find_get_task_by_vpid(pid);
	if (!t)
		return -ESRCH;
	pid = task_tgid_nr(t);
	put_task_struct(t);
	WRITE_ONCE(stall_nr, nr);
	WRITE_ONCE(stall_pid, pid);
	WRITE_ONCE(orthros_undo_hook, stall_hook);
	pr_info("armed: pid %d stalls in the journal handle that takes its buffer %u\n", pid, nr);
	return 0;
}

static int arm(int kind, const char *arg)
{
	struct task_struct *p;
	pid_t pid;
	int cpu;

	if (pid_arg(arg, &pid))
		return -EINVAL;
	rcu_read_lock();
	p = find_task_by_vpid(pid);
	rcu_read_unlock();
	if (!p)
		return -ESRCH;
	if (kind == TRAP_READ_RETURNED) {
		read_return_ip = read_return_site();
		if (!read_return_ip) {
			pr_err("read-returned: no call to vfs_read() found in ksys_read()\n");
			return -ENOENT;
		}
	}
	for_each_online_cpu(cpu)
		hrtimer_cancel(per_cpu_ptr(&trap_timer, cpu));
	trap_pid = pid;
	trap_until = ktime_add_ms(ktime_get(), TRAP_GIVE_UP_S * MSEC_PER_SEC);
	WRITE_ONCE(trap_kind, kind);
	on_each_cpu(arm_cpu, NULL, 1);
	pr_info("armed: panic when pid %d is caught %s\n", pid, trap_where[kind]);
	return 0;
}

/*
 * damage-cache PATH: what a stray write over a node of a page-cache tree
 * does (the stack overflow of issue 24 is the suspect): the leaf node that
 * holds PATH's pages 64-127 gets a byte pattern over all its slots (each
 * reads as a value entry, a shadow of an evicted page), and its parent's
 * marks for it are cleared (the walk by marks would not even look at it).
 * Then panic, with the tree's lock held: nothing repairs it.  The file needs
 * more than 64 pages in its cache (-ENXIO if not).
 */
static int damage_cache(const char *arg)
{
	struct xa_node *node, *parent;
	struct address_space *m;
	struct path path;
	unsigned long first;
	int i;

	if (!arg || kern_path(arg, LOOKUP_FOLLOW, &path))
		return -ENOENT;
	if (!d_is_reg(path.dentry)) {
		path_put(&path);
		return -EINVAL;
	}
	m = d_inode(path.dentry)->i_mapping;
	{
		XA_STATE(xas, &m->i_pages, 64);

		xa_lock_irq(&m->i_pages);
		xas_load(&xas);
		node = xas.xa_node;
		if (xas_invalid(&xas) || !node || node->shift || !node->parent) {
			xa_unlock_irq(&m->i_pages);
			path_put(&path);
			return -ENXIO;
		}
	}
	parent = xa_parent_locked(&m->i_pages, node);
	first = (unsigned long)node->offset << parent->shift;
	orthros_hb_note_fault();
	for (i = 0; i < XA_CHUNK_SIZE; i++)
		WRITE_ONCE(node->slots[i], (void *)0x3d3d3d3d3d3d3d3dUL);
	for (i = 0; i < XA_MAX_MARKS; i++)
		__clear_bit(node->offset, parent->marks[i]);
	panic("orthros-inject: damaged the page-cache tree of %s (the leaf of pages %lu-%lu)",
	      arg, first, first + XA_CHUNK_SIZE - 1);
}

/* The first established TCP socket of process pid, held (or NULL). */
static struct sock *tcp_socket_of(pid_t pid)
{
	struct task_struct *t = find_get_task_by_vpid(pid);
	struct sock *sk = NULL;
	unsigned int fd;

	for (fd = 0; t && fd < 1024 && !sk; fd++) {
		struct file *f = fget_task(t, fd);
		struct socket *sock = f ? sock_from_file(f) : NULL;

		if (sock && sock->sk && sk_fullsock(sock->sk) &&
		    sock->sk->sk_protocol == IPPROTO_TCP &&
		    sock->sk->sk_state == TCP_ESTABLISHED) {
			sk = sock->sk;
			sock_hold(sk);
		}
		if (f)
			fput(f);
	}
	if (t)
		put_task_struct(t);
	return sk;
}

/*
 * cut-send-queue PID: what tcp_fragment() and tso_fragment() leave for a
 * moment, with the socket locked: an skb of the send queues (the first one
 * sent when another follows it, or else the last one) whose end_seq and bytes have been cut
 * at half its length, the second half moved to a new skb that no queue holds
 * yet.  Then panic, the new skb held in this frame only.  Waits up to 2 s for
 * an skb of at least 2 bytes (-EAGAIN).
 */
static int cut_send_queue(const char *arg)
{
	struct sk_buff *skb = NULL, *buff;
	/* in a stack slot, as a spilled local of tso_fragment() would be */
	struct sk_buff *volatile held;
	struct sock *sk;
	u32 half, seq, end;
	pid_t pid;
	int tries;

	if (pid_arg(arg, &pid))
		return -EINVAL;
	sk = tcp_socket_of(pid);
	if (!sk)
		return -ENOTCONN;
	for (tries = 0; tries < 400; tries++) {
		lock_sock(sk);
		/* one with a successor: the hole is then in the middle of a queue */
		skb = skb_rb_first(&sk->tcp_rtx_queue);
		if (!skb || skb->len < 2 || (!skb_rb_next(skb) && !tcp_send_head(sk)))
			skb = tcp_write_queue_tail(sk);
		if (!skb || skb->len < 2)
			skb = skb_rb_last(&sk->tcp_rtx_queue);
		if (skb && skb->len >= 2 &&
		    !(TCP_SKB_CB(skb)->tcp_flags & (TCPHDR_SYN | TCPHDR_FIN)) &&
		    !skb_unclone_keeptruesize(skb, GFP_ATOMIC))
			break;
		skb = NULL;
		release_sock(sk);
		usleep_range(5000, 6000);
	}
	if (!skb) {
		sock_put(sk);
		return -EAGAIN;
	}
	buff = tcp_stream_alloc_skb(sk, GFP_ATOMIC, true);
	if (!buff) {
		release_sock(sk);
		sock_put(sk);
		return -ENOMEM;
	}
	half = skb->len / 2;
	seq = TCP_SKB_CB(skb)->seq + half;
	end = TCP_SKB_CB(skb)->end_seq;
	orthros_hb_note_fault();
	TCP_SKB_CB(buff)->seq = seq;
	TCP_SKB_CB(buff)->end_seq = end;
	TCP_SKB_CB(buff)->tcp_flags = TCP_SKB_CB(skb)->tcp_flags;
	TCP_SKB_CB(skb)->tcp_flags &= ~TCPHDR_PSH;
	TCP_SKB_CB(skb)->end_seq = seq;
	skb_split(skb, buff, half);
	held = buff;
	panic("orthros-inject: cut an skb of pid %d's TCP send queues in two: bytes %u..%u in an skb no queue holds (%s)",
	      pid, seq, end, held ? "held here" : "lost");
}

static ssize_t inject_store(struct kobject *kobj, struct kobj_attribute *attr,
			    const char *buf, size_t count)
{
	char cmd[256], *arg;
	struct path path;
	int err;

	strscpy(cmd, buf, sizeof(cmd));
	strim(cmd);
	arg = strchr(cmd, ' ');
	if (arg)
		*arg++ = '\0';
	if (!strcmp(cmd, "mark")) {
		/* a fault comes next from elsewhere (LKDTM): its time, for the latency */
		orthros_hb_note_fault();
		pr_info("fault mark by pid %d\n", current->pid);
		return count;
	} else if (!strcmp(cmd, "panic")) {
		orthros_hb_note_fault();
		panic("orthros-inject: panic in a system call (write by pid %d, %s)",
		      current->pid, current->comm);
	} else if (!strcmp(cmd, "oops")) {
		pr_emerg("oops in a system call (pid %d), panic_on_oops=%d\n", current->pid,
			 panic_on_oops);
		orthros_hb_note_fault();
		*(volatile int *)NULL = 0;
	} else if (!strcmp(cmd, "hang")) {
		pr_emerg("hanging every core with interrupts off\n");
		orthros_hb_note_fault();
		stop_machine(hang_cpu, NULL, cpu_online_mask);
	} else if (!strcmp(cmd, "corrupt")) {
		if (!arg || kern_path(arg, LOOKUP_FOLLOW, &path))
			return -ENOENT;
		if (!d_is_reg(path.dentry)) {
			path_put(&path);
			return -EINVAL;
		}
		orthros_hb_note_fault();
		local_irq_disable();
		/* an internal entry: a node at physical 0x10, which is nobody's RAM */
		WRITE_ONCE(d_inode(path.dentry)->i_mapping->i_pages.xa_head,
			   (void *)(PAGE_OFFSET + 0x12));
		panic("orthros-inject: corrupted the page cache of %s", arg);
	} else if (!strcmp(cmd, "damage-cache")) {
		return damage_cache(arg);
	} else if (!strcmp(cmd, "cut-send-queue")) {
		return cut_send_queue(arg);
	} else if (!strcmp(cmd, "stall")) {
		err = stall(arg);
		return err ? err : count;
	} else if (!strcmp(cmd, "corrupt-task")) {
		struct task_struct *t;
		struct mm_struct *mm;
		pid_t pid;

		if (pid_arg(arg, &pid))
			return -EINVAL;
		t = find_get_task_by_vpid(pid);
		if (!t)
			return -ESRCH;
		mm = get_task_mm(t);
		put_task_struct(t);
		if (!mm)
			return -EINVAL;
		orthros_hb_note_fault();
		local_irq_disable();
		/* its VMA tree's root: a node in memory that is not this OS's */
		WRITE_ONCE(mm->mm_mt.ma_root,
			   (void *)(PAGE_OFFSET + 0x70000000 + (maple_arange_64 << 3) + 2));
		panic("orthros-inject: corrupted the mm of pid %d", pid);
	} else if (trap_of(cmd) != TRAP_NONE) {
		err = arm(trap_of(cmd), arg);
		return err ? err : count;
	} else {
		return -EINVAL;
	}
	return count;
}

static struct kobj_attribute inject_attr = __ATTR_WO(inject);

static int __init orthros_inject_init(void)
{
	int cpu;

	if (orthros_role() == ORTHROS_ROLE_NONE)
		return 0;
	for_each_possible_cpu(cpu) {
		struct hrtimer *t = per_cpu_ptr(&trap_timer, cpu);

		hrtimer_init(t, CLOCK_MONOTONIC, HRTIMER_MODE_REL_PINNED_HARD);
		t->function = trap_tick;
	}
	inject_attr.attr.name = "orthros_inject";
	return sysfs_create_file(kernel_kobj, &inject_attr.attr);
}
late_initcall(orthros_inject_init);
