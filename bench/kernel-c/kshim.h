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

#endif
