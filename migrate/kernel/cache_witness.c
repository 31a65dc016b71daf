// SPDX-License-Identifier: GPL-2.0
/*
 * The memmap witness of the dead page cache (see cache_witness.h).
 *
 * The dead OS's RAM ranges are walked pfn by pfn; each memmap page (64
 * struct pages) is read through the dead kernel's page tables (its vmemmap).
 * A struct page counts when it is not a tail page and names a mapping (no
 * anon or movable bits) that is the data file system's: a mapping of a file
 * from its inode list, or, for a dirty or writeback page, a mapping whose
 * host inode is checked here (its super_block, its i_mapping pointing back,
 * a regular file): a file the inode list lost.  Nothing read is trusted
 * further than that: the migration checks each page again before it copies
 * it (migrate.c).
 */
#define pr_fmt(fmt) "orthros-migrate: " fmt

#include <linux/fs.h>
#include <linux/hash.h>
#include <linux/mm.h>
#include <linux/page-flags.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/string.h>

#include "cache_witness.h"

#define CW_MAX_FILES	(1U << 15)
#define CW_HASH_BITS	16		/* twice CW_MAX_FILES slots */
#define CW_NOT_BITS	12
#define CW_MAX_PAGES	(1U << 20)	/* 4 GiB of cached pages */

int cw_init(struct cache_witness *w, struct orthros_dead *dm, u64 sb_va)
{
	memset(w, 0, sizeof(*w));
	w->dm = dm;
	w->sb_va = sb_va;
	w->hash = kvcalloc(1U << CW_HASH_BITS, sizeof(*w->hash), GFP_KERNEL);
	w->not_ours = kvcalloc(1U << CW_NOT_BITS, sizeof(*w->not_ours), GFP_KERNEL);
	if (!w->hash || !w->not_ours) {
		cw_free(w);
		return -ENOMEM;
	}
	return 0;
}

void cw_free(struct cache_witness *w)
{
	kvfree(w->files);
	kvfree(w->pg);
	kvfree(w->hash);
	kvfree(w->not_ours);
	memset(w, 0, sizeof(*w));
}

/* Grow *arr (of *cap elements of size) to hold one more, up to max. */
static int grow(void **arr, u32 *cap, u32 nr, size_t size, u32 max)
{
	u32 n;
	void *p;

	if (nr < *cap)
		return 0;
	if (*cap >= max)
		return -ENOSPC;
	n = min(max, *cap ? *cap * 2 : 256U);
	p = kvmalloc_array(n, size, GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	if (*arr)
		memcpy(p, *arr, (size_t)nr * size);
	kvfree(*arr);
	*arr = p;
	*cap = n;
	return 0;
}

static u32 *slot_of(const struct cache_witness *w, u64 mapping_va)
{
	u32 h = hash_64(mapping_va, CW_HASH_BITS), i;

	for (i = 0; i < (1U << CW_HASH_BITS); i++) {
		u32 *s = &w->hash[(h + i) & ((1U << CW_HASH_BITS) - 1)];

		if (!*s || w->files[*s - 1].mapping_va == mapping_va)
			return s;
	}
	return NULL;
}

static int file_of(const struct cache_witness *w, u64 mapping_va)
{
	u32 *s = slot_of(w, mapping_va);

	return s && *s ? *s - 1 : -ENOENT;
}

int cw_add_file(struct cache_witness *w, u64 inode_va, bool listed)
{
	u64 mapping_va = inode_va + offsetof(struct inode, i_data);
	u32 *s = slot_of(w, mapping_va);
	int err;

	if (!s)
		return -ENOSPC;
	if (*s)
		return *s - 1;
	err = grow((void **)&w->files, &w->cap_files, w->nr_files, sizeof(*w->files),
		   CW_MAX_FILES);
	if (err)
		return err;
	w->files[w->nr_files] = (struct cw_file){ .inode_va = inode_va,
						  .mapping_va = mapping_va, .listed = listed };
	*s = ++w->nr_files;
	return w->nr_files - 1;
}

/*
 * A mapping no listed file has, named by a dirty or writeback page: its
 * host, if that is a regular file of the data file system whose i_mapping
 * points back at it.  A file index, or -ENOENT.
 */
static int unlisted_file(struct cache_witness *w, u64 mapping_va)
{
	u64 *seen = &w->not_ours[hash_64(mapping_va, CW_NOT_BITS)];
	u64 host, sb, back;
	umode_t mode;

	if (*seen == mapping_va)
		return -ENOENT;
	if (orthros_dead_read(w->dm, mapping_va + offsetof(struct address_space, host), &host,
			      sizeof(host)) ||
	    mapping_va != host + offsetof(struct inode, i_data) ||
	    orthros_dead_read(w->dm, host + offsetof(struct inode, i_sb), &sb, sizeof(sb)) ||
	    orthros_dead_read(w->dm, host + offsetof(struct inode, i_mapping), &back, sizeof(back)) ||
	    orthros_dead_read(w->dm, host + offsetof(struct inode, i_mode), &mode, sizeof(mode)) ||
	    sb != w->sb_va || back != mapping_va || !S_ISREG(mode)) {
		*seen = mapping_va;
		return -ENOENT;
	}
	return cw_add_file(w, host, false);
}

static void one_page(struct cache_witness *w, const struct page *pg, u64 page_va)
{
	u64 mapping = (u64)READ_ONCE(pg->mapping);
	unsigned long flags = READ_ONCE(pg->flags);
	u32 f = 0;
	int fi;

	w->scanned++;
	if (!mapping || (mapping & PAGE_MAPPING_FLAGS) || (READ_ONCE(pg->compound_head) & 1))
		return;
	if (flags & BIT(PG_dirty))
		f |= CW_DIRTY;
	if (flags & BIT(PG_writeback))
		f |= CW_WRITEBACK;
	fi = file_of(w, mapping);
	if (fi < 0 && (f & (CW_DIRTY | CW_WRITEBACK)))
		fi = unlisted_file(w, mapping);
	if (fi < 0)
		return;
	if (grow((void **)&w->pg, &w->cap, w->nr, sizeof(*w->pg), CW_MAX_PAGES)) {
		w->dropped++;
		return;
	}
	w->pg[w->nr++] = (struct cw_page){ .index = READ_ONCE(pg->index), .page_va = page_va,
					    .file = fi, .flags = f };
}

static int cmp_page(const void *a, const void *b)
{
	const struct cw_page *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return 0;
}

void cw_scan(struct cache_witness *w)
{
	const struct orthros_shm_facts *fa = &w->dm->facts;
	const u32 per = PAGE_SIZE / sizeof(struct page);
	u32 r, i;

	BUILD_BUG_ON(PAGE_SIZE % sizeof(struct page));
	for (r = 0; r < w->dm->os.nr_ranges && r < ORTHROS_SHM_MAX_RANGES; r++) {
		u64 pfn = w->dm->os.ranges[r].start >> PAGE_SHIFT;
		u64 end = w->dm->os.ranges[r].end >> PAGE_SHIFT;

		while (pfn < end) {
			/* the memmap page holding pfn's struct page: page-aligned (per | pfn) */
			u64 first = pfn - pfn % per, va = fa->vmemmap_base + first * sizeof(struct page);
			const struct page *pg = NULL;
			u64 phys;

			if (!orthros_dead_va_phys(w->dm, va, PAGE_SIZE, &phys))
				pg = orthros_dead_phys(w->dm, phys, PAGE_SIZE);
			if (!pg)
				w->unreadable++;
			for (i = pfn - first; i < per && first + i < end; i++)
				if (pg)
					one_page(w, &pg[i], va + i * sizeof(struct page));
			pfn = first + per;
			cond_resched();
		}
	}
	sort(w->pg, w->nr, sizeof(*w->pg), cmp_page, NULL);
	for (i = 0; i < w->nr; i++) {
		struct cw_file *f = &w->files[w->pg[i].file];

		if (!f->nr)
			f->first = i;
		f->nr++;
	}
}

const struct cw_page *cw_pages(const struct cache_witness *w, u32 fi, u32 *n)
{
	*n = fi < w->nr_files ? w->files[fi].nr : 0;
	return *n ? &w->pg[w->files[fi].first] : NULL;
}
