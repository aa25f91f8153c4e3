/* iommu-lab bench: what the harness needs from kshim.c beyond the kernel-facing shim headers. */
#ifndef KSHIM_H
#define KSHIM_H

#include <linux/types.h>

/* Set up a table region of size bytes standing for physical [base, base + size). */
void kshim_mem_init(phys_addr_t base, unsigned long size);
/* The allocator's next free physical address (the end of what was handed out, before alignment). */
phys_addr_t kshim_next_free(void);

extern long kshim_warnings;
extern long kshim_freed_pages;

/*
 * Optional observers (NULL in the bench): a WARN_ON hit (file, line), a table-entry sync for a
 * non-coherent walker (dma_sync_single_for_device: address, size), table pages freed (address, size).
 * bench/kernel-c/vectors.c records them.
 */
extern void (*kshim_on_warn)(const char *file, int line);
extern void (*kshim_on_sync)(phys_addr_t pa, size_t size);
extern void (*kshim_on_free)(phys_addr_t pa, size_t size);

#endif
