/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The last failover's timeline, read by orthros status: its phases, the two
 * moments ("service back", "protected again") and the critical path to the
 * first, as text, JSON and an SVG Gantt chart (timeline.c).
 */
#ifndef ORTHROS_TIMELINE_H
#define ORTHROS_TIMELINE_H

#include "orthros_shm_abi.h"

enum tl_path {
	TL_CRITICAL,	/* on the chain of phases that ends at "service back" */
	TL_BESIDE,	/* before "service back", overlapping the chain */
	TL_AFTER,	/* started at or after "service back" */
	TL_UNKNOWN,	/* the failover is not done: no path yet */
};

struct tl_phase {
	const char *name;
	unsigned long long start_us, end_us;
	int running;				/* no end yet (end_us 0) */
	enum tl_path path;
};

struct timeline {
	int n;
	struct tl_phase ph[ORTHROS_MAX_PHASES];
	unsigned long long service_back_us, protected_us;	/* 0: not yet */
	unsigned long long path_us;	/* of "service back": in phases on the path */
	unsigned long long unmarked_us;	/* in no phase, between them */
};

void timeline_build(const struct orthros_failover_status *fo, struct timeline *t);
const char *timeline_path_name(enum tl_path p);
/* the moments and the critical path: JSON members (",..."), a text block */
void timeline_json(const struct timeline *t);
void timeline_text(const struct timeline *t);
/* an SVG Gantt chart of @t for the failover from OS @from into @path ("-": stdout) */
int timeline_svg(const struct timeline *t, unsigned int from, const char *path);

#endif
