/* iommu-lab bench shim: the little of struct device the allocation path reads (its NUMA node). */
#ifndef KSHIM_LINUX_DEVICE_H
#define KSHIM_LINUX_DEVICE_H

#include <linux/kernel.h>
#include <linux/gfp.h>

struct device {
	int numa_node;
};

static inline int dev_to_node(struct device *dev) { return dev ? dev->numa_node : NUMA_NO_NODE; }
static inline void set_dev_node(struct device *dev, int node) { dev->numa_node = node; }

#define dev_err(dev, fmt, ...) ((void)(dev), fprintf(stderr, fmt, ##__VA_ARGS__))

#endif
