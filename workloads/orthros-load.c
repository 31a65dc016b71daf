// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-load: keep this OS busy for a while: CPU spinners, timer-interrupt
 * sleepers, disk writers with fsync (each fsync an I/O interrupt or more).
 * Used to show that heavy load does not look like a failure, and as the
 * benchmark for the heartbeat's overhead (the spinners' loop counts).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int stop;
static atomic_ulong spins, wakeups, fsyncs;
static volatile unsigned long sink;	/* keeps the spinners' work from being optimised away */
static const char *dir;

static void *cpu(void *a)
{
	unsigned long n = 0, x = 1;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int i = 0; i < 100000; i++)
			x = x * 6364136223846793005UL + 1442695040888963407UL;
		n++;
	}
	sink = x;
	atomic_fetch_add(&spins, n);
	return a;
}

static void *timer(void *a)
{
	struct timespec ts = { 0, 1000000 };
	unsigned long n = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		nanosleep(&ts, NULL);
		n++;
	}
	atomic_fetch_add(&wakeups, n);
	return a;
}

static void *disk(void *a)
{
	static char buf[256 << 10];
	char path[512];
	unsigned long n = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/load.%ld", dir, (long)a);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "orthros-load: %s: %s\n", path, strerror(errno));
		return a;
	}
	memset(buf, 'd', sizeof(buf));
	for (int i = 0; !atomic_load_explicit(&stop, memory_order_relaxed); i++) {
		if (i % 32 == 0)
			lseek(fd, 0, SEEK_SET);
		if (write(fd, buf, sizeof(buf)) < 0 || fsync(fd) < 0)
			break;
		n++;
	}
	close(fd);
	unlink(path);
	atomic_fetch_add(&fsyncs, n);
	return a;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int ncpu = 0, ntimer = 0, ndisk = 0, json = 0, n = 0, memcpy_mb = 0;
	double seconds = 10, t0, next;
	pthread_t th[256];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: orthros-load [--cpu N] [--timers N] [--disk DIR --writers N]\n"
			       "                    [--seconds S] [--json]\n"
			       "       orthros-load --memcpy-mb N [--json]   this OS's memcpy rate\n"
			       "Load this OS for S seconds (default 10), printing progress every 10 s,\n"
			       "then the work done: spinner loops (of 100000 steps), timer wakeups,\n"
			       "fsynced 256 KiB writes.\nexit status: 0 ok, 2 usage error\n");
			return 0;
		}
		if (i + 1 >= argc && strcmp(argv[i], "--json")) {
			fprintf(stderr, "orthros-load: %s needs a value\n", argv[i]);
			return 2;
		}
		if (!strcmp(argv[i], "--cpu"))
			ncpu = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--timers"))
			ntimer = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--disk"))
			dir = argv[++i];
		else if (!strcmp(argv[i], "--writers"))
			ndisk = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--memcpy-mb"))
			memcpy_mb = atoi(argv[++i]);
		else {
			fprintf(stderr, "orthros-load: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (memcpy_mb > 0) {
		/*
		 * This OS's own copy rate: memcpy back and forth between two
		 * 16 MiB buffers, far larger than any cache (a backup that has
		 * not hot-added memory yet has about 110 MiB).
		 */
		size_t sz = 16 << 20;
		char *a = malloc(sz), *b = malloc(sz);
		double t;

		if (!a || !b) {
			fprintf(stderr, "orthros-load: no memory for two 16 MiB buffers\n");
			return 1;
		}
		memset(a, 1, sz);
		memset(b, 2, sz);
		t0 = now_s();
		for (int done = 0, i = 0; done < memcpy_mb; done += 16, i++)
			memcpy(i & 1 ? a : b, i & 1 ? b : a, sz);
		t = now_s() - t0;
		sink = (unsigned long)a[sz / 2] + (unsigned long)b[sz / 3];
		if (json)
			printf("{\"memcpy_mb\":%d,\"seconds\":%.3f,\"mb_per_s\":%.1f}\n", memcpy_mb, t,
			       memcpy_mb / t);
		else
			printf("memcpy: %d MiB in %.3f s, %.1f MiB/s\n", memcpy_mb, t, memcpy_mb / t);
		return 0;
	}
	if (dir && !ndisk)
		ndisk = 1;
	if (ncpu + ntimer + ndisk > 256 || ncpu < 0 || ntimer < 0 || ndisk < 0 ||
	    (ndisk && !dir)) {
		fprintf(stderr, "orthros-load: bad counts\n");
		return 2;
	}
	t0 = now_s();
	for (int i = 0; i < ncpu; i++)
		pthread_create(&th[n++], NULL, cpu, NULL);
	for (int i = 0; i < ntimer; i++)
		pthread_create(&th[n++], NULL, timer, NULL);
	for (long i = 0; i < ndisk; i++)
		pthread_create(&th[n++], NULL, disk, (void *)i);
	next = t0 + 10;
	while (now_s() - t0 < seconds) {
		struct timespec ts = { 0, 100000000 };

		nanosleep(&ts, NULL);
		if (!json && now_s() >= next) {
			fprintf(stderr, "orthros-load: %.0f s of %.0f\n", now_s() - t0, seconds);
			next += 10;
		}
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	if (json)
		printf("{\"seconds\":%.3f,\"spins\":%lu,\"wakeups\":%lu,\"fsyncs\":%lu}\n",
		       now_s() - t0, atomic_load(&spins), atomic_load(&wakeups), atomic_load(&fsyncs));
	else
		printf("%.1f s: %lu spinner loops, %lu timer wakeups, %lu fsynced writes\n",
		       now_s() - t0, atomic_load(&spins), atomic_load(&wakeups), atomic_load(&fsyncs));
	return 0;
}
