/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The page-cache migration's second witness: the dead kernel's memmap.
 * Every page-cache page names its mapping and its index in its struct page,
 * so a scan of the dead OS's struct pages finds every cached page of every
 * file of its data file system without its page-cache trees (whose nodes a
 * stray write may have damaged).  Used by migrate.c beside the tree walk.
 */
#ifndef ORTHROS_CACHE_WITNESS_H
#define ORTHROS_CACHE_WITNESS_H

#include <linux/types.h>
#include "dead.h"

#define CW_DIRTY	0x1	/* PG_dirty */
#define CW_WRITEBACK	0x2	/* PG_writeback */

struct cw_page {
	u64 index;		/* its index in the file (struct page's) */
	u64 page_va;		/* its struct page in the dead kernel */
	u32 file;		/* which of the witness's files */
	u32 flags;		/* CW_* */
};

struct cw_file {
	u64 inode_va;
	u64 mapping_va;		/* &inode->i_data in the dead kernel */
	bool listed;		/* on its super_block's inode list (else found by the scan) */
	u32 first, nr;		/* its pages in pg[] once sorted */
};

struct cache_witness {
	struct orthros_dead *dm;
	u64 sb_va;
	struct cw_file *files;
	u32 nr_files, cap_files;
	struct cw_page *pg;
	u32 nr, cap;
	u32 *hash;		/* mapping -> file index + 1, open addressing */
	u64 *not_ours;		/* mappings seen not to be the data file system's */
	u64 scanned;		/* struct pages read */
	u64 unreadable;		/* memmap pages that could not be read */
	u64 dropped;		/* pages past the cap: the scan is incomplete */
};

int cw_init(struct cache_witness *w, struct orthros_dead *dm, u64 sb_va);
void cw_free(struct cache_witness *w);
/* A file from the inode list: its index, or -ENOSPC. */
int cw_add_file(struct cache_witness *w, u64 inode_va, bool listed);
/* Scan every struct page of the dead OS's RAM, then sort the pages found by file and index. */
void cw_scan(struct cache_witness *w);
/* The pages the scan found for file fi, sorted by index. */
const struct cw_page *cw_pages(const struct cache_witness *w, u32 fi, u32 *n);

#endif
