// SPDX-License-Identifier: GPL-2.0
/*
 * Process rescue: epoll instances (see rescue.h).
 *
 * An epoll file's private data is its struct eventpoll, whose watches
 * (struct epitem) hang in an rbtree.  Both structures are private to
 * fs/eventpoll.c; an Orthros kernel publishes their layout
 * (orthros_ep_layout, kernel-patches/0008), which is this kernel's too: the
 * dead one ran the same image.  Each watch becomes an EPITEM record: the fd
 * it was added with, the file that fd was, the events and the data.  The
 * tree is walked in order with a bounded stack, every node read through the
 * checked dead-memory reader; more than RX_MAX_WATCHES watches, or a tree
 * deeper than RX_EP_DEPTH, fails the process (a tree that does not check).
 */
#define pr_fmt(fmt) "orthros-rescue: " fmt

#include <linux/fs.h>
#include <linux/eventpoll.h>
#include <linux/orthros.h>
#include <linux/rbtree.h>
#include <linux/slab.h>

#include "rescue.h"

#define RX_MAX_WATCHES	4096
#define RX_EP_DEPTH	64

bool rx_is_epoll(const struct file *f)
{
	return f->f_op && (const void *)f->f_op == orthros_ep_layout.fops;
}

/* One epitem at va: its EPITEM record. */
static int one_watch(struct rx_ctx *c, u64 va, struct orthros_rx_fd *r)
{
	const struct orthros_ep_layout *l = &orthros_ep_layout;
	struct orthros_rx_epitem *w;
	struct epoll_event ev;
	u64 file;
	int fd, err;

	err = rx_read(c, va + l->file, &file, sizeof(file), "an epoll watch");
	if (!err)
		err = rx_read(c, va + l->fd, &fd, sizeof(fd), "an epoll watch's fd");
	if (!err)
		err = rx_read(c, va + l->event, &ev, sizeof(ev), "an epoll watch's events");
	if (err)
		return err;
	if (fd < 0 || !file)
		return rx_fail(c, -EFAULT, "an epoll watch does not check (fd %d)", fd);
	w = rx_put(c, ORTHROS_RX_EPITEM, sizeof(*w));
	if (!w)
		return -ENOSPC;
	w->file_id = file;
	w->fd = fd;
	w->events = ev.events;
	w->data = ev.data;
	r->nr_bufs++;
	return 0;
}

int rx_epoll(struct rx_ctx *c, const struct file *f, struct orthros_rx_fd *r)
{
	const struct orthros_ep_layout *l = &orthros_ep_layout;
	u64 *stack, node, rbn;
	u32 depth = 0, seen = 0;
	struct rb_node n;
	int err;

	snprintf(r->path, sizeof(r->path), "an epoll instance");
	err = rx_read(c, (u64)f->private_data + l->rbr, &node, sizeof(node), "an eventpoll");
	if (err)
		return err;
	stack = kmalloc_array(RX_EP_DEPTH, sizeof(*stack), GFP_KERNEL);
	if (!stack)
		return -ENOMEM;
	/* in order: left spine down, visit, then the right subtree */
	while (!err && (node || depth)) {
		while (!err && node) {
			if (depth == RX_EP_DEPTH) {
				err = rx_fail(c, -ELOOP, "an epoll tree is deeper than %u", RX_EP_DEPTH);
				break;
			}
			stack[depth++] = node;
			err = rx_read(c, node, &n, sizeof(n), "an epoll tree node");
			node = (u64)n.rb_left;
		}
		if (err || !depth)
			break;
		rbn = stack[--depth];
		if (++seen > RX_MAX_WATCHES) {
			err = rx_fail(c, -E2BIG, "an epoll instance has more than %u watches",
				      RX_MAX_WATCHES);
			break;
		}
		err = rx_read(c, rbn, &n, sizeof(n), "an epoll tree node");
		if (!err)
			err = one_watch(c, rbn - l->rbn, r);
		node = (u64)n.rb_right;
	}
	kfree(stack);
	return err;
}
