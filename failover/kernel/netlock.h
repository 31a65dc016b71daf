/* SPDX-License-Identifier: GPL-2.0 */
/* The failover's network lock (netlock.c). */
#ifndef ORTHROS_NETLOCK_H
#define ORTHROS_NETLOCK_H

#include <linux/types.h>

int orthros_netlock_engage(void);
/* Release it; the packets it dropped. */
u64 orthros_netlock_release(void);
bool orthros_netlock_engaged(u64 *nr_dropped);

#endif
