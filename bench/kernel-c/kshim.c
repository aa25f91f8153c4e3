/*
 * iommu-lab bench: the run-time half of the kernel shims (our code). It owns the table region - the
 * bench's stand-in for physical memory - and the allocator that the kernel's iommu-pages.h helpers
 * reach through alloc_pages()/alloc_pages_node().
 *
 * The allocator hands out naturally aligned blocks of PAGE_SIZE << order at increasing physical
 * addresses from the region's base and never reuses a freed block: exactly what the JS side's
 * BenchHost does (a bump pointer rounded up to the table's alignment, freeTable a no-op), so the same
 * sequence of table allocations lands at the same addresses on both sides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/mm.h>
#include "kshim.h"

unsigned long kshim_va_offset;
phys_addr_t kshim_phys_base;
struct page *kshim_mem_map;
long kshim_vmstat[KSHIM_NR_STATS];
long kshim_warnings;
long kshim_freed_pages;
void (*kshim_on_warn)(const char *file, int line);
void (*kshim_on_sync)(phys_addr_t pa, size_t size);
void (*kshim_on_free)(phys_addr_t pa, size_t size);

static phys_addr_t region_end, next_free;
static unsigned char *region;

void kshim_mem_init(phys_addr_t base, unsigned long size)
{
	/* Anonymous memory reads as zero and is only backed where written, like a fresh region. */
	region = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (region == MAP_FAILED) {
		perror("kshim: mmap of the table region");
		exit(2);
	}
	kshim_mem_map = calloc(size >> PAGE_SHIFT, sizeof(struct page));
	if (!kshim_mem_map) {
		perror("kshim: mem_map");
		exit(2);
	}
	kshim_phys_base = base;
	kshim_va_offset = (unsigned long)region - (unsigned long)base;
	region_end = base + size;
	next_free = base;
}

phys_addr_t kshim_next_free(void)
{
	return next_free;
}

struct page *kshim_alloc_pages(gfp_t gfp, unsigned int order)
{
	unsigned long size = PAGE_SIZE << order;
	phys_addr_t pa = (next_free + size - 1) & ~(phys_addr_t)(size - 1);

	if (pa + size > region_end)
		return NULL; /* the kernel code turns this into -ENOMEM */
	next_free = pa + size;
	if (gfp & __GFP_ZERO)
		memset(__va(pa), 0, size);
	return kshim_mem_map + ((pa - kshim_phys_base) >> PAGE_SHIFT);
}

void kshim_free_pages(struct page *page, unsigned int order)
{
	kshim_freed_pages += 1L << order; /* counted, not reused (as BenchHost.freeTable) */
	if (kshim_on_free)
		kshim_on_free(kshim_phys_base + ((phys_addr_t)(page - kshim_mem_map) << PAGE_SHIFT), PAGE_SIZE << order);
}

void kshim_warn(const char *file, int line, const char *cond)
{
	kshim_warnings++;
	if (kshim_on_warn)
		kshim_on_warn(file, line);
	fprintf(stderr, "WARNING: %s:%d: WARN_ON(%s)\n", file, line, cond);
}

void kshim_sync(phys_addr_t pa, size_t size)
{
	if (kshim_on_sync)
		kshim_on_sync(pa, size);
}
