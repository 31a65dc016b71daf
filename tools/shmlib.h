/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tools' side of the shared memory and the channel: map the region
 * (/dev/orthros-shm), check it as the kernel does, read checksummed records,
 * and send and receive messages (/dev/orthros-chan).
 */
#ifndef ORTHROS_SHMLIB_H
#define ORTHROS_SHMLIB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "orthros_shm_abi.h"

struct shm_map {
	void *base;
	size_t size;
	struct orthros_shm_info info;
};

uint32_t shm_crc32(const void *p, size_t len);
/* 0 ok; -1 with the reason in err. */
int shm_map(struct shm_map *m, int writable, char *err, size_t errlen);
void shm_unmap(struct shm_map *m);
/* 0 when the header checks; else -1 and why (the kernel's wording). */
int shm_check(const struct shm_map *m, char *why, size_t len);
/* A consistent copy of a record (seq first, checksum last) whose crc matches. */
int shm_rec_read(void *dst, const void *src, size_t size);
double shm_tsc_us(const struct shm_map *m, uint64_t tsc);

/*
 * The registry of protected processes.  shm_reg_read: 1 an entry, 0 a free
 * slot, -1 an entry that does not check.  shm_reg_state: "running" (this
 * OS's, its process alive: same PID and start time), "exited", or "other-os"
 * (another OS's: this one cannot tell).  shm_reg_print: the entries, as a
 * JSON array or as text lines; returns how many.  shm_rescue_capacity: what
 * the backup watching the active published it can take over (0: not known),
 * and that backup's ordinal.
 */
int shm_reg_read(const struct shm_map *m, unsigned int slot, struct orthros_shm_reg_entry *e);
const char *shm_reg_state(const struct orthros_shm_reg_entry *e);
int shm_reg_print(FILE *f, const struct shm_map *m, int json);
uint64_t shm_rescue_capacity(const struct shm_map *m, unsigned int *backup);

/* The channel: bind a port (0: any) and return the fd, or -1 with errno. */
int chan_open(uint32_t *port);
int chan_send(int fd, uint32_t port, uint32_t flags, const void *data, size_t len);

#endif
