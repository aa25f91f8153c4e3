/*
 * iommu-lab bench shim (our code, not the kernel's): the fixed-width types the io-pgtable files use,
 * mapped onto <stdint.h> for a 64-bit userspace build. phys_addr_t and dma_addr_t are 64 bits wide as
 * on arm64 (CONFIG_PHYS_ADDR_T_64BIT), so a 48-bit output address survives.
 */
#ifndef KSHIM_LINUX_TYPES_H
#define KSHIM_LINUX_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

typedef u64 phys_addr_t;
typedef u64 dma_addr_t;
typedef unsigned int gfp_t;

/* Doubly linked list head: only its shape is needed (struct page.lru, gather freelist). */
struct list_head {
	struct list_head *next, *prev;
};

#endif
