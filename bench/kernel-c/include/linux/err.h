/* iommu-lab shim (our code): error values carried in pointers, as the kernel's ERR_PTR family. */
#ifndef KSHIM_LINUX_ERR_H
#define KSHIM_LINUX_ERR_H

#include <stdbool.h>

#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) ((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)

static inline void *ERR_PTR(long error) { return (void *)error; }
static inline long PTR_ERR(const void *ptr) { return (long)ptr; }
static inline bool IS_ERR(const void *ptr) { return IS_ERR_VALUE(ptr); }

#endif
