/*
 * iommu-lab bench shim: bit helpers. ilog2 of a constant folds at compile time (the kernel's does too),
 * so ARM_LPAE_LVL_SHIFT costs what it costs in the kernel: arithmetic on the run-time bits_per_level.
 */
#ifndef KSHIM_LINUX_BITOPS_H
#define KSHIM_LINUX_BITOPS_H

#include <linux/types.h>

#define BITS_PER_LONG 64
#define BIT(n) (1UL << (n))
#define BIT_ULL(n) (1ULL << (n))
#define GENMASK(h, l) ((~0UL << (l)) & (~0UL >> (BITS_PER_LONG - 1 - (h))))
#define GENMASK_ULL(h, l) ((~0ULL << (l)) & (~0ULL >> (63 - (h))))

#define ilog2(n) ((int)(63 - __builtin_clzll((unsigned long long)(n))))

static inline unsigned long __ffs(unsigned long x) { return __builtin_ctzl(x); }
static inline unsigned long __fls(unsigned long x) { return 63 - __builtin_clzl(x); }

/* Atomic bit set (the dirty-tracking path marks a PTE read-only with it). */
static inline void set_bit(long nr, volatile unsigned long *addr)
{
	__atomic_fetch_or(addr + nr / BITS_PER_LONG, 1UL << (nr % BITS_PER_LONG), __ATOMIC_RELAXED);
}

#endif
