/* iommu-lab bench shim: FIELD_PREP places a value at the position of a contiguous mask. */
#ifndef KSHIM_LINUX_BITFIELD_H
#define KSHIM_LINUX_BITFIELD_H

#define FIELD_PREP(mask, val) \
	(((__typeof__(mask))(val) << __builtin_ctzll(mask)) & (mask))

#endif
