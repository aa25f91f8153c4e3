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
#define dev_dbg(dev, fmt, ...) ((void)(dev))

/*
 * The driver model around an IOMMU driver (probe, device links, per-device IOMMU data): the Rockchip
 * kernel vectors compile the whole driver but run only its page-table paths, so these are never reached.
 */
#include <linux/err.h>
#include <linux/kshim-unreached.h>

struct device_link;
#define DL_FLAG_STATELESS (1u << 0)
#define DL_FLAG_PM_RUNTIME (1u << 2)

static inline const char *dev_name(const struct device *d) { (void)d; return KSHIM_UNREACHED("?"); }
static inline void *dev_get_drvdata(const struct device *d) { (void)d; return KSHIM_UNREACHED(NULL); }
static inline void *devm_kzalloc(struct device *d, size_t size, gfp_t gfp) { (void)d, (void)size, (void)gfp; return KSHIM_UNREACHED(NULL); }
static inline void *devm_kcalloc(struct device *d, size_t n, size_t size, gfp_t gfp)
{
	(void)d, (void)n, (void)size, (void)gfp;
	return KSHIM_UNREACHED(NULL);
}
static inline struct device_link *device_link_add(struct device *c, struct device *s, u32 flags)
{
	(void)c, (void)s, (void)flags;
	return KSHIM_UNREACHED(NULL);
}
static inline void device_link_del(struct device_link *l) { (void)l; kshim_unreached(__func__); }
static inline bool device_property_read_bool(const struct device *d, const char *name) { (void)d, (void)name; return KSHIM_UNREACHED(false); }

#endif
