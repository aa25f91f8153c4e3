/*
 * iommu-lab bench shim: the part of <linux/iommu.h> that io-pgtable.h and the format files use - the
 * IOMMU_* protection flags (values from include/linux/iommu.h:18-32), the unmap gather and the dirty
 * bitmap. The bench unmaps with a strict (not queued) gather and no TLB callbacks, as the JS side does
 * with its default gather and a host without tlbAddPage; dirty tracking is never exercised.
 */
#ifndef KSHIM_LINUX_IOMMU_H
#define KSHIM_LINUX_IOMMU_H

#include <linux/kernel.h>
#include <linux/device.h>

#define IOMMU_READ (1 << 0)
#define IOMMU_WRITE (1 << 1)
#define IOMMU_CACHE (1 << 2)
#define IOMMU_NOEXEC (1 << 3)
#define IOMMU_MMIO (1 << 4)
#define IOMMU_PRIV (1 << 5)

#define IOMMU_DIRTY_NO_CLEAR (1 << 0)

struct iommu_iotlb_gather {
	unsigned long start;
	unsigned long end;
	size_t pgsize;
	struct list_head freelist;
	bool queued;
};

static inline bool iommu_iotlb_gather_queued(struct iommu_iotlb_gather *gather)
{
	return gather && gather->queued;
}

struct iova_bitmap;
struct iommu_dirty_bitmap {
	struct iova_bitmap *bitmap;
	struct iommu_iotlb_gather *gather;
};

/* Never reached by the bench (no dirty tracking); a hit would be a harness bug, hence the warning. */
static inline void iommu_dirty_bitmap_record(struct iommu_dirty_bitmap *dirty, unsigned long iova,
					     unsigned long length)
{
	(void)dirty, (void)iova, (void)length;
	WARN_ON(1);
}

#endif
