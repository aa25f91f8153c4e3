/* iommu-lab shim (our code): clock handles; the Rockchip vectors never enable a clock (no attached IOMMU). */
#ifndef KSHIM_LINUX_CLK_H
#define KSHIM_LINUX_CLK_H

#include <linux/device.h>
#include <linux/kshim-unreached.h>

struct clk;
struct clk_bulk_data {
	const char *id;
	struct clk *clk;
};

static inline int clk_bulk_enable(int n, const struct clk_bulk_data *c) { (void)n, (void)c; return KSHIM_UNREACHED(-1); }
static inline void clk_bulk_disable(int n, const struct clk_bulk_data *c) { (void)n, (void)c; kshim_unreached(__func__); }
static inline int clk_bulk_prepare(int n, const struct clk_bulk_data *c) { (void)n, (void)c; return KSHIM_UNREACHED(-1); }
static inline void clk_bulk_unprepare(int n, const struct clk_bulk_data *c) { (void)n, (void)c; kshim_unreached(__func__); }
static inline int devm_clk_bulk_get(struct device *d, int n, struct clk_bulk_data *c) { (void)d, (void)n, (void)c; return KSHIM_UNREACHED(-1); }

#endif
