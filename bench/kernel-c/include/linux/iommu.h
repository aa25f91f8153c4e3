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

/*
 * The IOMMU core's view of a driver, as far as the Rockchip driver (compiled whole by the Rockchip
 * kernel vectors) fills it in: domains with their ops and aperture, the driver's ops table, and the
 * core services its probe/fault paths call (never run there, hence stubs that abort).
 */
#define IOMMU_FAULT_READ 0x0
#define IOMMU_FAULT_WRITE 0x1

#define __IOMMU_DOMAIN_PAGING (1U << 0)
#define __IOMMU_DOMAIN_DMA_API (1U << 1)
#define __IOMMU_DOMAIN_PT (1U << 2)
#define IOMMU_DOMAIN_IDENTITY (__IOMMU_DOMAIN_PT)
#define IOMMU_DOMAIN_UNMANAGED (__IOMMU_DOMAIN_PAGING)

struct iommu_domain_geometry {
	dma_addr_t aperture_start;
	dma_addr_t aperture_end;
	bool force_aperture;
};

struct iommu_domain;
struct iommu_group;
struct of_phandle_args;

struct iommu_domain_ops {
	int (*attach_dev)(struct iommu_domain *domain, struct device *dev);
	int (*map_pages)(struct iommu_domain *domain, unsigned long iova, phys_addr_t paddr, size_t pgsize,
			 size_t pgcount, int prot, gfp_t gfp, size_t *mapped);
	size_t (*unmap_pages)(struct iommu_domain *domain, unsigned long iova, size_t pgsize, size_t pgcount,
			      struct iommu_iotlb_gather *iotlb_gather);
	phys_addr_t (*iova_to_phys)(struct iommu_domain *domain, dma_addr_t iova);
	void (*free)(struct iommu_domain *domain);
};

struct iommu_domain {
	unsigned type;
	const struct iommu_domain_ops *ops;
	unsigned long pgsize_bitmap;
	struct iommu_domain_geometry geometry;
};

struct iommu_device {
	struct device *dev;
};

struct iommu_ops {
	struct iommu_domain *identity_domain;
	struct iommu_domain *(*domain_alloc_paging)(struct device *dev);
	struct iommu_device *(*probe_device)(struct device *dev);
	void (*release_device)(struct device *dev);
	struct iommu_group *(*device_group)(struct device *dev);
	int (*of_xlate)(struct device *dev, const struct of_phandle_args *args);
	const struct iommu_domain_ops *default_domain_ops;
	unsigned long pgsize_bitmap;
};

static inline struct iommu_group *generic_single_device_group(struct device *dev) { (void)dev; return KSHIM_UNREACHED(NULL); }
static inline int report_iommu_fault(struct iommu_domain *d, struct device *dev, unsigned long iova, int flags)
{
	(void)d, (void)dev, (void)iova, (void)flags;
	return KSHIM_UNREACHED(0);
}
static inline void *dev_iommu_priv_get(struct device *dev) { (void)dev; return KSHIM_UNREACHED(NULL); }
static inline void dev_iommu_priv_set(struct device *dev, void *priv) { (void)dev, (void)priv; kshim_unreached(__func__); }
static inline int iommu_device_sysfs_add(struct iommu_device *i, struct device *p, const void *g, const char *fmt, ...)
{
	(void)i, (void)p, (void)g, (void)fmt;
	return KSHIM_UNREACHED(-1);
}
static inline void iommu_device_sysfs_remove(struct iommu_device *i) { (void)i; kshim_unreached(__func__); }
static inline int iommu_device_register(struct iommu_device *i, const struct iommu_ops *ops, struct device *hw)
{
	(void)i, (void)ops, (void)hw;
	return KSHIM_UNREACHED(-1);
}

/* Never reached by the bench (no dirty tracking); a hit would be a harness bug, hence the warning. */
static inline void iommu_dirty_bitmap_record(struct iommu_dirty_bitmap *dirty, unsigned long iova,
					     unsigned long length)
{
	(void)dirty, (void)iova, (void)length;
	WARN_ON(1);
}

#endif
