/*
 * iommu-lab bench shim: compiler helpers. READ_ONCE/WRITE_ONCE are volatile accesses, as in the kernel,
 * so the compiler performs exactly one load or store per use - the timed walk must not be able to cache
 * a descriptor the kernel re-reads.
 */
#ifndef KSHIM_LINUX_COMPILER_H
#define KSHIM_LINUX_COMPILER_H

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define barrier() __asm__ __volatile__("" : : : "memory")

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, val) \
	do { *(volatile __typeof__(x) *)&(x) = (val); } while (0)

/* Boot-time section markers and initcalls: nothing to place or run in a userspace build. */
#define __init
#define __initdata
#define __initconst
#define subsys_initcall(fn)

/* Annotations the Rockchip driver uses (sparse's MMIO address space, a possibly unused function). */
#define __iomem
#define __maybe_unused __attribute__((unused))

#endif
