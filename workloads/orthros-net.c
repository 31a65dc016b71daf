// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-net: a TCP connection and a UDP flow to a peer (tests/lib/netpeer.py
 * on the host, reached through QEMU's user network), each side checking every
 * byte.
 *
 *   orthros-net --peer IP:PORT [--read-max B] [--pace-us U] [--udp-every-ms M]
 *               [common options]
 *
 * TCP: one connection to IP:PORT; a continuous record stream each way
 * (wlstream.h: 64-byte sequence-numbered, checksummed records; this side sends
 * stream 10 and expects stream 11). This side writes as much as the socket
 * takes and reads at most B bytes (default 2048) per round, sleeping U us
 * (default 2000) between rounds, so that at any moment there are bytes sent
 * but not acknowledged and bytes received but not read: what a rescue carries.
 * UDP: a socket connected to IP:PORT sends one record of stream 12 every M ms
 * (default 20); the peer sends each datagram back unchanged; every datagram
 * that comes back must be a whole record of a number already sent.
 * Lost datagrams are counted, not errors (UDP may lose them): "udp_sent",
 * "udp_back". A reset, the end of the TCP stream or a bad byte is an error.
 * The status line also has "sent", "received" (TCP records) and "unread"
 * (bytes waiting in this side's receive queue).
 */
#include "wlreport.h"
#include "wlstream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define ST_OUT 10
#define ST_IN 11
#define ST_UDP 12

static void usage(FILE *f)
{
	fprintf(f, "usage: orthros-net --peer IP:PORT [--read-max B] [--pace-us U] [--udp-every-ms M]\n"
		   "                   [common options]\n"
		   "  --peer IP:PORT         the peer (TCP and UDP on the same port)\n"
		   "  --read-max B           TCP bytes read per round (default 2048)\n"
		   "  --pace-us U            sleep between rounds (default 2000)\n"
		   "  --udp-every-ms M       one datagram every M ms (default 20, 0: no UDP)\n"
		   "%s", wl_usage());
}

static const char *peer_arg;
static size_t read_max = 2048;
static uint64_t pace_ns = 2000000, udp_every_ns = 20000000;

static int own_option(const char *opt, const char *val)
{
	if (!strcmp(opt, "--peer"))
		peer_arg = val;
	else if (!strcmp(opt, "--read-max"))
		read_max = (size_t)atol(val);
	else if (!strcmp(opt, "--pace-us"))
		pace_ns = (uint64_t)atol(val) * 1000;
	else if (!strcmp(opt, "--udp-every-ms"))
		udp_every_ns = (uint64_t)atol(val) * 1000000;
	else
		return -1;
	return 0;
}

static int parse_peer(const char *s, struct sockaddr_in *a)
{
	char ip[64];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || (size_t)(colon - s) >= sizeof(ip))
		return -1;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -1;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &a->sin_addr) == 1 ? 0 : -1;
}

static void udp_receive(int fd, uint64_t sent, uint64_t *back)
{
	struct wls_rec r;
	ssize_t n;

	while ((n = recv(fd, &r, sizeof(r), MSG_DONTWAIT | MSG_TRUNC)) >= 0) {
		if (n != WLS_REC || r.stream != ST_UDP || !wls_check(&r) || r.seq >= sent)
			wl_error("udp: a datagram of %zd bytes is not one this side sent (seq %llu)",
				 n, (unsigned long long)r.seq);
		else
			(*back)++;
	}
	if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED)
		wl_error("udp: recv: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	static struct wls_out out = { .id = ST_OUT, .name = "tcp to the peer" };
	static struct wls_in in = { .id = ST_IN, .name = "tcp from the peer" };
	struct sockaddr_in peer;
	uint64_t next_udp, counted = 0;
	uint64_t udp_sent = 0, udp_back = 0;
	int t, u = -1, one = 1;

	wl_init("orthros-net", "main");
	if (wl_args(argc, argv, own_option, usage))
		return 2;
	if (!peer_arg || !read_max) {
		usage(stderr);
		return 2;
	}
	if (parse_peer(peer_arg, &peer)) {
		fprintf(stderr, "orthros-net: '%s' is not IP:PORT\n", peer_arg);
		return 2;
	}
	t = socket(AF_INET, SOCK_STREAM, 0);
	if (t < 0 || connect(t, (struct sockaddr *)&peer, sizeof(peer))) {
		fprintf(stderr, "orthros-net: tcp connect to %s: %s\n", peer_arg, strerror(errno));
		return 1;
	}
	setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(t, F_SETFL, fcntl(t, F_GETFL) | O_NONBLOCK);
	out.fd = in.fd = t;
	if (udp_every_ns) {
		u = socket(AF_INET, SOCK_DGRAM, 0);
		if (u < 0 || connect(u, (struct sockaddr *)&peer, sizeof(peer))) {
			fprintf(stderr, "orthros-net: udp connect to %s: %s\n", peer_arg, strerror(errno));
			return 1;
		}
	}
	next_udp = wl_now();
	while (wl_running()) {
		struct pollfd p[2] = { { .fd = t, .events = POLLIN | POLLOUT }, { .fd = u, .events = POLLIN } };
		char extra[160];
		int unread = 0;

		if (poll(p, u >= 0 ? 2 : 1, 50) < 0 && errno != EINTR) {
			wl_error("poll: %s", strerror(errno));
			break;
		}
		if ((p[0].revents & (POLLOUT | POLLERR)) && wls_send(&out))
			break;
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && wls_receive(&in, read_max))
			break;
		if (u >= 0) {
			udp_receive(u, udp_sent, &udp_back);
			if (wl_now() >= next_udp) {
				struct wls_rec r;

				wls_make(&r, ST_UDP, udp_sent);
				if (send(u, &r, sizeof(r), MSG_DONTWAIT) == sizeof(r))
					udp_sent++;
				else if (errno != EAGAIN && errno != ECONNREFUSED && errno != EINTR)
					wl_error("udp: send: %s", strerror(errno));
				next_udp += udp_every_ns;
			}
		}
		ioctl(t, FIONREAD, &unread);
		snprintf(extra, sizeof(extra),
			 "\"unread\":%d,\"sent\":%llu,\"received\":%llu,\"udp_sent\":%llu,\"udp_back\":%llu",
			 unread, (unsigned long long)out.sent, (unsigned long long)in.received,
			 (unsigned long long)udp_sent, (unsigned long long)udp_back);
		wl_extra(extra);
		wl_iter(in.received - counted);
		counted = in.received;
		wl_parts(2, out.sent < in.received ? out.sent : in.received);
		wl_report();
		if (pace_ns)
			wl_sleep_ns(pace_ns);
	}
	return wl_finish();
}
