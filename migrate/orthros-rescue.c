// SPDX-License-Identifier: GPL-2.0
/*
 * orthros-rescue: turn the kernel extractor's records (orthros_rescue_abi.h)
 * into a CRIU image set, and restore it with Debian's criu 3.17.1.
 *
 *   orthros-rescue write   --records FILE --out DIR [--dead-mem DEV]
 *   orthros-rescue extract --pid PID [--tree] [--self] --out DIR [--json]
 *   orthros-rescue restore --dir DIR [--mono-offset-ns N --boot-offset-ns N]
 *
 * The records name page and pipe contents by physical address; they are read
 * with pread() at that offset from the dead-memory device (or, on a
 * development host, a plain file laid out the same way).
 * Field numbers of CRIU's messages (images/NAME.proto of criu 3.17.1) are written
 * next to each use as "field: name".
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <elf.h>
#include <sys/uio.h>
#include <sys/ptrace.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rescue-run.h"
#include "kernel/orthros_rescue_abi.h"
#include "criu-img.h"

#define PAGE		4096UL
#ifndef SS_AUTODISARM
#define SS_AUTODISARM	(1U << 31)
#endif
#define SIGMAX		64
#define AUXV_MAX	44		/* criu's AT_VECTOR_SIZE on x86-64 */

/* criu/include/image.h */
#define VMA_AREA_REGULAR	(1 << 0)
#define VMA_AREA_STACK		(1 << 1)
#define VMA_AREA_VDSO		(1 << 3)
#define VMA_AREA_HEAP		(1 << 5)
#define VMA_FILE_PRIVATE	(1 << 6)
#define VMA_FILE_SHARED		(1 << 7)
#define VMA_ANON_SHARED		(1 << 8)
#define VMA_ANON_PRIVATE	(1 << 9)
#define VMA_AREA_VVAR		(1 << 12)

#define PE_PRESENT		(1 << 2)	/* criu/include/pagemap.h */
#define TASK_ALIVE		1		/* compel task states */
#define FD_TYPE_REG		1		/* images/fdinfo.proto fd_types */
#define FD_TYPE_PIPE		2
#define FD_TYPE_FIFO		3
#define FD_TYPE_INETSK		4
#define FD_TYPE_UNIXSK		5
#define FD_TYPE_EVENTPOLL	7

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#include <stdarg.h>
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "orthros-rescue: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "orthros-rescue: warning: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

#define PUSH(arr, n, v) do { \
	(arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr))); \
	(arr)[(n)++] = (v); \
} while (0)

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---------------------------------------------------------------- records */

struct rvma {
	const struct orthros_rx_vma *v;
	struct orthros_rx_page *pg;
	uint64_t nr_pg;
	uint32_t file_id;			/* criu id of the mapped file */
};

struct rfd {
	const struct orthros_rx_fd *f;
	const struct orthros_rx_pipebuf **buf;
	uint32_t nr_buf;
	const struct orthros_rx_sock *sk;	/* INET: the socket */
	const struct orthros_rx_skdata **data;	/* its queued bytes */
	uint32_t nr_data;
	const struct orthros_rx_epitem **ep;	/* EPOLL: its watches */
	uint32_t nr_ep;
};

struct rproc {
	const struct orthros_rx_proc *p;
	const struct orthros_rx_thread **thr;
	uint32_t nr_thr;
	struct rvma *vma;
	uint32_t nr_vma;
	struct rfd *fd;
	uint32_t nr_fd;
	const struct orthros_rx_sigq **sq;
	uint32_t nr_sq;
	uint32_t vm_id, files_id, fs_id, sighand_id;
};

static struct rproc *procs;
static uint32_t nr_procs;

/* What was written, for --json and the end-of-write line. */
static struct {
	uint32_t threads, stacks_vmap, vmas, fds, skipped_fds, sockets, watches;
	uint64_t pages, bytes, sk_bytes;
} st;

static void parse_records(const uint8_t *buf, size_t len)
{
	struct rproc *p = NULL;
	struct rvma *v = NULL;
	struct rfd *f = NULL;
	size_t off = 0;
	bool end = false;

	while (!end) {
		const struct orthros_rx_hdr *h = (const void *)(buf + off);
		const void *d = h + 1;

		if (off + sizeof(*h) > len)
			die("records: cut short at byte %zu (no END record)", off);
		if (h->len > len - off - sizeof(*h) || h->len % 8)
			die("records: bad length %u at byte %zu", h->len, off);
#define NEED(T) do { if (h->len < sizeof(T)) \
	die("records: %s record of %u bytes at byte %zu", #T, h->len, off); } while (0)
#define IN(x, what) do { if (!(x)) \
	die("records: %s record outside its %s at byte %zu", #what, #x, off); } while (0)
		switch (h->type) {
		case ORTHROS_RX_PROC:
			NEED(struct orthros_rx_proc);
			PUSH(procs, nr_procs, (struct rproc){ .p = d });
			p = &procs[nr_procs - 1];
			v = NULL;
			f = NULL;
			break;
		case ORTHROS_RX_THREAD:
			NEED(struct orthros_rx_thread);
			IN(p, THREAD);
			PUSH(p->thr, p->nr_thr, (const struct orthros_rx_thread *)d);
			break;
		case ORTHROS_RX_VMA:
			NEED(struct orthros_rx_vma);
			IN(p, VMA);
			PUSH(p->vma, p->nr_vma, (struct rvma){ .v = d });
			v = &p->vma[p->nr_vma - 1];
			f = NULL;
			break;
		case ORTHROS_RX_PAGES: {
			const struct orthros_rx_pages *pg = d;

			NEED(struct orthros_rx_pages);
			IN(v, PAGES);
			if (pg->count > (h->len - sizeof(*pg)) / sizeof(pg->page[0]))
				die("records: PAGES count %llu too big at byte %zu",
				    (unsigned long long)pg->count, off);
			v->pg = xrealloc(v->pg, (v->nr_pg + pg->count) * sizeof(*v->pg));
			memcpy(v->pg + v->nr_pg, pg->page, pg->count * sizeof(*v->pg));
			v->nr_pg += pg->count;
			break;
		}
		case ORTHROS_RX_FD:
			NEED(struct orthros_rx_fd);
			IN(p, FD);
			PUSH(p->fd, p->nr_fd, (struct rfd){ .f = d });
			f = &p->fd[p->nr_fd - 1];
			v = NULL;
			break;
		case ORTHROS_RX_PIPEBUF:
			NEED(struct orthros_rx_pipebuf);
			IN(f, PIPEBUF);
			PUSH(f->buf, f->nr_buf, (const struct orthros_rx_pipebuf *)d);
			break;
		case ORTHROS_RX_SOCK:
			NEED(struct orthros_rx_sock);
			IN(f, SOCK);
			if (f->sk || (f->f->kind != ORTHROS_RXF_INET && f->f->kind != ORTHROS_RXF_UNIX))
				die("records: SOCK record for fd %u of kind %u at byte %zu",
				    f->f->fd, f->f->kind, off);
			f->sk = d;
			break;
		case ORTHROS_RX_SKDATA: {
			const struct orthros_rx_skdata *sd = d;

			NEED(struct orthros_rx_skdata);
			IN(f, SKDATA);
			if (!f->sk || sd->queue > 1 || !sd->len || sd->len > PAGE ||
			    (sd->phys & (PAGE - 1)) + sd->len > PAGE)
				die("records: SKDATA record does not check at byte %zu", off);
			PUSH(f->data, f->nr_data, sd);
			break;
		}
		case ORTHROS_RX_EPITEM:
			NEED(struct orthros_rx_epitem);
			IN(f, EPITEM);
			if (f->f->kind != ORTHROS_RXF_EPOLL)
				die("records: EPITEM record for fd %u of kind %u at byte %zu",
				    f->f->fd, f->f->kind, off);
			PUSH(f->ep, f->nr_ep, (const struct orthros_rx_epitem *)d);
			break;
		case ORTHROS_RX_SIGQ:
			NEED(struct orthros_rx_sigq);
			IN(p, SIGQ);
			PUSH(p->sq, p->nr_sq, (const struct orthros_rx_sigq *)d);
			break;
		case ORTHROS_RX_END:
			end = true;
			break;
		default:
			die("records: unknown type %u at byte %zu", h->type, off);
		}
		off += sizeof(*h) + h->len;
	}
	if (!nr_procs)
		die("records: no process");
	for (uint32_t i = 0; i < nr_procs; i++) {
		if (!procs[i].nr_thr)
			die("records: process %u has no thread", procs[i].p->pid);
		for (uint32_t j = 0; j < procs[i].nr_fd; j++) {
			const struct rfd *x = &procs[i].fd[j];

			if ((x->f->kind == ORTHROS_RXF_INET || x->f->kind == ORTHROS_RXF_UNIX) &&
			    (!x->sk || x->sk->nr_data != x->nr_data))
				die("records: socket fd %u of process %u: %u of %u SKDATA records",
				    x->f->fd, procs[i].p->pid, x->nr_data, x->sk ? x->sk->nr_data : 0);
			if (x->f->kind == ORTHROS_RXF_EPOLL && x->f->nr_bufs != x->nr_ep)
				die("records: epoll fd %u of process %u: %u of %u EPITEM records",
				    x->f->fd, procs[i].p->pid, x->nr_ep, x->f->nr_bufs);
		}
	}
}

/* ------------------------------------------------------------- dead memory */

static int mem_fd = -1;

/* n bytes of dead memory at phys, or false (a page not readable any more) */
static bool read_phys_try(void *to, uint64_t phys, size_t n)
{
	return pread(mem_fd, to, n, phys) == (ssize_t)n;
}

static void read_phys(void *to, uint64_t phys, size_t n)
{
	ssize_t r = pread(mem_fd, to, n, phys);

	if (r != (ssize_t)n)
		die("dead memory: reading %zu bytes at %#llx: %s", n,
		    (unsigned long long)phys, r < 0 ? strerror(errno) : "short read");
}

/* ------------------------------------------------------------------ files */

static uint32_t next_id = 1;
static struct img files_img;

/* One file_entry per distinct opened file; reused by key. */
struct fkey {
	uint64_t dead_file;		/* the dead struct file, or 0 */
	char key[ORTHROS_RX_PATH + 16];	/* path-based entries: path and flags */
	uint32_t id;
};
static struct fkey *fkeys;
static uint32_t nr_fkeys;

static uint32_t *pipes_done;
static uint32_t nr_pipes_done;

static void fown(struct pb *m, unsigned int field)
{
	struct pb o = { 0 };

	/* fown_entry: uid, euid, signum, pid_type, pid (F_SETOWN is not carried) */
	for (unsigned int i = 1; i <= 5; i++)
		pb_varint(&o, i, 0);
	pb_msg(m, field, &o);
	pb_free(&o);
}

static void put_file(uint32_t type, uint32_t id, unsigned int field, struct pb *sub)
{
	struct pb fe = { 0 };

	/* file_entry: 1 type, 2 id, 3 reg, 17 fifo, 18 pipe */
	pb_varint(&fe, 1, type);
	pb_varint(&fe, 2, id);
	pb_msg(&fe, field, sub);
	pb_free(sub);
	if (img_put(&files_img, &fe))
		exit(1);
}

/* Files the rescue cut back (undo_partial_append()): criu checks their new size. */
static struct cut {
	const char *path;
	uint64_t size;
} *cuts;
static uint32_t nr_cuts;

/* A regular file (or directory, or device) by path. */
static uint32_t reg_file(const char *path, uint32_t flags, uint64_t pos,
			 uint32_t mode, uint64_t size, uint64_t dead_file)
{
	struct pb r = { 0 };
	struct fkey k = { .dead_file = dead_file };
	uint32_t id;

	if (!dead_file) {
		snprintf(k.key, sizeof(k.key), "%s\n%x", path, flags);
		for (uint32_t i = 0; i < nr_fkeys; i++)
			if (!fkeys[i].dead_file && !strcmp(fkeys[i].key, k.key))
				return fkeys[i].id;
	}
	id = next_id++;
	k.id = id;
	PUSH(fkeys, nr_fkeys, k);

	/* reg_file_entry: 1 id, 2 flags, 3 pos, 5 fown, 6 name, 8 size, 10 mode */
	pb_varint(&r, 1, id);
	pb_varint(&r, 2, flags);
	pb_varint(&r, 3, pos);
	fown(&r, 5);
	pb_str(&r, 6, path[0] ? path : "/");
	for (uint32_t i = 0; i < nr_cuts; i++)
		if (!strcmp(cuts[i].path, path))
			size = cuts[i].size;
	if (S_ISREG(mode))	/* criu checks the size of regular files only */
		pb_varint(&r, 8, size);
	if (mode)
		pb_varint(&r, 10, mode);
	put_file(FD_TYPE_REG, id, 3, &r);
	return id;
}

static uint32_t dead_file_id(uint64_t dead_file)
{
	for (uint32_t i = 0; i < nr_fkeys; i++)
		if (dead_file && fkeys[i].dead_file == dead_file)
			return fkeys[i].id;
	return 0;
}

/* Queued bytes of a pipe or FIFO, once per pipe: entry, then the bytes. */
static void pipe_data(struct img *im, const struct rfd *f)
{
	struct pb e = { 0 };
	uint32_t bytes = 0;
	uint8_t *data;

	for (uint32_t i = 0; i < nr_pipes_done; i++)
		if (pipes_done[i] == (uint32_t)f->f->ino)
			return;
	if (!f->nr_buf)
		return;
	PUSH(pipes_done, nr_pipes_done, (uint32_t)f->f->ino);
	for (uint32_t i = 0; i < f->nr_buf; i++) {
		if (f->buf[i]->len > 1 << 20)
			die("pipe %llu: buffer of %u bytes",
			    (unsigned long long)f->f->ino, f->buf[i]->len);
		bytes += f->buf[i]->len;
	}
	data = xrealloc(NULL, bytes);
	for (uint32_t i = 0, o = 0; i < f->nr_buf; o += f->buf[i]->len, i++)
		read_phys(data + o, f->buf[i]->phys + f->buf[i]->offset, f->buf[i]->len);
	/* pipe_data_entry: 1 pipe_id, 2 bytes, 3 size */
	pb_varint(&e, 1, (uint32_t)f->f->ino);
	pb_varint(&e, 2, bytes);
	if (f->f->pipe_size)
		pb_varint(&e, 3, f->f->pipe_size);
	if (img_put(im, &e) || img_write(im, data, bytes))
		exit(1);
	free(data);
}

static struct img pipes_img, fifo_img, skq_img;

/* sk_opts_entry: 1 sndbuf, 2 rcvbuf, 3-6 timeouts (required), 7 reuseaddr,
 * 17 reuseport, 19 keepalive; criu sets SO_*BUFFORCE to half of these */
static void sk_opts(struct pb *o, const struct orthros_rx_sock *k)
{
	pb_varint(o, 1, k->sndbuf);
	pb_varint(o, 2, k->rcvbuf);
	for (unsigned int i = 3; i <= 6; i++)
		pb_varint(o, i, 0);
	pb_varint(o, 7, !!(k->flags & ORTHROS_RXS_REUSEADDR));
	pb_varint(o, 17, !!(k->flags & ORTHROS_RXS_REUSEPORT));
	pb_varint(o, 19, !!(k->flags & ORTHROS_RXS_KEEPALIVE));
}

/*
 * An AF_UNIX stream socket: unix_sk_entry in files.img (file_entry field 16),
 * its peer named by inode (criu pairs the two ends of a socketpair by it: both
 * must be in this image set), and the bytes queued to it and not read in
 * sk-queues.img (sk_packet_entry, then the bytes; criu writes them again
 * through the peer at restore), in pieces of at most 16 KiB.
 */
static uint32_t unix_socket(const struct rfd *x, uint32_t flags)
{
	const struct orthros_rx_sock *k = x->sk;
	struct pb e = { 0 }, o = { 0 };
	uint32_t id = next_id++, queued = 0, fill = 0;
	uint8_t *piece = xrealloc(NULL, 16384 + PAGE);

	PUSH(fkeys, nr_fkeys, ((struct fkey){ .dead_file = x->f->file_id, .id = id }));
	sk_opts(&o, k);
	/* unix_sk_entry: 1 id, 2 ino, 3 type, 4 state, 5 flags, 6 uflags, 7 backlog,
	 * 8 peer (its inode), 9 fown, 10 opts, 11 name (all required), 12 shutdown */
	pb_varint(&e, 1, id);
	pb_varint(&e, 2, (uint32_t)k->ino);
	pb_varint(&e, 3, k->type);
	pb_varint(&e, 4, k->state);
	pb_varint(&e, 5, flags);
	pb_varint(&e, 6, 0);
	pb_varint(&e, 7, k->backlog);
	pb_varint(&e, 8, (uint32_t)k->peer_ino);
	fown(&e, 9);
	pb_msg(&e, 10, &o);
	pb_free(&o);
	pb_bytes(&e, 11, k->name, k->name_len < sizeof(k->name) ? k->name_len : sizeof(k->name));
	if (k->shutdown)
		pb_varint(&e, 12, k->shutdown & 3);
	put_file(FD_TYPE_UNIXSK, id, 16, &e);
	for (uint32_t i = 0; i <= x->nr_data; i++) {
		if (i < x->nr_data) {
			read_phys(piece + fill, x->data[i]->phys, x->data[i]->len);
			fill += x->data[i]->len;
		}
		if (fill && (fill >= 16384 || i == x->nr_data)) {
			struct pb q = { 0 };

			/* sk_packet_entry: 1 id_for (the socket it is queued to), 2 length */
			pb_varint(&q, 1, id);
			pb_varint(&q, 2, fill);
			if (img_put(&skq_img, &q) || img_write(&skq_img, piece, fill))
				exit(1);
			queued += fill;
			fill = 0;
		}
	}
	free(piece);
	if (queued != k->inq_len)
		die("unix socket %llu: %u queued bytes, its queue said %u",
		    (unsigned long long)k->ino, queued, k->inq_len);
	st.sk_bytes += queued;
	st.sockets++;
	return id;
}

/*
 * An IPv4 socket: inet_sk_entry in files.img (file_entry field 4) and, for an
 * established TCP connection, tcp-stream-INO.img: tcp_stream_entry, then the
 * bytes received and not read, then the bytes not acknowledged, raw.
 */
static uint32_t inet_socket(int dir, const struct rfd *x, uint32_t flags)
{
	const struct orthros_rx_sock *k = x->sk;
	struct pb e = { 0 }, o = { 0 };
	uint32_t id = next_id++;

	PUSH(fkeys, nr_fkeys, ((struct fkey){ .dead_file = x->f->file_id, .id = id }));
	sk_opts(&o, k);
	/* inet_sk_entry: 1 id, 2 ino, 3 family, 4 type, 5 proto, 6 state, 7 src_port,
	 * 8 dst_port, 9 flags, 10 backlog, 11 src_addr, 12 dst_addr (both always),
	 * 13 fown, 14 opts, 19 shutdown */
	pb_varint(&e, 1, id);
	pb_varint(&e, 2, (uint32_t)k->ino);
	pb_varint(&e, 3, k->family);
	pb_varint(&e, 4, k->type);
	pb_varint(&e, 5, k->protocol);
	/* UDP: 1 connected, 7 (TCP_CLOSE) not, as criu's dump says */
	pb_varint(&e, 6, k->protocol == IPPROTO_UDP ? (k->dst_port ? 1 : 7) : k->state);
	pb_varint(&e, 7, k->src_port);
	pb_varint(&e, 8, k->dst_port);
	pb_varint(&e, 9, flags);
	pb_varint(&e, 10, k->backlog);
	pb_varint(&e, 11, k->src_addr);
	pb_varint(&e, 12, k->dst_addr);
	fown(&e, 13);
	pb_msg(&e, 14, &o);
	pb_free(&o);
	if (k->shutdown)
		pb_varint(&e, 19, k->shutdown & 3);
	put_file(FD_TYPE_INETSK, id, 4, &e);

	if (k->protocol == IPPROTO_TCP && k->dst_port) {
		struct img ts;
		struct pb t = { 0 };
		char name[64];
		uint8_t page[PAGE];
		uint32_t in = 0, out = 0;

		snprintf(name, sizeof(name), "tcp-stream-%x.img", (uint32_t)k->ino);
		if (img_open(&ts, dir, name, TCP_STREAM_MAGIC))
			exit(1);
		/* tcp_stream_entry: 1 inq_len, 2 inq_seq, 3 outq_len, 4 outq_seq, 5 opt_mask,
		 * 6 snd_wscale, 7 mss_clamp, 8 rcv_wscale, 9 timestamp, 10 cork,
		 * 11 nodelay, 12 unsq_len, 13 snd_wl1, 14 snd_wnd, 15 max_window,
		 * 16 rcv_wnd, 17 rcv_wup */
		pb_varint(&t, 1, k->inq_len);
		pb_varint(&t, 2, k->inq_seq);
		pb_varint(&t, 3, k->outq_len);
		pb_varint(&t, 4, k->outq_seq);
		/*
		 * A connection without window scaling (QEMU's user network has
		 * none) still gets the WSCALE option, with both shifts 0: a
		 * connect() in repair mode leaves the rcv_wscale it computed for
		 * a SYN never sent, and without this the kernel would shift every
		 * window it advertises by it, to a few bytes.
		 */
		pb_varint(&t, 5, k->opt_mask | TCPI_OPT_WSCALE);
		pb_varint(&t, 6, k->opt_mask & TCPI_OPT_WSCALE ? k->snd_wscale : 0);
		pb_varint(&t, 7, k->mss_clamp);
		pb_varint(&t, 8, k->opt_mask & TCPI_OPT_WSCALE ? k->rcv_wscale : 0);
		pb_varint(&t, 9, k->timestamp);
		pb_varint(&t, 10, !!(k->flags & ORTHROS_RXS_CORK));
		pb_varint(&t, 11, !!(k->flags & ORTHROS_RXS_NODELAY));
		pb_varint(&t, 12, k->unsq_len);
		pb_varint(&t, 13, k->snd_wl1);
		pb_varint(&t, 14, k->snd_wnd);
		pb_varint(&t, 15, k->max_window);
		pb_varint(&t, 16, k->rcv_wnd);
		pb_varint(&t, 17, k->rcv_wup);
		if (img_put(&ts, &t))
			exit(1);
		/* the kernel gave the received queue first, then the send queue */
		for (uint32_t i = 0; i < x->nr_data; i++) {
			const struct orthros_rx_skdata *d = x->data[i];

			if (d->queue == 0 && out)
				die("socket %llu: received bytes after bytes to send",
				    (unsigned long long)k->ino);
			read_phys(page, d->phys, d->len);
			if (img_write(&ts, page, d->len))
				exit(1);
			*(d->queue ? &out : &in) += d->len;
		}
		if (in != k->inq_len || out != k->outq_len)
			die("socket %llu: %u+%u queued bytes, the sequence numbers say %u+%u",
			    (unsigned long long)k->ino, in, out, k->inq_len, k->outq_len);
		if (img_close(&ts))
			exit(1);
		st.sk_bytes += in + out;
	}
	st.sockets++;
	return id;
}


/*
 * An epoll instance: eventpoll_file_entry in files.img (file_entry field 9)
 * with one eventpoll_tfd_entry per watch; criu adds them (epoll_ctl) once
 * the process's other fds are open.  A watch whose fd is not open in this
 * process on the file it was added with (closed or reused since: the dead
 * kernel keeps such a watch while the file lives) cannot be added again: it
 * is left out, and said.
 */
static uint32_t epoll_file(const struct rproc *p, const struct rfd *x, uint32_t flags)
{
	struct pb e = { 0 };
	uint32_t id = next_id++, kept = 0;

	PUSH(fkeys, nr_fkeys, ((struct fkey){ .dead_file = x->f->file_id, .id = id }));
	/* eventpoll_file_entry: 1 id, 2 flags, 3 fown, 4 tfd (repeated) */
	pb_varint(&e, 1, id);
	pb_varint(&e, 2, flags);
	fown(&e, 3);
	for (uint32_t i = 0; i < x->nr_ep; i++) {
		const struct orthros_rx_epitem *w = x->ep[i];
		struct pb t = { 0 };
		bool open = false;

		for (uint32_t j = 0; j < p->nr_fd && !open; j++)
			open = p->fd[j].f->fd == w->fd && p->fd[j].f->file_id == w->file_id &&
			       p->fd[j].f->kind != ORTHROS_RXF_OTHER;
		if (!open) {
			warn("pid %u: epoll fd %u: the watch of fd %u is left out (not open on its file)",
			     p->p->pid, x->f->fd, w->fd);
			continue;
		}
		/* eventpoll_tfd_entry: 1 id (the epoll file's), 2 tfd, 3 events, 4 data */
		pb_varint(&t, 1, id);
		pb_varint(&t, 2, w->fd);
		pb_varint(&t, 3, w->events);
		pb_varint(&t, 4, w->data);
		pb_msg(&e, 4, &t);
		pb_free(&t);
		kept++;
	}
	put_file(FD_TYPE_EVENTPOLL, id, 9, &e);
	st.watches += kept;
	return id;
}

static void write_fds(int dir, struct rproc *p)
{
	struct img fi;
	char name[64];

	snprintf(name, sizeof(name), "fdinfo-%u.img", p->files_id);
	if (img_open(&fi, dir, name, FDINFO_MAGIC))
		exit(1);
	for (uint32_t i = 0; i < p->nr_fd; i++) {
		const struct orthros_rx_fd *f = p->fd[i].f;
		uint32_t flags = f->flags & ~O_CLOEXEC, id, type = FD_TYPE_REG;
		struct pb e = { 0 }, s = { 0 };

		id = dead_file_id(f->file_id);
		switch (f->kind) {
		case ORTHROS_RXF_REG:
		case ORTHROS_RXF_CHR:
			if (!id)
				id = reg_file(f->path, flags, f->pos, f->mode, f->size,
					      f->file_id ? f->file_id : ~0ULL - next_id);
			break;
		case ORTHROS_RXF_PIPE:
			type = FD_TYPE_PIPE;
			if (!id) {
				id = next_id++;
				PUSH(fkeys, nr_fkeys, ((struct fkey){ .dead_file = f->file_id, .id = id }));
				/* pipe_entry: 1 id, 2 pipe_id, 3 flags, 4 fown */
				pb_varint(&s, 1, id);
				pb_varint(&s, 2, (uint32_t)f->ino);
				pb_varint(&s, 3, flags);
				fown(&s, 4);
				put_file(FD_TYPE_PIPE, id, 18, &s);
			}
			pipe_data(&pipes_img, &p->fd[i]);
			break;
		case ORTHROS_RXF_FIFO:
			type = FD_TYPE_FIFO;
			if (!id) {
				uint32_t regf = reg_file(f->path, flags, 0, f->mode, 0,
							 ~0ULL - next_id);

				id = next_id++;
				PUSH(fkeys, nr_fkeys, ((struct fkey){ .dead_file = f->file_id, .id = id }));
				/* fifo_entry: 1 id, 2 pipe_id, 3 regf_id */
				pb_varint(&s, 1, id);
				pb_varint(&s, 2, (uint32_t)f->ino);
				pb_varint(&s, 3, regf);
				put_file(FD_TYPE_FIFO, id, 17, &s);
			}
			pipe_data(&fifo_img, &p->fd[i]);
			break;
		case ORTHROS_RXF_INET:
			type = FD_TYPE_INETSK;
			if (!id)
				id = inet_socket(dir, &p->fd[i], flags);
			break;
		case ORTHROS_RXF_UNIX:
			type = FD_TYPE_UNIXSK;
			if (!id)
				id = unix_socket(&p->fd[i], flags);
			break;
		case ORTHROS_RXF_EPOLL:
			type = FD_TYPE_EVENTPOLL;
			if (!id)
				id = epoll_file(p, &p->fd[i], flags);
			break;
		default:
			warn("pid %u fd %u (%.60s): kind %u not carried, left closed",
			     p->p->pid, f->fd, f->path, f->kind);
			st.skipped_fds++;
			continue;
		}
		/* fdinfo_entry: 1 id, 2 flags (FD_CLOEXEC), 3 type, 4 fd */
		pb_varint(&e, 1, id);
		pb_varint(&e, 2, f->cloexec ? FD_CLOEXEC : 0);
		pb_varint(&e, 3, type);
		pb_varint(&e, 4, f->fd);
		if (img_put(&fi, &e))
			exit(1);
		st.fds++;
	}
	if (img_close(&fi))
		exit(1);
}

/* ------------------------------------------------------------- registers */

/*
 * A thread stopped in a system call resumes "as after a signal with no
 * handler" (arch/x86/kernel/signal.c), decided here and only here:
 *
 *   regs.ax on entry                 call                      result
 *   -ERESTARTSYS/-NOINTR/-NOHAND     any                       restart: ax = orig_ax, ip -= 2
 *   -ERESTART_RESTARTBLOCK           any (nanosleep,           restart from the start (the
 *                                    clock_nanosleep, poll,     restart_block is not carried):
 *                                    futex with timeout)        a relative timeout waits again
 *                                                               in full, so it may wait longer
 *   -ENOSYS, IN_SYSCALL (no result)  epoll_wait, epoll_pwait,  ax = -EINTR (signal(7): these
 *                                    epoll_pwait2, semop,       fail with EINTR after a stop
 *                                    semtimedop,                signal even with no handler)
 *                                    rt_sigtimedwait (also
 *                                    sigwaitinfo)
 *   -ENOSYS, IN_SYSCALL              nanosleep, clock_nanosleep, restart from the start, as
 *                                    poll (ERESTART_RESTARTBLOCK  above (may wait longer)
 *                                    calls)
 *   -ENOSYS, IN_SYSCALL              anything else             restart: ax = orig_ax, ip -= 2
 *   anything else                    -                         left as it is (a result)
 *
 * A call whose work was half done inside the dead kernel is restarted too:
 * a write is done again (an O_APPEND one after undo_partial_append()); an
 * accept or recv that had already dequeued loses that work.
 */
#define ERESTARTSYS		512
#define ERESTARTNOINTR		513
#define ERESTARTNOHAND		514
#define ERESTART_RESTARTBLOCK	516

static bool eintr_after_stop(uint64_t nr)
{
	switch (nr) {
	case 232:	/* epoll_wait */
	case 281:	/* epoll_pwait */
	case 441:	/* epoll_pwait2 */
	case 65:	/* semop */
	case 220:	/* semtimedop */
	case 128:	/* rt_sigtimedwait (sigtimedwait, sigwaitinfo) */
		return true;
	}
	return false;
}

/* n bytes of the process's memory at vaddr, from its resident pages; false if not all are */
static bool user_bytes(const struct rproc *p, uint64_t vaddr, uint8_t *to, size_t n)
{
	while (n) {
		uint64_t page = vaddr & ~4095ULL, off = vaddr & 4095;
		size_t chunk = 4096 - off < n ? 4096 - off : n;
		bool found = false;

		for (uint32_t i = 0; i < p->nr_vma && !found; i++)
			for (uint64_t j = 0; j < p->vma[i].nr_pg && !found; j++)
				if (p->vma[i].pg[j].vaddr == page) {
					read_phys(to, p->vma[i].pg[j].phys + off, chunk);
					found = true;
				}
		if (!found)
			return false;
		vaddr += chunk;
		to += chunk;
		n -= chunk;
	}
	return true;
}

/* The carried unix socket with this inode (the peer of another), any process's */
static const struct rfd *unix_end(uint64_t ino)
{
	for (uint32_t i = 0; i < nr_procs; i++)
		for (uint32_t j = 0; j < procs[i].nr_fd; j++)
			if (procs[i].fd[j].f->kind == ORTHROS_RXF_UNIX && procs[i].fd[j].sk->ino == ino)
				return &procs[i].fd[j];
	return NULL;
}

/* The carried queue of the pipe with this inode: the fd its buffers came with */
static const struct rfd *pipe_queue(uint64_t ino)
{
	for (uint32_t i = 0; ino && i < nr_procs; i++)
		for (uint32_t j = 0; j < procs[i].nr_fd; j++)
			if (procs[i].fd[j].f->ino == ino && procs[i].fd[j].nr_buf &&
			    (procs[i].fd[j].f->kind == ORTHROS_RXF_PIPE ||
			     procs[i].fd[j].f->kind == ORTHROS_RXF_FIFO))
				return &procs[i].fd[j];
	return NULL;
}

/*
 * write(2) of at most PIPE_BUF bytes to a pipe or FIFO: the dead kernel
 * puts such a write into the pipe whole or not at all (pipe_write() sets a
 * buffer's length only after copying into it), but the thread may have been
 * stopped after that and before returning; a restart would queue the same
 * bytes twice.  When the pipe's queued bytes end with the whole buffer, the
 * call is taken as done: it returns the count.  (Wrong only if the previous
 * write queued the very same bytes and this one had not started: then this
 * one is lost.  Longer writes are restarted: what they had queued is queued
 * again.)
 */
static bool pipe_write_done(const struct rproc *p, struct orthros_rx_regs *r, uint32_t tid)
{
	const struct rfd *d = NULL;
	uint8_t want[4096], got[4096];
	uint64_t n = r->dx, ino = 0;

	if (r->orig_ax != 1 || !n || n > sizeof(want))
		return false;
	for (uint32_t i = 0; i < p->nr_fd; i++)
		if (p->fd[i].f->fd == r->di && (p->fd[i].f->kind == ORTHROS_RXF_PIPE ||
						 p->fd[i].f->kind == ORTHROS_RXF_FIFO))
			ino = p->fd[i].f->ino;
	/* the queue is carried with one of the pipe's fds, maybe another process's */
	d = pipe_queue(ino);
	if (!d || !user_bytes(p, r->si, want, n))
		return false;
	/* the last n queued bytes, from the last buffer backwards */
	for (uint32_t i = d->nr_buf, left = n; left; ) {
		uint32_t take;

		if (!i--)
			return false;	/* fewer than n bytes queued */
		take = d->buf[i]->len < left ? d->buf[i]->len : left;
		read_phys(got + left - take, d->buf[i]->phys + d->buf[i]->offset +
			  d->buf[i]->len - take, take);
		left -= take;
	}
	if (memcmp(want, got, n))
		return false;
	r->ax = n;
	fprintf(stderr, "orthros-rescue: tid %u: write(%llu) to a pipe had queued all %llu bytes: returns that\n",
		tid, (unsigned long long)r->di, (unsigned long long)n);
	return true;
}

/*
 * The system-call fixes below tell what a call had done by comparing its
 * buffer with the bytes it would have moved: a match shorter than MATCH_MIN
 * may be chance, a buffer longer than MATCH_MAX is not compared.
 */
#define MATCH_MIN	16
#define MATCH_MAX	(256 << 10)

/*
 * The length of the longest prefix of want[0, n) that got[0, len) ends with
 * (the Knuth-Morris-Pratt failure function over want, then a pass over got).
 */
static uint32_t prefix_ending(const uint8_t *want, uint32_t n, const uint8_t *got, uint32_t len)
{
	uint32_t *fail, q = 0;

	if (!n)
		return 0;
	fail = xrealloc(NULL, n * sizeof(*fail));
	fail[0] = 0;
	for (uint32_t i = 1, k = 0; i < n; i++) {
		while (k && want[i] != want[k])
			k = fail[k - 1];
		if (want[i] == want[k])
			k++;
		fail[i] = k;
	}
	for (uint32_t i = 0; i < len; i++) {
		while (q && (q == n || got[i] != want[q]))
			q = fail[q - 1];
		if (got[i] == want[q])
			q++;
	}
	free(fail);
	return q;
}

/*
 * Bytes [from, from + len) of a carried socket's queue (0: the bytes to be
 * read, 1: the send queue), in order, into out; returns how many there were.
 */
static uint32_t queue_bytes(const struct rfd *d, uint32_t queue, uint32_t from, uint32_t len,
			    uint8_t *out)
{
	uint32_t got = 0;

	for (uint32_t i = 0; i < d->nr_data && got < len; i++) {
		const struct orthros_rx_skdata *x = d->data[i];
		uint32_t take;

		if (x->queue != queue)
			continue;
		if (from >= x->len) {
			from -= x->len;
			continue;
		}
		take = x->len - from < len - got ? x->len - from : len - got;
		read_phys(out + got, x->phys + from, take);
		got += take;
		from = 0;
	}
	return got;
}

/*
 * write(2) or sendto(2) to a carried TCP socket (or a unix stream socket,
 * whose send queue is its peer's receive queue: unix_stream_sendmsg() queues
 * its buffer there skb by skb): tcp_sendmsg() appends the
 * buffer to the send queue piece by piece, moving write_seq as it goes, so a
 * thread stopped inside it may have queued part or all of its buffer without
 * returning; a restart would send those bytes twice.  The bytes this call
 * queued are the longest prefix of its buffer that ends the send queue
 * (found with the Knuth-Morris-Pratt failure function over the queue's last
 * bytes).  The call returns that count, as a short write may: a match of
 * the whole buffer, or of at least MATCH_MIN bytes (a shorter one may be
 * the previous write's bytes matching by chance: then the call restarts).
 */

static bool tcp_write_done(const struct rproc *p, struct orthros_rx_regs *r, uint32_t tid)
{
	const struct rfd *d = NULL;
	uint64_t n = r->dx;
	uint32_t q, tail, len, queue = 1, qlen;
	uint8_t *want, *got;
	bool unix_sk = false;

	if ((r->orig_ax != 1 && r->orig_ax != 44) || !n || n > MATCH_MAX)
		return false;
	for (uint32_t i = 0; i < p->nr_fd; i++) {
		const struct rfd *x = &p->fd[i];

		if (x->f->fd != r->di)
			continue;
		if (x->f->kind == ORTHROS_RXF_INET && x->sk->protocol == IPPROTO_TCP &&
		    x->sk->dst_port) {
			d = x;
		} else if (x->f->kind == ORTHROS_RXF_UNIX && x->sk->peer_ino) {
			/* a unix socket's send queue is its peer's receive queue (queue 0) */
			unix_sk = true;
			d = unix_end(x->sk->peer_ino);
		}
	}
	if (unix_sk)
		queue = 0;
	qlen = !d ? 0 : unix_sk ? d->sk->inq_len : d->sk->outq_len;
	if (!qlen)
		return false;
	want = xrealloc(NULL, n);
	if (!user_bytes(p, r->si, want, n)) {
		free(want);
		return false;
	}
	/* the last min(n, qlen) bytes of the send queue (in order) */
	tail = qlen < n ? qlen : (uint32_t)n;
	got = xrealloc(NULL, tail);
	len = queue_bytes(d, queue, qlen - tail, tail, got);
	q = prefix_ending(want, n, got, len);
	free(got);
	free(want);
	if (q != n && q < MATCH_MIN)
		return false;
	r->ax = q;
	fprintf(stderr, "orthros-rescue: tid %u: %s(%llu) to a %s socket had queued %u of its %llu bytes: returns that\n",
		tid, r->orig_ax == 1 ? "write" : "sendto", (unsigned long long)r->di,
		unix_sk ? "unix" : "TCP", q, (unsigned long long)n);
	return true;
}

/* The carried socket behind fd number fd of a process */
static const struct rfd *sock_fd(const struct rproc *p, uint64_t fd)
{
	for (uint32_t i = 0; i < p->nr_fd; i++)
		if (p->fd[i].f->fd == fd && p->fd[i].sk &&
		    (p->fd[i].f->kind == ORTHROS_RXF_INET || p->fd[i].f->kind == ORTHROS_RXF_UNIX))
			return &p->fd[i];
	return NULL;
}

/*
 * read(2) or recvfrom(2) from a carried socket, stopped after copying
 * io_done bytes (see read_done() below).  A datagram was dequeued before it was
 * copied: io_done is taken.  A stream (TCP, unix) moves its read mark after
 * each piece it copies (tcp_recvmsg_locked(): *seq += used after
 * skb_copy_datagram_msg(); unix_stream_read_generic(): consumed += chunk),
 * so the last piece's bytes may be copied and still queued: if the queue
 * starts with the buffer's last u bytes (u at least MATCH_MIN, or all),
 * those are still to be read and io_done - u were taken.
 */
static bool sock_read_done(const struct rproc *p, struct orthros_rx_regs *r,
			   const struct orthros_rx_thread *t, const struct rfd *d)
{
	uint32_t n = t->io_done, c = n, u = 0, qlen, len;
	uint8_t *want, *got;

	if (!d)
		return false;
	qlen = d->sk->inq_len;
	if ((d->f->kind == ORTHROS_RXF_UNIX || d->sk->protocol == IPPROTO_TCP) && qlen) {
		want = xrealloc(NULL, n);
		got = xrealloc(NULL, n);
		if (!user_bytes(p, r->si, want, n)) {
			free(want);
			free(got);
			return false;
		}
		len = queue_bytes(d, 0, 0, qlen < n ? qlen : n, got);
		u = prefix_ending(got, len, want, n);
		free(want);
		free(got);
		if (u >= MATCH_MIN || u == n)
			c = n - u;
	}
	if (!c) {
		/* all it copied is still queued: the restart reads it again */
		fprintf(stderr, "orthros-rescue: tid %u: %s(%llu) from a socket had taken 0 bytes (%u copied, all still queued): it restarts\n",
			t->tid, r->orig_ax ? "recvfrom" : "read", (unsigned long long)r->di, n);
		return false;
	}
	r->ax = c;
	fprintf(stderr, "orthros-rescue: tid %u: %s(%llu) from a socket had taken %u bytes (%u copied): returns that\n",
		t->tid, r->orig_ax ? "recvfrom" : "read", (unsigned long long)r->di, c, n);
	return true;
}

/*
 * read(2) or recvfrom(2) from a pipe, a FIFO or a carried socket, stopped
 * after it had copied bytes to the user's buffer: those bytes are off the
 * queue (pipe_read() moves the pipe's tail, tcp_recvmsg() copied_seq, and
 * udp_recvmsg() had dequeued the datagram before copying), so a restart
 * would lose them.  The dead kernel's extraction found how many the call
 * had copied (io_done, from the call's iov_iter on its kernel stack); the
 * call returns that many, as a short read may.
 *
 * A pipe is checked first: between copying a buffer's bytes and moving the
 * tail there is a window in which they are copied and still queued.  The
 * evidence, in order: the bytes read last (the read-out pages' starts and
 * the first queued buffer's part before its offset) end with all io_done
 * bytes: taken.  Else the queue starts with the buffer's last u bytes (u at
 * least MATCH_MIN, or all): those are still queued, io_done - u taken.
 * Else the bytes read last end with a prefix of at least MATCH_MIN:
 * that many taken.  Else nothing is left to compare (the writer reused the
 * read-out page at once, a freed page was reused): the kernel's count.  0
 * taken restarts the call.  A socket is checked by sock_read_done().
 */
static bool read_done(const struct rproc *p, struct orthros_rx_regs *r,
		      const struct orthros_rx_thread *t)
{
	const struct orthros_rx_fd *f = NULL;
	const struct rfd *d;
	uint32_t n = t->io_done, len = 0, c, u;
	uint8_t *want, *got;

	if (!(t->flags & ORTHROS_RXT_IO_KNOWN) || (r->orig_ax != 0 && r->orig_ax != 45) || !n ||
	    n > r->dx || n > MATCH_MAX)
		return false;
	for (uint32_t i = 0; i < p->nr_fd; i++)
		if (p->fd[i].f->fd == r->di)
			f = p->fd[i].f;
	if (!f)
		return false;
	if (f->kind == ORTHROS_RXF_INET || f->kind == ORTHROS_RXF_UNIX)
		return sock_read_done(p, r, t, sock_fd(p, r->di));
	if (f->kind != ORTHROS_RXF_PIPE && f->kind != ORTHROS_RXF_FIFO)
		return false;	/* a file: its position had not moved, the restart reads the same */
	d = pipe_queue(f->ino);
	want = xrealloc(NULL, n);
	if (!d || !user_bytes(p, r->si, want, n)) {
		free(want);
		return false;
	}
	/* the bytes read last, oldest first: read-out pages, then the queue's head page */
	got = xrealloc(NULL, ((size_t)d->nr_buf + 1) * 4096 + n);
	for (uint32_t i = 0; i < d->nr_buf; i++) {
		const struct orthros_rx_pipebuf *b = d->buf[i];
		uint32_t end = b->offset <= 4096 ? b->offset : 0;

		if (!read_phys_try(got + len, b->phys, end))
			len = 0;	/* what came before is not joined to what follows */
		else
			len += end;
		if (!(b->flags & ORTHROS_RXPB_READ))
			break;	/* the first queued buffer: its start is the last read */
	}
	c = prefix_ending(want, n, got, len);
	/* the queue's first bytes: copied but not yet taken off, if they are the buffer's end */
	len = 0;
	for (uint32_t i = 0; i < d->nr_buf && len < n; i++) {
		const struct orthros_rx_pipebuf *b = d->buf[i];
		uint32_t take = b->len < n - len ? b->len : n - len;

		if (b->flags & ORTHROS_RXPB_READ || b->offset + b->len > 4096)
			continue;
		if (!read_phys_try(got + len, b->phys + b->offset, take))
			break;
		len += take;
	}
	u = prefix_ending(got, len, want, n);
	free(got);
	free(want);
	if (c == n)
		;		/* the bytes read last end with all it copied */
	else if (u >= MATCH_MIN || u == n)
		c = n - u;	/* its last u bytes are still queued */
	else if (c < MATCH_MIN)
		c = n;		/* no trace left: the bytes read last were overwritten */
	if (!c) {
		fprintf(stderr, "orthros-rescue: tid %u: read(%llu) from a pipe had taken 0 bytes (%u copied, all still queued): it restarts\n",
			t->tid, (unsigned long long)r->di, n);
		return false;
	}
	r->ax = c;
	fprintf(stderr, "orthros-rescue: tid %u: read(%llu) from a pipe had taken %u bytes (%u copied): returns that\n",
		t->tid, (unsigned long long)r->di, c, n);
	return true;
}

/*
 * write(2) with O_APPEND to a regular file, which the dead kernel had partly
 * or wholly done before the thread could return: the file grew from the
 * fd's position (where the previous append ended) into the range being
 * written, and the migration carried it at that size.  Restarted as it is,
 * the call would append the done part a second time.  Cut the file back to
 * where the call began, so that the restart appends the whole buffer once:
 * the bytes cut are the start of that same buffer, and no call that
 * returned wrote them.  (Without O_APPEND a restart writes the same bytes
 * at the same offsets again: harmless.  A file grown past the whole range,
 * by another writer's appends, is ambiguous: left as it is.)  Where the call
 * began is known from how far it had got (io_done) and the file's end: the
 * fd's position is not (after ftruncate() it stays past the end until the
 * next append returns: seen, an append of 7616 bytes after a truncation,
 * its first page written, appended again after it).  Without io_done, the
 * fd's position is used.
 */
static void cut_append(const struct orthros_rx_fd *f, uint64_t to, uint64_t n, uint64_t dx,
		       uint32_t tid)
{
	if (truncate(f->path, (off_t)to)) {
		warn("tid %u: %s: cannot undo a partial append (%s): it will be repeated",
		     tid, f->path, strerror(errno));
		return;
	}
	PUSH(cuts, nr_cuts, ((struct cut){ .path = f->path, .size = to }));
	fprintf(stderr, "orthros-rescue: tid %u: %s: %llu of %llu appended bytes cut, the write restarts whole\n",
		tid, f->path, (unsigned long long)n, (unsigned long long)dx);
}

/*
 * The bytes the interrupted append had put in the file, when the dead kernel
 * said how many it had copied (io_done, the call's iov_iter): the longest
 * prefix of its buffer, at most io_done, that the file (as the migration
 * carried it) ends with.  A prefix shorter than the whole buffer must end at
 * a page boundary (the page cache takes an append page by page); else 0.
 */
static uint64_t appended(const struct rproc *p, const struct orthros_rx_fd *f,
			 const struct orthros_rx_regs *r, uint32_t n)
{
	uint32_t len = f->size < n ? (uint32_t)f->size : n, c = 0;
	uint8_t *want = xrealloc(NULL, n), *got = xrealloc(NULL, len ? len : 1);
	int fd = open(f->path, O_RDONLY);

	if (fd >= 0 && user_bytes(p, r->si, want, n) &&
	    pread(fd, got, len, (off_t)(f->size - len)) == (ssize_t)len)
		c = prefix_ending(want, n, got, len);
	if (fd >= 0)
		close(fd);
	free(want);
	free(got);
	if (c != n && (f->size % PAGE))
		c = 0;
	return c;
}

static void undo_partial_append(const struct rproc *p, const struct orthros_rx_regs *r,
				const struct orthros_rx_thread *t)
{
	for (uint32_t i = 0; p && r->orig_ax == 1 && i < p->nr_fd; i++) {
		const struct orthros_rx_fd *f = p->fd[i].f;
		uint64_t c;

		if (f->fd != r->di || f->kind != ORTHROS_RXF_REG || !(f->flags & O_APPEND))
			continue;
		if ((t->flags & ORTHROS_RXT_IO_KNOWN) && t->io_done <= r->dx &&
		    t->io_done <= MATCH_MAX) {
			c = t->io_done ? appended(p, f, r, t->io_done) : 0;
			if (c)
				cut_append(f, f->size - c, c, r->dx, t->tid);
			else
				fprintf(stderr, "orthros-rescue: tid %u: %s: none of the %u copied bytes had reached the file: the write restarts whole\n",
					t->tid, f->path, t->io_done);
			return;
		}
		if (f->size <= f->pos || f->size - f->pos > r->dx)
			return;
		cut_append(f, f->pos, f->size - f->pos, r->dx, t->tid);
		return;
	}
}

/*
 * Every thread's O_APPEND write that the dead kernel had half done is cut
 * back (undo_partial_append()) before any image is written: the processes
 * of a tree share their files' entries in files.img, whose size criu checks
 * ("has bad size"), and the first process to name a file writes its entry
 * (seen: an Apache child's cut of access.log after the parent had written
 * it: criu restore failed for the whole tree).
 */
static void cut_partial_appends(void)
{
	for (uint32_t i = 0; i < nr_procs; i++)
		for (uint32_t j = 0; j < procs[i].nr_thr; j++) {
			const struct orthros_rx_thread *t = procs[i].thr[j];
			int64_t ax = (int64_t)t->regs.ax;

			if ((int64_t)t->regs.orig_ax >= 0 &&
			    (ax == -ERESTARTSYS || (ax == -ENOSYS && (t->flags & ORTHROS_RXT_IN_SYSCALL))))
				undo_partial_append(&procs[i], &t->regs, t);
		}
}

static void syscall_fixup(const struct rproc *p, struct orthros_rx_regs *r,
			  const struct orthros_rx_thread *t)
{
	int64_t ax = (int64_t)r->ax;
	uint32_t tflags = t->flags, tid = t->tid;

	if ((int64_t)r->orig_ax < 0)
		return;
	if (ax == -ERESTARTSYS || (ax == -ENOSYS && (tflags & ORTHROS_RXT_IN_SYSCALL))) {
		if (pipe_write_done(p, r, tid) || tcp_write_done(p, r, tid) || read_done(p, r, t))
			return;
		/* an O_APPEND write half done was cut back already: cut_partial_appends() */
	}
	if (ax == -ERESTARTSYS || ax == -ERESTARTNOINTR || ax == -ERESTARTNOHAND ||
	    ax == -ERESTART_RESTARTBLOCK ||
	    (ax == -ENOSYS && (tflags & ORTHROS_RXT_IN_SYSCALL) && !eintr_after_stop(r->orig_ax))) {
		r->ax = r->orig_ax;
		r->ip -= 2;
	} else if (ax == -ENOSYS && (tflags & ORTHROS_RXT_IN_SYSCALL)) {
		r->ax = (uint64_t)-EINTR;
	} else {
		return;
	}
	fprintf(stderr, "orthros-rescue: tid %u: syscall %llu %s%s\n", tid,
		(unsigned long long)r->orig_ax,
		r->ax == (uint64_t)-EINTR ? "returns EINTR" : "restarts",
		ax != -ENOSYS || (r->orig_ax != 0 && r->orig_ax != 1 && r->orig_ax != 45) ? "" :
		!(tflags & ORTHROS_RXT_KSP) ? " (how far it had got is not known: where its kernel stack was left is not)" :
		!(tflags & ORTHROS_RXT_IO_KNOWN) ? " (no progress on its stack: nothing copied)" : "");
}

/* Offset and size of XSAVE component i in the standard format (CPUID 0xd). */
static bool xfeature(unsigned int i, uint32_t *off, uint32_t *size)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid_count(0xd, 0, &a, &b, &c, &d))
		return false;
	if (!(((uint64_t)d << 32 | a) & (1ULL << i)))
		return false;
	__get_cpuid_count(0xd, i, &a, &b, &c, &d);
	*size = a;
	*off = b;
	return a && b;
}

static void fpregs(struct pb *m, const struct orthros_rx_thread *t)
{
	const uint8_t *x = t->xsave;
	struct pb fp = { 0 }, xs = { 0 };
	uint32_t u32[64];
	uint16_t u16;
	uint64_t u64;
	/* user_x86_xsave_entry field, XSAVE component, words of 32 (1) or 64 bits (0) */
	static const struct { unsigned int field, comp; bool w32; } comps[] = {
		{ 2, 2, true },		/* ymmh_space */
		{ 3, 3, false },	/* bndreg_state */
		{ 4, 4, false },	/* bndcsr_state */
		{ 5, 5, false },	/* opmask_reg */
		{ 6, 6, false },	/* zmm_upper */
		{ 7, 7, false },	/* hi16_zmm */
		{ 8, 9, true },		/* pkru */
	};
	uint32_t len = t->xsave_len < sizeof(t->xsave) ? t->xsave_len : sizeof(t->xsave);

	/* user_x86_fpregs_entry: the FXSAVE legacy area, bytes 0-511 */
	memcpy(&u16, x + 0, 2);
	pb_varint(&fp, 1, u16);			/* cwd */
	memcpy(&u16, x + 2, 2);
	pb_varint(&fp, 2, u16);			/* swd */
	memcpy(&u16, x + 4, 2);
	pb_varint(&fp, 3, u16);			/* twd (abridged) */
	memcpy(&u16, x + 6, 2);
	pb_varint(&fp, 4, u16);			/* fop */
	memcpy(&u64, x + 8, 8);
	pb_varint(&fp, 5, u64);			/* rip */
	memcpy(&u64, x + 16, 8);
	pb_varint(&fp, 6, u64);			/* rdp */
	memcpy(u32, x + 24, 8);
	pb_varint(&fp, 7, u32[0]);		/* mxcsr */
	pb_varint(&fp, 8, u32[1]);		/* mxcsr_mask */
	memcpy(u32, x + 32, 128);
	pb_u32s(&fp, 9, u32, 32);		/* st_space */
	memcpy(u32, x + 160, 256);
	pb_u32s(&fp, 10, u32, 64);		/* xmm_space */
	memcpy(u32, x + 416, 96);
	pb_u32s(&fp, 11, u32, 24);		/* padding */

	if (len > 576) {
		memcpy(&u64, x + 512, 8);
		/* user_x86_xsave_entry: 1 xstate_bv, then the components */
		pb_varint(&xs, 1, u64 & t->xfeatures);
		for (size_t i = 0; i < sizeof(comps) / sizeof(comps[0]); i++) {
			uint32_t off, size;

			if (!xfeature(comps[i].comp, &off, &size))
				continue;
			if (off + size > len) {
				warn("tid %u: XSAVE component %u beyond the %u bytes carried",
				     t->tid, comps[i].comp, len);
				continue;
			}
			/* A component not in xstate_bv is in its init state: zeros. */
			for (uint32_t o = 0; o < size; o += comps[i].w32 ? 4 : 8) {
				uint64_t w = 0;

				if (u64 & (1ULL << comps[i].comp))
					memcpy(&w, x + off + o, comps[i].w32 ? 4 : 8);
				pb_varint(&xs, comps[i].field, w);
			}
		}
		pb_msg(&fp, 13, &xs);
		pb_free(&xs);
	}
	pb_msg(m, 3, &fp);
	pb_free(&fp);
}

static void thread_info(struct pb *m, const struct rproc *p, const struct orthros_rx_thread *t)
{
	struct pb ti = { 0 }, g = { 0 };
	struct orthros_rx_regs r = t->regs;
	const uint64_t *w;

	syscall_fixup(p, &r, t);
	if (!(t->flags & ORTHROS_RXT_SAVED) && (t->flags & ORTHROS_RXT_ON_CPU))
		warn("tid %u was on a core and its state was not saved: registers may be stale",
		     t->tid);
	/* user_x86_regs_entry: 1-21 pt_regs order, 22 fs_base, 23 gs_base,
	 * 24 ds, 25 es, 26 fs, 27 gs, 28 mode */
	w = (const uint64_t *)&r;
	for (unsigned int i = 0; i < 21; i++)
		pb_varint(&g, i + 1, w[i]);
	pb_varint(&g, 22, t->fs_base);
	pb_varint(&g, 23, t->gs_base);
	pb_varint(&g, 24, t->ds);
	pb_varint(&g, 25, t->es);
	pb_varint(&g, 26, t->fs);
	pb_varint(&g, 27, t->gs);
	pb_varint(&g, 28, r.cs == 0x23 ? 2 : 1);	/* COMPAT : NATIVE */

	/* thread_info_x86: 1 clear_tid_addr, 2 gpregs, 3 fpregs, 4 tls (none) */
	pb_varint(&ti, 1, t->clear_child_tid);
	pb_msg(&ti, 2, &g);
	pb_free(&g);
	fpregs(&ti, t);
	pb_msg(m, 2, &ti);
	pb_free(&ti);
}

/* ------------------------------------------------------------ core image */

static void siginfos(struct pb *m, unsigned int field, const struct rproc *p,
		     uint32_t tid, uint64_t mask)
{
	struct pb q = { 0 };
	uint64_t seen = 0;

	/* signal_queue_entry: 1 siginfo_entry { 1 siginfo bytes } */
	for (uint32_t i = 0; i < p->nr_sq; i++) {
		struct pb s = { 0 };

		if (p->sq[i]->tid != tid)
			continue;
		pb_bytes(&s, 1, p->sq[i]->siginfo, sizeof(p->sq[i]->siginfo));
		pb_msg(&q, 1, &s);
		pb_free(&s);
		if (p->sq[i]->signo >= 1 && p->sq[i]->signo <= 64)
			seen |= 1ULL << (p->sq[i]->signo - 1);
	}
	/* Pending signals with no queued siginfo: a plain one, as from kill(). */
	mask &= ~seen & ~(1ULL << (SIGKILL - 1)) & ~(1ULL << (SIGSTOP - 1));
	for (int sig = 1; sig <= 64; sig++) {
		uint8_t si[128] = { 0 };
		struct pb s = { 0 };

		if (!(mask & (1ULL << (sig - 1))))
			continue;
		memcpy(si, &sig, 4);		/* si_signo; si_errno, si_code 0 = SI_USER */
		pb_bytes(&s, 1, si, sizeof(si));
		pb_msg(&q, 1, &s);
		pb_free(&s);
	}
	if (q.len)
		pb_msg(m, field, &q);
	pb_free(&q);
}

static void creds(struct pb *m, const struct orthros_rx_proc *p)
{
	struct pb c = { 0 };
	const uint64_t caps[4] = { p->cap_inh, p->cap_prm, p->cap_eff, p->cap_bnd };
	uint32_t n = p->ngroups < ORTHROS_RX_NGROUPS ? p->ngroups : ORTHROS_RX_NGROUPS;

	/* creds_entry: 1 uid 2 gid 3 euid 4 egid 5 suid 6 sgid 7 fsuid 8 fsgid,
	 * 9-12 cap_inh/prm/eff/bnd (two u32 each), 13 secbits, 14 groups */
	pb_varint(&c, 1, p->uid);
	pb_varint(&c, 2, p->gid);
	pb_varint(&c, 3, p->euid);
	pb_varint(&c, 4, p->egid);
	pb_varint(&c, 5, p->suid);
	pb_varint(&c, 6, p->sgid);
	pb_varint(&c, 7, p->fsuid);
	pb_varint(&c, 8, p->fsgid);
	for (unsigned int i = 0; i < 4; i++) {
		pb_varint(&c, 9 + i, (uint32_t)caps[i]);
		pb_varint(&c, 9 + i, caps[i] >> 32);
	}
	pb_varint(&c, 13, p->secbits);
	pb_u32s(&c, 14, p->groups, n);
	pb_msg(m, 10, &c);
	pb_free(&c);
}

static void write_core(int dir, const struct rproc *p, const struct orthros_rx_thread *t,
		       bool leader)
{
	const struct orthros_rx_proc *pr = p->p;
	struct pb core = { 0 }, tc = { 0 }, th = { 0 }, s = { 0 };
	char name[64], comm[17];
	struct img im;

	/* core_entry: 1 mtype (X86_64), 2 thread_info, 3 tc, 5 thread_core */
	pb_varint(&core, 1, 1);
	thread_info(&core, p, t);

	if (leader) {
		memcpy(comm, pr->comm, 16);
		comm[16] = 0;
		/* task_core_entry: 1 task_state 2 exit_code 3 personality 4 flags
		 * 5 blk_sigset 6 comm 8 rlimits 10 signals_s 15 sigactions */
		pb_varint(&tc, 1, TASK_ALIVE);
		pb_varint(&tc, 2, 0);
		pb_varint(&tc, 3, (uint32_t)pr->personality);
		pb_varint(&tc, 4, 0);
		pb_varint(&tc, 5, t->blocked);
		pb_str(&tc, 6, comm);
		/*
		 * task_timers_entry: 1 real 2 virt 3 prof (itimer_entry: 1 isec
		 * 2 iusec 3 vsec 4 vusec), 4 posix: present with no timer armed
		 * (itimers and POSIX timers are not carried); without it criu
		 * looks for the deprecated posix-timers image and refuses
		 */
		for (int f = 1; f <= 3; f++) {
			struct pb it = { 0 };

			for (int k = 1; k <= 4; k++)
				pb_varint(&it, k, 0);
			pb_msg(&s, f, &it);
			pb_free(&it);
		}
		pb_msg(&tc, 7, &s);
		pb_free(&s);
		for (int i = 0; i < ORTHROS_RX_NRLIM; i++) {
			struct pb r = { 0 };

			/* rlimit_entry: 1 cur, 2 max */
			pb_varint(&r, 1, pr->rlim_cur[i]);
			pb_varint(&r, 2, pr->rlim_max[i]);
			pb_msg(&s, 1, &r);
			pb_free(&r);
		}
		pb_msg(&tc, 8, &s);
		pb_free(&s);
		siginfos(&tc, 10, p, 0, pr->shared_pending);
		for (int sig = 1; sig <= SIGMAX; sig++) {
			const struct orthros_rx_sigaction *a = &pr->sigaction[sig - 1];

			if (sig == SIGKILL || sig == SIGSTOP)
				continue;
			/* sa_entry: 1 sigaction 2 flags 3 restorer 4 mask */
			pb_varint(&s, 1, a->handler);
			pb_varint(&s, 2, a->flags);
			pb_varint(&s, 3, a->restorer);
			pb_varint(&s, 4, a->mask);
			pb_msg(&tc, 15, &s);
			pb_free(&s);
		}
		pb_msg(&core, 3, &tc);
		pb_free(&tc);
	}

	/* thread_core_entry: 1 futex_rla 2 futex_rla_len 6 blk_sigset 7 sas
	 * 9 signals_p 10 creds 13 comm 15 rseq_entry */
	pb_varint(&th, 1, t->robust_list);
	pb_varint(&th, 2, (uint32_t)t->robust_len);
	pb_varint(&th, 6, t->blocked);
	/* thread_sas_entry: 1 ss_sp 2 ss_size 3 ss_flags (SS_DISABLE when none) */
	pb_varint(&s, 1, t->sas_sp);
	pb_varint(&s, 2, t->sas_size);
	pb_varint(&s, 3, t->sas_size ? t->sas_flags & SS_AUTODISARM : SS_DISABLE);
	pb_msg(&th, 7, &s);
	pb_free(&s);
	siginfos(&th, 9, p, t->tid, t->pending);
	creds(&th, pr);
	memcpy(comm, t->comm, 16);
	comm[16] = 0;
	pb_str(&th, 13, comm);
	if (t->rseq) {
		/* rseq_entry: 1 rseq_abi_pointer 2 rseq_abi_size 3 signature */
		pb_varint(&s, 1, t->rseq);
		pb_varint(&s, 2, t->rseq_len);
		pb_varint(&s, 3, t->rseq_sig);
		pb_msg(&th, 15, &s);
		pb_free(&s);
	}
	pb_msg(&core, 5, &th);
	pb_free(&th);

	snprintf(name, sizeof(name), "core-%u.img", t->tid);
	if (img_open(&im, dir, name, CORE_MAGIC) || img_put(&im, &core) || img_close(&im))
		exit(1);
	st.threads++;
	st.stacks_vmap += !!(t->flags & ORTHROS_RXT_STACK_VMAP);
}

/* ------------------------------------------------------------- memory */

static int cmp_page(const void *a, const void *b)
{
	const struct orthros_rx_page *x = a, *y = b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

static int cmp_vma(const void *a, const void *b)
{
	const struct rvma *x = a, *y = b;

	return x->v->start < y->v->start ? -1 : x->v->start > y->v->start;
}

static uint32_t next_pages_id = 1;

/* Pages in ascending address order go out as runs: a pagemap_entry per run. */
struct pagewriter {
	struct img map, pages;
	struct pb run;
	uint64_t run_start, run_n;
	uint8_t *buf;
	size_t buf_n;
};

static void pw_flush_run(struct pagewriter *w)
{
	if (!w->run_n)
		return;
	/* pagemap_entry: 1 vaddr 2 nr_pages 4 flags */
	pb_varint(&w->run, 1, w->run_start);
	pb_varint(&w->run, 2, w->run_n);
	pb_varint(&w->run, 4, PE_PRESENT);
	if (img_put(&w->map, &w->run))
		exit(1);
	w->run_n = 0;
}

/*
 * --release (the failover): the dead pages copied into the images are given
 * back as soon as they are written, so that the held set shrinks as the
 * images grow (migrate/kernel/hold.c).
 */
static bool release_mode;
static uint64_t *released;
static uint32_t nr_released;

static void release_flush(bool all)
{
	struct orthros_rescue_release r = {
		.phys = (uintptr_t)released, .nr = nr_released,
		.flags = all ? ORTHROS_RX_RELEASE_ALL : 0,
	};

	if (!release_mode || (!nr_released && !all))
		return;
	if (ioctl(mem_fd, ORTHROS_RESCUE_RELEASE, &r))
		warn("giving back %u dead pages: %s", nr_released, strerror(errno));
	nr_released = 0;
}

static void pw_flush_buf(struct pagewriter *w)
{
	if (img_write(&w->pages, w->buf, w->buf_n))
		exit(1);
	w->buf_n = 0;
	release_flush(false);
}

#define PW_BUF (256 * PAGE)

static void pw_open(struct pagewriter *w, int dir, const char *mapname)
{
	char name[64];
	struct pb h = { 0 };
	uint32_t id = next_pages_id++;

	memset(w, 0, sizeof(*w));
	snprintf(name, sizeof(name), "pages-%u.img", id);
	if (img_open(&w->map, dir, mapname, PAGEMAP_MAGIC) || img_open_raw(&w->pages, dir, name))
		exit(1);
	pb_varint(&h, 1, id);		/* pagemap_head: 1 pages_id */
	if (img_put(&w->map, &h))
		exit(1);
	w->buf = xrealloc(NULL, PW_BUF);
}

static void pw_add(struct pagewriter *w, uint64_t vaddr, uint64_t phys)
{
	if (w->run_n && w->run_start + w->run_n * PAGE != vaddr)
		pw_flush_run(w);
	if (!w->run_n)
		w->run_start = vaddr;
	w->run_n++;
	if (w->buf_n == PW_BUF)
		pw_flush_buf(w);
	read_phys(w->buf + w->buf_n, phys, PAGE);
	if (release_mode)
		PUSH(released, nr_released, phys);
	w->buf_n += PAGE;
	st.pages++;
	st.bytes += PAGE;
}

static void pw_close(struct pagewriter *w)
{
	pw_flush_run(w);
	pw_flush_buf(w);
	if (img_close(&w->map) || img_close(&w->pages))
		exit(1);
	free(w->buf);
}

/* The pages of one VMA that belong to it, sorted, checked, deduplicated. */
static uint64_t vma_pages(struct rvma *v)
{
	uint64_t n = 0;

	qsort(v->pg, v->nr_pg, sizeof(*v->pg), cmp_page);
	for (uint64_t i = 0; i < v->nr_pg; i++) {
		const struct orthros_rx_page *g = &v->pg[i];

		if (g->vaddr % PAGE || g->phys % PAGE || g->vaddr < v->v->start ||
		    g->vaddr >= v->v->end || (n && v->pg[n - 1].vaddr == g->vaddr)) {
			warn("page %#llx of the VMA at %#llx dropped (outside, unaligned or twice)",
			     (unsigned long long)g->vaddr, (unsigned long long)v->v->start);
			continue;
		}
		v->pg[n++] = *g;
	}
	return v->nr_pg = n;
}

static uint64_t madv_bits(uint64_t vm_flags)
{
	/* VM_* (include/linux/mm.h) -> 1 << MADV_* as criu records them */
	static const struct { uint64_t vm; unsigned int madv; } m[] = {
		{ 0x00008000, MADV_SEQUENTIAL },	/* VM_SEQ_READ */
		{ 0x00010000, MADV_RANDOM },		/* VM_RAND_READ */
		{ 0x00020000, MADV_DONTFORK },		/* VM_DONTCOPY */
		{ 0x04000000, MADV_DONTDUMP },		/* VM_DONTDUMP */
		{ 0x80000000, MADV_MERGEABLE },		/* VM_MERGEABLE */
		{ 0x20000000, MADV_HUGEPAGE },		/* VM_HUGEPAGE */
		{ 0x40000000, MADV_NOHUGEPAGE },	/* VM_NOHUGEPAGE */
	};
	uint64_t r = 0;

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (vm_flags & m[i].vm)
			r |= 1ULL << m[i].madv;
	return r;
}

static void vma_entry(struct pb *mm, struct rvma *rv, int pid)
{
	const struct orthros_rx_vma *v = rv->v;
	uint32_t status = VMA_AREA_REGULAR, fdflags = 0;
	uint32_t flags = v->map_flags & ~(MAP_PRIVATE | MAP_SHARED | MAP_ANONYMOUS);
	uint64_t shmid = 0, madv = madv_bits(v->vm_flags);
	struct pb e = { 0 };

	switch (v->kind) {
	case ORTHROS_RXV_ANON_PRIVATE:
		status |= VMA_ANON_PRIVATE;
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	case ORTHROS_RXV_ANON_SHARED:
		status |= VMA_ANON_SHARED;
		flags |= MAP_SHARED | MAP_ANONYMOUS;
		shmid = v->ino;
		break;
	case ORTHROS_RXV_FILE_PRIVATE:
	case ORTHROS_RXV_FILE_SHARED: {
		bool shared = v->kind == ORTHROS_RXV_FILE_SHARED;

		status |= shared ? VMA_FILE_SHARED : VMA_FILE_PRIVATE;
		flags |= shared ? MAP_SHARED : MAP_PRIVATE;
		/* the mapping's file opened read-write when it may be written through */
		fdflags = shared && (v->vm_flags & 0x20 /* VM_MAYWRITE */) ? O_RDWR : O_RDONLY;
		rv->file_id = reg_file(v->path, fdflags, 0, v->mode, v->size, 0);
		shmid = rv->file_id;
		break;
	}
	case ORTHROS_RXV_VDSO:
		status |= VMA_AREA_VDSO | VMA_ANON_PRIVATE;
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	case ORTHROS_RXV_VVAR:
		status |= VMA_AREA_VVAR | VMA_ANON_PRIVATE;
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	default:
		die("pid %d: VMA %#llx of unknown kind %u", pid,
		    (unsigned long long)v->start, v->kind);
	}
	if (v->status & ORTHROS_RXV_HEAP)
		status |= VMA_AREA_HEAP;
	if (v->status & ORTHROS_RXV_STACK)
		status |= VMA_AREA_STACK;
	if (v->vm_flags & 0x00200000)		/* VM_NORESERVE */
		flags |= MAP_NORESERVE;

	/* vma_entry: 1 start 2 end 3 pgoff (bytes) 4 shmid 5 prot 6 flags
	 * 7 status 8 fd (sint64, -1) 9 madv 10 fdflags */
	pb_varint(&e, 1, v->start);
	pb_varint(&e, 2, v->end);
	/* as /proc/PID/maps shows it: an anonymous private mapping has offset 0 */
	pb_varint(&e, 3, v->kind == ORTHROS_RXV_ANON_PRIVATE || v->kind == ORTHROS_RXV_VDSO ||
		  v->kind == ORTHROS_RXV_VVAR ? 0 : v->pgoff * PAGE);
	pb_varint(&e, 4, shmid);
	pb_varint(&e, 5, v->prot);
	pb_varint(&e, 6, flags);
	pb_varint(&e, 7, status);
	pb_sint(&e, 8, -1);
	if (madv)
		pb_varint(&e, 9, madv);
	if (status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED))
		pb_varint(&e, 10, fdflags);
	pb_msg(mm, 14, &e);
	pb_free(&e);
	st.vmas++;
}

static void write_mm(int dir, struct rproc *p)
{
	const struct orthros_rx_proc *pr = p->p;
	struct pb mm = { 0 };
	struct pagewriter w;
	char name[64];
	struct img im;
	uint32_t auxv = pr->auxv_words;

	qsort(p->vma, p->nr_vma, sizeof(*p->vma), cmp_vma);
	/* mm_entry: 1-11 the mm bounds, 12 exe_file_id, 13 mm_saved_auxv, 14 vmas */
	pb_varint(&mm, 1, pr->start_code);
	pb_varint(&mm, 2, pr->end_code);
	pb_varint(&mm, 3, pr->start_data);
	pb_varint(&mm, 4, pr->end_data);
	pb_varint(&mm, 5, pr->start_stack);
	pb_varint(&mm, 6, pr->start_brk);
	pb_varint(&mm, 7, pr->brk);
	pb_varint(&mm, 8, pr->arg_start);
	pb_varint(&mm, 9, pr->arg_end);
	pb_varint(&mm, 10, pr->env_start);
	pb_varint(&mm, 11, pr->env_end);
	pb_varint(&mm, 12, reg_file(pr->exe, 0, 0, 0, 0, 0));
	if (auxv > ORTHROS_RX_AUXV)
		auxv = ORTHROS_RX_AUXV;
	if (auxv > AUXV_MAX) {
		/* keep the first pairs and the AT_NULL pair that ends them */
		warn("pid %u: auxv of %u words cut to criu's %u", pr->pid, auxv, AUXV_MAX);
		pb_u64s(&mm, 13, (const uint64_t *)pr->auxv, AUXV_MAX - 2);
		pb_u64s(&mm, 13, (const uint64_t[2]){ 0, 0 }, 2);
	} else {
		pb_u64s(&mm, 13, (const uint64_t *)pr->auxv, auxv);
	}
	for (uint32_t i = 0; i < p->nr_vma; i++)
		vma_entry(&mm, &p->vma[i], pr->pid);
	snprintf(name, sizeof(name), "mm-%u.img", pr->pid);
	if (img_open(&im, dir, name, MM_MAGIC) || img_put(&im, &mm) || img_close(&im))
		exit(1);

	/* Private pages (anonymous, COW'd file pages, the vDSO): pagemap-PID + pages-N */
	snprintf(name, sizeof(name), "pagemap-%u.img", pr->pid);
	pw_open(&w, dir, name);
	for (uint32_t i = 0; i < p->nr_vma; i++) {
		struct rvma *v = &p->vma[i];

		if (v->v->kind == ORTHROS_RXV_VVAR || v->v->kind == ORTHROS_RXV_ANON_SHARED ||
		    v->v->kind == ORTHROS_RXV_FILE_SHARED)
			continue;
		vma_pages(v);
		for (uint64_t j = 0; j < v->nr_pg; j++)
			pw_add(&w, v->pg[j].vaddr, v->pg[j].phys);
	}
	pw_close(&w);
}

/* Shared anonymous memory: pagemap-shmem-SHMID.img, addresses = offsets in it. */
static void write_shmem(int dir)
{
	uint64_t *done = NULL;
	uint32_t nr_done = 0;

	for (uint32_t i = 0; i < nr_procs; i++)
		for (uint32_t j = 0; j < procs[i].nr_vma; j++) {
			uint64_t ino = procs[i].vma[j].v->ino;
			struct orthros_rx_page *all = NULL;
			uint64_t n = 0;
			struct pagewriter w;
			char name[64];
			bool seen = false;

			if (procs[i].vma[j].v->kind != ORTHROS_RXV_ANON_SHARED)
				continue;
			for (uint32_t k = 0; k < nr_done; k++)
				seen |= done[k] == ino;
			if (seen)
				continue;
			PUSH(done, nr_done, ino);
			/* every mapping of it, in every process: offset -> page */
			for (uint32_t a = i; a < nr_procs; a++)
				for (uint32_t b = 0; b < procs[a].nr_vma; b++) {
					struct rvma *v = &procs[a].vma[b];

					if (v->v->kind != ORTHROS_RXV_ANON_SHARED || v->v->ino != ino)
						continue;
					vma_pages(v);
					all = xrealloc(all, (n + v->nr_pg) * sizeof(*all));
					for (uint64_t c = 0; c < v->nr_pg; c++)
						all[n++] = (struct orthros_rx_page){
							v->pg[c].vaddr - v->v->start + v->v->pgoff * PAGE,
							v->pg[c].phys };
				}
			qsort(all, n, sizeof(*all), cmp_page);
			snprintf(name, sizeof(name), "pagemap-shmem-%llu.img",
				 (unsigned long long)ino);
			pw_open(&w, dir, name);
			for (uint64_t c = 0; c < n; c++)
				if (!c || all[c].vaddr != all[c - 1].vaddr)
					pw_add(&w, all[c].vaddr, all[c].phys);
			pw_close(&w);
			free(all);
		}
	free(done);
}

/* ------------------------------------------------------------ the image set */

static void put_one(int dir, const char *name, uint32_t magic, struct pb *m)
{
	struct img im;

	if (img_open(&im, dir, name, magic) || img_put(&im, m) || img_close(&im))
		exit(1);
}

static void kobj_ids(struct pb *m, uint32_t vm, uint32_t files, uint32_t fs, uint32_t sighand)
{
	/* task_kobj_ids_entry: 1 vm_id 2 files_id 3 fs_id 4 sighand_id; no
	 * namespace ids: the processes are restored into criu's namespaces */
	pb_varint(m, 1, vm);
	pb_varint(m, 2, files);
	pb_varint(m, 3, fs);
	pb_varint(m, 4, sighand);
}

static void write_images(int dir)
{
	struct pb m = { 0 }, s = { 0 };
	struct img pstree;
	char name[64];

	/* inventory_entry: 1 img_version 2 fdinfo_per_id 3 root_ids 4 ns_per_id.
	 * root_ids stand for the dumper's own objects: distinct from every task's */
	pb_varint(&m, 1, 2);
	pb_varint(&m, 2, 1);
	kobj_ids(&s, next_id, next_id + 1, next_id + 2, next_id + 3);
	next_id += 4;
	pb_msg(&m, 3, &s);
	pb_free(&s);
	pb_varint(&m, 4, 1);
	put_one(dir, "inventory.img", INVENTORY_MAGIC, &m);

	cut_partial_appends();
	for (uint32_t i = 0; i < nr_procs; i++) {
		procs[i].vm_id = next_id++;
		procs[i].files_id = next_id++;
		procs[i].fs_id = next_id++;
		procs[i].sighand_id = next_id++;
	}

	if (img_open(&files_img, dir, "files.img", FILES_MAGIC) ||
	    img_open(&pstree, dir, "pstree.img", PSTREE_MAGIC) ||
	    img_open(&pipes_img, dir, "pipes-data.img", PIPES_DATA_MAGIC) ||
	    img_open(&fifo_img, dir, "fifo-data.img", FIFO_DATA_MAGIC) ||
	    img_open(&skq_img, dir, "sk-queues.img", SK_QUEUES_MAGIC))
		exit(1);

	for (uint32_t i = 0; i < nr_procs; i++) {
		struct rproc *p = &procs[i];
		const struct orthros_rx_proc *pr = p->p;

		if (pr->nr_threads != p->nr_thr)
			warn("pid %u: %u threads announced, %u carried", pr->pid,
			     pr->nr_threads, p->nr_thr);
		if (p->thr[0]->tid != pr->pid)
			die("pid %u: the first thread is %u, not the leader", pr->pid,
			    p->thr[0]->tid);

		/* pstree_entry: 1 pid 2 ppid 3 pgid 4 sid 5 threads */
		pb_varint(&m, 1, pr->pid);
		pb_varint(&m, 2, pr->ppid);
		pb_varint(&m, 3, pr->pgid);
		pb_varint(&m, 4, pr->sid);
		for (uint32_t t = 0; t < p->nr_thr; t++)
			pb_varint(&m, 5, p->thr[t]->tid);
		if (img_put(&pstree, &m))
			exit(1);

		kobj_ids(&m, p->vm_id, p->files_id, p->fs_id, p->sighand_id);
		snprintf(name, sizeof(name), "ids-%u.img", pr->pid);
		put_one(dir, name, IDS_MAGIC, &m);

		for (uint32_t t = 0; t < p->nr_thr; t++)
			write_core(dir, p, p->thr[t], t == 0);

		write_mm(dir, p);
		write_fds(dir, p);

		/* fs_entry: 1 cwd_id 2 root_id 3 umask */
		pb_varint(&m, 1, reg_file(pr->cwd, 0, 0, 0, 0, 0));
		pb_varint(&m, 2, reg_file(pr->root, 0, 0, 0, 0, 0));
		pb_varint(&m, 3, pr->umask);
		snprintf(name, sizeof(name), "fs-%u.img", pr->pid);
		put_one(dir, name, FS_MAGIC, &m);
	}
	write_shmem(dir);

	/*
	 * timens-0.img: criu 3.17 restores the root task into a new time
	 * namespace whose CLOCK_MONOTONIC and CLOCK_BOOTTIME read these values
	 * at the moment of the restore (criu/timens.c, prepare_timens(0)).
	 * timens_entry: 1 monotonic, 2 boottime, each timespec { 1 sec 2 nsec }.
	 */
	{
		uint64_t t[2] = { procs[0].p->mono_ns, procs[0].p->boot_ns };

		for (int i = 0; i < 2; i++) {
			pb_varint(&s, 1, t[i] / 1000000000ULL);
			pb_varint(&s, 2, t[i] % 1000000000ULL);
			pb_msg(&m, i + 1, &s);
			pb_free(&s);
		}
		put_one(dir, "timens-0.img", TIMENS_MAGIC, &m);
	}

	if (img_close(&files_img) || img_close(&pstree) || img_close(&pipes_img) ||
	    img_close(&fifo_img) || img_close(&skq_img))
		exit(1);
}

/* ------------------------------------------------------------- commands */

static bool json;
static uint64_t extract_ns, write_ns;

static void *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat sb;
	uint8_t *b;
	size_t n = 0;

	if (fd < 0 || fstat(fd, &sb) < 0)
		die("%s: %s", path, strerror(errno));
	b = xrealloc(NULL, sb.st_size + 8);
	while (n < (size_t)sb.st_size) {
		ssize_t r = read(fd, b + n, sb.st_size - n);

		if (r <= 0)
			die("%s: %s", path, r < 0 ? strerror(errno) : "short read");
		n += r;
	}
	close(fd);
	*len = n;
	return b;
}

static void summary(void)
{
	uint32_t pids = nr_procs;

	if (!json) {
		printf("orthros-rescue: %u processes, %u threads, %u vmas, %u fds (%u left out), %llu pages (%llu bytes), %u sockets (%llu queued bytes), %u epoll watches\n",
		       pids, st.threads, st.vmas, st.fds, st.skipped_fds,
		       (unsigned long long)st.pages, (unsigned long long)st.bytes, st.sockets,
		       (unsigned long long)st.sk_bytes, st.watches);
		return;
	}
	printf("{\"pids\": [");
	for (uint32_t i = 0; i < nr_procs; i++)
		printf("%s%u", i ? ", " : "", procs[i].p->pid);
	printf("], \"threads\": %u, \"stacks_vmap\": %u, \"vmas\": %u, \"fds\": %u, \"fds_left_out\": %u, "
	       "\"pages\": %llu, \"bytes\": %llu, \"sockets\": %u, \"socket_bytes\": %llu, "
	       "\"epoll_watches\": %u, \"extract_us\": %llu, \"write_us\": %llu}\n",
	       st.threads, st.stacks_vmap, st.vmas, st.fds, st.skipped_fds, (unsigned long long)st.pages,
	       (unsigned long long)st.bytes, st.sockets, (unsigned long long)st.sk_bytes, st.watches,
	       (unsigned long long)extract_ns / 1000,
	       (unsigned long long)write_ns / 1000);
}

static void do_write(const void *records, size_t len, const char *out, const char *mem)
{
	uint64_t t0 = now_ns(CLOCK_MONOTONIC);
	int dir;

	parse_records(records, len);
	mem_fd = open(mem, O_RDONLY);
	if (mem_fd < 0)
		die("%s: %s", mem, strerror(errno));
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		die("%s: %s", out, strerror(errno));
	dir = open(out, O_RDONLY | O_DIRECTORY);
	if (dir < 0)
		die("%s: %s", out, strerror(errno));
	write_images(dir);
	release_flush(false);
	close(dir);
	close(mem_fd);
	write_ns = now_ns(CLOCK_MONOTONIC) - t0;
}

static const struct option write_opts[] = {
	{ "release", no_argument, NULL, 'R' },
	{ "records", required_argument, NULL, 'r' },
	{ "out", required_argument, NULL, 'o' },
	{ "dead-mem", required_argument, NULL, 'm' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static int cmd_write(int argc, char **argv)
{
	const char *rec = NULL, *out = NULL, *mem = ORTHROS_RESCUE_DEVICE;
	void *buf;
	size_t len;
	int c;

	while ((c = getopt_long(argc, argv, "", write_opts, NULL)) != -1) {
		switch (c) {
		case 'r': rec = optarg; break;
		case 'o': out = optarg; break;
		case 'm': mem = optarg; break;
		case 'j': json = true; break;
		case 'R': release_mode = true; break;
		case 'h':
			printf("usage: orthros-rescue write --records FILE --out DIR [--dead-mem DEV] [--json]\n"
			       "                            [--release]\n"
			       "  Write the CRIU image set for the records in FILE (as ORTHROS_RESCUE_EXTRACT\n"
			       "  returns them) into DIR.  Page and pipe contents are read from DEV at their\n"
			       "  physical address (default " ORTHROS_RESCUE_DEVICE "; a plain file works the same).\n"
			       "  --release: give each dead page back once it is in the images\n"
			       "  (ORTHROS_RESCUE_RELEASE: the pages held for the rescue shrink as it goes).\n");
			return 0;
		default:
			return 2;
		}
	}
	if (!rec || !out || optind != argc) {
		fprintf(stderr, "usage: orthros-rescue write --records FILE --out DIR [--dead-mem DEV]\n");
		return 2;
	}
	buf = read_file(rec, &len);
	do_write(buf, len, out, mem);
	summary();
	return 0;
}

static const struct option extract_opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "tree", no_argument, NULL, 't' },
	{ "self", no_argument, NULL, 's' },
	{ "out", required_argument, NULL, 'o' },
	{ "json", no_argument, NULL, 'j' },
	{ "records-only", no_argument, NULL, 'R' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static int cmd_extract(int argc, char **argv)
{
	bool records_only = false;
	struct orthros_rescue_req req = { 0 };
	const char *out = NULL;
	size_t len = 16 << 20;
	uint8_t *buf = NULL;
	char path[4096];
	uint64_t t0;
	int c, fd, ret;
	long pid = 0;

	while ((c = getopt_long(argc, argv, "", extract_opts, NULL)) != -1) {
		switch (c) {
		case 'p': pid = strtol(optarg, NULL, 10); break;
		case 't': req.flags |= ORTHROS_RX_TREE; break;
		case 's': req.flags |= ORTHROS_RX_SELF; break;
		case 'o': out = optarg; break;
		case 'j': json = true; break;
		case 'R': records_only = true; break;
		case 'h':
			printf("usage: orthros-rescue extract --pid PID [--tree] [--self] --out DIR [--json]\n"
			       "                              [--records-only]\n"
			       "  Extract the registered process PID (--tree: and its descendants) from the\n"
			       "  dead OS's memory through " ORTHROS_RESCUE_DEVICE ", save the records as\n"
			       "  DIR/records.bin and write the CRIU image set into DIR.\n"
			       "  --self: from this running kernel (PID must be stopped), for tests.\n"
			       "  --json: print a summary (pids, threads, vmas, pages, bytes, times).\n"
			       "  --records-only: save the records, write no images (`write` does later).\n"
			       "  Exit: 0 done, 1 failed (one line says why), 2 usage.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (pid <= 0 || !out || optind != argc) {
		fprintf(stderr, "usage: orthros-rescue extract --pid PID [--tree] [--self] --out DIR\n");
		return 2;
	}
	fd = open(ORTHROS_RESCUE_DEVICE, O_RDONLY);
	if (fd < 0)
		die("%s: %s", ORTHROS_RESCUE_DEVICE, strerror(errno));
	t0 = now_ns(CLOCK_MONOTONIC);
	for (;;) {
		buf = xrealloc(buf, len);
		req.pid = pid;
		req.buf = (uintptr_t)buf;
		req.len = len;
		req.why[0] = 0;
		ret = ioctl(fd, ORTHROS_RESCUE_EXTRACT, &req);
		if (ret >= 0)
			break;
		if ((errno == ENOSPC || errno == E2BIG) && len < (1UL << 30)) {
			len *= 4;
			continue;
		}
		die("extract pid %ld: %s%s%.*s", pid, strerror(errno), req.why[0] ? ": " : "",
		    ORTHROS_RX_WHY, req.why);
	}
	extract_ns = now_ns(CLOCK_MONOTONIC) - t0;
	close(fd);
	if (req.why[0])
		warn("extract pid %ld: %.*s", pid, ORTHROS_RX_WHY, req.why);
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		die("%s: %s", out, strerror(errno));
	snprintf(path, sizeof(path), "%s/records.bin", out);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, buf, req.used) != (ssize_t)req.used || close(fd) < 0)
		die("%s: %s", path, strerror(errno));
	if (records_only) {
		if (json)
			printf("{\"extract_us\":%llu,\"records\":%llu}\n",
			       (unsigned long long)(extract_ns / 1000), (unsigned long long)req.used);
		return 0;
	}
	do_write(buf, req.used, out, ORTHROS_RESCUE_DEVICE);
	summary();
	return 0;
}

/*
 * restore: criu restore with the options it needs for these images.  The
 * clocks: criu's own timens image (timens-0.img, written by `write` with the
 * dead kernel's clocks at extraction).  With --mono-offset-ns/--boot-offset-ns
 * the image is rewritten first as this kernel's clocks now plus the offsets
 * (the dead kernel's clock minus this one's), which also covers the time
 * between extraction and restore.
 */
static const struct option restore_opts[] = {
	{ "dir", required_argument, NULL, 'd' },
	{ "mono-offset-ns", required_argument, NULL, 'm' },
	{ "boot-offset-ns", required_argument, NULL, 'b' },
	{ "criu", required_argument, NULL, 'c' },
	{ "stopped", no_argument, NULL, 's' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static void rewrite_timens(const char *dir, int64_t mono_off, int64_t boot_off)
{
	uint64_t t[2] = { now_ns(CLOCK_MONOTONIC) + mono_off, now_ns(CLOCK_BOOTTIME) + boot_off };
	struct pb m = { 0 }, s = { 0 };
	int d = open(dir, O_RDONLY | O_DIRECTORY);

	if (d < 0)
		die("%s: %s", dir, strerror(errno));
	for (int i = 0; i < 2; i++) {
		pb_varint(&s, 1, t[i] / 1000000000ULL);
		pb_varint(&s, 2, t[i] % 1000000000ULL);
		pb_msg(&m, i + 1, &s);
		pb_free(&s);
	}
	put_one(d, "timens-0.img", TIMENS_MAGIC, &m);
	close(d);
}

/*
 * The FPU/SSE/AVX state, put back by ourselves.  criu 3.17 restores it
 * through a sigreturn frame, and on these kernels (no protection keys: the
 * kernel's user xstate is 1088 bytes, criu sizes the frame by CPUID) the
 * kernel takes only the legacy FXSAVE part of it: the upper halves of the
 * ymm registers come back zero (seen with criu's own dump and restore too).
 * So criu leaves the tasks stopped (--leave-stopped), and each thread gets
 * the XSAVE area from the records with PTRACE_SETREGSET(NT_X86_XSTATE), the
 * way a debugger sets it; then, unless @stopped, the processes continue
 * (SIGCONT).
 */
static void fix_fpu_and_continue(const char *dir, bool stopped)
{
	char path[4200];
	size_t len;
	uint8_t *buf;

	snprintf(path, sizeof(path), "%s/records.bin", dir);
	buf = read_file(path, &len);
	parse_records(buf, len);
	for (uint32_t i = 0; i < nr_procs; i++) {
		for (uint32_t k = 0; k < procs[i].nr_thr; k++) {
			const struct orthros_rx_thread *t = procs[i].thr[k];
			struct iovec iov = { (void *)t->xsave, t->xsave_len };
			int status;

			if (!t->xsave_len)
				continue;
			if (ptrace(PTRACE_SEIZE, t->tid, 0, 0) || ptrace(PTRACE_INTERRUPT, t->tid, 0, 0)) {
				warn("tid %u: cannot attach to put its FPU state back: %s", t->tid,
				     strerror(errno));
				continue;
			}
			if (waitpid(t->tid, &status, __WALL) < 0)
				warn("tid %u: waitpid: %s", t->tid, strerror(errno));
			if (ptrace(PTRACE_SETREGSET, t->tid, NT_X86_XSTATE, &iov))
				warn("tid %u: its FPU state could not be set: %s", t->tid, strerror(errno));
			if (ptrace(PTRACE_DETACH, t->tid, 0, 0))
				warn("tid %u: detach: %s", t->tid, strerror(errno));
		}
	}
	for (uint32_t i = 0; !stopped && i < nr_procs; i++)
		if (kill(procs[i].p->pid, SIGCONT))
			warn("pid %u: SIGCONT: %s", procs[i].p->pid, strerror(errno));
}

static void log_tail(const char *dir)
{
	char cmd[4200];

	/* the prefix: the harness shows the rescue's lines of a failed test */
	snprintf(cmd, sizeof(cmd),
		 "grep -n -i -e error -e fail '%s/restore.log' | tail -n 8 | sed 's/^/orthros-rescue: criu: /' >&2; "
		 "tail -n 12 '%s/restore.log' | sed 's/^/orthros-rescue: criu: /' >&2", dir, dir);
	if (system(cmd))
		fprintf(stderr, "orthros-rescue: no %s/restore.log\n", dir);
}

static int cmd_restore(int argc, char **argv)
{
	const char *dir = NULL, *criu = "criu";
	bool have_m = false, have_b = false, stopped = false;
	int64_t mono = 0, boot = 0;
	int c, status;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "", restore_opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'm': mono = strtoll(optarg, NULL, 10); have_m = true; break;
		case 'b': boot = strtoll(optarg, NULL, 10); have_b = true; break;
		case 'c': criu = optarg; break;
		case 's': stopped = true; break;
		case 'h':
			printf("usage: orthros-rescue restore --dir DIR [--mono-offset-ns N --boot-offset-ns N] [--criu PATH]\n"
			       "                              [--stopped]\n"
			       "  Restore the image set in DIR with criu (same PIDs and TIDs, detached).\n"
			       "  --stopped: leave the processes stopped (the caller sends SIGCONT to\n"
			       "  each; the failover does once every process is restored).\n"
			       "  The restored processes get a time namespace whose CLOCK_MONOTONIC and\n"
			       "  CLOCK_BOOTTIME continue the dead kernel's: by default from the clocks\n"
			       "  saved at extraction; with the offsets (dead kernel's clock minus this\n"
			       "  one's, in ns) from this kernel's clocks now plus them.\n"
			       "  On failure the tail of DIR/restore.log is printed.\n");
			return 0;
		default:
			return 2;
		}
	}
	if (!dir || optind != argc || have_m != have_b) {
		fprintf(stderr, "usage: orthros-rescue restore --dir DIR [--mono-offset-ns N --boot-offset-ns N]\n");
		return 2;
	}
	if (have_m)
		rewrite_timens(dir, mono, boot);

	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid) {
		/*
		 * --auto-dedup: each page read from the images is punched out of
		 * them, so the images in /run (RAM) and the restored memory
		 * together need about the process's size, not twice it.
		 */
		/* --tcp-established: connections come back from tcp-stream-*.img
		 * by TCP repair (no locking rules here: the kernel's network lock
		 * holds inbound packets back until the failover script lifts it) */
		execlp(criu, criu, "restore", "-D", dir, "--restore-detached", "--shell-job",
		       "--manage-cgroups=ignore", "--auto-dedup", "--leave-stopped", "--tcp-established",
		       "-o", "restore.log", "-v4", (char *)NULL);
		fprintf(stderr, "orthros-rescue: %s: %s\n", criu, strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		fix_fpu_and_continue(dir, stopped);
		printf("orthros-rescue: restored from %s%s\n", dir, stopped ? ", stopped" : "");
		return 0;
	}
	log_tail(dir);
	die("criu restore failed (%s %d), see %s/restore.log",
	    WIFEXITED(status) ? "exit" : "signal",
	    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), dir);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: orthros-rescue COMMAND [--help | OPTIONS]\n"
		"  extract   extract a protected process from the dead OS and write its CRIU images\n"
		"  write     write the CRIU images for a saved records buffer\n"
		"  restore   restore a CRIU image set with criu\n"
		"  failover  during a takeover: extract and restore every registered process\n"
		"  export    copy the rescued processes' image sets into a folder\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "write"))
		return cmd_write(argc - 1, argv + 1);
	if (!strcmp(argv[1], "extract"))
		return cmd_extract(argc - 1, argv + 1);
	if (!strcmp(argv[1], "restore"))
		return cmd_restore(argc - 1, argv + 1);
	if (!strcmp(argv[1], "failover"))
		return cmd_failover(argc - 1, argv + 1);
	if (!strcmp(argv[1], "export"))
		return cmd_export(argc - 1, argv + 1);
	usage(stderr);
	return 2;
}
