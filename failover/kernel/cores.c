// SPDX-License-Identifier: GPL-2.0
/*
 * Orthros failover, phase "cpus": the new active grows into the dead OS's
 * cores, once its service is back (the phase is off the path to it: nothing
 * the service and the restored processes need waits for more cores).
 *
 * A later OS boots with maxcpus=1 and orthros_apics=<every APIC ID of the
 * machine but the BSP's> (tools/profile.c): the listed APIC IDs are
 * possible, not present CPUs (kernel-patches/0007), so nobody can online
 * them while another OS runs there.  Once phase "cores" has sent INIT to the
 * dead OS's cores, each of them is made present (topology_hotplug_apic(),
 * as an ACPI hot-add does), registered as a CPU device and brought online
 * by the CPU hotplug core: INIT and STARTUP to this kernel's real-mode
 * trampoline, which lies in its area's slice below 1 MiB.
 *
 * Never added: the machine's BSP (an INIT would restart the firmware on
 * it), the core kept for the next backup (the dead OS's highest APIC ID but
 * the BSP's), a core that is online already, an APIC ID that is not the
 * dead OS's, one this kernel did not learn at boot.
 *
 * The outcome: /sys/module/orthros_cores/parameters/{added,kept,refused}
 * (orthros status shows them) and this OS's record in the shared memory,
 * which now lists its new cores for whoever takes over from it.
 */
#define pr_fmt(fmt) "orthros-failover: " fmt

#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/orthros.h>
#include <linux/string.h>
#include <asm/apic.h>
#include <asm/smp.h>

#include "../shmem/orthros_shm.h"
#include "cores.h"

#undef MODULE_PARAM_PREFIX
#define MODULE_PARAM_PREFIX "orthros_cores."

static char added[64];		/* "1,5": APIC IDs brought online */
static char refused[192];	/* "0:bsp 7:foreign": APIC IDs refused and why */
static int kept = -1;		/* the APIC ID kept for the next backup */
module_param_string(added, added, sizeof(added), 0444);
module_param_string(refused, refused, sizeof(refused), 0444);
module_param(kept, int, 0444);

static bool has_apic(const struct orthros_shm_os *os, u32 apic)
{
	u32 i;

	for (i = 0; i < os->nr_apics; i++)
		if (os->apic_ids[i] == apic)
			return true;
	return false;
}

static int online_cpu_of(u32 apic)
{
	int cpu;

	for_each_online_cpu(cpu)
		if (per_cpu(x86_cpu_to_apicid, cpu) == apic)
			return cpu;
	return -1;
}

/* The next backup's core: the dead OS's highest APIC ID that may start one. */
static int kept_apic(const struct orthros_shm_os *dead)
{
	int best = -1;
	u32 i;

	for (i = 0; i < dead->nr_apics; i++) {
		u32 apic = dead->apic_ids[i];

		if (apic != dead->bsp_apic && online_cpu_of(apic) < 0 && (int)apic > best)
			best = apic;
	}
	return best;
}

/* Append "APIC" or "APIC:code" to a space-separated list. */
static void note(char *buf, size_t len, u32 apic, const char *code)
{
	size_t off = strlen(buf);

	if (off < len)
		snprintf(buf + off, len - off, "%s%u%s%s", off ? " " : "", apic,
			 code ? ":" : "", code ?: "");
}

/*
 * Why @apic may not be added for @dead (a short code, and a sentence), or
 * NULL.  The list comes from the dead OS's record, which the caller
 * checked, but a core is worth one more look before it gets a STARTUP IPI.
 */
static const char *refuse(const struct orthros_shm_os *dead, u32 apic, const char **why)
{
	if (!has_apic(dead, apic)) {
		*why = "not a core of the dead OS";
		return "foreign";
	}
	if (apic == dead->bsp_apic) {
		*why = "the machine's BSP: an INIT would restart the firmware";
		return "bsp";
	}
	if (online_cpu_of(apic) >= 0) {
		*why = "online already";
		return "online";
	}
	if ((int)apic == kept) {
		*why = "kept for the next backup";
		return "kept";
	}
	return NULL;
}

/* Make @apic a present CPU, as an ACPI hot-add does, and give it a device. */
static int hotplug_apic(u32 apic)
{
	int cpu, err;

	cpu_maps_update_begin();
	cpus_write_lock();
	cpu = topology_hotplug_apic(apic, U32_MAX);
	if (cpu >= 0) {
		err = arch_register_cpu(cpu);
		if (err) {
			topology_hotunplug_apic(cpu);
			cpu = err;
		}
	}
	cpus_write_unlock();
	cpu_maps_update_done();
	return cpu;
}

/*
 * List this OS's cores in its record, for whoever takes over from it: the
 * online ones and @also (-1: none), a core about to start here, so that the
 * record never lacks a core that may run this kernel (if this OS dies
 * during the start, the next takeover stops that core too).
 */
static void record_cores(int also)
{
	struct orthros_shm_os self;
	int cpu;

	mutex_lock(&orthros_self_record_lock);
	if (!orthros_shm_read_os(orthros_ordinal(), &self))
		goto out;
	self.nr_apics = 0;
	for_each_online_cpu(cpu)
		if (self.nr_apics < ORTHROS_SHM_MAX_APICS)
			self.apic_ids[self.nr_apics++] = per_cpu(x86_cpu_to_apicid, cpu);
	if (also >= 0 && self.nr_apics < ORTHROS_SHM_MAX_APICS)
		self.apic_ids[self.nr_apics++] = also;
	orthros_shm_write_os(&self);
out:
	mutex_unlock(&orthros_self_record_lock);
}

static int add_apic(const struct orthros_shm_os *dead, u32 apic)
{
	const char *why, *code = refuse(dead, apic, &why);
	int cpu, err, tries;

	if (code) {
		pr_info("APIC %u not added: %s\n", apic, why);
		note(refused, sizeof(refused), apic, code);
		return -EPERM;
	}
	cpu = hotplug_apic(apic);
	if (cpu < 0) {
		pr_err("APIC %u not added: %s (%d)\n", apic, cpu == -ENODEV ?
		       "not in orthros_apics= at boot" : "no CPU for it", cpu);
		note(refused, sizeof(refused), apic, "not-possible");
		return cpu;
	}
	record_cores(apic);
	/*
	 * Its delay loop: the TSC's cycles per jiffy, the boot core's
	 * (lpj_fine, from the TSC frequency the loader passed: the machine's
	 * one clock).  Without a preset value each added core measured it
	 * against the timer, which under TCG took 0.5 s and failed
	 * ("calibrate_delay_direct() failed to get a good estimate").
	 */
	if (!preset_lpj && lpj_fine)
		preset_lpj = lpj_fine;
	/*
	 * A PCI driver's probe (the devices phase runs beside this one)
	 * disables CPU hotplug for its duration: add_cpu() says -EBUSY then.
	 * Try again for up to 10 s.
	 */
	for (tries = 0; (err = add_cpu(cpu)) == -EBUSY && tries < 500; tries++)
		msleep(20);
	if (err) {
		pr_err("APIC %u (CPU %d) did not come online: %d\n", apic, cpu, err);
		note(refused, sizeof(refused), apic, "no-start");
		return err;
	}
	pr_info("APIC %u is CPU %d, online\n", apic, cpu);
	note(added, sizeof(added), apic, NULL);
	return 0;
}

static DEFINE_MUTEX(cores_lock);
static struct orthros_shm_os dead_os;	/* ordinal 0 until a failover */

/*
 * Right after phase "cores": which core the next backup gets, the dead OS's
 * highest APIC ID that may start one (orthros failover next-apic names it).
 */
void orthros_keep_core(const struct orthros_shm_os *dead)
{
	mutex_lock(&cores_lock);
	dead_os = *dead;
	kept = kept_apic(dead);
	if (kept >= 0)
		pr_info("APIC %d kept for the next backup\n", kept);
	mutex_unlock(&cores_lock);
}

/*
 * Phase "cpus", once the service is back (nothing on its path needs more
 * cores): every core of the dead OS but the BSP and the kept one.
 */
void orthros_take_cores(void)
{
	u32 i, nr = 0;

	mutex_lock(&cores_lock);
	for (i = 0; dead_os.ordinal && i < dead_os.nr_apics; i++)
		if ((int)dead_os.apic_ids[i] != kept && !add_apic(&dead_os, dead_os.apic_ids[i]))
			nr++;
	record_cores(-1);
	pr_info("%u cores added, %u online\n", nr, num_online_cpus());
	mutex_unlock(&cores_lock);
}

/*
 * Writing an APIC ID to /sys/module/orthros_cores/parameters/add asks for one
 * more core of the dead OS after the failover (the kept one is refused while
 * it is kept): the same checks, for an administrator and for the tests.
 */
static int add_set(const char *val, const struct kernel_param *kp)
{
	u32 apic;
	int err;

	if (kstrtou32(val, 0, &apic))
		return -EINVAL;
	mutex_lock(&cores_lock);
	if (!dead_os.ordinal) {
		pr_info("APIC %u not added: no failover happened here\n", apic);
		err = -ESRCH;
	} else {
		err = add_apic(&dead_os, apic);
		if (!err)
			record_cores(-1);
	}
	mutex_unlock(&cores_lock);
	return err;
}

static const struct kernel_param_ops add_ops = {
	.set = add_set,
};
module_param_cb(add, &add_ops, NULL, 0200);
