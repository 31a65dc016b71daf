// SPDX-License-Identifier: GPL-2.0
/*
 * The Orthros loader: start a later OS beside the running one.
 *
 * ORTHROS_BOOT_LOAD keeps a checked copy of a bzImage, an initramfs and a
 * command line in this kernel's memory.  ORTHROS_BOOT_START places that copy
 * in a backup area the running kernel does not own, builds the new OS's
 * boot_params (its own e820 map: its area, the shared memory as reserved,
 * the firmware's non-RAM entries), identity page tables and start-up code
 * below 1 MiB, and wakes the AP by INIT and STARTUP IPIs.  Nothing of the
 * running kernel is shut down, paused or reprogrammed.
 */
#define pr_fmt(fmt) "orthros-boot: " fmt

#include <linux/acpi.h>
#include <linux/crc32.h>
#include <linux/cpu.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/orthros.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <asm/apic.h>
#include <asm/bootparam.h>
#include <asm/e820/api.h>
#include <asm/setup.h>
#include <asm/tsc.h>

#include "orthros_boot_abi.h"
#include "../shmem/orthros_shm.h"
#include "../migrate/dead.h"
#include "../migrate/hold.h"
#include "../migrate/orthros_migrate.h"

#define MAX_IMAGE		(64UL << 20)
#define KERNEL_OFFSET		(2UL << 20)	/* kernel at area start + 2 MiB */
#define BP_OFFSET		0x0000		/* boot_params */
#define CMDLINE_OFFSET		0x1000
#define PGTABLE_OFFSET		0x2000		/* PML4, PDPT, 4 PDs: 0-4 GiB, 2 MiB pages */
#define STACK_TOP_OFFSET	0x10000

extern const u8 orthros_tramp_start[], orthros_tramp_params[], orthros_tramp_end[];

struct orthros_tramp_params {
	u64 cr3;
	u64 entry;
	u64 boot_params;
	u64 stack;
};

struct kept_image {
	void *kernel;
	size_t kernel_size;
	void *initrd;
	size_t initrd_size;
	char *cmdline;
	const struct setup_header *hdr;	/* inside kernel */
	size_t setup_size;		/* real-mode part: (setup_sects + 1) * 512 */
};

static DEFINE_MUTEX(loader_lock);
static u64 acpi_rsdp __ro_after_init;	/* handed to later OSes: no scan of the BIOS area */
static struct kept_image kept;
static struct orthros_boot_status last = { .started_apic = ~0U };

static void free_kept(struct kept_image *k)
{
	kvfree(k->kernel);
	kvfree(k->initrd);
	kfree(k->cmdline);
	memset(k, 0, sizeof(*k));
}

/* A bzImage this loader can start: 64-bit entry, relocatable, sane sizes. */
static int check_bzimage(struct kept_image *k)
{
	const struct setup_header *h;
	unsigned int sects;

	if (k->kernel_size < 0x1000)
		return -ENOEXEC;
	h = k->kernel + 0x1f1;
	if (h->header != 0x53726448 || h->boot_flag != 0xaa55) {
		pr_err("not a bzImage (no HdrS signature)\n");
		return -ENOEXEC;
	}
	if (h->version < 0x020c || !(h->xloadflags & XLF_KERNEL_64) ||
	    !h->relocatable_kernel) {
		pr_err("bzImage has no relocatable 64-bit entry (boot protocol %#x)\n",
		       h->version);
		return -ENOEXEC;
	}
	sects = h->setup_sects ? h->setup_sects : 4;
	k->setup_size = (size_t)(sects + 1) * 512;
	if (k->setup_size >= k->kernel_size || !h->init_size ||
	    !is_power_of_2(h->kernel_alignment)) {
		pr_err("bzImage header is inconsistent\n");
		return -ENOEXEC;
	}
	k->hdr = h;
	return 0;
}

static u32 crc_of(const void *p, size_t len)
{
	return crc32_le(~0U, p, len) ^ ~0U;
}

/*
 * Keep k as the image to start (k is emptied), and say where it is in this
 * OS's kernel facts: the OS that takes over from this one copies it there.
 */
static void keep(struct kept_image *k)
{
	mutex_lock(&loader_lock);
	free_kept(&kept);
	kept = *k;
	memset(k, 0, sizeof(*k));
	kept.hdr = kept.kernel + 0x1f1;
	last.kernel_size = kept.kernel_size;
	last.initrd_size = kept.initrd_size;
	orthros_shm_set_kept_image((u64)kept.kernel, kept.kernel_size,
				   crc_of(kept.kernel, kept.kernel_size), (u64)kept.initrd,
				   kept.initrd_size,
				   kept.initrd_size ? crc_of(kept.initrd, kept.initrd_size) : 0);
	mutex_unlock(&loader_lock);
}

static long do_load(const struct orthros_boot_load __user *uarg)
{
	struct orthros_boot_load a;
	struct kept_image k = { };
	long len;
	int err;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (!a.kernel_size || a.kernel_size > MAX_IMAGE || a.initrd_size > MAX_IMAGE)
		return -EFBIG;
	k.kernel = kvmalloc(a.kernel_size, GFP_KERNEL);
	k.cmdline = kzalloc(ORTHROS_BOOT_MAX_CMDLINE, GFP_KERNEL);
	if (a.initrd_size)
		k.initrd = kvmalloc(a.initrd_size, GFP_KERNEL);
	err = -ENOMEM;
	if (!k.kernel || !k.cmdline || (a.initrd_size && !k.initrd))
		goto out;
	err = -EFAULT;
	if (copy_from_user(k.kernel, u64_to_user_ptr(a.kernel), a.kernel_size) ||
	    (a.initrd_size &&
	     copy_from_user(k.initrd, u64_to_user_ptr(a.initrd), a.initrd_size)))
		goto out;
	len = strncpy_from_user(k.cmdline, u64_to_user_ptr(a.cmdline),
				ORTHROS_BOOT_MAX_CMDLINE);
	if (len < 0)
		goto out;
	err = -E2BIG;
	if (len >= ORTHROS_BOOT_MAX_CMDLINE)
		goto out;
	k.kernel_size = a.kernel_size;
	k.initrd_size = a.initrd_size;
	err = check_bzimage(&k);
	if (err)
		goto out;

	pr_info("kept a %zu-byte kernel and a %zu-byte initramfs\n",
		k.kernel_size, k.initrd_size);
	keep(&k);
	return 0;
out:
	free_kept(&k);
	return err;
}

/*
 * The pages of the image a dead OS kept, found before its memory became this
 * OS's (ORTHROS_BOOT_ADOPT_HOLD) and held through the memory phase
 * (migrate/hold.c), so that the copy waits until the service is back.  One
 * physical address per page of the kernel, then of the initramfs.
 */
static struct {
	u32 from;			/* 0: nothing held */
	u32 nr;
	u64 *phys;
	u64 kernel_size, initrd_size;
	u32 kernel_crc, initrd_crc;
} held_image;

static void unhold_image(void)
{
	u32 i;

	for (i = 0; i < held_image.nr; i++)
		orthros_hold_unpin(held_image.phys[i]);
	kvfree(held_image.phys);
	memset(&held_image, 0, sizeof(held_image));
}

/* Each page of [va, va + size) of @d, pinned; -EFAULT if one is not its RAM. */
static int hold_range(struct orthros_dead *d, u64 va, u64 size)
{
	u64 off, phys;
	int err;

	for (off = 0; off < size; off += PAGE_SIZE) {
		u64 n = min_t(u64, PAGE_SIZE, size - off);

		if ((va + off) & ~PAGE_MASK)
			return -EFAULT;	/* kvmalloc'd: page-aligned */
		err = orthros_dead_va_phys(d, va + off, n, &phys);
		if (err)
			return err;
		err = orthros_hold_pin(phys);
		if (err)
			return err;
		held_image.phys[held_image.nr++] = phys;
	}
	return 0;
}

static long hold_image(struct orthros_dead *d, u32 from)
{
	const struct orthros_shm_facts *f = &d->facts;
	u64 pages = DIV_ROUND_UP(f->kept_kernel_size, PAGE_SIZE) +
		    DIV_ROUND_UP(f->kept_initrd_size, PAGE_SIZE);
	int err;

	if (d->held_only)
		return -EBUSY;		/* its memory is this OS's already */
	unhold_image();
	held_image.phys = kvmalloc_array(pages, sizeof(u64), GFP_KERNEL);
	if (!held_image.phys)
		return -ENOMEM;
	err = hold_range(d, f->kept_kernel, f->kept_kernel_size);
	if (!err)
		err = hold_range(d, f->kept_initrd, f->kept_initrd_size);
	if (err) {
		pr_err("OS %u's kept image is not in its memory\n", from);
		unhold_image();
		return err;
	}
	held_image.from = from;
	held_image.kernel_size = f->kept_kernel_size;
	held_image.initrd_size = f->kept_initrd_size;
	held_image.kernel_crc = f->kept_kernel_crc;
	held_image.initrd_crc = f->kept_initrd_crc;
	pr_info("holding OS %u's kept image: %u pages\n", from, held_image.nr);
	return 0;
}

/* Copy the held image's pages into @buf (the kernel's, then the initramfs's). */
static int read_held(struct orthros_dead *d, u32 first, void *buf, u64 size)
{
	u64 off;

	for (off = 0; off < size; off += PAGE_SIZE) {
		u64 n = min_t(u64, PAGE_SIZE, size - off);
		void *src = orthros_dead_phys(d, held_image.phys[first + off / PAGE_SIZE], n);

		if (!src)
			return -EFAULT;
		memcpy(buf + off, src, n);
	}
	return 0;
}

/*
 * ORTHROS_BOOT_ADOPT: the OS this one took over kept a kernel and an
 * initramfs (it started this OS from them): copy them out of its memory,
 * check them (their crc32 as it published them, the bzImage header), and
 * keep them with the command line of the next OS.  So a later OS starts the
 * next backup from memory, reading no file, as Mint's clone proposed.  It
 * must run before the dead OS's memory is given to this one, or after, if
 * ORTHROS_BOOT_ADOPT_HOLD found and held its pages before.
 */
static long do_adopt(const struct orthros_boot_adopt __user *uarg)
{
	struct orthros_boot_adopt a;
	struct orthros_shm_facts *f;
	struct orthros_dead *d;
	struct kept_image k = { };
	bool held;
	long len;
	int err;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.flags & ~(ORTHROS_BOOT_ADOPT_HOLD | ORTHROS_BOOT_ADOPT_UNHOLD) ||
	    a.flags == (ORTHROS_BOOT_ADOPT_HOLD | ORTHROS_BOOT_ADOPT_UNHOLD))
		return -EINVAL;
	if (a.flags & ORTHROS_BOOT_ADOPT_UNHOLD) {
		mutex_lock(&loader_lock);
		if (held_image.nr)
			pr_info("gave back the %u held pages of OS %u's kept image\n",
				held_image.nr, held_image.from);
		unhold_image();
		mutex_unlock(&loader_lock);
		return 0;
	}
	d = kzalloc(sizeof(*d), GFP_KERNEL);
	mutex_lock(&loader_lock);
	err = -ENOMEM;
	if (!d)
		goto out;
	err = a.from && a.from != orthros_ordinal() ? orthros_dead_open(d, a.from) : -EINVAL;
	if (err)
		goto out;
	f = &d->facts;
	err = -ENOENT;
	if (!f->kept_kernel_size) {
		pr_err("OS %u kept no image\n", a.from);
		goto out;
	}
	err = -EFBIG;
	if (f->kept_kernel_size > MAX_IMAGE || f->kept_initrd_size > MAX_IMAGE)
		goto out;
	if (a.flags & ORTHROS_BOOT_ADOPT_HOLD) {
		err = hold_image(d, a.from);
		goto out;
	}
	/* held: the sizes and checksums it published then, its pages by address */
	held = held_image.from == a.from && held_image.kernel_size == f->kept_kernel_size &&
	       held_image.initrd_size == f->kept_initrd_size;
	k.kernel = kvmalloc(f->kept_kernel_size, GFP_KERNEL);
	k.cmdline = kzalloc(ORTHROS_BOOT_MAX_CMDLINE, GFP_KERNEL);
	if (f->kept_initrd_size)
		k.initrd = kvmalloc(f->kept_initrd_size, GFP_KERNEL);
	err = -ENOMEM;
	if (!k.kernel || !k.cmdline || (f->kept_initrd_size && !k.initrd))
		goto out;
	err = -EFAULT;
	if (held ? read_held(d, 0, k.kernel, f->kept_kernel_size) ||
		   read_held(d, DIV_ROUND_UP(f->kept_kernel_size, PAGE_SIZE), k.initrd,
			     f->kept_initrd_size) :
		   orthros_dead_read(d, f->kept_kernel, k.kernel, f->kept_kernel_size) ||
		   (f->kept_initrd_size &&
		    orthros_dead_read(d, f->kept_initrd, k.initrd, f->kept_initrd_size))) {
		pr_err("OS %u's kept image is not in its memory\n", a.from);
		goto out;
	}
	err = -EBADMSG;
	if (crc_of(k.kernel, f->kept_kernel_size) != f->kept_kernel_crc ||
	    (f->kept_initrd_size && crc_of(k.initrd, f->kept_initrd_size) != f->kept_initrd_crc) ||
	    (held && (f->kept_kernel_crc != held_image.kernel_crc ||
		      f->kept_initrd_crc != held_image.initrd_crc))) {
		pr_err("OS %u's kept image does not match its checksum\n", a.from);
		goto out;
	}
	err = -EFAULT;
	len = strncpy_from_user(k.cmdline, u64_to_user_ptr(a.cmdline), ORTHROS_BOOT_MAX_CMDLINE);
	if (len < 0)
		goto out;
	err = -E2BIG;
	if (len >= ORTHROS_BOOT_MAX_CMDLINE)
		goto out;
	k.kernel_size = f->kept_kernel_size;
	k.initrd_size = f->kept_initrd_size;
	err = check_bzimage(&k);
	if (err)
		goto out;
	pr_info("took OS %u's kept image%s: a %zu-byte kernel and a %zu-byte initramfs\n",
		a.from, held ? " from its held pages" : "", k.kernel_size, k.initrd_size);
	err = 0;
out:
	/* taken or not, whatever was held goes to the allocator */
	if (!(a.flags & ORTHROS_BOOT_ADOPT_HOLD))
		unhold_image();
	mutex_unlock(&loader_lock);
	if (d)
		orthros_dead_close(d);
	kfree(d);
	if (!err && k.kernel)
		keep(&k);
	free_kept(&k);
	return err;
}

/*
 * The Linux CPU number of a physical APIC ID, or -1.  A possible CPU that
 * was never present (a later OS's orthros_apics=, kernel-patches/0007) has
 * its APIC ID only in the CPU number map, not yet in x86_cpu_to_apicid.
 */
static int cpu_of_apic(u32 apic_id)
{
	int cpu;

	for_each_possible_cpu(cpu)
		if (arch_match_cpu_phys_id(cpu, apic_id))
			return cpu;
	return -1;
}

static bool apic_in_firmware(u32 apic_id)
{
	return cpu_of_apic(apic_id) >= 0;
}

/*
 * A later OS knows only its own cores; after a takeover, the cores of the
 * OS it took over (stopped by INIT, waiting for a STARTUP IPI) are free for
 * the next backup too, but not the machine's BSP.  1: free, -1: the BSP,
 * 0: not one of them.
 */
static int freed_by_takeover(u32 apic_id)
{
	struct orthros_shm_os os;
	u32 dead = orthros_failover_source(), i;

	if (!dead || !orthros_shm_read_os(dead, &os))
		return 0;
	for (i = 0; i < os.nr_apics; i++)
		if (os.apic_ids[i] == apic_id)
			return apic_id == os.bsp_apic ? -1 : 1;
	return 0;
}

static int add_e820(struct boot_params *bp, u64 start, u64 end, u32 type)
{
	struct boot_e820_entry *e;
	int i;

	if (start >= end)
		return 0;
	if (bp->e820_entries >= ARRAY_SIZE(bp->e820_table))
		return -E2BIG;
	/* keep the table sorted */
	for (i = bp->e820_entries; i > 0 && bp->e820_table[i - 1].addr > start; i--)
		bp->e820_table[i] = bp->e820_table[i - 1];
	e = &bp->e820_table[i];
	e->addr = start;
	e->size = end - start;
	e->type = type;
	bp->e820_entries++;
	return 0;
}

/*
 * The new OS's memory map: its own ranges where the firmware has RAM, the
 * shared memory as reserved, and every non-RAM firmware entry unchanged
 * (ACPI tables, ECAM, ...).  It sees no other RAM.
 *
 * Only the 1st OS has the firmware's map; a later OS's "firmware" map is
 * the one it was given, with only its own area as RAM.  When a later OS
 * starts the next backup (after a takeover), the next OS's ranges are RAM
 * as the profile says, which the 1st OS checked against the firmware's map
 * at boot (boot-partition), and which the running OS does not own (checked
 * by the caller).
 */
static int build_e820(struct boot_params *bp, const struct orthros_boot_start *s)
{
	const struct e820_table *fw = e820_table_firmware;
	bool later = orthros_is_later_os();
	int i, j, err = 0;

	for (i = 0; i < fw->nr_entries && !err; i++) {
		const struct e820_entry *e = &fw->entries[i];
		u64 end = e->addr + e->size;

		if (e->type != E820_TYPE_RAM) {
			err = add_e820(bp, e->addr, end, e->type);
			continue;
		}
		for (j = 0; j < s->nr_ranges && !err && !later; j++)
			err = add_e820(bp, max(e->addr, s->ranges[j].start),
				       min(end, s->ranges[j].end), E820_TYPE_RAM);
	}
	for (j = 0; j < s->nr_ranges && !err && later; j++)
		err = add_e820(bp, s->ranges[j].start, s->ranges[j].end, E820_TYPE_RAM);
	if (!err && s->shmem.end > s->shmem.start)
		err = add_e820(bp, s->shmem.start, s->shmem.end, E820_TYPE_RESERVED);
	return err;
}

static bool owned_by_running_os(u64 start, u64 end)
{
	return region_intersects(start, end - start, IORESOURCE_SYSTEM_RAM,
				 IORES_DESC_NONE) != REGION_DISJOINT;
}

/* Check the request against the running OS; pick the low and main ranges. */
static int check_start(const struct orthros_boot_start *s, int *low, int *main_r)
{
	int cpu, i;

	if (orthros_role() != ORTHROS_ROLE_ACTIVE) {
		pr_err("only the active OS starts a backup\n");
		return -EPERM;
	}
	if (s->flags & ~ORTHROS_BOOT_REPLACE || s->ordinal < 2 || !s->nr_ranges ||
	    s->nr_ranges > ORTHROS_BOOT_MAX_RANGES)
		return -EINVAL;
	if (s->apic_id == boot_cpu_physical_apicid) {
		pr_err("APIC %u is the BSP: a STARTUP IPI cannot start it\n", s->apic_id);
		return -EINVAL;
	}
	if (freed_by_takeover(s->apic_id) < 0) {
		pr_err("APIC %u is the machine's BSP: a STARTUP IPI cannot start it\n", s->apic_id);
		return -EINVAL;
	}
	if (!apic_in_firmware(s->apic_id) && freed_by_takeover(s->apic_id) <= 0) {
		pr_err("no core with APIC ID %u on this machine\n", s->apic_id);
		return -ENODEV;
	}
	cpu = cpu_of_apic(s->apic_id);
	if (cpu >= 0 && cpu_online(cpu)) {
		pr_err("APIC %u is CPU %d of the running OS, which is online: offline it first\n",
		       s->apic_id, cpu);
		return -EBUSY;
	}
	*low = -1;
	*main_r = -1;
	for (i = 0; i < s->nr_ranges; i++) {
		const struct orthros_boot_range *r = &s->ranges[i];

		if (r->start >= r->end || !PAGE_ALIGNED(r->start) || !PAGE_ALIGNED(r->end) ||
		    r->end > (4ULL << 30))
			return -EINVAL;
		if (owned_by_running_os(r->start, r->end)) {
			pr_err("%#llx-%#llx overlaps the running OS's memory\n",
			       r->start, r->end);
			return -EADDRINUSE;
		}
		if (r->end <= SZ_1M && *low < 0)
			*low = i;
		else if (*main_r < 0 || r->end - r->start >
			 s->ranges[*main_r].end - s->ranges[*main_r].start)
			*main_r = i;
	}
	if (*low < 0 || *main_r < 0) {
		pr_err("need one range below 1 MiB and one area above it\n");
		return -EINVAL;
	}
	if (s->shmem.end > s->shmem.start &&
	    owned_by_running_os(s->shmem.start, s->shmem.end)) {
		pr_err("the shared memory overlaps the running OS's memory\n");
		return -EADDRINUSE;
	}
	return 0;
}

/*
 * Stop the new OS's devices from writing into its area: clear Bus Master
 * Enable by a raw configuration write (this kernel never scanned them).  The
 * new OS's drivers reset them and turn it on again.
 */
static void quiesce_devices(const struct orthros_boot_start *s)
{
	u32 i;

	for (i = 0; i < s->nr_pci && i < ORTHROS_BOOT_MAX_PCI; i++) {
		struct pci_bus *bus = pci_find_bus(0, s->pci[i] >> 8);
		unsigned int devfn = s->pci[i] & 0xff;
		u16 cmd;

		if (!bus || pci_bus_read_config_word(bus, devfn, PCI_COMMAND, &cmd) ||
		    cmd == 0xffff)
			continue;
		if (cmd & PCI_COMMAND_MASTER) {
			pci_bus_write_config_word(bus, devfn, PCI_COMMAND,
						  cmd & ~PCI_COMMAND_MASTER);
			pr_info("%02x:%02x.%x: bus mastering off until OS %u resets it\n",
				s->pci[i] >> 8, PCI_SLOT(devfn), PCI_FUNC(devfn), s->ordinal);
		}
	}
}

static void build_page_tables(void *area, u64 area_phys)
{
	u64 *pml4 = area + PGTABLE_OFFSET;
	u64 *pdpt = pml4 + 512;
	u64 *pd = pdpt + 512;
	int i;

	memset(pml4, 0, 6 * PAGE_SIZE);
	pml4[0] = (area_phys + PGTABLE_OFFSET + PAGE_SIZE) | _PAGE_PRESENT | _PAGE_RW;
	for (i = 0; i < 4; i++)
		pdpt[i] = (area_phys + PGTABLE_OFFSET + (2 + i) * PAGE_SIZE) |
			  _PAGE_PRESENT | _PAGE_RW;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((u64)i << 21) | _PAGE_PRESENT | _PAGE_RW | _PAGE_PSE;
}

/* INIT, then INIT de-assert: the core resets into wait-for-STARTUP. Interrupts off. */
static void send_init(u32 apic_id, unsigned int settle_us)
{
	apic_icr_write(APIC_INT_LEVELTRIG | APIC_INT_ASSERT | APIC_DM_INIT, apic_id);
	safe_apic_wait_icr_idle();
	udelay(settle_us);
	apic_icr_write(APIC_INT_LEVELTRIG | APIC_DM_INIT, apic_id);
	safe_apic_wait_icr_idle();
}

static void wake_ap(u32 apic_id, u64 tramp_phys)
{
	unsigned long flags;
	int i;

	local_irq_save(flags);
	send_init(apic_id, 10000);
	for (i = 0; i < 2; i++) {
		udelay(200);
		apic_icr_write(APIC_DM_STARTUP | (tramp_phys >> 12), apic_id);
		safe_apic_wait_icr_idle();
	}
	local_irq_restore(flags);
}

/* Stop a core of a later OS: INIT puts it back into wait-for-STARTUP. */
static void stop_ap(u32 apic_id)
{
	unsigned long flags;

	local_irq_save(flags);
	send_init(apic_id, 200);
	local_irq_restore(flags);
}

static long do_start(const struct orthros_boot_start __user *uarg)
{
	struct orthros_boot_start s;
	const struct orthros_boot_range *lr, *mr;
	struct orthros_tramp_params tp;
	struct boot_params *bp;
	u64 kphys, iphys = 0, area_size;
	void *area, *low;
	size_t hdr_len, tramp_len = orthros_tramp_end - orthros_tramp_start;
	int l, m, err;

	if (copy_from_user(&s, uarg, sizeof(s)))
		return -EFAULT;
	mutex_lock(&loader_lock);
	err = -ENOENT;
	if (!kept.kernel) {
		pr_err("no image loaded\n");
		goto unlock;
	}
	err = check_start(&s, &l, &m);
	if (err)
		goto unlock;
	lr = &s.ranges[l];
	mr = &s.ranges[m];
	if (last.started_apic != ~0U && last.area.start == mr->start) {
		if (!(s.flags & ORTHROS_BOOT_REPLACE)) {
			pr_err("OS %u already runs in %#llx-%#llx (use replace)\n",
			       last.started_ordinal, mr->start, mr->end);
			err = -EBUSY;
			goto unlock;
		}
		stop_ap(last.started_apic);
		/*
		 * Say so before the image is placed (which takes longer than
		 * the heartbeat's threshold): a replaced OS did not fail.
		 */
		if (orthros_shm)
			orthros_shm_set_state(last.started_ordinal, ORTHROS_OS_STOPPED);
	}
	quiesce_devices(&s);

	area_size = mr->end - mr->start;
	kphys = ALIGN(mr->start + KERNEL_OFFSET, kept.hdr->kernel_alignment);
	if (kept.initrd_size)
		iphys = ALIGN_DOWN(mr->end - kept.initrd_size, PAGE_SIZE);
	err = -EFBIG;
	if (kphys + max_t(u64, kept.hdr->init_size, kept.kernel_size) >
	    (kept.initrd_size ? iphys : mr->end) || iphys < mr->start ||
	    tramp_len > lr->end - lr->start) {
		pr_err("the image does not fit in %#llx-%#llx\n", mr->start, mr->end);
		goto unlock;
	}

	err = -ENOMEM;
	area = memremap(mr->start, area_size, MEMREMAP_WB);
	if (!area)
		goto unlock;
	low = memremap(lr->start, lr->end - lr->start, MEMREMAP_WB);
	if (!low) {
		memunmap(area);
		goto unlock;
	}

	/* the kernel, the initramfs, the command line */
	memcpy(area + (kphys - mr->start), kept.kernel + kept.setup_size,
	       kept.kernel_size - kept.setup_size);
	if (kept.initrd_size)
		memcpy(area + (iphys - mr->start), kept.initrd, kept.initrd_size);
	memset(area, 0, STACK_TOP_OFFSET);
	/* the timer calibration of this kernel: the new one must not measure */
	if (snprintf(area + CMDLINE_OFFSET, ORTHROS_BOOT_MAX_CMDLINE,
		     "%s tsc_early_khz=%u orthros_lapic_period=%u", kept.cmdline,
		     tsc_khz, lapic_timer_period) >= ORTHROS_BOOT_MAX_CMDLINE) {
		memunmap(low);
		memunmap(area);
		err = -E2BIG;
		goto unlock;
	}

	/* boot_params: the image's setup header, then what the loader knows */
	bp = area + BP_OFFSET;
	hdr_len = 0x202 + *((u8 *)kept.kernel + 0x201) - 0x1f1;
	memcpy(&bp->hdr, kept.hdr, min(hdr_len, sizeof(bp->hdr)));
	bp->hdr.type_of_loader = 0xff;
	bp->hdr.loadflags |= LOADED_HIGH;
	bp->hdr.loadflags &= ~(KEEP_SEGMENTS | CAN_USE_HEAP);
	bp->hdr.code32_start = kphys;
	bp->hdr.cmd_line_ptr = lower_32_bits(mr->start + CMDLINE_OFFSET);
	bp->ext_cmd_line_ptr = upper_32_bits(mr->start + CMDLINE_OFFSET);
	bp->hdr.ramdisk_image = lower_32_bits(iphys);
	bp->ext_ramdisk_image = upper_32_bits(iphys);
	bp->hdr.ramdisk_size = lower_32_bits(kept.initrd_size);
	bp->ext_ramdisk_size = upper_32_bits(kept.initrd_size);
	bp->hdr.setup_data = 0;
	bp->acpi_rsdp_addr = acpi_rsdp;
	err = build_e820(bp, &s);
	if (err) {
		memunmap(low);
		memunmap(area);
		goto unlock;
	}

	build_page_tables(area, mr->start);
	memcpy(low, orthros_tramp_start, tramp_len);
	tp.cr3 = mr->start + PGTABLE_OFFSET;
	tp.entry = kphys + 0x200;
	tp.boot_params = mr->start + BP_OFFSET;
	tp.stack = mr->start + STACK_TOP_OFFSET;
	memcpy(low + (orthros_tramp_params - orthros_tramp_start), &tp, sizeof(tp));
	memunmap(low);
	memunmap(area);

	/* the shared memory: created once, the new OS recorded as booting */
	{
		struct orthros_shm_range r[ORTHROS_BOOT_MAX_RANGES];
		u32 i;

		for (i = 0; i < s.nr_ranges; i++)
			r[i] = (struct orthros_shm_range){ s.ranges[i].start, s.ranges[i].end };
		if (orthros_shm_prepare_start(s.ordinal, s.apic_id, r, s.nr_ranges))
			pr_warn("OS %u starts without shared memory: nobody will watch it\n",
				s.ordinal);
	}
	pr_info("starting OS %u on APIC %u: kernel at %#llx, initramfs at %#llx, start-up code at %#llx\n",
		s.ordinal, s.apic_id, kphys, iphys, lr->start);
	last.started_apic = s.apic_id;
	last.started_ordinal = s.ordinal;
	last.start_ns = ktime_get_ns();
	last.area = *mr;
	wake_ap(s.apic_id, lr->start);
	err = 0;
unlock:
	mutex_unlock(&loader_lock);
	return err;
}

static long orthros_boot_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	long err;

	switch (cmd) {
	case ORTHROS_BOOT_ADOPT:
		if (!capable(CAP_SYS_BOOT))
			return -EPERM;
		return do_adopt(uarg);
	case ORTHROS_BOOT_LOAD:
		if (!capable(CAP_SYS_BOOT))
			return -EPERM;
		return do_load(uarg);
	case ORTHROS_BOOT_START:
		if (!capable(CAP_SYS_BOOT))
			return -EPERM;
		return do_start(uarg);
	case ORTHROS_BOOT_STATUS:
		mutex_lock(&loader_lock);
		err = copy_to_user(uarg, &last, sizeof(last)) ? -EFAULT : 0;
		mutex_unlock(&loader_lock);
		return err;
	}
	return -ENOTTY;
}

static const struct file_operations orthros_boot_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= orthros_boot_ioctl,
};

static struct miscdevice orthros_boot_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "orthros-boot",
	.fops	= &orthros_boot_fops,
	.mode	= 0600,
};

static int __init orthros_boot_init(void)
{
	if (orthros_role() == ORTHROS_ROLE_NONE)
		return 0;
	acpi_rsdp = acpi_os_get_root_pointer();
	return misc_register(&orthros_boot_dev);
}
device_initcall(orthros_boot_init);
