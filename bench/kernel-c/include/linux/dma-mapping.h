/*
 * iommu-lab bench shim: the streaming DMA API io-pgtable-arm.c calls for a non-coherent table walker.
 * The bench configures coherent_walk = true (as the JS side does), so none of these run; they map a
 * table 1:1 (the DMA address is the physical address, which the kernel code insists on), and a sync
 * is reported to kshim_on_sync (the kernel vectors record them).
 */
#ifndef KSHIM_LINUX_DMA_MAPPING_H
#define KSHIM_LINUX_DMA_MAPPING_H

#include <linux/device.h>
#include <linux/mm.h>

#define DMA_BIT_MASK(n) (((n) == 64) ? ~0ULL : ((1ULL << (n)) - 1))

enum dma_data_direction { DMA_BIDIRECTIONAL = 0, DMA_TO_DEVICE = 1, DMA_FROM_DEVICE = 2 };

static inline dma_addr_t dma_map_single(struct device *dev, void *ptr, size_t size, enum dma_data_direction dir)
{
	(void)dev, (void)size, (void)dir;
	return virt_to_phys(ptr);
}
static inline void dma_unmap_single(struct device *dev, dma_addr_t addr, size_t size, enum dma_data_direction dir)
{
	(void)dev, (void)addr, (void)size, (void)dir;
}
static inline int dma_mapping_error(struct device *dev, dma_addr_t addr)
{
	(void)dev, (void)addr;
	return 0;
}
static inline int dma_set_mask_and_coherent(struct device *dev, u64 mask)
{
	(void)dev, (void)mask;
	return 0;
}
void kshim_sync(phys_addr_t pa, size_t size);
static inline void dma_sync_single_for_device(struct device *dev, dma_addr_t addr, size_t size, enum dma_data_direction dir)
{
	(void)dev, (void)dir;
	kshim_sync(addr, size); /* the DMA address is the physical address (dma_map_single above) */
}

#endif
