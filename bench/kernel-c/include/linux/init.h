/* iommu-lab shim: <linux/init.h>; the section markers are in compiler.h. */
#ifndef KSHIM_LINUX_INIT_H
#define KSHIM_LINUX_INIT_H
#include <linux/compiler.h>
#endif
