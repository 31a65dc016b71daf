/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How far a read(), recvfrom() or write() had got: its iov_iter, found on
 * the thread's kernel stack by its shape.  Used by the process rescue on a copy
 * of a dead thread's stack (rescue_task.c) and by the fault injector on the
 * live one (workloads/kernel/inject.c, to crash inside such a call on
 * purpose), so that both agree on what "bytes copied" means.
 */
#ifndef ORTHROS_IO_PROGRESS_H
#define ORTHROS_IO_PROGRESS_H

#include <linux/string.h>
#include <linux/types.h>
#include <linux/uio.h>

/*
 * stack[0, len) is the live part of a kernel stack (8-byte aligned), and
 * the call reads into (dir ITER_DEST) or writes from (ITER_SOURCE) the user
 * buffer buf of count bytes: the call's iov_iter is ITER_UBUF, dir, on buf,
 * with iov_offset bytes done and count left, iov_offset + count = count
 * asked.  Returns how many copies were found (0: none) and sets *done to
 * the furthest.  Copies may differ: sock_read_iter() and sock_write_iter()
 * take the caller's iov_iter into a msghdr by value and write it back only
 * on return, so while the protocol copies, the caller's copy (in
 * new_sync_read()'s frame) still says 0 done.  A copy taken by value never
 * runs ahead of the one being advanced (a revert only takes back what that
 * one had advanced), so the furthest is the call's progress.
 */
static inline int orthros_io_progress(const u8 *stack, size_t len, u64 buf, u64 count,
				      bool dir, u64 *done)
{
	u64 off, ubuf, iov_offset, left;
	int n = 0;

	for (off = 0; off + sizeof(struct iov_iter) <= len; off += 8) {
		const u8 *it = stack + off;

		if (it[offsetof(struct iov_iter, iter_type)] != ITER_UBUF ||
		    it[offsetof(struct iov_iter, data_source)] != dir ||
		    it[offsetof(struct iov_iter, nofault)])
			continue;
		memcpy(&ubuf, it + offsetof(struct iov_iter, ubuf), 8);
		memcpy(&iov_offset, it + offsetof(struct iov_iter, iov_offset), 8);
		memcpy(&left, it + offsetof(struct iov_iter, count), 8);
		if (ubuf != buf || iov_offset > count || iov_offset + left != count)
			continue;
		if (!n++ || iov_offset > *done)
			*done = iov_offset;
	}
	return n;
}

#endif
