// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-profile: read the machine profile and print what others derive from it.
 */
#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: orthros-profile [--profile FILE] COMMAND\n"
		"\n"
		"Read the Orthros machine profile (default: $ORTHROS_PROFILE or "
		ORTH_DEFAULT_PROFILE ")\n"
		"and print facts derived from it.\n"
		"\n"
		"commands:\n"
		"  check             check the profile; print nothing, exit 0 if it is valid\n"
		"  get KEY           the raw value of KEY\n"
		"  cmdline ORDINAL   the kernel command line of the OS of that ordinal\n"
		"  area ORDINAL      the memory area that OS lives in\n"
		"  --json            everything, parsed, as one JSON object\n"
		"\n"
		"exit status: 0 ok, 1 bad profile or unknown key, 2 usage error\n");
}

static void json_apics(const char *name, const struct orth_apics *a)
{
	printf("\"%s\":[", name);
	for (int i = 0; i < a->n; i++)
		printf("%s%d", i ? "," : "", a->id[i]);
	printf("]");
}

static void json_ranges(const struct orth_range *r, int n)
{
	printf("[");
	for (int i = 0; i < n; i++)
		printf("%s{\"start\":%llu,\"end\":%llu}", i ? "," : "",
		       (unsigned long long)r[i].start, (unsigned long long)r[i].end);
	printf("]");
}

static int dump_json(const struct orth_profile *p)
{
	struct orth_range res[2 * ORTH_MAX_RANGES + 1];
	char cmd[1024], err[256], con[32];
	int n;

	printf("{\"path\":");
	orth_json_str(p->path);
	printf(",\"keys\":{");
	for (int i = 0; i < p->nkeys; i++) {
		printf("%s", i ? "," : "");
		orth_json_str(p->key[i]);
		putchar(':');
		orth_json_str(p->val[i]);
	}
	printf("},\"ram\":%llu,\"hotplug_block\":%llu,\"bsp_apic\":%d,",
	       (unsigned long long)p->ram, (unsigned long long)p->hotplug_block, p->bsp_apic);
	json_apics("apic_ids", &p->apics);
	putchar(',');
	json_apics("first_apics", &p->first_apics);
	putchar(',');
	json_apics("backup_apics", &p->backup_apics);
	printf(",\"areas\":{");
	for (int i = 0; i < AREA_COUNT; i++) {
		printf("%s\"%s\":", i ? "," : "", p->area[i].name);
		json_ranges(p->area[i].r, p->area[i].n);
	}
	printf("},\"first_reserved\":");
	n = orth_first_reserved(p, res, 2 * ORTH_MAX_RANGES + 1);
	json_ranges(res, n);
	printf(",\"devices\":[");
	for (int i = 0; i < p->ndevices; i++) {
		printf("%s{\"name\":", i ? "," : "");
		orth_json_str(p->dev[i].name);
		printf(",\"owner\":");
		orth_json_str(p->dev[i].owner);
		printf(",\"pci\":");
		orth_json_str(p->dev[i].pci);
		printf(",\"model\":");
		orth_json_str(p->dev[i].model);
		printf("}");
	}
	printf("],\"first\":{\"console\":");
	orth_json_str(orth_console_of(p, 1, con, sizeof(con)) ? con : "");
	printf(",\"cmdline\":");
	if (orth_cmdline(p, 1, cmd, sizeof(cmd), err, sizeof(err)))
		return fprintf(stderr, "orthros-profile: %s\n", err), 1;
	orth_json_str(cmd);
	printf("}}\n");
	return 0;
}

static int parse_ordinal(const char *s, unsigned int *ord)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (end == s || *end || v < 1 || v > 65535) {
		fprintf(stderr, "orthros-profile: bad ordinal '%s' (want 1..65535)\n", s);
		return -1;
	}
	*ord = (unsigned int)v;
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = getenv("ORTHROS_PROFILE");
	static struct orth_profile p;
	char err[512], buf[1024];
	unsigned int ord;
	int i = 1;

	if (!path || !*path)
		path = ORTH_DEFAULT_PROFILE;
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "--profile")) {
		path = argv[2];
		i = 3;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (orth_profile_load(path, &p, err, sizeof(err))) {
		fprintf(stderr, "orthros-profile: %s\n", err);
		return 1;
	}
	if (!strcmp(argv[i], "check") && argc == i + 1)
		return 0;
	if (!strcmp(argv[i], "--json") && argc == i + 1)
		return dump_json(&p);
	if (!strcmp(argv[i], "get") && argc == i + 2) {
		const char *v = orth_get(&p, argv[i + 1]);

		if (!v) {
			fprintf(stderr, "orthros-profile: no key '%s' in %s\n", argv[i + 1], path);
			return 1;
		}
		puts(v);
		return 0;
	}
	if (!strcmp(argv[i], "cmdline") && argc == i + 2) {
		if (parse_ordinal(argv[i + 1], &ord))
			return 2;
		if (orth_cmdline(&p, ord, buf, sizeof(buf), err, sizeof(err))) {
			fprintf(stderr, "orthros-profile: %s\n", err);
			return 1;
		}
		puts(buf);
		return 0;
	}
	if (!strcmp(argv[i], "area") && argc == i + 2) {
		if (parse_ordinal(argv[i + 1], &ord))
			return 2;
		puts(orth_area_name(orth_area_of(ord)));
		return 0;
	}
	usage(stderr);
	return 2;
}
