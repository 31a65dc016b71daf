// SPDX-License-Identifier: GPL-2.0
/*
 * Orthros repartition, memory: after a failover the new active OS grows from
 * its backup area into the machine's general area.
 *
 * The profile's general area reaches a later OS on its command line
 * (orthros_general=START-END[,START-END...], tools/profile.c).  At the
 * failover's phase "memory" (after the page-cache migration and the process
 * rescue, which read the dead OS's memory), every whole memory block of it
 * that the dead OS had (its record in the shared memory) is hot-added with
 * add_memory() (its memmap allocated from this OS's memory, never on the
 * added memory: that would overwrite what it holds before anyone is done
 * with it) and onlined to ZONE_NORMAL, one block after the other, so that
 * the memmap of the next block can come from the blocks already online.
 *
 * Nothing is added when any part of the general area is the shared memory,
 * is in the record of an OS that lives (booting or up, this one included),
 * or is already RAM here: the profile or the records are wrong, and adding
 * it would give one page to two kernels.  Then this OS's record carries the
 * added ranges, so that its own backup can read them when it dies in turn.
 *
 * orthros_repartition=off switches it off (the tests' control).
 */
#define pr_fmt(fmt) "orthros-repartition: " fmt

#include <linux/device.h>
#include <linux/init.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/memory.h>
#include <linux/memory_hotplug.h>
#include <linux/mm.h>
#include <linux/numa.h>
#include <linux/orthros.h>
#include <linux/sizes.h>
#include <linux/string.h>

#include "../shmem/orthros_shm.h"
#include "../migrate/hold.h"
#include "../migrate/orthros_migrate.h"
#include "orthros_repartition.h"

static struct orthros_shm_range general[ORTHROS_REPART_MAX_RANGES];
static unsigned int nr_general;
static bool general_bad;
static bool repart_off;
static u32 reused;		/* the OS whose memory was hot-added here */

bool orthros_repartition_reused(u32 ordinal)
{
	return ordinal && READ_ONCE(reused) == ordinal;
}

/*
 * What a takeover would add here: the general area (less its memmap, 64
 * bytes per 4 KiB page), or 0 when the repartition is off.
 */
u64 orthros_repartition_general_bytes(void)
{
	u64 n = 0;
	unsigned int i;

	for (i = 0; !repart_off && i < nr_general; i++)
		n += general[i].end - general[i].start;
	return n - n / (PAGE_SIZE / sizeof(struct page));
}

/* The blocks added here, block by block as they come online. */
static struct orthros_shm_range added[ORTHROS_REPART_MAX_RANGES];
static unsigned int nr_added;

/*
 * The one added range that overlaps [start, end), clipped to it, in
 * [*a0, *a1): 0; or 1 when none does.  (The ranges a dead OS records are
 * its own areas merged with what it added: at most one added range each.)
 */
int orthros_repartition_added_range(u64 start, u64 end, u64 *a0, u64 *a1)
{
	unsigned int i, n = READ_ONCE(nr_added);

	for (i = 0; i < n && i < ORTHROS_REPART_MAX_RANGES; i++)
		if (added[i].start < end && start < added[i].end) {
			*a0 = max(start, added[i].start);
			*a1 = min(end, added[i].end);
			return 0;
		}
	return 1;
}

bool orthros_repartition_added(u64 phys)
{
	unsigned int i, n = READ_ONCE(nr_added);

	for (i = 0; i < n && i < ORTHROS_REPART_MAX_RANGES; i++)
		if (phys >= added[i].start && phys < added[i].end)
			return true;
	return false;
}

/* orthros_general=START-END[,START-END...]: the profile's general area. */
static int __init parse_general(char *arg)
{
	char *p = arg;

	nr_general = 0;
	while (p && *p) {
		u64 start, end;

		start = memparse(p, &p);
		if (*p != '-')
			goto bad;
		end = memparse(p + 1, &p);
		if (end <= start || nr_general >= ORTHROS_REPART_MAX_RANGES ||
		    (*p && *p != ','))
			goto bad;
		general[nr_general].start = start;
		general[nr_general].end = end;
		nr_general++;
		if (*p == ',')
			p++;
	}
	return 0;
bad:
	pr_err("ignoring malformed orthros_general=%s\n", arg);
	nr_general = 0;
	general_bad = true;
	return 0;
}
early_param("orthros_general", parse_general);

static int __init parse_repartition(char *arg)
{
	repart_off = arg && !strcmp(arg, "off");
	return 0;
}
early_param("orthros_repartition", parse_repartition);

static bool overlaps(u64 s1, u64 e1, u64 s2, u64 e2)
{
	return s1 < e2 && s2 < e1;
}

static bool covered(const struct orthros_shm_os *os, u64 start, u64 end)
{
	u32 i;

	for (i = 0; i < os->nr_ranges; i++)
		if (os->ranges[i].start <= start && end <= os->ranges[i].end)
			return true;
	return false;
}

static u64 meminfo_total_kb(void)
{
	return totalram_pages() << (PAGE_SHIFT - 10);
}

static u64 meminfo_avail_kb(void)
{
	return (u64)si_mem_available() << (PAGE_SHIFT - 10);
}

/*
 * Is [start, end) free to add?  Not the shared memory, in no living OS's
 * record, not RAM of this kernel already.  0, or -EBUSY with why filled.
 */
static int check_free(u32 dead, u64 start, u64 end, char *why, size_t len)
{
	u32 slot;

	if (orthros_shm_size &&
	    overlaps(start, end, orthros_shm_phys, orthros_shm_phys + orthros_shm_size)) {
		snprintf(why, len, "%#llx-%#llx overlaps the shared memory %#llx-%#llx",
			 start, end, orthros_shm_phys, orthros_shm_phys + orthros_shm_size);
		return -EBUSY;
	}
	for (slot = 0; slot < ORTHROS_SHM_OS_SLOTS; slot++) {
		u32 ord = READ_ONCE(orthros_shm_os_slot(slot)->ordinal), i;
		struct orthros_shm_os os;

		if (!ord || ord == dead)
			continue;
		if (!orthros_shm_read_os(ord, &os)) {
			snprintf(why, len, "the OS record in slot %u does not check: cannot tell who owns %#llx-%#llx",
				 slot, start, end);
			return -EBUSY;
		}
		if (os.state != ORTHROS_OS_BOOTING && os.state != ORTHROS_OS_UP)
			continue;
		for (i = 0; i < os.nr_ranges; i++)
			if (overlaps(start, end, os.ranges[i].start, os.ranges[i].end)) {
				snprintf(why, len, "%#llx-%#llx is OS %u's (%s, %#llx-%#llx)", start,
					 end, ord, orthros_os_state_name(os.state),
					 os.ranges[i].start, os.ranges[i].end);
				return -EBUSY;
			}
	}
	if (region_intersects(start, end - start, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) !=
	    REGION_DISJOINT) {
		snprintf(why, len, "%#llx-%#llx is already RAM of this OS", start, end);
		return -EBUSY;
	}
	return 0;
}

static int online_block(struct memory_block *mem, void *arg)
{
	int err;

	mem->online_type = MMOP_ONLINE_KERNEL;
	err = device_online(&mem->dev);
	return err > 0 ? 0 : err;	/* 1: it was online already */
}

/* Add [start, end) to the merged list of added ranges. */
static void note_added(struct orthros_repart_mem *st, u64 start, u64 end)
{
	struct orthros_shm_range *last = st->nr_ranges ? &st->ranges[st->nr_ranges - 1] : NULL;

	st->blocks++;
	st->bytes += end - start;
	if (last && last->end == start) {
		last->end = end;
	} else if (st->nr_ranges < ORTHROS_REPART_MAX_RANGES) {
		st->ranges[st->nr_ranges].start = start;
		st->ranges[st->nr_ranges].end = end;
		st->nr_ranges++;
	}
}

/* This OS's record gets the added ranges: its backup reads them when it dies. */
static void record_added(const struct orthros_repart_mem *st)
{
	struct orthros_shm_os os;
	u32 i, j;

	/* phase cpus may be listing this OS's cores in the record meanwhile */
	mutex_lock(&orthros_self_record_lock);
	if (!orthros_shm_read_os(orthros_ordinal(), &os)) {
		mutex_unlock(&orthros_self_record_lock);
		pr_err("this OS's record does not check: the added memory is not recorded\n");
		return;
	}
	for (i = 0; i < st->nr_ranges; i++) {
		const struct orthros_shm_range *a = &st->ranges[i];

		for (j = 0; j < os.nr_ranges; j++) {
			struct orthros_shm_range *r = &os.ranges[j];

			if (r->end == a->start) {
				r->end = a->end;
				break;
			}
			if (a->end == r->start) {
				r->start = a->start;
				break;
			}
		}
		if (j < os.nr_ranges)
			continue;
		if (os.nr_ranges >= ORTHROS_SHM_MAX_RANGES) {
			pr_err("this OS's record is full: %#llx-%#llx is not recorded\n", a->start,
			       a->end);
			continue;
		}
		os.ranges[os.nr_ranges++] = *a;
	}
	orthros_shm_write_os(&os);
	mutex_unlock(&orthros_self_record_lock);
}

/* Hot-add and online one block; on failure nothing of it stays. */
static int add_block(u64 start, u64 size, struct orthros_repart_mem *st, char *why, size_t len)
{
	u64 t0, t1, t2;
	int err;

	t0 = ktime_get_ns();
	lock_device_hotplug();
	err = __add_memory(memory_add_physaddr_to_nid(start), start, size, MHP_MERGE_RESOURCE);
	t1 = ktime_get_ns();
	if (err) {
		unlock_device_hotplug();
		snprintf(why, len, "add_memory(%#llx-%#llx) failed: %d", start, start + size, err);
		return err;
	}
	err = walk_memory_blocks(start, size, NULL, online_block);
	unlock_device_hotplug();
	t2 = ktime_get_ns();
	st->add_us += div_u64(t1 - t0, NSEC_PER_USEC);
	st->online_us += div_u64(t2 - t1, NSEC_PER_USEC);
	if (err) {
		snprintf(why, len, "onlining %#llx-%#llx failed: %d", start, start + size, err);
		if (remove_memory(start, size))
			pr_err("%#llx-%#llx stays added but offline\n", start, start + size);
		return err;
	}
	return 0;
}

int orthros_repartition_memory(u32 dead, struct orthros_repart_mem *st)
{
	u64 bs = memory_block_size_bytes(), start, end;
	struct orthros_shm_os os;
	unsigned int i, theirs = 0;
	unsigned long held, freed;
	bool hold;
	int err = 0;

	memset(st, 0, sizeof(*st));
	st->block_size = bs;
	st->total_before_kb = meminfo_total_kb();
	st->avail_before_kb = meminfo_avail_kb();
	st->total_after_kb = st->total_before_kb;
	st->avail_after_kb = st->avail_before_kb;
	if (repart_off) {
		st->state = ORTHROS_REPART_OFF;
		pr_warn("memory repartition is off (orthros_repartition=off)\n");
		return 0;
	}
	st->state = ORTHROS_REPART_REFUSED;
	if (!nr_general) {
		snprintf(st->why, sizeof(st->why), "no general area on the command line (orthros_general=%s)",
			 general_bad ? "malformed" : "missing");
		err = -ENOENT;
		goto out;
	}
	if (!orthros_shm_read_os(dead, &os) ||
	    (os.state != ORTHROS_OS_FAILED && os.state != ORTHROS_OS_TAKEN_OVER)) {
		snprintf(st->why, sizeof(st->why), "OS %u's record does not check or does not say it is dead",
			 dead);
		err = -ESRCH;
		goto out;
	}

	/* First check everything: nothing is added unless all of it is free. */
	for (i = 0; i < nr_general; i++) {
		if (!IS_ALIGNED(general[i].start, bs) || !IS_ALIGNED(general[i].end, bs)) {
			snprintf(st->why, sizeof(st->why),
				 "general area %#llx-%#llx is not made of whole %llu MiB blocks",
				 general[i].start, general[i].end, bs / SZ_1M);
			err = -EINVAL;
			goto out;
		}
		err = check_free(dead, general[i].start, general[i].end, st->why, sizeof(st->why));
		if (err)
			goto out;
		for (start = general[i].start; start < general[i].end; start += bs)
			theirs += covered(&os, start, start + bs);
	}
	if (!theirs) {
		snprintf(st->why, sizeof(st->why), "OS %u had no block of the general area", dead);
		err = -ENOENT;
		goto out;
	}

	st->state = ORTHROS_REPART_DONE;
	WRITE_ONCE(reused, dead);	/* from now on only its held pages are read as its */
	/*
	 * The pages the process rescue still has to copy out stay offline with
	 * their contents (migrate/kernel/hold.c); every other page goes to the
	 * allocator as its block comes online.
	 */
	hold = orthros_hold_any() && !set_online_page_callback(orthros_hold_online);
	for (i = 0; i < nr_general; i++) {
		for (start = general[i].start; start < general[i].end; start += bs) {
			end = start + bs;
			if (!covered(&os, start, end))
				continue;	/* never the dead OS's: not ours to take */
			/* read as held from the moment it comes online */
			if (nr_added && added[nr_added - 1].end == start) {
				WRITE_ONCE(added[nr_added - 1].end, end);
			} else if (nr_added < ORTHROS_REPART_MAX_RANGES) {
				added[nr_added].start = start;
				added[nr_added].end = end;
				WRITE_ONCE(nr_added, nr_added + 1);
			}
			if (add_block(start, bs, st, st->why, sizeof(st->why))) {
				st->failed++;
				st->state = ORTHROS_REPART_PARTIAL;
				continue;
			}
			note_added(st, start, end);
		}
	}
	if (hold) {
		restore_online_page_callback(orthros_hold_online);
		orthros_hold_stats(&held, &freed);
		st->held_pages = held;
		pr_info("%lu pages held for the process rescue\n", held);
	}
	if (!st->blocks) {
		st->state = ORTHROS_REPART_REFUSED;
		err = -EIO;
	} else {
		record_added(st);
	}
out:
	st->total_after_kb = meminfo_total_kb();
	st->avail_after_kb = meminfo_avail_kb();
	if (st->state == ORTHROS_REPART_REFUSED)
		pr_err("nothing hot-added: %s\n", st->why);
	else
		pr_info("hot-added %u blocks of %llu MiB (%u failed%s%s) in %llu.%03llu ms + %llu.%03llu ms online: MemTotal %llu -> %llu kB, MemAvailable %llu -> %llu kB\n",
			st->blocks, bs / SZ_1M, st->failed, st->failed ? ", last: " : "",
			st->failed ? st->why : "", st->add_us / 1000, st->add_us % 1000,
			st->online_us / 1000, st->online_us % 1000, st->total_before_kb,
			st->total_after_kb, st->avail_before_kb, st->avail_after_kb);
	return err;
}
