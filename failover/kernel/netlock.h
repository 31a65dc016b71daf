/* SPDX-License-Identifier: GPL-2.0 */
/* The failover's network lock (netlock.c). */
#ifndef ORTHROS_NETLOCK_H
#define ORTHROS_NETLOCK_H

#include <linux/types.h>

struct orthros_netlock_counts {
	u64 held;		/* packets held while locked */
	u64 delivered;		/* of which delivered at the release */
	u64 dropped;		/* packets dropped: past the bound, or orthros_netlock=drop */
};

int orthros_netlock_engage(void);
/* Release it (a no-op if it is not engaged); the counts so far in *c. */
void orthros_netlock_release(struct orthros_netlock_counts *c);
bool orthros_netlock_engaged(struct orthros_netlock_counts *c);

#endif
