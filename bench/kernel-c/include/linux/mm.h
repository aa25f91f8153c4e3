/*
 * iommu-lab bench shim: pages and the linear map.
 *
 * The kernel reaches a table at physical address PA through its linear map, __va(PA) = PA plus a fixed
 * offset, and back with __pa()/virt_to_phys(). Here the "physical memory" of the table region is one
 * buffer and the offset is (buffer - region base), held in kshim_va_offset: one load and one add per
 * level of a walk, as in the kernel (arm64's __va is a subtraction of memstart_addr, also a variable).
 *
 * struct page: a flat array with one entry per 4K frame of the region (as FLATMEM's mem_map), so
 * page_address()/virt_to_page() are index arithmetic. PAGE_SIZE is 4K, as the arm64 kernels the LPAE
 * configuration comes from (the DART code only uses it through get_order()).
 */
#ifndef KSHIM_LINUX_MM_H
#define KSHIM_LINUX_MM_H

#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/gfp.h>
#include <linux/vmstat.h>

#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))

struct page {
	struct list_head lru;
	unsigned long flags;
};

extern unsigned long kshim_va_offset;
extern phys_addr_t kshim_phys_base;
extern struct page *kshim_mem_map;

#define __va(pa) ((void *)((unsigned long)(pa) + kshim_va_offset))
#define __pa(va) ((phys_addr_t)((unsigned long)(va) - kshim_va_offset))

static inline phys_addr_t virt_to_phys(const volatile void *va) { return __pa(va); }
static inline void *phys_to_virt(phys_addr_t pa) { return __va(pa); }

static inline void *page_address(const struct page *page)
{
	return __va(kshim_phys_base + ((phys_addr_t)(page - kshim_mem_map) << PAGE_SHIFT));
}
static inline struct page *virt_to_page(const void *va)
{
	return kshim_mem_map + ((__pa(va) - kshim_phys_base) >> PAGE_SHIFT);
}
static inline struct pglist_data *page_pgdat(const struct page *page)
{
	(void)page;
	return NULL; /* one node; the counters ignore it */
}
static inline void put_page(struct page *page) { kshim_free_pages(page, 0); }

/* Smallest order whose block (PAGE_SIZE << order) holds size bytes. */
static inline int get_order(unsigned long size)
{
	if (size <= PAGE_SIZE)
		return 0;
	return 64 - __builtin_clzl((size - 1) >> PAGE_SHIFT);
}

#endif
