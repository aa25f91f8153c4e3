/* iommu-lab shim (our code): register polling, only on the Rockchip driver's hardware paths (not run). */
#ifndef KSHIM_LINUX_IOPOLL_H
#define KSHIM_LINUX_IOPOLL_H

#include <linux/kshim-unreached.h>

#define readx_poll_timeout(op, addr, val, cond, sleep_us, timeout_us) ({ \
	(void)(sleep_us), (void)(timeout_us); \
	(val) = op(addr); \
	(cond) ? 0 : KSHIM_UNREACHED(-1); \
})

#endif
