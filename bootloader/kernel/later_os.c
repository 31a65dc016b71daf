// SPDX-License-Identifier: GPL-2.0
/*
 * What a later OS (orthros=backup,N) does differently at boot, where a
 * boot parameter of stock Linux does not already cover it:
 *
 * - Timer calibration comes from the loader.  Calibrating the local APIC
 *   timer needs a reference clock (PIT, HPET, ACPI PM timer), all of which
 *   belong to the 1st OS.  The loader passes its own lapic_timer_period as
 *   orthros_lapic_period=; with it set, calibrate_APIC_clock() takes it as
 *   is and apic_needs_pit() is false, so the PIT is never programmed.  The
 *   TSC frequency comes the same way through the standard tsc_early_khz=.
 * - No 8259 PIC: the 1st OS set it up; init_8259A() would reprogram it.
 * - No warm reset vector when it starts a core (at failover, cores.c).
 * - reboot, halt, power-off and emergency restart stop this OS's cores
 *   only.  The native paths reset the machine (keyboard controller, 0xcf9,
 *   ACPI reset) or power it off, which would kill every OS on it.
 */
#define pr_fmt(fmt) "orthros: " fmt

#include <linux/cpu.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/orthros.h>
#include <linux/reboot.h>
#include <linux/smp.h>
#include <asm/apic.h>
#include <asm/i8259.h>
#include <asm/reboot.h>
#include <asm/x86_init.h>

static int __init parse_lapic_period(char *arg)
{
	unsigned int period;

	if (!arg || kstrtouint(arg, 0, &period) || !period) {
		pr_err("ignoring malformed orthros_lapic_period=%s\n", arg ? arg : "");
		return 0;
	}
	lapic_timer_period = period;
	return 0;
}
early_param("orthros_lapic_period", parse_lapic_period);

/* Stop every core of this OS and nothing else. */
static void __noreturn stop_this_os(void)
{
	pr_emerg("OS %u stopped; the other OSes on this machine go on\n",
		 orthros_ordinal());
	local_irq_disable();
	smp_send_stop();
	for (;;)
		native_halt();
}

static void later_restart(char *cmd)
{
	stop_this_os();
}

static void later_stop(void)
{
	stop_this_os();
}

/* Said while the console still works: devices are shut down after this. */
static int announce_stop(struct notifier_block *nb, unsigned long action, void *data)
{
	pr_emerg("OS %u: %s stops this OS only; the other OSes go on\n", orthros_ordinal(),
		 action == SYS_POWER_OFF ? "power-off" : action == SYS_HALT ? "halt" : "restart");
	return NOTIFY_DONE;
}

static struct notifier_block announce_nb = {
	.notifier_call = announce_stop,
};

static int __init later_os_notifier(void)
{
	return orthros_is_later_os() ? register_reboot_notifier(&announce_nb) : 0;
}
core_initcall(later_os_notifier);

/* Runs after orthros= has been parsed (early params run in command-line order). */
static int __init later_os_setup(char *arg)
{
	if (!orthros_is_later_os())
		return 0;
	legacy_pic = &null_legacy_pic;
	/*
	 * Starting a core at failover: no CMOS shutdown code and BIOS warm
	 * reset vector (for 82489DX-era INIT handling); the CMOS index port
	 * and the BIOS data area belong to the machine, not to this OS.
	 */
	x86_platform.legacy.warm_reset = 0;
	machine_ops.restart = later_restart;
	machine_ops.halt = later_stop;
	machine_ops.power_off = later_stop;
	machine_ops.emergency_restart = later_stop;
	return 0;
}
early_param("orthros", later_os_setup);
