/* SPDX-License-Identifier: GPL-2.0 */
/* What heartbeat/ offers the other Orthros components. */
#ifndef ORTHROS_HEARTBEAT_H
#define ORTHROS_HEARTBEAT_H

#include "../shmem/orthros_shm_abi.h"

/* A fault injector marks the moment it strikes (for the detection latency). */
void orthros_hb_note_fault(void);
/* Called once the peer has been declared failed (failover/ takes over here). */
void orthros_failure_declared(const struct orthros_shm_failure *f);
/* Called at the first beat of a new peer (hard-irq context): failover/'s "protected again". */
void orthros_failover_watched(void);
/* Ask a dead OS's cores to save their tasks' user state and park; how many did. */
unsigned int orthros_stop_by_nmi(const struct orthros_shm_os *dead, u32 self);

/* liveness.c: every core's process-context beat and the user-space watchdog */
struct file;
void orthros_live_start(u32 ordinal, unsigned int period_ms);
void orthros_live_refresh(void);
u32 orthros_live_check(u32 peer, u64 now, char *cause, size_t len);
long orthros_live_ioctl(struct file *f, unsigned int cmd, unsigned long arg);
void orthros_live_release(struct file *f);
void orthros_live_status(struct orthros_hb_status *st);

#endif
