// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-pipes: a parent and its child (fork) exchanging continuous,
 * sequence-numbered, checksummed streams, each receiver checking every byte.
 *
 *   orthros-pipes [--dir D] [--read-max B] [--pace-us U] [common options]
 *
 * parent -> child over a pipe; child -> parent over a FIFO made in D (mkfifo
 * D/orthros-pipes.PID.fifo), or over a second pipe without --dir. A stream is
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

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define REC 64
#define OUTBUF (64 * REC)

struct rec {
	uint64_t seq;
	uint32_t stream, magic;
	uint64_t data[5];
	uint64_t check;
};

_Static_assert(sizeof(struct rec) == REC, "record size");

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void make_rec(struct rec *r, uint32_t stream, uint64_t seq)
{
	uint64_t c = 0;

	r->seq = seq;
	r->stream = stream;
	r->magic = 0x4f525448;	/* "HTRO" */
	for (int i = 0; i < 5; i++)
		r->data[i] = mix((uint64_t)stream << 56 ^ (seq * 5 + (uint64_t)i));
	for (int i = 0; i < 7; i++)
		c = mix(c ^ ((uint64_t *)r)[i]);
	r->check = c;
}

struct stream_out {
	int fd;
	uint32_t id;
	uint64_t seq, sent;
	unsigned char buf[OUTBUF];
	size_t len, off;
};

struct stream_in {
	int fd;
	uint32_t id;
	uint64_t seq, received;
	unsigned char buf[REC];
	size_t have;
};

static const char *names[] = { "parent->child pipe", "child->parent fifo", "child->parent pipe" };

static int send_some(struct stream_out *o)
{
	for (;;) {
		ssize_t w;

		if (o->off == o->len) {
			for (int i = 0; i < OUTBUF / REC; i++)
				make_rec((struct rec *)(o->buf + i * REC), o->id, o->seq++);
			o->len = OUTBUF;
			o->off = 0;
			if (wl_fault_due())
				o->buf[5 * REC + 17] ^= 0x10;
		}
		w = write(o->fd, o->buf + o->off, o->len - o->off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w <= 0) {
			wl_error("%s: write: %s", names[o->id], w < 0 ? strerror(errno) : "no progress");
			return -1;
		}
		o->sent += (o->off % REC + (size_t)w) / REC;
		o->off += (size_t)w;
	}
}

static int receive_some(struct stream_in *in, size_t max)
{
	unsigned char buf[16384];
	ssize_t r;

	if (max > sizeof(buf))
		max = sizeof(buf);
	r = read(in->fd, buf, max);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0) {
		wl_error("%s: read: %s", names[in->id], r < 0 ? strerror(errno) : "end of file (the peer is gone)");
		return -1;
	}
	for (ssize_t i = 0; i < r;) {
		size_t n = REC - in->have;

		if (n > (size_t)(r - i))
			n = (size_t)(r - i);
		memcpy(in->buf + in->have, buf + i, n);
		in->have += n;
		i += (ssize_t)n;
		if (in->have == REC) {
			struct rec want, *got = (struct rec *)in->buf;

			make_rec(&want, in->id, in->seq);
			if (memcmp(got, &want, REC)) {
				int b = 0;
				struct rec again;

				while (in->buf[b] == ((unsigned char *)&want)[b])
					b++;
				wl_error("%s: record %llu, byte %d is 0x%02x, not 0x%02x (record says seq %llu)",
					 names[in->id], (unsigned long long)in->seq, b, in->buf[b],
					 ((unsigned char *)&want)[b], (unsigned long long)got->seq);
				/* a whole record with another number: follow it */
				make_rec(&again, in->id, got->seq);
				if (!memcmp(got, &again, REC))
					in->seq = got->seq;
			}
			in->seq++;
			in->received++;
			in->have = 0;
		}
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: orthros-pipes [--dir D] [--read-max B] [--pace-us U] [common options]\n"
		   "  --dir D                make the child->parent FIFO in D (else a pipe)\n"
		   "  --read-max B           bytes read per round (default 2048)\n"
		   "  --pace-us U            sleep between rounds (default 2000)\n"
		   "%s", wl_usage());
}

static int run(struct stream_out *o, struct stream_in *in, size_t read_max, uint64_t pace_ns)
{
	uint64_t counted = 0;

	fcntl(o->fd, F_SETFL, fcntl(o->fd, F_GETFL) | O_NONBLOCK);
	fcntl(in->fd, F_SETFL, fcntl(in->fd, F_GETFL) | O_NONBLOCK);
	while (wl_running()) {
		struct pollfd p[2] = { { .fd = o->fd, .events = POLLOUT }, { .fd = in->fd, .events = POLLIN } };
		char extra[100];
		int unread = 0;

		if (poll(p, 2, 50) < 0 && errno != EINTR) {
			wl_error("poll: %s", strerror(errno));
			break;
		}
		if ((p[0].revents & (POLLOUT | POLLERR)) && send_some(o))
			break;
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && receive_some(in, read_max))
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
	static struct stream_out out;
	static struct stream_in in;
	const char *dir = NULL;
	char fifo[4096] = "";
	size_t read_max = 2048;
	uint64_t pace_ns = 2000000;
	int down[2], up[2] = { -1, -1 }, rc, status;
	pid_t child;

	wl_init("orthros-pipes", "parent");
	for (int i = 1; i < argc; i++) {
		int r = wl_option(argc, argv, &i);

		if (r > 0)
			continue;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (r < 0 || i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(argv[i], "--dir"))
			dir = argv[++i];
		else if (!strcmp(argv[i], "--read-max"))
			read_max = (size_t)atol(argv[++i]);
		else if (!strcmp(argv[i], "--pace-us"))
			pace_ns = (uint64_t)atol(argv[++i]) * 1000;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!read_max) {
		usage(stderr);
		return 2;
	}
	if (pipe(down) || (!dir && pipe(up))) {
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
		in = (struct stream_in){ .fd = down[0], .id = 0 };
		out.fd = up[1];
		out.id = dir ? 1 : 2;
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
	in = (struct stream_in){ .fd = up[0], .id = dir ? 1 : 2 };
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
