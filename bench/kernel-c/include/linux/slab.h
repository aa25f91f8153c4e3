/* iommu-lab bench shim: kmalloc and friends on the C library heap (only the per-table-set structs). */
#ifndef KSHIM_LINUX_SLAB_H
#define KSHIM_LINUX_SLAB_H

#include <stdlib.h>
#include <linux/gfp.h>

static inline void *kmalloc(size_t size, gfp_t gfp) { (void)gfp; return malloc(size); }
static inline void *kzalloc(size_t size, gfp_t gfp) { (void)gfp; return calloc(1, size); }
static inline void kfree(const void *p) { free((void *)p); }

#endif
