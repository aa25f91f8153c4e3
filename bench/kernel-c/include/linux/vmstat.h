/*
 * iommu-lab bench shim: the page-state counters iommu-pages.h updates on every table allocation and
 * free ("iommu-pagetables" accounting). Kept as plain counters in kshim.c.
 */
#ifndef KSHIM_LINUX_VMSTAT_H
#define KSHIM_LINUX_VMSTAT_H

enum kshim_stat_item { NR_IOMMU_PAGES, NR_SECONDARY_PAGETABLE, KSHIM_NR_STATS };

struct pglist_data;
struct page;

extern long kshim_vmstat[KSHIM_NR_STATS];

static inline void mod_node_page_state(struct pglist_data *pgdat, enum kshim_stat_item item, long delta)
{
	(void)pgdat;
	kshim_vmstat[item] += delta;
}
static inline void mod_lruvec_page_state(struct page *page, enum kshim_stat_item item, long delta)
{
	(void)page;
	kshim_vmstat[item] += delta;
}

#endif
