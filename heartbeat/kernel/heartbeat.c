// SPDX-License-Identifier: GPL-2.0
/*
 * Orthros liveness monitoring: heartbeats both ways, the failure notice from
 * panic(), and failure detection.
 *
 * Every T ms (orthros_hb=T,K; default 100 ms, 5 misses) each OS counts a beat
 * in its line of the shared memory and sends its peer an alive IPI on the
 * platform vector.  The receiver takes a beat as seen when the IPI comes and
 * the count has moved.  The active watches its backup, the backup its active:
 * K periods without a beat and the peer is declared failed.  panic() sends a
 * failure notice: the dying kernel copies its panic message and the tail of
 * its log into the notice record, raises its notice word and sends an NMI,
 * which arrives even when the receiver runs with interrupts off.
 *
 * A hang with interrupts off is confirmed sooner (confirm_hang()): once the
 * peer's beat is late by half a period, the watcher probes the peer's beat
 * core with an NMI, which it answers from its NMI handler, saying whether
 * the context it interrupted had interrupts off.  Two answers at least a
 * quarter period apart (by the peer's clock), both with interrupts off, no
 * beat and no local timer interrupt of that core between them, and the
 * peer is declared failed once its beat is 2.5 periods late: its timer
 * cannot beat.  A peer that answers with
 * interrupts on, or does not answer (its virtual CPU not scheduled, under
 * TCG), is declared failed after the K periods only.
 *
 * Before it acts on a failure the detecting OS checks the shared memory (the
 * header, the roles, the peer's record); when anything does not check it
 * says why and refuses to act on it.
 */
#define pr_fmt(fmt) "orthros: " fmt

#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/init.h>
#include <linux/irq_work.h>
#include <linux/kernel.h>
#include <linux/kmsg_dump.h>
#include <linux/math64.h>
#include <linux/miscdevice.h>
#include <linux/orthros.h>
#include <linux/panic_notifier.h>
#include <linux/reboot.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <asm/apic.h>
#include <asm/hardirq.h>
#include <asm/nmi.h>
#include <asm/tsc.h>

#include "../shmem/orthros_shm.h"
#include "orthros_heartbeat.h"

#define BOOT_TIMEOUT_S	60	/* a started backup that never beats */

static unsigned int period_ms = 100, misses = 5;
static bool hb_off;

static int __init parse_orthros_hb(char *arg)
{
	unsigned int t, k;

	if (arg && !strcmp(arg, "off")) {
		hb_off = true;
		return 0;
	}
	if (!arg || sscanf(arg, "%u,%u", &t, &k) != 2 || t < 1 || t > 10000 || k < 2 ||
	    k > 1000) {
		pr_err("ignoring orthros_hb=%s (want PERIOD_MS,MISSES or off)\n", arg ? arg : "");
		return 0;
	}
	period_ms = t;
	misses = k;
	return 0;
}
early_param("orthros_hb", parse_orthros_hb);

/*
 * orthros_hb_probe=off: this OS neither probes its peer nor answers its
 * peer's probes; a hang of either waits for the K periods.
 */
static bool probe_off;

static int __init parse_orthros_hb_probe(char *arg)
{
	probe_off = arg && !strcmp(arg, "off");
	return 0;
}
early_param("orthros_hb_probe", parse_orthros_hb_probe);

static struct {
	raw_spinlock_t lock;
	u32 self, peer, peer_apic, peer_role;
	u32 generation;
	u32 state;			/* enum orthros_peer_state */
	u64 last_count, last_beat_tsc, watch_tsc, max_gap;
	u64 beats_sent, beats_seen;
	bool declared;			/* for this peer */
	u32 pending_kind;		/* a failure to declare, from NMI or timer */
	u64 pending_tsc;
	char pending_cause[ORTHROS_CAUSE_LEN];	/* a core stall's or the watchdog's */
	char refused[160];
	bool failure_valid;
	struct orthros_shm_failure failure;
	/* confirm_hang(): the NMI probes of a late peer */
	u32 probe;			/* the probe sent and not yet answered, 0: none */
	u32 probe_seq;
	u64 probe_tsc;			/* when it was sent */
	bool off_first;			/* an answer with interrupts off since its last beat */
	u64 off_first_tsc;		/* the peer's time of it */
	u64 off_first_irqs;		/* and its timer interrupts then */
	bool hang_confirmed;
	u64 probes_sent, probes_answered, probes_irqs_off;
} hb = { .lock = __RAW_SPIN_LOCK_UNLOCKED(hb.lock) };

static struct hrtimer beat_timer, check_timer;
static struct irq_work nmi_work;
static struct work_struct declare_work;
static int beat_cpu;

static u64 tsc_of_ms(u64 ms)
{
	return ms * tsc_khz;
}

/* TSC as seconds.microseconds of machine time, for the log. */
static void machine_time(u64 tsc, u64 *s, u32 *us)
{
	u64 t = orthros_tsc_to_us(tsc);

	*s = div_u64_rem(t, USEC_PER_SEC, us);
}

/* A new peer (or none): start watching it from now.  Under hb.lock. */
static void watch(u32 peer, const struct orthros_shm_os *os, u32 generation, u64 now)
{
	hb.peer = peer;
	hb.generation = generation;
	hb.peer_apic = os ? os->ipi_apic : 0;
	hb.peer_role = os ? os->role : 0;
	hb.last_count = peer ? READ_ONCE(orthros_shm_beat(peer)->count) : 0;
	hb.last_beat_tsc = 0;
	hb.watch_tsc = now;
	hb.max_gap = 0;
	hb.beats_seen = 0;
	hb.declared = false;
	hb.refused[0] = '\0';
	hb.probe = 0;
	hb.off_first = false;
	hb.hang_confirmed = false;
	hb.state = !peer ? ORTHROS_PEER_NONE : os->state == ORTHROS_OS_UP ?
		ORTHROS_PEER_ALIVE : ORTHROS_PEER_BOOTING;
	if (hb.state == ORTHROS_PEER_ALIVE)
		orthros_failover_watched();
}

/* Queue a failure of the watched peer for declaration.  Under hb.lock. */
static void suspect(u32 kind, u64 tsc)
{
	if (hb.declared || hb.pending_kind)
		return;
	hb.pending_kind = kind;
	hb.pending_tsc = tsc;
	schedule_work(&declare_work);
}

/* The alive IPI, in hard-irq context. */
static void beat_ipi(void)
{
	u64 now = orthros_tsc(), count;

	if (!orthros_shm)
		return;
	raw_spin_lock(&hb.lock);
	if (hb.peer && !hb.declared) {
		count = READ_ONCE(orthros_shm_beat(hb.peer)->count);
		if (count != hb.last_count) {
			if (hb.last_beat_tsc && now - hb.last_beat_tsc > hb.max_gap)
				hb.max_gap = now - hb.last_beat_tsc;
			hb.last_count = count;
			hb.last_beat_tsc = now;
			hb.beats_seen++;
			hb.probe = 0;		/* an answer to it would be of before this beat */
			hb.off_first = false;
			hb.hang_confirmed = false;
			if (hb.state == ORTHROS_PEER_BOOTING) {
				hb.state = ORTHROS_PEER_ALIVE;
				orthros_failover_watched();
			}
		}
	}
	raw_spin_unlock(&hb.lock);
}

/*
 * The peer's beat may be late (since: its last beat): probe its beat core
 * by NMI and read the answers.  Under hb.lock.
 */
static void confirm_hang(u32 peer, u64 now, u64 since)
{
	struct orthros_shm_beat *b = orthros_shm_beat(peer);
	u64 answered, irqs;

	if (now - since < tsc_of_ms((u64)period_ms * 3 / 2)) {
		hb.off_first = false;
		return;
	}
	if (hb.probe && READ_ONCE(b->probe_ack) == hb.probe) {
		/* the answer is complete before its number */
		smp_rmb();
		answered = READ_ONCE(b->probe_tsc);
		hb.probe = 0;
		/* left by an earlier OS of that ordinal, or of before the last beat */
		if (answered < hb.probe_tsc || answered < since)
			return;
		hb.probes_answered++;
		irqs = READ_ONCE(b->probe_timer_irqs);
		if (READ_ONCE(b->probe_irqs_off) && READ_ONCE(b->count) == hb.last_count) {
			hb.probes_irqs_off++;
			if (!hb.off_first || irqs != hb.off_first_irqs) {
				/* the first, or a timer interrupt ran since it: from here */
				hb.off_first = true;
				hb.off_first_tsc = answered;
				hb.off_first_irqs = irqs;
			} else if (answered - hb.off_first_tsc >= tsc_of_ms(period_ms) / 4) {
				hb.hang_confirmed = true;
			}
		} else {
			hb.off_first = false;
		}
	}
	/* unanswered for half a period (not scheduled, or not answering): again */
	if (hb.probe && now - hb.probe_tsc > tsc_of_ms(period_ms) / 2)
		hb.probe = 0;
	if (!hb.probe && !hb.hang_confirmed) {
		hb.probe = ++hb.probe_seq ? hb.probe_seq : ++hb.probe_seq;
		hb.probe_tsc = now;
		WRITE_ONCE(b->probe, hb.probe);
		/* the probe's number is out before the NMI */
		smp_wmb();
		orthros_send_nmi(hb.peer_apic);
		hb.probes_sent++;
	}
	if (hb.hang_confirmed && now - since >= tsc_of_ms((u64)period_ms * 5 / 2))
		suspect(ORTHROS_FAIL_HEARTBEAT, now);
}

/* Every quarter period, on the beat core: a late peer is probed. */
static enum hrtimer_restart check_tick(struct hrtimer *t)
{
	u64 now = orthros_tsc();

	hrtimer_forward_now(t, ms_to_ktime(max(period_ms / 4, 1U)));
	if (!orthros_shm)
		return HRTIMER_RESTART;
	raw_spin_lock(&hb.lock);
	/* the K periods stay beat_tick()'s; a peer not yet heard is not probed */
	if (!probe_off && hb.peer && !hb.declared && !hb.pending_kind &&
	    hb.state == ORTHROS_PEER_ALIVE && hb.last_beat_tsc && now > hb.last_beat_tsc)
		confirm_hang(hb.peer, now, hb.last_beat_tsc);
	raw_spin_unlock(&hb.lock);
	return HRTIMER_RESTART;
}

static enum hrtimer_restart beat_tick(struct hrtimer *t)
{
	struct orthros_shm_roles roles;
	struct orthros_shm_os os;
	struct orthros_shm_beat *mine;
	u64 now = orthros_tsc(), since;
	u32 peer = 0;
	bool have_os = false;

	hrtimer_forward_now(t, ms_to_ktime(period_ms));
	if (!orthros_shm)
		return HRTIMER_RESTART;

	mine = orthros_shm_beat(hb.self);
	WRITE_ONCE(mine->ordinal, hb.self);
	WRITE_ONCE(mine->period_ms, period_ms);
	WRITE_ONCE(mine->misses, misses);
	orthros_live_refresh();
	WRITE_ONCE(mine->tsc, now);
	/* the time of a beat before its count */
	smp_wmb();
	WRITE_ONCE(mine->count, mine->count + 1);

	if (orthros_shm_read_roles(&roles))
		peer = orthros_role() == ORTHROS_ROLE_ACTIVE ? roles.backup : roles.active;
	if (peer == hb.self)
		peer = 0;
	if (peer)
		have_os = orthros_shm_read_os(peer, &os);

	raw_spin_lock(&hb.lock);
	if (!peer || !have_os) {
		/* nothing (valid) to watch: keep what we know */
		if (hb.peer && !hb.declared && hb.state == ORTHROS_PEER_ALIVE &&
		    hb.last_beat_tsc && now > hb.last_beat_tsc &&
		    now - hb.last_beat_tsc > tsc_of_ms((u64)period_ms * misses))
			suspect(ORTHROS_FAIL_HEARTBEAT, now);
		goto out;
	}
	if (peer != hb.peer || roles.generation != hb.generation)
		watch(peer, &os, roles.generation, now);
	if (hb.declared)
		goto out;
	switch (os.state) {
	case ORTHROS_OS_BOOTING:
		/* no IPI yet: a core still starting has no handler for it */
		if (now > hb.watch_tsc && now - hb.watch_tsc > tsc_of_ms(BOOT_TIMEOUT_S * 1000ULL))
			suspect(ORTHROS_FAIL_NO_BOOT, now);
		break;
	case ORTHROS_OS_UP:
		hb.peer_apic = os.ipi_apic;
		orthros_send_ipi(os.ipi_apic);
		hb.beats_sent++;
		since = hb.last_beat_tsc ? hb.last_beat_tsc : max(hb.watch_tsc, os.up_tsc);
		/* a beat may have come in after now was read */
		if (now > since && now - since > tsc_of_ms((u64)period_ms * misses)) {
			suspect(ORTHROS_FAIL_HEARTBEAT, now);
		} else if (!hb.pending_kind) {
			u32 kind = orthros_live_check(peer, now, hb.pending_cause,
						      sizeof(hb.pending_cause));

			if (kind)
				suspect(kind, now);
		}
		break;
	case ORTHROS_OS_STOPPED:
		if (hb.state != ORTHROS_PEER_STOPPED) {
			hb.state = ORTHROS_PEER_STOPPED;
			pr_info("%s OS %u stopped cleanly\n",
				hb.peer_role == ORTHROS_SHM_ROLE_ACTIVE ? "active" : "backup", peer);
		}
		break;
	default:
		hb.state = ORTHROS_PEER_FAILED;
		break;
	}
out:
	raw_spin_unlock(&hb.lock);
	/* a lost doorbell costs at most one period */
	orthros_chan_poll();
	return HRTIMER_RESTART;
}

/*
 * This OS was declared failed and the OS taking over asks its cores to park
 * (orthros_stop_by_nmi()): a core that still takes NMIs (a hang with
 * interrupts off, a livelock) saves the user state of the task it runs, as
 * panic()'s stop does, and halts with NMIs blocked, until INIT, for good.
 */
static void park_if_asked(struct pt_regs *regs)
{
	const struct orthros_shm_failure *f = orthros_shm_at(ORTHROS_SHM_FAILURE_OFF);

	if (!hb.self || READ_ONCE(f->stop) != hb.self)
		return;
	orthros_cpu_interrupted(regs);
	orthros_cpu_stopping();
	atomic64_inc((atomic64_t *)&orthros_shm_beat(hb.self)->parked);
	for (;;)
		native_halt();
}

/*
 * A probe from the peer (confirm_hang()): answer it, saying whether this
 * core was running with interrupts off.
 */
static bool answer_probe(struct pt_regs *regs)
{
	struct orthros_shm_beat *mine = orthros_shm_beat(hb.self);
	u32 want = READ_ONCE(mine->probe);

	/* the probe goes to the beat core (ipi_apic); another core's NMI is not it */
	if (probe_off || smp_processor_id() != beat_cpu || !want ||
	    want == READ_ONCE(mine->probe_ack))
		return false;
	WRITE_ONCE(mine->probe_irqs_off, !(regs->flags & X86_EFLAGS_IF));
	WRITE_ONCE(mine->probe_tsc, orthros_tsc());
	WRITE_ONCE(mine->probe_timer_irqs, this_cpu_read(irq_stat.apic_timer_irqs));
	/* the answer before its number */
	smp_wmb();
	WRITE_ONCE(mine->probe_ack, want);
	return true;
}

/* The failure notice: an NMI, maybe with interrupts off here. */
static int notice_nmi(unsigned int type, struct pt_regs *regs)
{
	u32 peer = READ_ONCE(hb.peer);
	bool probed = false;

	if (orthros_shm && hb.self) {
		park_if_asked(regs);
		probed = answer_probe(regs);
	}
	if (!orthros_shm || !peer || !READ_ONCE(orthros_shm_beat(peer)->notice))
		return probed ? NMI_HANDLED : NMI_DONE;
	if (READ_ONCE(hb.declared) || READ_ONCE(hb.pending_kind))
		return NMI_HANDLED;
	WRITE_ONCE(hb.pending_tsc, orthros_tsc());
	WRITE_ONCE(hb.pending_kind, ORTHROS_FAIL_PANIC);
	irq_work_queue(&nmi_work);
	return NMI_HANDLED;
}

static void nmi_work_fn(struct irq_work *w)
{
	schedule_work(&declare_work);
}

static void print_failure(const struct orthros_shm_failure *f)
{
	static const char * const refs[] = { "last beat", "panic notice", "injected fault" };
	u64 s, gap_us = orthros_tsc_to_us(f->detect_tsc - f->last_beat_tsc);
	u32 us;

	pr_emerg("%s OS %u failed: %s\n",
		 hb.peer_role == ORTHROS_SHM_ROLE_ACTIVE ? "active" : "backup", f->ordinal,
		 f->cause);
	if (f->last_beat_tsc) {
		machine_time(f->last_beat_tsc, &s, &us);
		pr_emerg("last beat #%llu at %llu.%06u s machine time, %llu.%03llu ms before detection\n",
			 f->last_beat_count, s, us, gap_us / 1000, gap_us % 1000);
	} else {
		pr_emerg("no beat was ever seen from OS %u\n", f->ordinal);
	}
	pr_emerg("detection latency %llu us (from the %s)\n",
		 orthros_tsc_to_us(f->detect_tsc - f->ref_tsc),
		 refs[min_t(u32, f->ref_kind, ARRAY_SIZE(refs) - 1)]);
}

static void refuse(u32 peer, u32 kind, const char *why)
{
	unsigned long flags;

	pr_emerg("OS %u looks failed (%s), but the shared memory is not valid: %s; refusing to act on it\n",
		 peer, kind == ORTHROS_FAIL_PANIC ? "failure notice" :
		 kind == ORTHROS_FAIL_NO_BOOT ? "never came up" :
		 kind == ORTHROS_FAIL_CORE_STALL ? "core stall" :
		 kind == ORTHROS_FAIL_WATCHDOG ? "user-space watchdog" : "heartbeat timeout", why);
	raw_spin_lock_irqsave(&hb.lock, flags);
	strscpy(hb.refused, why, sizeof(hb.refused));
	hb.state = ORTHROS_PEER_REFUSED;
	hb.declared = true;
	hb.pending_kind = 0;
	raw_spin_unlock_irqrestore(&hb.lock, flags);
}

static void declare(struct work_struct *w)
{
	static struct orthros_shm_notice notice;	/* 8 KiB: not on the stack */
	struct orthros_shm_failure f = { };
	struct orthros_shm_failure *rec;
	struct orthros_shm_beat *b;
	struct orthros_shm_roles roles;
	struct orthros_shm_os os;
	unsigned long flags;
	char why[160] = "";
	bool confirmed;
	u64 fault;

	raw_spin_lock_irqsave(&hb.lock, flags);
	f.kind = hb.pending_kind;
	f.detect_tsc = hb.pending_tsc;
	f.ordinal = hb.peer;
	f.last_beat_tsc = hb.last_beat_tsc;
	f.last_beat_count = hb.last_count;
	memcpy(f.cause, hb.pending_cause, sizeof(f.cause));
	confirmed = hb.hang_confirmed;
	raw_spin_unlock_irqrestore(&hb.lock, flags);
	if (!f.kind || !f.ordinal)
		return;

	if (!orthros_shm_check(why, sizeof(why)) && !orthros_shm_read_roles(&roles))
		snprintf(why, sizeof(why), "the roles record does not check");
	else if (!why[0] && !orthros_shm_read_os(f.ordinal, &os))
		snprintf(why, sizeof(why), "the OS table record of OS %u does not check",
			 f.ordinal);
	if (why[0]) {
		refuse(f.ordinal, f.kind, why);
		return;
	}

	f.detected_by = hb.self;
	f.ref_tsc = f.last_beat_tsc;
	f.ref_kind = 0;
	b = orthros_shm_beat(f.ordinal);
	switch (f.kind) {
	case ORTHROS_FAIL_PANIC:
		if (orthros_rec_read(&notice, orthros_shm_at(ORTHROS_SHM_NOTICE_OFF),
				     sizeof(notice)) && notice.ordinal == f.ordinal &&
		    notice.tsc && notice.tsc <= f.detect_tsc) {
			notice.cause[sizeof(notice.cause) - 1] = '\0';
			snprintf(f.cause, sizeof(f.cause), "panic: %s", notice.cause);
			f.ref_tsc = notice.tsc;
			f.ref_kind = 1;
		} else {
			snprintf(f.cause, sizeof(f.cause),
				 "panic (failure notice by NMI; its notice record does not check)");
		}
		break;
	case ORTHROS_FAIL_NO_BOOT:
		snprintf(f.cause, sizeof(f.cause), "did not come up within %u s",
			 BOOT_TIMEOUT_S);
		break;
	case ORTHROS_FAIL_CORE_STALL:
	case ORTHROS_FAIL_WATCHDOG:
		f.cause[sizeof(f.cause) - 1] = '\0';	/* orthros_live_check() said */
		break;
	default:
		if (confirmed && misses > 2) {
			snprintf(f.cause, sizeof(f.cause),
				 "heartbeat timeout: no beat for %u ms, its core running with interrupts off (NMI probes)",
				 period_ms * 5 / 2);
			f.missed = 3;
			break;
		}
		snprintf(f.cause, sizeof(f.cause),
			 "heartbeat timeout: no beat for %u ms (%u beats of %u ms)",
			 period_ms * misses, misses, period_ms);
		f.missed = misses;
		break;
	}
	fault = READ_ONCE(b->fault_tsc);
	/* a test's mark (orthros_inject "mark", then LKDTM): latency from the trigger */
	if (fault && fault <= f.detect_tsc && f.detect_tsc - fault < tsc_of_ms(600000))
		f.fault_tsc = fault;
	if (f.kind != ORTHROS_FAIL_PANIC && fault && fault <= f.detect_tsc &&
	    fault >= f.last_beat_tsc - tsc_of_ms(period_ms)) {
		f.ref_tsc = fault;
		f.ref_kind = 2;
	}
	if (!f.ref_tsc)
		f.ref_tsc = f.detect_tsc;

	rec = orthros_shm_at(ORTHROS_SHM_FAILURE_OFF);
	orthros_rec_begin(rec);
	memcpy((void *)rec + 4, (void *)&f + 4, sizeof(f) - 8);
	orthros_rec_end(rec, sizeof(*rec));
	orthros_shm_set_state(f.ordinal, ORTHROS_OS_FAILED);

	raw_spin_lock_irqsave(&hb.lock, flags);
	hb.declared = true;
	hb.pending_kind = 0;
	hb.state = ORTHROS_PEER_FAILED;
	hb.failure = f;
	hb.failure_valid = true;
	raw_spin_unlock_irqrestore(&hb.lock, flags);
	print_failure(&f);
	if (f.kind == ORTHROS_FAIL_PANIC && f.ref_kind == 1 && notice.log_len)
		pr_info("its last log lines are in the notice record (orthros status --log)\n");
	if (orthros_role() == ORTHROS_ROLE_ACTIVE)
		pr_emerg("start a new backup with: orthros-boot --replace\n");
	orthros_failure_declared(&f);
}

/*
 * The OS taking over from a dead one whose panic() did not run (missed
 * beats): ask each of its cores, by NMI, to save its task's user state and
 * park (park_if_asked() in the dead kernel), before they get INIT.  Waits
 * up to 100 ms; returns how many parked.  The others have their state in
 * their cores only: their tasks cannot be rescued (the rescue says so).
 */
unsigned int orthros_stop_by_nmi(const struct orthros_shm_os *dead, u32 self)
{
	struct orthros_shm_failure *f = orthros_shm_at(ORTHROS_SHM_FAILURE_OFF);
	u64 *parked = &orthros_shm_beat(dead->ordinal)->parked;
	u64 before = READ_ONCE(*parked), want = 0;
	unsigned int i, n = min_t(u32, dead->nr_apics, ORTHROS_SHM_MAX_APICS);
	int us;

	orthros_rec_begin(f);
	f->stop = dead->ordinal;
	orthros_rec_end(f, sizeof(*f));
	for (i = 0; i < n; i++) {
		if (dead->apic_ids[i] == self)
			continue;
		orthros_send_nmi(dead->apic_ids[i]);
		want++;
	}
	for (us = 0; us < 100000 && READ_ONCE(*parked) - before < want; us += 100)
		udelay(100);
	return (unsigned int)min(READ_ONCE(*parked) - before, want);
}

/* panic(): leave a notice and send the NMI.  Other cores are stopped here. */
static int notice_panic(struct notifier_block *nb, unsigned long ev, void *msg)
{
	struct orthros_shm_notice *n;
	struct kmsg_dump_iter iter;
	struct orthros_shm_os os;
	size_t len = 0;
	u32 peer;

	if (!orthros_shm || hb_off)
		return NOTIFY_DONE;
	/* the task this core interrupted: its user state into its memory (rescue) */
	orthros_cpu_stopping();
	peer = READ_ONCE(hb.peer);
	n = orthros_shm_at(ORTHROS_SHM_NOTICE_OFF);
	orthros_rec_begin(n);
	n->ordinal = hb.self;
	n->tsc = orthros_tsc();
	n->cpu_apic = read_apic_id();
	strscpy(n->cause, msg ? msg : "panic", sizeof(n->cause));
	kmsg_dump_rewind(&iter);
	if (!kmsg_dump_get_buffer(&iter, false, n->log, sizeof(n->log) - 1, &len))
		len = 0;
	n->log[len] = '\0';
	n->log_len = len;
	orthros_rec_end(n, sizeof(*n));
	/* the notice is complete before its word is raised */
	smp_wmb();
	WRITE_ONCE(orthros_shm_beat(hb.self)->notice, 1);
	if (peer && orthros_shm_read_os(peer, &os) && os.state == ORTHROS_OS_UP) {
		orthros_send_nmi(os.ipi_apic);
		pr_emerg("failure notice sent to OS %u (APIC %u)\n", peer, os.ipi_apic);
		if (orthros_role() == ORTHROS_ROLE_ACTIVE) {
			/*
			 * The backup takes over this OS's devices and memory: this
			 * core must run nothing more of it.  The others are already
			 * stopped (interrupts and local APIC off) by panic().  It
			 * may be the BSP, which an INIT would send back into the
			 * firmware, so it parks itself the same way.
			 */
			pr_emerg("parking this core; OS %u takes over\n", peer);
			local_irq_disable();
			disable_local_APIC();
			for (;;)
				native_halt();
		}
	}
	return NOTIFY_DONE;
}

static struct notifier_block panic_nb = {
	.notifier_call = notice_panic,
	.priority = INT_MAX,
};

/* A clean stop (halt, power-off, reboot) is not a failure. */
static int clean_stop(struct notifier_block *nb, unsigned long action, void *data)
{
	if (orthros_shm && !hb_off)
		orthros_shm_set_state(hb.self, ORTHROS_OS_STOPPED);
	return NOTIFY_DONE;
}

static struct notifier_block reboot_nb = {
	.notifier_call = clean_stop,
};

void orthros_hb_note_fault(void)
{
	if (orthros_shm)
		WRITE_ONCE(orthros_shm_beat(orthros_ordinal())->fault_tsc, orthros_tsc());
}

void __weak orthros_failure_declared(const struct orthros_shm_failure *f)
{
}

/* --- /dev/orthros-heartbeat ----------------------------------------------- */

static long hb_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct orthros_hb_status *st;
	unsigned long flags;
	long err;

	if (cmd == ORTHROS_HB_WATCHDOG || cmd == ORTHROS_HB_WATCHDOG_BEAT)
		return orthros_live_ioctl(f, cmd, arg);
	if (cmd != ORTHROS_HB_STATUS)
		return -ENOTTY;
	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	raw_spin_lock_irqsave(&hb.lock, flags);
	st->enabled = !hb_off && orthros_shm;
	st->period_ms = period_ms;
	st->misses = misses;
	st->self = hb.self;
	st->peer = hb.peer;
	st->peer_apic = hb.peer_apic;
	st->peer_state = hb.state;
	st->peer_role = hb.peer_role;
	st->beats_sent = hb.beats_sent;
	st->beats_seen = hb.beats_seen;
	st->last_beat_tsc = hb.last_beat_tsc;
	st->max_gap_us = orthros_tsc_to_us(hb.max_gap);
	st->now_tsc = orthros_tsc();
	st->tsc_khz = tsc_khz;
	st->failure_valid = hb.failure_valid;
	memcpy(st->refused, hb.refused, sizeof(st->refused));
	st->failure = hb.failure;
	st->probes_sent = hb.probes_sent;
	st->probes_answered = hb.probes_answered;
	st->probes_irqs_off = hb.probes_irqs_off;
	raw_spin_unlock_irqrestore(&hb.lock, flags);
	orthros_live_status(st);
	err = copy_to_user((void __user *)arg, st, sizeof(*st)) ? -EFAULT : 0;
	kfree(st);
	return err;
}

static int hb_release(struct inode *inode, struct file *f)
{
	orthros_live_release(f);
	return 0;
}

static const struct file_operations hb_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= hb_ioctl,
	.release	= hb_release,
};

static struct miscdevice hb_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "orthros-heartbeat",
	.fops	= &hb_fops,
	.mode	= 0644,
};

/* This OS comes up: a backup marks itself up in its record. */
static void announce_up(void)
{
	struct orthros_shm_os os;
	char why[160];

	if (orthros_shm_check(why, sizeof(why))) {
		pr_err("not watching the active: the shared memory is not valid: %s\n", why);
		strscpy(hb.refused, why, sizeof(hb.refused));
		return;
	}
	if (!orthros_shm_read_os(hb.self, &os) || os.state != ORTHROS_OS_BOOTING) {
		pr_err("not watching the active: no booting record of OS %u in the shared memory\n",
		       hb.self);
		return;
	}
	os.state = ORTHROS_OS_UP;
	os.ipi_apic = read_apic_id();
	os.apic_ids[0] = os.ipi_apic;
	os.nr_apics = 1;
	os.up_tsc = orthros_tsc();
	os.state_tsc = os.up_tsc;
	orthros_shm_write_os(&os);
	orthros_shm_write_facts();
}

static void start_timer(void *unused)
{
	hrtimer_start(&beat_timer, ms_to_ktime(period_ms), HRTIMER_MODE_REL_PINNED);
	hrtimer_start(&check_timer, ms_to_ktime(max(period_ms / 4, 1U)), HRTIMER_MODE_REL_PINNED);
}

static int __init orthros_hb_init(void)
{
	int err;

	if (orthros_role() == ORTHROS_ROLE_NONE)
		return 0;
	hb.self = orthros_ordinal();
	INIT_WORK(&declare_work, declare);
	init_irq_work(&nmi_work, nmi_work_fn);
	err = misc_register(&hb_dev);
	if (err)
		return err;
	if (hb_off || !orthros_shm) {
		pr_info("heartbeat off%s\n", orthros_shm ? "" : " (no shared memory)");
		return 0;
	}
	if (orthros_role() == ORTHROS_ROLE_BACKUP)
		announce_up();
	orthros_ipi_register(beat_ipi);
	register_nmi_handler(NMI_LOCAL, notice_nmi, 0, "orthros");
	atomic_notifier_chain_register(&panic_notifier_list, &panic_nb);
	register_reboot_notifier(&reboot_nb);
	orthros_live_start(hb.self, period_ms);
	hrtimer_init(&beat_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_PINNED);
	beat_timer.function = beat_tick;
	hrtimer_init(&check_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_PINNED);
	check_timer.function = check_tick;
	beat_cpu = cpumask_first(cpu_online_mask);
	smp_call_function_single(beat_cpu, start_timer, NULL, 1);
	pr_info("heartbeat every %u ms, peer failed after %u missed beats%s\n", period_ms, misses,
		probe_off ? "" : " (2.5 when NMI probes find its core with interrupts off)");
	return 0;
}
late_initcall(orthros_hb_init);
