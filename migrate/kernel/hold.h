/* SPDX-License-Identifier: GPL-2.0 */
/* The dead OS's pages the rescue still needs once its memory is hot-added (hold.c). */
#ifndef ORTHROS_HOLD_H
#define ORTHROS_HOLD_H

#include <linux/types.h>

struct page;

/* An extraction names the page at phys (once per record that names it). */
int orthros_hold_count(u64 phys);
/* The loader's kept image needs the page at phys: held until unpinned, whatever the rescue does. */
int orthros_hold_pin(u64 phys);
void orthros_hold_unpin(u64 phys);
/* Any page named at all (the memory phase then holds them). */
bool orthros_hold_any(void);
/* Still named: the rescue may read it even once its block is online here. */
bool orthros_hold_readable(u64 phys);
/* The online_page_callback of the memory phase. */
void orthros_hold_online(struct page *page, unsigned int order);
/* Copied out once: one name less; a held page named no more is freed. */
void orthros_hold_release(u64 phys);
/* The end of the rescue: every held page is freed; returns how many. */
unsigned long orthros_hold_release_all(void);
void orthros_hold_stats(unsigned long *now_held, unsigned long *freed);

#endif
