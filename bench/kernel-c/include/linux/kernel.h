/*
 * iommu-lab bench shim: the grab-bag of <linux/kernel.h> helpers the io-pgtable files use (container_of,
 * min/max, DIV_ROUND_UP, ARRAY_SIZE, symbol exports).
 */
#ifndef KSHIM_LINUX_KERNEL_H
#define KSHIM_LINUX_KERNEL_H

#include <linux/types.h>
#include <linux/compiler.h>
#include <linux/bug.h>
#include <linux/printk.h>
#include <linux/errno.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))

#define min(a, b) ({ __typeof__(a) __kshim_a = (a); __typeof__(b) __kshim_b = (b); \
		     __kshim_a < __kshim_b ? __kshim_a : __kshim_b; })
#define max(a, b) ({ __typeof__(a) __kshim_a = (a); __typeof__(b) __kshim_b = (b); \
		     __kshim_a > __kshim_b ? __kshim_a : __kshim_b; })
#define min_t(type, a, b) min((type)(a), (type)(b))
#define max_t(type, a, b) max((type)(a), (type)(b))

/* Module exports mean nothing in one executable; this still consumes the trailing semicolon. */
#define EXPORT_SYMBOL_GPL(sym) extern __typeof__(sym) sym
#define EXPORT_SYMBOL(sym) extern __typeof__(sym) sym

#endif
