/*
 * iommu-lab shim (our code): platform devices and driver registration, only on the Rockchip driver's
 * probe/xlate paths (not run: the vectors set the driver's rk_ops and dma_dev themselves).
 */
#ifndef KSHIM_LINUX_PLATFORM_DEVICE_H
#define KSHIM_LINUX_PLATFORM_DEVICE_H

#include <linux/device.h>
#include <linux/of.h>
#include <linux/pm_runtime.h>
#include <linux/kshim-unreached.h>

#define IORESOURCE_MEM 0x200

struct resource {
	phys_addr_t start, end;
	unsigned long flags;
};
struct platform_device {
	struct device dev;
	int num_resources;
};
struct device_driver {
	const char *name;
	const struct of_device_id *of_match_table;
	const struct dev_pm_ops *pm;
	bool suppress_bind_attrs;
};
struct platform_driver {
	int (*probe)(struct platform_device *);
	void (*shutdown)(struct platform_device *);
	struct device_driver driver;
};
/* Registration happens at boot; here it only has to consume the declaration's semicolon. */
#define builtin_platform_driver(drv) extern __typeof__(drv) drv

static inline void *platform_get_drvdata(const struct platform_device *p) { (void)p; return KSHIM_UNREACHED(NULL); }
static inline void platform_set_drvdata(struct platform_device *p, void *d) { (void)p, (void)d; kshim_unreached(__func__); }
static inline void platform_device_put(struct platform_device *p) { (void)p; kshim_unreached(__func__); }
static inline struct resource *platform_get_resource(struct platform_device *p, unsigned int t, unsigned int n)
{
	(void)p, (void)t, (void)n;
	return KSHIM_UNREACHED(NULL);
}
static inline int platform_irq_count(struct platform_device *p) { (void)p; return KSHIM_UNREACHED(-1); }
static inline int platform_get_irq(struct platform_device *p, unsigned int n) { (void)p, (void)n; return KSHIM_UNREACHED(-1); }
static inline struct platform_device *of_find_device_by_node(struct device_node *np) { (void)np; return KSHIM_UNREACHED(NULL); }
static inline const void *of_device_get_match_data(const struct device *d) { (void)d; return KSHIM_UNREACHED(NULL); }
static inline void __iomem *devm_ioremap_resource(struct device *d, const struct resource *r)
{
	(void)d, (void)r;
	return KSHIM_UNREACHED(NULL);
}

#endif
