// SPDX-License-Identifier: GPL-2.0
/*
 * Orthros process rescue, the kernel's part: extract a registered process
 * (and, for a tree, its descendants) from the dead OS's memory into records
 * that user space turns into a CRIU image set (migrate/orthros-rescue.c),
 * and let user space read the dead memory the records name (like
 * /proc/vmcore).  See orthros_rescue_abi.h for the records and rescue.h for
 * how the work is split.
 *
 * The process is found through the registry in the shared memory: its PID,
 * its start time and its task_struct's physical address, all checked again
 * in the dead memory (a PID reused after the registered process exited
 * never matches).  A process whose structures do not check is skipped with
 * the reason; the records of what was extracted before it stay valid.
 */
#define pr_fmt(fmt) "orthros-rescue: " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/pid.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "../shmem/orthros_shm.h"
#include "orthros_migrate.h"
#include "hold.h"
#include "rescue.h"

#define RX_MAX_BUF	(512UL << 20)

void *rx_put(struct rx_ctx *c, u32 type, size_t len)
{
	size_t need = sizeof(struct orthros_rx_hdr) + ALIGN(len, 8);
	struct orthros_rx_hdr *h;

	if (c->full || need > c->len - c->used) {
		c->full = true;
		return NULL;
	}
	h = (void *)(c->buf + c->used);
	memset(h, 0, need);
	h->type = type;
	h->len = ALIGN(len, 8);
	c->used += need;
	return h + 1;
}

int rx_fail(struct rx_ctx *c, int err, const char *fmt, ...)
{
	va_list ap;

	if (!c->why[0]) {
		va_start(ap, fmt);
		vsnprintf(c->why, sizeof(c->why), fmt, ap);
		va_end(ap);
	}
	return err;
}

int rx_read(struct rx_ctx *c, u64 va, void *buf, size_t len, const char *what)
{
	if (orthros_dead_read(&c->dm, va, buf, len))
		return rx_fail(c, -EFAULT, "%s at %#llx is outside the dead OS's memory", what, va);
	return 0;
}

struct rx_tree {
	u64 va[RX_MAX_PROCS];
	u32 pid[RX_MAX_PROCS];
	u32 n;
};

static u32 tree_ppid(const struct rx_tree *tr, u64 parent_va)
{
	u32 i;

	for (i = 0; i < tr->n; i++)
		if (tr->va[i] == parent_va)
			return tr->pid[i];
	return 0;
}

/* Queue the children of the task at va (its children list). */
static int tree_children(struct rx_ctx *c, struct rx_tree *tr, u64 va,
			 const struct task_struct *t)
{
	u64 head = va + offsetof(struct task_struct, children);
	u64 next = (u64)t->children.next;
	struct list_head l;
	struct rx_brent b;
	u32 n = 0;

	rx_brent_init(&b, next);
	while (next != head) {
		if (++n > RX_MAX_PROCS || tr->n >= RX_MAX_PROCS)
			return rx_fail(c, -E2BIG, "more than %u processes in the tree", RX_MAX_PROCS);
		if (rx_read(c, next, &l, sizeof(l), "a children list"))
			return -EFAULT;
		tr->va[tr->n] = next - offsetof(struct task_struct, sibling);
		tr->pid[tr->n++] = 0;
		next = (u64)l.next;
		if (rx_brent_loops(&b, next))
			return rx_fail(c, -ELOOP, "the children list of %#llx loops", va);
	}
	return 0;
}

static bool task_stopped_for_self(const struct task_struct *t)
{
	return READ_ONCE(t->__state) & (TASK_STOPPED | TASK_TRACED);
}

/*
 * One process: check its task_struct, then its threads, signals, fs, mm
 * and files.  On failure nothing of it stays in the buffer.
 */
static int rx_process(struct rx_ctx *c, struct rx_tree *tr, u32 idx, u32 want_pid,
		      u64 start_time)
{
	size_t mark = c->used;
	struct orthros_rx_proc *p;
	struct task_struct *t;
	u64 va = tr->va[idx];
	int err;

	t = kmalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	err = rx_read(c, va, t, sizeof(*t), "the task_struct");
	if (err)
		goto out;
	err = -ESRCH;
	if (t->pid != t->tgid || t->pid <= 1 || (want_pid && t->pid != want_pid)) {
		rx_fail(c, err, "the task_struct at %#llx is not process %u (pid %d, tgid %d)",
			va, want_pid, t->pid, t->tgid);
		goto out;
	}
	if (start_time && t->start_time != start_time) {
		rx_fail(c, err, "process %u is not the registered one (start time differs): it exited",
			want_pid);
		goto out;
	}
	err = -EINVAL;
	if (t->flags & (PF_KTHREAD | PF_EXITING) || t->exit_state || !t->mm) {
		rx_fail(c, err, "process %d was exiting or is not a user process", t->pid);
		goto out;
	}
	if (c->dm.self && !task_stopped_for_self(t)) {
		rx_fail(c, err, "process %d is not stopped", t->pid);
		goto out;
	}
	tr->pid[idx] = t->pid;
	err = -ENOSPC;
	p = rx_put(c, ORTHROS_RX_PROC, sizeof(*p));
	if (!p)
		goto out;
	p->pid = t->pid;
	p->ppid = idx ? tree_ppid(tr, (u64)t->real_parent) : 0;
	p->flags = idx ? 0 : ORTHROS_RXP_LEADER;
	err = rx_task(c, va, t, p);
	if (!err)
		err = rx_threads(c, va, t, p);
	if (!err)
		err = rx_signals(c, t, p);
	if (!err)
		err = rx_fs(c, t, p);
	if (!err)
		err = rx_mm(c, t, p);
	if (!err)
		err = rx_files(c, t, p);
	if (!err && c->full)
		err = -ENOSPC;
out:
	if (!err)
		c->nr_procs++;
	if (err)
		c->used = mark;
	kfree(t);
	return err;
}

/* The registry entry of pid owned by ordinal. */
static bool rx_registered(u32 pid, u32 ordinal, struct orthros_shm_reg_entry *e)
{
	u32 i;

	if (!orthros_shm)
		return false;
	for (i = 0; i < ORTHROS_SHM_REG_SLOTS; i++) {
		const void *slot = orthros_shm_at(ORTHROS_SHM_REG_OFF) + i * sizeof(*e);

		if (orthros_rec_read(e, slot, sizeof(*e)) && e->pid == pid &&
		    e->owner_ordinal == ordinal)
			return true;
	}
	return false;
}

static int rx_extract(struct rx_ctx *c, const struct orthros_rescue_req *req, u32 ordinal)
{
	struct orthros_shm_reg_entry e;
	struct rx_tree *tr;
	bool tree = req->flags & ORTHROS_RX_TREE;
	u64 start_time = 0, now;
	u32 i;
	int err;

	tr = kzalloc(sizeof(*tr), GFP_KERNEL);
	if (!tr)
		return -ENOMEM;
	if (c->dm.self) {
		struct task_struct *t = find_get_task_by_vpid(req->pid);

		err = -ESRCH;
		if (!t) {
			rx_fail(c, err, "no process %u here", req->pid);
			goto out;
		}
		tr->va[0] = (u64)t;
		put_task_struct(t);
	} else {
		err = -ENOENT;
		if (!rx_registered(req->pid, ordinal, &e)) {
			rx_fail(c, err, "process %u is not in OS %u's registry", req->pid, ordinal);
			goto out;
		}
		tr->va[0] = c->dm.facts.page_offset_base + e.task_phys;
		start_time = e.start_time;
		tree |= e.flags & ORTHROS_REG_TREE;
	}
	tr->n = 1;
	now = orthros_tsc();
	c->mono_ns = c->dm.facts.mono_ns + orthros_tsc_to_us(now - c->dm.facts.clock_tsc) * 1000;
	c->boot_ns = c->dm.facts.boot_ns + orthros_tsc_to_us(now - c->dm.facts.clock_tsc) * 1000;
	c->have_stopped = !c->dm.self &&
		!orthros_dead_read(&c->dm, (u64)orthros_stopped, c->stopped, sizeof(c->stopped));
	rx_core_hands(c);
	{
		u64 zphys;

		if (!orthros_dead_va_phys(&c->dm, (u64)empty_zero_page, PAGE_SIZE, &zphys))
			c->zero_pfn = zphys >> PAGE_SHIFT;
	}
	for (i = 0; i < tr->n; i++) {
		struct task_struct *t;

		err = rx_process(c, tr, i, i ? 0 : req->pid, i ? 0 : start_time);
		if (err)
			goto out;
		if (!tree)
			continue;
		t = kmalloc(sizeof(*t), GFP_KERNEL);
		if (!t) {
			err = -ENOMEM;
			goto out;
		}
		err = rx_read(c, tr->va[i], t, sizeof(*t), "the task_struct");
		if (!err)
			err = tree_children(c, tr, tr->va[i], t);
		kfree(t);
		if (err)
			goto out;
	}
	err = rx_put(c, ORTHROS_RX_END, 0) ? 0 : -ENOSPC;
out:
	kfree(tr);
	return err;
}

/* --- /dev/orthros-rescue ---------------------------------------------------- */

struct rx_file {
	struct mutex lock;
	struct orthros_dead dm;
	bool open;
};

/* The memory this file reads: the dead OS's, or with no failover, this OS's. */
static int rx_file_map(struct rx_file *rf, bool self)
{
	u32 dead = orthros_failover_source();
	int err;

	if (rf->open && rf->dm.self == (self || !dead))
		return 0;
	if (rf->open)
		orthros_dead_close(&rf->dm);
	rf->open = false;
	err = orthros_dead_open(&rf->dm, self ? 0 : dead);
	if (err) {
		orthros_dead_close(&rf->dm);
		return err;
	}
	rf->open = true;
	return 0;
}

/*
 * A successful extraction from a dead OS: count every page its records name,
 * so that the memory phase holds them out of the allocator (hold.c).
 */
static void rx_count_pages(const u8 *buf, u64 used)
{
	u64 off = 0;

	while (off + sizeof(struct orthros_rx_hdr) <= used) {
		const struct orthros_rx_hdr *h = (const void *)(buf + off);
		const void *d = h + 1;

		if (h->len > used - off - sizeof(*h))
			break;
		if (h->type == ORTHROS_RX_PAGES) {
			const struct orthros_rx_pages *pg = d;
			u64 i;

			for (i = 0; i < pg->count && i < (h->len - sizeof(*pg)) / sizeof(pg->page[0]); i++)
				orthros_hold_count(pg->page[i].phys);
		} else if (h->type == ORTHROS_RX_PIPEBUF) {
			orthros_hold_count(((const struct orthros_rx_pipebuf *)d)->phys);
		} else if (h->type == ORTHROS_RX_SKDATA) {
			orthros_hold_count(((const struct orthros_rx_skdata *)d)->phys);
		}
		off += sizeof(*h) + h->len;
	}
}

static long rx_release_ioctl(struct orthros_rescue_release __user *ureq)
{
	struct orthros_rescue_release r;
	unsigned long held, freed;
	u64 __user *up;
	u32 i;

	if (copy_from_user(&r, ureq, sizeof(r)))
		return -EFAULT;
	if (r.flags & ~ORTHROS_RX_RELEASE_ALL || r.nr > ORTHROS_RX_RELEASE_MAX)
		return -EINVAL;
	up = u64_to_user_ptr(r.phys);
	for (i = 0; i < r.nr; i++) {
		u64 phys;

		if (get_user(phys, up + i))
			return -EFAULT;
		orthros_hold_release(phys);
		if (!(i & 1023))
			cond_resched();
	}
	if (r.flags & ORTHROS_RX_RELEASE_ALL)
		orthros_hold_release_all();
	orthros_hold_stats(&held, &freed);
	r.held = held;
	r.freed = freed;
	return copy_to_user(ureq, &r, sizeof(r)) ? -EFAULT : 0;
}

static long rx_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct orthros_rescue_req __user *ureq = (void __user *)arg;
	struct rx_file *rf = f->private_data;
	struct orthros_rescue_req req;
	bool self;
	struct rx_ctx *c;
	u32 dead;
	long err;

	if (cmd != ORTHROS_RESCUE_EXTRACT && cmd != ORTHROS_RESCUE_RELEASE)
		return -ENOTTY;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (cmd == ORTHROS_RESCUE_RELEASE)
		return rx_release_ioctl((void __user *)arg);
	if (copy_from_user(&req, ureq, sizeof(req)))
		return -EFAULT;
	self = req.flags & ORTHROS_RX_SELF;
	dead = orthros_failover_source();
	if (!self && !dead) {
		strscpy(req.why, "no failover here: there is no dead OS to rescue from", sizeof(req.why));
		return copy_to_user(ureq, &req, sizeof(req)) ? -EFAULT : -ENOENT;
	}
	c = kvzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	c->len = min_t(u64, req.len, RX_MAX_BUF);
	c->buf = kvmalloc(c->len ?: 1, GFP_KERNEL);
	err = -ENOMEM;
	if (!c->buf)
		goto out;
	mutex_lock(&rf->lock);
	err = orthros_dead_open(&c->dm, self ? 0 : dead);
	if (!err)
		err = rx_extract(c, &req, dead);
	orthros_dead_close(&c->dm);
	if (!err)
		err = rx_file_map(rf, self);
	mutex_unlock(&rf->lock);
	if (c->full && (!err || err == -ENOSPC)) {
		err = -ENOSPC;
		snprintf(c->why, sizeof(c->why), "the buffer of %llu bytes is too small", req.len);
	}
	if (!err && copy_to_user(u64_to_user_ptr(req.buf), c->buf, c->used))
		err = -EFAULT;
	if (!err && !self)
		rx_count_pages(c->buf, c->used);
	req.used = err ? 0 : c->used;
	req.nr_procs = c->nr_procs;
	strscpy(req.why, c->why, sizeof(req.why));
	if (err && err != -ENOSPC)
		pr_warn("process %u not extracted: %s\n", req.pid, c->why);
	if (copy_to_user(ureq, &req, sizeof(req)))
		err = -EFAULT;
out:
	kvfree(c->buf);
	kvfree(c);
	return err;
}

/* pread at a physical address of the memory being rescued from. */
static ssize_t rx_read_mem(struct file *f, char __user *ubuf, size_t n, loff_t *ppos)
{
	struct rx_file *rf = f->private_data;
	size_t done = 0;
	ssize_t err = 0;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	mutex_lock(&rf->lock);
	err = rx_file_map(rf, false);
	while (!err && done < n) {
		u64 pos = *ppos + done;
		size_t chunk = min_t(size_t, n - done, PAGE_SIZE - (pos & ~PAGE_MASK));
		void *p = orthros_dead_phys(&rf->dm, pos, chunk);

		if (!p) {
			err = -EFAULT;
			break;
		}
		if (copy_to_user(ubuf + done, p, chunk)) {
			err = -EFAULT;
			break;
		}
		done += chunk;
		cond_resched();
	}
	mutex_unlock(&rf->lock);
	if (done) {
		*ppos += done;
		return done;
	}
	return err;
}

static int rx_open(struct inode *inode, struct file *f)
{
	struct rx_file *rf = kzalloc(sizeof(*rf), GFP_KERNEL);

	if (!rf)
		return -ENOMEM;
	mutex_init(&rf->lock);
	f->private_data = rf;
	return 0;
}

static int rx_release(struct inode *inode, struct file *f)
{
	struct rx_file *rf = f->private_data;

	if (rf->open)
		orthros_dead_close(&rf->dm);
	kfree(rf);
	return 0;
}

static const struct file_operations rx_fops = {
	.owner		= THIS_MODULE,
	.open		= rx_open,
	.release	= rx_release,
	.read		= rx_read_mem,
	.llseek		= default_llseek,
	.unlocked_ioctl	= rx_ioctl,
};

static struct miscdevice rx_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "orthros-rescue",
	.fops	= &rx_fops,
	.mode	= 0600,
};

static int __init orthros_rescue_init(void)
{
	if (orthros_role() == ORTHROS_ROLE_NONE)
		return 0;
	return misc_register(&rx_dev);
}
device_initcall(orthros_rescue_init);
