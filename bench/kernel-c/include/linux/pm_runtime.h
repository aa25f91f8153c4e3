/* iommu-lab shim (our code): runtime PM, only on the Rockchip driver's attach/zap/irq paths (not run). */
#ifndef KSHIM_LINUX_PM_RUNTIME_H
#define KSHIM_LINUX_PM_RUNTIME_H

#include <linux/device.h>
#include <linux/kshim-unreached.h>

struct dev_pm_ops {
	int (*runtime_suspend)(struct device *dev);
	int (*runtime_resume)(struct device *dev);
	int (*suspend)(struct device *dev);
	int (*resume)(struct device *dev);
};
#define SET_RUNTIME_PM_OPS(s, r, i) .runtime_suspend = (s), .runtime_resume = (r),
#define SET_SYSTEM_SLEEP_PM_OPS(s, r) .suspend = (s), .resume = (r),

static inline int pm_runtime_get_if_in_use(struct device *d) { (void)d; return KSHIM_UNREACHED(-1); }
static inline int pm_runtime_put(struct device *d) { (void)d; return KSHIM_UNREACHED(-1); }
static inline void pm_runtime_enable(struct device *d) { (void)d; kshim_unreached(__func__); }
static inline void pm_runtime_disable(struct device *d) { (void)d; kshim_unreached(__func__); }
static inline int pm_runtime_force_suspend(struct device *d) { (void)d; return KSHIM_UNREACHED(-1); }
static inline int pm_runtime_force_resume(struct device *d) { (void)d; return KSHIM_UNREACHED(-1); }

#endif
