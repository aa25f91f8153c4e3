/*
 * iommu-lab bench: drives the kernel's own io-pgtable code (io-pgtable.c, io-pgtable-arm.c,
 * io-pgtable-dart.c, compiled unmodified from a Linux tree against the shims in include/) over the
 * IOVAs and physical addresses the JS side of bench/run.ts used, and times it. Our code.
 *
 *   harness lpae|dart TBASE REGION_SIZE IOVAS PAS ORDER IMAGE_LEN
 *
 * IOVAS, PAS: the JS side's (iova, pa) pairs, little-endian u64, mapped in file order; ORDER: the IOVAs
 * translated, in the JS side's shuffled order; TBASE: where the JS side's tables start; IMAGE_LEN: how
 * many bytes of tables the JS side wrote from TBASE. Prints one line of name=value pairs:
 *   root      the table base (TTBR) the kernel's allocation set up
 *   end       the table allocator's end after the first pass (JS: TBASE + IMAGE_LEN)
 *   hash      FNV-1a of [TBASE, TBASE + IMAGE_LEN) after mapping every pair once
 *   alloc_ns  CPU ns per map_pages of that first pass (tables allocated on the way)
 *   walk_ns   best CPU ns per iova_to_phys over ORDER (7 batches of >= 40 ms)
 *   checksum  sum of the addresses iova_to_phys returned over ORDER, mod 2^64
 *   map_ns, unmap_ns   best CPU ns per map_pages / unmap_pages of one page, tables present (7 rounds)
 *   hash2     the hash again after those rounds and a final map of every pair
 *   warnings  WARN_ONs hit in the kernel code (the bench expects none)
 *
 * Every call goes through the io_pgtable_ops function pointers, as an IOMMU driver calls them; every
 * result is accumulated and checked, so the compiler cannot drop the work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/io-pgtable.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include "kshim.h"

#define BATCHES 7
#define BATCH_NS 4e7

static u64 *slurp_u64(const char *path, size_t *count)
{
	FILE *f = fopen(path, "rb");
	long len;
	u64 *p;

	if (!f) {
		perror(path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc(len ? len : 1);
	if (!p || fread(p, 1, len, f) != (size_t)len) {
		perror(path);
		exit(2);
	}
	fclose(f);
	*count = len / sizeof(u64);
	return p;
}

static double cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

/* 32-bit FNV-1a, the hash the JS side takes of its own table image (bench/run.ts fnv1a). */
static u32 fnv1a(const u8 *p, size_t len)
{
	u32 h = 0x811c9dc5u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x01000193u;
	return h;
}

static void die(const char *what)
{
	fprintf(stderr, "harness: %s\n", what);
	exit(1);
}

/* map_pages of one page for every pair; returns the OR of the return codes (0 when all succeeded). */
static int map_all(struct io_pgtable_ops *ops, const u64 *iovas, const u64 *pas, size_t n, size_t pg, size_t *mapped)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++)
		bad |= ops->map_pages(ops, iovas[i], pas[i], pg, 1, IOMMU_READ | IOMMU_WRITE, GFP_ATOMIC, mapped);
	return bad;
}

/* unmap_pages of one page per IOVA with a strict gather; returns the bytes unmapped. */
static size_t unmap_all(struct io_pgtable_ops *ops, const u64 *iovas, size_t n, size_t pg)
{
	struct iommu_iotlb_gather gather;
	size_t total = 0;

	memset(&gather, 0, sizeof(gather));
	for (size_t i = 0; i < n; i++)
		total += ops->unmap_pages(ops, iovas[i], pg, 1, &gather);
	return total;
}

int main(int argc, char **argv)
{
	struct device dev = { .numa_node = NUMA_NO_NODE };
	struct io_pgtable_cfg cfg;
	struct io_pgtable_ops *ops;
	size_t n, npas, norder, pg, mapped = 0;
	u64 *iovas, *pas, *order, root, sum = 0, one = 0;
	phys_addr_t base, end;
	unsigned long region, image_len;
	double c0, c1, c2, alloc_ns, walk_ns = 1e30, map_ns = 1e30, unmap_ns = 1e30;
	u32 hash, hash2;
	int lpae;

	if (argc != 8) {
		fprintf(stderr, "usage: %s lpae|dart TBASE REGION_SIZE IOVAS PAS ORDER IMAGE_LEN\n", argv[0]);
		return 2;
	}
	lpae = !strcmp(argv[1], "lpae");
	base = strtoull(argv[2], NULL, 0);
	region = strtoul(argv[3], NULL, 0);
	iovas = slurp_u64(argv[4], &n);
	pas = slurp_u64(argv[5], &npas);
	order = slurp_u64(argv[6], &norder);
	image_len = strtoul(argv[7], NULL, 0);
	if (npas != n || image_len > region)
		die("IOVAS and PAS differ in length, or IMAGE_LEN exceeds the region");
	kshim_mem_init(base, region);

	/* The configurations of buildLpae / buildDart in bench/run.ts: no quirks, coherent walk, no TLB ops. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.coherent_walk = true;
	cfg.iommu_dev = &dev;
	if (lpae) {
		cfg.pgsize_bitmap = SZ_4K | SZ_2M | SZ_1G;
		cfg.ias = 48;
		cfg.oas = 48;
		ops = alloc_io_pgtable_ops(ARM_64_LPAE_S1, &cfg, &cfg);
		if (!ops)
			die("alloc_io_pgtable_ops(ARM_64_LPAE_S1) failed");
		root = cfg.arm_lpae_s1_cfg.ttbr;
		pg = SZ_4K;
	} else {
		cfg.pgsize_bitmap = SZ_16K;
		cfg.ias = 32;
		cfg.oas = 36;
		ops = alloc_io_pgtable_ops(APPLE_DART, &cfg, &cfg);
		if (!ops)
			die("alloc_io_pgtable_ops(APPLE_DART) failed");
		if (cfg.apple_dart_cfg.n_ttbrs != 1)
			die("expected one DART TTBR for ias 32");
		root = cfg.apple_dart_cfg.ttbr[0];
		pg = SZ_16K;
	}

	/* 1. Every pair once, tables allocated on the way; then the image the JS side hashed. */
	c0 = cpu_ns();
	if (map_all(ops, iovas, pas, n, pg, &mapped))
		die("a map_pages of the first pass failed");
	alloc_ns = (cpu_ns() - c0) / n;
	if (mapped != n * pg)
		die("the first pass mapped fewer bytes than asked");
	end = kshim_next_free();
	hash = fnv1a(__va(base), image_len);

	/* 2. Translations of the mapped IOVAs in the JS side's order, best batch. */
	for (int b = 0; b < BATCHES; b++) {
		long reps = 0;
		double t0 = cpu_ns(), t;

		do {
			for (size_t i = 0; i < norder; i++)
				sum += ops->iova_to_phys(ops, order[i]);
			reps++;
			t = cpu_ns() - t0;
		} while (t < BATCH_NS);
		if (t / (reps * (double)norder) < walk_ns)
			walk_ns = t / (reps * (double)norder);
	}
	for (size_t i = 0; i < norder; i++)
		one += ops->iova_to_phys(ops, order[i]);

	/* 3. Steady state: unmap everything (the tables stay), then rounds of map all / unmap all. */
	if (unmap_all(ops, iovas, n, pg) != n * pg)
		die("unmap before the rounds left pages mapped");
	for (int b = 0; b < BATCHES; b++) {
		c0 = cpu_ns();
		if (map_all(ops, iovas, pas, n, pg, &mapped))
			die("a map_pages with tables present failed");
		c1 = cpu_ns();
		if (unmap_all(ops, iovas, n, pg) != n * pg)
			die("an unmap_pages round unmapped less than mapped");
		c2 = cpu_ns();
		if ((c1 - c0) / n < map_ns)
			map_ns = (c1 - c0) / n;
		if ((c2 - c1) / n < unmap_ns)
			unmap_ns = (c2 - c1) / n;
	}
	if (map_all(ops, iovas, pas, n, pg, &mapped))
		die("the final map failed");
	hash2 = fnv1a(__va(base), image_len);

	printf("root=0x%llx end=0x%llx hash=%u alloc_ns=%.3f walk_ns=%.3f checksum=%llu map_ns=%.3f unmap_ns=%.3f hash2=%u warnings=%ld sink=%llu\n",
	       (unsigned long long)root, (unsigned long long)end, hash, alloc_ns, walk_ns, (unsigned long long)one,
	       map_ns, unmap_ns, hash2, kshim_warnings, (unsigned long long)(sum & 1));
	free_io_pgtable_ops(ops);
	return 0;
}
