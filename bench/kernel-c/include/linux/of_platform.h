/* iommu-lab shim (our code): <linux/of_platform.h>, folded into platform_device.h. */
#ifndef KSHIM_LINUX_OF_PLATFORM_H
#define KSHIM_LINUX_OF_PLATFORM_H
#include <linux/platform_device.h>
#endif
