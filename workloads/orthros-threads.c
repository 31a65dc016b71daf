// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-threads: a multithreaded process that checks its own memory.
 *
 *   orthros-threads [--threads N] [--pace-us U] [common options]
 *
 * N counter threads (default 8) each count in lockstep: a local on their own
 * stack, a __thread (TLS) copy and a slot in a MAP_SHARED|MAP_ANONYMOUS region
 * (seqlock, with a checksum), plus rings of derived words on the stack, in TLS
 * and on the heap; every step checks that the three counters agree and that the
 * ring word about to be overwritten still holds what was written there. A
 * checker thread reads every slot (checksum, never decreasing) and a constant
 * pattern page in the shared region. So that threads sit in system calls when
 * the kernel dies: a thread waits on a condition variable (futex) that the main
 * thread signals every 50 ms (generation numbers, checked), one sleeps in
 * nanosleep (30 ms; it must not return early), one blocks in read() on a pipe
 * that another thread feeds (sequence-numbered, checksummed messages). The main
 * thread also checks that the process still has all its threads.
 * --self-test-fault: counter thread 0 corrupts a word of its stack ring.
 */
#include "wlreport.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "splitmix.h"

#define MAXW 256
#define STACK_RING 32
#define TLS_RING 16
#define HEAP_RING 512
#define BATCH 1000
#define PATTERN_WORDS 512

struct slot {
	uint64_t seq;		/* seqlock: odd while being written */
	uint64_t count;
	uint64_t check;
	uint64_t progress;	/* the thread's completed batches/rounds, for min_part_iter */
	uint64_t pad[4];
};

struct shared {
	struct slot slot[MAXW];		/* counter threads */
	struct slot special[4];		/* checker, waiter, sleeper, reader */
	uint64_t gen, gen_check;	/* condition variable generation */
	uint64_t pattern[PATTERN_WORDS];
};

enum { SP_CHECKER, SP_WAITER, SP_SLEEPER, SP_READER, SP_N };

static struct shared *sh;
static int nworkers = 8;
static uint64_t pace_ns = 1000000;
static int fault_worker0;
static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gen_cond = PTHREAD_COND_INITIALIZER;
static int feed_pipe[2];

static __thread uint64_t tls_count;
static __thread uint64_t tls_ring[TLS_RING];

static uint64_t word(int k, int kind, uint64_t v)
{
	return mix(((uint64_t)k << 48) ^ ((uint64_t)kind << 44) ^ v);
}

static void slot_write(struct slot *s, uint64_t count, uint64_t check)
{
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&s->count, count, __ATOMIC_RELAXED);
	__atomic_store_n(&s->check, check, __ATOMIC_RELAXED);
	__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

static int slot_read(struct slot *s, uint64_t *count, uint64_t *check)
{
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t a = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE), b;

		if (a & 1)
			continue;
		*count = __atomic_load_n(&s->count, __ATOMIC_RELAXED);
		*check = __atomic_load_n(&s->check, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		b = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
		if (a == b)
			return 1;
	}
	return 0;
}

static void progress(struct slot *s)
{
	__atomic_add_fetch(&s->progress, 1, __ATOMIC_RELAXED);
}

static void *worker(void *arg)
{
	int k = (int)(intptr_t)arg;
	struct slot *s = &sh->slot[k];
	volatile uint64_t local;
	volatile uint64_t ring[STACK_RING];
	uint64_t *heap = malloc(HEAP_RING * sizeof(*heap)), v;

	if (!heap) {
		wl_error("thread %d: malloc: %s", k, strerror(errno));
		return NULL;
	}
	/* start at 1000 with the rings full of the last values */
	for (v = 1000 - HEAP_RING + 1; v <= 1000; v++) {
		ring[v % STACK_RING] = word(k, 1, v);
		tls_ring[v % TLS_RING] = word(k, 2, v);
		heap[v % HEAP_RING] = word(k, 3, v);
	}
	local = tls_count = 1000;
	slot_write(s, 1000, word(k, 0, 1000));
	for (;;) {
		for (int i = 0; i < BATCH; i++) {
			uint64_t c = local, n = c + 1, sc = __atomic_load_n(&s->count, __ATOMIC_RELAXED);

			if (tls_count != c || sc != c) {
				wl_error("thread %d: counters disagree: stack %llu, TLS %llu, shared %llu", k,
					 (unsigned long long)c, (unsigned long long)tls_count,
					 (unsigned long long)sc);
				tls_count = c;
			}
			if (ring[n % STACK_RING] != word(k, 1, n - STACK_RING))
				wl_error("thread %d: stack word %llu is %016llx, not %016llx", k,
					 (unsigned long long)(n % STACK_RING),
					 (unsigned long long)ring[n % STACK_RING],
					 (unsigned long long)word(k, 1, n - STACK_RING));
			if (tls_ring[n % TLS_RING] != word(k, 2, n - TLS_RING))
				wl_error("thread %d: TLS word %llu is %016llx, not %016llx", k,
					 (unsigned long long)(n % TLS_RING),
					 (unsigned long long)tls_ring[n % TLS_RING],
					 (unsigned long long)word(k, 2, n - TLS_RING));
			if (heap[n % HEAP_RING] != word(k, 3, n - HEAP_RING))
				wl_error("thread %d: heap word %llu is %016llx, not %016llx", k,
					 (unsigned long long)(n % HEAP_RING),
					 (unsigned long long)heap[n % HEAP_RING],
					 (unsigned long long)word(k, 3, n - HEAP_RING));
			ring[n % STACK_RING] = word(k, 1, n);
			tls_ring[n % TLS_RING] = word(k, 2, n);
			heap[n % HEAP_RING] = word(k, 3, n);
			local = n;
			tls_count = n;
			slot_write(s, n, word(k, 0, n));
		}
		wl_iter(BATCH);
		progress(s);
		if (k == 0 && __atomic_exchange_n(&fault_worker0, 0, __ATOMIC_RELAXED))
			ring[(local + 7) % STACK_RING] ^= 1;
		if (pace_ns)
			wl_sleep_ns(pace_ns);
	}
	return NULL;
}

static void *checker(void *arg)
{
	static uint64_t seen[MAXW];
	struct slot *me = &sh->special[SP_CHECKER];

	(void)arg;
	for (;;) {
		for (int k = 0; k < nworkers; k++) {
			uint64_t c, x;

			if (!slot_read(&sh->slot[k], &c, &x) || !c)
				continue;	/* being written or not started yet: next round */
			if (x != word(k, 0, c))
				wl_error("checker: thread %d's shared counter %llu has checksum %016llx, not %016llx",
					 k, (unsigned long long)c, (unsigned long long)x,
					 (unsigned long long)word(k, 0, c));
			else if (c < seen[k])
				wl_error("checker: thread %d's shared counter went back from %llu to %llu", k,
					 (unsigned long long)seen[k], (unsigned long long)c);
			seen[k] = c;
		}
		for (int i = 0; i < PATTERN_WORDS; i++)
			if (sh->pattern[i] != word(999, 4, (uint64_t)i)) {
				wl_error("checker: shared pattern word %d is %016llx, not %016llx", i,
					 (unsigned long long)sh->pattern[i],
					 (unsigned long long)word(999, 4, (uint64_t)i));
				sh->pattern[i] = word(999, 4, (uint64_t)i);
			}
		progress(me);
		wl_sleep_ns(10000000);
	}
	return NULL;
}

static void *waiter(void *arg)
{
	uint64_t seen = 0;

	(void)arg;
	for (;;) {
		uint64_t g, x;

		pthread_mutex_lock(&gen_lock);
		while (sh->gen == seen)
			pthread_cond_wait(&gen_cond, &gen_lock);	/* in futex() most of the time */
		g = sh->gen;
		x = sh->gen_check;
		pthread_mutex_unlock(&gen_lock);
		if (g < seen || x != word(998, 5, g))
			wl_error("waiter: generation %llu (had %llu), checksum %016llx, not %016llx",
				 (unsigned long long)g, (unsigned long long)seen, (unsigned long long)x,
				 (unsigned long long)word(998, 5, g));
		seen = g;
		progress(&sh->special[SP_WAITER]);
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	const uint64_t want = 30000000;

	(void)arg;
	for (;;) {
		int64_t t0 = (int64_t)wl_now(), el;
		struct timespec ts = { 0, (long)want }, rem;

		/* an interrupted nanosleep (e.g. EINTR after a restore) sleeps the rest */
		while (nanosleep(&ts, &rem) && errno == EINTR) {
			el = (int64_t)wl_now() - t0;
			if (el >= (int64_t)want)
				break;
			ts.tv_sec = 0;
			ts.tv_nsec = (long)((int64_t)want - el);
		}
		el = (int64_t)wl_now() - t0;
		if (el >= 0 && el < (int64_t)want)	/* el < 0: the clock, reported already */
			wl_error("sleeper: nanosleep(30 ms) returned after %lld ns", (long long)el);
		progress(&sh->special[SP_SLEEPER]);
	}
	return NULL;
}

struct msg {
	uint64_t seq, check;
};

static void *feeder(void *arg)
{
	(void)arg;
	for (uint64_t seq = 1;; seq++) {
		struct msg m = { seq, word(997, 6, seq) };

		if (write(feed_pipe[1], &m, sizeof(m)) != sizeof(m)) {
			if (errno == EINTR) {
				seq--;
				continue;
			}
			wl_error("feeder: write: %s", strerror(errno));
			return NULL;
		}
		wl_sleep_ns(20000000);
	}
}

static void *reader(void *arg)
{
	(void)arg;
	for (uint64_t want = 1;; want++) {
		struct msg m;
		size_t got = 0;

		while (got < sizeof(m)) {	/* in read() most of the time */
			ssize_t r = read(feed_pipe[0], (char *)&m + got, sizeof(m) - got);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				wl_error("reader: read: %s", r ? strerror(errno) : "end of file");
				return NULL;
			}
			got += (size_t)r;
		}
		if (m.seq != want || m.check != word(997, 6, m.seq)) {
			wl_error("reader: message %llu (checksum %016llx), expected %llu (%016llx)",
				 (unsigned long long)m.seq, (unsigned long long)m.check,
				 (unsigned long long)want, (unsigned long long)word(997, 6, want));
			want = m.seq;
		}
		progress(&sh->special[SP_READER]);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: orthros-threads [--threads N] [--pace-us U] [common options]\n"
		   "  --threads N            counter threads (default 8, 1..%d); 5 more threads\n"
		   "                         wait, sleep, feed, read and check\n"
		   "  --pace-us U            counter threads sleep U us every %d steps (default 1000)\n"
		   "%s", MAXW, BATCH, wl_usage());
}

static int own_option(const char *opt, const char *val)
{
	if (!strcmp(opt, "--threads"))
		nworkers = atoi(val);
	else if (!strcmp(opt, "--pace-us"))
		pace_ns = (uint64_t)atol(val) * 1000;
	else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	void *(*special[])(void *) = { checker, waiter, sleeper, feeder, reader };
	uint64_t next_gen = 0, next_count = 0;
	int expect;

	wl_init("orthros-threads", "main");
	if (wl_args(argc, argv, own_option, usage))
		return 2;
	if (nworkers < 1 || nworkers > MAXW) {
		usage(stderr);
		return 2;
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || pipe(feed_pipe)) {
		perror("orthros-threads");
		return 1;
	}
	for (int i = 0; i < PATTERN_WORDS; i++)
		sh->pattern[i] = word(999, 4, (uint64_t)i);
	sh->gen = 0;
	sh->gen_check = word(998, 5, 0);
	expect = nworkers + 5 + 1;
	wl_threads(expect);
	for (int i = 0; i < nworkers + 5; i++) {
		pthread_t t;
		int e = pthread_create(&t, NULL, i < nworkers ? worker : special[i - nworkers],
				       (void *)(intptr_t)i);

		if (e) {
			fprintf(stderr, "orthros-threads: pthread_create: %s\n", strerror(e));
			return 1;
		}
	}
	while (wl_running()) {
		uint64_t now = wl_now(), min = UINT64_MAX;

		if (now >= next_gen) {	/* wake the waiter */
			pthread_mutex_lock(&gen_lock);
			sh->gen++;
			sh->gen_check = word(998, 5, sh->gen);
			pthread_cond_broadcast(&gen_cond);
			pthread_mutex_unlock(&gen_lock);
			next_gen = now + 50000000;
		}
		if (wl_fault_due())
			fault_worker0 = 1;
		for (int k = 0; k < nworkers; k++)
			if (sh->slot[k].progress < min)
				min = sh->slot[k].progress;
		for (int k = 0; k < SP_N; k++)
			if (sh->special[k].progress < min)
				min = sh->special[k].progress;
		wl_parts(nworkers + SP_N, min);
		if (now >= next_count) {	/* the process still has all its threads */
			char buf[4096];
			FILE *f = fopen("/proc/self/status", "r");

			while (f && fgets(buf, sizeof(buf), f))
				if (!strncmp(buf, "Threads:", 8) && atoi(buf + 8) != expect)
					wl_error("the process has %d threads, not %d", atoi(buf + 8), expect);
			if (f)
				fclose(f);
			next_count = now + 1000000000;
		}
		wl_report();
		wl_sleep_ns(10000000);
	}
	return wl_finish();
}
