// SPDX-License-Identifier: GPL-2.0
/* wlstream: checked record streams (see wlstream.h). */
#include "wlstream.h"
#include "wlreport.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(struct wls_rec) == WLS_REC, "record size");


void wls_make(struct wls_rec *r, uint32_t stream, uint64_t seq)
{
	uint64_t c = 0;

	r->seq = seq;
	r->stream = stream;
	r->magic = 0x4f525448;	/* "HTRO" */
	for (int i = 0; i < 5; i++)
		r->data[i] = wl_mix((uint64_t)stream << 56 ^ (seq * 5 + (uint64_t)i));
	for (int i = 0; i < 7; i++)
		c = wl_mix(c ^ ((uint64_t *)r)[i]);
	r->check = c;
}

int wls_check(const struct wls_rec *r)
{
	struct wls_rec want;

	wls_make(&want, r->stream, r->seq);
	return !memcmp(&want, r, WLS_REC);
}

int wls_send(struct wls_out *o)
{
	for (;;) {
		ssize_t w;

		if (o->off == o->len) {
			for (int i = 0; i < WLS_OUTBUF / WLS_REC; i++)
				wls_make((struct wls_rec *)(o->buf + i * WLS_REC), o->id, o->seq++);
			o->len = WLS_OUTBUF;
			o->off = 0;
			if (wl_fault_due())
				o->buf[5 * WLS_REC + 17] ^= 0x10;
		}
		w = write(o->fd, o->buf + o->off, o->len - o->off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return 0;
		if (w <= 0) {
			wl_error("%s: write: %s", o->name, w < 0 ? strerror(errno) : "no progress");
			return -1;
		}
		o->sent += (o->off % WLS_REC + (size_t)w) / WLS_REC;
		o->off += (size_t)w;
	}
}

void wls_feed(struct wls_in *in, const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = WLS_REC - in->have;

		if (n > len - i)
			n = len - i;
		memcpy(in->buf + in->have, p + i, n);
		in->have += n;
		i += n;
		if (in->have < WLS_REC)
			continue;
		{
			struct wls_rec want, *got = (struct wls_rec *)in->buf;

			wls_make(&want, in->id, in->seq);
			if (memcmp(got, &want, WLS_REC)) {
				int b = 0;

				while (in->buf[b] == ((unsigned char *)&want)[b])
					b++;
				wl_error("%s: record %llu, byte %d is 0x%02x, not 0x%02x (record says seq %llu)",
					 in->name, (unsigned long long)in->seq, b, in->buf[b],
					 ((unsigned char *)&want)[b], (unsigned long long)got->seq);
				/* a whole record with another number: follow it */
				if (got->stream == in->id && wls_check(got))
					in->seq = got->seq;
			}
		}
		in->seq++;
		in->received++;
		in->have = 0;
	}
}

int wls_receive(struct wls_in *in, size_t max)
{
	unsigned char buf[16384];
	ssize_t r;

	if (max > sizeof(buf))
		max = sizeof(buf);
	r = read(in->fd, buf, max);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0) {
		wl_error("%s: read: %s", in->name, r < 0 ? strerror(errno) : "end of file (the peer is gone)");
		return -1;
	}
	wls_feed(in, buf, (size_t)r);
	return 0;
}
