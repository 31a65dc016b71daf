// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-protect: register processes for rescue by the backup OS
 * (/dev/orthros-protect), remove them, list the registry (/dev/orthros-shm).
 * See migrate/README.md.
 */
#include "shmlib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: orthros-protect [--force] [--tree] PID...\n"
		"       orthros-protect [--force] [--tree] -- CMD [ARG...]\n"
		"       orthros-protect --remove PID...\n"
		"       orthros-protect --list [--json]\n"
		"\n"
		"Register processes (all their threads) in the shared memory's registry,\n"
		"so that the backup OS takes them over when this OS fails.  The kernel\n"
		"checks each: it exists, is a user process, not PID 1, not a zombie, you\n"
		"may ptrace it, it is not registered yet, the registry has room, a backup\n"
		"watches this OS and the backup's memory can take it with the processes\n"
		"already registered.  A refused process is not registered, and the\n"
		"reason is printed.\n"
		"\n"
		"  --tree         also its descendants, those forked later too\n"
		"  --force        register even with no backup watching this OS\n"
		"  -- CMD ARG...  register this process, then exec CMD: CMD runs protected\n"
		"                 with this PID (the registration is refused: CMD does not run)\n"
		"  --remove PID   unregister (the uid that registered it, or root)\n"
		"  --list         the registry: PID, command, owner OS, flags and state\n"
		"                 (running here, exited, or other-os: owned by another OS)\n"
		"  --json         the list as JSON: {\"protected\": [...], ...}\n"
		"\n"
		"Entries of exited processes are pruned by every add, remove and list.\n"
		"exit status: 0 ok, 1 refused (or failed), 2 usage error\n");
}

static const char *errno_name(int e)
{
	switch (e) {
	case ESRCH: return "ESRCH";
	case EINVAL: return "EINVAL";
	case EPERM: return "EPERM";
	case ENOSPC: return "ENOSPC";
	case EEXIST: return "EEXIST";
	case ENOLINK: return "ENOLINK";
	case E2BIG: return "E2BIG";
	case ENODEV: return "ENODEV";
	case EAGAIN: return "EAGAIN";
	default: return "error";
	}
}

static int open_dev(void)
{
	int fd = open(ORTHROS_PROTECT_DEVICE, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fprintf(stderr, "orthros-protect: %s: %s%s\n", ORTHROS_PROTECT_DEVICE, strerror(errno),
			errno == ENOENT ? " (this OS has no shared memory)" : "");
	return fd;
}

/* ADD or REMOVE one PID: 0, or 1 with the reason on stderr. */
static int request(int fd, unsigned long cmd, unsigned int pid, unsigned int flags, int quiet)
{
	struct orthros_protect_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.pid = pid;
	rq.flags = flags;
	if (!ioctl(fd, cmd, &rq)) {
		if (!quiet)
			printf("PID %u %s (slot %u)\n", pid,
			       cmd == ORTHROS_PROTECT_ADD ? "protected" : "removed", rq.slot);
		return 0;
	}
	rq.why[sizeof(rq.why) - 1] = '\0';
	fprintf(stderr, "orthros-protect: PID %u: %s: %s (%s)\n", pid,
		cmd == ORTHROS_PROTECT_ADD ? "refused" : "not removed",
		rq.why[0] ? rq.why : strerror(errno), errno_name(errno));
	return 1;
}

static int parse_pid(const char *s, unsigned int *pid)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 0x7fffffffUL || *s == '-') {
		fprintf(stderr, "orthros-protect: not a PID: %s\n", s);
		return -1;
	}
	*pid = (unsigned int)v;
	return 0;
}

static int list(int json)
{
	struct shm_map m;
	unsigned int backup;
	uint64_t cap;
	char err[256];
	int fd = open(ORTHROS_PROTECT_DEVICE, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {		/* REMOVE of PID 0: prune the exited, remove nothing */
		struct orthros_protect_req rq;

		memset(&rq, 0, sizeof(rq));
		(void)ioctl(fd, ORTHROS_PROTECT_REMOVE, &rq);
		close(fd);
	}
	if (shm_map(&m, 0, err, sizeof(err))) {
		fprintf(stderr, "orthros-protect: %s\n", err);
		return 1;
	}
	if (shm_check(&m, err, sizeof(err))) {
		fprintf(stderr, "orthros-protect: the shared memory is not valid: %s\n", err);
		shm_unmap(&m);
		return 1;
	}
	cap = shm_rescue_capacity(&m, &backup);
	if (json) {
		printf("{\"protected\":");
		shm_reg_print(stdout, &m, 1);
		printf(",\"backup\":%u,\"rescue_capacity\":%llu}\n", backup, (unsigned long long)cap);
	} else {
		if (!backup)
			printf("protected processes (no backup):\n");
		else if (cap > 1)
			printf("protected processes (backup OS %u can take %llu KiB):\n", backup,
			       (unsigned long long)cap >> 10);
		else
			printf("protected processes (backup OS %u can take %s):\n", backup,
			       cap ? "nothing" : "? (not published yet)");
		if (!shm_reg_print(stdout, &m, 0))
			printf("  none\n");
	}
	shm_unmap(&m);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int flags = 0, pid;
	int i, fd, rc = 0, remove = 0, do_list = 0, json = 0, npids = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--force")) {
			flags |= ORTHROS_PROTECT_FORCE;
		} else if (!strcmp(a, "--tree")) {
			flags |= ORTHROS_REG_TREE;
		} else if (!strcmp(a, "--remove")) {
			remove = 1;
		} else if (!strcmp(a, "--list")) {
			do_list = 1;
		} else if (!strcmp(a, "--json")) {
			json = 1;
		} else if (!strcmp(a, "--")) {
			break;
		} else if (a[0] == '-') {
			fprintf(stderr, "orthros-protect: unknown option %s\n", a);
			usage(stderr);
			return 2;
		} else {
			npids++;
		}
	}
	if (do_list) {
		if (remove || flags || npids || i < argc) {
			usage(stderr);
			return 2;
		}
		return list(json);
	}
	if (json || (remove && (flags || i < argc))) {
		usage(stderr);
		return 2;
	}
	if (i < argc) {		/* -- CMD ARG...: this process, then CMD */
		if (npids || i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		fd = open_dev();
		if (fd < 0 || request(fd, ORTHROS_PROTECT_ADD, (unsigned int)getpid(), flags, 1))
			return 1;
		close(fd);
		execvp(argv[i + 1], argv + i + 1);
		fprintf(stderr, "orthros-protect: %s: %s\n", argv[i + 1], strerror(errno));
		return 127;
	}
	if (!npids) {
		usage(stderr);
		return 2;
	}
	for (i = 1; i < argc; i++)
		if (argv[i][0] != '-' && parse_pid(argv[i], &pid))
			return 2;
	fd = open_dev();
	if (fd < 0)
		return 1;
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue;
		parse_pid(argv[i], &pid);
		rc |= request(fd, remove ? ORTHROS_PROTECT_REMOVE : ORTHROS_PROTECT_ADD, pid,
			      flags, 0);
	}
	close(fd);
	return rc;
}
