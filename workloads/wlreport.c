// SPDX-License-Identifier: GPL-2.0
/* wlreport: the self-checking workloads' common part (see wlreport.h). */
#define _GNU_SOURCE
#include "wlreport.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JUMP_NS 1500000000ULL
#define REPORT_NS 100000000ULL

static const char *prog = "workload", *role = "main";
static char status_path[4096];
static int has_status;
static uint64_t start_ns, end_ns, fault_ns, jump_ns, last_report, max_gap, final_iter;
static int fault_done;
static volatile sig_atomic_t stop_req;
static uint64_t iters, errors, min_part;
static int parts = 1, nthreads = 1;
static char last_error[160], extra[160];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread uint64_t last_now;

static uint64_t raw_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_req = 1;
}

/*
 * The process state a rescue must carry besides memory and registers, set
 * at start and checked at every status report: umask, an RLIMIT_NOFILE soft
 * limit of its own, the cwd, a SIGUSR1 handler with SA_ONSTACK and its mask,
 * the alternate signal stack (of the thread that set it), SIGUSR2 blocked in
 * every thread and pending for the process.
 */
static struct {
	struct rlimit nofile;
	char cwd[512];
	pid_t ss_tid;
	int on;
} pst;
static char altstack[65536];

static void on_usr1(int s)
{
	(void)s;
}

static void pstate_init(void)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_ONSTACK | SA_RESTART };
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	sigset_t set;

	umask(027);
	getrlimit(RLIMIT_NOFILE, &pst.nofile);
	pst.nofile.rlim_cur = pst.nofile.rlim_max < 777 ? pst.nofile.rlim_max : 777;
	setrlimit(RLIMIT_NOFILE, &pst.nofile);
	if (!getcwd(pst.cwd, sizeof(pst.cwd)))
		pst.cwd[0] = 0;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGHUP);
	sigaction(SIGUSR1, &sa, NULL);
	sigaltstack(&ss, NULL);
	pst.ss_tid = gettid();
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	kill(getpid(), SIGUSR2);
	pst.on = 1;
}

static void pstate_check(void)
{
	struct sigaction sa;
	struct rlimit r;
	sigset_t set;
	stack_t ss;
	char cwd[512];
	mode_t m;

	if (!pst.on)
		return;
	m = umask(027);
	umask(m);
	if (m != 027)
		wl_error("umask is %03o, want 027", m);
	if (getrlimit(RLIMIT_NOFILE, &r) || r.rlim_cur != pst.nofile.rlim_cur)
		wl_error("RLIMIT_NOFILE is %llu, want %llu", (unsigned long long)r.rlim_cur,
			 (unsigned long long)pst.nofile.rlim_cur);
	if (!getcwd(cwd, sizeof(cwd)) || strcmp(cwd, pst.cwd))
		wl_error("cwd is not %s", pst.cwd);
	if (sigaction(SIGUSR1, NULL, &sa) || sa.sa_handler != on_usr1 ||
	    !(sa.sa_flags & SA_ONSTACK) || !sigismember(&sa.sa_mask, SIGHUP))
		wl_error("the SIGUSR1 handler changed");
	if (sigprocmask(SIG_BLOCK, NULL, &set) || !sigismember(&set, SIGUSR2))
		wl_error("SIGUSR2 is no longer blocked");
	if (sigpending(&set) || !sigismember(&set, SIGUSR2))
		wl_error("SIGUSR2 is no longer pending");
	if (gettid() == pst.ss_tid &&
	    (sigaltstack(NULL, &ss) || ss.ss_sp != altstack || ss.ss_size != sizeof(altstack)))
		wl_error("the alternate signal stack changed");
}

void wl_init(const char *p, const char *r)
{
	struct sigaction sa = { .sa_handler = on_signal };
	const char *env = getenv("ORTHROS_WL_FAKE_CLOCK_JUMP");

	prog = p;
	role = r;
	start_ns = raw_now();
	if (env && atof(env) > 0)
		jump_ns = start_ns + (uint64_t)(atof(env) * 1e9);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	pstate_init();
}

const char *wl_usage(void)
{
	return "  --status FILE          status line (JSON) rewritten every ~100 ms\n"
	       "  --seconds S            stop after S seconds (default: until SIGTERM)\n"
	       "  --self-test-fault S    corrupt own state once after S s (must be reported)\n"
	       "  --fake-clock-jump S    after S s the clock steps back 1.5 s (must be reported)\n"
	       "  --hold-mb N            hold N MiB of anonymous memory, checked as it runs\n";
}

/*
 * --hold-mb N: N MiB of anonymous memory, every word a function of its
 * address, checked 1 MiB at a time at each status report (all of it every
 * N reports): what a rescue must carry page by page.
 */
static uint64_t *hold;
static size_t hold_words, hold_pos;

static uint64_t hold_val(size_t i)
{
	return (i * 0x9e3779b97f4a7c15ULL) ^ (uintptr_t)&hold[i];
}

static void hold_init(long mb)
{
	if (mb <= 0)
		return;
	hold_words = (size_t)mb << 17;
	hold = mmap(NULL, hold_words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hold == MAP_FAILED) {
		fprintf(stderr, "--hold-mb %ld: %s\n", mb, strerror(errno));
		exit(2);
	}
	for (size_t i = 0; i < hold_words; i++)
		hold[i] = hold_val(i);
}

static void hold_check(void)
{
	size_t end = hold_pos + (1 << 17);

	if (!hold)
		return;
	for (; hold_pos < end && hold_pos < hold_words; hold_pos++)
		if (hold[hold_pos] != hold_val(hold_pos)) {
			wl_error("held memory: word %zu is %#llx, want %#llx", hold_pos,
				 (unsigned long long)hold[hold_pos],
				 (unsigned long long)hold_val(hold_pos));
			hold[hold_pos] = hold_val(hold_pos);
		}
	if (hold_pos >= hold_words)
		hold_pos = 0;
}

int wl_option(int argc, char **argv, int *i)
{
	const char *o = argv[*i];

	if (strcmp(o, "--status") && strcmp(o, "--seconds") && strcmp(o, "--self-test-fault") &&
	    strcmp(o, "--fake-clock-jump") && strcmp(o, "--hold-mb"))
		return 0;
	if (*i + 1 >= argc)
		return -1;
	(*i)++;
	if (!strcmp(o, "--hold-mb")) {
		hold_init(atol(argv[*i]));
	} else if (!strcmp(o, "--status")) {
		snprintf(status_path, sizeof(status_path), "%s", argv[*i]);
		has_status = 1;
	} else {
		double s = atof(argv[*i]);
		uint64_t at = start_ns + (uint64_t)(s * 1e9);

		if (!strcmp(o, "--seconds"))
			end_ns = s > 0 ? at : 0;
		else if (!strcmp(o, "--self-test-fault"))
			fault_ns = at;
		else
			jump_ns = at;
	}
	return 1;
}

int wl_args(int argc, char **argv, int (*own)(const char *opt, const char *val),
	    void (*usage)(FILE *f))
{
	for (int i = 1; i < argc; i++) {
		int r = wl_option(argc, argv, &i);

		if (r > 0)
			continue;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			exit(0);
		}
		if (r < 0 || i + 1 >= argc || own(argv[i], argv[i + 1])) {
			usage(stderr);
			return 2;
		}
		i++;
	}
	return 0;
}

void wl_child(const char *r)
{
	if (has_status) {
		size_t n = strlen(status_path);

		snprintf(status_path + n, sizeof(status_path) - n, ".%s", r);
	}
	role = r;
	/* a child has no pending signals; its altstack is its own thread's */
	kill(getpid(), SIGUSR2);
	pst.ss_tid = gettid();
	pthread_mutex_lock(&lock);
	iters = errors = min_part = max_gap = last_report = 0;
	last_error[0] = 0;
	pthread_mutex_unlock(&lock);
}

uint64_t wl_now(void)
{
	uint64_t t = raw_now(), prev = last_now;

	if (jump_ns && t >= jump_ns)
		t -= JUMP_NS;
	if (t < prev)
		wl_error("monotonic went back by %llu ns (from %llu to %llu)",
			 (unsigned long long)(prev - t), (unsigned long long)prev,
			 (unsigned long long)t);
	last_now = t;
	return t;
}

void wl_error(const char *fmt, ...)
{
	char msg[sizeof(last_error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	uint64_t e;

	pthread_mutex_lock(&lock);
	e = ++errors;
	memcpy(last_error, msg, sizeof(msg));
	pthread_mutex_unlock(&lock);
	if (e > 100 && e % 1000)	/* a flood: every 1000th only */
		return;
	fprintf(stderr, "%s[%d] %s: ERROR at %.3f s: %s\n", prog, (int)getpid(), role,
		(double)(raw_now() - start_ns) / 1e9, msg);
}

void wl_iter(uint64_t n)
{
	__atomic_add_fetch(&iters, n, __ATOMIC_RELAXED);
}

void wl_parts(int p, uint64_t m)
{
	parts = p;
	__atomic_store_n(&min_part, m, __ATOMIC_RELAXED);
}

void wl_extra(const char *json_members)
{
	pthread_mutex_lock(&lock);
	snprintf(extra, sizeof(extra), "%s", json_members);
	pthread_mutex_unlock(&lock);
}

void wl_threads(int n)
{
	nthreads = n;
}

uint64_t wl_errors(void)
{
	return __atomic_load_n(&errors, __ATOMIC_RELAXED);
}

int wl_running(void)
{
	return !stop_req && !(end_ns && raw_now() >= end_ns);
}

void wl_stop(void)
{
	stop_req = 1;
}

int wl_fault_due(void)
{
	if (!fault_ns || fault_done || raw_now() < fault_ns)
		return 0;
	fault_done = 1;
	fprintf(stderr, "%s[%d] %s: injecting the self-test fault\n", prog, (int)getpid(), role);
	return 1;
}

void wl_sleep_ns(uint64_t ns)
{
	struct timespec t = { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };

	while (nanosleep(&t, &t) && errno == EINTR && !stop_req)
		;
}

static int proc_threads(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY), n = -1;
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r > 0) {
		char *p;

		buf[r] = 0;
		p = strstr(buf, "\nThreads:");
		if (p)
			n = atoi(p + 9);
	}
	return n;
}

/* JSON string body: quotes, backslashes and control characters escaped. */
static void json_str(char *out, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s && o + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = 0;
}

static void write_status(const char *state, uint64_t now)
{
	char line[1024], err[160], perr[sizeof(last_error)];
	char pextra[sizeof(extra) + 1];
	uint64_t it = __atomic_load_n(&iters, __ATOMIC_RELAXED), e, mp;
	int n, th = proc_threads(), fd;

	pthread_mutex_lock(&lock);
	e = errors;
	memcpy(perr, last_error, sizeof(perr));
	pextra[0] = 0;
	if (extra[0])
		snprintf(pextra, sizeof(pextra), ",%s", extra);
	pthread_mutex_unlock(&lock);
	json_str(err, sizeof(err), perr);
	mp = parts > 1 ? __atomic_load_n(&min_part, __ATOMIC_RELAXED) : it;
	n = snprintf(line, sizeof(line),
		     "{\"prog\":\"%s\",\"role\":\"%s\",\"pid\":%d,\"state\":\"%s\",\"iter\":%llu,"
		     "\"min_part_iter\":%llu,\"parts\":%d,\"errors\":%llu,\"last_error\":\"%s\","
		     "\"mono_ns\":%llu,\"max_gap_ns\":%llu,\"threads\":%d%s}",
		     prog, role, (int)getpid(), state, (unsigned long long)it,
		     (unsigned long long)mp, parts, (unsigned long long)e, err,
		     (unsigned long long)now, (unsigned long long)max_gap, th > 0 ? th : nthreads, pextra);
	if (n < 0 || n > WL_LINE - 1)
		n = WL_LINE - 1;	/* cannot happen: err is bounded */
	memset(line + n, ' ', (size_t)(WL_LINE - 1 - n));
	line[WL_LINE - 1] = '\n';
	final_iter = it;
	if (!has_status)
		return;
	fd = open(status_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || pwrite(fd, line, WL_LINE, 0) != WL_LINE) {
		static uint64_t warned;

		if (now - warned > 10000000000ULL || !warned) {
			fprintf(stderr, "%s[%d]: status %s: %s\n", prog, (int)getpid(), status_path,
				strerror(errno));
			warned = now;
		}
	}
	if (fd >= 0)
		close(fd);
}

void wl_report(void)
{
	uint64_t now = wl_now();

	if (last_report && now > last_report && now - last_report > max_gap)
		max_gap = now - last_report;
	if (last_report && now >= last_report && now - last_report < REPORT_NS)
		return;
	last_report = now;
	hold_check();
	pstate_check();
	write_status("running", now);
}

int wl_finish(void)
{
	uint64_t e = wl_errors(), now = wl_now();
	char perr[sizeof(last_error)];

	write_status(e ? "fail" : "pass", now);
	pthread_mutex_lock(&lock);
	memcpy(perr, last_error, sizeof(perr));
	pthread_mutex_unlock(&lock);
	if (e)
		printf("FAIL %s[%d] %s: %llu iterations, %llu errors, last: %s\n", prog, (int)getpid(),
		       role, (unsigned long long)final_iter, (unsigned long long)e, perr);
	else
		printf("PASS %s[%d] %s: %llu iterations, 0 errors\n", prog, (int)getpid(), role,
		       (unsigned long long)final_iter);
	fflush(stdout);
	return e ? 1 : 0;
}

uint64_t wl_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}
