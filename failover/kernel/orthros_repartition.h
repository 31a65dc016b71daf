/* SPDX-License-Identifier: GPL-2.0 */
/* What repartition.c offers failover.c. */
#ifndef ORTHROS_REPARTITION_H
#define ORTHROS_REPARTITION_H

#include "../shmem/orthros_shm_abi.h"

/*
 * Hot-add and online the profile's general area (orthros_general=) that the
 * dead OS of this ordinal had and no living OS owns.  Fills st; 0, or an
 * error when nothing was added (st->why says why).  Runs once the dead OS's
 * memory is no longer read (after the migration and the process rescue).
 */
int orthros_repartition_memory(u32 dead, struct orthros_repart_mem *st);

#endif
