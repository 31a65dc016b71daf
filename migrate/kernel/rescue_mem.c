// SPDX-License-Identifier: GPL-2.0
/*
 * Process rescue: the mm.  Its fields and saved auxv, every VMA (walking
 * the maple tree mm->mm_mt node by node, each node's type, pivots and depth
 * checked), and the pages resident in each VMA (walking its page tables):
 *
 *   anonymous private     every present page but the zero page
 *   anonymous shared      every present page (the shmem object's)
 *   file private          the pages that are anonymous (copied on write):
 *                         the others are the file's and come from the file
 *   vdso                  its pages (criu reads the dumped vDSO's ELF to
 *                         map it onto this kernel's, the same build)
 *   file shared, vvar     none: the file (page-cache migration) or the
 *                         running kernel provides them
 *
 * Pages are named by physical address; user space copies them through
 * /dev/orthros-rescue.  A PTE that is neither present nor empty (a swap
 * entry: these machines have no swap) costs the process.
 */
#define pr_fmt(fmt) "orthros-rescue: " fmt

#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/maple_tree.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <asm/pgtable.h>

#include "rescue.h"

/* The pseudo file system of AIO rings (fs/aio.c, private there: AIO_RING_MAGIC) */
#define RX_AIO_FS_MAGIC	0xa10a10a1

#define MT_TYPE(e)	(((e) >> MAPLE_NODE_TYPE_SHIFT) & MAPLE_NODE_TYPE_MASK)
#define MT_NODE(e)	((e) & ~MAPLE_NODE_MASK)
#define MT_MAX_DEPTH	MAPLE_HEIGHT_MAX

struct mm_walk_state {
	struct rx_ctx *c;
	u64 mm_va;
	struct mm_struct *mm;
	struct orthros_rx_proc *p;
	struct vm_area_struct *vma;	/* scratch */
	u64 prev_end;
	u32 nr;
	/* the open PAGES record */
	struct orthros_rx_hdr *pages_hdr;
	struct orthros_rx_pages *pages;
};

/* Append one page to the open PAGES record. */
static int add_page(struct mm_walk_state *s, u64 vaddr, u64 phys)
{
	struct rx_ctx *c = s->c;
	struct orthros_rx_page *e;

	if (!orthros_dead_phys(&c->dm, phys, PAGE_SIZE))
		return rx_fail(c, -EFAULT, "a page of %#llx is outside the dead OS's memory", vaddr);
	if (c->full || sizeof(*e) > c->len - c->used) {
		c->full = true;
		return -ENOSPC;
	}
	e = (void *)(c->buf + c->used);
	e->vaddr = vaddr;
	e->phys = phys;
	c->used += sizeof(*e);
	s->pages->count++;
	s->pages_hdr->len += sizeof(*e);
	return 0;
}

/* Is the dead page at pfn anonymous (of its folio's head)? */
static bool page_is_anon(struct rx_ctx *c, u64 pfn)
{
	u64 va = c->dm.facts.vmemmap_base + pfn * c->dm.facts.sizeof_page;
	struct page pg;

	if (orthros_dead_read(&c->dm, va, &pg, sizeof(pg)))
		return false;
	if (pg.compound_head & 1) {
		u64 head = pg.compound_head - 1;

		if (head < c->dm.facts.vmemmap_base ||
		    orthros_dead_read(&c->dm, head, &pg, sizeof(pg)))
			return false;
	}
	return (unsigned long)pg.mapping & PAGE_MAPPING_ANON;
}

static u64 table_entry(struct rx_ctx *c, u64 table_phys, u32 idx, int *err)
{
	u64 *e = orthros_dead_phys(&c->dm, table_phys + idx * 8, 8);

	if (!e) {
		*err = -EFAULT;
		return 0;
	}
	return READ_ONCE(*e);
}

/* The resident pages of [start, end) by its page tables, filtered by kind. */
static int rx_vma_pages(struct mm_walk_state *s, u64 start, u64 end, u32 kind)
{
	struct rx_ctx *c = s->c;
	u64 pgd_phys, addr = start;
	int err = 0;

	if (kind == ORTHROS_RXV_FILE_SHARED || kind == ORTHROS_RXV_VVAR)
		return 0;
	if (orthros_dead_va_phys(&c->dm, (u64)s->mm->pgd, PAGE_SIZE, &pgd_phys))
		return rx_fail(c, -EFAULT, "its page tables are outside the dead OS's memory");
	while (addr < end && !err) {
		u64 e, next, pfn, phys, pagesz;

		e = table_entry(c, pgd_phys, pgd_index(addr), &err);
		next = (addr + PGDIR_SIZE) & PGDIR_MASK;
		if (err || !(e & _PAGE_PRESENT))
			goto skip;
		e = table_entry(c, e & PTE_PFN_MASK, pud_index(addr), &err);
		next = (addr + PUD_SIZE) & PUD_MASK;
		if (err || !(e & _PAGE_PRESENT))
			goto skip;
		if (e & _PAGE_PSE) {
			phys = (e & PTE_PFN_MASK & PUD_MASK) + (addr & ~PUD_MASK);
			pagesz = PUD_SIZE;
			goto leaf;
		}
		e = table_entry(c, e & PTE_PFN_MASK, pmd_index(addr), &err);
		next = (addr + PMD_SIZE) & PMD_MASK;
		if (err || !(e & _PAGE_PRESENT))
			goto skip;
		if (e & _PAGE_PSE) {
			phys = (e & PTE_PFN_MASK & PMD_MASK) + (addr & ~PMD_MASK);
			pagesz = PMD_SIZE;
			goto leaf;
		}
		e = table_entry(c, e & PTE_PFN_MASK, pte_index(addr), &err);
		next = addr + PAGE_SIZE;
		if (err || !e)
			goto skip;
		if (!(e & (_PAGE_PRESENT | _PAGE_PROTNONE)))
			return rx_fail(c, -EFAULT, "page %#llx is swapped out or not a page", addr);
		phys = e & PTE_PFN_MASK;
		pagesz = PAGE_SIZE;
leaf:
		/* one page of a (maybe huge) mapping at a time */
		next = min(next, addr + PAGE_SIZE);
		(void)pagesz;
		pfn = phys >> PAGE_SHIFT;
		if (pfn == c->zero_pfn)
			goto skip;
		if (kind == ORTHROS_RXV_FILE_PRIVATE && !page_is_anon(c, pfn))
			goto skip;
		err = add_page(s, addr, phys & PAGE_MASK);
skip:
		if (next <= addr)
			break;
		addr = next;
	}
	if (err == -EFAULT && !c->why[0])
		rx_fail(c, err, "the page tables of %#llx-%#llx do not check", start, end);
	return err;
}

/* Kind, status and the file of one VMA. */
static int vma_record(struct mm_walk_state *s, u64 vma_va, struct vm_area_struct *v)
{
	struct rx_ctx *c = s->c;
	struct orthros_rx_vma *r;
	unsigned long fl = v->vm_flags;
	u64 vdso = (u64)s->mm->context.vdso;
	int err;

	r = rx_put(c, ORTHROS_RX_VMA, sizeof(*r));
	if (!r)
		return -ENOSPC;
	r->start = v->vm_start;
	r->end = v->vm_end;
	r->pgoff = v->vm_pgoff;
	r->vm_flags = fl;
	r->prot = (fl & VM_READ ? PROT_READ : 0) | (fl & VM_WRITE ? PROT_WRITE : 0) |
		  (fl & VM_EXEC ? PROT_EXEC : 0);
	r->map_flags = (fl & VM_SHARED ? MAP_SHARED : MAP_PRIVATE) |
		       (fl & VM_GROWSDOWN ? MAP_GROWSDOWN : 0);
	if (!v->vm_file) {
		r->map_flags |= MAP_ANONYMOUS;
		if (vdso && v->vm_start == vdso)
			r->kind = ORTHROS_RXV_VDSO;
		else if (vdso && v->vm_end == vdso)
			r->kind = ORTHROS_RXV_VVAR;
		else if (v->vm_ops)
			return rx_fail(c, -EOPNOTSUPP, "a special mapping at %#lx is not carried",
				       v->vm_start);
		else
			r->kind = ORTHROS_RXV_ANON_PRIVATE;
	} else {
		struct file *f = kmalloc(sizeof(*f), GFP_KERNEL);
		struct inode *in = kmalloc(sizeof(*in), GFP_KERNEL);
		struct dentry *de = kmalloc(sizeof(*de), GFP_KERNEL);
		struct super_block *sb = kmalloc(sizeof(*sb), GFP_KERNEL);

		err = -ENOMEM;
		if (f && in && de && sb)
			err = rx_read(c, (u64)v->vm_file, f, sizeof(*f), "a mapped file");
		if (!err)
			err = rx_read(c, (u64)f->f_inode, in, sizeof(*in), "a mapped file's inode");
		if (!err)
			err = rx_read(c, (u64)in->i_sb, sb, sizeof(*sb), "a mapped file's super_block");
		if (!err)
			err = rx_read(c, (u64)f->f_path.dentry, de, sizeof(*de), "a mapped file's dentry");
		if (!err && sb->s_magic == RX_AIO_FS_MAGIC)
			err = rx_fail(c, -EOPNOTSUPP,
				      "an AIO context (io_setup) at %#lx is not carried: its requests in flight would never complete",
				      v->vm_start);
		if (!err) {
			r->ino = in->i_ino;
			r->dev = sb->s_dev;
			r->mode = in->i_mode;
			r->size = in->i_size;
			/*
			 * Shared memory with no path: an anonymous shared mapping
			 * ("dev/zero"), or a memfd, as criu restores one (its
			 * shmem file is a pseudo dentry, its own parent).
			 */
			if (sb->s_magic == TMPFS_MAGIC && (fl & VM_SHARED) &&
			    ((de->d_name.len == 8 && !memcmp(de->d_iname, "dev/zero", 8)) ||
			     (u64)de->d_parent == (u64)f->f_path.dentry)) {
				r->kind = ORTHROS_RXV_ANON_SHARED;
				r->map_flags |= MAP_ANONYMOUS;
			} else {
				r->kind = fl & VM_SHARED ? ORTHROS_RXV_FILE_SHARED :
					  ORTHROS_RXV_FILE_PRIVATE;
				err = rx_path(c, (u64)f->f_path.mnt, (u64)f->f_path.dentry,
					      r->path, sizeof(r->path));
			}
		}
		kfree(f);
		kfree(in);
		kfree(de);
		kfree(sb);
		if (err)
			return err;
	}
	if (r->kind == ORTHROS_RXV_ANON_PRIVATE && v->vm_start <= s->mm->brk &&
	    v->vm_end >= s->mm->start_brk && s->mm->brk > s->mm->start_brk)
		r->status |= ORTHROS_RXV_HEAP;
	if (v->vm_start <= s->mm->start_stack && s->mm->start_stack < v->vm_end)
		r->status |= ORTHROS_RXV_STACK;
	/* its pages, in a PAGES record that grows as they are found */
	s->pages = rx_put(c, ORTHROS_RX_PAGES, sizeof(*s->pages));
	if (!s->pages)
		return -ENOSPC;
	s->pages_hdr = (struct orthros_rx_hdr *)s->pages - 1;
	err = rx_vma_pages(s, v->vm_start, v->vm_end, r->kind);
	r->nr_pages = s->pages->count;
	return err;
}

static int one_vma(struct mm_walk_state *s, u64 vma_va)
{
	struct rx_ctx *c = s->c;
	struct vm_area_struct *v = s->vma;

	if (rx_read(c, vma_va, v, sizeof(*v), "a VMA"))
		return -EFAULT;
	if ((u64)v->vm_mm != s->mm_va || v->vm_start >= v->vm_end ||
	    v->vm_start % PAGE_SIZE || v->vm_end % PAGE_SIZE || v->vm_start < s->prev_end ||
	    v->vm_end > TASK_SIZE_MAX)
		return rx_fail(c, -EFAULT, "a VMA at %#llx does not check (%#lx-%#lx)", vma_va,
			       v->vm_start, v->vm_end);
	if (++s->nr > RX_MAX_VMAS)
		return rx_fail(c, -E2BIG, "more than %u VMAs", RX_MAX_VMAS);
	s->prev_end = v->vm_end;
	return vma_record(s, vma_va, v);
}

static int mt_walk(struct mm_walk_state *s, u64 enode, u64 min, u64 max, int depth)
{
	struct rx_ctx *c = s->c;
	struct maple_node *n;
	u32 type = MT_TYPE(enode), nslots, i;
	unsigned long *pivot;
	void **slot;
	u64 prev = min;
	int err = 0;

	if (depth > MT_MAX_DEPTH)
		return rx_fail(c, -ELOOP, "the VMA tree is deeper than %d", MT_MAX_DEPTH);
	if (type != maple_leaf_64 && type != maple_range_64 && type != maple_arange_64)
		return rx_fail(c, -EFAULT, "a VMA tree node of type %u", type);
	n = kmalloc(sizeof(*n), GFP_KERNEL);
	if (!n)
		return -ENOMEM;
	if (rx_read(c, MT_NODE(enode), n, sizeof(*n), "a VMA tree node")) {
		kfree(n);
		return -EFAULT;
	}
	if (type == maple_arange_64) {
		nslots = MAPLE_ARANGE64_SLOTS;
		pivot = n->ma64.pivot;
		slot = (void **)n->ma64.slot;
	} else {
		nslots = MAPLE_RANGE64_SLOTS;
		pivot = n->mr64.pivot;
		slot = (void **)n->mr64.slot;
	}
	for (i = 0; i < nslots && !err; i++) {
		u64 piv = i < nslots - 1 ? pivot[i] : max;
		u64 e = (u64)slot[i];

		if (i && (piv == 0 || piv < prev))
			break;		/* past the node's data */
		if (piv > max)
			piv = max;
		if (type == maple_leaf_64) {
			if (e && !(e & 3))
				err = one_vma(s, e);
		} else if (e) {
			err = mt_walk(s, e, i ? prev + 1 : min, piv, depth + 1);
		}
		if (piv >= max)
			break;
		prev = piv;
	}
	kfree(n);
	return err;
}

int rx_mm(struct rx_ctx *c, const struct task_struct *t, struct orthros_rx_proc *p)
{
	struct mm_walk_state s = { .c = c, .mm_va = (u64)t->mm, .p = p };
	u64 root;
	int err, i;

	s.mm = kmalloc(sizeof(*s.mm), GFP_KERNEL);
	s.vma = kmalloc(sizeof(*s.vma), GFP_KERNEL);
	err = -ENOMEM;
	if (!s.mm || !s.vma)
		goto out;
	err = rx_read(c, s.mm_va, s.mm, sizeof(*s.mm), "the mm_struct");
	if (err)
		goto out;
	p->start_code = s.mm->start_code;
	p->end_code = s.mm->end_code;
	p->start_data = s.mm->start_data;
	p->end_data = s.mm->end_data;
	p->start_brk = s.mm->start_brk;
	p->brk = s.mm->brk;
	p->start_stack = s.mm->start_stack;
	p->arg_start = s.mm->arg_start;
	p->arg_end = s.mm->arg_end;
	p->env_start = s.mm->env_start;
	p->env_end = s.mm->env_end;
	p->vdso = (u64)s.mm->context.vdso;
	for (i = 0; i + 1 < ORTHROS_RX_AUXV && i + 1 < AT_VECTOR_SIZE; i += 2) {
		p->auxv[i] = s.mm->saved_auxv[i];
		p->auxv[i + 1] = s.mm->saved_auxv[i + 1];
		if (!s.mm->saved_auxv[i]) {
			i += 2;
			break;
		}
	}
	p->auxv_words = i;
	if (s.mm->exe_file) {
		struct file *f = kmalloc(sizeof(*f), GFP_KERNEL);

		err = f ? rx_read(c, (u64)s.mm->exe_file, f, sizeof(*f), "the executable") : -ENOMEM;
		if (!err)
			err = rx_path(c, (u64)f->f_path.mnt, (u64)f->f_path.dentry, p->exe,
				      sizeof(p->exe));
		kfree(f);
		if (err)
			goto out;
	}
	root = (u64)s.mm->mm_mt.ma_root;
	if (!root)
		goto done;
	if ((root & 3) != 2 || root < 4096) {
		err = rx_fail(c, -EFAULT, "the VMA tree's root does not check (%#llx)", root);
		goto out;
	}
	err = mt_walk(&s, root & ~2ULL, 0, ULONG_MAX, 0);
done:
	p->nr_vmas = s.nr;
out:
	kfree(s.mm);
	kfree(s.vma);
	return err;
}
