/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The Orthros process-rescue ABI: what the kernel's extractor hands to user
 * space, used unchanged by the kernel code (migrate/kernel/rescue*.c) and by
 * the image writer (migrate/orthros-rescue.c).
 *
 * /dev/orthros-rescue (CAP_SYS_ADMIN):
 *
 *   ioctl ORTHROS_RESCUE_EXTRACT   extract one registered process (or, with
 *                                  ORTHROS_RX_TREE, it and its descendants)
 *                                  from the dead OS's memory into a buffer of
 *                                  records; returns the bytes written, or a
 *                                  negative errno with the reason in req.why
 *   pread(fd, buf, len, PHYS)      read the dead OS's memory at physical
 *                                  address PHYS (only inside its RAM ranges);
 *                                  the page contents the records name by
 *                                  physical address are read this way, like
 *                                  /proc/vmcore of kdump.  Once that memory
 *                                  is hot-added here, only the pages an
 *                                  extraction named and that were not yet
 *                                  released (they were held out of the
 *                                  allocator: docs/failover.md, step 7)
 *   ioctl ORTHROS_RESCUE_RELEASE   those pages are copied out: one name less
 *                                  each (phys[] of nr, or every page with
 *                                  ORTHROS_RX_RELEASE_ALL); a held page that
 *                                  nobody names any more is freed
 *
 * With ORTHROS_RX_SELF the source is this running kernel instead of a dead
 * one (the process must be stopped): the same untrusted walk over this OS's
 * own memory, which lets a test compare the result with `criu dump`.
 *
 * The buffer holds records, each a struct orthros_rx_hdr followed by len
 * bytes (len a multiple of 8).  Per process, in order: PROC, then one THREAD
 * per thread (the leader first), one VMA per mapping each followed by its
 * PAGES, one FD per open file (a pipe's FD followed by its PIPEBUF, an
 * IPv4 or unix socket's FD by its SOCK and that by the SKDATA of its
 * queues, an epoll instance's FD by one EPITEM per watch), SIGQ
 * for queued signals; END closes the buffer.  Nothing here points into
 * the dead kernel: every address is a user virtual address of the process
 * or a physical address checked to be the dead OS's RAM.
 */
#ifndef ORTHROS_RESCUE_ABI_H
#define ORTHROS_RESCUE_ABI_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define ORTHROS_RESCUE_DEVICE	"/dev/orthros-rescue"

enum orthros_rx_type {
	ORTHROS_RX_PROC = 1,
	ORTHROS_RX_THREAD,
	ORTHROS_RX_VMA,
	ORTHROS_RX_PAGES,
	ORTHROS_RX_FD,
	ORTHROS_RX_PIPEBUF,
	ORTHROS_RX_SIGQ,
	ORTHROS_RX_END,
	ORTHROS_RX_SOCK,
	ORTHROS_RX_SKDATA,
	ORTHROS_RX_EPITEM,
};

struct orthros_rx_hdr {
	__u32 type;			/* enum orthros_rx_type */
	__u32 len;			/* payload bytes after this header */
};

#define ORTHROS_RX_PATH		256
#define ORTHROS_RX_NGROUPS	32
#define ORTHROS_RX_NSIG		64
#define ORTHROS_RX_NRLIM	16
#define ORTHROS_RX_AUXV		64	/* words */
#define ORTHROS_RX_XSAVE	4096	/* bytes of XSAVE area carried */

struct orthros_rx_sigaction {
	__u64 handler;
	__u64 flags;
	__u64 restorer;
	__u64 mask;
};

/* One process (thread group). */
struct orthros_rx_proc {
	__u32 pid, ppid, pgid, sid;	/* ppid: 0 when the parent is not rescued with it */
	__u32 nr_threads;
	__u32 flags;			/* ORTHROS_RXP_* */
	__u32 uid, euid, suid, fsuid;
	__u32 gid, egid, sgid, fsgid;
	__u64 cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	__u32 secbits;
	__u32 ngroups;
	__u32 groups[ORTHROS_RX_NGROUPS];
	__u32 umask;
	__u32 exit_signal;
	__u64 personality;
	char comm[16];
	char cwd[ORTHROS_RX_PATH];
	char root[ORTHROS_RX_PATH];
	char exe[ORTHROS_RX_PATH];
	__u64 rlim_cur[ORTHROS_RX_NRLIM];
	__u64 rlim_max[ORTHROS_RX_NRLIM];
	struct orthros_rx_sigaction sigaction[ORTHROS_RX_NSIG];
	__u64 shared_pending;		/* signal->shared_pending.signal */
	/* mm */
	__u64 start_code, end_code, start_data, end_data;
	__u64 start_brk, brk, start_stack;
	__u64 arg_start, arg_end, env_start, env_end;
	__u64 auxv[ORTHROS_RX_AUXV];
	__u32 auxv_words;		/* used words of auxv (pairs, AT_NULL included) */
	__u32 nr_vmas;
	__u64 vdso;			/* mm->context.vdso */
	__u64 start_time_ns;		/* task->start_time (the dead kernel's CLOCK_MONOTONIC) */
	__u64 mono_ns;			/* the dead kernel's CLOCK_MONOTONIC now (extrapolated by the TSC) */
	__u64 boot_ns;			/* the same for CLOCK_BOOTTIME */
	__u32 nr_fds;
	__u32 pad;
};
#define ORTHROS_RXP_LEADER	0x1	/* the process the registry names (a tree's root) */

struct orthros_rx_regs {		/* the order of struct pt_regs on x86-64 */
	__u64 r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	__u64 ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

/* One thread. */
struct orthros_rx_thread {
	__u32 tid;
	__u32 flags;			/* ORTHROS_RXT_* */
	struct orthros_rx_regs regs;
	__u64 fs_base, gs_base;
	__u16 ds, es, fs, gs;
	__u32 io_done;			/* IO_KNOWN: bytes a read()/write() it was in had copied */
	__u64 blocked;			/* blocked signals */
	__u64 pending;			/* its own pending signals */
	__u64 sas_sp, sas_size;
	__u32 sas_flags;
	__u32 rseq_len;
	__u64 rseq;			/* struct rseq registered, 0: none */
	__u32 rseq_sig;
	__u32 xsave_len;		/* bytes of xsave used (0: no FPU state) */
	__u64 xfeatures;		/* features present in xsave */
	__u64 clear_child_tid;
	__u64 robust_list;
	__u64 robust_len;
	char comm[16];
	__u8 xsave[ORTHROS_RX_XSAVE];	/* standard (non-compacted) XSAVE layout */
};
#define ORTHROS_RXT_ON_CPU	0x1	/* it was running on a core when the OS died */
#define ORTHROS_RXT_SAVED	0x2	/* that core saved its user state on the way down */
#define ORTHROS_RXT_IN_SYSCALL	0x4	/* stopped inside a system call (orig_ax >= 0) */
#define ORTHROS_RXT_IO_KNOWN	0x8	/* a read(), recvfrom() or write() it was in: io_done known */
#define ORTHROS_RXT_STACK_VMAP	0x10	/* its kernel stack was vmalloc'd: read through the page tables */
#define ORTHROS_RXT_KSP		0x20	/* where its kernel stack was left is known (IO_KNOWN possible) */

enum orthros_rx_vma_kind {
	ORTHROS_RXV_ANON_PRIVATE = 1,
	ORTHROS_RXV_ANON_SHARED,
	ORTHROS_RXV_FILE_PRIVATE,
	ORTHROS_RXV_FILE_SHARED,
	ORTHROS_RXV_VDSO,
	ORTHROS_RXV_VVAR,
};

/* One mapping; its pages follow in PAGES records. */
struct orthros_rx_vma {
	__u64 start, end;
	__u64 pgoff;			/* in pages */
	__u64 vm_flags;
	__u32 kind;			/* enum orthros_rx_vma_kind */
	__u32 prot;			/* PROT_* */
	__u32 map_flags;		/* MAP_* (PRIVATE/SHARED/ANONYMOUS/GROWSDOWN) */
	__u32 status;			/* ORTHROS_RXV_HEAP, _STACK */
	__u64 ino;			/* file or shmem inode number */
	__u32 dev;			/* its device (the dead kernel's dev_t) */
	__u32 mode;
	__u64 size;			/* the file's i_size */
	__u64 nr_pages;			/* pages that follow */
	char path[ORTHROS_RX_PATH];	/* file mappings: where the file is */
};
#define ORTHROS_RXV_HEAP	0x1
#define ORTHROS_RXV_STACK	0x2

/* Resident pages of the last VMA: what to copy, by physical address. */
struct orthros_rx_page {
	__u64 vaddr;
	__u64 phys;
};
struct orthros_rx_pages {
	__u64 count;
	struct orthros_rx_page page[];
};

enum orthros_rx_fd_kind {
	ORTHROS_RXF_REG = 1,		/* a regular file or a directory, by path */
	ORTHROS_RXF_PIPE,		/* an anonymous pipe */
	ORTHROS_RXF_FIFO,		/* a named pipe */
	ORTHROS_RXF_CHR,		/* a character device by path (/dev/null, /dev/zero) */
	ORTHROS_RXF_OTHER,		/* something this version does not carry */
	ORTHROS_RXF_INET,		/* an IPv4 TCP or UDP socket: a SOCK record follows */
	ORTHROS_RXF_UNIX,		/* an AF_UNIX stream socket: a SOCK record follows */
	ORTHROS_RXF_EPOLL,		/* an epoll instance: nr_bufs EPITEM records follow */
};

struct orthros_rx_fd {
	__u32 fd;
	__u32 kind;			/* enum orthros_rx_fd_kind */
	__u32 flags;			/* f_flags (O_*) */
	__u32 cloexec;
	__u64 pos;
	__u64 ino;
	__u32 dev;
	__u32 mode;
	__u64 size;
	__u32 rdev;
	__u32 pipe_bytes;		/* pipes: bytes queued */
	__u32 pipe_size;		/* pipes: capacity in bytes */
	__u32 nr_bufs;			/* pipes: PIPEBUF records that follow; epoll: EPITEM */
	__u64 file_id;			/* the dead struct file: equal ids, one shared file */
	char path[ORTHROS_RX_PATH];	/* REG, FIFO, CHR: where; OTHER: what it was */
};

/*
 * One buffer of a pipe's queue, in order: its bytes are [offset, offset +
 * len) of the page at phys.  First come buffers already read out
 * (ORTHROS_RXPB_READ, len 0, oldest first): [0, offset) of their pages, and
 * of the first queued buffer's, may still be the bytes read last, in order
 * (a pipe fills a page from its start).  Not trusted: only compared with a
 * reader's buffer (a page freed or reused since is simply not equal); held
 * like the queue's pages until the images are written.
 */
struct orthros_rx_pipebuf {
	__u64 pipe_ino;
	__u64 phys;
	__u32 offset;
	__u32 len;
	__u32 flags;			/* ORTHROS_RXPB_* */
	__u32 pad;
};
#define ORTHROS_RXPB_READ	0x1	/* read out already: not part of the queue */

/*
 * An IPv4 socket (ORTHROS_RXF_INET) or an AF_UNIX stream socket
 * (ORTHROS_RXF_UNIX: queue 0 only): what criu's InetSkEntry (UnixSkEntry), SkOptsEntry and,
 * for an established TCP connection, TcpStreamEntry need.  Followed by
 * nr_data SKDATA records: the bytes received and not read (queue 0, from
 * inq_seq - inq_len on), then the bytes sent and not acknowledged and not
 * yet sent (queue 1, from outq_seq - outq_len on), each within one page.
 */
struct orthros_rx_sock {
	__u32 family, type, protocol;
	__u32 state;			/* TCP_* (include/net/tcp_states.h) */
	__u32 src_addr, dst_addr;	/* network order */
	__u16 src_port, dst_port;	/* host order */
	__u32 backlog;			/* listen(): sk_max_ack_backlog */
	__u32 flags;			/* ORTHROS_RXS_* */
	__u32 sndbuf, rcvbuf;
	__u32 shutdown;			/* SEND_SHUTDOWN, RCV_SHUTDOWN bits */
	/* established TCP: criu's tcp_stream_entry */
	__u32 inq_seq, inq_len;		/* rcv_nxt, rcv_nxt - copied_seq */
	__u32 outq_seq, outq_len;	/* write_seq, write_seq - snd_una */
	__u32 unsq_len;			/* write_seq - snd_nxt */
	__u32 opt_mask;			/* TCPI_OPT_TIMESTAMPS, _SACK, _WSCALE */
	__u32 snd_wscale, rcv_wscale, mss_clamp;
	__u32 timestamp;		/* what getsockopt(TCP_TIMESTAMP) would say now */
	__u32 snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup;
	__u32 nr_data;			/* SKDATA records that follow */
	__u32 pad;
	__u64 ino;			/* the socket inode's number in the dead OS */
	/* AF_UNIX: the connected peer's socket inode (0: none) and the bound name */
	__u64 peer_ino;
	__u32 name_len;			/* bytes of name (sun_path; abstract: a leading 0) */
	__u32 pad2;
	__u8 name[108];
};
#define ORTHROS_RXS_REUSEADDR	0x1
#define ORTHROS_RXS_REUSEPORT	0x2
#define ORTHROS_RXS_KEEPALIVE	0x4
#define ORTHROS_RXS_NODELAY	0x8
#define ORTHROS_RXS_CORK	0x10
#define ORTHROS_RXS_SNDBUF_LOCK	0x20
#define ORTHROS_RXS_RCVBUF_LOCK	0x40

/*
 * One watch of an epoll instance (in the order of its rbtree: by file, then
 * fd): the fd number it was added with, the file that fd was then (the dead
 * struct file, as orthros_rx_fd.file_id), the events asked for and the
 * process's data.
 */
struct orthros_rx_epitem {
	__u64 file_id;
	__u64 data;
	__u32 fd;
	__u32 events;
};

/* Queued bytes of a socket: len bytes of the dead OS's RAM at phys. */
struct orthros_rx_skdata {
	__u64 phys;
	__u32 len;
	__u32 queue;			/* 0: received, not read; 1: to send */
};

/* A queued signal. */
struct orthros_rx_sigq {
	__u32 tid;			/* 0: shared (process-wide) */
	__u32 signo;
	__u8 siginfo[128];
};

#define ORTHROS_RX_WHY		160

struct orthros_rescue_req {
	__u32 pid;			/* the registered process */
	__u32 flags;			/* ORTHROS_RX_TREE, ORTHROS_RX_SELF */
	__u64 buf;			/* user buffer for the records */
	__u64 len;
	__u64 used;			/* out: bytes written */
	__u32 nr_procs;			/* out: processes extracted */
	__u32 pad;
	char why[ORTHROS_RX_WHY];	/* out: why it failed, or what was left out */
};
#define ORTHROS_RX_TREE		0x1	/* and its descendants */
#define ORTHROS_RX_SELF		0x2	/* from this running kernel (stopped process) */

#define ORTHROS_RESCUE_EXTRACT	_IOWR(0xb8, 16, struct orthros_rescue_req)

struct orthros_rescue_release {
	__u64 phys;			/* user array of __u64 physical addresses */
	__u32 nr;
	__u32 flags;			/* ORTHROS_RX_RELEASE_ALL */
	__u64 held;			/* out: pages still held */
	__u64 freed;			/* out: held pages freed so far */
};
#define ORTHROS_RX_RELEASE_ALL	0x1
#define ORTHROS_RX_RELEASE_MAX	65536

#define ORTHROS_RESCUE_RELEASE	_IOWR(0xb8, 17, struct orthros_rescue_release)

#endif
