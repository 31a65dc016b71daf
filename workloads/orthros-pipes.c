// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-pipes: a parent and its child (fork) exchanging continuous,
 * sequence-numbered, checksummed streams, each receiver checking every byte.
 *
 *   orthros-pipes [--dir D | --up unix] [--wait epoll] [--read-max B] [--pace-us U]
 *                 [common options]
 *
 * parent -> child over a pipe; child -> parent over a FIFO made in D (mkfifo
 * D/orthros-pipes.PID.fifo), over a unix stream socket pair with --up unix,
 * or over a second pipe (--up pipe, the default). Each process waits for its
 * two fds with poll(), or with an epoll instance (--wait epoll). A stream is
 * 64-byte records (sequence number, stream id, 40 bytes derived from both, a
 * checksum); the receiver computes each record it expects and compares all 64
 * bytes. Senders write as much as the pipe takes (non-blocking); receivers
 * read at most B bytes (default 2048) per round and sleep U us (default 2000)
 * between rounds, so the pipes are usually full of unread bytes when the
 * process is frozen. The status line has "unread" (FIONREAD of the stream this
 * process reads), "sent" and "received" (records).
 * Both processes report: --status FILE for the parent, FILE.child for the
 * child. SIGTERM to the parent stops the child first (its PASS/FAIL line too);
 * the parent's exit status is 1 if either failed. The peer's end closing is an
 * error. --self-test-fault: each sender flips a bit of one record.
 */
#include "wlreport.h"
#include "wlstream.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *names[] = { "parent->child pipe", "child->parent fifo", "child->parent pipe",
				"child->parent unix socket" };

static void usage(FILE *f)
{
	fprintf(f, "usage: orthros-pipes [--dir D | --up unix] [--wait epoll] [--read-max B] [--pace-us U] [common options]\n"
		   "  --dir D                make the child->parent FIFO in D (else a pipe)\n"
		   "  --up unix|pipe         child->parent over a unix stream socket pair, or a pipe\n"
		   "  --wait epoll|poll      wait for the fds with an epoll instance, or poll()\n"
		   "  --read-max B           bytes read per round (default 2048)\n"
		   "  --pace-us U            sleep between rounds (default 2000)\n"
		   "%s", wl_usage());
}

static const char *dir;
static bool unix_sk, use_epoll;
static size_t read_max = 2048;
static uint64_t pace_ns = 2000000;

static int own_option(const char *opt, const char *val)
{
	if (!strcmp(opt, "--dir"))
		dir = val;
	else if (!strcmp(opt, "--up") && (!strcmp(val, "unix") || !strcmp(val, "pipe")))
		unix_sk = !strcmp(val, "unix");
	else if (!strcmp(opt, "--wait") && (!strcmp(val, "epoll") || !strcmp(val, "poll")))
		use_epoll = !strcmp(val, "epoll");
	else if (!strcmp(opt, "--read-max"))
		read_max = (size_t)atol(val);
	else if (!strcmp(opt, "--pace-us"))
		pace_ns = (uint64_t)atol(val) * 1000;
	else
		return -1;
	return 0;
}

/*
 * Wait up to 50 ms for the two fds, as poll() would say it: with poll(), or
 * with the epoll instance ep (each fd's index in p as its data).
 */
static int wait_fds(int ep, struct pollfd *p)
{
	struct epoll_event ev[2];
	int n;

	if (ep < 0)
		return poll(p, 2, 50);
	p[0].revents = p[1].revents = 0;
	n = epoll_wait(ep, ev, 2, 50);
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u64 > 1) {
			wl_error("epoll_wait: an event with data %llu, not 0 or 1",
				 (unsigned long long)ev[i].data.u64);
			return -1;
		}
		p[ev[i].data.u64].revents = (short)ev[i].events;
	}
	return n;
}

static int run(struct wls_out *o, struct wls_in *in, size_t read_max, uint64_t pace_ns)
{
	uint64_t counted = 0;
	int ep = -1;

	fcntl(o->fd, F_SETFL, fcntl(o->fd, F_GETFL) | O_NONBLOCK);
	fcntl(in->fd, F_SETFL, fcntl(in->fd, F_GETFL) | O_NONBLOCK);
	if (use_epoll) {
		struct epoll_event out = { .events = EPOLLOUT, .data.u64 = 0 },
				   inp = { .events = EPOLLIN, .data.u64 = 1 };

		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, o->fd, &out) ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, in->fd, &inp)) {
			wl_error("epoll: %s", strerror(errno));
			return 1;
		}
	}
	while (wl_running()) {
		struct pollfd p[2] = { { .fd = o->fd, .events = POLLOUT }, { .fd = in->fd, .events = POLLIN } };
		char extra[100];
		int unread = 0;

		if (wait_fds(ep, p) < 0 && errno != EINTR) {
			wl_error("%s: %s", ep < 0 ? "poll" : "epoll_wait", strerror(errno));
			break;
		}
		if ((p[0].revents & (POLLOUT | POLLERR)) && wls_send(o))
			break;
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && wls_receive(in, read_max))
			break;
		ioctl(in->fd, FIONREAD, &unread);
		snprintf(extra, sizeof(extra), "\"unread\":%d,\"sent\":%llu,\"received\":%llu", unread,
			 (unsigned long long)o->sent, (unsigned long long)in->received);
		wl_extra(extra);
		wl_iter(in->received - counted);
		counted = in->received;
		wl_parts(2, o->sent < in->received ? o->sent : in->received);
		wl_report();
		if (pace_ns)
			wl_sleep_ns(pace_ns);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct wls_out out;
	static struct wls_in in;
	char fifo[4096] = "";
	int down[2], up[2] = { -1, -1 }, rc, status;
	pid_t child;

	wl_init("orthros-pipes", "parent");
	if (wl_args(argc, argv, own_option, usage))
		return 2;
	if (!read_max) {
		usage(stderr);
		return 2;
	}
	if (dir && unix_sk) {
		usage(stderr);
		return 2;
	}
	if (pipe(down) || (!dir && !unix_sk && pipe(up)) ||
	    (unix_sk && socketpair(AF_UNIX, SOCK_STREAM, 0, up))) {
		perror("orthros-pipes: pipe");
		return 1;
	}
	if (dir) {
		mkdir(dir, 0755);
		snprintf(fifo, sizeof(fifo), "%s/orthros-pipes.%d.fifo", dir, (int)getpid());
		unlink(fifo);
		if (mkfifo(fifo, 0600)) {
			fprintf(stderr, "orthros-pipes: mkfifo %s: %s\n", fifo, strerror(errno));
			return 1;
		}
	}
	fflush(NULL);
	child = fork();
	if (child < 0) {
		perror("orthros-pipes: fork");
		return 1;
	}
	if (!child) {
		wl_child("child");
		close(down[1]);
		if (up[0] >= 0)
			close(up[0]);
		else
			up[1] = open(fifo, O_WRONLY);	/* waits for the parent's open */
		if (up[1] < 0) {
			fprintf(stderr, "orthros-pipes: child: %s: %s\n", fifo, strerror(errno));
			return 1;
		}
		in = (struct wls_in){ .fd = down[0], .id = 0, .name = names[0] };
		out.fd = up[1];
		out.id = dir ? 1 : unix_sk ? 3 : 2;
		out.name = names[out.id];
		run(&out, &in, read_max, pace_ns);
		return wl_finish();
	}
	close(down[0]);
	if (up[1] >= 0)
		close(up[1]);
	else
		up[0] = open(fifo, O_RDONLY);
	if (up[0] < 0) {
		fprintf(stderr, "orthros-pipes: %s: %s\n", fifo, strerror(errno));
		kill(child, SIGKILL);
		return 1;
	}
	out.fd = down[1];
	out.id = 0;
	out.name = names[0];
	in = (struct wls_in){ .fd = up[0], .id = dir ? 1 : unix_sk ? 3 : 2,
			      .name = names[dir ? 1 : unix_sk ? 3 : 2] };
	run(&out, &in, read_max, pace_ns);
	/* the child stops first, while our ends are still open */
	kill(child, SIGTERM);
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR) {
			wl_error("waitpid: %s", strerror(errno));
			status = 1 << 8;
			break;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		wl_error("the child (pid %d) %s %d", (int)child,
			 WIFEXITED(status) ? "failed, exit status" : "died of signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	if (*fifo)
		unlink(fifo);
	rc = wl_finish();
	return rc;
}
