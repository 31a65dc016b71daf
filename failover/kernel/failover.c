// SPDX-License-Identifier: GPL-2.0
/*
 * Orthros failover: the backup takes over from its failed active.
 *
 * Called once the heartbeat has declared the active failed (and checked the
 * shared memory).  In the kernel, in order:
 *
 *   cores     INIT every core of the dead OS but the machine's BSP (an INIT
 *             would restart the firmware on it); a panicking BSP has parked
 *             itself with interrupts and its local APIC off, a hung one runs
 *             nothing but its hang; keep the highest one but the BSP for
 *             the next backup
 *   cpus      if the dead OS registered protected processes (criu restores
 *             them faster with the cores): start bringing the stopped cores
 *             online but the BSP and the kept one (cores.c), in a work
 *             item beside what follows; the rescue waits for them before
 *             its restore
 *   devices   claim the dead OS's PCI functions (orthros_takeover=, from the
 *             profile) and rescan: the drivers bind and reset the devices
 *   role      this OS becomes the active one; the dead one is "taken over"
 *
 * then the failover script (/etc/orthros/failover, run as a usermode helper
 * like /sbin/hotplug) mounts the user-data disk (the journal is replayed),
 * asks the kernel to migrate the dead OS's dirty page cache into it, rescues
 * the protected processes, asks the kernel to hot-add the general memory
 * (repartition.c), brings the service address up and starts the service,
 * marking each phase here, and marks the failover done: the moment "service
 * back".  Then, if it has not run yet, phase "cpus" runs off the service's
 * path, while the script takes the next backup's image and starts it; its
 * first beat is the moment "protected again".
 * /dev/orthros-failover reports the timeline; orthros status prints it.
 */
#define pr_fmt(fmt) "orthros-failover: " fmt

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kmod.h>
#include <linux/miscdevice.h>
#include <linux/mount.h>
#include <linux/mutex.h>
#include <linux/namei.h>
#include <linux/orthros.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <asm/apic.h>

#include "../shmem/orthros_shm.h"
#include "../heartbeat/orthros_heartbeat.h"
#include "../migrate/orthros_journal_abi.h"
#include "../migrate/orthros_migrate.h"
#include "cores.h"
#include "netlock.h"
#include "orthros_repartition.h"

#define MAX_TAKE 16

static u16 take_list[MAX_TAKE];		/* bus << 8 | devfn */
static unsigned int take_count;
static bool migrate_off;
static bool migrate_tree_only;
static bool migrate_no_journal;
static bool migrate_no_undo;
static bool migrate_no_merge;
static bool rescue_off;

static int __init parse_takeover(char *arg)
{
	unsigned int bus, dev, fn, n = 0;
	char *p = arg;

	while (p && *p) {
		int len = 0;

		if (n >= MAX_TAKE || sscanf(p, "%2x:%2x.%1x%n", &bus, &dev, &fn, &len) != 3 ||
		    dev > 31 || fn > 7 || (p[len] && p[len] != ',')) {
			pr_err("ignoring malformed orthros_takeover=%s\n", arg);
			take_count = 0;
			return 0;
		}
		take_list[n++] = bus << 8 | PCI_DEVFN(dev, fn);
		p += len;
		if (*p == ',')
			p++;
	}
	take_count = n;
	return 0;
}
early_param("orthros_takeover", parse_takeover);

/*
 * orthros_migrate=off: no page-cache migration; =tree-only: no memmap
 * witness; =no-journal: the dead journal's transactions are not finished;
 * =no-undo: nor is one with a handle open (its undo records are not used);
 * =no-merge: nor is one where a finished handle changed a block after an
 * open one took it (its change is not merged into the open one's copy)
 */
static int __init parse_migrate(char *arg)
{
	migrate_off = arg && !strcmp(arg, "off");
	migrate_tree_only = arg && !strcmp(arg, "tree-only");
	migrate_no_journal = arg && !strcmp(arg, "no-journal");
	migrate_no_undo = arg && !strcmp(arg, "no-undo");
	migrate_no_merge = arg && !strcmp(arg, "no-merge");
	return 0;
}
early_param("orthros_migrate", parse_migrate);

static int __init parse_rescue(char *arg)
{
	rescue_off = arg && !strcmp(arg, "off");
	return 0;
}
early_param("orthros_rescue", parse_rescue);

static DEFINE_MUTEX(fo_lock);
static struct orthros_failover_status fo;
static u64 ref_tsc;
static struct work_struct takeover_work;
static atomic64_t watched_tsc;		/* a new backup's first beat (0: none yet) */

static u64 since_ref_us(u64 tsc)
{
	return tsc > ref_tsc ? orthros_tsc_to_us(tsc - ref_tsc) : 0;
}

/* Under fo_lock. */
static struct orthros_failover_phase *phase_begin(const char *name)
{
	struct orthros_failover_phase *p;

	if (fo.nr_phases >= ORTHROS_MAX_PHASES)
		return NULL;
	p = &fo.phases[fo.nr_phases++];
	strscpy(p->name, name, sizeof(p->name));
	p->start_us = since_ref_us(orthros_tsc());
	p->duration_us = ~0ULL;
	return p;
}

static void phase_end(struct orthros_failover_phase *p)
{
	if (!p)
		return;
	p->duration_us = since_ref_us(orthros_tsc()) - p->start_us;
	pr_info("phase %-10s at %6llu.%03llu ms, took %llu.%03llu ms\n", p->name,
		p->start_us / 1000, p->start_us % 1000, p->duration_us / 1000,
		p->duration_us % 1000);
}

static struct orthros_failover_phase *find_open(const char *name)
{
	int i;

	for (i = fo.nr_phases - 1; i >= 0; i--)
		if (!strcmp(fo.phases[i].name, name) && fo.phases[i].duration_us == ~0ULL)
			return &fo.phases[i];
	return NULL;
}

static struct work_struct cpus_work;
static bool cpus_taken;		/* phase cpus began (once per boot: one failover) */
static int cpus_phase = -1;	/* its index in fo.phases */

/*
 * Under fo_lock: phase "cpus" begins, unless it has: the dead OS's cores
 * come online in a work item (take_cpus()), beside whatever runs next.
 */
static void start_cpus(void)
{
	if (cpus_taken)
		return;
	cpus_taken = true;
	cpus_phase = phase_begin("cpus") ? fo.nr_phases - 1 : -1;
	schedule_work(&cpus_work);
}

/* Under fo_lock: the network lock's held packets go in (netlock.c). */
static void netunlock(void)
{
	struct orthros_netlock_counts c;

	if (!fo.netlock)
		return;
	orthros_netlock_release(&c);
	fo.netlock = 0;
	fo.netlock_us = since_ref_us(orthros_tsc()) ?: 1;
	fo.netlock_held = c.held;
	fo.netlock_delivered = c.delivered;
	fo.netlock_dropped = c.dropped;
}

static void fail(const char *why)
{
	fo.state = ORTHROS_FO_FAILED;
	netunlock();
	strscpy(fo.error, why, sizeof(fo.error));
	pr_emerg("failover stopped: %s\n", why);
	start_cpus();	/* the cores, all the same */
}

static u32 fail_kind;		/* how the dead OS was found dead */

static void stop_cores(const struct orthros_shm_os *dead)
{
	u32 i, self = read_apic_id();

	/*
	 * After a panic its cores stopped themselves, saving their tasks' user
	 * state; otherwise (a hang) ask them by NMI first.
	 */
	if (fail_kind != ORTHROS_FAIL_PANIC)
		pr_info("%u of OS %u's cores parked by NMI (their tasks' state saved)\n",
			orthros_stop_by_nmi(dead, self), dead->ordinal);
	for (i = 0; i < dead->nr_apics; i++) {
		u32 apic = dead->apic_ids[i];

		if (apic == self)
			continue;
		if (apic == dead->bsp_apic) {
			pr_info("APIC %u is the BSP: left parked (an INIT would restart the firmware)\n",
				apic);
			continue;
		}
		orthros_send_init(apic);
		pr_info("APIC %u stopped (INIT)\n", apic);
	}
}

/*
 * Scan each claimed function, keep the BARs the firmware gave it (a later OS
 * has no host-bridge windows: a general rescan would move them, into memory
 * it does not own), then bind its driver, which resets the device.
 */
static int take_devices(void)
{
	unsigned int i, found = 0;

	pci_lock_rescan_remove();
	for (i = 0; i < take_count; i++) {
		unsigned int busnr = take_list[i] >> 8, devfn = take_list[i] & 0xff;
		struct pci_bus *bus = pci_find_bus(0, busnr);
		struct pci_dev *d;
		int r;

		if (orthros_pci_claim(0, busnr, devfn) || !bus) {
			pr_err("%02x:%02x.%x: no bus or cannot claim\n", busnr, PCI_SLOT(devfn),
			       PCI_FUNC(devfn));
			continue;
		}
		d = pci_scan_single_device(bus, devfn);
		if (!d) {
			pr_err("%02x:%02x.%x did not answer\n", busnr, PCI_SLOT(devfn),
			       PCI_FUNC(devfn));
			continue;
		}
		for (r = 0; r < PCI_ROM_RESOURCE; r++)
			if (d->resource[r].flags && !d->resource[r].parent &&
			    pci_claim_resource(d, r))
				pr_warn("%s: BAR %d stays unclaimed\n", pci_name(d), r);
		pci_bus_add_device(d);
		pr_info("took %s (%s)\n", pci_name(d), d->driver ? d->driver->name : "no driver");
		found++;
	}
	pci_unlock_rescan_remove();
	return found == take_count ? 0 : -ENODEV;
}

static void run_script(u32 dead)
{
	static char ord[16];
	char *argv[] = { "/etc/orthros/failover", ord, NULL };
	static char *envp[] = { "HOME=/", "PATH=/sbin:/bin:/usr/sbin:/usr/bin", NULL };
	int err;

	snprintf(ord, sizeof(ord), "%u", dead);
	err = call_usermodehelper(argv[0], argv, envp, UMH_WAIT_EXEC);
	if (err) {
		mutex_lock(&fo_lock);
		fail("cannot run /etc/orthros/failover");
		mutex_unlock(&fo_lock);
	}
}

static void takeover(struct work_struct *w)
{
	struct orthros_failover_phase *p;
	struct orthros_shm_os dead;
	u32 ordinal;
	int err;

	mutex_lock(&fo_lock);
	ordinal = fo.failed_ordinal;
	if (!orthros_shm_read_os(ordinal, &dead)) {
		fail("the dead OS's record does not check");
		goto out;
	}
	p = phase_begin("cores");
	stop_cores(&dead);
	orthros_keep_core(&dead);	/* cores.c: the next backup's */
	phase_end(p);
	/*
	 * Processes to restore: criu restores them with the cores (measured:
	 * the standard protected workloads' restore took 2.3-4.5 s with them,
	 * 5-10 s on this OS's one core), so they start coming online now,
	 * beside the devices, the file system and the network, and the rescue
	 * waits for them before its restore (rescue-run.c).  None: the cores
	 * wait until the service is back ("done").
	 */
	if (!rescue_off && orthros_protect_count(ordinal))
		start_cpus();

	p = phase_begin("devices");
	err = take_devices();
	phase_end(p);
	if (err) {
		fail("the dead OS's devices could not be taken");
		goto out;
	}
	orthros_become_active();
	orthros_shm_set_state(ordinal, ORTHROS_OS_TAKEN_OVER);
	orthros_shm_set_roles(orthros_ordinal(), 0);
	pr_emerg("OS %u is the active OS now\n", orthros_ordinal());
out:
	mutex_unlock(&fo_lock);
	if (fo.state == ORTHROS_FO_RUNNING)
		run_script(ordinal);
}

/*
 * Phase "cpus", begun by start_cpus() at the takeover (processes to
 * restore), at "done" or when the failover stopped: grow into the dead OS's
 * stopped cores (cores.c).  fo_lock is not held across the hotplug, which
 * takes hundreds of milliseconds under TCG: the takeover and the script go
 * on meanwhile.
 */
static void take_cpus(struct work_struct *w)
{
	orthros_take_cores();
	mutex_lock(&fo_lock);
	if (cpus_phase >= 0)
		phase_end(&fo.phases[cpus_phase]);
	mutex_unlock(&fo_lock);
}

/*
 * The heartbeat saw the first beat of a new backup (hard-irq context): this
 * OS is protected again.  Kept for a failover that has taken place here.
 */
void orthros_failover_watched(void)
{
	if (READ_ONCE(fo.state) == ORTHROS_FO_NONE)
		return;
	atomic64_cmpxchg(&watched_tsc, 0, orthros_tsc());
}

void orthros_failure_declared(const struct orthros_shm_failure *f)
{
	struct orthros_shm_roles roles;

	if (orthros_role() != ORTHROS_ROLE_BACKUP)
		return;		/* an active only reports its dead backup */
	if (!orthros_shm_read_roles(&roles) || roles.active != f->ordinal)
		return;
	mutex_lock(&fo_lock);
	if (fo.state != ORTHROS_FO_NONE) {
		mutex_unlock(&fo_lock);
		return;
	}
	memset(&fo, 0, sizeof(fo));
	fo.state = ORTHROS_FO_RUNNING;
	fo.failed_ordinal = f->ordinal;
	fail_kind = f->kind;
	fo.migrate_off = migrate_off;
	fo.rescue_off = rescue_off;
	ref_tsc = f->ref_tsc;
	fo.ref_us = orthros_tsc_to_us(ref_tsc);
	strscpy(fo.phases[0].name, "detection", sizeof(fo.phases[0].name));
	fo.phases[0].start_us = 0;
	fo.phases[0].duration_us = since_ref_us(f->detect_tsc);
	fo.nr_phases = 1;
	atomic64_set(&watched_tsc, 0);
	/* before the dead OS's NIC is ours: nothing answers a protected connection */
	if (!orthros_netlock_engage())
		fo.netlock = 1;
	mutex_unlock(&fo_lock);
	pr_emerg("taking over from OS %u\n", f->ordinal);
	schedule_work(&takeover_work);
}

u32 orthros_failover_source(void)
{
	u32 dead = 0;

	mutex_lock(&fo_lock);
	if (fo.state == ORTHROS_FO_RUNNING || fo.state == ORTHROS_FO_DONE)
		dead = fo.failed_ordinal;
	mutex_unlock(&fo_lock);
	return dead;
}

/* --- /dev/orthros-failover -------------------------------------------------- */

static long do_mark(const struct orthros_failover_mark __user *uarg)
{
	struct orthros_failover_mark m;
	struct orthros_failover_phase *p;

	if (copy_from_user(&m, uarg, sizeof(m)))
		return -EFAULT;
	m.name[sizeof(m.name) - 1] = '\0';
	mutex_lock(&fo_lock);
	/* after "done" (service back), phases may go on: the next backup */
	if (fo.state != ORTHROS_FO_RUNNING &&
	    (fo.state != ORTHROS_FO_DONE || m.end == 2)) {
		mutex_unlock(&fo_lock);
		return -ESRCH;
	}
	if (m.end == 2) {
		fo.state = ORTHROS_FO_DONE;
		fo.service_back_us = since_ref_us(orthros_tsc()) ?: 1;
		netunlock();
		pr_emerg("failover done, %llu.%03llu ms after the failure\n",
			 fo.service_back_us / 1000, fo.service_back_us % 1000);
		start_cpus();
	} else if (m.end) {
		p = find_open(m.name);
		if (!p) {
			mutex_unlock(&fo_lock);
			return -ENOENT;
		}
		phase_end(p);
	} else if (!phase_begin(m.name)) {
		mutex_unlock(&fo_lock);
		return -ENOSPC;
	}
	mutex_unlock(&fo_lock);
	return 0;
}

static long do_migrate(const struct orthros_migrate_req __user *uarg)
{
	struct orthros_failover_phase *p;
	struct orthros_migrate_req r;
	long err;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	r.path[sizeof(r.path) - 1] = '\0';
	mutex_lock(&fo_lock);
	if (fo.state != ORTHROS_FO_RUNNING) {
		mutex_unlock(&fo_lock);
		return -ESRCH;
	}
	p = phase_begin("migrate");
	if (migrate_off) {
		pr_warn("page-cache migration is off (orthros_migrate=off)\n");
		err = 0;
	} else {
		memset(&fo.migrate, 0, sizeof(fo.migrate));
		err = orthros_migrate(fo.failed_ordinal, r.path,
				      migrate_tree_only ? ORTHROS_MIGRATE_TREE_ONLY : 0, &fo.migrate);
	}
	phase_end(p);
	mutex_unlock(&fo_lock);
	return err;
}

/*
 * The dead journal's unfinished transactions, for orthros-journal to append
 * to the on-disk log before the mount (phase "journal", which the failover
 * script marks around the whole of it).
 */
static long do_journal(struct orthros_journal_req __user *uarg)
{
	struct orthros_journal_req r;
	u64 needed = 0;
	long err;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	mutex_lock(&fo_lock);
	if (fo.state != ORTHROS_FO_RUNNING) {
		mutex_unlock(&fo_lock);
		return -ESRCH;
	}
	err = orthros_journal(fo.failed_ordinal,
			      (migrate_no_journal ? ORTHROS_MIGRATE_NO_JOURNAL : 0) |
			      (migrate_no_undo ? ORTHROS_MIGRATE_NO_UNDO : 0) |
			      (migrate_no_merge ? ORTHROS_MIGRATE_NO_MERGE : 0),
			      u64_to_user_ptr(r.buf), r.len, &needed, &fo.journal);
	mutex_unlock(&fo_lock);
	if (put_user(needed, &uarg->needed))
		return -EFAULT;
	return err;
}

/* What became of a registered process: the rescue tool reports it. */
static long do_rescued(const struct orthros_rescued __user *uarg)
{
	struct orthros_rescued r;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	r.why[sizeof(r.why) - 1] = '\0';
	mutex_lock(&fo_lock);
	if (fo.state != ORTHROS_FO_RUNNING || fo.nr_rescued >= ORTHROS_MAX_RESCUED) {
		mutex_unlock(&fo_lock);
		return fo.state != ORTHROS_FO_RUNNING ? -ESRCH : -ENOSPC;
	}
	if (r.outcome == ORTHROS_RESCUE_RESTORED) {
		r.running_us = since_ref_us(orthros_tsc());
		if (orthros_protect_adopt(r.pid, fo.failed_ordinal))
			pr_warn("process %u: its registry entry could not be taken over\n", r.pid);
	}
	fo.rescued[fo.nr_rescued++] = r;
	pr_emerg("process %u %s%s%s\n", r.pid,
		 r.outcome == ORTHROS_RESCUE_RESTORED ? "restored" : "skipped",
		 r.why[0] ? ": " : "", r.why);
	mutex_unlock(&fo_lock);
	return 0;
}

/* Phase "memory": the general area becomes this OS's (repartition.c). */
static long do_memory(void)
{
	struct orthros_failover_phase *p;
	long err;

	mutex_lock(&fo_lock);
	if (fo.state != ORTHROS_FO_RUNNING) {
		mutex_unlock(&fo_lock);
		return -ESRCH;
	}
	p = phase_begin("memory");
	err = orthros_repartition_memory(fo.failed_ordinal, &fo.mem);
	phase_end(p);
	mutex_unlock(&fo_lock);
	return err;
}

static long do_register(const struct orthros_migrate_req __user *uarg)
{
	struct orthros_migrate_req r;
	struct path path;
	int err;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	r.path[sizeof(r.path) - 1] = '\0';
	err = kern_path(r.path, LOOKUP_FOLLOW, &path);
	if (err)
		return err;
	if (path.dentry != path.mnt->mnt_root) {
		path_put(&path);
		return -EINVAL;		/* not a mount point */
	}
	orthros_shm_register_data((u64)path.mnt->mnt_sb, path.mnt->mnt_sb->s_dev, r.path);
	pr_info("file system at %s registered for takeover\n", r.path);
	path_put(&path);
	return 0;
}

/* The protected processes are back: let the network in (netlock.c). */
static long do_netunlock(void)
{
	mutex_lock(&fo_lock);
	if (fo.state != ORTHROS_FO_RUNNING) {
		mutex_unlock(&fo_lock);
		return -ESRCH;
	}
	netunlock();
	mutex_unlock(&fo_lock);
	return 0;
}

static long fo_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	long err;

	switch (cmd) {
	case ORTHROS_FAILOVER_STATUS: {
		u64 w = atomic64_read(&watched_tsc);

		mutex_lock(&fo_lock);
		fo.protected_us = w ? since_ref_us(w) ?: 1 : 0;
		if (fo.netlock) {	/* still engaged: what it holds so far */
			struct orthros_netlock_counts c;

			orthros_netlock_engaged(&c);
			fo.netlock_held = c.held;
			fo.netlock_dropped = c.dropped;
		}
		err = copy_to_user(uarg, &fo, sizeof(fo)) ? -EFAULT : 0;
		mutex_unlock(&fo_lock);
		return err;
	}
	case ORTHROS_FAILOVER_MARK:
		return capable(CAP_SYS_ADMIN) ? do_mark(uarg) : -EPERM;
	case ORTHROS_FAILOVER_MIGRATE:
		return capable(CAP_SYS_ADMIN) ? do_migrate(uarg) : -EPERM;
	case ORTHROS_FAILOVER_JOURNAL:
		return capable(CAP_SYS_ADMIN) ? do_journal(uarg) : -EPERM;
	case ORTHROS_MIGRATE_REGISTER:
		return capable(CAP_SYS_ADMIN) ? do_register(uarg) : -EPERM;
	case ORTHROS_FAILOVER_RESCUED:
		return capable(CAP_SYS_ADMIN) ? do_rescued(uarg) : -EPERM;
	case ORTHROS_FAILOVER_NETUNLOCK:
		return capable(CAP_SYS_ADMIN) ? do_netunlock() : -EPERM;
	case ORTHROS_FAILOVER_MEMORY:
		return capable(CAP_SYS_ADMIN) ? do_memory() : -EPERM;
	}
	return -ENOTTY;
}

static const struct file_operations fo_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= fo_ioctl,
};

static struct miscdevice fo_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "orthros-failover",
	.fops	= &fo_fops,
	.mode	= 0644,
};

static int __init orthros_failover_init(void)
{
	if (orthros_role() == ORTHROS_ROLE_NONE)
		return 0;
	INIT_WORK(&takeover_work, takeover);
	INIT_WORK(&cpus_work, take_cpus);
	return misc_register(&fo_dev);
}
device_initcall(orthros_failover_init);
