// SPDX-License-Identifier: GPL-2.0
/*
 * Process rescue: the file table, the cwd, root and umask, paths through
 * the dead kernel's mounts, and the bytes queued in pipes (see rescue.h);
 * sockets are rescue_net.c's.
 *
 * A path is built from the file's dentry up to its mount's root, then from
 * the mountpoint in the parent mount, and so on up to the root mount: the
 * path under which this OS finds the same file (the user-data disk is
 * mounted at the same place; the root file systems of both OSes come from
 * the same image).
 */
#define pr_fmt(fmt) "orthros-rescue: " fmt

#include <linux/fdtable.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/kdev_t.h>
#include <linux/magic.h>
#include <linux/pipe_fs_i.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "../../fs/mount.h"
#include "rescue.h"

int rx_path(struct rx_ctx *c, u64 mnt_va, u64 dentry_va, char *out, size_t len)
{
	u64 mount_va = mnt_va - offsetof(struct mount, mnt);
	struct dentry *de;
	struct mount *m;
	size_t pos = len - 1;
	int comps = 0, mounts = 0, err = -EFAULT;

	de = kmalloc(sizeof(*de), GFP_KERNEL);
	m = kmalloc(sizeof(*m), GFP_KERNEL);
	if (!de || !m) {
		err = -ENOMEM;
		goto out;
	}
	out[pos] = '\0';
	for (;;) {
		if (++mounts > RX_MAX_MOUNTS || rx_read(c, mount_va, m, sizeof(*m), "a mount"))
			goto bad;
		while (dentry_va != (u64)m->mnt.mnt_root) {
			char name[NAME_MAX + 1];
			u32 n;

			if (++comps > RX_MAX_PATH || rx_read(c, dentry_va, de, sizeof(*de), "a dentry"))
				goto bad;
			if ((u64)de->d_parent == dentry_va)
				goto bad;	/* a root that is not its mount's */
			n = de->d_name.len;
			if (!n || n > NAME_MAX ||
			    rx_read(c, (u64)de->d_name.name, name, n, "a file name"))
				goto bad;
			if (memchr(name, '/', n) || memchr(name, '\0', n) || n + 1 > pos) {
				err = rx_fail(c, -ENAMETOOLONG, "a path is too long or does not check");
				goto out;
			}
			pos -= n;
			memcpy(out + pos, name, n);
			out[--pos] = '/';
			dentry_va = (u64)de->d_parent;
		}
		if ((u64)m->mnt_parent == mount_va)
			break;
		dentry_va = (u64)m->mnt_mountpoint;
		mount_va = (u64)m->mnt_parent;
	}
	if (pos == len - 1)
		out[--pos] = '/';
	memmove(out, out + pos, len - pos);
	err = 0;
	goto out;
bad:
	err = rx_fail(c, -EFAULT, "a path (dentry %#llx) does not check", dentry_va);
out:
	kfree(de);
	kfree(m);
	return err;
}

int rx_fs(struct rx_ctx *c, const struct task_struct *t, struct orthros_rx_proc *p)
{
	struct fs_struct fs;
	int err;

	err = rx_read(c, (u64)t->fs, &fs, sizeof(fs), "the fs_struct");
	if (err)
		return err;
	p->umask = fs.umask;
	err = rx_path(c, (u64)fs.pwd.mnt, (u64)fs.pwd.dentry, p->cwd, sizeof(p->cwd));
	if (!err)
		err = rx_path(c, (u64)fs.root.mnt, (u64)fs.root.dentry, p->root, sizeof(p->root));
	return err;
}

#define RX_PIPE_HISTORY	16	/* buffers read out, at most, before the queue */

/*
 * The ring's slots before the queue: buffers read out, whose pages may still
 * hold the bytes read last (pipe_buf_release() leaves the page pointer and
 * the end offset).  Newest first into hist[]; a slot stops the walk when it
 * does not check or its page is in use again (the queue's, or another's).
 */
static u32 pipe_history(struct rx_ctx *c, const struct pipe_inode_info *pi, u32 n,
			u64 *hist_phys, u32 *hist_end)
{
	u32 i, j, k, free = pi->ring_size - n, got = 0;
	u64 queued[RX_PIPE_HISTORY];
	struct pipe_buffer b;

	/* the pages of the first queued buffers, which a reused page would be */
	for (i = 0; i < n && i < RX_PIPE_HISTORY; i++) {
		queued[i] = 0;
		if (!orthros_dead_read(&c->dm, (u64)pi->bufs +
				       ((pi->tail + i) & (pi->ring_size - 1)) * sizeof(b),
				       &b, sizeof(b)))
			orthros_dead_page_phys(&c->dm, (u64)b.page, &queued[i]);
	}
	for (k = 1; k <= free && got < RX_PIPE_HISTORY; k++) {
		u64 phys;

		if (orthros_dead_read(&c->dm, (u64)pi->bufs +
				      ((pi->tail - k) & (pi->ring_size - 1)) * sizeof(b), &b, sizeof(b)) ||
		    !b.page || b.len || !b.offset || b.offset > PAGE_SIZE ||
		    orthros_dead_page_phys(&c->dm, (u64)b.page, &phys))
			break;
		for (j = 0; j < i && queued[j] != phys; j++)
			;
		if (j < i)
			break;
		for (j = 0; j < got && hist_phys[j] != phys; j++)
			;
		if (j < got)
			break;
		hist_phys[got] = phys;
		hist_end[got++] = b.offset;
	}
	return got;
}

/* The queued buffers of a pipe, as PIPEBUF records, after those read last. */
static int pipe_bufs(struct rx_ctx *c, u64 pipe_va, struct orthros_rx_fd *r)
{
	u64 hist_phys[RX_PIPE_HISTORY];
	u32 hist_end[RX_PIPE_HISTORY];
	struct pipe_inode_info pi;
	u32 i, n, h;
	int err;

	err = rx_read(c, pipe_va, &pi, sizeof(pi), "a pipe");
	if (err)
		return err;
	n = pi.head - pi.tail;
	if (!pi.ring_size || pi.ring_size > 1024 || (pi.ring_size & (pi.ring_size - 1)) ||
	    n > pi.ring_size)
		return rx_fail(c, -EFAULT, "a pipe does not check (ring %u, %u buffers)",
			       pi.ring_size, n);
	r->pipe_size = pi.ring_size * PAGE_SIZE;
	h = pipe_history(c, &pi, n, hist_phys, hist_end);
	while (h--) {
		struct orthros_rx_pipebuf *pb = rx_put(c, ORTHROS_RX_PIPEBUF, sizeof(*pb));

		if (!pb)
			return -ENOSPC;
		pb->pipe_ino = r->ino;
		pb->phys = hist_phys[h];
		pb->offset = hist_end[h];
		pb->flags = ORTHROS_RXPB_READ;
		r->nr_bufs++;
	}
	for (i = 0; i < n; i++) {
		struct orthros_rx_pipebuf *pb;
		struct pipe_buffer b;
		u64 phys;

		err = rx_read(c, (u64)pi.bufs + ((pi.tail + i) & (pi.ring_size - 1)) * sizeof(b),
			      &b, sizeof(b), "a pipe buffer");
		if (err)
			return err;
		if (b.offset + b.len > PAGE_SIZE || orthros_dead_page_phys(&c->dm, (u64)b.page, &phys))
			return rx_fail(c, -EFAULT, "a pipe buffer does not check");
		pb = rx_put(c, ORTHROS_RX_PIPEBUF, sizeof(*pb));
		if (!pb)
			return -ENOSPC;
		pb->pipe_ino = r->ino;
		pb->phys = phys;
		pb->offset = b.offset;
		pb->len = b.len;
		r->pipe_bytes += b.len;
		r->nr_bufs++;
	}
	return 0;
}

static int one_fd(struct rx_ctx *c, u32 fd, u64 file_va, bool cloexec, struct file *f,
		  struct inode *in, struct super_block *sb)
{
	struct orthros_rx_fd *r;
	int err;

	err = rx_read(c, file_va, f, sizeof(*f), "an open file");
	if (!err)
		err = rx_read(c, (u64)f->f_inode, in, sizeof(*in), "an open file's inode");
	if (!err)
		err = rx_read(c, (u64)in->i_sb, sb, sizeof(*sb), "an open file's super_block");
	if (err)
		return err;
	r = rx_put(c, ORTHROS_RX_FD, sizeof(*r));
	if (!r)
		return -ENOSPC;
	r->fd = fd;
	r->flags = f->f_flags;
	r->cloexec = cloexec;
	r->pos = f->f_pos;
	r->ino = in->i_ino;
	r->dev = sb->s_dev;
	r->mode = in->i_mode;
	r->size = in->i_size;
	r->rdev = in->i_rdev;
	r->file_id = file_va;
	if (S_ISREG(in->i_mode) || S_ISDIR(in->i_mode)) {
		r->kind = ORTHROS_RXF_REG;
	} else if (S_ISCHR(in->i_mode) && MAJOR(in->i_rdev) == 1) {
		r->kind = ORTHROS_RXF_CHR;	/* /dev/null, /dev/zero, ... */
	} else if (S_ISFIFO(in->i_mode)) {
		r->kind = sb->s_magic == PIPEFS_MAGIC ? ORTHROS_RXF_PIPE : ORTHROS_RXF_FIFO;
		err = pipe_bufs(c, (u64)in->i_pipe, r);
		if (err)
			return err;
		/* the records of the buffers follow; r stays valid in the buffer */
		if (r->kind == ORTHROS_RXF_PIPE)
			return 0;
	} else if (rx_is_epoll(f)) {
		/* its watches' records follow */
		r->kind = ORTHROS_RXF_EPOLL;
		return rx_epoll(c, f, r);
	} else if (S_ISSOCK(in->i_mode)) {
		bool carried;

		/* an IPv4 TCP/UDP socket becomes INET and its records follow */
		r->kind = ORTHROS_RXF_OTHER;
		return rx_socket(c, file_va, f, r, &carried);
	} else {
		r->kind = ORTHROS_RXF_OTHER;
		snprintf(r->path, sizeof(r->path), "%s (mode %o, device %u:%u)",
			 S_ISSOCK(in->i_mode) ? "a socket" : S_ISCHR(in->i_mode) ? "a terminal or device" :
			 "an anonymous inode", in->i_mode, MAJOR(in->i_rdev), MINOR(in->i_rdev));
		return 0;
	}
	return rx_path(c, (u64)f->f_path.mnt, (u64)f->f_path.dentry, r->path, sizeof(r->path));
}

int rx_files(struct rx_ctx *c, const struct task_struct *t, struct orthros_rx_proc *p)
{
	struct files_struct *files;
	struct fdtable fdt;
	struct file *f;
	struct inode *in;
	struct super_block *sb;
	u64 *fds = NULL;
	unsigned long *coe = NULL;
	u32 i, max;
	int err;

	if (!t->files)
		return 0;
	files = kmalloc(sizeof(*files), GFP_KERNEL);
	f = kmalloc(sizeof(*f), GFP_KERNEL);
	in = kmalloc(sizeof(*in), GFP_KERNEL);
	sb = kmalloc(sizeof(*sb), GFP_KERNEL);
	err = -ENOMEM;
	if (!files || !f || !in || !sb)
		goto out;
	err = rx_read(c, (u64)t->files, files, sizeof(*files), "the file table");
	if (!err)
		err = rx_read(c, (u64)files->fdt, &fdt, sizeof(fdt), "the fd table");
	if (err)
		goto out;
	max = min_t(u32, fdt.max_fds, RX_MAX_FDS);
	fds = kvmalloc_array(max, sizeof(*fds), GFP_KERNEL);
	coe = kvzalloc(BITS_TO_LONGS(max) * sizeof(long), GFP_KERNEL);
	err = -ENOMEM;
	if (!fds || !coe)
		goto out;
	err = rx_read(c, (u64)fdt.fd, fds, max * sizeof(*fds), "the fd array");
	if (!err)
		err = rx_read(c, (u64)fdt.close_on_exec, coe, BITS_TO_LONGS(max) * sizeof(long),
			      "the close-on-exec bits");
	for (i = 0; i < max && !err; i++) {
		if (!fds[i])
			continue;
		err = one_fd(c, i, fds[i], test_bit(i, coe), f, in, sb);
		p->nr_fds++;
	}
	if (!err && fdt.max_fds > RX_MAX_FDS) {
		/* descriptors past the cap: only if one is open */
		err = 0;
	}
out:
	kvfree(fds);
	kvfree(coe);
	kfree(files);
	kfree(f);
	kfree(in);
	kfree(sb);
	return err;
}
