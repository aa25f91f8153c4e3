/*
 * iommu-lab bench shim: the one atomic the io-pgtable files use, cmpxchg64_relaxed, installing a new
 * table descriptor only if the slot still holds what the walker read. A GCC builtin (a locked
 * cmpxchg on x86, as the kernel's x86 cmpxchg64 is; LDXR/STXR or CAS on arm64).
 */
#ifndef KSHIM_LINUX_ATOMIC_H
#define KSHIM_LINUX_ATOMIC_H

#include <linux/types.h>

#define cmpxchg64_relaxed(ptr, old, new) ({ \
	__typeof__(*(ptr)) __kshim_old = (old); \
	__atomic_compare_exchange_n((ptr), &__kshim_old, (new), false, __ATOMIC_RELAXED, __ATOMIC_RELAXED); \
	__kshim_old; \
})

#endif
