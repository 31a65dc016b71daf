// SPDX-License-Identifier: GPL-2.0
/* Reading another kernel's memory (see dead.h). */
#define pr_fmt(fmt) "orthros-dead: " fmt

#include <linux/crc32.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/printk.h>
#include <linux/sizes.h>
#include <linux/string.h>
#include <linux/orthros.h>
#include <linux/utsname.h>
#include <asm/pgtable.h>

#include "../shmem/orthros_shm.h"
#include "dead.h"
#include "hold.h"
#include "orthros_migrate.h"

static void dead_map(struct orthros_dead *d, u64 start, u64 end)
{
	struct orthros_dead_piece *p;

	if (end <= start || d->nr_pieces >= ARRAY_SIZE(d->piece))
		return;
	p = &d->piece[d->nr_pieces++];
	p->start = start;
	p->end = end;
	p->p = memremap(start, end - start, MEMREMAP_WB);
}

int orthros_dead_open(struct orthros_dead *d, u32 ordinal)
{
	u32 self = orthros_ordinal(), i;

	memset(d, 0, sizeof(*d));
	d->self = !ordinal;
	if (d->self) {
		orthros_shm_fill_facts(&d->facts);
		if (!orthros_shm_read_os(self, &d->os)) {
			pr_err("this OS has no OS record that checks\n");
			return -ENOENT;
		}
	} else if (!orthros_shm_read_facts(ordinal, &d->facts) ||
		   !orthros_shm_read_os(ordinal, &d->os)) {
		pr_err("OS %u left no kernel facts or OS record that check\n", ordinal);
		return -ENOENT;
	} else if (orthros_repartition_reused(ordinal)) {
		/* its memory is this OS's RAM now, but for the pages held for the rescue */
		d->held_only = true;
	}
	if (d->facts.banner_crc != (crc32_le(~0U, linux_banner, strlen(linux_banner)) ^ ~0U) ||
	    d->facts.sizeof_page != sizeof(struct page) ||
	    d->facts.sizeof_inode != sizeof(struct inode) || d->facts.page_size != PAGE_SIZE) {
		pr_err("OS %u runs another kernel build: its structures cannot be read\n", ordinal);
		return -EPROTO;
	}
	for (i = 0; i < d->os.nr_ranges && i < ORTHROS_SHM_MAX_RANGES; i++) {
		const struct orthros_shm_range *r = &d->os.ranges[i];
		u64 s = r->start, e = r->end, a0, a1;

		if (e <= s || s % PAGE_SIZE || e % PAGE_SIZE)
			continue;
		/*
		 * Once this OS hot-added part of it (a block of the general
		 * area), that part is read through the direct map, the held
		 * pages only; the rest stays mapped as the dead OS's.  A mapping
		 * across both would be refused (a mixed range).
		 */
		if (d->held_only && !orthros_repartition_added_range(s, e, &a0, &a1)) {
			if (a0 > s)
				dead_map(d, s, a0);
			s = a1;
		}
		dead_map(d, s, e);
	}
	return 0;
}

void orthros_dead_close(struct orthros_dead *d)
{
	u32 i;

	for (i = 0; i < d->nr_pieces; i++)
		if (d->piece[i].p)
			memunmap(d->piece[i].p);
	memset(d->piece, 0, sizeof(d->piece));
	d->nr_pieces = 0;
}

void *orthros_dead_phys(struct orthros_dead *d, u64 phys, size_t len)
{
	u64 pg;
	u32 i;

	if (d->held_only && orthros_repartition_added(phys)) {
		for (pg = phys & PAGE_MASK; pg < phys + len; pg += PAGE_SIZE)
			if (!orthros_repartition_added(pg) || !orthros_hold_readable(pg))
				return NULL;
		return phys_to_virt(phys);
	}
	for (i = 0; i < d->nr_pieces; i++) {
		const struct orthros_dead_piece *r = &d->piece[i];

		if (r->p && phys >= r->start && phys < r->end && len <= r->end - phys)
			return r->p + (phys - r->start);
	}
	return NULL;
}

/*
 * Another kernel address (a vmalloc'd stack or image, its vmemmap) through
 * its own kernel page tables: 4 levels, as this build; every table and the
 * page checked to be its RAM, a large page only where x86 allows one (1 GiB
 * at the PUD, 2 MiB at the PMD), no walk of another depth.
 */
static int pt_phys(struct orthros_dead *d, u64 va, u64 *phys)
{
	static const int shift[] = { PGDIR_SHIFT, PUD_SHIFT, PMD_SHIFT, PAGE_SHIFT };
	u64 table = d->facts.pgd_phys, e;
	int level;

	if (va < d->facts.page_offset_base || d->facts.pgtable_levels != ARRAY_SIZE(shift))
		return -EFAULT;		/* user addresses are not its; 5 levels are not read */
	for (level = 0; level < ARRAY_SIZE(shift); level++) {
		u64 *p = orthros_dead_phys(d, table + ((va >> shift[level]) & 511) * 8, 8);
		u64 size = 1ULL << shift[level];

		if (!p || table % PAGE_SIZE)
			return -EFAULT;
		e = READ_ONCE(*p);
		if (!(e & _PAGE_PRESENT))
			return -EFAULT;
		if (level == ARRAY_SIZE(shift) - 1 || (e & _PAGE_PSE)) {
			if (!level)
				return -EFAULT;	/* no large page at the PGD */
			*phys = (e & PTE_PFN_MASK & ~(size - 1)) + (va & (size - 1));
			return 0;
		}
		table = e & PTE_PFN_MASK;
	}
	return -EFAULT;
}

static bool in_vmalloc(const struct orthros_shm_facts *f, u64 va, size_t len)
{
	return va >= f->vmalloc_start && va < f->vmalloc_end && len <= f->vmalloc_end - va;
}

int orthros_dead_va_phys(struct orthros_dead *d, u64 va, size_t len, u64 *phys)
{
	const struct orthros_shm_facts *f = &d->facts;

	if (in_vmalloc(f, va, 1)) {
		/* mapped page by page: one page at a time */
		if ((va & ~PAGE_MASK) + len > PAGE_SIZE || pt_phys(d, va, phys))
			return -EFAULT;
	} else if (va >= f->page_offset_base && va < f->direct_map_end) {
		*phys = va - f->page_offset_base;
	} else if (va >= f->start_kernel_map && va - f->start_kernel_map < SZ_1G) {
		*phys = va - f->start_kernel_map + f->phys_base;
	} else if ((va & ~PAGE_MASK) + len > PAGE_SIZE || pt_phys(d, va, phys)) {
		return -EFAULT;
	}
	return orthros_dead_phys(d, *phys, len) ? 0 : -EFAULT;
}

int orthros_dead_read(struct orthros_dead *d, u64 va, void *buf, size_t len)
{
	u64 phys;

	while (len) {
		size_t n = len;

		if (orthros_dead_va_phys(d, va, n, &phys)) {
			/* not one linear piece: page by page through its page tables */
			n = min_t(size_t, len, PAGE_SIZE - (va & ~PAGE_MASK));
			if (n == len || pt_phys(d, va, &phys) || !orthros_dead_phys(d, phys, n))
				return -EFAULT;
		}
		memcpy(buf, orthros_dead_phys(d, phys, n), n);
		buf += n;
		va += n;
		len -= n;
	}
	return 0;
}

int orthros_dead_page_phys(struct orthros_dead *d, u64 page_va, u64 *phys)
{
	u64 off = page_va - d->facts.vmemmap_base;

	if (page_va < d->facts.vmemmap_base || off % d->facts.sizeof_page)
		return -EFAULT;
	*phys = off / d->facts.sizeof_page * PAGE_SIZE;
	return orthros_dead_phys(d, *phys, PAGE_SIZE) ? 0 : -EFAULT;
}

int orthros_dead_read_stack(struct orthros_dead *d, u64 stack_va, void *buf)
{
	const struct orthros_shm_facts *f = &d->facts;
	bool vmap = f->flags & ORTHROS_FACT_VMAP_STACK;

	if (f->thread_size != THREAD_SIZE || stack_va % THREAD_SIZE)
		return -EFAULT;
	/* a stack where its build does not put them is no stack of its */
	if (vmap != in_vmalloc(f, stack_va, THREAD_SIZE))
		return -EFAULT;
	return orthros_dead_read(d, stack_va, buf, THREAD_SIZE);
}
