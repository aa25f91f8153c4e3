/*
 * iommu-lab bench shim: the write barriers of the io-pgtable map path, as the kernel defines them for
 * the architecture the bench runs on, since they are part of what map_pages costs there:
 *   x86-64: wmb() is SFENCE, dma_wmb() only a compiler barrier (arch/x86/include/asm/barrier.h:24,51);
 *   arm64:  wmb() is DSB ST, dma_wmb() DMB OSHST (arch/arm64/include/asm/barrier.h:62,66).
 * Elsewhere both are compiler barriers.
 */
#ifndef KSHIM_ASM_BARRIER_H
#define KSHIM_ASM_BARRIER_H

#include <linux/compiler.h>

#if defined(__x86_64__)
#define wmb() __asm__ __volatile__("sfence" : : : "memory")
#define dma_wmb() barrier()
#elif defined(__aarch64__)
#define wmb() __asm__ __volatile__("dsb st" : : : "memory")
#define dma_wmb() __asm__ __volatile__("dmb oshst" : : : "memory")
#else
#define wmb() barrier()
#define dma_wmb() barrier()
#endif

#endif
