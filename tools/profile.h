/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The machine profile (machine.conf): parsed, checked and derived facts.
 * One parser for every tool, on the host and in the guests.
 */
#ifndef ORTHROS_PROFILE_H
#define ORTHROS_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#define ORTH_MAX_KEYS		64
#define ORTH_MAX_APICS		16
#define ORTH_MAX_RANGES		8
#define ORTH_MAX_DEVICES	16
#define ORTH_DEFAULT_PROFILE	"/etc/orthros/machine.conf"

struct orth_range {
	uint64_t start, end;		/* end excluded */
};

struct orth_area {
	const char *name;		/* "first", "shmem", "general", "backup_a", "backup_b" */
	int n;
	struct orth_range r[ORTH_MAX_RANGES];
};

enum orth_area_id { AREA_FIRST, AREA_SHMEM, AREA_GENERAL, AREA_BACKUP_A, AREA_BACKUP_B, AREA_COUNT };

struct orth_device {
	char name[32];
	char owner[16];			/* active, first, backup_a, backup_b */
	char pci[16];			/* bus:dev.fn on segment 0 */
	char model[48];			/* the QEMU device */
};

struct orth_apics {
	int n;
	int id[ORTH_MAX_APICS];
};

struct orth_profile {
	char path[256];
	int nkeys;
	char key[ORTH_MAX_KEYS][48];
	char val[ORTH_MAX_KEYS][256];

	uint64_t ram, hotplug_block, data_size;
	int bsp_apic;
	struct orth_apics apics, first_apics, backup_apics;
	struct orth_area area[AREA_COUNT];
	int ndevices;
	struct orth_device dev[ORTH_MAX_DEVICES];

	/* the failure policy (panic_on: bits of enum orth_panic_on) */
	unsigned int panic_on;
	unsigned int watchdog_thresh_s, hung_task_s, rcu_stall_s, core_stall_ms;
};

/* The kernel failures turned into a panic, hence a failover (profile key panic_on). */
enum orth_panic_on {
	ORTH_PANIC_OOPS = 1 << 0,
	ORTH_PANIC_SOFTLOCKUP = 1 << 1,
	ORTH_PANIC_HARDLOCKUP = 1 << 2,
	ORTH_PANIC_RCU_STALL = 1 << 3,
	ORTH_PANIC_HUNG_TASK = 1 << 4,
	ORTH_PANIC_BAD_PAGE = 1 << 5,
};

/* Load and check a profile; on error fill err and return -1. */
int orth_profile_load(const char *path, struct orth_profile *p, char *err, size_t errlen);
/* S as a JSON string on standard output */
void orth_json_str(const char *s);
/* The raw value of a key, or NULL. */
const char *orth_get(const struct orth_profile *p, const char *key);
/* The area an OS of this ordinal lives in (1: first, even: backup_a, odd >= 3: backup_b). */
enum orth_area_id orth_area_of(unsigned int ordinal);
const char *orth_area_name(enum orth_area_id a);
/* The console device an OS of this ordinal writes to ("ttyS0", "hvc0"). */
const char *orth_console_of(const struct orth_profile *p, unsigned int ordinal, char *buf, size_t len);
/*
 * Ranges of RAM the 1st OS must not use: everything in [0, ram) outside the
 * 1st-OS and general areas.  Returns their number (at most max).
 */
int orth_first_reserved(const struct orth_profile *p, struct orth_range *out, int max);
/* The kernel command line of the OS of this ordinal (only the 1st OS so far). */
int orth_cmdline(const struct orth_profile *p, unsigned int ordinal, char *buf, size_t len,
		 char *err, size_t errlen);

#endif
