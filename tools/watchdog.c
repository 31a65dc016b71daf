// SPDX-License-Identifier: GPL-2.0
/*
 * orthros watchdog --interval MS [--misses K] [--timeout S] -- CHECK...
 *
 * This OS's user-space watchdog (docs/liveness.md): CHECK runs every MS
 * (no shell: give `sh -c '...'` for one); each time it exits 0 within S
 * seconds the kernel counts a beat in this OS's heartbeat line, which the
 * peer reads.  K periods without a beat and the peer declares this OS failed
 * ("user-space watchdog: ..."), as for missed heartbeats.  A kernel that
 * still beats but no longer serves (its service hangs, its processes are
 * stuck in the kernel) is caught this way.  SIGTERM or SIGINT stops the
 * watchdog and unregisters it; so does its death (the kernel drops the
 * registration when the device is closed).
 */
#include "watchdog.h"
#include "orthros_shm_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* Run argv once; its exit status, 124 if it took longer than timeout_ms. */
static int run_check(char **argv, unsigned int timeout_ms)
{
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return 126;
	if (!pid) {
		execvp(argv[0], argv);
		_exit(127);
	}
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0 && errno != EINTR)
			return 126;
		if (now_ns() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return 124;
		}
		usleep(2000);
	}
}

int watchdog_cmd(int argc, char **argv)
{
	struct orthros_hb_watchdog w = { .misses = 5 };
	unsigned long interval = 0, misses = 5, timeout_s = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t next, beats = 0, fails = 0;
	int i, fd, last = -1;
	size_t off = 0;
	char *end;

	for (i = 0; i < argc && strcmp(argv[i], "--"); i++) {
		unsigned long *v = !strcmp(argv[i], "--interval") ? &interval :
			!strcmp(argv[i], "--misses") ? &misses :
			!strcmp(argv[i], "--timeout") ? &timeout_s : NULL;

		if (!v || i + 1 >= argc) {
			fprintf(stderr, "orthros watchdog: unknown option '%s'\n", argv[i]);
			return 2;
		}
		errno = 0;
		*v = strtoul(argv[++i], &end, 10);
		if (errno || *end || !*argv[i]) {
			fprintf(stderr, "orthros watchdog: %s wants a number, not '%s'\n",
				argv[i - 1], argv[i]);
			return 2;
		}
	}
	if (i + 1 >= argc || !interval) {
		fprintf(stderr, "orthros watchdog: want --interval MS and -- CHECK...\n");
		return 2;
	}
	if (interval < 10 || interval > 600000 || !misses || misses > 1000) {
		fprintf(stderr, "orthros watchdog: --interval must be 10-600000 ms and --misses 1-1000\n");
		return 2;
	}
	argv += i + 1;
	argc -= i + 1;
	if (!timeout_s)
		timeout_s = interval / 1000 + 1;
	w.period_ms = (uint32_t)interval;
	w.misses = (uint32_t)misses;
	for (i = 0; i < argc && off + 1 < sizeof(w.check); i++)
		off += (size_t)snprintf(w.check + off, sizeof(w.check) - off, "%s%s",
					i ? " " : "", argv[i]);

	fd = open(ORTHROS_HB_DEVICE, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "orthros watchdog: %s: %s\n", ORTHROS_HB_DEVICE, strerror(errno));
		return 1;
	}
	if (ioctl(fd, ORTHROS_HB_WATCHDOG, &w)) {
		fprintf(stderr, "orthros watchdog: cannot register: %s\n",
			errno == EBUSY ? "another watchdog runs on this OS" :
			errno == ENODEV ? "no shared memory (not an Orthros OS?)" : strerror(errno));
		return 1;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("orthros watchdog: '%s' every %lu ms (timeout %lu s); %lu missed periods fail this OS over\n",
	       w.check, interval, timeout_s, misses);
	fflush(stdout);
	next = now_ns();
	while (!stop) {
		int rc = run_check(argv, (unsigned int)(timeout_s * 1000));
		struct timespec ts;

		if (!rc) {
			if (ioctl(fd, ORTHROS_HB_WATCHDOG_BEAT) && errno != EINTR) {
				fprintf(stderr, "orthros watchdog: beat: %s\n", strerror(errno));
				break;
			}
			beats++;
		} else {
			fails++;
		}
		if ((rc == 0) != (last == 0)) {
			printf("orthros watchdog: check %s (exit %d); %llu beats, %llu failed checks\n",
			       rc ? "failed" : "passes", rc, (unsigned long long)beats,
			       (unsigned long long)fails);
			fflush(stdout);
		}
		last = rc;
		next += (uint64_t)interval * 1000000ULL;
		if (next < now_ns())
			next = now_ns();
		ts.tv_sec = (time_t)(next / 1000000000ULL);
		ts.tv_nsec = (long)(next % 1000000000ULL);
		while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
	w.period_ms = 0;
	ioctl(fd, ORTHROS_HB_WATCHDOG, &w);
	close(fd);
	printf("orthros watchdog: stopped; %llu beats, %llu failed checks\n",
	       (unsigned long long)beats, (unsigned long long)fails);
	return stop ? 0 : 1;
}
