// SPDX-License-Identifier: GPL-2.0
/* The machine profile parser: see profile.h and machine.conf. */
#include "profile.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const area_names[AREA_COUNT] = {
	[AREA_FIRST] = "first", [AREA_SHMEM] = "shmem", [AREA_GENERAL] = "general",
	[AREA_BACKUP_A] = "backup_a", [AREA_BACKUP_B] = "backup_b",
};

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

const char *orth_get(const struct orth_profile *p, const char *key)
{
	for (int i = 0; i < p->nkeys; i++)
		if (!strcmp(p->key[i], key))
			return p->val[i];
	return NULL;
}

const char *orth_area_name(enum orth_area_id a)
{
	return a < AREA_COUNT ? area_names[a] : "?";
}

enum orth_area_id orth_area_of(unsigned int ordinal)
{
	if (ordinal <= 1)
		return AREA_FIRST;
	return ordinal % 2 == 0 ? AREA_BACKUP_A : AREA_BACKUP_B;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return (errno || end == s || *end) ? -1 : 0;
}

static int parse_apics(const char *s, struct orth_apics *a)
{
	char buf[256], *tok, *save;

	a->n = 0;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		uint64_t v;

		if (parse_u64(tok, &v) || v > 255 || a->n >= ORTH_MAX_APICS)
			return -1;
		a->id[a->n++] = (int)v;
	}
	return a->n ? 0 : -1;
}

static int has_apic(const struct orth_apics *a, int id)
{
	for (int i = 0; i < a->n; i++)
		if (a->id[i] == id)
			return 1;
	return 0;
}

static int parse_area(const char *s, struct orth_area *a)
{
	char buf[256], *tok, *save;

	a->n = 0;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *dash = strchr(tok, '-');
		struct orth_range r;

		if (!dash || a->n >= ORTH_MAX_RANGES)
			return -1;
		*dash = '\0';
		if (parse_u64(tok, &r.start) || parse_u64(dash + 1, &r.end) || r.start >= r.end)
			return -1;
		a->r[a->n++] = r;
	}
	return a->n ? 0 : -1;
}

static int load_lines(const char *path, struct orth_profile *p, char *err, size_t len)
{
	char line[512];
	int lineno = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return fail(err, len, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *s = line, *eq, *k, *v, *e;

		lineno++;
		if ((e = strchr(s, '#')))
			*e = '\0';
		while (isspace((unsigned char)*s))
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (!*s)
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			fclose(f);
			return fail(err, len, "%s:%d: expected 'key = value'", path, lineno);
		}
		*eq = '\0';
		k = s;
		v = eq + 1;
		for (e = eq; e > k && isspace((unsigned char)e[-1]); e--)
			e[-1] = '\0';
		while (isspace((unsigned char)*v))
			v++;
		for (e = k; *e; e++)
			if (!islower((unsigned char)*e) && !isdigit((unsigned char)*e) && *e != '_') {
				fclose(f);
				return fail(err, len, "%s:%d: bad key '%s'", path, lineno, k);
			}
		if (!*k || orth_get(p, k)) {
			fclose(f);
			return fail(err, len, "%s:%d: %s key '%s'", path, lineno,
				    *k ? "duplicate" : "empty", k);
		}
		if (p->nkeys >= ORTH_MAX_KEYS || strlen(k) >= sizeof(p->key[0]) ||
		    strlen(v) >= sizeof(p->val[0])) {
			fclose(f);
			return fail(err, len, "%s:%d: too many keys or too long", path, lineno);
		}
		strcpy(p->key[p->nkeys], k);
		strcpy(p->val[p->nkeys], v);
		p->nkeys++;
	}
	fclose(f);
	return 0;
}

static const char *need(const struct orth_profile *p, const char *key, char *err, size_t len)
{
	const char *v = orth_get(p, key);

	if (!v || !*v)
		fail(err, len, "%s: missing key '%s'", p->path, key);
	return v && *v ? v : NULL;
}

static int check_areas(struct orth_profile *p, char *err, size_t len)
{
	struct orth_area *a = p->area;

	for (int i = 0; i < AREA_COUNT; i++) {
		for (int j = 0; j < a[i].n; j++) {
			const struct orth_range *r = &a[i].r[j];

			if ((r->start | r->end) & 0xfff)
				return fail(err, len, "area_%s: %#llx-%#llx is not 4 KiB aligned",
					    a[i].name, (unsigned long long)r->start,
					    (unsigned long long)r->end);
			if (r->end > p->ram)
				return fail(err, len, "area_%s: %#llx-%#llx is beyond the RAM (%#llx)",
					    a[i].name, (unsigned long long)r->start,
					    (unsigned long long)r->end, (unsigned long long)p->ram);
			for (int k = 0; k < AREA_COUNT; k++)
				for (int l = 0; l < a[k].n; l++) {
					const struct orth_range *o = &a[k].r[l];

					if ((k != i || l != j) && r->start < o->end && o->start < r->end)
						return fail(err, len, "area_%s and area_%s overlap at %#llx",
							    a[i].name, a[k].name,
							    (unsigned long long)(r->start > o->start ?
										 r->start : o->start));
				}
		}
	}
	for (int i = AREA_BACKUP_A; i <= AREA_BACKUP_B; i++) {
		int low = 0;

		for (int j = 0; j < a[i].n; j++)
			low |= a[i].r[j].end <= 0x100000;
		if (!low)
			return fail(err, len, "area_%s needs a range below 1 MiB for its start-up code",
				    a[i].name);
	}
	for (int j = 0; j < a[AREA_GENERAL].n; j++)
		if ((a[AREA_GENERAL].r[j].start | a[AREA_GENERAL].r[j].end) % p->hotplug_block)
			return fail(err, len, "area_general must be made of whole hot-plug blocks");
	return 0;
}

static int parse_devices(struct orth_profile *p, char *err, size_t len)
{
	char buf[256], *tok, *save;
	const char *list = need(p, "devices", err, len);

	if (!list)
		return -1;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		struct orth_device *d = &p->dev[p->ndevices];
		char key[64];
		const char *v;
		unsigned int bus, dev, fn;
		char extra;

		if (p->ndevices >= ORTH_MAX_DEVICES || strlen(tok) >= sizeof(d->name))
			return fail(err, len, "devices: too many or too long");
		snprintf(key, sizeof(key), "device_%s", tok);
		v = need(p, key, err, len);
		if (!v)
			return -1;
		snprintf(d->name, sizeof(d->name), "%s", tok);
		if (sscanf(v, "%15s %15s %47s", d->owner, d->pci, d->model) != 3)
			return fail(err, len, "%s: want 'owner pci-address qemu-device'", key);
		if (strcmp(d->owner, "active") && strcmp(d->owner, "first") &&
		    strcmp(d->owner, "backup_a") && strcmp(d->owner, "backup_b"))
			return fail(err, len, "%s: unknown owner '%s'", key, d->owner);
		if (sscanf(d->pci, "%2x:%2x.%1x%c", &bus, &dev, &fn, &extra) != 3 ||
		    dev > 31 || fn > 7)
			return fail(err, len, "%s: bad PCI address '%s'", key, d->pci);
		for (int i = 0; i < p->ndevices; i++)
			if (!strcmp(p->dev[i].pci, d->pci))
				return fail(err, len, "%s: PCI address %s is used twice", key, d->pci);
		p->ndevices++;
	}
	return 0;
}

static const char * const panic_on_names[] = {
	"oops", "softlockup", "hardlockup", "rcu_stall", "hung_task", "bad_page",
};

/* A whole number in [lo, hi] from key, or an error. */
static int parse_range(struct orth_profile *p, const char *key, unsigned int lo, unsigned int hi,
		       unsigned int *out, char *err, size_t len)
{
	const char *v = need(p, key, err, len);
	uint64_t x;

	if (!v)
		return -1;
	if (parse_u64(v, &x) || x < lo || x > hi)
		return fail(err, len, "%s: want %u-%u, got '%s'", key, lo, hi, v);
	*out = (unsigned int)x;
	return 0;
}

/*
 * The failure policy (docs/liveness.md): which kernel failures panic (the
 * panic is the failover's notice), the detectors' limits, and Orthros's own
 * check of every core's beat.
 */
static int parse_policy(struct orth_profile *p, char *err, size_t len)
{
	const char *v = need(p, "panic_on", err, len);
	char words[256], *w, *save;

	if (!v)
		return -1;
	snprintf(words, sizeof(words), "%s", v);
	p->panic_on = 0;
	for (w = strtok_r(words, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		size_t i;

		if (!strcmp(w, "none"))
			continue;
		for (i = 0; i < sizeof(panic_on_names) / sizeof(panic_on_names[0]); i++)
			if (!strcmp(w, panic_on_names[i]))
				break;
		if (i == sizeof(panic_on_names) / sizeof(panic_on_names[0]))
			return fail(err, len, "panic_on: unknown failure '%s' (want oops softlockup hardlockup rcu_stall hung_task bad_page, or none)",
				    w);
		p->panic_on |= 1u << i;
	}
	if (parse_range(p, "watchdog_thresh_s", 1, 60, &p->watchdog_thresh_s, err, len) ||
	    parse_range(p, "hung_task_s", 5, 3600, &p->hung_task_s, err, len) ||
	    parse_range(p, "rcu_stall_s", 3, 300, &p->rcu_stall_s, err, len) ||
	    parse_range(p, "core_stall_ms", 0, 60000, &p->core_stall_ms, err, len))
		return -1;
	if (p->core_stall_ms && p->core_stall_ms < 300)
		return fail(err, len, "core_stall_ms: want 0 (off) or 300-60000, got %u",
			    p->core_stall_ms);
	return 0;
}

int orth_profile_load(const char *path, struct orth_profile *p, char *err, size_t len)
{
	const char *v;

	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "%s", path);
	if (load_lines(path, p, err, len))
		return -1;

	if (!(v = need(p, "ram", err, len)))
		return -1;
	if (parse_u64(v, &p->ram) || !p->ram || p->ram > (1ULL << 32))
		return fail(err, len, "ram: want a size below 4 GiB, got '%s'", v);
	if (!(v = need(p, "hotplug_block", err, len)))
		return -1;
	if (parse_u64(v, &p->hotplug_block) || !p->hotplug_block ||
	    (p->hotplug_block & (p->hotplug_block - 1)))
		return fail(err, len, "hotplug_block: want a power of two, got '%s'", v);
	if ((v = orth_get(p, "data_size")) && parse_u64(v, &p->data_size))
		return fail(err, len, "data_size: bad size '%s'", v);

	if (!(v = need(p, "apic_ids", err, len)))
		return -1;
	if (parse_apics(v, &p->apics))
		return fail(err, len, "apic_ids: want APIC IDs 0-255, got '%s'", v);
	for (int i = 0; i < p->apics.n; i++)
		for (int j = 0; j < i; j++)
			if (p->apics.id[i] == p->apics.id[j])
				return fail(err, len, "apic_ids: %d is listed twice", p->apics.id[i]);
	if (!(v = need(p, "bsp_apic", err, len)))
		return -1;
	{
		uint64_t b;

		if (parse_u64(v, &b) || !has_apic(&p->apics, (int)b))
			return fail(err, len, "bsp_apic: '%s' is not in apic_ids", v);
		p->bsp_apic = (int)b;
	}
	if (!(v = need(p, "first_apics", err, len)))
		return -1;
	if (parse_apics(v, &p->first_apics))
		return fail(err, len, "first_apics: bad list '%s'", v);
	if (!(v = need(p, "backup_apics", err, len)))
		return -1;
	if (parse_apics(v, &p->backup_apics))
		return fail(err, len, "backup_apics: bad list '%s'", v);
	/* A later OS boots on one core (maxcpus=1); it grows only at failover. */
	if (p->backup_apics.n != 1)
		return fail(err, len, "backup_apics: a backup boots on exactly one core (later OSes boot with maxcpus=1)");
	if (!has_apic(&p->first_apics, p->bsp_apic))
		return fail(err, len, "first_apics must hold the BSP (APIC %d)", p->bsp_apic);
	for (int i = 0; i < p->first_apics.n; i++)
		if (!has_apic(&p->apics, p->first_apics.id[i]))
			return fail(err, len, "first_apics: %d is not in apic_ids", p->first_apics.id[i]);
	for (int i = 0; i < p->backup_apics.n; i++) {
		int id = p->backup_apics.id[i];

		if (!has_apic(&p->apics, id))
			return fail(err, len, "backup_apics: %d is not in apic_ids", id);
		if (id == p->bsp_apic)
			return fail(err, len, "backup_apics: %d is the BSP, which cannot be started by IPI", id);
		if (has_apic(&p->first_apics, id))
			return fail(err, len, "backup_apics: %d also belongs to the 1st OS", id);
	}

	for (int i = 0; i < AREA_COUNT; i++) {
		char key[32];

		p->area[i].name = area_names[i];
		snprintf(key, sizeof(key), "area_%s", area_names[i]);
		if (!(v = need(p, key, err, len)))
			return -1;
		if (parse_area(v, &p->area[i]))
			return fail(err, len, "%s: want start-end ranges, got '%s'", key, v);
	}
	if (check_areas(p, err, len) || parse_devices(p, err, len))
		return -1;
	if (!need(p, "console_first", err, len) || !need(p, "console_backup_a", err, len) ||
	    !need(p, "console_backup_b", err, len))
		return -1;
	return parse_policy(p, err, len);
}

const char *orth_console_of(const struct orth_profile *p, unsigned int ordinal,
			    char *buf, size_t len)
{
	char key[32];
	const char *v;

	snprintf(key, sizeof(key), "console_%s", orth_area_name(orth_area_of(ordinal)));
	v = orth_get(p, key);
	if (!v)
		return NULL;
	snprintf(buf, len, "%s", v);
	buf[strcspn(buf, " \t")] = '\0';
	return buf;
}

static int cmp_range(const void *a, const void *b)
{
	const struct orth_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int orth_first_reserved(const struct orth_profile *p, struct orth_range *out, int max)
{
	struct orth_range own[2 * ORTH_MAX_RANGES];
	int n = 0, nout = 0;
	uint64_t at = 0;

	for (int j = 0; j < p->area[AREA_FIRST].n; j++)
		own[n++] = p->area[AREA_FIRST].r[j];
	for (int j = 0; j < p->area[AREA_GENERAL].n; j++)
		own[n++] = p->area[AREA_GENERAL].r[j];
	qsort(own, n, sizeof(own[0]), cmp_range);
	for (int i = 0; i <= n; i++) {
		uint64_t next = i < n ? own[i].start : p->ram;

		if (next > at && nout < max)
			out[nout++] = (struct orth_range){ at, next };
		if (i < n)
			at = own[i].end;
	}
	return nout;
}

/*
 * " orthros_pci=only:..." with the functions an OS in this area owns (a later
 * OS), or " orthros_pci=not:..." with those owned by the backup areas (the
 * 1st OS, which keeps everything else).  Returns the length it would write.
 */
static size_t pci_list(const struct orth_profile *p, const char *area, int only,
		       char *buf, size_t len)
{
	size_t off = 0;
	int n = 0;

	for (int i = 0; i < p->ndevices; i++) {
		const char *o = p->dev[i].owner;
		int pick = only ? !strcmp(o, area) : !strncmp(o, "backup_", 7);

		if (!pick)
			continue;
		off += (size_t)snprintf(buf + (off < len ? off : len), off < len ? len - off : 0,
					"%s%s", n++ ? "," : (only ? " orthros_pci=only:" : " orthros_pci=not:"),
					p->dev[i].pci);
	}
	if (only && !n)	/* owning nothing still means scanning nothing */
		off += (size_t)snprintf(buf + (off < len ? off : len), off < len ? len - off : 0,
					" orthros_pci=only:");
	return off;
}

/* What a backup takes over when its active fails: the devices owned by "active". */
static size_t takeover_list(const struct orth_profile *p, char *buf, size_t len)
{
	size_t off = 0;
	int n = 0;

	for (int i = 0; i < p->ndevices; i++) {
		if (strcmp(p->dev[i].owner, "active"))
			continue;
		off += (size_t)snprintf(buf + (off < len ? off : len), off < len ? len - off : 0,
					"%s%s", n++ ? "," : " orthros_takeover=", p->dev[i].pci);
	}
	return off;
}

/* Where every OS finds the shared memory. */
static size_t shm_param(const struct orth_profile *p, char *buf, size_t len)
{
	const struct orth_range *r = &p->area[AREA_SHMEM].r[0];

	return (size_t)snprintf(buf, len, " orthros_shm=%#llx@%#llx",
				(unsigned long long)(r->end - r->start),
				(unsigned long long)r->start);
}

/* What a later OS hot-adds when it becomes the active one: the general area. */
static size_t general_param(const struct orth_profile *p, char *buf, size_t len)
{
	const struct orth_area *a = &p->area[AREA_GENERAL];
	size_t off = 0;

	for (int i = 0; i < a->n; i++)
		off += (size_t)snprintf(buf + (off < len ? off : len), off < len ? len - off : 0,
					"%s%#llx-%#llx", i ? "," : " orthros_general=",
					(unsigned long long)a->r[i].start,
					(unsigned long long)a->r[i].end);
	return off;
}

/*
 * " orthros_apics=..." for a later OS: the cores it may own one day, every
 * APIC ID of the machine but the BSP's (an INIT would reset the machine).
 * It boots on one of them (maxcpus=1) and registers the others as possible,
 * not present CPUs (kernel-patches/0007); at failover it hot-adds the dead
 * OS's cores among them but the one kept for the next backup (the highest).
 */
static size_t apics_param(const struct orth_profile *p, char *buf, size_t len)
{
	size_t off = 0;
	int n = 0;

	for (int i = 0; i < p->apics.n; i++) {
		if (p->apics.id[i] == p->bsp_apic)
			continue;
		off += (size_t)snprintf(buf + (off < len ? off : len), off < len ? len - off : 0,
					"%s%d", n++ ? "," : " orthros_apics=", p->apics.id[i]);
	}
	return off;
}

/*
 * The failure policy on every OS's command line (each OS may become the
 * active): the kernel's own detectors and what they do.  Stack overflows
 * (CONFIG_SCHED_STACK_END_CHECK) and double faults panic always; a WARNING
 * never does (panic_on_warn stays 0).
 */
static size_t policy_params(const struct orth_profile *p, char *buf, size_t len)
{
	unsigned int on = p->panic_on;

	return (size_t)snprintf(buf, len,
		" watchdog_thresh=%u%s%s%s rcupdate.rcu_cpu_stall_timeout=%u%s sysctl.kernel.hung_task_timeout_secs=%u sysctl.kernel.hung_task_check_interval_secs=%u%s%s orthros_core_stall=%u",
		p->watchdog_thresh_s,
		on & ORTH_PANIC_OOPS ? " oops=panic" : "",
		on & ORTH_PANIC_SOFTLOCKUP ? " softlockup_panic=1" : "",
		on & ORTH_PANIC_HARDLOCKUP ? " nmi_watchdog=panic" : " nmi_watchdog=nopanic",
		p->rcu_stall_s,
		on & ORTH_PANIC_RCU_STALL ? " sysctl.kernel.panic_on_rcu_stall=1" : "",
		p->hung_task_s, p->hung_task_s >= 20 ? p->hung_task_s / 10 : 2,
		on & ORTH_PANIC_HUNG_TASK ? " hung_task_panic=1" : "",
		on & ORTH_PANIC_BAD_PAGE ? " panic_on_taint=0x20" : "",
		p->core_stall_ms);
}

int orth_cmdline(const struct orth_profile *p, unsigned int ordinal, char *buf, size_t len,
		 char *err, size_t errlen)
{
	struct orth_range res[2 * ORTH_MAX_RANGES + 1];
	char con[32];
	size_t off;
	int n;

	if (ordinal != 1) {
		/*
		 * A later OS: its console, its own PCI functions only, one core
		 * at boot (the others it may own later are possible CPUs), and
		 * no hardware of the 1st OS: no ACPI interpreter
		 * (its _PIC and link methods change platform state), no IO-APIC,
		 * no HPET, no 16550 UART (probing resets the 1st OS's console).
		 * The loader adds the timer calibration.  No clocksource
		 * watchdog on the TSC: without HPET and ACPI PM timer the only
		 * watchdog is jiffies, which falls behind when the core's timer
		 * ticks are late (TCG under load), and the TSC, the machine's
		 * shared clock, was marked unstable: the OS then kept time in
		 * ticks and ran slow (a boot took a minute instead of 5 s).
		 */
		orth_console_of(p, ordinal, con, sizeof(con));
		off = (size_t)snprintf(buf, len,
				       "console=%s orthros=backup,%u maxcpus=1 acpi=off noapic nohpet tsc=nowatchdog 8250.nr_uarts=0 no_ipi_broadcast=1",
				       con, ordinal);
		off += apics_param(p, buf + off, off < len ? len - off : 0);
		off += shm_param(p, buf + off, off < len ? len - off : 0);
		off += pci_list(p, orth_area_name(orth_area_of(ordinal)), 1, buf + off,
				off < len ? len - off : 0);
		off += takeover_list(p, buf + off, off < len ? len - off : 0);
		off += general_param(p, buf + off, off < len ? len - off : 0);
		off += policy_params(p, buf + off, off < len ? len - off : 0);
		if (off >= len)
			return fail(err, errlen, "command line too long");
		return 0;
	}
	/*
	 * The firmware lists the cores in APIC ID order, so maxcpus=N starts
	 * exactly the 1st OS's cores when they are the N lowest APIC IDs.
	 */
	for (int i = 0; i < p->first_apics.n; i++)
		for (int j = 0; j < p->apics.n; j++)
			if (p->apics.id[j] < p->first_apics.id[i] &&
			    !has_apic(&p->first_apics, p->apics.id[j]))
				return fail(err, errlen,
					    "first_apics must be the lowest APIC IDs (APIC %d is below %d)",
					    p->apics.id[j], p->first_apics.id[i]);
	orth_console_of(p, ordinal, con, sizeof(con));
	off = (size_t)snprintf(buf, len, "console=%s,115200 orthros=active,1 maxcpus=%d no_ipi_broadcast=1",
			       con, p->first_apics.n);
	off += pci_list(p, "first", 0, buf + off, off < len ? len - off : 0);
	off += shm_param(p, buf + off, off < len ? len - off : 0);
	n = orth_first_reserved(p, res, 2 * ORTH_MAX_RANGES + 1);
	for (int i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, " memmap=%#llx$%#llx",
					(unsigned long long)(res[i].end - res[i].start),
					(unsigned long long)res[i].start);
	if (off < len)
		off += policy_params(p, buf + off, len - off);
	if (off >= len)
		return fail(err, errlen, "command line too long");
	return 0;
}

/* S as a JSON string on standard output (quotes, backslashes and control characters escaped) */
void orth_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}
