// SPDX-License-Identifier: GPL-2.0
/*
 * Talking to the other OS over the channel (guest-sourcing):
 *
 *   orthros exec --peer [--timeout S] CMD   run CMD (sh -c) on the other OS;
 *                                           its output here, its exit status ours
 *   orthros agent                           serve exec requests (started at boot)
 *   orthros msg send|recv --port P --count N   the channel's own test: numbered
 *                                           messages, checked on arrival
 *   orthros msg ping --count N              round trips through the peer's echo port
 *
 * Exec protocol: the request goes to port 1 (ORTHROS_PORT_EXEC), the command
 * in fragments of kind CMD; the answer comes back to the requester's port
 * as OUT and ERR fragments and one EXIT carrying the status.
 */
#include "shmlib.h"
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { K_CMD = 1, K_OUT, K_ERR, K_EXIT };
#define KIND(f) ((f) & 0xff)
#define MAX_CMD 65536

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static const char *chan_err(int e)
{
	switch (e) {
	case ENOTCONN:
		return "the peer OS is not up";
	case EBADMSG:
		return "the shared memory is not valid";
	case ENODEV:
	case ENOENT:
		return "this OS has no channel (no shared memory)";
	default:
		return strerror(e);
	}
}

int peer_exec(int argc, char **argv)
{
	struct orthros_msg m;
	char cmd[MAX_CMD];
	size_t off = 0;
	double timeout = 60, deadline;
	uint32_t port = 0;
	int i = 0, fd, status = -1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--peer"))
			continue;
		if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout = atof(argv[++i]);
		else
			return 2;
	}
	if (i >= argc)
		return 2;
	cmd[0] = '\0';
	for (; i < argc; i++) {
		int n = snprintf(cmd + off, sizeof(cmd) - off, "%s%s", off ? " " : "", argv[i]);

		if (n < 0 || (size_t)n >= sizeof(cmd) - off) {
			fprintf(stderr, "orthros exec: command too long\n");
			return 2;
		}
		off += (size_t)n;
	}
	fd = chan_open(&port);
	if (fd < 0) {
		fprintf(stderr, "orthros exec: %s\n", chan_err(errno));
		return 1;
	}
	if (chan_send(fd, ORTHROS_PORT_EXEC, K_CMD, cmd, off)) {
		fprintf(stderr, "orthros exec: %s\n", chan_err(errno));
		return 1;
	}
	deadline = now_s() + timeout;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		double left = deadline - now_s();
		int r;

		if (left <= 0) {
			fprintf(stderr, "orthros exec: no answer from the peer within %.0f s\n",
				timeout);
			return 124;
		}
		r = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		if (read(fd, &m, sizeof(m)) != (ssize_t)sizeof(m) || m.len > ORTHROS_MSG_DATA)
			continue;
		if (KIND(m.flags) == K_OUT)
			write_all(1, m.data, m.len);
		else if (KIND(m.flags) == K_ERR)
			write_all(2, m.data, m.len);
		else if (KIND(m.flags) == K_EXIT && m.len == sizeof(int)) {
			memcpy(&status, m.data, sizeof(int));
			break;
		}
	}
	close(fd);
	return status;
}

/* One request: run it and stream its output back, from a process of its own. */
static void serve(const char *cmd, uint32_t reply)
{
	int out[2], err[2], st, code, fd;
	uint32_t port = 0;
	pid_t pid;

	signal(SIGCHLD, SIG_DFL);
	fd = chan_open(&port);
	if (fd < 0 || pipe(out) || pipe(err))
		_exit(1);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	{
		struct pollfd p[2] = { { .fd = out[0], .events = POLLIN },
				       { .fd = err[0], .events = POLLIN } };
		int open_fds = 2;

		while (open_fds) {
			char buf[ORTHROS_MSG_DATA];

			if (poll(p, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			for (int k = 0; k < 2; k++) {
				ssize_t n;

				if (p[k].fd < 0 || !p[k].revents)
					continue;
				n = read(p[k].fd, buf, sizeof(buf));
				if (n <= 0) {
					close(p[k].fd);
					p[k].fd = -1;
					open_fds--;
					continue;
				}
				chan_send(fd, reply, k ? K_ERR : K_OUT, buf, (size_t)n);
			}
		}
	}
	waitpid(pid, &st, 0);
	code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	chan_send(fd, reply, K_EXIT, &code, sizeof(code));
	_exit(0);
}

/* Port 2: every message goes back where it came from. */
static void echo(void)
{
	static struct orthros_msg batch[64];
	uint32_t port = ORTHROS_PORT_ECHO;
	int fd = chan_open(&port);

	if (fd < 0)
		_exit(1);
	for (;;) {
		ssize_t r = read(fd, batch, sizeof(batch));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(1);
		for (size_t k = 0; k < (size_t)r / sizeof(batch[0]); k++)
			batch[k].port = batch[k].src_port;
		write_all(fd, batch, (size_t)r);
	}
}

#define PENDING 16
int peer_agent(void)
{
	struct { uint32_t port; size_t len; char *buf; } pend[PENDING] = { 0 };
	struct orthros_msg m;
	uint32_t port = ORTHROS_PORT_EXEC;
	int fd = chan_open(&port);

	if (fd < 0) {
		fprintf(stderr, "orthros agent: %s\n", chan_err(errno));
		return 1;
	}
	signal(SIGCHLD, SIG_IGN);
	if (fork() == 0) {
		close(fd);
		echo();
	}
	for (;;) {
		int slot = -1, free_slot = -1;

		if (read(fd, &m, sizeof(m)) != (ssize_t)sizeof(m)) {
			if (errno == EINTR)
				continue;
			perror("orthros agent: read");
			return 1;
		}
		if (KIND(m.flags) != K_CMD || m.len > ORTHROS_MSG_DATA)
			continue;
		for (int k = 0; k < PENDING; k++) {
			if (pend[k].buf && pend[k].port == m.src_port)
				slot = k;
			if (!pend[k].buf && free_slot < 0)
				free_slot = k;
		}
		if (slot < 0) {
			if (free_slot < 0)
				continue;
			slot = free_slot;
			pend[slot].buf = calloc(1, MAX_CMD + 1);
			pend[slot].port = m.src_port;
			pend[slot].len = 0;
			if (!pend[slot].buf)
				continue;
		}
		if (pend[slot].len + m.len <= MAX_CMD) {
			memcpy(pend[slot].buf + pend[slot].len, m.data, m.len);
			pend[slot].len += m.len;
		}
		if (m.flags & ORTHROS_MSG_MORE)
			continue;
		pend[slot].buf[pend[slot].len] = '\0';
		if (fork() == 0) {
			close(fd);
			serve(pend[slot].buf, pend[slot].port);
		}
		free(pend[slot].buf);
		pend[slot].buf = NULL;
	}
}

/* Message n: its number, then bytes that depend on it; length varies with n. */
static uint32_t msg_len(uint64_t n)
{
	return 8 + (uint32_t)(n % (ORTHROS_MSG_DATA - 7));
}

static unsigned char msg_byte(uint64_t n, uint32_t i)
{
	return (unsigned char)(n * 131 + i * 7 + 1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Round trips, one message at a time, through the peer's echo port. */
static int ping(uint64_t count, int json)
{
	struct orthros_msg m;
	uint32_t port = 0;
	double *rtt, sum = 0;
	int fd = chan_open(&port);

	if (fd < 0) {
		fprintf(stderr, "orthros msg ping: %s\n", chan_err(errno));
		return 1;
	}
	rtt = calloc(count, sizeof(*rtt));
	if (!rtt)
		return 1;
	for (uint64_t n = 0; n < count; n++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t back;
		double t0 = now_s();

		memset(&m, 0, sizeof(m));
		m.port = ORTHROS_PORT_ECHO;
		m.len = 8;
		memcpy(m.data, &n, 8);
		if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m)) {
			fprintf(stderr, "orthros msg ping: %s\n", chan_err(errno));
			return 1;
		}
		if (poll(&pfd, 1, 5000) != 1 || read(fd, &m, sizeof(m)) != (ssize_t)sizeof(m)) {
			fprintf(stderr, "orthros msg ping: no echo of message %llu within 5 s\n",
				(unsigned long long)n);
			return 1;
		}
		memcpy(&back, m.data, 8);
		if (back != n) {
			fprintf(stderr, "orthros msg ping: sent %llu, got %llu back\n",
				(unsigned long long)n, (unsigned long long)back);
			return 1;
		}
		rtt[n] = (now_s() - t0) * 1e6;
		sum += rtt[n];
	}
	qsort(rtt, count, sizeof(*rtt), cmp_double);
	if (json)
		printf("{\"count\":%llu,\"mean_us\":%.1f,\"min_us\":%.1f,\"median_us\":%.1f,"
		       "\"p99_us\":%.1f}\n", (unsigned long long)count, sum / count, rtt[0],
		       rtt[count / 2], rtt[count * 99 / 100]);
	else
		printf("%llu round trips: mean %.1f us, min %.1f, median %.1f, 99th percentile %.1f\n",
		       (unsigned long long)count, sum / count, rtt[0], rtt[count / 2],
		       rtt[count * 99 / 100]);
	return 0;
}

int peer_msg(int argc, char **argv)
{
	const char *ready = NULL;
	uint32_t port = 0, to = 0;
	uint64_t count = 0;
	int send_mode, json = 0, fd;
	double t0, dt;

	if (argc < 1 || (strcmp(argv[0], "send") && strcmp(argv[0], "recv") &&
			 strcmp(argv[0], "ping")))
		return 2;
	send_mode = !strcmp(argv[0], "send");
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			to = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--ready") && i + 1 < argc)
			ready = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			json = 1;
		else
			return 2;
	}
	if (!strcmp(argv[0], "ping"))
		return count ? ping(count, json) : 2;
	if (!to || to == ORTHROS_PORT_EXEC || to == ORTHROS_PORT_ECHO || !count)
		return 2;
	port = send_mode ? 0 : to;
	fd = chan_open(&port);
	if (fd < 0) {
		fprintf(stderr, "orthros msg: port %u: %s\n", port, chan_err(errno));
		return 1;
	}
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f)
			fclose(f);
	}
	t0 = now_s();
	if (send_mode) {
		static struct orthros_msg batch[64];
		uint64_t n = 0;

		while (n < count) {
			int k = 0;

			for (; k < 64 && n < count; k++, n++) {
				struct orthros_msg *m = &batch[k];

				m->port = to;
				m->flags = 0;
				m->len = msg_len(n);
				memcpy(m->data, &n, 8);
				for (uint32_t i = 8; i < m->len; i++)
					m->data[i] = msg_byte(n, i);
			}
			if (write_all(fd, batch, (size_t)k * sizeof(batch[0]))) {
				fprintf(stderr, "orthros msg send: after %llu messages: %s\n",
					(unsigned long long)(n - (uint64_t)k), chan_err(errno));
				return 1;
			}
		}
		dt = now_s() - t0;
		if (json)
			printf("{\"sent\":%llu,\"seconds\":%.3f,\"per_s\":%.0f}\n",
			       (unsigned long long)count, dt, count / dt);
		else
			printf("sent %llu messages in %.3f s (%.0f/s)\n",
			       (unsigned long long)count, dt, count / dt);
		return 0;
	}
	{
		static struct orthros_msg batch[64];
		uint64_t expect = 0, got = 0, lost = 0, dup = 0, reordered = 0, bad = 0;

		while (expect < count) {
			ssize_t r = read(fd, batch, sizeof(batch));

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				perror("orthros msg recv");
				return 1;
			}
			for (size_t k = 0; k < (size_t)r / sizeof(batch[0]); k++) {
				struct orthros_msg *m = &batch[k];
				uint64_t n;
				int ok = m->len >= 8;

				memcpy(&n, m->data, 8);
				ok = ok && m->len == msg_len(n);
				for (uint32_t i = 8; ok && i < m->len; i++)
					ok = m->data[i] == msg_byte(n, i);
				got++;
				if (!ok)
					bad++;
				else if (n == expect)
					expect++;
				else if (n > expect) {
					lost += n - expect;
					expect = n + 1;
				} else if (n == expect - 1)
					dup++;
				else
					reordered++;
			}
		}
		dt = now_s() - t0;
		if (json)
			printf("{\"received\":%llu,\"lost\":%llu,\"duplicated\":%llu,\"reordered\":%llu,"
			       "\"corrupt\":%llu,\"seconds\":%.3f}\n", (unsigned long long)got,
			       (unsigned long long)lost, (unsigned long long)dup,
			       (unsigned long long)reordered, (unsigned long long)bad, dt);
		else
			printf("received %llu: %llu lost, %llu duplicated, %llu reordered, %llu corrupt, in %.3f s\n",
			       (unsigned long long)got, (unsigned long long)lost,
			       (unsigned long long)dup, (unsigned long long)reordered,
			       (unsigned long long)bad, dt);
		return lost || dup || reordered || bad ? 1 : 0;
	}
}
