/* SPDX-License-Identifier: GPL-2.0 */
/* Orthros failover, phase "cpus": see cores.c. */
#ifndef ORTHROS_FAILOVER_CORES_H
#define ORTHROS_FAILOVER_CORES_H

struct orthros_shm_os;

void orthros_keep_core(const struct orthros_shm_os *dead);
void orthros_take_cores(void);

#endif
