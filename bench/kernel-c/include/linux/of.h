/* iommu-lab shim (our code): device-tree matching types the Rockchip driver declares. */
#ifndef KSHIM_LINUX_OF_H
#define KSHIM_LINUX_OF_H

#include <linux/device.h>

struct device_node;
struct of_device_id {
	char compatible[128];
	const void *data;
};
struct of_phandle_args {
	struct device_node *np;
	int args_count;
	u32 args[16];
};

#endif
