/* iommu-lab shim: <linux/delay.h> is included by the Rockchip driver; nothing it needs is timed here. */
#ifndef KSHIM_LINUX_DELAY_H
#define KSHIM_LINUX_DELAY_H
#endif
