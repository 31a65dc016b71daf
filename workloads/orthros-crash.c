// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-crash: crash this OS on purpose, in a known place, through the
 * kernel's fault injector (/sys/kernel/orthros_inject).
 *
 *   syscall   panic() inside a system call (the write to the injector)
 *   write     a child writes a file on the data disk without end; the kernel
 *             panics when a timer interrupt finds it inside write()
 *   user      a child spins in its own code; the kernel panics when a timer
 *             interrupt finds it in user mode
 *   oops      a NULL pointer write in a system call, with panic_on_oops set
 *   hang      every core of this OS spins with interrupts off: no panic code
 *   sysrq     the standard echo c > /proc/sysrq-trigger
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define INJECT "/sys/kernel/orthros_inject"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: orthros-crash [--dir DIR] syscall|write|user|oops|hang|sysrq\n"
		"\n"
		"Crash this OS on purpose (root only). write: the writer's file goes in DIR\n"
		"(default /data). The command does not return when it works.\n"
		"\n"
		"exit status: 1 the crash did not happen (the reason is printed), 2 usage\n");
}

static int put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0) {
		fprintf(stderr, "orthros-crash: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = write(fd, text, strlen(text));
	if (n < 0)
		fprintf(stderr, "orthros-crash: %s: %s\n", path, strerror(errno));
	close(fd);
	return n < 0 ? -1 : 0;
}

static void writer(const char *dir)
{
	static char buf[4 << 20];
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/crash-write.dat", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "orthros-crash: %s: %s\n", path, strerror(errno));
		_exit(1);
	}
	memset(buf, 'w', sizeof(buf));
	for (unsigned long i = 0;; i++) {
		if (i % 8 == 0)
			lseek(fd, 0, SEEK_SET);
		if (write(fd, buf, sizeof(buf)) < 0)
			_exit(1);
	}
}

static void spinner(void)
{
	volatile unsigned long x = 0;

	for (;;)
		x = x * 6364136223846793005UL + 1;
}

/* A child that gets caught by the trap; we wait for the crash. */
static int trap(const char *kind, const char *dir)
{
	char cmd[64];
	pid_t pid = fork();
	int st;

	if (pid < 0) {
		perror("orthros-crash: fork");
		return 1;
	}
	if (pid == 0) {
		if (!strcmp(kind, "write"))
			writer(dir);
		spinner();
	}
	snprintf(cmd, sizeof(cmd), "%s %d", kind, pid);
	printf("orthros-crash: %s trap armed on pid %d\n", kind, pid);
	fflush(stdout);
	if (put(INJECT, cmd)) {
		kill(pid, SIGKILL);
		return 1;
	}
	/* the injector gives up after 20 s */
	for (int i = 0; i < 25; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "orthros-crash: pid %d ended before the trap fired\n", pid);
			return 1;
		}
		sleep(1);
	}
	kill(pid, SIGKILL);
	fprintf(stderr, "orthros-crash: the %s trap did not fire\n", kind);
	return 1;
}

int main(int argc, char **argv)
{
	const char *dir = "/data", *kind;
	int i = 1;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (i + 1 < argc && !strcmp(argv[i], "--dir")) {
		dir = argv[i + 1];
		i += 2;
	}
	if (i + 1 != argc) {
		usage(stderr);
		return 2;
	}
	kind = argv[i];
	printf("orthros-crash: %s\n", kind);
	fflush(stdout);
	if (!strcmp(kind, "syscall"))
		put(INJECT, "panic");
	else if (!strcmp(kind, "oops")) {
		if (put("/proc/sys/kernel/panic_on_oops", "1"))
			return 1;
		put(INJECT, "oops");
	} else if (!strcmp(kind, "hang"))
		put(INJECT, "hang");
	else if (!strcmp(kind, "sysrq"))
		put("/proc/sysrq-trigger", "c");
	else if (!strcmp(kind, "write") || !strcmp(kind, "user"))
		return trap(kind, dir);
	else {
		usage(stderr);
		return 2;
	}
	fprintf(stderr, "orthros-crash: still running after %s\n", kind);
	return 1;
}
