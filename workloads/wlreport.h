/* SPDX-License-Identifier: GPL-2.0 */
/*
 * wlreport: what the self-checking workloads (orthros-filecheck, -threads,
 * -pipes, -fpu) share: the common options, the checked monotonic clock, error
 * counting and the status line.
 *
 * Common options (wl_option()):
 *   --status FILE           every ~100 ms (CLOCK_MONOTONIC) overwrite FILE at
 *                           offset 0 with one fixed-width line of JSON (WL_LINE
 *                           bytes with the '\n'); the file is opened for each
 *                           write, so the process holds no fd to it
 *   --seconds S             stop after S seconds (default: until SIGTERM/SIGINT)
 *   --self-test-fault S     after S seconds, corrupt the program's own state once
 *                           (each program says what); it must report an error
 *   --hold-mb N             hold N MiB of anonymous memory, each word a function
 *                           of its address, checked 1 MiB per status report
 *   --fake-clock-jump S     after S seconds, the clock this library returns steps
 *                           back by 1.5 s (also env ORTHROS_WL_FAKE_CLOCK_JUMP=S);
 *                           must be reported as "monotonic went back by ..."
 *
 * Every program also sets, at wl_init(), and checks at every status report
 * the process state a rescue must carry: umask 027, an RLIMIT_NOFILE soft
 * limit of 777, its cwd, a SIGUSR1 handler (SA_ONSTACK, mask SIGHUP), an
 * alternate signal stack, SIGUSR2 blocked and pending.
 *
 * The status line (padded with spaces to WL_LINE-1 bytes, then '\n'):
 *   {"prog":"orthros-threads","role":"main","pid":123,"state":"running",
 *    "iter":N,"min_part_iter":M,"parts":P,"errors":E,"last_error":"...",
 *    "mono_ns":T,"max_gap_ns":G,"threads":H}
 * state: running, then pass or fail (the final line). iter: the program's
 * progress count; min_part_iter: the least progress of its parts (each thread,
 * each stream direction, ...), so that a part that stopped can be seen;
 * max_gap_ns: the longest time between two status updates (a pause shows here);
 * threads: the process's threads (/proc/self/status, else the program's count);
 * then the program's own members (wl_extra()), if any. Messages on stderr are
 * cut to every 1000th after the first 100 errors.
 */
#ifndef WLREPORT_H
#define WLREPORT_H

#include <stdint.h>
#include <stdio.h>

#define WL_LINE 640

/* Set the program name and role ("main", "child", ...); install SIGTERM/SIGINT. */
void wl_init(const char *prog, const char *role);
/*
 * If argv[*i] is a common option, take it (and its value), advance *i past
 * the value and return 1; 0 if it is not one of them; -1 if its value is missing.
 */
int wl_option(int argc, char **argv, int *i);
/*
 * All of argv: the common options, --help/-h (usage to stdout, exit 0), and the
 * program's own options, each with one value: own(option, value) returns 0 if
 * it took them. Returns 0, or 2 (usage printed to stderr) on a usage error.
 */
int wl_args(int argc, char **argv, int (*own)(const char *opt, const char *val),
	    void (*usage)(FILE *f));
/* The usage lines of the common options. */
const char *wl_usage(void);
/* After fork(), in the child: a new role; status to FILE.ROLE; counts restart. */
void wl_child(const char *role);

/* CLOCK_MONOTONIC in ns; an error if it is below this thread's last reading. */
uint64_t wl_now(void);
/* Count an error, keep it as last_error, print it to stderr. Thread-safe. */
void wl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void wl_iter(uint64_t n);
void wl_parts(int parts, uint64_t min_part_iter);
void wl_threads(int n);
/* More members for the status line, e.g. "\"unread\":123" (at most 159 chars). */
void wl_extra(const char *json_members);
uint64_t wl_errors(void);

/* 1 while the program should go on (no SIGTERM/SIGINT, --seconds not over). */
int wl_running(void);
/* Ask to stop (e.g. the peer process is gone). */
void wl_stop(void);
/* Write the status line if 100 ms have passed since the last one. Call often. */
void wl_report(void);
/* Write the final status, print "PASS ..." or "FAIL ...", return the exit code. */
int wl_finish(void);
/* 1 once, when --self-test-fault's time has come. */
int wl_fault_due(void);
/* Sleep ns (restarted after EINTR, pause-tolerant). */
void wl_sleep_ns(uint64_t ns);
/* A 64-bit mixing function (splitmix64's finalizer): the workloads' data patterns. */
uint64_t wl_mix(uint64_t x);

#endif
