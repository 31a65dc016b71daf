// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-rescue failover: the rescue step of a takeover, run by the
 * failover script after the page-cache migration (the files are complete)
 * and before the service address comes up.  For every process the dead OS
 * registered: extract its records (stage and phase "extract"); then, once
 * the script has hot-added the dead memory with the pages the records name
 * held back, write its images, giving those pages back as they are copied,
 * and restore them with criu (stage and phase "restore").  Each process runs in its own
 * child (`orthros-rescue extract`, `orthros-rescue restore`), so that one
 * that does not check costs that process only; its outcome and times go to
 * the kernel's failover record (orthros status: failover.processes).
 *
 * orthros-rescue export DIR: copy the images kept under the rescue folder.
 */
/* messages are cut to the size of the kernel record on purpose */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmlib.h"
#include "rescue-run.h"
#include "kernel/orthros_rescue_abi.h"

#define RESCUE_DIR	"/run/orthros/rescue"

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
}

/* Run argv; its stdout into out (len), its last stderr line into err. */
static int run(char *const argv[], char *out, size_t len, char *err, size_t errlen)
{
	int po[2], pe[2], status;
	size_t n = 0, m = 0;
	char ebuf[4096];
	pid_t pid;

	if (pipe(po) || pipe(pe))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	for (;;) {
		ssize_t r = read(po[0], out + n, n + 1 < len ? len - n - 1 : 0);

		if (r <= 0)
			break;
		n += r;
	}
	for (;;) {
		ssize_t r = read(pe[0], ebuf + m, m + 1 < sizeof(ebuf) ? sizeof(ebuf) - m - 1 : 0);

		if (r <= 0)
			break;
		m += r;
		fwrite(ebuf + m - r, 1, r, stderr);	/* progress stays visible */
	}
	out[n] = 0;
	ebuf[m] = 0;
	close(po[0]);
	close(pe[0]);
	while (m && ebuf[m - 1] == '\n')
		ebuf[--m] = 0;
	{
		char *last = strrchr(ebuf, '\n');

		snprintf(err, errlen, "%s", last ? last + 1 : ebuf);
		if (!strncmp(err, "orthros-rescue: ", 16))
			memmove(err, err + 16, strlen(err + 16) + 1);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static uint64_t json_u64(const char *j, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(j, k);
	return p ? strtoull(p + strlen(k), NULL, 10) : 0;
}

static int mark(int fd, const char *name, unsigned int end)
{
	struct orthros_failover_mark m = { .end = end };

	snprintf(m.name, sizeof(m.name), "%s", name);
	return ioctl(fd, ORTHROS_FAILOVER_MARK, &m);
}

/* Where the extract stage leaves the outcomes for the restore stage. */
#define STATE_FILE	"failover.state"

static int save_state(const char *dir, const struct orthros_rescued *res, unsigned int n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/" STATE_FILE, dir);
	f = fopen(path, "w");
	if (!f || fwrite(&n, sizeof(n), 1, f) != 1 ||
	    fwrite(res, sizeof(*res), n, f) != n || fclose(f)) {
		fprintf(stderr, "orthros-rescue: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int load_state(const char *dir, struct orthros_rescued *res, unsigned int *n)
{
	char path[512];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/" STATE_FILE, dir);
	f = fopen(path, "r");
	ok = f && fread(n, sizeof(*n), 1, f) == 1 && *n <= ORTHROS_MAX_RESCUED &&
	     fread(res, sizeof(*res), *n, f) == *n;
	if (f)
		fclose(f);
	if (!ok)
		fprintf(stderr, "orthros-rescue: %s: no extract stage to go on from\n", path);
	return ok ? 0 : -1;
}

/* Stage extract: the records of every process the dead OS registered. */
static unsigned int stage_extract(int fd, const char *dir, uint32_t dead, struct orthros_rescued *res)
{
	struct orthros_shm_reg_entry e;
	unsigned int nres = 0, i;
	char err[256];
	struct shm_map m;

	if (shm_map(&m, 0, err, sizeof(err))) {
		fprintf(stderr, "orthros-rescue: %s\n", err);
		return 0;
	}
	for (i = 0; i < ORTHROS_SHM_REG_SLOTS && nres < ORTHROS_MAX_RESCUED; i++) {
		int r = shm_reg_read(&m, i, &e);

		if (r < 0)
			fprintf(stderr, "orthros-rescue: registry slot %u does not check: skipped\n", i);
		if (r <= 0 || e.owner_ordinal != dead)
			continue;
		res[nres].pid = e.pid;
		res[nres].nr_procs = e.flags & ORTHROS_REG_TREE;	/* tree, until extracted */
		nres++;
	}
	shm_unmap(&m);
	printf("orthros-rescue: %u registered processes of OS %u\n", nres, dead);
	mark(fd, "extract", 0);
	for (i = 0; i < nres; i++) {
		char pid[16], path[512], json[4096];
		char *av[] = { "orthros-rescue", "extract", "--pid", pid, "--out", path, "--json",
			       "--records-only", res[i].nr_procs ? "--tree" : NULL, NULL };

		snprintf(pid, sizeof(pid), "%u", res[i].pid);
		snprintf(path, sizeof(path), "%s/%u", dir, res[i].pid);
		res[i].nr_procs = 0;
		if (run(av, json, sizeof(json), err, sizeof(err))) {
			res[i].outcome = ORTHROS_RESCUE_SKIPPED;
			snprintf(res[i].why, sizeof(res[i].why), "%s", err[0] ? err : "extraction failed");
			continue;
		}
		res[i].extract_us = json_u64(json, "extract_us");
	}
	mark(fd, "extract", 1);
	return nres;
}

#define MAX_CONT	1024	/* processes of all trees continued at the end */

/*
 * The processes of a tree, from the "pids" array of `orthros-rescue write
 * --json` ("[1, 2, 3]"): how many it names (at least 1), appended to
 * cont[*n] when the array is whole and fits in MAX_CONT in all; *whole says
 * whether it was (else cont is as it was).
 */
static unsigned int tree_pids(const char *json, pid_t *cont, unsigned int *n, bool *whole)
{
	const char *p = strstr(json, "\"pids\": [");
	unsigned int first = *n, found = 0;
	char *end;
	long v;

	*whole = p != NULL;
	for (p = p ? p + 9 : ""; *p && *p != ']'; p = end) {
		v = strtol(p, &end, 10);
		if (end == p) {
			end = (char *)p + 1;
			continue;
		}
		found++;
		if (v <= 0 || v > INT32_MAX || (*end != ',' && *end != ']') || *n >= MAX_CONT)
			*whole = false;
		else if (*whole)
			cont[(*n)++] = (pid_t)v;
	}
	if (*p != ']' || !found)
		*whole = false;
	if (!*whole)
		*n = first;
	return found ? found : 1;
}

/*
 * The dead OS's cores (phase "cpus") began coming online at the takeover,
 * beside the devices, the file system and the network: criu restores with
 * them, so wait until the phase has ended (at most 30 s; none open: at once).
 */
static void wait_cores(int fd)
{
	static struct orthros_failover_status fo;
	unsigned int i, tries;
	bool open = true;

	for (tries = 0; tries < 3000 && open; tries++) {
		if (tries)
			usleep(10000);
		if (ioctl(fd, ORTHROS_FAILOVER_STATUS, &fo))
			return;
		open = false;
		for (i = 0; i < fo.nr_phases && i < ORTHROS_MAX_PHASES; i++)
			if (!strncmp(fo.phases[i].name, "cpus", sizeof(fo.phases[i].name)) &&
			    fo.phases[i].duration_us == ~0ULL)
				open = true;
	}
	if (open)
		fprintf(stderr, "orthros-rescue: the dead OS's cores are still coming online after 30 s: restoring without waiting for them\n");
}

/*
 * Stage restore: the images of each extracted process (its dead pages given
 * back as they are written), then criu restore, each tree left stopped;
 * then every restored process continues at once, and every outcome goes to
 * the kernel.  A tree continued at once would compete for the cores with the
 * restores after it (measured: criu's start alone took 0.07 s on an idle
 * new active and 0.6-1.0 s beside the standard workloads restored before it;
 * their four restores took 226, 297, 466 and 781 ms in that order).
 */
static void stage_restore(int fd, const char *dir, struct orthros_rescued *res, unsigned int nres)
{
	struct orthros_rescue_release rel = { .flags = ORTHROS_RX_RELEASE_ALL };
	static pid_t cont[MAX_CONT];
	unsigned int i, ncont = 0;
	char err[256];
	int rfd;

	wait_cores(fd);
	mark(fd, "restore", 0);
	for (i = 0; i < nres; i++) {
		static char json[65536];
		char path[512], rec[600], out[4096];
		char *wav[] = { "orthros-rescue", "write", "--records", rec, "--out", path, "--json",
				"--release", NULL };
		char *rav[] = { "orthros-rescue", "restore", "--dir", path, "--stopped", NULL };
		unsigned int first = ncont;
		bool whole;
		uint64_t t0 = mono_us();

		if (res[i].outcome == ORTHROS_RESCUE_SKIPPED)
			continue;
		snprintf(path, sizeof(path), "%s/%u", dir, res[i].pid);
		snprintf(rec, sizeof(rec), "%s/records.bin", path);
		if (run(wav, json, sizeof(json), err, sizeof(err))) {
			res[i].outcome = ORTHROS_RESCUE_SKIPPED;
			snprintf(res[i].why, sizeof(res[i].why), "images: %s", err);
			ioctl(fd, ORTHROS_FAILOVER_RESCUED, &res[i]);
			continue;
		}
		res[i].images_us = mono_us() - t0;
		res[i].nr_threads = json_u64(json, "threads");
		res[i].bytes = json_u64(json, "bytes");
		res[i].nr_procs = tree_pids(json, cont, &ncont, &whole);
		if (!whole) {
			/* its processes cannot all be named: it continues at once */
			fprintf(stderr, "orthros-rescue: pid %u: its tree's pids do not fit: it runs as soon as it is restored\n",
				res[i].pid);
			rav[4] = NULL;
		}
		t0 = mono_us();
		if (run(rav, out, sizeof(out), err, sizeof(err))) {
			res[i].outcome = ORTHROS_RESCUE_SKIPPED;
			snprintf(res[i].why, sizeof(res[i].why), "criu restore: %s", err);
			ncont = first;	/* criu killed what it had restored of the tree */
		} else {
			res[i].outcome = ORTHROS_RESCUE_RESTORED;
		}
		res[i].restore_us = mono_us() - t0;
		if (res[i].outcome == ORTHROS_RESCUE_SKIPPED)
			ioctl(fd, ORTHROS_FAILOVER_RESCUED, &res[i]);
	}
	/* every restored process runs again (the kernel notes when: running_us) */
	for (i = 0; i < ncont; i++)
		if (kill(cont[i], SIGCONT))
			fprintf(stderr, "orthros-rescue: pid %d: SIGCONT: %s\n", (int)cont[i],
				strerror(errno));
	for (i = 0; i < nres; i++)
		if (res[i].outcome == ORTHROS_RESCUE_RESTORED)
			ioctl(fd, ORTHROS_FAILOVER_RESCUED, &res[i]);
	/* what is still held (pages named twice, skipped processes) goes back now */
	rfd = open(ORTHROS_RESCUE_DEVICE, O_RDONLY);
	if (rfd < 0 || ioctl(rfd, ORTHROS_RESCUE_RELEASE, &rel))
		fprintf(stderr, "orthros-rescue: giving back the held pages: %s\n", strerror(errno));
	else if (rel.freed)
		printf("orthros-rescue: %llu dead pages held for the rescue, all given back\n",
		       (unsigned long long)rel.freed);
	if (rfd >= 0)
		close(rfd);
	mark(fd, "restore", 1);
	for (i = 0; i < nres; i++)
		if (res[i].outcome == ORTHROS_RESCUE_SKIPPED && !res[i].restore_us &&
		    !res[i].images_us)
			ioctl(fd, ORTHROS_FAILOVER_RESCUED, &res[i]);
}

int cmd_failover(int argc, char **argv)
{
	struct orthros_rescued res[ORTHROS_MAX_RESCUED];
	struct orthros_failover_status fo;
	const char *dir = RESCUE_DIR, *stage = "all";
	unsigned int nres = 0, i;
	int fd, c;

	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "stage", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 's': stage = optarg; break;
		case 'h':
			printf("usage: orthros-rescue failover [--dir DIR] [--stage extract|restore|all]\n"
			       "  During a takeover (run by /etc/orthros/failover): extract every process\n"
			       "  the dead OS registered (stage extract, phase \"extract\": the records,\n"
			       "  which name the dead pages to keep), then write its CRIU images under DIR\n"
			       "  (default " RESCUE_DIR "/PID), giving each dead page back once written,\n"
			       "  and restore them with criu (stage restore, phase \"restore\"). The failover\n"
			       "  script hot-adds the dead memory between the two stages; each outcome is\n"
			       "  reported to the kernel (orthros status).\n"
			       "  Exit: 0 every process restored, 1 some skipped, 2 usage or no takeover.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (strcmp(stage, "extract") && strcmp(stage, "restore") && strcmp(stage, "all")) {
		fprintf(stderr, "orthros-rescue failover: bad stage '%s' (extract, restore or all)\n",
			stage);
		return 2;
	}
	fd = open(ORTHROS_FAILOVER_DEVICE, O_RDONLY);
	if (fd < 0 || ioctl(fd, ORTHROS_FAILOVER_STATUS, &fo) || fo.state != ORTHROS_FO_RUNNING) {
		fprintf(stderr, "orthros-rescue: no takeover runs here\n");
		return 2;
	}
	if (fo.rescue_off) {
		printf("orthros-rescue: process rescue is off (orthros_rescue=off)\n");
		return 0;
	}
	memset(res, 0, sizeof(res));
	mkdir("/run/orthros", 0755);
	mkdir(dir, 0700);
	if (strcmp(stage, "restore")) {
		nres = stage_extract(fd, dir, fo.failed_ordinal, res);
		if (!strcmp(stage, "extract")) {
			close(fd);
			return save_state(dir, res, nres) ? 1 : 0;
		}
	} else if (load_state(dir, res, &nres)) {
		close(fd);
		return 1;
	}
	stage_restore(fd, dir, res, nres);
	for (i = 0; i < nres; i++)
		printf("orthros-rescue: process %u %s%s%s\n", res[i].pid,
		       res[i].outcome == ORTHROS_RESCUE_RESTORED ? "restored" : "skipped",
		       res[i].why[0] ? ": " : "", res[i].why);
	close(fd);
	for (i = 0; i < nres; i++)
		if (res[i].outcome != ORTHROS_RESCUE_RESTORED)
			return 1;
	return 0;
}

int cmd_export(int argc, char **argv)
{
	char cmd[1024];

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(argc == 2 && !strcmp(argv[1], "--help") ? stdout : stderr,
			"usage: orthros-rescue export DIR\n"
			"  Copy the CRIU image sets of the rescued processes (" RESCUE_DIR "/PID)\n"
			"  into DIR/PID, for `crit decode` or `criu restore` elsewhere.\n");
		return argc == 2 && !strcmp(argv[1], "--help") ? 0 : 2;
	}
	if (access(RESCUE_DIR, R_OK)) {
		fprintf(stderr, "orthros-rescue: nothing was rescued here (%s: %s)\n", RESCUE_DIR,
			strerror(errno));
		return 1;
	}
	if (mkdir(argv[1], 0700) && errno != EEXIST) {
		fprintf(stderr, "orthros-rescue: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	snprintf(cmd, sizeof(cmd), "cp -a " RESCUE_DIR "/. '%s'/", argv[1]);
	return system(cmd) ? 1 : 0;
}
