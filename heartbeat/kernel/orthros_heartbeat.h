/* SPDX-License-Identifier: GPL-2.0 */
/* What heartbeat/ offers the other Orthros components. */
#ifndef ORTHROS_HEARTBEAT_H
#define ORTHROS_HEARTBEAT_H

#include "../shmem/orthros_shm_abi.h"

/* A fault injector marks the moment it strikes (for the detection latency). */
void orthros_hb_note_fault(void);
/* Called once the peer has been declared failed (failover/ takes over here). */
void orthros_failure_declared(const struct orthros_shm_failure *f);
/* Ask a dead OS's cores to save their tasks' user state and park; how many did. */
unsigned int orthros_stop_by_nmi(const struct orthros_shm_os *dead, u32 self);

#endif
