// SPDX-License-Identifier: GPL-2.0
/*
 * A minimal protobuf (proto2) encoder and CRIU image files.
 *
 * Wire types: 0 varint, 2 length-delimited.  Required fields are always
 * written, zero or not (criu's protobuf-c refuses a message without them).
 * No message CRIU's restore reads from us has [packed=true] fields, so
 * repeated scalars are written one tag per element.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "criu-img.h"

static void pb_grow(struct pb *m, size_t n)
{
	if (m->len + n <= m->cap)
		return;
	m->cap = (m->len + n) * 2 + 64;
	m->b = realloc(m->b, m->cap);
	if (!m->b) {
		perror("orthros-rescue: realloc");
		exit(1);
	}
}

static void pb_raw_varint(struct pb *m, uint64_t v)
{
	pb_grow(m, 10);
	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		m->b[m->len++] = c | (v ? 0x80 : 0);
	} while (v);
}

void pb_free(struct pb *m)
{
	free(m->b);
	m->b = NULL;
	m->len = m->cap = 0;
}

void pb_varint(struct pb *m, unsigned int field, uint64_t v)
{
	pb_raw_varint(m, (uint64_t)field << 3 | 0);
	pb_raw_varint(m, v);
}

void pb_sint(struct pb *m, unsigned int field, int64_t v)
{
	pb_varint(m, field, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void pb_bytes(struct pb *m, unsigned int field, const void *p, size_t n)
{
	pb_raw_varint(m, (uint64_t)field << 3 | 2);
	pb_raw_varint(m, n);
	pb_grow(m, n);
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

void pb_str(struct pb *m, unsigned int field, const char *s)
{
	pb_bytes(m, field, s, strlen(s));
}

void pb_msg(struct pb *m, unsigned int field, const struct pb *sub)
{
	pb_bytes(m, field, sub->b, sub->len);
}

void pb_u32s(struct pb *m, unsigned int field, const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pb_varint(m, field, v[i]);
}

void pb_u64s(struct pb *m, unsigned int field, const uint64_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pb_varint(m, field, v[i]);
}

int img_open_raw(struct img *im, int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	snprintf(im->name, sizeof(im->name), "%s", name);
	im->f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!im->f) {
		fprintf(stderr, "orthros-rescue: %s: %s\n", name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return 0;
}

/* inventory.img has its own magic only; every other image the common one first. */
int img_open(struct img *im, int dirfd, const char *name, uint32_t magic)
{
	uint32_t head[2] = { IMG_COMMON_MAGIC, magic };

	if (img_open_raw(im, dirfd, name))
		return -1;
	if (magic == INVENTORY_MAGIC)
		return img_write(im, &magic, sizeof(magic));
	return img_write(im, head, sizeof(head));
}

int img_write(struct img *im, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, im->f) != n) {
		fprintf(stderr, "orthros-rescue: writing %s: %s\n", im->name, strerror(errno));
		return -1;
	}
	return 0;
}

int img_put(struct img *im, const struct pb *m)
{
	uint32_t len = m->len;
	int ret = img_write(im, &len, sizeof(len));

	if (!ret)
		ret = img_write(im, m->b, m->len);
	pb_free((struct pb *)m);
	return ret;
}

int img_close(struct img *im)
{
	int ret = 0;

	if (!im->f)
		return 0;
	if (fflush(im->f) || fsync(fileno(im->f)) < 0)
		ret = -1;
	if (fclose(im->f))
		ret = -1;
	im->f = NULL;
	if (ret)
		fprintf(stderr, "orthros-rescue: closing %s: %s\n", im->name, strerror(errno));
	return ret;
}
