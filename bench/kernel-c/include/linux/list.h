/* iommu-lab bench shim: the list helpers iommu-pages.h names (its page-list free path; unused here). */
#ifndef KSHIM_LINUX_LIST_H
#define KSHIM_LINUX_LIST_H

#include <linux/kernel.h>

static inline int list_empty(const struct list_head *h) { return h->next == h; }
static inline void list_del(struct list_head *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}
#define list_entry(ptr, type, member) container_of(ptr, type, member)

#endif
