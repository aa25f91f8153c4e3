/*
 * iommu-lab: Rockchip kernel vectors (our code). Compiles the kernel's own drivers/iommu/rockchip-iommu.c,
 * unmodified, into this file (it is #included below, so its static functions are callable; the path comes
 * from the build: -DRK_DRIVER_C="..."), against the shims in include/, and drives one paging domain
 * through a pseudo-random sequence of iommu_map / iommu_unmap requests, printing what the driver did as
 * one JSON object (schema iommu-lab-kvec/1, see bench/kernel-vectors.ts and
 * test/fixtures/kernel-vectors/README.md).
 *
 *   rockchip-vectors v1|v2 SEED OPS PROBES TBASE REGION
 *
 * The driver is not an io-pgtable user: it is called the way the IOMMU core calls it. The driver's globals
 * rk_ops (iommu_data_ops_v1 or _v2) and dma_dev (a fake device) are set as rk_iommu_probe would set them,
 * the domain comes from rk_iommu_domain_alloc_paging and gets its ops and pgsize_bitmap from rk_iommu_ops
 * as the core gives them, and every request is split into map_pages / unmap_pages calls by our copy of
 * the core's algorithm (core_map / core_unmap: iommu_pgsize, __iommu_map and __iommu_unmap of
 * drivers/iommu/iommu.c, including the unwind of a failed map). Each driver call is one recorded call,
 * with its return and the events it raised in order: syncs of table entries (dma_sync_single_for_device),
 * table pages freed, WARN_ONs, and the driver's error prints (pr_err / dev_err: the driver reports a
 * clash with an existing mapping by a print, not a WARN) as ["warn", file, line, message], the message
 * formatted as the kernel's vsprintf would. No IOMMU is attached to the domain, so the driver's IOTLB
 * zaps (rk_iommu_zap_iova) walk an empty list and raise nothing.
 *
 * Tables come from the kshim bump allocator (kshim.c) in [TBASE, TBASE + REGION): the caller keeps v1's
 * region below 4 GiB, where GFP_DMA32 would put its tables (a v1 DTE holds 32 address bits).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kernel.h>
#include <linux/bitops.h> /* the kernel's kernel.h brings BIT and GENMASK */
#include <linux/device.h>
#include <linux/iommu.h>
#include <linux/mm.h>
#include "kshim.h"
#include "kvec.h"

/*
 * The driver's error prints, formatted with the kernel's rules for the conversions its messages use
 * (lib/vsprintf.c): %pad and %pa print the dma_addr_t / phys_addr_t pointed to as "0x" and 16 digits
 * (64-bit types), '#' with hex always prefixes "0x" (even for 0, unlike C's printf) and the field width
 * counts the prefix. Anything else aborts: a message we cannot format exactly is not recorded wrongly.
 */
static void kformat(char *out, size_t cap, const char *fmt, va_list ap)
{
	size_t n = 0;

#define PUT(c) do { if (n + 1 < cap) out[n++] = (c); } while (0)
	for (const char *p = fmt; *p; p++) {
		int alt = 0, zero = 0, width = 0, lng = 0;
		unsigned long long v;
		char digits[32];
		int nd = 0;

		if (*p != '%') {
			if (*p != '\n')
				PUT(*p);
			continue;
		}
		p++;
		for (;; p++) {
			if (*p == '#')
				alt = 1;
			else if (*p == '0')
				zero = 1;
			else
				break;
		}
		while (*p >= '0' && *p <= '9')
			width = width * 10 + (*p++ - '0');
		while (*p == 'l' || *p == 'z')
			lng = 1, p++;
		switch (*p) {
		case 'p': {
			const u64 *ptr = va_arg(ap, const u64 *);

			if (p[1] != 'a') {
				fprintf(stderr, "rockchip-vectors: %%p%c in a message\n", p[1]);
				abort();
			}
			p += p[2] == 'd' ? 2 : 1;
			snprintf(digits, sizeof(digits), "0x%016llx", (unsigned long long)*ptr);
			for (char *d = digits; *d; d++)
				PUT(*d);
			continue;
		}
		case 's':
			for (const char *s = va_arg(ap, const char *); *s; s++)
				PUT(*s);
			continue;
		case 'd': {
			long long s = lng ? va_arg(ap, long) : va_arg(ap, int);

			nd = snprintf(digits, sizeof(digits), "%lld", s);
			break;
		}
		case 'u':
		case 'x':
			v = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
			nd = snprintf(digits, sizeof(digits), *p == 'u' ? "%llu" : "%llx", v);
			break;
		default:
			fprintf(stderr, "rockchip-vectors: %%%c in a message\n", *p);
			abort();
		}
		{
			int prefix = alt && *p == 'x' ? 2 : 0;
			int pad = width - prefix - nd;

			for (; !zero && pad > 0; pad--)
				PUT(' ');
			if (prefix) {
				PUT('0');
				PUT('x');
			}
			for (; pad > 0; pad--)
				PUT('0');
			for (int i = 0; i < nd; i++)
				PUT(digits[i]);
		}
	}
	out[n] = 0;
#undef PUT
}

static void kshim_print(const char *file, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	kformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The message holds no quote or backslash (the driver's formats and hex numbers only). */
	event("[\"warn\",\"%s\",%d,\"%s\"]", basename_of(file), line, msg);
	fprintf(stderr, "%s:%d: %s\n", basename_of(file), line, msg);
}

/* The driver's prints, with the line they are written on, instead of the shims' plain fprintf. */
#undef pr_err
#define pr_err(fmt, ...) kshim_print(__FILE__, __LINE__, fmt, ##__VA_ARGS__)
#undef dev_err
#define dev_err(dev, fmt, ...) ((void)(dev), kshim_print(__FILE__, __LINE__, fmt, ##__VA_ARGS__))

#ifndef RK_DRIVER_C
#define RK_DRIVER_C "drivers/iommu/rockchip-iommu.c"
#endif
#include RK_DRIVER_C

static int bits_of(u64 mask)
{
	return 64 - __builtin_clzll(mask);
}

/* ---- the IOMMU core's side (drivers/iommu/iommu.c), as our own code ---- */

static struct iommu_domain *domain;
static int first_call = 1, core_op;

/*
 * iommu_pgsize (iommu.c:2391-2445): the largest supported page size that fits the remaining size and
 * the alignment of iova | paddr; the count runs up to where a larger page size could take over.
 */
static size_t core_pgsize(unsigned long iova, phys_addr_t paddr, size_t size, size_t *count)
{
	unsigned long addr_merge = paddr | iova;
	unsigned long pgsizes = domain->pgsize_bitmap & (~0UL >> __builtin_clzl(size));
	size_t pgsize, pgsize_next, offset;
	int idx;

	if (addr_merge)
		pgsizes &= ~0UL >> (63 - __builtin_ctzl(addr_merge));
	if (!pgsizes) {
		fprintf(stderr, "rockchip-vectors: no page size for iova 0x%lx size 0x%zx\n", iova, size);
		exit(1);
	}
	idx = 63 - __builtin_clzl(pgsizes);
	pgsize = 1UL << idx;
	pgsizes = domain->pgsize_bitmap & ~(~0UL >> (63 - idx));
	if (pgsizes) {
		pgsize_next = 1UL << __builtin_ctzl(pgsizes);
		if (!((iova ^ paddr) & (pgsize_next - 1))) {
			offset = pgsize_next - (addr_merge & (pgsize_next - 1));
			if (offset + pgsize_next >= offset && offset + pgsize_next <= size)
				size = offset;
		}
	}
	*count = size >> idx;
	return pgsize;
}

static void print_call_prefix(void)
{
	printf("%s", first_call ? "" : ",");
	first_call = 0;
}

/* __iommu_unmap (iommu.c:2540-2592): unmap_pages calls until size is covered or one unmaps nothing. */
static u64 core_unmap(unsigned long iova, size_t size)
{
	size_t unmapped = 0;

	while (unmapped < size) {
		struct iommu_iotlb_gather gather;
		size_t count, pgsize = core_pgsize(iova, iova, size - unmapped, &count);
		size_t got;

		memset(&gather, 0, sizeof(gather));
		got = domain->ops->unmap_pages(domain, iova, pgsize, count, &gather);
		print_call_prefix();
		printf("{\"op\":\"unmap\",\"core\":%d,\"iova\":\"0x%lx\",\"pgsize\":\"0x%zx\",\"pgcount\":%zu,\"queued\":false,\"ret\":\"0x%zx\",\"events\":[%s]}",
		       core_op, iova, pgsize, count, got, events);
		events_reset();
		if (!got)
			break;
		iova += got;
		unmapped += got;
	}
	return unmapped;
}

/* __iommu_map (iommu.c:2447-2508): map_pages calls; on an error, what was mapped is unmapped again. */
static int core_map(unsigned long iova, phys_addr_t paddr, size_t size, int prot)
{
	unsigned long orig_iova = iova;
	size_t orig_size = size;
	int ret = 0;

	while (size) {
		size_t count, mapped = 0;
		size_t pgsize = core_pgsize(iova, paddr, size, &count);

		ret = domain->ops->map_pages(domain, iova, paddr, pgsize, count, prot, GFP_KERNEL, &mapped);
		print_call_prefix();
		printf("{\"op\":\"map\",\"core\":%d,\"iova\":\"0x%lx\",\"paddr\":\"0x%llx\",\"pgsize\":\"0x%zx\",\"pgcount\":%zu,\"prot\":%d,\"ret\":%d,\"mapped\":\"0x%zx\",\"events\":[%s]}",
		       core_op, iova, (unsigned long long)paddr, pgsize, count, prot, ret, mapped, events);
		events_reset();
		size -= mapped;
		if (ret)
			break;
		iova += mapped;
		paddr += mapped;
	}
	if (ret)
		core_unmap(orig_iova, orig_size - size);
	return ret;
}

/*
 * The calls gather in a few regions of the 32-bit IOVA space (one at 0, one at the top), each four page
 * tables (16 MiB) wide, so that page tables are shared, fill up and clash.
 */
#define NREGIONS 6
#define REGION_SPAN (16ULL << 20)
static u64 region_base[NREGIONS];

static u64 pick_iova(void)
{
	u64 iova = region_base[below(NREGIONS)] + below(REGION_SPAN / SPAGE_SIZE) * SPAGE_SIZE;

	/* Now and then an IOVA above 4 GiB (the driver keeps only bits 31:0 when it indexes). */
	if (below(200) == 0)
		iova |= 1ULL << 32;
	return iova;
}

int main(int argc, char **argv)
{
	static struct device fake_dma_dev = { .numa_node = NUMA_NO_NODE };
	struct rk_iommu_domain *rk_domain;
	const char *variant;
	u64 tbase, oas_top;
	unsigned long region;
	int nops, nprobes, oas;

	if (argc != 7) {
		fprintf(stderr, "usage: %s v1|v2 SEED OPS PROBES TBASE REGION\n", argv[0]);
		return 2;
	}
	variant = argv[1];
	if (!strcmp(variant, "v1"))
		rk_ops = &iommu_data_ops_v1;
	else if (!strcmp(variant, "v2"))
		rk_ops = &iommu_data_ops_v2;
	else {
		fprintf(stderr, "rockchip-vectors: unknown variant %s\n", variant);
		return 2;
	}
	rng_seed(strtoull(argv[2], NULL, 0));
	nops = strtol(argv[3], NULL, 0);
	nprobes = strtol(argv[4], NULL, 0);
	tbase = strtoull(argv[5], NULL, 0);
	region = strtoul(argv[6], NULL, 0);

	kshim_mem_init(tbase, region);
	kshim_on_warn = on_warn;
	kshim_on_sync = on_sync;
	kshim_on_free = on_free;

	/* What rk_iommu_probe sets (rockchip-iommu.c:1222-1223, 1293-1294) and the core's domain setup. */
	dma_dev = &fake_dma_dev;
	domain = rk_iommu_ops.domain_alloc_paging(&fake_dma_dev);
	if (!domain) {
		fprintf(stderr, "rockchip-vectors: rk_iommu_domain_alloc_paging failed\n");
		return 1;
	}
	domain->type = IOMMU_DOMAIN_UNMANAGED;
	domain->ops = rk_iommu_ops.default_domain_ops;
	domain->pgsize_bitmap = rk_iommu_ops.pgsize_bitmap;
	rk_domain = to_rk_domain(domain);
	oas = bits_of(rk_ops->dma_bit_mask);
	oas_top = 1ULL << oas;

	printf("{\"schema\":\"iommu-lab-kvec/1\",\"format\":\"rockchip-%s\",\"in\":{\"pgsize_bitmap\":\"0x%lx\",\"ias\":%d,\"oas\":%d,\"quirks\":\"0x0\",\"coherent_walk\":false,\"seed\":\"%s\"},",
	       variant, domain->pgsize_bitmap, bits_of(domain->geometry.aperture_end), oas, argv[2]);
	printf("\"tbase\":\"0x%llx\",", (unsigned long long)tbase);
	printf("\"alloc\":{\"pgsize_bitmap\":\"0x%lx\",\"ias\":%d,\"oas\":%d,\"events\":[%s]},", domain->pgsize_bitmap,
	       bits_of(domain->geometry.aperture_end), oas, events);
	events_reset();

	region_base[0] = 0;
	for (int i = 1; i < NREGIONS - 1; i++)
		region_base[i] = below((1ULL << 32) / REGION_SPAN) * REGION_SPAN;
	region_base[NREGIONS - 1] = (1ULL << 32) - REGION_SPAN;

	printf("\"calls\":[");
	for (core_op = 0; core_op < nops; core_op++) {
		int r = below(100);

		if (r < 60 || nranges == 0) {
			/* iommu_map of 1 page, a run of up to 40, or up to 4 MiB (often across page tables). */
			int kind = below(4);
			u64 pages = kind < 2 ? 1 : kind == 2 ? 1 + below(40) : 1 + below(1024);
			u64 size = pages * SPAGE_SIZE;
			u64 iova = pick_iova();
			u64 paddr = below(oas_top / SPAGE_SIZE) * SPAGE_SIZE;
			int prot = (int)below(64);

			/* Large requests often start on a large boundary (up to 4 MiB), as DMA-API IOVAs do. */
			if (kind == 3 && below(2))
				iova &= ~((SPAGE_SIZE << below(11)) - 1);
			/* Half the time as aligned as the IOVA within 4 MiB, so that larger page sizes are used. */
			if (below(2))
				paddr = (paddr & ~((4ULL << 20) - 1)) | (iova & ((4ULL << 20) - 1));
			/* Now and then one or two whole page tables' worth: 4 MiB map_pages calls (1024 PTEs). */
			if (kind == 3 && below(3) == 0) {
				iova &= ~((4ULL << 20) - 1);
				paddr &= ~((4ULL << 20) - 1);
				size = (1 + below(2)) << 22;
			}
			/* Now and then beyond what an entry can hold (v1 32 bits, v2 40: silently truncated). */
			if (below(30) == 0)
				paddr |= oas_top;
			if (below(3))
				prot |= IOMMU_READ | IOMMU_WRITE;
			if (core_map(iova, paddr, size, prot) == 0)
				remember(iova, size, SPAGE_SIZE);
		} else if (below(10) == 0) {
			/* iommu_unmap where maybe nothing is mapped. */
			core_unmap(pick_iova(), (1 + below(16)) * SPAGE_SIZE);
		} else {
			/* iommu_unmap of a remembered range, whole or in part, sometimes past its end. */
			struct range *g = &ranges[below(nranges)];
			u64 pages = g->size / SPAGE_SIZE;
			u64 first = below(2) ? 0 : below(pages);
			u64 count = below(2) ? pages - first : 1 + below(pages - first);

			if (below(10) == 0)
				count += below(8);
			core_unmap(g->iova + first * SPAGE_SIZE, count * SPAGE_SIZE);
		}
	}
	printf("],");

	/* What rk_iommu_enable writes to DTE_ADDR (rockchip-iommu.c:961-962), and the DT itself. */
	printf("\"registers\":{\"DTE_ADDR\":\"0x%x\"},\"roots\":[\"0x%llx\"],", rk_ops->mk_dtentries(rk_domain->dt_dma),
	       (unsigned long long)rk_domain->dt_dma);
	print_tables(tbase);

	/* Probes: IOVAs inside what was mapped (at an offset), and anywhere. */
	printf("\"probes\":[");
	for (int k = 0; k < nprobes; k++) {
		u64 iova;

		if (!pick_mapped(&iova))
			iova = pick_iova() + below(SPAGE_SIZE);
		printf("%s[\"0x%llx\",\"0x%llx\"]", k ? "," : "", (unsigned long long)iova,
		       (unsigned long long)domain->ops->iova_to_phys(domain, iova));
	}
	printf("],");

	events_reset();
	domain->ops->free(domain);
	printf("\"free\":{\"events\":[%s]}}\n", events);
	return 0;
}
