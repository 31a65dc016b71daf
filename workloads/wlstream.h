/* SPDX-License-Identifier: GPL-2.0 */
/*
 * wlstream: continuous, sequence-numbered, checksummed byte streams, the
 * sender making 64-byte records and the receiver computing each record it
 * expects and comparing all 64 bytes (orthros-pipes, orthros-net).
 *
 * A record: sequence number, stream id, a magic, 40 bytes derived from both,
 * a checksum over the rest. Errors go through wl_error() with the stream's
 * name; a whole record with another number is followed (one error, not one
 * per record after a loss).
 */
#ifndef WLSTREAM_H
#define WLSTREAM_H

#include <stddef.h>
#include <stdint.h>

#define WLS_REC 64
#define WLS_OUTBUF (64 * WLS_REC)

struct wls_rec {
	uint64_t seq;
	uint32_t stream, magic;
	uint64_t data[5];
	uint64_t check;
};

struct wls_out {
	int fd;
	uint32_t id;
	const char *name;
	uint64_t seq, sent;	/* records made, records written whole */
	unsigned char buf[WLS_OUTBUF];
	size_t len, off;
};

struct wls_in {
	int fd;
	uint32_t id;
	const char *name;
	uint64_t seq, received;
	unsigned char buf[WLS_REC];
	size_t have;
};

void wls_make(struct wls_rec *r, uint32_t stream, uint64_t seq);
/* 1 if the record checks (its checksum and its derived bytes). */
int wls_check(const struct wls_rec *r);
/* Write as much as fd takes (non-blocking); -1 on an error (counted). */
int wls_send(struct wls_out *o);
/* Read at most max bytes and check them; -1 on an error or end of file. */
int wls_receive(struct wls_in *in, size_t max);
/* Check len bytes that arrived (for callers that read themselves). */
void wls_feed(struct wls_in *in, const unsigned char *p, size_t len);

#endif
