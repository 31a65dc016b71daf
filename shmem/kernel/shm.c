// SPDX-License-Identifier: GPL-2.0
/*
 * The Orthros inter-OS shared memory: map it, create it once, check it.
 *
 * Every OS finds the region through orthros_shm=SIZE@ADDR (made from the
 * machine profile); the region is reserved, never RAM, in every OS's map.
 * The 1st OS creates it when it starts its first backup; a later OS only
 * inherits it and refuses to act on it when the header does not check.
 */
#define pr_fmt(fmt) "orthros-shm: " fmt

#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/printk.h>
#include <linux/crc32.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/orthros.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <asm/apic.h>
#include <asm/e820/api.h>
#include <asm/page.h>
#include <asm/pgtable.h>
#include <asm/irq.h>
#include <asm/irq_vectors.h>
#include <asm/tsc.h>

#include "orthros_shm.h"

void *orthros_shm;
u64 orthros_shm_phys, orthros_shm_size;
static bool created_here;
static DEFINE_RAW_SPINLOCK(shm_lock);	/* this OS's writers of records */

static int __init parse_orthros_shm(char *arg)
{
	char *at;
	u64 size, phys;

	if (!arg)
		return -EINVAL;
	size = memparse(arg, &at);
	if (*at != '@' || !size) {
		pr_err("ignoring malformed orthros_shm=%s (want SIZE@ADDR)\n", arg);
		return 0;
	}
	phys = memparse(at + 1, &at);
	if (*at || !PAGE_ALIGNED(phys) || !PAGE_ALIGNED(size) ||
	    size < ORTHROS_SHM_MIN_SIZE) {
		pr_err("ignoring orthros_shm=%s: not page aligned or under %#x bytes\n",
		       arg, ORTHROS_SHM_MIN_SIZE);
		return 0;
	}
	orthros_shm_phys = phys;
	orthros_shm_size = size;
	return 0;
}
early_param("orthros_shm", parse_orthros_shm);

u64 orthros_tsc(void)
{
	return rdtsc();
}

u64 orthros_tsc_to_us(u64 delta)
{
	return tsc_khz ? mul_u64_u32_div(delta, 1000, tsc_khz) : 0;
}

u32 orthros_rec_csum(const void *rec, size_t size)
{
	/* from after seq up to the checksum */
	return crc32_le(~0U, rec + 4, size - 8) ^ ~0U;
}

void orthros_rec_begin(void *rec)
{
	u32 *seq = rec;

	WRITE_ONCE(*seq, *seq | 1);
	/* an odd seq is visible before any field changes */
	smp_wmb();
}

void orthros_rec_end(void *rec, size_t size)
{
	u32 *seq = rec, *csum = rec + size - 4;

	*csum = orthros_rec_csum(rec, size);
	/* every field and the checksum before the even seq */
	smp_wmb();
	WRITE_ONCE(*seq, (*seq | 1) + 1);
}

/* A consistent copy whose checksum matches, or false. */
bool orthros_rec_read(void *dst, const void *src, size_t size)
{
	int tries;

	for (tries = 0; tries < 1000; tries++) {
		u32 s1 = READ_ONCE(*(const u32 *)src);

		/* seq, then the copy, then seq again: pairs with the writer's */
		smp_rmb();
		memcpy(dst, src, size);
		smp_rmb();
		if ((s1 & 1) || READ_ONCE(*(const u32 *)src) != s1) {
			cpu_relax();
			continue;
		}
		return orthros_rec_csum(dst, size) == *(u32 *)(dst + size - 4);
	}
	return false;
}

static u32 header_csum(const struct orthros_shm_header *h)
{
	return crc32_le(~0U, (const void *)h, sizeof(*h) - 4) ^ ~0U;
}

int orthros_shm_check(char *why, size_t len)
{
	struct orthros_shm_header h;

	if (!orthros_shm) {
		snprintf(why, len, "this OS has no shared memory");
		return -ENODEV;
	}
	memcpy(&h, orthros_shm, sizeof(h));
	if (h.magic != ORTHROS_SHM_MAGIC)
		snprintf(why, len, "bad magic %#llx (want %#llx)", h.magic, ORTHROS_SHM_MAGIC);
	else if (h.version != ORTHROS_SHM_VERSION)
		snprintf(why, len, "version %u, this kernel speaks %u", h.version,
			 ORTHROS_SHM_VERSION);
	else if (h.checksum != header_csum(&h))
		snprintf(why, len, "header checksum %#x does not match its content (%#x)",
			 h.checksum, header_csum(&h));
	else if (h.header_size != sizeof(h) || h.phys != orthros_shm_phys ||
		 h.size != orthros_shm_size || h.os_off != ORTHROS_SHM_OS_OFF ||
		 h.os_slots != ORTHROS_SHM_OS_SLOTS ||
		 h.os_size != sizeof(struct orthros_shm_os) ||
		 h.beat_off != ORTHROS_SHM_BEAT_OFF || h.notice_off != ORTHROS_SHM_NOTICE_OFF ||
		 h.failure_off != ORTHROS_SHM_FAILURE_OFF || h.reg_off != ORTHROS_SHM_REG_OFF ||
		 h.reg_slots != ORTHROS_SHM_REG_SLOTS ||
		 h.reg_size != sizeof(struct orthros_shm_reg_entry) ||
		 h.ring_off[0] != ORTHROS_SHM_RING0_OFF || h.ring_off[1] != ORTHROS_SHM_RING1_OFF ||
		 h.ring_slots != ORTHROS_RING_SLOTS || h.msg_size != ORTHROS_MSG_SIZE)
		snprintf(why, len, "layout differs from this kernel's (size %#llx at %#llx)",
			 h.size, h.phys);
	else if (abs((int)h.tsc_khz - (int)tsc_khz) > tsc_khz / 1000)
		snprintf(why, len, "TSC at %u kHz, this kernel counts %u kHz", h.tsc_khz,
			 tsc_khz);
	else
		return 0;
	return -EBADMSG;
}

bool orthros_shm_read_roles(struct orthros_shm_roles *r)
{
	return orthros_shm && orthros_rec_read(r, orthros_shm_at(ORTHROS_SHM_ROLES_OFF),
					       sizeof(*r));
}

void orthros_shm_set_roles(u32 active, u32 backup)
{
	struct orthros_shm_roles *r = orthros_shm_at(ORTHROS_SHM_ROLES_OFF);
	unsigned long flags;

	raw_spin_lock_irqsave(&shm_lock, flags);
	orthros_rec_begin(r);
	r->active = active;
	r->backup = backup;
	r->generation++;
	r->changed_tsc = orthros_tsc();
	orthros_rec_end(r, sizeof(*r));
	raw_spin_unlock_irqrestore(&shm_lock, flags);
}

bool orthros_shm_read_os(u32 ordinal, struct orthros_shm_os *os)
{
	if (!orthros_shm || !ordinal)
		return false;
	return orthros_rec_read(os, orthros_shm_os_slot(ordinal), sizeof(*os)) &&
		os->ordinal == ordinal && os->nr_apics <= ORTHROS_SHM_MAX_APICS &&
		os->nr_ranges <= ORTHROS_SHM_MAX_RANGES && os->state < ORTHROS_OS_NR_STATES;
}

DEFINE_MUTEX(orthros_self_record_lock);

void orthros_shm_write_os(const struct orthros_shm_os *os)
{
	struct orthros_shm_os *slot = orthros_shm_os_slot(os->ordinal);
	unsigned long flags;

	raw_spin_lock_irqsave(&shm_lock, flags);
	orthros_rec_begin(slot);
	memcpy((void *)slot + 4, (const void *)os + 4, sizeof(*os) - 8);
	orthros_rec_end(slot, sizeof(*slot));
	raw_spin_unlock_irqrestore(&shm_lock, flags);
}

void orthros_shm_set_state(u32 ordinal, u32 state)
{
	struct orthros_shm_os os;

	if (!orthros_shm_read_os(ordinal, &os))
		return;
	os.state = state;
	os.state_tsc = orthros_tsc();
	orthros_shm_write_os(&os);
}

const char *orthros_os_state_name(u32 state)
{
	static const char * const names[] = {
		[ORTHROS_OS_FREE] = "none", [ORTHROS_OS_BOOTING] = "booting",
		[ORTHROS_OS_UP] = "alive", [ORTHROS_OS_FAILED] = "failed",
		[ORTHROS_OS_STOPPED] = "stopped", [ORTHROS_OS_TAKEN_OVER] = "taken-over",
	};

	return state < ARRAY_SIZE(names) ? names[state] : "invalid";
}

/* This OS's own record: its online cores and its RAM. */
static void record_self(void)
{
	struct orthros_shm_os os = { };
	int cpu, i;

	os.ordinal = orthros_ordinal();
	os.role = orthros_role() == ORTHROS_ROLE_ACTIVE ? ORTHROS_SHM_ROLE_ACTIVE :
		ORTHROS_SHM_ROLE_BACKUP;
	os.state = ORTHROS_OS_UP;
	for_each_online_cpu(cpu)
		if (os.nr_apics < ORTHROS_SHM_MAX_APICS)
			os.apic_ids[os.nr_apics++] = per_cpu(x86_cpu_to_apicid, cpu);
	os.ipi_apic = per_cpu(x86_cpu_to_apicid, cpumask_first(cpu_online_mask));
	for (i = 0; i < e820_table->nr_entries && os.nr_ranges < ORTHROS_SHM_MAX_RANGES; i++) {
		const struct e820_entry *e = &e820_table->entries[i];

		if (e->type == E820_TYPE_RAM)
			os.ranges[os.nr_ranges++] = (struct orthros_shm_range){
				e->addr, e->addr + e->size };
	}
	os.boot_tsc = orthros_tsc() - div_u64(ktime_get_ns() * tsc_khz, NSEC_PER_MSEC);
	os.up_tsc = orthros_tsc();
	os.state_tsc = os.up_tsc;
	/* the 1st OS came from the firmware: its boot core is the machine's BSP */
	os.bsp_apic = orthros_ordinal() == 1 ? boot_cpu_physical_apicid : ~0U;
	orthros_shm_write_os(&os);
	orthros_shm_write_facts();
}

/* --- kernel facts ------------------------------------------------------------ */

static struct {
	u64 sb;
	u32 dev;
	char path[64];
} data_fs;
static u64 rescue_capacity;

void orthros_shm_set_rescue_capacity(u64 bytes)
{
	rescue_capacity = bytes;
	orthros_shm_write_facts();
}

void orthros_shm_register_data(u64 sb, u32 dev, const char *path)
{
	data_fs.sb = sb;
	data_fs.dev = dev;
	strscpy(data_fs.path, path, sizeof(data_fs.path));
	orthros_shm_write_facts();
}

static struct {
	u64 kernel, kernel_size, initrd, initrd_size;
	u32 kernel_crc, initrd_crc;
} kept_img;

void orthros_shm_set_kept_image(u64 kernel, u64 kernel_size, u32 kernel_crc,
				u64 initrd, u64 initrd_size, u32 initrd_crc)
{
	kept_img.kernel = kernel;
	kept_img.kernel_size = kernel_size;
	kept_img.kernel_crc = kernel_crc;
	kept_img.initrd = initrd;
	kept_img.initrd_size = initrd_size;
	kept_img.initrd_crc = initrd_crc;
	orthros_shm_write_facts();
}

/* This kernel's facts (all but seq and checksum). */
void orthros_shm_fill_facts(struct orthros_shm_facts *f)
{
	unsigned long flags;

	f->ordinal = orthros_ordinal();
	f->banner_crc = crc32_le(~0U, linux_banner, strlen(linux_banner)) ^ ~0U;
	f->page_size = PAGE_SIZE;
	f->page_offset_base = PAGE_OFFSET;
	f->vmemmap_base = (u64)vmemmap;
	f->start_kernel_map = __START_KERNEL_map;
	f->phys_base = phys_base;
	f->pgd_phys = __pa_symbol(init_top_pgt);
	f->sizeof_page = sizeof(struct page);
	f->sizeof_inode = sizeof(struct inode);
	f->data_sb = data_fs.sb;
	f->data_dev = data_fs.dev;
	memcpy(f->data_path, data_fs.path, sizeof(f->data_path));
	f->rescue_capacity = rescue_capacity;
	f->kept_kernel = kept_img.kernel;
	f->kept_kernel_size = kept_img.kernel_size;
	f->kept_kernel_crc = kept_img.kernel_crc;
	f->kept_initrd = kept_img.initrd;
	f->kept_initrd_size = kept_img.initrd_size;
	f->kept_initrd_crc = kept_img.initrd_crc;
	f->vmalloc_start = VMALLOC_START;
	f->vmalloc_end = VMALLOC_END;
	f->direct_map_end = PAGE_OFFSET + (1ULL << MAX_PHYSMEM_BITS);	/* its region */
	f->thread_size = THREAD_SIZE;
	f->pgtable_levels = pgtable_l5_enabled() ? 5 : 4;
	f->flags = IS_ENABLED(CONFIG_VMAP_STACK) ? ORTHROS_FACT_VMAP_STACK : 0;
	/* its clocks against the machine's TSC, read together */
	local_irq_save(flags);
	f->clock_tsc = orthros_tsc();
	f->mono_ns = ktime_get_ns();
	f->boot_ns = ktime_get_boottime_ns();
	local_irq_restore(flags);
}

void orthros_shm_write_facts(void)
{
	struct orthros_shm_facts *f, n = { };
	unsigned long flags;
	char why[128];

	if (orthros_shm_check(why, sizeof(why)))
		return;
	orthros_shm_fill_facts(&n);
	f = orthros_shm_facts_slot(orthros_ordinal());
	raw_spin_lock_irqsave(&shm_lock, flags);
	orthros_rec_begin(f);
	memcpy((u32 *)f + 1, (u32 *)&n + 1, sizeof(n) - 8);
	orthros_rec_end(f, sizeof(*f));
	raw_spin_unlock_irqrestore(&shm_lock, flags);
}

bool orthros_shm_read_facts(u32 ordinal, struct orthros_shm_facts *f)
{
	return orthros_shm && ordinal &&
		orthros_rec_read(f, orthros_shm_facts_slot(ordinal), sizeof(*f)) &&
		f->ordinal == ordinal;
}

static void create(void)
{
	struct orthros_shm_header h = {
		.magic = ORTHROS_SHM_MAGIC,
		.version = ORTHROS_SHM_VERSION,
		.header_size = sizeof(h),
		.phys = orthros_shm_phys,
		.size = orthros_shm_size,
		.created_tsc = orthros_tsc(),
		.created_by = orthros_ordinal(),
		.tsc_khz = tsc_khz,
		.os_off = ORTHROS_SHM_OS_OFF,
		.os_slots = ORTHROS_SHM_OS_SLOTS,
		.os_size = sizeof(struct orthros_shm_os),
		.beat_off = ORTHROS_SHM_BEAT_OFF,
		.notice_off = ORTHROS_SHM_NOTICE_OFF,
		.failure_off = ORTHROS_SHM_FAILURE_OFF,
		.reg_off = ORTHROS_SHM_REG_OFF,
		.reg_slots = ORTHROS_SHM_REG_SLOTS,
		.reg_size = sizeof(struct orthros_shm_reg_entry),
		.ring_off = { ORTHROS_SHM_RING0_OFF, ORTHROS_SHM_RING1_OFF },
		.ring_slots = ORTHROS_RING_SLOTS,
		.msg_size = ORTHROS_MSG_SIZE,
	};
	struct orthros_shm_header *shared = orthros_shm;

	h.checksum = header_csum(&h);
	memset(orthros_shm, 0, ORTHROS_SHM_MIN_SIZE);
	/* everything but the magic, then the magic */
	memcpy((void *)shared + sizeof(h.magic), (void *)&h + sizeof(h.magic),
	       sizeof(h) - sizeof(h.magic));
	/* the header is complete before the magic says it exists */
	smp_wmb();
	WRITE_ONCE(shared->magic, h.magic);
	created_here = true;
	record_self();
	pr_info("created the shared memory at %#llx-%#llx (version %u)\n",
		orthros_shm_phys, orthros_shm_phys + orthros_shm_size, ORTHROS_SHM_VERSION);
}

int orthros_shm_prepare_start(u32 ordinal, u32 apic_id,
			      const struct orthros_shm_range *ranges, u32 nr)
{
	struct orthros_shm_os os = { };
	struct orthros_shm_roles roles;
	struct orthros_shm_beat *beat;
	char why[128];
	u32 i;

	if (!orthros_shm) {
		pr_err("no shared memory (orthros_shm= missing): the new OS will not be watched\n");
		return -ENODEV;
	}
	if (orthros_ordinal() == 1 && !created_here) {
		create();
	} else if (orthros_shm_check(why, sizeof(why))) {
		pr_warn("the shared memory is not valid (%s): creating it anew\n", why);
		create();
	}
	/* the OS in the new one's slot, if any, is gone now */
	if (orthros_shm_read_roles(&roles) && roles.backup && roles.backup != ordinal)
		orthros_shm_set_state(roles.backup, ORTHROS_OS_STOPPED);
	beat = orthros_shm_beat(ordinal);
	memset(beat, 0, sizeof(*beat));
	os.ordinal = ordinal;
	os.role = ORTHROS_SHM_ROLE_BACKUP;
	os.state = ORTHROS_OS_BOOTING;
	os.nr_apics = 1;
	os.apic_ids[0] = apic_id;
	os.ipi_apic = apic_id;
	for (i = 0; i < nr && i < ORTHROS_SHM_MAX_RANGES; i++)
		os.ranges[os.nr_ranges++] = ranges[i];
	os.boot_tsc = orthros_tsc();
	os.state_tsc = os.boot_tsc;
	os.bsp_apic = ~0U;
	orthros_shm_write_os(&os);
	memset(orthros_shm_facts_slot(ordinal), 0, ORTHROS_SHM_FACTS_SIZE);
	orthros_chan_reset();
	orthros_shm_set_roles(orthros_ordinal(), ordinal);
	return 0;
}

/* --- IPIs to another OS ------------------------------------------------- */

static void send(u32 low, u32 apic_id)
{
	unsigned long flags;

	local_irq_save(flags);
	apic_icr_write(low | APIC_DEST_PHYSICAL, apic_id);
	safe_apic_wait_icr_idle();
	local_irq_restore(flags);
}

void orthros_send_ipi(u32 apic_id)
{
	send(APIC_DM_FIXED | X86_PLATFORM_IPI_VECTOR, apic_id);
}

void orthros_send_nmi(u32 apic_id)
{
	send(APIC_DM_NMI, apic_id);
}

/* INIT, assert then de-assert: the core waits for a STARTUP IPI, running nothing. */
void orthros_send_init(u32 apic_id)
{
	unsigned long flags;

	local_irq_save(flags);
	apic_icr_write(APIC_INT_LEVELTRIG | APIC_INT_ASSERT | APIC_DM_INIT, apic_id);
	safe_apic_wait_icr_idle();
	udelay(200);
	apic_icr_write(APIC_INT_LEVELTRIG | APIC_DM_INIT, apic_id);
	safe_apic_wait_icr_idle();
	local_irq_restore(flags);
}

#define MAX_IPI_HOOKS 4
static void (*ipi_hooks[MAX_IPI_HOOKS])(void);

void orthros_ipi_register(void (*fn)(void))
{
	int i;

	for (i = 0; i < MAX_IPI_HOOKS; i++)
		if (!cmpxchg(&ipi_hooks[i], NULL, fn))
			return;
	WARN_ON(1);
}

static void orthros_ipi(void)
{
	int i;

	for (i = 0; i < MAX_IPI_HOOKS; i++) {
		void (*fn)(void) = READ_ONCE(ipi_hooks[i]);

		if (fn)
			fn();
	}
}

/* --- /dev/orthros-shm ----------------------------------------------------- */

static long shm_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct orthros_shm_info info = {
		.phys = orthros_shm_phys, .size = orthros_shm_size,
		.tsc_khz = tsc_khz, .mapped = !!orthros_shm,
	};

	if (cmd != ORTHROS_SHM_INFO)
		return -ENOTTY;
	return copy_to_user((void __user *)arg, &info, sizeof(info)) ? -EFAULT : 0;
}

static int shm_mmap(struct file *f, struct vm_area_struct *vma)
{
	unsigned long len = vma->vm_end - vma->vm_start;
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;

	if (!orthros_shm)
		return -ENODEV;
	if (off >= orthros_shm_size || len > orthros_shm_size - off)
		return -EINVAL;
	if (vma->vm_flags & VM_WRITE) {
		if (!(f->f_mode & FMODE_WRITE) || !capable(CAP_SYS_ADMIN))
			return -EPERM;
	} else {
		vm_flags_clear(vma, VM_MAYWRITE);
	}
	return remap_pfn_range(vma, vma->vm_start, (orthros_shm_phys + off) >> PAGE_SHIFT,
			       len, vma->vm_page_prot);
}

static const struct file_operations shm_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= shm_ioctl,
	.mmap		= shm_mmap,
};

static struct miscdevice shm_dev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "orthros-shm",
	.fops	= &shm_fops,
	.mode	= 0600,
};

static int __init orthros_shm_init(void)
{
	char why[128];

	BUILD_BUG_ON(sizeof(struct orthros_shm_facts) != ORTHROS_SHM_FACTS_SIZE);
	if (orthros_role() == ORTHROS_ROLE_NONE)
		return 0;
	x86_platform_ipi_callback = orthros_ipi;
	if (!orthros_shm_size) {
		pr_warn("no orthros_shm= on the command line: no shared memory\n");
	} else if (region_intersects(orthros_shm_phys, orthros_shm_size, IORESOURCE_SYSTEM_RAM,
				     IORES_DESC_NONE) != REGION_DISJOINT) {
		pr_err("%#llx-%#llx is RAM of this OS, not reserved: not using it\n",
		       orthros_shm_phys, orthros_shm_phys + orthros_shm_size);
	} else {
		orthros_shm = memremap(orthros_shm_phys, orthros_shm_size, MEMREMAP_WB);
		if (!orthros_shm)
			pr_err("cannot map %#llx-%#llx\n", orthros_shm_phys,
			       orthros_shm_phys + orthros_shm_size);
	}
	if (orthros_shm && orthros_ordinal() != 1) {
		if (orthros_shm_check(why, sizeof(why)))
			pr_err("inherited shared memory at %#llx is not valid: %s\n",
			       orthros_shm_phys, why);
		else
			pr_info("inherited the shared memory at %#llx-%#llx\n",
				orthros_shm_phys, orthros_shm_phys + orthros_shm_size);
	}
	return 0;
}
subsys_initcall(orthros_shm_init);

static int __init orthros_shm_dev_init(void)
{
	return orthros_role() == ORTHROS_ROLE_NONE ? 0 : misc_register(&shm_dev);
}
device_initcall(orthros_shm_dev_init);
