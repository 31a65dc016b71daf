// SPDX-License-Identifier: GPL-2.0
/*
 * Orthros page-cache migration: what the dead OS had written to files on its
 * user-data file system but not yet to the disk, applied through this OS's
 * own mount of the same file system.
 *
 * The dead kernel is the same build as this one (its kernel facts in the
 * shared memory carry a checksum of linux_banner), so its structures have the
 * layouts this file is compiled with.  Its memory is mapped by the physical
 * ranges in its OS record; its pointers are translated by the direct map and
 * the kernel-image map it published, and every one is checked against those
 * ranges before it is followed.  Nothing read from it is trusted:
 *
 *   super_block   s_magic, s_dev and s_uuid must match this OS's mount
 *   s_inodes      a capped walk with cycle detection (Brent); each inode must
 *                 point back to the super_block
 *   i_dentry      a capped walk up d_parent builds the file's path
 *   i_pages       the xarray (the first witness) is walked whole, each node
 *                 checked against its parent (shift, offset, parent, array),
 *                 its counts (count, nr_values) and its marks against its
 *                 parent's; each page it names must be a struct page inside
 *                 the dead OS's vmemmap whose mapping and index agree
 *   memmap        the second witness (cache_witness.c): every struct page of
 *                 the dead OS's RAM that names a file of the data file system;
 *                 the mapping's nrpages is a third
 *
 * The migration carries what either witness names, and names every
 * disagreement between them (st->disagreements) and every byte range it
 * cannot carry (st->losses: a damaged tree node with the memmap switched off,
 * a file with no readable name, a page that cannot be read).  A structure
 * that does not check costs that object, never this OS.  For each regular file with
 * dirty state or cached pages: open it (creating it if the disk does not have
 * it yet), write every dirty or writeback page and, unless the journal
 * transaction that last changed the inode had committed, every clean
 * up-to-date cached page inside i_size (ext4 counts a page clean once it is
 * written into the running journal transaction, before that commits; runs of
 * contiguous pages with one write each), set the size to i_size, fsync.
 * What is left is what fsync() in the dead kernel would have had to do.
 */
#define pr_fmt(fmt) "orthros-migrate: " fmt

#include <linux/buffer_head.h>
#include <linux/crc32.h>
#include <linux/dcache.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/ktime.h>
#include <linux/magic.h>
#include <linux/math64.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xarray.h>

#include "ext4.h"	/* the dead inode's journal transaction (Makefile: -I fs/ext4) */
#include "../shmem/orthros_shm.h"
#include "cache_witness.h"
#include "dead.h"
#include "orthros_migrate.h"

#define MAX_INODES	(1U << 20)
#define MAX_DEPTH	32		/* directories above a file */
#define MAX_XA_DEPTH	8
#define RUN_BYTES	(256 * 1024)	/* contiguous dirty pages written at once */

struct dead {
	struct orthros_dead dm;
	struct cache_witness cw;
	bool memmap;			/* the memmap witness is on and complete */
	struct orthros_migrate_stats *st;
	bool journal;			/* commit_seq read from the dead journal */
	tid_t commit_seq;		/* its last committed transaction */
	char *run;			/* RUN_BYTES: a run of pages copied out */
	u64 read_ns, write_ns, sync_ns;	/* where the time goes */
};

/* Count one more, keep the first one's text (160 bytes), log it. */
static void note(u64 *count, char *first, const char *what, const char *fmt, va_list ap)
{
	char buf[160];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (!(*count)++)
		strscpy(first, buf, sizeof(buf));
	pr_warn("%s: %s\n", what, buf);
}

/* An object that does not check, left out. */
static __printf(2, 3) void skip(struct dead *d, const char *fmt, ...)
{
	va_list ap;

	BUILD_BUG_ON(sizeof(d->st->first_skip) != 160);
	va_start(ap, fmt);
	note(&d->st->skipped, d->st->first_skip, "skipped", fmt, ap);
	va_end(ap);
}

/* One witness names what the other does not. */
static __printf(2, 3) void disagree(struct dead *d, const char *fmt, ...)
{
	va_list ap;

	BUILD_BUG_ON(sizeof(d->st->first_disagreement) != 160);
	va_start(ap, fmt);
	note(&d->st->disagreements, d->st->first_disagreement, "disagreement", fmt, ap);
	va_end(ap);
}

/*
 * Bytes [start, end) of file (its path here) that the dead kernel had and
 * that cannot be carried: named, never dropped without a word.  A range
 * that continues the last one named, for the same reason, extends it.
 */
static void lose(struct dead *d, const char *file, u64 start, u64 end, const char *why)
{
	struct orthros_migrate_stats *st = d->st;
	struct orthros_migrate_loss *l;

	if (end <= start)
		return;
	st->lost_bytes += end - start;
	l = st->nr_losses ? &st->losses[min_t(u32, st->nr_losses, ORTHROS_MIGRATE_MAX_LOSSES) - 1] : NULL;
	if (l && st->nr_losses <= ORTHROS_MIGRATE_MAX_LOSSES && l->end == start &&
	    !strncmp(l->file, file, sizeof(l->file) - 1) && !strncmp(l->why, why, sizeof(l->why) - 1)) {
		l->end = end;
	} else {
		if (st->nr_losses < ORTHROS_MIGRATE_MAX_LOSSES) {
			l = &st->losses[st->nr_losses];
			strscpy(l->file, file, sizeof(l->file));
			strscpy(l->why, why, sizeof(l->why));
			l->start = start;
			l->end = end;
		}
		st->nr_losses++;
	}
	pr_warn("lost: %s bytes %llu-%llu: %s\n", file, start, end, why);
}

static int dead_read(struct dead *d, u64 va, void *buf, size_t len)
{
	return orthros_dead_read(&d->dm, va, buf, len);
}

/* "/a/b/c" of a dead dentry, below its file system's root. */
static int dead_path(struct dead *d, u64 dentry_va, char *out, size_t len)
{
	struct dentry *de = kmalloc(sizeof(*de), GFP_KERNEL);
	char name[NAME_MAX + 1];
	size_t pos = len - 1;
	int depth, err = -EFAULT;

	if (!de)
		return -ENOMEM;
	out[pos] = '\0';
	for (depth = 0; depth <= MAX_DEPTH; depth++) {
		u32 n;

		if (dead_read(d, dentry_va, de, sizeof(*de)))
			goto out;
		if ((u64)de->d_parent == dentry_va) {	/* the root */
			if (pos == len - 1)
				goto out;
			memmove(out, out + pos, len - pos);
			err = 0;
			goto out;
		}
		n = de->d_name.len;
		if (!n || n > NAME_MAX || dead_read(d, (u64)de->d_name.name, name, n))
			goto out;
		name[n] = '\0';
		if (memchr(name, '/', n) || memchr(name, '\0', n) || n + 1 > pos) {
			err = -ENAMETOOLONG;
			goto out;
		}
		pos -= n;
		memcpy(out + pos, name, n);
		out[--pos] = '/';
		dentry_va = (u64)de->d_parent;
	}
out:
	kfree(de);
	return err;
}

/* mkdir -p of the directories above full (a path under the mount). */
static int make_parents(const char *full, size_t mnt_len)
{
	char *p, *buf = kstrdup(full, GFP_KERNEL);
	int err = 0;

	if (!buf)
		return -ENOMEM;
	for (p = buf + mnt_len + 1; !err && (p = strchr(p, '/')); p++) {
		struct dentry *de;
		struct path parent;

		*p = '\0';
		de = kern_path_create(AT_FDCWD, buf, &parent, LOOKUP_DIRECTORY);
		if (!IS_ERR(de)) {
			err = vfs_mkdir(mnt_idmap(parent.mnt), d_inode(parent.dentry), de, 0755);
			done_path_create(&parent, de);
		} else if (PTR_ERR(de) != -EEXIST) {
			err = PTR_ERR(de);
		}
		*p = '/';
	}
	kfree(buf);
	return err;
}

#define MAX_DAMAGE	8		/* damaged ranges kept per file; more: the rest of the file */

struct tree_page {
	u64 index;
	u64 page_va;
	bool marked;			/* dirty or writeback in its leaf */
};

struct file_job {
	struct dead *d;
	struct file *file;
	const char *full;		/* its path here, for the losses */
	u64 mapping_va;			/* &inode->i_data in the dead kernel */
	loff_t size;
	u64 pages;
	int err;
	bool all;			/* every up-to-date cached page, not only the dirty ones */
	loff_t run_pos;			/* the run of pages not written yet */
	size_t run_len;
	u32 run_pages;
	struct tree_page *tree;		/* what the first witness names, in index order */
	u32 nr_tree, cap_tree;
	u64 tree_nodes;			/* nodes read */
	struct {			/* indexes the tree cannot vouch for */
		u64 start, end;
		const char *why;
	} damage[MAX_DAMAGE];
	u32 nr_damage;
};

/* Write the run of pages copied so far with one write. */
static void flush_run(struct file_job *j)
{
	loff_t pos = j->run_pos;
	u64 t0 = ktime_get_ns();
	ssize_t w;

	if (!j->run_len)
		return;
	w = kernel_write(j->file, j->d->run, j->run_len, &pos);
	j->d->write_ns += ktime_get_ns() - t0;
	if (w != j->run_len) {
		j->err = w < 0 ? w : -EIO;
		lose(j->d, j->full, j->run_pos, j->run_pos + j->run_len, "cannot be written here");
	} else {
		j->pages += j->run_pages;
		j->d->st->bytes += w;
	}
	j->run_len = 0;
	j->run_pages = 0;
}

/* Add the dead page at index (a struct page pointer, checked) to the run. */
static void copy_dead_page(struct file_job *j, unsigned long index, u64 entry)
{
	loff_t pos = (loff_t)index << PAGE_SHIFT;
	size_t n = PAGE_SIZE;
	u64 phys, t0;

	if (pos >= j->size || j->err)
		return;
	if (j->size - pos < PAGE_SIZE)
		n = j->size - pos;
	if (orthros_dead_page_phys(&j->d->dm, entry, &phys)) {
		lose(j->d, j->full, pos, pos + n, "its page cannot be read");
		return;
	}
	if (j->run_len && (pos != j->run_pos + j->run_len || j->run_len + n > RUN_BYTES))
		flush_run(j);
	if (j->err)
		return;
	if (!j->run_len)
		j->run_pos = pos;
	t0 = ktime_get_ns();
	memcpy(j->d->run + j->run_len, orthros_dead_phys(&j->d->dm, phys, PAGE_SIZE), n);
	j->d->read_ns += ktime_get_ns() - t0;
	j->run_len += n;
	j->run_pages++;
}

#define DIRTY_MARKS(m) ((m)[XA_MARK_0][0] | (m)[XA_MARK_1][0])

/*
 * Is a clean dead page's data below i_size valid?  Yes if it is up to date.
 * Otherwise it may still hold written data: with blocks smaller than a page
 * (the user-data disk has 1 KiB blocks), the last page of a file that was
 * appended to is not PG_uptodate (its buffers past the end of the file were
 * never read), and once written back it is clean too, while the journal
 * transaction that allocated its blocks may not have committed (seen: the
 * acknowledged head of such a page lost).  Such a page is copied when every
 * buffer of it below i_size is up to date.  Its buffer ring is walked in the
 * dead memory, capped, each buffer checked to belong to the page.
 */
static bool page_buffers_valid(struct file_job *j, unsigned long index, u64 page_va)
{
	loff_t pos = (loff_t)index << PAGE_SHIFT;
	struct buffer_head bh;
	struct page pg;
	u64 first, bh_va;
	int n;

	if (orthros_dead_read(&j->d->dm, page_va, &pg, sizeof(pg)))
		return false;
	if (pg.flags & BIT(PG_uptodate))
		return true;
	if (!(pg.flags & BIT(PG_private)) || !pg.private)
		return false;
	first = bh_va = pg.private;
	for (n = 0; n < PAGE_SIZE / 512; n++) {
		if (orthros_dead_read(&j->d->dm, bh_va, &bh, sizeof(bh)) ||
		    (u64)bh.b_page != page_va || !bh.b_size || bh.b_size > PAGE_SIZE)
			return false;
		if (pos + ((u64)bh.b_data & ~PAGE_MASK) < j->size &&
		    !(bh.b_state & BIT(BH_Uptodate)))
			return false;
		bh_va = (u64)bh.b_this_page;
		if (bh_va == first)
			return true;
	}
	return false;
}

/* Indexes [start, start + (64 << shift)) that the tree cannot vouch for. */
static void damaged(struct file_job *j, u64 start, unsigned int shift, const char *why)
{
	u64 end = shift >= 58 ? U64_MAX : start + ((u64)XA_CHUNK_SIZE << shift);

	if (j->nr_damage && j->damage[j->nr_damage - 1].end == start &&
	    j->damage[j->nr_damage - 1].why == why) {
		j->damage[j->nr_damage - 1].end = end;
	} else if (j->nr_damage < MAX_DAMAGE) {
		j->damage[j->nr_damage].start = start;
		j->damage[j->nr_damage].end = end;
		j->damage[j->nr_damage++].why = why;
	} else {
		j->damage[MAX_DAMAGE - 1].end = U64_MAX;	/* the rest of the file */
	}
}

static bool in_damage(const struct file_job *j, u64 index)
{
	u32 i;

	for (i = 0; i < j->nr_damage; i++)
		if (index >= j->damage[i].start && index < j->damage[i].end)
			return true;
	return false;
}

/*
 * A page the tree names at index: its struct page (in the dead vmemmap)
 * must say it is this file's page at this index, as the memmap witness
 * reads it.
 */
static void tree_page(struct file_job *j, unsigned long index, u64 page_va, bool marked)
{
	struct page pg;
	u64 phys;
	int err;

	if (orthros_dead_page_phys(&j->d->dm, page_va, &phys) ||
	    orthros_dead_read(&j->d->dm, page_va, &pg, sizeof(pg)) ||
	    (u64)pg.mapping != j->mapping_va || pg.index != index) {
		damaged(j, index, 0, "a page it names is not this file's");
		return;
	}
	err = j->nr_tree < j->cap_tree ? 0 : -ENOSPC;
	if (err) {
		u32 n = j->cap_tree ? j->cap_tree * 2 : 512;
		struct tree_page *t = kvmalloc_array(n, sizeof(*t), GFP_KERNEL);

		if (!t) {
			damaged(j, index, 0, "out of memory");
			return;
		}
		if (j->tree)
			memcpy(t, j->tree, j->nr_tree * sizeof(*t));
		kvfree(j->tree);
		j->tree = t;
		j->cap_tree = n;
	}
	j->tree[j->nr_tree++] = (struct tree_page){ .index = index, .page_va = page_va,
						    .marked = marked };
}

/*
 * A node of the tree, which its parent (parent_va, 0 for the root) names at
 * offset, expecting shift (-1: the root, any).  Everything is walked, not
 * only what the marks lead to: a parent whose marks were overwritten must
 * not hide a child with dirty pages.
 */
static void walk_node(struct file_job *j, u64 node_va, unsigned long base, int depth,
		      u64 parent_va, unsigned int offset, int shift, bool parent_marked)
{
	u64 array_va = j->mapping_va + offsetof(struct address_space, i_pages);
	unsigned int count = 0, values = 0;
	struct xa_node *node;
	unsigned long marks;
	int i;

	if (depth > MAX_XA_DEPTH || ++j->tree_nodes > (1U << 20)) {
		damaged(j, base, shift < 0 ? 58 : shift, "the tree is too deep or too big");
		return;
	}
	node = kmalloc(sizeof(*node), GFP_KERNEL);
	if (!node) {
		j->err = -ENOMEM;
		return;
	}
	if (dead_read(j->d, node_va, node, sizeof(*node))) {
		damaged(j, base, shift < 0 ? 58 : shift, "a node cannot be read");
		goto out;
	}
	if (node->shift % XA_CHUNK_SHIFT || node->shift > BITS_PER_LONG - XA_CHUNK_SHIFT ||
	    (shift >= 0 && node->shift != shift) || (u64)node->parent != parent_va ||
	    (parent_va && node->offset != offset) || (u64)node->array != array_va) {
		damaged(j, base, shift < 0 ? 58 : shift, "a node does not check against its parent");
		goto out;
	}
	for (i = 0; i < XA_CHUNK_SIZE; i++) {
		void *e = (void __force *)node->slots[i];

		count += !!e;
		values += xa_is_value(e);
	}
	if (count != node->count || values != node->nr_values) {
		damaged(j, base, node->shift, "a node's slots do not match its counts");
		goto out;
	}
	marks = DIRTY_MARKS(node->marks);
	if (!!marks != parent_marked)
		disagree(j->d, "%s: the marks of the tree node at page %lu and its parent's disagree",
			 j->full, base);
	for (i = 0; i < XA_CHUNK_SIZE && !j->err; i++) {
		void *e = (void __force *)node->slots[i];
		unsigned long idx = base + ((unsigned long)i << node->shift);

		if (!e || xa_is_value(e))
			continue;	/* none, or a shadow of an evicted page */
		if (node->shift) {
			if (!xa_is_node(e))
				damaged(j, idx, node->shift - XA_CHUNK_SHIFT, "a node names no node");
			else
				walk_node(j, (u64)xa_to_node(e), idx, depth + 1, node_va, i,
					  node->shift - XA_CHUNK_SHIFT, marks & BIT(i));
		} else if (xa_is_internal(e)) {
			damaged(j, idx, 0, "a leaf holds an internal entry");
		} else {
			tree_page(j, idx, (u64)e, marks & BIT(i));
		}
	}
out:
	kfree(node);
}

static void walk_pages(struct file_job *j, const struct xarray *xa)
{
	void *head = (void __force *)xa->xa_head;
	bool marked = xa->xa_flags & (XA_FLAGS_MARK(XA_MARK_0) | XA_FLAGS_MARK(XA_MARK_1));

	if (!head || xa_is_value(head))
		return;
	if (xa_is_node(head))
		walk_node(j, (u64)xa_to_node(head), 0, 0, 0, 0, -1, marked);
	else if (xa_is_internal(head))
		damaged(j, 0, 58, "its tree's head is an internal entry, not a node");
	else
		tree_page(j, 0, (u64)head, marked);
}

/*
 * Had the journal transaction that last changed this dead inode committed,
 * with i_size on the disk?  ext4 records that transaction in i_sync_tid
 * (every journalled change of the inode: its size, its blocks, its times);
 * ext4_fsync() commits it unless it had.  Unreadable: no.
 */
static bool inode_committed(struct dead *d, u64 inode_va, const struct inode *in)
{
	u64 ei_va = inode_va - offsetof(struct ext4_inode_info, vfs_inode);
	loff_t disksize;
	tid_t tid;

	if (!d->journal ||
	    dead_read(d, ei_va + offsetof(struct ext4_inode_info, i_sync_tid), &tid, sizeof(tid)) ||
	    dead_read(d, ei_va + offsetof(struct ext4_inode_info, i_disksize), &disksize,
		      sizeof(disksize)))
		return false;
	return disksize == in->i_size && tid_geq(d->commit_seq, tid);
}

/* The dead file system's last committed journal transaction, if it has a journal. */
static void read_commit_seq(struct dead *d, const struct super_block *sb)
{
	u64 sbi = (u64)sb->s_fs_info, journal;

	if (!sbi ||
	    dead_read(d, sbi + offsetof(struct ext4_sb_info, s_journal), &journal,
		      sizeof(journal)) || !journal ||
	    dead_read(d, journal + offsetof(journal_t, j_commit_sequence), &d->commit_seq,
		      sizeof(d->commit_seq)))
		return;
	d->journal = true;
}

/*
 * The pages to copy, in index order: what either witness names.  A page
 * both name is copied once; one that only one names is a disagreement
 * (carried all the same); an index range the tree could not vouch for is
 * covered by the memmap, or, with no memmap, named as a loss.
 */
static void merge_and_copy(struct file_job *j, const struct cw_page *w, u32 nw)
{
	struct dead *d = j->d;
	u32 a = 0, b = 0, only_tree = 0, only_memmap = 0, i;
	u64 first_tree = 0, first_memmap = 0, end_pg = DIV_ROUND_UP(j->size, PAGE_SIZE);

	while ((a < j->nr_tree || b < nw) && !j->err) {
		const struct tree_page *t = NULL;
		const struct cw_page *m = NULL;
		bool want;
		u64 idx, page;

		if (a < j->nr_tree && (b >= nw || j->tree[a].index <= w[b].index))
			t = &j->tree[a++];
		if (b < nw && (!t || w[b].index == t->index))
			m = &w[b++];
		while (m && b < nw && w[b].index == m->index)
			b++;	/* two struct pages claim one index: the first (a race at death) */
		idx = t ? t->index : m->index;
		want = (t && t->marked) || (m && (m->flags & (CW_DIRTY | CW_WRITEBACK)));
		page = m && (m->flags & (CW_DIRTY | CW_WRITEBACK)) ? m->page_va :
		       t ? t->page_va : m->page_va;
		if (!want && j->all && idx < end_pg)
			want = page_buffers_valid(j, idx, page);
		if (!want || idx >= end_pg)
			continue;
		if (d->memmap && t && !m && !only_tree++)
			first_tree = idx;
		if (d->memmap && m && !t && !in_damage(j, idx) && !only_memmap++)
			first_memmap = idx;
		d->st->tree_pages += !!t;
		d->st->memmap_pages += !!m;
		copy_dead_page(j, idx, page);
	}
	if (only_tree)
		disagree(j->d, "%s: %u pages the tree names the memmap does not (the first at page %llu)",
			 j->full, only_tree, first_tree);
	if (only_memmap)
		disagree(j->d, "%s: %u pages the memmap names the tree does not (the first at page %llu)",
			 j->full, only_memmap, first_memmap);
	for (i = 0; i < j->nr_damage; i++) {
		u64 s = j->damage[i].start, e = min(j->damage[i].end, end_pg);

		if (s >= e)
			continue;
		if (d->memmap)
			disagree(j->d, "%s: pages %llu-%llu: %s: the memmap's pages carried", j->full, s,
				 e - 1, j->damage[i].why);
		else
			lose(d, j->full, s << PAGE_SHIFT, min_t(u64, e << PAGE_SHIFT, j->size),
			     j->damage[i].why);
	}
}

/*
 * A whole file that cannot be carried (no readable name, no way to open it
 * here): its bytes are named as lost.
 */
static void lose_file(struct dead *d, const struct inode *in, const char *full, const char *why)
{
	char name[32];

	if (!full) {
		snprintf(name, sizeof(name), "inode %lu", in->i_ino);
		full = name;
	}
	lose(d, full, 0, in->i_size, why);
}

/*
 * The dead inode by its number on the disk mounted at mnt, if the disk has
 * that very file (its generation, linked, a regular file): a file whose dead
 * name the disk does not have (the transaction that gave it was not carried,
 * e.g. dropped with a handle open in it) is written under the name the disk
 * has, not duplicated under a second one.
 */
static struct file *open_by_inode(const char *mnt, const struct inode *dead)
{
	struct inode *inode;
	struct path root, p;
	struct file *f;

	if (kern_path(mnt, LOOKUP_FOLLOW, &root))
		return ERR_PTR(-ENOENT);
	if (root.mnt->mnt_sb->s_magic != EXT4_SUPER_MAGIC || root.dentry != root.mnt->mnt_root) {
		path_put(&root);
		return ERR_PTR(-EXDEV);
	}
	inode = ext4_iget(root.mnt->mnt_sb, dead->i_ino, EXT4_IGET_HANDLE);
	if (IS_ERR(inode)) {
		path_put(&root);
		return ERR_CAST(inode);
	}
	if (inode->i_generation != dead->i_generation || !inode->i_nlink ||
	    !S_ISREG(inode->i_mode)) {
		iput(inode);
		path_put(&root);
		return ERR_PTR(-ESTALE);
	}
	p.mnt = root.mnt;
	p.dentry = d_obtain_alias(inode);	/* takes the inode's reference */
	if (IS_ERR(p.dentry)) {
		path_put(&root);
		return ERR_CAST(p.dentry);
	}
	f = dentry_open(&p, O_WRONLY | O_LARGEFILE, current_cred());
	dput(p.dentry);
	path_put(&root);
	return f;
}

/* Times equal to the second, and to the nanosecond where the disk keeps them. */
static bool same_time(struct timespec64 here, struct timespec64 dead)
{
	return here.tv_sec == dead.tv_sec && (!here.tv_nsec || here.tv_nsec == dead.tv_nsec);
}

static void migrate_inode(struct dead *d, u64 inode_va, const struct inode *in,
			  const char *mnt, u32 fi)
{
	struct file_job j = { .d = d, .size = in->i_size,
			      .mapping_va = inode_va + offsetof(struct inode, i_data) };
	bool marked = in->i_data.i_pages.xa_flags &
		      (XA_FLAGS_MARK(XA_MARK_0) | XA_FLAGS_MARK(XA_MARK_1));
	const struct cw_page *w = NULL;
	struct hlist_node first;
	u32 nw = 0, wdirty = 0, i;
	u64 dentry_va;
	char *path, *full;
	struct kstat stat;
	struct path p;
	bool exists;
	u64 t0;
	int err;

	if (!S_ISREG(in->i_mode) || !in->i_nlink)
		return;
	if (d->memmap)
		w = cw_pages(&d->cw, fi, &nw);
	for (i = 0; i < nw; i++)
		wdirty += !!(w[i].flags & (CW_DIRTY | CW_WRITEBACK));
	if (!(in->i_state & I_DIRTY_ALL) && !in->i_data.nrpages && !marked && !wdirty)
		return;
	/*
	 * A clean inode or page is not yet on the disk while the journal
	 * transaction that last changed the inode runs: ext4 writes it into
	 * that transaction, which commits every few seconds.  So, unless that
	 * transaction had committed, every cached up-to-date page is copied
	 * (the dirty ones and the clean ones) and the size set; once it had,
	 * only the dirty and writeback pages (what fsync() would still have
	 * written), and a file with none of them is left alone.
	 */
	j.all = !inode_committed(d, inode_va, in);
	if (!j.all && !marked && !wdirty) {
		d->st->committed++;
		return;
	}
	if (!j.all && !marked)
		disagree(d, "inode %lu: its tree has no dirty mark, the memmap %u dirty pages",
			 in->i_ino, wdirty);
	if (in->i_size < 0 || in->i_size > (1LL << 40)) {
		char name[32];

		skip(d, "inode %lu: size %lld", in->i_ino, in->i_size);
		snprintf(name, sizeof(name), "inode %lu", in->i_ino);
		lose(d, name, 0, 1ULL << 40, "its size does not check");
		return;
	}
	path = kmalloc(PATH_MAX, GFP_KERNEL);
	full = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!path || !full)
		goto out;
	/* the first name of the inode */
	if (!in->i_dentry.first ||
	    dead_read(d, (u64)in->i_dentry.first, &first, sizeof(first))) {
		skip(d, "inode %lu: no name", in->i_ino);
		lose_file(d, in, NULL, "no name");
		goto out;
	}
	dentry_va = (u64)in->i_dentry.first - offsetof(struct dentry, d_u.d_alias);
	err = dead_path(d, dentry_va, path, PATH_MAX);
	if (err) {
		skip(d, "inode %lu: its path cannot be read (%d)", in->i_ino, err);
		lose_file(d, in, NULL, "its path cannot be read");
		goto out;
	}
	if (snprintf(full, PATH_MAX, "%s%s", mnt, path) >= PATH_MAX) {
		skip(d, "inode %lu: path too long", in->i_ino);
		lose_file(d, in, NULL, "its path is too long");
		goto out;
	}
	j.full = full;
	exists = !kern_path(full, 0, &p);
	if (exists) {
		path_put(&p);
	} else {
		/* its name is not on the disk: is the file, under another? */
		j.file = open_by_inode(mnt, in);
		if (!IS_ERR(j.file)) {
			exists = true;
			disagree(d, "%s: not on the disk (the journal transaction that named it was not carried): written to inode %lu under the name the disk has",
				 path, in->i_ino);
			goto opened;
		}
		if (make_parents(full, strlen(mnt)))
			skip(d, "%s: cannot create its directories here", path);
	}
	j.file = filp_open(full, O_WRONLY | O_CREAT | O_LARGEFILE, in->i_mode & 07777);
opened:
	if (IS_ERR(j.file)) {
		skip(d, "%s: cannot open here (%ld)", path, PTR_ERR(j.file));
		lose_file(d, in, full, "cannot be opened here");
		goto out;
	}
	/*
	 * The journal was finished before the mount (orthros-journal): the
	 * inode here has the dead kernel's times already, and writing the data
	 * it had must not change them.  Without that (a dropped transaction,
	 * or the carry off) the file gets the time of this write, as any new
	 * data does.
	 */
	if (!vfs_getattr(&j.file->f_path, &stat, STATX_MTIME | STATX_CTIME, AT_STATX_SYNC_AS_STAT) &&
	    same_time(stat.mtime, inode_get_mtime(in)) && same_time(stat.ctime, inode_get_ctime(in)))
		j.file->f_mode |= FMODE_NOCMTIME;
	walk_pages(&j, &in->i_data.i_pages);
	merge_and_copy(&j, w, nw);
	/* the third witness: how many pages the mapping said it had */
	if (d->memmap && d->cw.files[fi].listed && nw != in->i_data.nrpages)
		disagree(d, "%s: nrpages %lu, the memmap %u pages, the tree %u", full,
			 in->i_data.nrpages, nw, j.nr_tree);
	flush_run(&j);
	if (j.err)
		skip(d, "%s: error %d after %llu pages copied", path, j.err, j.pages);
	err = vfs_getattr(&j.file->f_path, &stat, STATX_SIZE, AT_STATX_SYNC_AS_STAT);
	if (!err && stat.size != in->i_size) {
		/* a size change is the time of this write (the journal did not give it) */
		err = vfs_truncate(&j.file->f_path, in->i_size);
		if (!err)
			d->st->resized++;
	} else if (!err && (j.file->f_mode & FMODE_NOCMTIME)) {
		d->st->times_kept++;
	}
	if (err)
		skip(d, "%s: cannot set its size to %lld (%d)", path, in->i_size, err);
	t0 = ktime_get_ns();
	vfs_fsync(j.file, 0);
	d->sync_ns += ktime_get_ns() - t0;
	fput(j.file);
	d->st->files++;
	d->st->created += !exists;
	d->st->pages += j.pages;
	pr_info("%s: %llu pages, size %lld%s\n", path, j.pages, in->i_size,
		exists ? "" : " (created)");
out:
	kvfree(j.tree);
	kfree(path);
	kfree(full);
}

int orthros_migrate(u32 ordinal, const char *mnt, u32 flags, struct orthros_migrate_stats *st)
{
	struct super_block *sb = NULL;
	struct inode *in = NULL;
	struct dead *d;
	struct path here;
	u64 sb_va, head, next, power = 1, lam = 0, tortoise, t0;
	u32 n;
	int err;

	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	d->st = st;
	err = orthros_dead_open(&d->dm, ordinal);
	if (err)
		goto out;
	err = -ENOENT;
	sb_va = d->dm.facts.data_sb;
	if (!sb_va) {
		pr_err("OS %u registered no file system\n", ordinal);
		goto out;
	}
	err = -ENOMEM;
	sb = kmalloc(sizeof(*sb), GFP_KERNEL);
	in = kmalloc(sizeof(*in), GFP_KERNEL);
	d->run = kvmalloc(RUN_BYTES, GFP_KERNEL);
	if (!sb || !in || !d->run)
		goto out;

	err = kern_path(mnt, LOOKUP_FOLLOW, &here);
	if (err)
		goto out;
	err = -EXDEV;
	if (dead_read(d, sb_va, sb, sizeof(*sb)) || sb->s_magic != EXT4_SUPER_MAGIC ||
	    here.dentry != here.mnt->mnt_root ||
	    !uuid_equal(&sb->s_uuid, &here.mnt->mnt_sb->s_uuid)) {
		path_put(&here);
		pr_err("the dead OS's file system is not the one mounted at %s\n", mnt);
		goto out;
	}
	path_put(&here);
	read_commit_seq(d, sb);
	err = cw_init(&d->cw, &d->dm, sb_va);
	if (err)
		goto out;

	pr_info("migrating OS %u's dirty page cache of %s into %s (journal %s %u)\n", ordinal,
		d->dm.facts.data_path, mnt, d->journal ? "committed to" : "not read",
		d->commit_seq);
	head = sb_va + offsetof(struct super_block, s_inodes);
	next = (u64)sb->s_inodes.next;
	tortoise = next;
	for (n = 0; next != head; n++) {
		u64 inode_va = next - offsetof(struct inode, i_sb_list);

		if (n >= MAX_INODES) {
			skip(d, "more than %u inodes: the rest of the list", MAX_INODES);
			break;
		}
		if (dead_read(d, inode_va, in, sizeof(*in)) || (u64)in->i_sb != sb_va) {
			skip(d, "inode list broken at %#llx after %u inodes: the rest of the list",
			     inode_va, n);
			break;
		}
		st->inodes++;
		if (S_ISREG(in->i_mode) && in->i_nlink && cw_add_file(&d->cw, inode_va, true) < 0) {
			skip(d, "more than %u files: the rest of the list", d->cw.nr_files);
			break;
		}
		next = (u64)in->i_sb_list.next;
		/* Brent: a cycle that does not pass the head is found within 2x its length */
		if (next == tortoise) {
			skip(d, "inode list loops at %#llx: the rest of the list", next);
			break;
		}
		if (++lam == power) {
			tortoise = next;
			power <<= 1;
			lam = 0;
		}
	}
	/* the second witness, then every file either one names */
	st->memmap_off = !!(flags & ORTHROS_MIGRATE_TREE_ONLY);
	if (!st->memmap_off) {
		t0 = ktime_get_ns();
		cw_scan(&d->cw);
		st->memmap_us = div_u64(ktime_get_ns() - t0, NSEC_PER_USEC);
		st->memmap_scanned = d->cw.scanned;
		d->memmap = !d->cw.unreadable && !d->cw.dropped;
		if (!d->memmap)
			disagree(d, "the memmap scan is incomplete (%llu memmap pages unreadable, %llu pages past its cap): the tree alone is trusted",
				 d->cw.unreadable, d->cw.dropped);
		pr_info("memmap: %llu struct pages read in %llu us, %u cached pages of %u files\n",
			d->cw.scanned, st->memmap_us, d->cw.nr, d->cw.nr_files);
	}
	for (n = 0; n < d->cw.nr_files; n++) {
		u64 inode_va = d->cw.files[n].inode_va;

		if (dead_read(d, inode_va, in, sizeof(*in)) || (u64)in->i_sb != sb_va) {
			skip(d, "inode at %#llx cannot be read again", inode_va);
			continue;
		}
		if (!d->cw.files[n].listed)
			disagree(d, "inode %lu has dirty pages and is not on the inode list", in->i_ino);
		migrate_inode(d, inode_va, in, mnt, n);
	}
	err = 0;
	st->read_us = div_u64(d->read_ns, NSEC_PER_USEC);
	st->write_us = div_u64(d->write_ns, NSEC_PER_USEC);
	st->sync_us = div_u64(d->sync_ns, NSEC_PER_USEC);
	pr_info("%llu inodes looked at, %llu files written (%llu created, %llu resized), %llu pages, %llu bytes, %llu committed left alone, %llu skipped, %llu disagreements, %llu bytes lost\n",
		st->inodes, st->files, st->created, st->resized, st->pages, st->bytes,
		st->committed, st->skipped, st->disagreements, st->lost_bytes);
out:
	cw_free(&d->cw);
	orthros_dead_close(&d->dm);
	kvfree(d->run);
	kfree(sb);
	kfree(in);
	kfree(d);
	return err;
}
