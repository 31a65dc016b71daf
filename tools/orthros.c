// SPDX-License-Identifier: GPL-2.0
/*
 * orthros: the user's view of this OS in the Orthros pair.
 *
 *   orthros status [--json]   role, ordinal, cores, memory and devices, as
 *                             this kernel sees them (/sys, /proc), next to
 *                             what the machine profile gives it.
 */
#include "profile.h"
#include "orthros_boot_abi.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <time.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RAM 64

struct state {
	char role[16];
	unsigned int ordinal;
	struct orth_apics online;
	int nram;
	struct orth_range ram[MAX_RAM];
	unsigned long long memtotal_kb;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: orthros status [--json]\n"
		"\n"
		"Show this OS's role, ordinal, cores (by local APIC ID), memory and\n"
		"devices as the running kernel sees them, and which devices the machine\n"
		"profile ($ORTHROS_PROFILE or " ORTH_DEFAULT_PROFILE ") gives it.\n"
		"\n"
		"exit status: 0 ok, 1 error, 2 usage error\n");
}

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void read_state(struct state *s)
{
	char line[256];
	FILE *f;

	memset(s, 0, sizeof(*s));
	if (read_line("/sys/kernel/orthros/role", s->role, sizeof(s->role)))
		snprintf(s->role, sizeof(s->role), "none");
	if (!read_line("/sys/kernel/orthros/ordinal", line, sizeof(line)))
		s->ordinal = (unsigned int)strtoul(line, NULL, 10);

	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		int id;

		if (sscanf(line, "apicid : %d", &id) == 1 && s->online.n < ORTH_MAX_APICS)
			s->online.id[s->online.n++] = id;
	}
	if (f)
		fclose(f);

	f = fopen("/proc/iomem", "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		int off = 0;

		/* top-level entries only: no leading blanks */
		if (line[0] == ' ' || sscanf(line, "%llx-%llx : %n", &a, &b, &off) != 2 || !off)
			continue;
		if (!strncmp(line + off, "System RAM", 10) && s->nram < MAX_RAM)
			s->ram[s->nram++] = (struct orth_range){ a, b + 1 };
	}
	if (f)
		fclose(f);

	f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &s->memtotal_kb) == 1)
			break;
	if (f)
		fclose(f);
}

/*
 * The other OS, as far as this one knows.  Until the shared memory and the
 * heartbeat exist, that is what the loader did: "started" (on which core, in
 * which area, when), or "none"; a backup knows only that it has an active.
 */
struct peer {
	const char *role;
	const char *state;
	unsigned int ordinal, apic;
	double since_s;
};

static void read_peer(const struct state *s, struct peer *pr)
{
	struct orthros_boot_status bs;
	int fd;

	memset(pr, 0, sizeof(*pr));
	pr->apic = ~0U;
	pr->state = "none";
	pr->role = "none";
	if (!strcmp(s->role, "backup")) {
		pr->role = "active";
		pr->state = "unknown";
		return;
	}
	fd = open(ORTHROS_BOOT_DEVICE, O_RDONLY);
	if (fd < 0)
		return;
	if (!ioctl(fd, ORTHROS_BOOT_STATUS, &bs) && bs.started_apic != ~0U) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		pr->role = "backup";
		pr->state = "started";
		pr->ordinal = bs.started_ordinal;
		pr->apic = bs.started_apic;
		pr->since_s = (double)now.tv_sec + now.tv_nsec / 1e9 - bs.start_ns / 1e9;
	}
	close(fd);
}

/* The driver bound to a PCI function here, or "" when none or not present. */
static const char *pci_driver(const char *pci, char *buf, size_t len, int *present)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/0000:%s", pci);
	*present = access(path, F_OK) == 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/0000:%s/driver", pci);
	n = readlink(path, target, sizeof(target) - 1);
	buf[0] = '\0';
	if (n > 0) {
		target[n] = '\0';
		snprintf(buf, len, "%.63s", strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
	}
	return buf;
}

/* Does the OS of this ordinal and role own a device with this owner? */
static int owns(const char *owner, const char *role, unsigned int ordinal)
{
	if (!strcmp(owner, "active"))
		return !strcmp(role, "active");
	return !strcmp(owner, orth_area_name(orth_area_of(ordinal)));
}

static int status(const struct orth_profile *p, int json)
{
	struct state s;
	struct peer pr;
	const char *area;
	char drv[64];
	int present;

	read_state(&s);
	read_peer(&s, &pr);
	area = s.ordinal ? orth_area_name(orth_area_of(s.ordinal)) : "none";
	if (json) {
		printf("{\"role\":\"%s\",\"ordinal\":%u,\"area\":\"%s\",\"apic_ids\":[",
		       s.role, s.ordinal, area);
		for (int i = 0; i < s.online.n; i++)
			printf("%s%d", i ? "," : "", s.online.id[i]);
		printf("],\"memory\":{\"total_kb\":%llu,\"ram\":[", s.memtotal_kb);
		for (int i = 0; i < s.nram; i++)
			printf("%s{\"start\":%llu,\"end\":%llu}", i ? "," : "",
			       (unsigned long long)s.ram[i].start, (unsigned long long)s.ram[i].end);
		printf("]},\"devices\":[");
		for (int i = 0; i < p->ndevices; i++) {
			const struct orth_device *d = &p->dev[i];

			pci_driver(d->pci, drv, sizeof(drv), &present);
			printf("%s{\"name\":\"%s\",\"pci\":\"%s\",\"owner\":\"%s\",\"mine\":%s,"
			       "\"present\":%s,\"driver\":\"%s\"}", i ? "," : "", d->name, d->pci,
			       d->owner, owns(d->owner, s.role, s.ordinal) ? "true" : "false",
			       present ? "true" : "false", drv);
		}
		printf("],\"peer\":{\"role\":\"%s\",\"state\":\"%s\"", pr.role, pr.state);
		if (pr.apic != ~0U)
			printf(",\"ordinal\":%u,\"apic_id\":%u,\"since_s\":%.1f",
			       pr.ordinal, pr.apic, pr.since_s);
		printf("}}\n");
		return 0;
	}
	printf("role:     %s\nordinal:  %u (area %s)\ncores:    APIC",
	       s.role, s.ordinal, area);
	for (int i = 0; i < s.online.n; i++)
		printf(" %d", s.online.id[i]);
	printf("\nmemory:   %llu MiB in", s.memtotal_kb / 1024);
	for (int i = 0; i < s.nram; i++)
		printf(" %#llx-%#llx", (unsigned long long)s.ram[i].start,
		       (unsigned long long)s.ram[i].end);
	printf("\ndevices:\n");
	for (int i = 0; i < p->ndevices; i++) {
		const struct orth_device *d = &p->dev[i];

		pci_driver(d->pci, drv, sizeof(drv), &present);
		printf("  %-8s %s  owner %-8s %-4s %s\n", d->name, d->pci, d->owner,
		       owns(d->owner, s.role, s.ordinal) ? "mine" : "",
		       !present ? "(not seen here)" : *drv ? drv : "(no driver)");
	}
	printf("peer:     %s, %s", pr.role, pr.state);
	if (pr.apic != ~0U)
		printf(" (OS %u on APIC %u, %.1f s ago; liveness comes with the heartbeat)",
		       pr.ordinal, pr.apic, pr.since_s);
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = getenv("ORTHROS_PROFILE");
	static struct orth_profile p;
	char err[512];
	int json = 0;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "status")) {
		usage(stderr);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = 1;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!path || !*path)
		path = ORTH_DEFAULT_PROFILE;
	if (orth_profile_load(path, &p, err, sizeof(err))) {
		fprintf(stderr, "orthros: %s\n", err);
		return 1;
	}
	return status(&p, json);
}
