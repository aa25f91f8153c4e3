/*
 * iommu-lab shim (our code): the kernel vectors compile whole drivers, whose hardware paths (probe,
 * attach, interrupts, register polling) they never run. Such paths call functions given here as stubs
 * that abort: reaching one is a bug of the vectors program, never a result.
 */
#ifndef KSHIM_UNREACHED_H
#define KSHIM_UNREACHED_H

#include <stdio.h>
#include <stdlib.h>

static inline void kshim_unreached(const char *what)
{
	fprintf(stderr, "kshim: %s reached, but no kernel-vector path should call it\n", what);
	abort();
}
#define KSHIM_UNREACHED(ret) (kshim_unreached(__func__), (ret))

#endif
