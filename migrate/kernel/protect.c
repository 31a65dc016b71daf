// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/orthros-protect: the registry of protected processes.
 *
 * A process is registered by the OS that runs it (its owner) in the shared
 * memory's registry (64 checksummed entries, orthros_shm_abi.h), where the
 * OS that takes over from the owner finds it.  ADD checks the process and
 * refuses, with a reason and an errno, changing nothing, when it cannot be
 * protected; REMOVE drops one; REMOVE of PID 0 only prunes.  Both prune this
 * OS's entries whose process has exited (a PID is matched with its start
 * time, so a reused PID never passes for the registered process).
 *
 * Slots are shared by the OSes: a writer takes an entry by moving its seq
 * from even to odd with cmpxchg, so two OSes never write one entry at once;
 * inside this OS a mutex serialises the writers.
 *
 * Every OS also publishes, in its kernel facts, how much of another OS's
 * registered memory it can take over (rescue_capacity): half of its
 * MemAvailable plus the general area it would hot-add, less
 * orthros_rescue_reserve= (default 32 MiB), refreshed every 10 s.  ADD refuses
 * a process that does not fit in what the backup published.
 */
#define pr_fmt(fmt) "orthros-protect: " fmt

#include <linux/cred.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/orthros.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/ptrace.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include "../shmem/orthros_shm.h"
#include "orthros_migrate.h"

#define NSLOTS ORTHROS_SHM_REG_SLOTS

static DEFINE_MUTEX(reg_lock);
static u64 rescue_reserve = 32ULL << 20;

static int __init parse_reserve(char *arg)
{
	if (arg)
		rescue_reserve = memparse(arg, NULL);
	return 0;
}
early_param("orthros_rescue_reserve", parse_reserve);

static struct orthros_shm_reg_entry *slot_at(u32 i)
{
	return orthros_shm_at(ORTHROS_SHM_REG_OFF) + i * sizeof(struct orthros_shm_reg_entry);
}

enum { SLOT_FREE, SLOT_USED, SLOT_BAD };

/* A checked copy of slot i; a never-written slot (all zero) is free. */
static int slot_read(u32 i, struct orthros_shm_reg_entry *e)
{
	if (orthros_rec_read(e, slot_at(i), sizeof(*e)))
		return e->pid ? SLOT_USED : SLOT_FREE;
	memcpy(e, slot_at(i), sizeof(*e));
	return memchr_inv(e, 0, sizeof(*e)) ? SLOT_BAD : SLOT_FREE;
}

/* Take slot i for writing if its seq is still the one copied: even -> odd. */
static bool slot_lock(u32 i, u32 seen)
{
	struct orthros_shm_reg_entry *e = slot_at(i);

	if (seen & 1)
		return false;
	/* a full barrier: the odd seq is visible before any field changes */
	return cmpxchg(&e->seq, seen, seen | 1) == seen;
}

/* Write the fields of copy into locked slot i and publish it. */
static void slot_write(u32 i, const struct orthros_shm_reg_entry *copy)
{
	struct orthros_shm_reg_entry *e = slot_at(i);

	memcpy((void *)e + 4, (const void *)copy + 4, sizeof(*e) - 8);
	orthros_rec_end(e, sizeof(*e));
}

/*
 * The live thread-group leader registered in e, or NULL when it has exited
 * (or is a zombie, or its PID now names another process).  RCU held.
 */
static struct task_struct *entry_task(const struct orthros_shm_reg_entry *e)
{
	struct task_struct *t = find_task_by_pid_ns(e->pid, &init_pid_ns);

	if (!t || !thread_group_leader(t) || t->start_time != e->start_time ||
	    t->exit_state || (t->flags & PF_EXITING))
		return NULL;
	return t;
}

/*
 * This OS's entries: free those whose process exited, refresh the command
 * name of the others (it changes at exec: orthros-protect -- CMD).  Returns
 * the resident bytes registered by this OS.
 */
static u64 prune(void)
{
	struct orthros_shm_reg_entry e;
	u32 me = orthros_ordinal(), i;
	u64 bytes = 0;

	for (i = 0; i < NSLOTS; i++) {
		struct task_struct *t;
		char comm[TASK_COMM_LEN];
		bool alive;

		if (slot_read(i, &e) != SLOT_USED || e.owner_ordinal != me)
			continue;
		rcu_read_lock();
		t = entry_task(&e);
		alive = t;
		if (t)
			get_task_comm(comm, t);
		rcu_read_unlock();
		if (alive && !strncmp(comm, e.comm, sizeof(e.comm))) {
			bytes += e.rss_bytes;
			continue;
		}
		if (!slot_lock(i, e.seq))
			continue;
		if (alive) {
			memcpy(e.comm, comm, sizeof(e.comm));
			bytes += e.rss_bytes;
		} else {
			pr_info("PID %u (%.16s) exited: no longer protected\n", e.pid, e.comm);
			memset((void *)&e + 4, 0, sizeof(e) - 8);
		}
		slot_write(i, &e);
	}
	return bytes;
}

/*
 * How many processes OS @owner registered (checked slots only): at a
 * takeover, whether the dead OS left processes to restore.
 */
u32 orthros_protect_count(u32 owner)
{
	struct orthros_shm_reg_entry e;
	u32 i, n = 0;

	if (!orthros_shm)
		return 0;
	for (i = 0; i < NSLOTS; i++)
		if (slot_read(i, &e) == SLOT_USED && e.owner_ordinal == owner)
			n++;
	return n;
}

/* The slot of this OS's entry for pid (and start_time, unless 0), or -1. */
static int find_entry(u32 pid, u64 start_time, struct orthros_shm_reg_entry *e)
{
	u32 i;

	for (i = 0; i < NSLOTS; i++)
		if (slot_read(i, e) == SLOT_USED && e->owner_ordinal == orthros_ordinal() &&
		    e->pid == pid && (!start_time || e->start_time == start_time))
			return i;
	return -1;
}

/* The OS that would take over from this one, up and beating, or 0 and why. */
static u32 watcher(char *why, size_t len)
{
	struct orthros_shm_roles roles;
	struct orthros_shm_os os;
	u32 me = orthros_ordinal();

	if (!orthros_shm_read_roles(&roles)) {
		snprintf(why, len, "the roles record in the shared memory does not check");
		return 0;
	}
	if (roles.active != me) {
		snprintf(why, len, "this OS (%u) is not the active one (OS %u is): nobody takes over from it",
			 me, roles.active);
		return 0;
	}
	if (!roles.backup || roles.backup == me) {
		snprintf(why, len, "no backup watches this OS");
		return 0;
	}
	if (!orthros_shm_read_os(roles.backup, &os) || os.state != ORTHROS_OS_UP) {
		snprintf(why, len, "no backup watches this OS: its backup, OS %u, is %s",
			 roles.backup, orthros_shm_read_os(roles.backup, &os) ?
			 orthros_os_state_name(os.state) : "not recorded");
		return 0;
	}
	return roles.backup;
}

/* No registry to write to: say why. */
static bool no_registry(struct orthros_protect_req *rq)
{
	char why[128];
	int err = orthros_shm_check(why, sizeof(why));

	if (!err)
		return false;
	if (err == -ENODEV)
		snprintf(rq->why, sizeof(rq->why), "%s", why);
	else if (!READ_ONCE(*(u64 *)orthros_shm))
		snprintf(rq->why, sizeof(rq->why),
			 "no shared memory yet: it is made when the first backup starts");
	else
		snprintf(rq->why, sizeof(rq->why), "the shared memory is not valid: %s", why);
	return true;
}

static long protect_add(struct orthros_protect_req *rq)
{
	struct orthros_shm_reg_entry e = { }, old;
	struct orthros_shm_facts facts;
	struct task_struct *t, *leader;
	struct mm_struct *mm;
	char comm[TASK_COMM_LEN], why[128];
	u64 registered, rss;
	u32 tgid, backup = 0;
	int i, err;

	if (rq->flags & ~(ORTHROS_REG_TREE | ORTHROS_PROTECT_FORCE)) {
		snprintf(rq->why, sizeof(rq->why), "unknown flags %#x", rq->flags);
		return -EINVAL;
	}
	if (no_registry(rq))
		return -ENODEV;
	/* the caller's view of PIDs: its own namespace */
	t = rq->pid ? find_get_task_by_vpid(rq->pid) : NULL;
	if (!t) {
		snprintf(rq->why, sizeof(rq->why), "no such process");
		return -ESRCH;
	}
	rcu_read_lock();
	leader = pid_alive(t) ? t->group_leader : t;
	get_task_struct(leader);
	rcu_read_unlock();
	put_task_struct(t);
	get_task_comm(comm, leader);
	err = -EINVAL;
	if (leader->flags & PF_KTHREAD) {
		snprintf(rq->why, sizeof(rq->why), "%s is a kernel thread", comm);
		goto out;
	}
	if (is_global_init(leader) || task_tgid_vnr(leader) == 1) {
		snprintf(rq->why, sizeof(rq->why), "%s is PID 1: it cannot be rescued", comm);
		goto out;
	}
	if (leader->exit_state || (leader->flags & PF_EXITING)) {
		snprintf(rq->why, sizeof(rq->why), "%s is %s", comm,
			 leader->exit_state == EXIT_ZOMBIE ? "a zombie" : "exiting");
		goto out;
	}
	if (!ptrace_may_access(leader, PTRACE_MODE_ATTACH_REALCREDS)) {
		snprintf(rq->why, sizeof(rq->why),
			 "%s: permission denied (uid %u may not ptrace it; its uid is %u)", comm,
			 from_kuid(&init_user_ns, current_uid()),
			 from_kuid(&init_user_ns, task_uid(leader)));
		err = -EPERM;
		goto out;
	}
	mm = get_task_mm(leader);
	if (!mm) {
		snprintf(rq->why, sizeof(rq->why), "%s has no user memory", comm);
		goto out;
	}
	rss = get_mm_rss(mm) << PAGE_SHIFT;
	tgid = task_tgid_nr(leader);
	e.pid = tgid;
	e.owner_ordinal = orthros_ordinal();
	e.flags = rq->flags & (ORTHROS_REG_TREE | ORTHROS_PROTECT_FORCE);
	memcpy(e.comm, comm, sizeof(e.comm));
	e.task_phys = __pa(leader);
	e.mm_phys = __pa(mm);
	e.start_time = leader->start_time;
	e.uid = from_kuid(&init_user_ns, current_uid());
	e.rss_bytes = rss;
	mmput(mm);

	mutex_lock(&reg_lock);
	registered = prune();
	i = find_entry(tgid, e.start_time, &old);
	if (i >= 0) {
		snprintf(rq->why, sizeof(rq->why), "%s is already registered (slot %d)", comm, i);
		rq->slot = i;
		err = -EEXIST;
		goto unlock;
	}
	if (!(rq->flags & ORTHROS_PROTECT_FORCE)) {
		backup = watcher(why, sizeof(why));
		if (!backup) {
			snprintf(rq->why, sizeof(rq->why), "%s (--force registers anyway)", why);
			err = -ENOLINK;
			goto unlock;
		}
	} else {
		backup = watcher(why, sizeof(why));
	}
	/* with no facts from the backup, its capacity is not known: no refusal */
	if (backup && orthros_shm_read_facts(backup, &facts) && facts.rescue_capacity &&
	    rss + registered > facts.rescue_capacity) {
		snprintf(rq->why, sizeof(rq->why),
			 "%s is too big for the backup: %llu KiB resident + %llu KiB already registered, the backup (OS %u) can take %llu KiB",
			 comm, rss >> 10, registered >> 10, backup, facts.rescue_capacity >> 10);
		err = -E2BIG;
		goto unlock;
	}
	err = -ENOSPC;
	snprintf(rq->why, sizeof(rq->why), "the registry is full (%d processes)", NSLOTS);
	for (i = 0; i < NSLOTS; i++) {
		if (slot_read(i, &old) != SLOT_FREE || !slot_lock(i, old.seq))
			continue;
		e.added_tsc = orthros_tsc();
		slot_write(i, &e);
		rq->slot = i;
		rq->why[0] = '\0';
		err = 0;
		pr_info("PID %u (%s) protected in slot %d%s%s\n", tgid, comm, i,
			e.flags & ORTHROS_REG_TREE ? ", with its descendants" : "",
			backup ? "" : ", with no backup watching (forced)");
		break;
	}
unlock:
	mutex_unlock(&reg_lock);
out:
	put_task_struct(leader);
	return err;
}

static long protect_remove(struct orthros_protect_req *rq)
{
	struct orthros_shm_reg_entry e;
	struct task_struct *t;
	u32 pid = rq->pid;
	long err = 0;
	int i;

	if (no_registry(rq))
		return -ENODEV;
	/* the caller names it in its PID namespace; the registry, in the OS's */
	t = rq->pid ? find_get_task_by_vpid(rq->pid) : NULL;
	if (t) {
		pid = task_tgid_nr(t);
		put_task_struct(t);
	}
	mutex_lock(&reg_lock);
	prune();
	if (!rq->pid)		/* only the pruning */
		goto unlock;
	err = -ESRCH;
	snprintf(rq->why, sizeof(rq->why), "not registered by this OS");
	i = find_entry(pid, 0, &e);
	if (i < 0)
		goto unlock;
	rq->slot = i;
	if (e.uid != from_kuid(&init_user_ns, current_uid()) && !capable(CAP_SYS_ADMIN)) {
		snprintf(rq->why, sizeof(rq->why), "registered by uid %u: only it or root may remove it",
			 e.uid);
		err = -EPERM;
		goto unlock;
	}
	if (!slot_lock(i, e.seq)) {
		snprintf(rq->why, sizeof(rq->why), "its entry is being written: try again");
		err = -EAGAIN;
		goto unlock;
	}
	memset((void *)&e + 4, 0, sizeof(e) - 8);
	slot_write(i, &e);
	pr_info("PID %u no longer protected (slot %d)\n", pid, i);
	rq->why[0] = '\0';
	err = 0;
unlock:
	mutex_unlock(&reg_lock);
	return err;
}

static long protect_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct orthros_protect_req rq;
	long err;

	if (cmd != ORTHROS_PROTECT_ADD && cmd != ORTHROS_PROTECT_REMOVE)
		return -ENOTTY;
	if (copy_from_user(&rq, (void __user *)arg, sizeof(rq)))
		return -EFAULT;
	rq.slot = ~0U;
	rq.why[0] = '\0';
	err = cmd == ORTHROS_PROTECT_ADD ? protect_add(&rq) : protect_remove(&rq);
	rq.why[sizeof(rq.why) - 1] = '\0';
	if (copy_to_user((void __user *)arg, &rq, sizeof(rq)))
		return -EFAULT;
	return err;
}

static const struct file_operations protect_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= protect_ioctl,
};

/* Every check is in the kernel: anybody may ask. */
static struct miscdevice protect_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "orthros-protect",
	.fops	= &protect_fops,
	.mode	= 0666,
};

/* --- what this OS can take over: its kernel facts ----------------------- */

static void capacity_fn(struct work_struct *w);
static DECLARE_DELAYED_WORK(capacity_work, capacity_fn);

static void capacity_fn(struct work_struct *w)
{
	/*
	 * A rescued process lives in this OS's free memory and in the general
	 * area it hot-adds at the takeover: its dead pages are held there and
	 * given back as its images grow, but criu restore reads a mapping's
	 * pages whole before it frees them in the images (--auto-dedup), so at
	 * its peak the process is there twice (docs/failover.md, step 6).
	 */
	u64 avail = (((u64)si_mem_available() << PAGE_SHIFT) +
		     orthros_repartition_general_bytes()) / 2;
	char why[128];

	if (!orthros_shm_check(why, sizeof(why)))
		/* 1: it can take nothing (0 would read as "not known") */
		orthros_shm_set_rescue_capacity(avail > rescue_reserve ?
						avail - rescue_reserve : 1);
	schedule_delayed_work(&capacity_work, 10 * HZ);
}

static int __init orthros_protect_init(void)
{
	int err;

	if (orthros_role() == ORTHROS_ROLE_NONE || !orthros_shm)
		return 0;
	err = misc_register(&protect_dev);
	if (err)
		return err;
	/* a few seconds after boot: the initramfs is unpacked, init has started */
	schedule_delayed_work(&capacity_work, 3 * HZ);
	return 0;
}
late_initcall(orthros_protect_init);

/*
 * A process of the dead OS `from` was restored here with its PID: its
 * registry entry is this OS's now, pointing at the restored process (its
 * new task_struct and start time), so it stays protected (failover/ calls
 * this for every process the rescue reports restored).
 */
int orthros_protect_adopt(u32 pid, u32 from)
{
	struct orthros_shm_reg_entry e;
	struct task_struct *t;
	struct mm_struct *mm;
	int err = -ENOENT;
	u32 i;

	if (!orthros_shm)
		return -ENODEV;
	t = find_get_task_by_vpid(pid);
	if (!t)
		return -ESRCH;
	mutex_lock(&reg_lock);
	for (i = 0; i < NSLOTS; i++) {
		if (slot_read(i, &e) != SLOT_USED || e.owner_ordinal != from || e.pid != pid)
			continue;
		if (!slot_lock(i, e.seq)) {
			err = -EAGAIN;
			break;
		}
		e.owner_ordinal = orthros_ordinal();
		e.generation = orthros_ordinal();
		e.task_phys = __pa(t);
		e.start_time = t->start_time;
		mm = get_task_mm(t);
		e.mm_phys = mm ? __pa(mm) : 0;
		if (mm) {
			e.rss_bytes = get_mm_rss(mm) << PAGE_SHIFT;
			mmput(mm);
		}
		get_task_comm(e.comm, t);
		slot_write(i, &e);
		err = 0;
		break;
	}
	mutex_unlock(&reg_lock);
	put_task_struct(t);
	return err;
}
