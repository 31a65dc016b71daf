// SPDX-License-Identifier: GPL-2.0
/*
 * The dead OS's pages the rescue still needs, held out of the allocator when
 * its memory is hot-added here (docs/failover.md, step 7).
 *
 * The extraction names every page a rescued process will be rebuilt from
 * (PAGES and PIPEBUF records).  Each successful extraction counts its pages
 * here (orthros_hold_count()); when the memory phase hot-adds the general
 * area, orthros_hold_online() (the online_page_callback) gives the allocator
 * every page of a block but the counted ones, which stay offline with their
 * contents, and the rescue may still read them (orthros_hold_readable()).
 * As the image writer has copied a page out it releases it
 * (orthros_hold_release(): the count drops, and at zero a held page goes to
 * the allocator); orthros_hold_release_all() ends it.  So a process larger
 * than the backup's own area can be rescued: its pages leave the held set
 * as fast as its images grow.
 *
 * The loader pins the pages of the image the dead OS kept for the next
 * backup (orthros_hold_pin(), a bit of its own beside the rescue's count),
 * so that it can copy them after the service is back, not before the memory
 * phase: a page is held while the rescue names it or the loader pins it,
 * and goes to the allocator when neither does (orthros_hold_unpin() once
 * the loader has copied it; the end of the rescue leaves pinned pages).
 * Only a page actually held offline is readable as the dead OS's.
 */
#define pr_fmt(fmt) "orthros-hold: " fmt

#include <linux/bitmap.h>
#include <linux/memory_hotplug.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>

#include "hold.h"

#define HOLD_PFNS	(SZ_4G >> PAGE_SHIFT)	/* the machine's RAM lies below 4 GiB */

static u8 *want;		/* per pfn: how many extracted records name it (255: for good) */
static unsigned long *held;	/* pfns kept offline when their block came online */
static unsigned long *pinned;	/* pfns the loader's kept image needs */
static DEFINE_SPINLOCK(hold_lock);
static unsigned long nr_held, nr_freed;

static int hold_alloc(void)
{
	size_t bitmap = BITS_TO_LONGS(HOLD_PFNS) * sizeof(long);
	u8 *w;
	unsigned long *h, *p;

	if (READ_ONCE(want))
		return 0;
	w = vzalloc(HOLD_PFNS);
	h = vzalloc(bitmap);
	p = vzalloc(bitmap);
	if (!w || !h || !p) {
		vfree(w);
		vfree(h);
		vfree(p);
		return -ENOMEM;
	}
	spin_lock(&hold_lock);
	if (!want) {
		held = h;
		pinned = p;
		/* want last: a reader that sees it sees the bitmaps */
		smp_store_release(&want, w);
		w = NULL;
		h = NULL;
		p = NULL;
	}
	spin_unlock(&hold_lock);
	vfree(w);
	vfree(h);
	vfree(p);
	return 0;
}

/* The page at @phys is needed: by one more rescue record, or by the loader (@pin). */
static int hold_need(u64 phys, bool pin)
{
	unsigned long pfn = phys >> PAGE_SHIFT;
	int err;

	if (pfn >= HOLD_PFNS)
		return -ERANGE;
	err = hold_alloc();
	if (err)
		return err;
	spin_lock(&hold_lock);
	if (pin)
		__set_bit(pfn, pinned);
	else if (want[pfn] < U8_MAX)
		want[pfn]++;
	spin_unlock(&hold_lock);
	return 0;
}

int orthros_hold_count(u64 phys)
{
	return hold_need(phys, false);
}

int orthros_hold_pin(u64 phys)
{
	return hold_need(phys, true);
}

/* Under hold_lock: does anybody still need the page at @pfn? */
static bool wanted(unsigned long pfn)
{
	return want[pfn] || test_bit(pfn, pinned);
}

/* Under hold_lock: a held page nobody needs leaves the held set (the caller frees it). */
static bool unheld(unsigned long pfn)
{
	if (wanted(pfn) || !test_bit(pfn, held))
		return false;
	__clear_bit(pfn, held);
	nr_held--;
	nr_freed++;
	return true;
}

/*
 * The page at @phys is needed once less (by a rescue record, or by the
 * loader: @unpin); a held page nobody needs any more goes to the allocator.
 */
static void hold_drop(u64 phys, bool unpin)
{
	unsigned long pfn = phys >> PAGE_SHIFT;
	bool free;

	if (!want || pfn >= HOLD_PFNS)
		return;
	spin_lock(&hold_lock);
	if (unpin)
		__clear_bit(pfn, pinned);
	else if (want[pfn] && want[pfn] < U8_MAX)
		want[pfn]--;
	free = unheld(pfn);
	spin_unlock(&hold_lock);
	if (free)
		generic_online_page(pfn_to_page(pfn), 0);
}

void orthros_hold_unpin(u64 phys)
{
	hold_drop(phys, true);
}

bool orthros_hold_any(void)
{
	return want;
}

bool orthros_hold_readable(u64 phys)
{
	unsigned long pfn = phys >> PAGE_SHIFT;
	bool ok;

	if (!want || pfn >= HOLD_PFNS)
		return false;
	spin_lock(&hold_lock);
	ok = wanted(pfn) && test_bit(pfn, held);
	spin_unlock(&hold_lock);
	return ok;
}

/* The online_page_callback: every page to the allocator but the wanted ones. */
void orthros_hold_online(struct page *page, unsigned int order)
{
	unsigned long pfn = page_to_pfn(page), i, n = 1UL << order;
	bool any = false;

	spin_lock(&hold_lock);
	for (i = 0; want && i < n && !any; i++)
		any = pfn + i < HOLD_PFNS && wanted(pfn + i);
	spin_unlock(&hold_lock);
	if (!any) {
		generic_online_page(page, order);
		return;
	}
	for (i = 0; i < n; i++) {
		bool keep;

		spin_lock(&hold_lock);
		keep = pfn + i < HOLD_PFNS && wanted(pfn + i);
		if (keep) {
			__set_bit(pfn + i, held);
			nr_held++;
		}
		spin_unlock(&hold_lock);
		if (!keep)
			generic_online_page(page + i, 0);
	}
}

void orthros_hold_release(u64 phys)
{
	hold_drop(phys, false);
}

unsigned long orthros_hold_release_all(void)
{
	unsigned long pfn, n = 0;

	if (!want)
		return 0;
	for (pfn = 0; pfn < HOLD_PFNS; pfn++) {
		bool free;

		spin_lock(&hold_lock);
		want[pfn] = 0;	/* what the loader pinned stays held until it unpins it */
		free = unheld(pfn);
		spin_unlock(&hold_lock);
		if (free) {
			generic_online_page(pfn_to_page(pfn), 0);
			n++;
		}
		if (!(pfn & 4095))
			cond_resched();
	}
	pr_info("released the last %lu held pages (%lu in all)\n", n, nr_freed);
	return n;
}

void orthros_hold_stats(unsigned long *now_held, unsigned long *freed)
{
	spin_lock(&hold_lock);
	*now_held = nr_held;
	*freed = nr_freed;
	spin_unlock(&hold_lock);
}
