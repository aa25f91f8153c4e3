/*
 * iommu-lab bench shim: page allocation flags and the buddy-allocator entry points iommu-pages.h calls.
 * They are served by the bench's bump allocator (kshim.c), which hands out naturally aligned blocks at
 * increasing physical addresses from the table region's base - the same addresses, in the same order,
 * as the JS side's BenchHost - so both sides' table images can be compared byte for byte.
 */
#ifndef KSHIM_LINUX_GFP_H
#define KSHIM_LINUX_GFP_H

#include <linux/types.h>

#define __GFP_HIGHMEM 0x02u
#define GFP_DMA32 0x04u /* a zone request: the bump allocator ignores it (the caller picks the region) */
#define __GFP_ZERO 0x100u
#define GFP_ATOMIC 0x800u
#define GFP_KERNEL 0xcc0u

#define NUMA_NO_NODE (-1)

struct page;

struct page *kshim_alloc_pages(gfp_t gfp, unsigned int order);
void kshim_free_pages(struct page *page, unsigned int order);

static inline struct page *alloc_pages(gfp_t gfp, unsigned int order)
{
	return kshim_alloc_pages(gfp, order);
}
static inline struct page *alloc_pages_node(int nid, gfp_t gfp, unsigned int order)
{
	(void)nid; /* one node */
	return kshim_alloc_pages(gfp, order);
}
static inline void __free_pages(struct page *page, unsigned int order)
{
	kshim_free_pages(page, order);
}

#endif
