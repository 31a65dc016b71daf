/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The Orthros loader ABI: /dev/orthros-boot, shared by the kernel side
 * (bootloader/kernel/) and the orthros-boot tool.
 *
 *   ORTHROS_BOOT_LOAD   copy a bzImage, an initramfs and a command line into
 *                       the running kernel, checked; they stay there.
 *   ORTHROS_BOOT_START  place the kept image in a backup area and start it on
 *                       an AP named by local APIC ID: one system call, no file.
 *   ORTHROS_BOOT_STATUS what is loaded and what was started.
 */
#ifndef ORTHROS_BOOT_ABI_H
#define ORTHROS_BOOT_ABI_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define ORTHROS_BOOT_DEVICE	"/dev/orthros-boot"
#define ORTHROS_BOOT_MAX_RANGES	8
#define ORTHROS_BOOT_MAX_CMDLINE 2048
#define ORTHROS_BOOT_MAX_PCI	8

struct orthros_boot_range {
	__u64 start;
	__u64 end;			/* excluded */
};

struct orthros_boot_load {
	__u64 kernel;			/* user address of the bzImage */
	__u64 kernel_size;
	__u64 initrd;			/* user address of the initramfs (may be 0) */
	__u64 initrd_size;
	__u64 cmdline;			/* user address, NUL-terminated */
};

struct orthros_boot_start {
	__u32 apic_id;			/* the AP to start the new OS on */
	__u32 flags;			/* ORTHROS_BOOT_REPLACE */
	__u32 ordinal;			/* which OS this is (2, 3, ...) */
	__u32 nr_ranges;
	/* RAM the new OS owns: one range below 1 MiB for its start-up code, then its area */
	struct orthros_boot_range ranges[ORTHROS_BOOT_MAX_RANGES];
	struct orthros_boot_range shmem;	/* the shared memory, reserved in its map */
	/*
	 * The new OS's PCI functions (bus << 8 | devfn, segment 0).  Their bus
	 * mastering is turned off before the image is placed: an OS that died
	 * without resetting them (a panic, a stop) left them DMA buffers in the
	 * area, and a device must not write into the new kernel.
	 */
	__u32 nr_pci;
	__u16 pci[ORTHROS_BOOT_MAX_PCI];
};

#define ORTHROS_BOOT_REPLACE	0x1	/* start even if an OS was started in this area */

struct orthros_boot_status {
	__u64 kernel_size;		/* 0: nothing loaded */
	__u64 initrd_size;
	__u32 started_apic;		/* ~0: none started */
	__u32 started_ordinal;
	__u64 start_ns;			/* ktime of the last start */
	struct orthros_boot_range area;	/* where it was placed */
};

/* Take the image the OS this one took over kept (it started this OS from it). */
#define ORTHROS_BOOT_ADOPT_HOLD	1	/* only find its pages and hold them through the memory phase */
#define ORTHROS_BOOT_ADOPT_UNHOLD	2	/* only give back what a hold kept (if the copy is not wanted) */

struct orthros_boot_adopt {
	__u32 from;			/* the dead OS's ordinal */
	__u32 flags;			/* ORTHROS_BOOT_ADOPT_* */
	__u64 cmdline;			/* user address: the next OS's command line */
};

#define ORTHROS_BOOT_IOC_MAGIC	0xb7
#define ORTHROS_BOOT_LOAD	_IOW(ORTHROS_BOOT_IOC_MAGIC, 1, struct orthros_boot_load)
#define ORTHROS_BOOT_START	_IOW(ORTHROS_BOOT_IOC_MAGIC, 2, struct orthros_boot_start)
#define ORTHROS_BOOT_STATUS	_IOR(ORTHROS_BOOT_IOC_MAGIC, 3, struct orthros_boot_status)
#define ORTHROS_BOOT_ADOPT	_IOW(ORTHROS_BOOT_IOC_MAGIC, 4, struct orthros_boot_adopt)

#endif
