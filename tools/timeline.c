// SPDX-License-Identifier: GPL-2.0
/*
 * The last failover's timeline (orthros status): the phases the kernel and
 * the failover script marked, the two moments the kernel recorded ("service
 * back": the failover marked done; "protected again": the first beat of a
 * new backup) and the critical path to "service back".
 *
 * The critical path is read backwards from "service back": the phase that
 * ended last at or before it is on the path, then the one that ended last at
 * or before that phase's start, and so on.  A phase that ran before "service
 * back" but is not on that chain ran beside it (it overlapped a phase of the
 * path: making it faster would not bring the service back sooner); a phase
 * that started at or after "service back" is off the path by construction.
 * The time of the path that no phase covers (a fork, an exec, the script
 * between two marks) is reported as "between".
 */
#include "timeline.h"
#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *timeline_path_name(enum tl_path p)
{
	static const char *const names[] = { "critical", "beside", "after", "unknown" };

	return p <= TL_UNKNOWN ? names[p] : "unknown";
}

void timeline_build(const struct orthros_failover_status *fo, struct timeline *t)
{
	unsigned long long at;
	int chosen;

	memset(t, 0, sizeof(*t));
	for (unsigned int i = 0; i < fo->nr_phases && i < ORTHROS_MAX_PHASES; i++) {
		struct tl_phase *p = &t->ph[t->n++];

		p->name = fo->phases[i].name;
		p->start_us = fo->phases[i].start_us;
		p->running = fo->phases[i].duration_us == ~0ULL;
		p->end_us = p->running ? 0 : fo->phases[i].start_us + fo->phases[i].duration_us;
		p->path = TL_UNKNOWN;
	}
	t->service_back_us = fo->service_back_us;
	t->protected_us = fo->protected_us;
	if (!t->service_back_us)
		return;
	for (int i = 0; i < t->n; i++)
		t->ph[i].path = t->ph[i].start_us >= t->service_back_us ? TL_AFTER : TL_BESIDE;
	/* backwards from "service back": each step the phase that ended last */
	at = t->service_back_us;
	do {
		chosen = -1;
		for (int i = 0; i < t->n; i++) {
			const struct tl_phase *p = &t->ph[i];

			if (p->path != TL_BESIDE || p->running || p->end_us > at || p->start_us >= at)
				continue;
			if (chosen < 0 || p->end_us > t->ph[chosen].end_us ||
			    (p->end_us == t->ph[chosen].end_us && p->start_us < t->ph[chosen].start_us))
				chosen = i;
		}
		if (chosen >= 0) {
			t->ph[chosen].path = TL_CRITICAL;
			t->unmarked_us += at - t->ph[chosen].end_us;
			t->path_us += t->ph[chosen].end_us - t->ph[chosen].start_us;
			at = t->ph[chosen].start_us;
		}
	} while (chosen >= 0 && at);
	t->unmarked_us += at;
}

static void json_moment(const char *key, unsigned long long us)
{
	printf(",\"%s\":", key);
	if (us)
		printf("%llu", us);
	else
		printf("null");
}

void timeline_json(const struct timeline *t)
{
	int first = 1;

	printf(",\"phases\":[");
	for (int i = 0; i < t->n; i++) {
		const struct tl_phase *p = &t->ph[i];

		printf("%s{\"name\":", i ? "," : "");
		orth_json_str(p->name);
		printf(",\"start_us\":%llu,\"duration_us\":", p->start_us);
		if (!p->running)
			printf("%llu", p->end_us - p->start_us);
		else
			printf("null");
		printf(",\"path\":\"%s\"}", timeline_path_name(p->path));
	}
	printf("]");
	json_moment("service_back_us", t->service_back_us);
	json_moment("protected_us", t->protected_us);
	printf(",\"critical_path\":{\"phases\":[");
	for (int i = 0; i < t->n; i++)
		if (t->ph[i].path == TL_CRITICAL) {
			printf("%s", first ? "" : ",");
			orth_json_str(t->ph[i].name);
			first = 0;
		}
	printf("],\"in_phases_us\":%llu,\"between_us\":%llu}", t->path_us, t->unmarked_us);
}

void timeline_text(const struct timeline *t)
{
	static const char *const mark[] = { "  *", "   ", "  >", "   " };

	for (int i = 0; i < t->n; i++) {
		const struct tl_phase *p = &t->ph[i];

		printf("%s %-10s at %10.3f ms", mark[p->path], p->name, p->start_us / 1000.0);
		if (!p->running)
			printf("  took %10.3f ms\n", (p->end_us - p->start_us) / 1000.0);
		else
			printf("  (running)\n");
	}
	if (!t->service_back_us) {
		printf("  service back: not yet\n");
		return;
	}
	printf("  service back    at %10.3f ms (* the critical path: %.3f ms in its phases, %.3f ms between them)\n",
	       t->service_back_us / 1000.0, t->path_us / 1000.0, t->unmarked_us / 1000.0);
	if (t->protected_us)
		printf("  protected again at %10.3f ms (> after service back)\n", t->protected_us / 1000.0);
	else
		printf("  protected again: not yet (no new backup's beat seen)\n");
}

/* --- the picture ------------------------------------------------------------ */

#define SVG_W		960
#define SVG_LABEL_X	12
#define SVG_X0		130
#define SVG_CHART_W	740
#define SVG_TOP		64
#define SVG_ROW		24
#define SVG_BAR		16

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			/* names are marks anyone may make: ASCII only, valid UTF-8 */
			fputc((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f ? *s : '?', f);
		}
	}
}

/* A tick step of 1, 2 or 5 times a power of ten, for about 8 ticks. */
static unsigned long long tick_step(unsigned long long span_us)
{
	unsigned long long raw = span_us / 8 ?: 1, mag = 1;

	while (mag * 10 <= raw)
		mag *= 10;
	if (raw <= mag)
		return mag;
	if (raw <= 2 * mag)
		return 2 * mag;
	if (raw <= 5 * mag)
		return 5 * mag;
	return 10 * mag;
}

static double x_of(unsigned long long us, unsigned long long span)
{
	return SVG_X0 + (double)us * SVG_CHART_W / span;
}

static void ms_label(char *buf, size_t len, unsigned long long us, unsigned long long step)
{
	if (step >= 1000000)
		snprintf(buf, len, "%llu s", us / 1000000);
	else if (step >= 100000)
		snprintf(buf, len, "%.1f s", us / 1e6);
	else
		snprintf(buf, len, "%llu ms", us / 1000);
}

static void moment_line(FILE *f, const char *what, unsigned long long us, unsigned long long span,
			int bottom, const char *colour, int row)
{
	double x = x_of(us, span);

	fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
		"stroke-width=\"2\" stroke-dasharray=\"6 3\"/>\n", x, SVG_TOP - 22 + 12 * row, x,
		bottom, colour);
	fprintf(f, "<text x=\"%.1f\" y=\"%d\" fill=\"%s\" font-size=\"12\" text-anchor=\"%s\">"
		"%s %.3f s</text>\n", x + (x > SVG_X0 + SVG_CHART_W / 2 ? -4 : 4),
		SVG_TOP - 24 + 12 * row, colour, x > SVG_X0 + SVG_CHART_W / 2 ? "end" : "start",
		what, us / 1e6);
}

int timeline_svg(const struct timeline *t, unsigned int from, const char *path)
{
	static const char *const fill[] = { "#d0453a", "#5b8fd9", "#9aa5b1", "#9aa5b1" };
	unsigned long long span = 1, step;
	int order[ORTHROS_MAX_PHASES], bottom, h;
	char label[32];
	FILE *f;

	if (!t->n) {
		fprintf(stderr, "orthros status --svg: no failover took place here\n");
		return 1;
	}
	/* rows in the order the phases started */
	for (int i = 0; i < t->n; i++) {
		int j = i;

		while (j > 0 && t->ph[order[j - 1]].start_us > t->ph[i].start_us) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
		if (t->ph[i].end_us > span)
			span = t->ph[i].end_us;
		if (t->ph[i].start_us > span)
			span = t->ph[i].start_us;
	}
	if (t->service_back_us > span)
		span = t->service_back_us;
	if (t->protected_us > span)
		span = t->protected_us;
	span += span / 50;
	step = tick_step(span);
	bottom = SVG_TOP + t->n * SVG_ROW + 4;
	h = bottom + 70;

	f = strcmp(path, "-") ? fopen(path, "w") : stdout;
	if (!f) {
		perror(path);
		return 1;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", SVG_W, h, SVG_W, h);
	fprintf(f, "<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\">"
		"Orthros failover from OS %u: where the time goes</text>\n", SVG_LABEL_X, from);
	/* the axis: a grid line and a label per tick */
	for (unsigned long long us = 0; us <= span; us += step) {
		double x = x_of(us, span);

		ms_label(label, sizeof(label), us, step);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#e3e6ea\"/>\n"
			"<text x=\"%.1f\" y=\"%d\" font-size=\"11\" fill=\"#555\" text-anchor=\"middle\">%s</text>\n",
			x, SVG_TOP - 4, x, bottom, x, bottom + 14, label);
	}
	/* a bar per phase: start to end (to the edge, dashed, while it runs) */
	for (int r = 0; r < t->n; r++) {
		const struct tl_phase *p = &t->ph[order[r]];
		unsigned long long end = p->running ? span : p->end_us;
		double x = x_of(p->start_us, span), w = x_of(end, span) - x;
		int y = SVG_TOP + r * SVG_ROW;

		if (w < 1.5)
			w = 1.5;
		fprintf(f, "<g class=\"phase %s\">\n<title>", timeline_path_name(p->path));
		xml_text(f, p->name);
		fprintf(f, ": at %.3f ms, ", p->start_us / 1000.0);
		if (!p->running)
			fprintf(f, "took %.3f ms", (p->end_us - p->start_us) / 1000.0);
		else
			fprintf(f, "still running");
		fprintf(f, " (%s)</title>\n<text x=\"%d\" y=\"%d\" font-size=\"12\">", timeline_path_name(p->path),
			SVG_LABEL_X, y + SVG_BAR - 3);
		xml_text(f, p->name);
		fprintf(f, "</text>\n<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"%s/>\n",
			x, y, w, SVG_BAR, fill[p->path],
			p->running ? " fill-opacity=\"0.4\" stroke=\"#555\" stroke-dasharray=\"3 2\"" : "");
		if (!p->running)
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" fill=\"#333\">%.0f ms</text>\n",
				x + w + 3, y + SVG_BAR - 3, (p->end_us - p->start_us) / 1000.0);
		fprintf(f, "</g>\n");
	}
	if (t->service_back_us)
		moment_line(f, "service back", t->service_back_us, span, bottom, "#b3261e", 0);
	if (t->protected_us)
		moment_line(f, "protected again", t->protected_us, span, bottom, "#1e6b34", 1);
	/* the legend */
	fprintf(f, "<g font-size=\"11\">\n"
		"<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"10\" fill=\"%s\"/>"
		"<text x=\"%d\" y=\"%d\">on the critical path to service back</text>\n"
		"<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"10\" fill=\"%s\"/>"
		"<text x=\"%d\" y=\"%d\">beside it (overlapping)</text>\n"
		"<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"10\" fill=\"%s\"/>"
		"<text x=\"%d\" y=\"%d\">after service back</text>\n</g>\n",
		SVG_X0, bottom + 30, fill[TL_CRITICAL], SVG_X0 + 16, bottom + 39,
		SVG_X0 + 250, bottom + 30, fill[TL_BESIDE], SVG_X0 + 266, bottom + 39,
		SVG_X0 + 430, bottom + 30, fill[TL_AFTER], SVG_X0 + 446, bottom + 39);
	fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#555\">"
		"time from the failure notice; the path: %.3f ms in phases, %.3f ms between them</text>\n",
		SVG_X0, bottom + 58, t->path_us / 1000.0, t->unmarked_us / 1000.0);
	fprintf(f, "</svg>\n");
	if (f != stdout && fclose(f)) {
		perror(path);
		return 1;
	}
	return 0;
}
