/* SPDX-License-Identifier: GPL-2.0 */
/* The splitmix64 finalizer the workloads derive their data and choices from. */
#ifndef ORTHROS_SPLITMIX_H
#define ORTHROS_SPLITMIX_H

#include <stdint.h>

static inline uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

#endif
