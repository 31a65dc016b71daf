// SPDX-License-Identifier: GPL-2.0
/*
 * Orthros liveness beyond "the timer still fires": every core's beat, made
 * in process context, and the user-space watchdog.
 *
 * Core beats.  Each online core runs an hrtimer every heartbeat period that
 * queues a work on the core's stopper thread (the highest-priority thread,
 * as the soft-lockup detector does); the work counts a beat in the core's
 * entry of this OS's beat line.  The count stops moving when the core runs
 * with interrupts off (no timer), or runs kernel code that never schedules
 * (a lockup, a spin on a lock that is never released: the stopper never
 * gets the core), or when its scheduler no longer runs at all.  The peer
 * declares this OS failed when one core's count has not moved for stall_ms
 * (orthros_core_stall=MS, from the profile's core_stall_ms; 0 turns it off).
 *
 * The user-space watchdog.  `orthros watchdog --interval MS -- CHECK` runs
 * CHECK every MS and, each time it succeeds, counts a beat here through
 * /dev/orthros-heartbeat.  The peer declares this OS failed when the count
 * has not moved for misses periods.  The registration goes when the
 * watchdog closes the device (it exits, or is killed): a watchdog that is
 * stopped is not a failure of the OS.
 *
 * Everything read from the peer's line is untrusted: periods and limits are
 * clamped, strings bounded.
 */
#define pr_fmt(fmt) "orthros: " fmt

#include <linux/capability.h>
#include <linux/cpuhotplug.h>
#include <linux/hrtimer.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/percpu.h>
#include <linux/pid.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/smp.h>
#include <linux/stop_machine.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <asm/apic.h>
#include <asm/smp.h>
#include <asm/tsc.h>

#include "../shmem/orthros_shm.h"
#include "orthros_heartbeat.h"

#define STALL_MAX_MS	60000
#define WD_PERIOD_MIN	10
#define WD_PERIOD_MAX	600000
#define WD_MISSES_MAX	1000

static unsigned int core_stall_ms = 2000;

static int __init parse_core_stall(char *arg)
{
	unsigned int ms;

	if (!arg || kstrtouint(arg, 10, &ms) || ms > STALL_MAX_MS) {
		pr_err("ignoring orthros_core_stall=%s (want 0-%u ms)\n", arg ? arg : "",
		       STALL_MAX_MS);
		return 0;
	}
	core_stall_ms = ms;
	return 0;
}
early_param("orthros_core_stall", parse_core_stall);

static u32 self;
static unsigned int period;
static struct cpumask beating;		/* cores whose beats are expected */
static DEFINE_PER_CPU(struct hrtimer, core_timer);
static DEFINE_PER_CPU(struct cpu_stop_work, core_stop_work);
static DEFINE_PER_CPU(atomic_t, core_queued);

static struct orthros_shm_core *my_core(unsigned int cpu)
{
	return &orthros_shm_beat(self)->core[cpu];
}

/* On the core's stopper thread: the core schedules, count it. */
static int core_beat(void *unused)
{
	struct orthros_shm_core *c = my_core(smp_processor_id());

	WRITE_ONCE(c->count, c->count + 1);
	atomic_set(this_cpu_ptr(&core_queued), 0);
	return 0;
}

static enum hrtimer_restart core_tick(struct hrtimer *t)
{
	hrtimer_forward_now(t, ms_to_ktime(period));
	/* one work at a time: the last one may not have run yet (that is the point) */
	if (!atomic_xchg(this_cpu_ptr(&core_queued), 1) &&
	    !stop_one_cpu_nowait(smp_processor_id(), core_beat, NULL,
				 this_cpu_ptr(&core_stop_work)))
		atomic_set(this_cpu_ptr(&core_queued), 0);
	return HRTIMER_RESTART;
}

/* CPU hotplug, on the core coming up (an AP state: its own hotplug thread) */
static int core_online(unsigned int cpu)
{
	struct hrtimer *t = per_cpu_ptr(&core_timer, cpu);
	struct orthros_shm_core *c = my_core(cpu);

	atomic_set(per_cpu_ptr(&core_queued, cpu), 0);
	WRITE_ONCE(c->apic, per_cpu(x86_cpu_to_apicid, cpu));
	smp_wmb();	/* the peer reads online, then apic */
	WRITE_ONCE(c->online, 1);
	cpumask_set_cpu(cpu, &beating);
	hrtimer_init(t, CLOCK_MONOTONIC, HRTIMER_MODE_REL_PINNED_HARD);
	t->function = core_tick;
	hrtimer_start(t, ms_to_ktime(period), HRTIMER_MODE_REL_PINNED_HARD);
	return 0;
}

static int core_offline(unsigned int cpu)
{
	cpumask_clear_cpu(cpu, &beating);
	WRITE_ONCE(my_core(cpu)->online, 0);
	smp_wmb();	/* not watched first, then quiet */
	hrtimer_cancel(per_cpu_ptr(&core_timer, cpu));
	return 0;
}

/* Start this OS's core beats (every online core, and every core added later). */
void orthros_live_start(u32 ordinal, unsigned int period_ms)
{
	struct orthros_shm_beat *b;
	unsigned int i;
	int err;

	BUILD_BUG_ON(sizeof(struct orthros_shm_beat) != 512);
	/* core[] is indexed by CPU number */
	BUILD_BUG_ON(CONFIG_NR_CPUS > ORTHROS_SHM_MAX_APICS);
	self = ordinal;
	period = period_ms;
	b = orthros_shm_beat(self);
	for (i = 0; i < ORTHROS_SHM_MAX_APICS; i++)
		WRITE_ONCE(b->core[i].online, 0);
	WRITE_ONCE(b->wd_period_ms, 0);
	WRITE_ONCE(b->stall_ms, core_stall_ms);
	err = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "orthros/live:online", core_online,
				core_offline);
	if (err < 0) {
		WRITE_ONCE(b->stall_ms, 0);
		pr_err("core beats not started (%d): the peer will not check this OS's cores\n",
		       err);
		return;
	}
	if (core_stall_ms)
		pr_info("every core beats in process context; a core silent for %u ms fails this OS\n",
			core_stall_ms);
}

/*
 * Every heartbeat tick: say again which cores beat and the stall limit.  The
 * line may have been zeroed since they were set: the 1st OS creates the
 * shared memory only when it starts its first backup, long after its cores
 * came up.  A core going offline is cleared here within a tick, well before
 * its silence could count as a stall.
 */
void orthros_live_refresh(void)
{
	struct orthros_shm_beat *b;
	unsigned int i;

	if (!self)
		return;
	b = orthros_shm_beat(self);
	WRITE_ONCE(b->stall_ms, core_stall_ms);
	for (i = 0; i < ORTHROS_SHM_MAX_APICS; i++) {
		struct orthros_shm_core *c = &b->core[i];
		u32 on = i < nr_cpu_ids && cpumask_test_cpu(i, &beating);

		if (on && READ_ONCE(c->apic) != per_cpu(x86_cpu_to_apicid, i))
			WRITE_ONCE(c->apic, per_cpu(x86_cpu_to_apicid, i));
		if (READ_ONCE(c->online) != on)
			WRITE_ONCE(c->online, on);
	}
}

/* --- the peer's side -------------------------------------------------------- */

static struct {
	u32 peer;
	u64 count[ORTHROS_SHM_MAX_APICS];
	u64 moved[ORTHROS_SHM_MAX_APICS];	/* when its count last moved; 0: not watched */
	u64 wd_count, wd_moved;
	u32 wd_pid;
} lw;

static u64 ms_tsc(u64 ms)
{
	return ms * tsc_khz;
}

/*
 * Check the watched peer's core beats and user-space watchdog at time now
 * (in the heartbeat's tick, under its lock).  Returns 0, or the kind of
 * failure with its cause in cause.
 */
u32 orthros_live_check(u32 peer, u64 now, char *cause, size_t len)
{
	const struct orthros_shm_beat *b = orthros_shm_beat(peer);
	u32 stall = READ_ONCE(b->stall_ms), wd, k, pid;
	unsigned int i;
	u64 n;

	if (peer != lw.peer) {
		memset(&lw, 0, sizeof(lw));
		lw.peer = peer;
	}
	/* never stricter than two of its own beats, never longer than a minute */
	if (stall)
		stall = clamp(stall, 2 * READ_ONCE(b->period_ms), (u32)STALL_MAX_MS);
	for (i = 0; i < ORTHROS_SHM_MAX_APICS; i++) {
		const struct orthros_shm_core *c = &b->core[i];

		n = READ_ONCE(c->count);
		if (!stall || !READ_ONCE(c->online)) {
			lw.moved[i] = 0;
			continue;
		}
		if (!lw.moved[i] || n != lw.count[i]) {
			lw.count[i] = n;
			lw.moved[i] = now;
			continue;
		}
		if (now > lw.moved[i] && now - lw.moved[i] > ms_tsc(stall)) {
			snprintf(cause, len,
				 "core stall: CPU %u (APIC %u) made no progress for %u ms (no process-context beat: interrupts or preemption off, a lockup, or its scheduler no longer runs)",
				 i, READ_ONCE(c->apic), stall);
			return ORTHROS_FAIL_CORE_STALL;
		}
	}

	wd = READ_ONCE(b->wd_period_ms);
	k = READ_ONCE(b->wd_misses);
	pid = READ_ONCE(b->wd_pid);
	n = READ_ONCE(b->wd_count);
	if (!wd) {
		lw.wd_moved = 0;
		return 0;
	}
	wd = clamp_t(u32, wd, WD_PERIOD_MIN, WD_PERIOD_MAX);
	k = clamp_t(u32, k, 1, WD_MISSES_MAX);
	if (!lw.wd_moved || n != lw.wd_count || pid != lw.wd_pid) {
		lw.wd_count = n;
		lw.wd_pid = pid;
		lw.wd_moved = now;
		return 0;
	}
	if (now > lw.wd_moved && now - lw.wd_moved > ms_tsc((u64)wd * k)) {
		char check[ORTHROS_WD_CHECK_LEN];

		memcpy(check, b->wd_check, sizeof(check));
		check[sizeof(check) - 1] = '\0';
		snprintf(cause, len,
			 "user-space watchdog: no beat for %llu ms (%u periods of %u ms; pid %u checks '%s')",
			 (u64)wd * k, k, wd, pid, check);
		return ORTHROS_FAIL_WATCHDOG;
	}
	return 0;
}

/* --- the watchdog's side (/dev/orthros-heartbeat) --------------------------- */

static DEFINE_MUTEX(wd_lock);
static const struct file *wd_owner;

static void wd_clear(struct orthros_shm_beat *b)
{
	WRITE_ONCE(b->wd_period_ms, 0);
	wd_owner = NULL;
}

long orthros_live_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct orthros_shm_beat *b;
	struct orthros_hb_watchdog w;
	long err = 0;

	if (cmd != ORTHROS_HB_WATCHDOG && cmd != ORTHROS_HB_WATCHDOG_BEAT)
		return -ENOTTY;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (!orthros_shm || !self)
		return -ENODEV;
	b = orthros_shm_beat(self);
	mutex_lock(&wd_lock);
	if (cmd == ORTHROS_HB_WATCHDOG_BEAT) {
		if (wd_owner != f) {
			err = -ENOENT;
		} else {
			WRITE_ONCE(b->wd_tsc, orthros_tsc());
			smp_wmb();	/* the time of a beat before its count */
			WRITE_ONCE(b->wd_count, b->wd_count + 1);
		}
		goto out;
	}
	if (copy_from_user(&w, (void __user *)arg, sizeof(w))) {
		err = -EFAULT;
		goto out;
	}
	if (!w.period_ms) {		/* stop watching */
		if (wd_owner == f)
			wd_clear(b);
		else
			err = -ENOENT;
		goto out;
	}
	if (w.period_ms < WD_PERIOD_MIN || w.period_ms > WD_PERIOD_MAX || !w.misses ||
	    w.misses > WD_MISSES_MAX) {
		err = -EINVAL;
		goto out;
	}
	if (wd_owner && wd_owner != f) {
		err = -EBUSY;
		goto out;
	}
	w.check[sizeof(w.check) - 1] = '\0';
	WRITE_ONCE(b->wd_period_ms, 0);
	smp_wmb();	/* not watched while the fields change */
	memcpy(b->wd_check, w.check, sizeof(b->wd_check));
	WRITE_ONCE(b->wd_misses, w.misses);
	WRITE_ONCE(b->wd_pid, task_tgid_nr(current));
	WRITE_ONCE(b->wd_tsc, orthros_tsc());
	smp_wmb();	/* the fields before the period that makes them watched */
	WRITE_ONCE(b->wd_period_ms, w.period_ms);
	wd_owner = f;
	pr_info("user-space watchdog: pid %d checks '%s' every %u ms; %u missed fail this OS\n",
		task_tgid_nr(current), w.check, w.period_ms, w.misses);
out:
	mutex_unlock(&wd_lock);
	return err;
}

/* The watchdog's file is closed (it stopped, or was killed): no longer watched. */
void orthros_live_release(struct file *f)
{
	mutex_lock(&wd_lock);
	if (orthros_shm && self && wd_owner == f) {
		wd_clear(orthros_shm_beat(self));
		pr_info("user-space watchdog stopped\n");
	}
	mutex_unlock(&wd_lock);
}

/* For /dev/orthros-heartbeat's status. */
void orthros_live_status(struct orthros_hb_status *st)
{
	const struct orthros_shm_beat *b;

	if (!orthros_shm || !self)
		return;
	b = orthros_shm_beat(self);
	st->core_stall_ms = READ_ONCE(b->stall_ms);
	st->wd_period_ms = READ_ONCE(b->wd_period_ms);
	st->wd_misses = READ_ONCE(b->wd_misses);
	st->wd_pid = READ_ONCE(b->wd_pid);
	st->wd_count = READ_ONCE(b->wd_count);
}
