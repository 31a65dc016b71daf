/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The Orthros shared-memory ABI: the one definition of the inter-OS region,
 * used unchanged by the kernel code (shmem/, heartbeat/, bootloader/, ...)
 * and by the tools.
 *
 * The region is the profile's area_shmem.  It is created by the 1st OS when
 * it starts its first backup and is inherited by every later OS, which finds
 * it through orthros_shm=SIZE@ADDR on its command line.  Layout, at fixed
 * offsets that the header repeats and a reader checks:
 *
 *   0x000000  header              written once, at creation; crc32
 *   0x001000  roles               who is active, who is backup; crc32
 *   0x002000  OS table            one record per OS (ordinal % SLOTS); crc32 each
 *   0x003000  heartbeat words     one 512-byte line per OS slot: the heartbeat,
 *                                 every core's beat, the user-space watchdog;
 *                                 plain words, no checksum
 *   0x004000  failure notice      written by a dying kernel; crc32
 *   0x006000  failure record      written by the OS that detected it; crc32
 *   0x008000  process registry    filled by orthros-protect; crc32 per entry
 *   0x00c000  kernel facts        one record per OS slot: what another OS needs
 *                                 to read this kernel's memory; crc32 each
 *   0x010000  ring 0              messages active -> backup
 *   0x120000  ring 1              messages backup -> active
 *
 * A record with a checksum is written as: seq++ (odd), fields, checksum,
 * seq++ (even).  A reader takes a copy, retries while seq is odd or moved, and
 * acts on the copy only when its crc32 matches.  The checksum is the IEEE
 * crc32 (as zlib's crc32()) of the record with the checksum field zero.
 *
 * Times are TSC values: every OS on the machine reads the same TSC, and the
 * header carries its frequency (tsc_khz), so one OS can compare another's
 * timestamps with its own.
 *
 * Rings are single-producer, single-consumer across the two OSes (producers
 * inside one OS are serialised by that OS).  head and tail are free-running
 * 64-bit message counts that are never reset while the ring is in use and
 * never wrap in practice (2^64 messages), so a stale index can never equal a
 * current one: the ABA problem of a wrapping index cannot arise.  Each slot
 * also carries the count it was written at, which the consumer checks.  The
 * doorbell is the platform IPI vector (0xf7) to the peer's APIC.
 */
#ifndef ORTHROS_SHM_ABI_H
#define ORTHROS_SHM_ABI_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define ORTHROS_SHM_MAGIC	0x314d48534854524fULL	/* "ORTHSHM1" */
#define ORTHROS_SHM_VERSION	2	/* 2: the beat line has core and watchdog beats */

#define ORTHROS_SHM_ROLES_OFF	0x001000
#define ORTHROS_SHM_OS_OFF	0x002000
#define ORTHROS_SHM_BEAT_OFF	0x003000
#define ORTHROS_SHM_NOTICE_OFF	0x004000
#define ORTHROS_SHM_FAILURE_OFF	0x006000
#define ORTHROS_SHM_REG_OFF	0x008000
#define ORTHROS_SHM_FACTS_OFF	0x00c000	/* 8 slots of 512 bytes */
#define ORTHROS_SHM_FACTS_SIZE	512
#define ORTHROS_SHM_RING0_OFF	0x010000
#define ORTHROS_SHM_RING1_OFF	0x120000
#define ORTHROS_SHM_RING_BYTES	0x110000	/* 64 KiB header page + slots */
#define ORTHROS_SHM_MIN_SIZE	0x230000

#define ORTHROS_SHM_OS_SLOTS	8
#define ORTHROS_SHM_MAX_APICS	8
#define ORTHROS_SHM_MAX_RANGES	8
#define ORTHROS_SHM_REG_SLOTS	64
#define ORTHROS_RING_SLOTS	4096
#define ORTHROS_MSG_SIZE	256
#define ORTHROS_RING_HDR	0x10000

/* The header: written once by the creator, then read-only. */
struct orthros_shm_header {
	__u64 magic;
	__u32 version;
	__u32 header_size;		/* sizeof(struct orthros_shm_header) */
	__u64 phys;			/* where the region is */
	__u64 size;			/* its length */
	__u64 created_tsc;
	__u32 created_by;		/* ordinal of the creator */
	__u32 tsc_khz;
	__u32 os_off, os_slots, os_size;
	__u32 beat_off, notice_off, failure_off;
	__u32 reg_off, reg_slots, reg_size;
	__u32 ring_off[2];
	__u32 ring_slots, msg_size;
	__u32 checksum;
};

struct orthros_shm_roles {
	__u32 seq;
	__u32 active;			/* ordinal of the active OS */
	__u32 backup;			/* ordinal of its backup, 0: none */
	__u32 generation;		/* bumped on every change */
	__u64 changed_tsc;
	__u32 pad;
	__u32 checksum;
};

enum orthros_os_state {
	ORTHROS_OS_FREE = 0,		/* slot not in use */
	ORTHROS_OS_BOOTING,		/* started by the loader, not up yet */
	ORTHROS_OS_UP,			/* beating */
	ORTHROS_OS_FAILED,		/* declared dead by its peer */
	ORTHROS_OS_STOPPED,		/* stopped cleanly (halt, power-off, replaced) */
	ORTHROS_OS_TAKEN_OVER,		/* failed, and its work taken over */
	ORTHROS_OS_NR_STATES,
};

enum orthros_os_role {
	ORTHROS_SHM_ROLE_NONE = 0,
	ORTHROS_SHM_ROLE_ACTIVE,
	ORTHROS_SHM_ROLE_BACKUP,
};

struct orthros_shm_range {
	__u64 start;
	__u64 end;			/* excluded */
};

struct orthros_shm_os {
	__u32 seq;
	__u32 ordinal;			/* 0: free */
	__u32 role;			/* enum orthros_os_role */
	__u32 state;			/* enum orthros_os_state */
	__u32 nr_apics;
	__u32 apic_ids[ORTHROS_SHM_MAX_APICS];
	__u32 ipi_apic;			/* where to send this OS its IPIs */
	__u32 nr_ranges;
	__u32 pad;
	struct orthros_shm_range ranges[ORTHROS_SHM_MAX_RANGES];
	__u64 boot_tsc;			/* when it was started */
	__u64 up_tsc;			/* when its heartbeat began */
	__u64 state_tsc;		/* when its state last changed */
	__u32 bsp_apic;			/* the machine's BSP, if it is one of this OS's cores; else ~0 */
	__u32 checksum;
};

/*
 * One line per OS slot (512 bytes: the page holds the eight), written only
 * by that OS (fault_tsc: by its fault injector, a test aid).  Beats are
 * counted, not checksummed: a torn or garbage count only looks like one
 * more beat, and a check that finds it unchanged waits for the next.
 *
 * Three kinds of liveness (docs/liveness.md):
 *   count      the heartbeat: an hrtimer on one core ("its timer fires");
 *   core[]     one beat per online core, counted in process context by the
 *              core's stopper thread, which an hrtimer on that core wakes
 *              each period: it stops when the core runs with interrupts off,
 *              or runs kernel code that never schedules (a lockup, a dead
 *              spin on a lock), or its scheduler no longer runs;
 *   wd_count   the user-space watchdog (orthros watchdog -- CHECK): a beat
 *              each time CHECK succeeds, e.g. a request to the service.
 */
struct orthros_shm_core {
	__u32 apic;			/* the core's local APIC ID */
	__u32 online;			/* 1 while its beats are expected */
	__u64 count;			/* its process-context beats */
};

#define ORTHROS_WD_CHECK_LEN	96

struct orthros_shm_beat {
	__u64 count;			/* beats sent so far */
	__u64 tsc;			/* time of the last one */
	__u32 ordinal;
	__u32 period_ms;
	__u32 misses;			/* the K of "K missed beats" */
	__u32 notice;			/* != 0: a failure notice is in the notice record */
	__u64 fault_tsc;		/* an injected fault, when one was */
	__u64 parked;			/* its cores parked by its peer's stop NMI */
	__u32 stall_ms;			/* a core whose beats stop this long failed; 0: off */
	__u32 probe;			/* written by its peer: answer probe N (an NMI) */
	__u32 probe_ack;		/* the last probe it answered, from its NMI handler */
	__u32 probe_irqs_off;		/* 1: that NMI interrupted it with interrupts off */
	struct orthros_shm_core core[ORTHROS_SHM_MAX_APICS];	/* by CPU number */
	__u32 wd_period_ms;		/* 0: no user-space watchdog */
	__u32 wd_misses;		/* its beats missed this many periods: failed */
	__u32 wd_pid;			/* the watchdog process */
	__u32 pad2;
	__u64 wd_count;			/* its beats */
	__u64 wd_tsc;			/* its last beat */
	char wd_check[ORTHROS_WD_CHECK_LEN];	/* what it runs, for the cause */
	__u64 probe_tsc;		/* when it answered the last probe */
	__u64 probe_timer_irqs;		/* its beat core's local timer interrupts then */
	__u8 pad3[512 - 64 - 16 * ORTHROS_SHM_MAX_APICS - 32 - ORTHROS_WD_CHECK_LEN - 16];
};

#define ORTHROS_CAUSE_LEN	256
#define ORTHROS_LOG_LEN		7680

/* Written by a dying kernel from its panic path. */
struct orthros_shm_notice {
	__u32 seq;
	__u32 ordinal;			/* the OS that is dying */
	__u64 tsc;			/* when */
	__u32 cpu_apic;			/* the core that panicked */
	__u32 log_len;
	char cause[ORTHROS_CAUSE_LEN];	/* the panic message */
	char log[ORTHROS_LOG_LEN];	/* the tail of its kernel log */
	__u32 pad;
	__u32 checksum;
};

enum orthros_failure_kind {
	ORTHROS_FAIL_NONE = 0,
	ORTHROS_FAIL_PANIC,		/* failure notice (NMI) */
	ORTHROS_FAIL_HEARTBEAT,		/* K missed beats */
	ORTHROS_FAIL_NO_BOOT,		/* never came up */
	ORTHROS_FAIL_CORE_STALL,	/* a core's process-context beats stopped */
	ORTHROS_FAIL_WATCHDOG,		/* the user-space watchdog's beats stopped */
};

/* What the detecting OS found: written once per failure. */
struct orthros_shm_failure {
	__u32 seq;
	__u32 ordinal;			/* the OS that failed */
	__u32 detected_by;
	__u32 kind;			/* enum orthros_failure_kind */
	__u64 last_beat_tsc;		/* its last beat seen */
	__u64 last_beat_count;
	__u64 detect_tsc;		/* when it was declared failed */
	__u64 ref_tsc;			/* the latency is counted from this */
	__u32 ref_kind;			/* 0 last beat, 1 panic notice, 2 injected fault */
	__u32 missed;			/* beats missed at detection */
	__u64 fault_tsc;		/* a fault injected (marked) before it, 0: none */
	char cause[ORTHROS_CAUSE_LEN];
	__u32 stop;			/* the failed OS, once its cores are asked to park */
	__u32 checksum;
};

/*
 * A protected process: written by the owner's kernel for orthros-protect
 * (/dev/orthros-protect), read by the OS that takes over from it.  The
 * process is named by its PID and its start time, so that a PID reused by
 * another process after the protected one exited never matches.  Only the
 * owner writes an entry; a writer takes one by moving its seq from even to
 * odd with a compare-and-swap, so two OSes never write the same entry.  A
 * never-written entry (all zero) is free, like one whose pid is 0.
 */
struct orthros_shm_reg_entry {
	__u32 seq;
	__u32 pid;			/* 0: free */
	__u32 owner_ordinal;
	__u32 flags;			/* ORTHROS_REG_* */
	char comm[16];
	__u64 task_phys;		/* its task_struct, in the owner's memory */
	__u64 mm_phys;
	__u64 added_tsc;
	__u64 start_time;		/* task->start_time (ns of the owner's CLOCK_MONOTONIC) */
	__u32 uid;			/* who registered it (real uid of the caller) */
	__u32 generation;		/* OS ordinal that last restored it (0: never) */
	__u64 rss_bytes;		/* resident memory when registered */
	__u8 reserved[168];
	__u32 pad;
	__u32 checksum;
};
#define ORTHROS_REG_TREE	0x1	/* and its descendants, also those forked later */

/*
 * Kernel facts: written by each OS at boot (and when it registers its data
 * file system), read by the OS that takes over from it.  Another OS may walk
 * this kernel's structures only if it runs the same build (banner_crc).
 */
#define ORTHROS_FACT_VMAP_STACK	0x1	/* kernel stacks are vmalloc'd (CONFIG_VMAP_STACK) */

struct orthros_shm_facts {
	__u32 seq;
	__u32 ordinal;
	__u32 banner_crc;		/* crc32 of linux_banner: the same build? */
	__u32 page_size;
	__u64 page_offset_base;		/* the direct map */
	__u64 vmemmap_base;		/* struct page array */
	__u64 start_kernel_map;		/* __START_KERNEL_map */
	__u64 phys_base;		/* where its image runs */
	__u64 pgd_phys;			/* init_top_pgt */
	__u32 sizeof_page;		/* sizeof(struct page) */
	__u32 sizeof_inode;
	__u64 data_sb;			/* its registered file system's super_block (VA), 0: none */
	__u32 data_dev;			/* that file system's device (dev_t) */
	__u32 pad;
	char data_path[64];		/* where it was mounted */
	__u64 clock_tsc;		/* the TSC when these were read: */
	__u64 mono_ns;			/*   its CLOCK_MONOTONIC */
	__u64 boot_ns;			/*   its CLOCK_BOOTTIME */
	__u64 rescue_capacity;		/* bytes of registered processes this OS can take
					 * over: its MemAvailable less a reserve, refreshed
					 * while it runs; 0: not known yet, 1: none */
	/*
	 * The image its loader keeps (kernel VAs, vmalloc'd or not; crc32 of
	 * each): the OS that takes over from it copies it out of its memory
	 * and starts the next backup from it without reading a file.
	 */
	__u64 kept_kernel, kept_kernel_size;
	__u64 kept_initrd, kept_initrd_size;
	__u32 kept_kernel_crc, kept_initrd_crc;
	/*
	 * Where its kernel stacks are: with ORTHROS_FACT_VMAP_STACK each is
	 * thread_size bytes in its vmalloc area, mapped page by page (behind
	 * a guard page) and read through its page tables (pgtable_levels
	 * deep); without, in its direct map, which ends at direct_map_end.
	 */
	__u64 vmalloc_start, vmalloc_end;
	__u64 direct_map_end;
	__u32 thread_size;
	__u32 pgtable_levels;
	__u32 flags;			/* ORTHROS_FACT_* */
	__u32 pad3;
	__u8 reserved[248];
	__u32 pad2;
	__u32 checksum;
};

/* A message: 256 bytes, one ring slot. */
#define ORTHROS_MSG_DATA	(ORTHROS_MSG_SIZE - 24)
struct orthros_msg {
	__u64 seq;			/* in the ring: the count it was written at */
	__u32 port;			/* destination port on the peer */
	__u32 src_port;			/* sender's port (filled by the kernel) */
	__u32 len;			/* bytes of data */
	__u32 flags;
	__u8 data[ORTHROS_MSG_DATA];
};

struct orthros_shm_ring {
	__u64 head;			/* producer: messages written */
	__u8 pad0[56];
	__u64 tail;			/* consumer: messages read */
	__u8 pad1[56];
	__u32 slots;			/* ORTHROS_RING_SLOTS */
	__u32 msg_size;
	__u32 producer_waiting;		/* the producer waits for room: ring its doorbell */
	__u32 pad2;
	__u64 doorbells;		/* IPIs sent by the producer */
	__u64 reset_tsc;		/* when the rings were last reset */
	/* slots at ORTHROS_RING_HDR from the ring's start */
};

/*
 * /dev/orthros-shm: mmap() the region (read-only; read-write when opened
 * O_RDWR by CAP_SYS_ADMIN, for fault-injection tests).  The ioctl tells
 * where it is.
 */
#define ORTHROS_SHM_DEVICE	"/dev/orthros-shm"
struct orthros_shm_info {
	__u64 phys;
	__u64 size;
	__u32 tsc_khz;
	__u32 mapped;			/* 0: this OS has no shared memory */
};
#define ORTHROS_SHM_INFO	_IOR(0xb8, 1, struct orthros_shm_info)

/*
 * /dev/orthros-chan: messages to the peer OS.  Bind a port, then write()
 * and read() whole struct orthros_msg records (port: destination; src_port
 * is filled in).  Port 0 asks for a free port >= 1024.
 */
#define ORTHROS_CHAN_DEVICE	"/dev/orthros-chan"
#define ORTHROS_PORT_EXEC	1		/* orthros agent: run a command */
#define ORTHROS_PORT_ECHO	2		/* orthros agent: send every message back */
#define ORTHROS_MSG_MORE	0x100		/* flags: more fragments follow */
#define ORTHROS_CHAN_BIND	_IOWR(0xb8, 2, __u32)

/*
 * /dev/orthros-heartbeat: this OS's own view of its peer (kept in its own
 * memory, so it is there even when the shared memory is not).
 */
#define ORTHROS_HB_DEVICE	"/dev/orthros-heartbeat"

enum orthros_peer_state {
	ORTHROS_PEER_NONE = 0,		/* no peer */
	ORTHROS_PEER_BOOTING,		/* started, not beating yet */
	ORTHROS_PEER_ALIVE,
	ORTHROS_PEER_FAILED,		/* declared failed: see failure */
	ORTHROS_PEER_STOPPED,		/* stopped cleanly */
	ORTHROS_PEER_REFUSED,		/* looked failed; shared memory invalid: not acted on */
};

struct orthros_hb_status {
	__u32 enabled;
	__u32 period_ms;
	__u32 misses;
	__u32 self;			/* this OS's ordinal */
	__u32 peer;			/* the peer's ordinal, 0: none */
	__u32 peer_apic;
	__u32 peer_state;		/* enum orthros_peer_state */
	__u32 peer_role;		/* enum orthros_os_role */
	__u64 beats_sent;
	__u64 beats_seen;
	__u64 last_beat_tsc;		/* when the peer's last beat arrived */
	__u64 max_gap_us;		/* longest time between two of its beats */
	__u64 now_tsc;
	__u32 tsc_khz;
	__u32 failure_valid;
	char refused[160];		/* why this OS refused to act, if it did */
	struct orthros_shm_failure failure;	/* the last failure it declared */
	/* this OS's own liveness, as its peer checks it */
	__u32 core_stall_ms;		/* 0: its cores are not checked */
	__u32 wd_period_ms;		/* 0: no user-space watchdog */
	__u32 wd_misses;
	__u32 wd_pid;
	__u64 wd_count;
	/* NMI probes of a peer whose beats are late (heartbeat.c: confirm_hang) */
	__u64 probes_sent;
	__u64 probes_answered;
	__u64 probes_irqs_off;		/* answered from a context with interrupts off */
};
#define ORTHROS_HB_STATUS	_IOR(0xb8, 3, struct orthros_hb_status)

/*
 * The user-space watchdog (orthros watchdog): ORTHROS_HB_WATCHDOG registers
 * (period_ms 0: unregisters) the caller's open file as this OS's one
 * watchdog (root; EBUSY if another file has it); ORTHROS_HB_WATCHDOG_BEAT
 * counts a beat.  Closing the file unregisters it.
 */
struct orthros_hb_watchdog {
	__u32 period_ms;		/* 10 ms - 600 s */
	__u32 misses;			/* 1 - 1000 */
	char check[ORTHROS_WD_CHECK_LEN];	/* what it checks, for the cause */
};
#define ORTHROS_HB_WATCHDOG	_IOW(0xb8, 11, struct orthros_hb_watchdog)
#define ORTHROS_HB_WATCHDOG_BEAT _IO(0xb8, 12)

/*
 * /dev/orthros-failover: the takeover's timeline and the page-cache
 * migration.  Phases run in the kernel (detection, cores, devices,
 * migration) or in the failover script (mount, network, service), which
 * marks their start and end here.
 */
#define ORTHROS_FAILOVER_DEVICE	"/dev/orthros-failover"
#define ORTHROS_MAX_PHASES	16

enum orthros_failover_state {
	ORTHROS_FO_NONE = 0,
	ORTHROS_FO_RUNNING,
	ORTHROS_FO_DONE,
	ORTHROS_FO_FAILED,
};

struct orthros_failover_phase {
	char name[24];
	__u64 start_us;			/* from the failure's reference time */
	__u64 duration_us;		/* ~0: still running */
};

#define ORTHROS_MIGRATE_MAX_LOSSES	8

struct orthros_migrate_stats {
	__u64 inodes;			/* inodes looked at */
	__u64 files;			/* files written */
	__u64 created;			/* of which created (not on disk) */
	__u64 resized;			/* files whose size changed */
	__u64 pages;			/* dirty pages copied */
	__u64 bytes;
	__u64 skipped;			/* objects skipped: corrupt or unusable */
	char first_skip[160];		/* what the first one was, and why */
	__u64 read_us;			/* copying out of the dead memory */
	__u64 write_us;			/* writing through this OS's file system */
	__u64 sync_us;			/* fsync of the files written */
	__u64 committed;		/* files cached but clean, their journal
					 * transaction committed: left alone */
	__u64 times_kept;		/* files written whose dead times were kept
					 * (the journal finished: they were on disk) */
	/*
	 * The witnesses (docs/failover.md): the page-cache tree of each file
	 * (its xarray), and the memmap (every struct page names its mapping
	 * and index), with each mapping's nrpages as a third.  A page either
	 * names and the other does not, or a count that does not match, is a
	 * disagreement; what neither can carry is a loss, named.
	 */
	__u32 memmap_off;		/* the memmap witness was switched off */
	__u32 nr_losses;		/* losses named (the first ones in losses[]) */
	__u64 tree_pages;		/* pages the trees named for copying */
	__u64 memmap_pages;		/* pages the memmap named for copying */
	__u64 memmap_scanned;		/* struct pages the memmap scan read */
	__u64 memmap_us;		/* its time */
	__u64 disagreements;
	char first_disagreement[160];
	__u64 lost_bytes;		/* bytes below i_size carried by neither */
	struct orthros_migrate_loss {
		char file[112];		/* its path here (the mount's and below) */
		__u64 start, end;	/* the byte range [start, end) not carried */
		char why[64];
	} losses[ORTHROS_MIGRATE_MAX_LOSSES];
};

/* What became of one registered process (the failover script reports it). */
#define ORTHROS_MAX_RESCUED	16
enum orthros_rescue_outcome {
	ORTHROS_RESCUE_NONE = 0,
	ORTHROS_RESCUE_RESTORED,
	ORTHROS_RESCUE_SKIPPED,
};
struct orthros_rescued {
	__u32 pid;
	__u32 outcome;			/* enum orthros_rescue_outcome */
	__u32 nr_procs;			/* processes of its tree */
	__u32 nr_threads;
	__u64 extract_us;		/* the kernel's walk of the dead memory */
	__u64 images_us;		/* writing the CRIU images (with the page copies) */
	__u64 restore_us;		/* criu restore */
	__u64 running_us;		/* running again, from the failure's reference time */
	__u64 bytes;			/* memory carried */
	char why[160];			/* skipped: why; restored: what was left out */
};

/*
 * The repartition of memory (phase "memory", failover/kernel/repartition.c):
 * the profile's general area, in hot-plug blocks, hot-added and onlined here.
 * The meminfo figures are in KiB (MemTotal, MemAvailable) before and after.
 */
#define ORTHROS_REPART_MAX_RANGES 4
enum orthros_repart_state {
	ORTHROS_REPART_NONE = 0,	/* not run (yet) */
	ORTHROS_REPART_DONE,		/* every block added and online */
	ORTHROS_REPART_PARTIAL,		/* some blocks could not be added or onlined */
	ORTHROS_REPART_OFF,		/* orthros_repartition=off */
	ORTHROS_REPART_REFUSED,		/* nothing added: why says why */
};
struct orthros_repart_mem {
	__u32 state;			/* enum orthros_repart_state */
	__u32 blocks;			/* blocks added and onlined */
	__u32 failed;			/* blocks that could not be */
	__u32 nr_ranges;		/* ranges[]: what was added, merged */
	__u64 block_size;		/* the kernel's memory block size */
	__u64 bytes;			/* added and onlined */
	__u64 total_before_kb, total_after_kb;
	__u64 avail_before_kb, avail_after_kb;
	__u64 add_us;			/* add_memory(): memmap, direct map, block devices */
	__u64 online_us;		/* onlining: the pages go to the buddy allocator */
	__u64 held_pages;		/* kept offline for the process rescue */
	struct orthros_shm_range ranges[ORTHROS_REPART_MAX_RANGES];
	char why[160];			/* refused or partial: why */
};

/*
 * The dead journal's unfinished transactions read for orthros-journal (phase
 * "journal"; migrate/kernel/orthros_journal_abi.h is what it is handed):
 * what was read, and what was left out and why.  What orthros-journal made
 * of it (written or refused) is on the console of the failover.
 */
struct orthros_journal_stats {
	__u32 read;			/* the dead journal was read */
	__u32 flags;			/* ORTHROS_JOURNAL_OFF, _ABORTED, _NONE */
	__u32 nr_txn;			/* transactions handed out */
	__u32 blocks;			/* their block images */
	__u32 revokes;
	__u32 dropped_tid;		/* a transaction left out (0: none) */
	__u32 dropped_blocks;
	__u32 open_handles;		/* handles open in it when it died */
	__u32 undone_handles;		/* open handles taken back out of R (undo records) */
	__u32 undone_blocks;		/* blocks put back as they were before them */
	__u32 merged_blocks;		/* of which with finished handles' changes over them */
	char why[160];			/* why it was left out */
};

struct orthros_failover_status {
	__u32 state;			/* enum orthros_failover_state */
	__u32 nr_phases;
	__u32 failed_ordinal;
	__u32 migrate_off;		/* the migration was switched off */
	__u64 ref_us;			/* machine time of the failure */
	struct orthros_failover_phase phases[ORTHROS_MAX_PHASES];
	char error[160];
	struct orthros_migrate_stats migrate;
	__u32 rescue_off;		/* process rescue was switched off */
	__u32 nr_rescued;
	struct orthros_rescued rescued[ORTHROS_MAX_RESCUED];
	struct orthros_repart_mem mem;	/* the general area hot-added here */
	__u32 netlock;			/* 1 while inbound packets are held back */
	__u32 pad2;
	__u64 netlock_dropped;		/* packets the network lock dropped (not held) */
	struct orthros_journal_stats journal;
	/* the two moments, from the failure's reference time (0: not yet) */
	__u64 service_back_us;		/* the failover marked done: the service runs */
	__u64 protected_us;		/* the first beat of a new backup: watched again */
	/* the network lock's held packets, delivered when it was released (at netlock_us) */
	__u64 netlock_held;
	__u64 netlock_delivered;
	__u64 netlock_us;
};

struct orthros_failover_mark {
	char name[24];
	__u32 end;			/* 0: begin, 1: end, 2: the whole failover is done */
	__u32 pad;
};

struct orthros_migrate_req {
	char path[128];			/* where this OS mounted the file system */
	__u32 flags;
	__u32 pad;
};

#define ORTHROS_FAILOVER_STATUS	_IOR(0xb8, 4, struct orthros_failover_status)
#define ORTHROS_FAILOVER_MARK	_IOW(0xb8, 5, struct orthros_failover_mark)
#define ORTHROS_FAILOVER_MIGRATE _IOW(0xb8, 6, struct orthros_migrate_req)
#define ORTHROS_MIGRATE_REGISTER _IOW(0xb8, 7, struct orthros_migrate_req)
#define ORTHROS_FAILOVER_RESCUED _IOW(0xb8, 10, struct orthros_rescued)
/* Hot-add the general area (phase "memory"); the outcome: STATUS's mem. */
#define ORTHROS_FAILOVER_MEMORY	_IO(0xb8, 20)
/* Release the network lock (failover/kernel/netlock.c) once processes are back. */
#define ORTHROS_FAILOVER_NETUNLOCK _IO(0xb8, 21)

/*
 * /dev/orthros-protect: register processes for rescue (orthros-protect).
 * ADD checks the process (it exists, is a user process, not PID 1, not a
 * zombie, the caller may ptrace it) and that a backup watches this OS
 * (unless ORTHROS_PROTECT_FORCE); REMOVE drops it (only the uid that
 * registered it, or root).  Both first prune this OS's entries whose process
 * has exited; REMOVE of PID 0 only prunes.  On error, why says why.
 */
#define ORTHROS_PROTECT_DEVICE	"/dev/orthros-protect"
struct orthros_protect_req {
	__u32 pid;
	__u32 flags;			/* ORTHROS_REG_TREE, ORTHROS_PROTECT_FORCE */
	__u32 slot;			/* out: the registry slot */
	__u32 pad;
	char why[160];			/* out: the reason of a refusal */
};
#define ORTHROS_PROTECT_FORCE	0x100	/* register with no backup watching */
#define ORTHROS_PROTECT_ADD	_IOWR(0xb8, 8, struct orthros_protect_req)
#define ORTHROS_PROTECT_REMOVE	_IOWR(0xb8, 9, struct orthros_protect_req)

#endif
