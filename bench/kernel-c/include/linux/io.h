/*
 * iommu-lab shim (our code): MMIO accessors (only on the Rockchip driver's hardware paths, never run by
 * the vectors) and phys_to_virt, which the driver uses to reach its page tables through the linear map
 * (mm.h: the table region's buffer).
 */
#ifndef KSHIM_LINUX_IO_H
#define KSHIM_LINUX_IO_H

#include <linux/types.h>
#include <linux/mm.h>
#include <linux/kshim-unreached.h>

static inline u32 readl(const volatile void __iomem *addr)
{
	(void)addr;
	return KSHIM_UNREACHED(0u);
}
static inline void writel(u32 value, volatile void __iomem *addr)
{
	(void)value, (void)addr;
	kshim_unreached(__func__);
}

#endif
