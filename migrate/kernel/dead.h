/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading another kernel's memory: the dead OS's (or, for tests, this
 * running kernel's own) RAM, mapped by the ranges of its OS record, with
 * its kernel pointers translated by the facts it published.  Every address
 * is checked against those ranges before it is read; nothing read is
 * trusted.  Used by the page-cache migration and by the process rescue.
 */
#ifndef ORTHROS_DEAD_H
#define ORTHROS_DEAD_H

#include <linux/types.h>
#include "../shmem/orthros_shm_abi.h"

struct orthros_dead {
	struct orthros_shm_facts facts;
	struct orthros_shm_os os;
	/* its RAM ranges mapped, but for what this OS hot-added (held_only) */
	struct orthros_dead_piece {
		u64 start, end;
		void *p;
	} piece[2 * ORTHROS_SHM_MAX_RANGES];
	u32 nr_pieces;
	bool self;			/* this running kernel's own memory */
	bool held_only;			/* hot-added here: only the pages still held */
};

/*
 * Map the memory of OS ordinal, which must run this very kernel build
 * (0, -ENOENT with no facts or record, -EPROTO for another build).  With
 * ordinal 0: this kernel's own memory (its OS record's ranges).
 */
int orthros_dead_open(struct orthros_dead *d, u32 ordinal);
void orthros_dead_close(struct orthros_dead *d);

/* The mapped memory at phys, len bytes, or NULL if it is not all its RAM. */
void *orthros_dead_phys(struct orthros_dead *d, u64 phys, size_t len);
/* A copy of len bytes at its kernel virtual address va (direct map or image). */
int orthros_dead_read(struct orthros_dead *d, u64 va, void *buf, size_t len);
/*
 * A task's whole kernel stack (THREAD_SIZE bytes at stack_va, its
 * task_struct's stack): where its build keeps stacks (vmalloc'd behind guard
 * pages with CONFIG_VMAP_STACK, read through its page tables; or its direct
 * map), aligned, every page its RAM; -EFAULT if not.
 */
int orthros_dead_read_stack(struct orthros_dead *d, u64 stack_va, void *buf);
/* Its kernel virtual address va as a physical address of its RAM. */
int orthros_dead_va_phys(struct orthros_dead *d, u64 va, size_t len, u64 *phys);
/* The physical address of the page a struct page pointer of it names. */
int orthros_dead_page_phys(struct orthros_dead *d, u64 page_va, u64 *phys);

#endif
