/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel side of the Orthros shared memory: what shmem/ offers the other
 * components.  The layout itself is in orthros_shm_abi.h.
 */
#ifndef ORTHROS_SHM_H
#define ORTHROS_SHM_H

#include <linux/mutex.h>
#include <linux/types.h>
#include "orthros_shm_abi.h"

/* The mapped region, or NULL when this OS has none (no orthros_shm=). */
extern void *orthros_shm;
extern u64 orthros_shm_phys, orthros_shm_size;

static inline void *orthros_shm_at(u32 off)
{
	return orthros_shm + off;
}

static inline struct orthros_shm_beat *orthros_shm_beat(u32 ordinal)
{
	return orthros_shm_at(ORTHROS_SHM_BEAT_OFF) +
		(ordinal % ORTHROS_SHM_OS_SLOTS) * sizeof(struct orthros_shm_beat);
}

static inline struct orthros_shm_os *orthros_shm_os_slot(u32 ordinal)
{
	return orthros_shm_at(ORTHROS_SHM_OS_OFF) +
		(ordinal % ORTHROS_SHM_OS_SLOTS) * sizeof(struct orthros_shm_os);
}

static inline struct orthros_shm_facts *orthros_shm_facts_slot(u32 ordinal)
{
	return orthros_shm_at(ORTHROS_SHM_FACTS_OFF) +
		(ordinal % ORTHROS_SHM_OS_SLOTS) * ORTHROS_SHM_FACTS_SIZE;
}

/* This kernel's facts; the file system another OS takes over from it. */
void orthros_shm_write_facts(void);
void orthros_shm_fill_facts(struct orthros_shm_facts *f);
/* The loader's kept image, published in the facts (0 sizes: none). */
void orthros_shm_set_kept_image(u64 kernel, u64 kernel_size, u32 kernel_crc,
				u64 initrd, u64 initrd_size, u32 initrd_crc);
void orthros_shm_register_data(u64 sb, u32 dev, const char *path);
bool orthros_shm_read_facts(u32 ordinal, struct orthros_shm_facts *f);
/* What this OS can take over of another's registered processes (facts). */
void orthros_shm_set_rescue_capacity(u64 bytes);

/* The machine's clock: the TSC, shared by every OS on the machine. */
u64 orthros_tsc(void);
u64 orthros_tsc_to_us(u64 delta);

/*
 * Is the header good (magic, version, size, layout, checksum)?  0, or
 * -EBADMSG with the reason in why; -ENODEV when there is no region.
 */
int orthros_shm_check(char *why, size_t len);

/* Records with seq first and checksum last. */
u32 orthros_rec_csum(const void *rec, size_t size);
void orthros_rec_begin(void *rec);
void orthros_rec_end(void *rec, size_t size);
bool orthros_rec_read(void *dst, const void *src, size_t size);

bool orthros_shm_read_roles(struct orthros_shm_roles *r);
void orthros_shm_set_roles(u32 active, u32 backup);
/* The record of an OS, checked and matching its ordinal. */
bool orthros_shm_read_os(u32 ordinal, struct orthros_shm_os *os);
void orthros_shm_write_os(const struct orthros_shm_os *os);
/* held across a read-modify-write of this OS's record from process context */
extern struct mutex orthros_self_record_lock;
void orthros_shm_set_state(u32 ordinal, u32 state);
const char *orthros_os_state_name(u32 state);

/*
 * The loader, before it wakes a new OS: create the region if it is not there
 * yet (or not valid), record the new OS as booting and as the backup, reset
 * the rings and its heartbeat line.
 */
int orthros_shm_prepare_start(u32 ordinal, u32 apic_id,
			      const struct orthros_shm_range *ranges, u32 nr);

/* IPIs to another OS's core, by physical APIC ID. */
void orthros_send_ipi(u32 apic_id);
void orthros_send_nmi(u32 apic_id);
void orthros_send_init(u32 apic_id);
/* Called on every platform IPI (the doorbell), in hard-irq context. */
void orthros_ipi_register(void (*fn)(void));

/* The channel: kick its consumer and its waiting producers. */
void orthros_chan_poll(void);
void orthros_chan_reset(void);

#endif
