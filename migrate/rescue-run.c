// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-rescue failover: the rescue step of a takeover, run by the
 * failover script after the page-cache migration (the files are complete)
 * and before the service address comes up.  For every process the dead OS
 * registered: extract it and write its images (phase "extract"), then
 * restore them with criu (phase "restore").  Each process runs in its own
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
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmlib.h"
#include "rescue-run.h"

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

int cmd_failover(int argc, char **argv)
{
	struct orthros_rescued res[ORTHROS_MAX_RESCUED];
	struct orthros_shm_reg_entry e;
	struct orthros_failover_status fo;
	unsigned int nres = 0, i;
	const char *dir = RESCUE_DIR;
	char err[256], self[32];
	struct shm_map m;
	int fd, c;

	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'h':
			printf("usage: orthros-rescue failover [--dir DIR]\n"
			       "  During a takeover (run by /etc/orthros/failover): extract every process\n"
			       "  the dead OS registered and write its CRIU images under DIR (default\n"
			       "  " RESCUE_DIR "/PID), then restore them with criu; phases \"extract\"\n"
			       "  and \"restore\"; each outcome is reported to the kernel (orthros status).\n"
			       "  Exit: 0 every process restored, 1 some skipped, 2 usage or no takeover.\n");
			return 0;
		default:
			return 2;
		}
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
	if (shm_map(&m, 0, err, sizeof(err))) {
		fprintf(stderr, "orthros-rescue: %s\n", err);
		return 1;
	}
	memset(res, 0, sizeof(res));
	for (i = 0; i < ORTHROS_SHM_REG_SLOTS && nres < ORTHROS_MAX_RESCUED; i++) {
		int r = shm_reg_read(&m, i, &e);

		if (r < 0)
			fprintf(stderr, "orthros-rescue: registry slot %u does not check: skipped\n", i);
		if (r <= 0 || e.owner_ordinal != fo.failed_ordinal)
			continue;
		res[nres].pid = e.pid;
		res[nres].nr_procs = e.flags & ORTHROS_REG_TREE;	/* tree, until extracted */
		nres++;
	}
	shm_unmap(&m);
	mkdir("/run/orthros", 0755);
	mkdir(dir, 0700);
	printf("orthros-rescue: %u registered processes of OS %u\n", nres, fo.failed_ordinal);

	mark(fd, "extract", 0);
	for (i = 0; i < nres; i++) {
		char pid[16], out[4096], path[512], json[4096];
		char *av[] = { "orthros-rescue", "extract", "--pid", pid, "--out", path, "--json",
			       res[i].nr_procs ? "--tree" : NULL, NULL };
		uint64_t t0 = mono_us();

		snprintf(pid, sizeof(pid), "%u", res[i].pid);
		snprintf(path, sizeof(path), "%s/%u", dir, res[i].pid);
		res[i].nr_procs = 0;
		if (run(av, json, sizeof(json), err, sizeof(err))) {
			res[i].outcome = ORTHROS_RESCUE_SKIPPED;
			snprintf(res[i].why, sizeof(res[i].why), "%s", err[0] ? err : "extraction failed");
			continue;
		}
		res[i].extract_us = json_u64(json, "extract_us");
		res[i].images_us = mono_us() - t0 - res[i].extract_us;
		res[i].nr_threads = json_u64(json, "threads");
		res[i].bytes = json_u64(json, "bytes");
		{
			const char *p = strstr(json, "\"pids\": [");

			for (res[i].nr_procs = 1; p && *p && *p != ']'; p++)
				res[i].nr_procs += *p == ',';
		}
		(void)out;
	}
	mark(fd, "extract", 1);

	mark(fd, "restore", 0);
	for (i = 0; i < nres; i++) {
		char path[512], out[4096];
		char *av[] = { "orthros-rescue", "restore", "--dir", path, NULL };
		uint64_t t0;

		if (res[i].outcome == ORTHROS_RESCUE_SKIPPED)
			continue;
		snprintf(path, sizeof(path), "%s/%u", dir, res[i].pid);
		t0 = mono_us();
		if (run(av, out, sizeof(out), err, sizeof(err))) {
			res[i].outcome = ORTHROS_RESCUE_SKIPPED;
			snprintf(res[i].why, sizeof(res[i].why), "criu restore: %s", err);
		} else {
			res[i].outcome = ORTHROS_RESCUE_RESTORED;
		}
		res[i].restore_us = mono_us() - t0;
		ioctl(fd, ORTHROS_FAILOVER_RESCUED, &res[i]);
	}
	mark(fd, "restore", 1);
	for (i = 0; i < nres; i++)
		if (res[i].outcome == ORTHROS_RESCUE_SKIPPED && !res[i].restore_us)
			ioctl(fd, ORTHROS_FAILOVER_RESCUED, &res[i]);
	for (i = 0; i < nres; i++)
		printf("orthros-rescue: process %u %s%s%s\n", res[i].pid,
		       res[i].outcome == ORTHROS_RESCUE_RESTORED ? "restored" : "skipped",
		       res[i].why[0] ? ": " : "", res[i].why);
	close(fd);
	(void)self;
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
