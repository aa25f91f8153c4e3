/*
 * iommu-lab: kernel vectors. Drives the kernel's own io-pgtable code (io-pgtable.c, io-pgtable-arm.c,
 * io-pgtable-dart.c, compiled unmodified against the shims in include/) through a pseudo-random
 * sequence of map_pages / unmap_pages calls for one configuration, and prints what the kernel did as
 * one JSON object (schema iommu-lab-kvec/1, see bench/kernel-vectors.ts and
 * test/fixtures/kernel-vectors/README.md). Our code.
 *
 *   vectors FMT PGSIZE_BITMAP IAS OAS QUIRKS COHERENT SEED OPS PROBES TBASE REGION
 *
 * FMT is one of arm-32-lpae-s1 arm-32-lpae-s2 arm-64-lpae-s1 arm-64-lpae-s2 apple-dart apple-dart2.
 * The sequence depends only on the arguments (xorshift64* from SEED), so a run is reproducible. Each
 * call is recorded with its arguments, its return, and the events the kernel code raised while it
 * ran, in order: WARN_ONs, TLB callbacks, cache syncs of table entries (non-coherent walkers) and
 * table pages freed. After the calls: the base registers, a hash of the table region, the
 * kernel's iova_to_phys for probe IOVAs, and what free_io_pgtable_ops released.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/io-pgtable.h>
#include <linux/mm.h>
#include "kshim.h"
#include "kvec.h"

static void tlb_flush_all(void *cookie)
{
	(void)cookie;
	event("[\"tlb_flush_all\"]");
}

static void tlb_flush_walk(unsigned long iova, size_t size, size_t granule, void *cookie)
{
	(void)cookie;
	event("[\"tlb_flush_walk\",\"0x%lx\",\"0x%zx\",\"0x%zx\"]", iova, size, granule);
}

static void tlb_add_page(struct iommu_iotlb_gather *gather, unsigned long iova, size_t granule, void *cookie)
{
	(void)gather, (void)cookie;
	event("[\"tlb_add_page\",\"0x%lx\",\"0x%zx\"]", iova, granule);
}

static const struct iommu_flush_ops flush_ops = {
	.tlb_flush_all = tlb_flush_all,
	.tlb_flush_walk = tlb_flush_walk,
	.tlb_add_page = tlb_add_page,
};

/* The page sizes of a bitmap, smallest first. */
static int sizes_of(unsigned long bitmap, u64 *out)
{
	int n = 0;

	for (int b = 0; b < 64; b++)
		if (bitmap & (1UL << b))
			out[n++] = 1ULL << b;
	return n;
}

/* A few regions of the IOVA space the calls gather in, so that tables fill up and get shared. */
#define NREGIONS 6
static u64 region_base[NREGIONS];

/* IO_PGTABLE_QUIRK_ARM_TTBR1: the IOVAs are the top of the 64-bit space (all bits above ias set). */
static int ttbr1;

static u64 pick_iova(u64 pgsize, unsigned int ias, u64 span)
{
	u64 base = region_base[below(NREGIONS)];
	u64 iova = base + below(span / pgsize) * pgsize;

	if (ttbr1)
		return iova | (~0ULL << ias);
	/* Now and then an IOVA beyond ias (the kernel refuses it with -ERANGE and a WARN). */
	if (below(200) == 0 && ias < 64)
		iova |= 1ULL << ias;
	return iova;
}

int main(int argc, char **argv)
{
	struct device dev = { .numa_node = NUMA_NO_NODE };
	struct io_pgtable_cfg cfg;
	struct io_pgtable_ops *ops;
	enum io_pgtable_fmt fmt;
	const char *name;
	u64 sizes[64], tbase, span;
	unsigned long region;
	int nsizes, nops, nprobes, lpae, first = 1;

	if (argc != 12) {
		fprintf(stderr, "usage: %s FMT PGSIZE_BITMAP IAS OAS QUIRKS COHERENT SEED OPS PROBES TBASE REGION\n", argv[0]);
		return 2;
	}
	name = argv[1];
	if (!strcmp(name, "arm-32-lpae-s1"))
		fmt = ARM_32_LPAE_S1;
	else if (!strcmp(name, "arm-32-lpae-s2"))
		fmt = ARM_32_LPAE_S2;
	else if (!strcmp(name, "arm-64-lpae-s1"))
		fmt = ARM_64_LPAE_S1;
	else if (!strcmp(name, "arm-64-lpae-s2"))
		fmt = ARM_64_LPAE_S2;
	else if (!strcmp(name, "apple-dart"))
		fmt = APPLE_DART;
	else if (!strcmp(name, "apple-dart2"))
		fmt = APPLE_DART2;
	else {
		fprintf(stderr, "vectors: unknown format %s\n", name);
		return 2;
	}
	lpae = fmt <= ARM_64_LPAE_S2;

	memset(&cfg, 0, sizeof(cfg));
	cfg.pgsize_bitmap = strtoul(argv[2], NULL, 0);
	cfg.ias = strtoul(argv[3], NULL, 0);
	cfg.oas = strtoul(argv[4], NULL, 0);
	cfg.quirks = strtoul(argv[5], NULL, 0);
	cfg.coherent_walk = strtoul(argv[6], NULL, 0) != 0;
	rng_seed(strtoull(argv[7], NULL, 0));
	nops = strtol(argv[8], NULL, 0);
	nprobes = strtol(argv[9], NULL, 0);
	tbase = strtoull(argv[10], NULL, 0);
	region = strtoul(argv[11], NULL, 0);
	cfg.tlb = &flush_ops;
	ttbr1 = (cfg.quirks & IO_PGTABLE_QUIRK_ARM_TTBR1) != 0;
	cfg.iommu_dev = &dev;

	kshim_mem_init(tbase, region);
	kshim_on_warn = on_warn;
	kshim_on_sync = on_sync;
	kshim_on_free = on_free;

	ops = alloc_io_pgtable_ops(fmt, &cfg, NULL);
	printf("{\"schema\":\"iommu-lab-kvec/1\",\"format\":\"%s\",\"in\":{\"pgsize_bitmap\":\"0x%lx\",\"ias\":%s,\"oas\":%s,\"quirks\":\"0x%s\",\"coherent_walk\":%s,\"seed\":\"%s\"},",
	       name, strtoul(argv[2], NULL, 0), argv[3], argv[4], argv[5] + (argv[5][0] == '0' && argv[5][1] == 'x' ? 2 : 0),
	       cfg.coherent_walk ? "true" : "false", argv[7]);
	printf("\"tbase\":\"0x%llx\",", (unsigned long long)tbase);
	if (!ops) {
		/* The configuration itself is refused: that is a vector too. */
		printf("\"alloc\":null,\"events\":[%s]}\n", events);
		return 0;
	}
	printf("\"alloc\":{\"pgsize_bitmap\":\"0x%lx\",\"ias\":%u,\"oas\":%u,\"events\":[%s]},", cfg.pgsize_bitmap, cfg.ias, cfg.oas, events);
	events_reset();

	nsizes = sizes_of(cfg.pgsize_bitmap, sizes);
	/*
	 * Regions: each spans a few of the largest page size (blocks fit) and at least 4096 granules
	 * (DART has one page size: its calls must not all collide), anywhere below ias.
	 */
	span = sizes[nsizes - 1] * 4;
	if (span < sizes[0] << 12)
		span = sizes[0] << 12;
	for (int i = 0; i < NREGIONS; i++) {
		u64 top = cfg.ias >= 64 ? ~0ULL : (1ULL << cfg.ias);
		u64 slots = top / span;

		region_base[i] = (i == 0 ? 0 : below(slots ? slots : 1)) * span;
		if (i == NREGIONS - 1 && slots)
			region_base[i] = (slots - 1) * span; /* the top of the IOVA space */
	}

	printf("\"calls\":[");
	for (int k = 0; k < nops; k++) {
		int r = below(100);

		if (r < 60 || nranges == 0) {
			/* map_pages: mostly the granule, now and then a block; a pgcount run; random prot. */
			int si = below(4) == 0 ? below(nsizes) : 0;
			u64 pgsize = sizes[si];
			u64 pgcount = 1 + (below(3) == 0 ? below(40) : 0);
			u64 iova = pick_iova(pgsize, cfg.ias, span);
			u64 oas_top = cfg.oas >= 64 ? ~0ULL : (1ULL << cfg.oas);
			u64 paddr = below(oas_top / pgsize) * pgsize;
			int prot = (int)below(64);
			size_t mapped = 0;
			int ret;

			if (below(150) == 0)
				paddr |= oas_top; /* beyond oas: -ERANGE */
			if (below(3))
				prot |= IOMMU_READ | IOMMU_WRITE;
			ret = ops->map_pages(ops, iova, paddr, pgsize, pgcount, prot, GFP_KERNEL, &mapped);
			printf("%s{\"op\":\"map\",\"iova\":\"0x%llx\",\"paddr\":\"0x%llx\",\"pgsize\":\"0x%llx\",\"pgcount\":%llu,\"prot\":%d,\"ret\":%d,\"mapped\":\"0x%llx\",\"events\":[%s]}",
			       first ? "" : ",", (unsigned long long)iova, (unsigned long long)paddr, (unsigned long long)pgsize,
			       (unsigned long long)pgcount, prot, ret, (unsigned long long)mapped, events);
			if (ret == 0)
				remember(iova, mapped, pgsize);
		} else {
			/* unmap_pages: a remembered range, whole or in part, with its page size or a smaller one. */
			struct range *g = &ranges[below(nranges)];
			int si = 0;
			u64 pgsize, pgcount, iova, unmapped;
			struct iommu_iotlb_gather gather;

			while (si < nsizes - 1 && sizes[si + 1] <= g->pgsize && below(2))
				si++;
			pgsize = sizes[si];
			iova = g->iova + below(g->size / pgsize) * pgsize;
			pgcount = 1 + below((g->iova + g->size - iova) / pgsize);
			if (below(10) == 0)
				pgcount += below(8); /* past the end of what was mapped */
			memset(&gather, 0, sizeof(gather));
			gather.queued = below(5) == 0;
			unmapped = ops->unmap_pages(ops, iova, pgsize, pgcount, &gather);
			printf("%s{\"op\":\"unmap\",\"iova\":\"0x%llx\",\"pgsize\":\"0x%llx\",\"pgcount\":%llu,\"queued\":%s,\"ret\":\"0x%llx\",\"events\":[%s]}",
			       first ? "" : ",", (unsigned long long)iova, (unsigned long long)pgsize, (unsigned long long)pgcount,
			       gather.queued ? "true" : "false", (unsigned long long)unmapped, events);
		}
		first = 0;
		events_reset();
	}
	printf("],");

	/* Base registers. */
	if (fmt == ARM_32_LPAE_S1 || fmt == ARM_64_LPAE_S1)
		printf("\"registers\":{\"ttbr\":\"0x%llx\",\"tcr.ips\":\"%u\",\"tcr.tg\":\"%u\",\"tcr.sh\":\"%u\",\"tcr.orgn\":\"%u\",\"tcr.irgn\":\"%u\",\"tcr.tsz\":\"%u\",\"mair\":\"0x%llx\"},",
		       (unsigned long long)cfg.arm_lpae_s1_cfg.ttbr, cfg.arm_lpae_s1_cfg.tcr.ips, cfg.arm_lpae_s1_cfg.tcr.tg,
		       cfg.arm_lpae_s1_cfg.tcr.sh, cfg.arm_lpae_s1_cfg.tcr.orgn, cfg.arm_lpae_s1_cfg.tcr.irgn,
		       cfg.arm_lpae_s1_cfg.tcr.tsz, (unsigned long long)cfg.arm_lpae_s1_cfg.mair);
	else if (lpae)
		printf("\"registers\":{\"vttbr\":\"0x%llx\",\"vtcr.ps\":\"%u\",\"vtcr.tg\":\"%u\",\"vtcr.sh\":\"%u\",\"vtcr.orgn\":\"%u\",\"vtcr.irgn\":\"%u\",\"vtcr.sl\":\"%u\",\"vtcr.tsz\":\"%u\"},",
		       (unsigned long long)cfg.arm_lpae_s2_cfg.vttbr, cfg.arm_lpae_s2_cfg.vtcr.ps, cfg.arm_lpae_s2_cfg.vtcr.tg,
		       cfg.arm_lpae_s2_cfg.vtcr.sh, cfg.arm_lpae_s2_cfg.vtcr.orgn, cfg.arm_lpae_s2_cfg.vtcr.irgn,
		       cfg.arm_lpae_s2_cfg.vtcr.sl, cfg.arm_lpae_s2_cfg.vtcr.tsz);
	else {
		printf("\"roots\":[");
		for (u32 i = 0; i < cfg.apple_dart_cfg.n_ttbrs; i++)
			printf("%s\"0x%llx\"", i ? "," : "", (unsigned long long)cfg.apple_dart_cfg.ttbr[i]);
		printf("],");
	}

	print_tables(tbase);

	/* Probes: IOVAs inside what was mapped (at an offset), and anywhere. */
	printf("\"probes\":[");
	for (int k = 0; k < nprobes; k++) {
		u64 iova;

		if (!pick_mapped(&iova))
			iova = pick_iova(sizes[0], cfg.ias, span) + below(sizes[0]);
		printf("%s[\"0x%llx\",\"0x%llx\"]", k ? "," : "", (unsigned long long)iova,
		       (unsigned long long)ops->iova_to_phys(ops, iova));
	}
	printf("],");

	free_io_pgtable_ops(ops);
	printf("\"free\":{\"events\":[%s]}}\n", events);
	return 0;
}
