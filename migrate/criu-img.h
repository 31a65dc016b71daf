/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A minimal protobuf encoder and CRIU image files: the one place that knows
 * the wire format.  Field numbers are in orthros-rescue.c next to their use.
 */
#ifndef ORTHROS_CRIU_IMG_H
#define ORTHROS_CRIU_IMG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Magic numbers (criu/include/magic.h, criu 3.17.1). */
#define IMG_COMMON_MAGIC	0x54564319
#define INVENTORY_MAGIC		0x58313116
#define PSTREE_MAGIC		0x50273030
#define CORE_MAGIC		0x55053847
#define IDS_MAGIC		0x54432030
#define MM_MAGIC		0x57492820
#define PAGEMAP_MAGIC		0x56084025	/* also the shmem pagemap */
#define FILES_MAGIC		0x56303138
#define FDINFO_MAGIC		0x56213732
#define PIPES_DATA_MAGIC	0x56453709
#define FIFO_DATA_MAGIC		0x59333054
#define FS_MAGIC		0x51403912
#define TIMENS_MAGIC		0x43114433
#define TCP_STREAM_MAGIC	0x51465506	/* tcp-stream-%x.img (the socket's ino) */
#define SK_QUEUES_MAGIC		0x56264026	/* sk-queues.img: unix sockets' queued bytes */

/* A growing protobuf message. */
struct pb {
	uint8_t *b;
	size_t len, cap;
};

void pb_free(struct pb *m);
void pb_varint(struct pb *m, unsigned int field, uint64_t v);
void pb_sint(struct pb *m, unsigned int field, int64_t v);	/* zigzag */
void pb_bytes(struct pb *m, unsigned int field, const void *p, size_t n);
void pb_str(struct pb *m, unsigned int field, const char *s);
void pb_msg(struct pb *m, unsigned int field, const struct pb *sub);
void pb_u32s(struct pb *m, unsigned int field, const uint32_t *v, size_t n);
void pb_u64s(struct pb *m, unsigned int field, const uint64_t *v, size_t n);

/* An image file: magics, then (u32 length, message) entries. */
struct img {
	FILE *f;
	char name[64];
};

int img_open(struct img *im, int dirfd, const char *name, uint32_t magic);
int img_open_raw(struct img *im, int dirfd, const char *name);
int img_put(struct img *im, const struct pb *m);	/* and clears m */
int img_write(struct img *im, const void *p, size_t n);
int img_close(struct img *im);

#endif
