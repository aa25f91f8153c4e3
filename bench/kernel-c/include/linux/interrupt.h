/* iommu-lab shim (our code): interrupt requests, only on the Rockchip driver's probe path (not run). */
#ifndef KSHIM_LINUX_INTERRUPT_H
#define KSHIM_LINUX_INTERRUPT_H

#include <linux/device.h>
#include <linux/kshim-unreached.h>

typedef enum { IRQ_NONE = 0, IRQ_HANDLED = 1 } irqreturn_t;
typedef irqreturn_t (*irq_handler_t)(int irq, void *dev_id);
#define IRQF_SHARED 0x80

static inline int devm_request_irq(struct device *d, unsigned int irq, irq_handler_t h, unsigned long f, const char *n, void *id)
{
	(void)d, (void)irq, (void)h, (void)f, (void)n, (void)id;
	return KSHIM_UNREACHED(-1);
}
static inline void devm_free_irq(struct device *d, unsigned int irq, void *id) { (void)d, (void)irq, (void)id; kshim_unreached(__func__); }

#endif
