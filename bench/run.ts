/**
 * `npm run bench`: throughput of the page-table formats on this machine (not a test: numbers vary).
 *
 * For arm-64-lpae-s1 (4K granule) and apple-dart (16K) it builds tables through the format's own map
 * path on a PhysMem and times, one call per page as the iommu core issues them:
 * - translations of mapped IOVAs (iovaToPhys, the kernel's iova_to_phys; and walk(), which also records
 *   every step for --explain),
 * - map_pages and unmap_pages of one page, with the tables already present (steady state), and map with
 *   table allocation.
 *
 * Two C baselines run the same operations over the same IOVAs and physical addresses:
 * - kernel C, the issue's yardstick (issue 3 item 7: a translation within 2x of "the kernel's own C
 *   iova_to_phys compiled -O2", map_pages within 3x): when a Linux 6.12 tree is found (--kernel-src PATH,
 *   env IOMMU_LAB_KERNEL_SRC, /usr/src/linux-source-6.12.tar.xz, /usr/src/linux-source-6.12/), the
 *   kernel's unmodified io-pgtable.c, io-pgtable-arm.c and io-pgtable-dart.c are copied or extracted
 *   into a temp dir and compiled with cc -O2 against our shim headers (bench/kernel-c/include) and
 *   driven by bench/kernel-c/harness.c through alloc_io_pgtable_ops and the ops function pointers. Its
 *   tables are checked to be bit-identical with ours (a hash of the table region after mapping every
 *   page, with the same allocation addresses), and its translations to return the same addresses.
 * - own C: small walkers and mappers written here (C_SOURCE, not kernel code: constant shifts, start
 *   level fixed at compile time), run over the JS side's table image. A floor, and the ratio's
 *   reference when no kernel tree is found.
 *
 * Timing: process CPU time (fairer than wall time on a shared machine), best of several batches within a
 * process for every side, so a batch disturbed by other processes or by V8 compiling in the background
 * does not count. That is not enough on a shared VM, where a whole process can run 30-50% slower than the
 * next one (CPU placement, neighbours): so the bench runs in rounds (--rounds N, default 5), and in each
 * round measures every layout with a fresh process per side - the kernel C harness, a new node process
 * for JS (this script with --js-child KEY: its own V8, JIT decisions and placement) and our own C, JS
 * between the two C sides, their order swapped every round. Each side's figure is its best round (min),
 * shown with the spread over the rounds; JS/C and met compare best with best. Every round's tables and
 * translation sums must equal the parent's reference (else a bug is printed).
 * Each JS loop is a function of its own, called with one kind of table, as a hot caller in the simulator
 * would be: V8 can then inline the format's method into it (a call it cannot inline costs ~10-20 ns more,
 * mostly boxing the 64-bit IOVA and the result as heap numbers). One layout per JS process keeps every
 * loop monomorphic in its table (the dense and sparse LPAE tables share the loop functions).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { getFormat } from '../src/formats/index.js';
import { IOMMU_READ, IOMMU_WRITE, type PageTable, type PageTableFormat, type TableHost } from '../src/formats/types.js';
import { PhysMem } from '../src/mem/phys-mem.js';
import { compileKernelC, findKernelTree, flagValue, type KernelBuild } from './kernel-tree.js';

/** Seeded xorshift32: the bench is repeatable run to run (only the clock varies). */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const BATCHES = 7;
const BATCH_MS = 40;

/**
 * Best CPU ns per operation of `run` (which performs `ops` operations per call) over BATCHES batches of
 * at least BATCH_MS each.
 */
export function bestNs(ops: number, run: () => number): number {
  let best = Infinity;
  let sink = 0;
  for (let b = 0; b < BATCHES; b++) {
    let reps = 0;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    do {
      sink += run();
      reps++;
    } while (performance.now() - t0 < BATCH_MS);
    const c = process.cpuUsage(c0);
    best = Math.min(best, ((c.user + c.system) * 1000) / (reps * ops));
  }
  if (sink === -1) console.log(''); // keeps the results observable
  return best;
}

/** A bump allocator of naturally aligned, zeroed table pages. */
export class BenchHost implements TableHost {
  next: number;
  constructor(
    readonly mem: PhysMem,
    readonly base: number,
  ) {
    this.next = base;
  }
  allocTable(size: number, align: number): number | null {
    const a = Math.max(align, 4096);
    const pa = Math.ceil(this.next / a) * a;
    this.next = pa + Math.max(size, 4096);
    return pa;
  }
  freeTable(): void {}
}

const RW = IOMMU_READ | IOMMU_WRITE;

// ------------------------------------------------------------------ the JS loops (one function each)

function lpaeTranslate(t: PageTable, iovas: Float64Array): number {
  let s = 0;
  for (let i = 0; i < iovas.length; i++) s += t.iovaToPhys(iovas[i]);
  return s;
}
function lpaeWalk(fmt: PageTableFormat, mem: PhysMem, t: PageTable, iovas: Float64Array): number {
  const params = { roots: t.roots, cfg: t.cfg };
  let s = 0;
  for (let i = 0; i < iovas.length; i++) s += fmt.walk(mem, params, iovas[i]).phys ?? 0;
  return s;
}
function lpaeMap(t: PageTable, iovas: Float64Array, pas: Float64Array, pg: number): number {
  let r = 0;
  for (let i = 0; i < iovas.length; i++) r += t.mapPages(iovas[i], pas[i], pg, 1, RW).ret;
  return r;
}
function lpaeUnmap(t: PageTable, iovas: Float64Array, pg: number): number {
  let s = 0;
  for (let i = 0; i < iovas.length; i++) s += t.unmapPages(iovas[i], pg, 1);
  return s;
}
function dartTranslate(t: PageTable, iovas: Float64Array): number {
  let s = 0;
  for (let i = 0; i < iovas.length; i++) s += t.iovaToPhys(iovas[i]);
  return s;
}
function dartWalk(fmt: PageTableFormat, mem: PhysMem, t: PageTable, iovas: Float64Array): number {
  const params = { roots: t.roots, cfg: t.cfg };
  let s = 0;
  for (let i = 0; i < iovas.length; i++) s += fmt.walk(mem, params, iovas[i]).phys ?? 0;
  return s;
}
function dartMap(t: PageTable, iovas: Float64Array, pas: Float64Array, pg: number): number {
  let r = 0;
  for (let i = 0; i < iovas.length; i++) r += t.mapPages(iovas[i], pas[i], pg, 1, RW).ret;
  return r;
}
function dartUnmap(t: PageTable, iovas: Float64Array, pg: number): number {
  let s = 0;
  for (let i = 0; i < iovas.length; i++) s += t.unmapPages(iovas[i], pg, 1);
  return s;
}

/** Map then unmap every page, BATCHES times; best CPU ns per map and per unmap. */
function timeMapUnmap(n: number, map: () => number, unmap: () => number): { map: number; unmap: number } {
  let bm = Infinity;
  let bu = Infinity;
  for (let b = 0; b < BATCHES; b++) {
    const c0 = process.cpuUsage();
    if (map() !== 0) throw new Error('bench: a map failed');
    const c1 = process.cpuUsage();
    unmap();
    const c2 = process.cpuUsage();
    bm = Math.min(bm, ((c1.user - c0.user + c1.system - c0.system) * 1000) / n);
    bu = Math.min(bu, ((c2.user - c1.user + c2.system - c1.system) * 1000) / n);
  }
  return { map: bm, unmap: bu };
}

/** 32-bit FNV-1a of a byte range: the JS and C sides compare the tables they wrote. */
export function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

function shuffled(src: Float64Array, rnd: () => number): Float64Array {
  const a = Float64Array.from(src);
  for (let i = a.length - 1; i > 0; i--) {
    const j = rnd() % (i + 1);
    const x = a[i];
    a[i] = a[j];
    a[j] = x;
  }
  return a;
}

function u64File(values: Float64Array): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    dv.setUint32(i * 8, values[i] >>> 0, true);
    dv.setUint32(i * 8 + 4, Math.floor(values[i] / 2 ** 32), true);
  }
  return out;
}

// ------------------------------------------------------------------ the C side

/**
 * Walkers and mappers written here from the formats (same algorithm, checks and bits as the kernel's
 * io-pgtable code; our code, not the kernel's), over a table image reached through a linear map (a fixed
 * offset from physical address to buffer, as the kernel's __va()). Modes:
 *   walk-lpae | walk-dart  IMAGE BASE ROOT IOVAS          -> "ns_per_op checksum"
 *   map-lpae  | map-dart   IMAGE BASE ROOT IOVAS PAS      -> "map_ns unmap_ns fnv1a_of_image_after_map"
 */
const C_SOURCE = String.raw`
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint8_t *image;
static uint64_t image_base, image_len, next_table;

static inline uint64_t *va(uint64_t pa) { return (uint64_t *)(image + (pa - image_base)); }

/* ---- arm-64-lpae-s1, 4K granule, ias/oas 48, start level 0, coherent walk, no quirks ---- */
#define LPAE_ADDR 0x0000fffffffff000ull

static uint64_t __attribute__((noinline)) lpae_iova_to_phys(uint64_t root, uint64_t iova)
{
	uint64_t *table = va(root);
	for (int lvl = 0; lvl < 4; lvl++) {
		int shift = 39 - 9 * lvl;
		uint64_t pte = table[(iova >> shift) & 511];
		if (!pte)
			return 0;
		if (lvl == 3 ? (pte & 3) == 3 : (pte & 3) == 1)
			return (pte & LPAE_ADDR) | (iova & ((1ull << shift) - 1));
		table = va(pte & LPAE_ADDR);
	}
	return 0;
}

/* Stage-1 prot -> descriptor bits: nG, AP[2:1], AttrIndx, SH, XN, AF (as arm_lpae_prot_to_pte). */
static uint64_t lpae_prot(int prot)
{
	uint64_t pte = 1ull << 11; /* nG */
	if (!(prot & 2) && (prot & 1))
		pte |= 1ull << 7; /* AP read-only */
	if (!(prot & 32))
		pte |= 1ull << 6; /* AP unprivileged */
	if (prot & 16)
		pte |= 2ull << 2; /* AttrIndx device */
	else if (prot & 4)
		pte |= 1ull << 2; /* AttrIndx cacheable */
	pte |= (prot & 4) ? 3ull << 8 : 2ull << 8; /* SH inner / outer */
	if (prot & 8)
		pte |= 3ull << 53; /* XN */
	return pte | 1ull << 10; /* AF */
}

static uint64_t alloc_table(uint64_t size)
{
	uint64_t pa = (next_table + size - 1) & ~(size - 1);
	if (pa + size > image_base + image_len) { fprintf(stderr, "out of table space\n"); exit(1); }
	next_table = pa + size;
	memset(va(pa), 0, size);
	return pa;
}

/* map_pages of one 4K page: the checks, prot conversion and level walk of the kernel's map path. */
static int __attribute__((noinline)) lpae_map(uint64_t root, uint64_t iova, uint64_t paddr, uint64_t pgsize, int prot)
{
	if (!pgsize || (pgsize & 0x40201000ull) != pgsize)
		return -22;
	if (iova >> 48 || paddr >> 48)
		return -34;
	if (!(prot & 3))
		return -22;
	uint64_t bits = lpae_prot(prot);
	uint64_t *table = va(root);
	for (int lvl = 0; lvl < 3; lvl++) {
		uint64_t *ptep = table + ((iova >> (39 - 9 * lvl)) & 511);
		uint64_t pte = *ptep;
		if (!pte) {
			pte = alloc_table(4096) | 3;
			*ptep = pte;
		} else if ((pte & 3) == 1) {
			return -17;
		}
		table = va(pte & LPAE_ADDR);
	}
	uint64_t *ptep = table + ((iova >> 12) & 511);
	if ((*ptep & 3) == 3)
		return -17;
	*ptep = bits | 3 | (paddr & LPAE_ADDR);
	return 0;
}

static uint64_t __attribute__((noinline)) lpae_unmap(uint64_t root, uint64_t iova, uint64_t pgsize)
{
	if (!pgsize || (pgsize & 0x40201000ull) != pgsize || iova >> 48)
		return 0;
	uint64_t *table = va(root);
	for (int lvl = 0; lvl < 3; lvl++) {
		uint64_t pte = table[(iova >> (39 - 9 * lvl)) & 511];
		if (!pte || (pte & 3) == 1)
			return 0; /* (a block would be split here; the bench maps none) */
		table = va(pte & LPAE_ADDR);
	}
	uint64_t *ptep = table + ((iova >> 12) & 511);
	if (!*ptep)
		return 0;
	*ptep = 0;
	return 4096;
}

/* ---- apple-dart (DART1), 16K granule, ias 32, oas 36, one TTBR ---- */
#define DART_ADDR 0x0000000ffffff000ull

static uint64_t __attribute__((noinline)) dart_iova_to_phys(uint64_t root, uint64_t iova)
{
	uint64_t l1 = va(root)[(iova >> 25) & 2047];
	if (!l1)
		return 0;
	uint64_t pte = va(l1 & DART_ADDR)[(iova >> 14) & 2047];
	if (!pte)
		return 0;
	return (pte & DART_ADDR) | (iova & 0x3fff);
}

static int __attribute__((noinline)) dart_map(uint64_t root, uint64_t iova, uint64_t paddr, uint64_t pgsize, int prot)
{
	if (pgsize != 0x4000)
		return -22;
	if (paddr >> 36)
		return -34;
	if (!(prot & 3))
		return -22;
	uint64_t *l1 = va(root) + ((iova >> 25) & 2047);
	uint64_t pte = *l1;
	if (!pte) {
		pte = alloc_table(0x4000) | 1; /* address | valid */
		*l1 = pte;
	}
	uint64_t *ptep = va(pte & DART_ADDR) + ((iova >> 14) & 2047);
	if (*ptep & 1)
		return -17;
	uint64_t bits = ((prot & 2) ? 0 : 1ull << 7) | ((prot & 1) ? 0 : 1ull << 8); /* no-write, no-read */
	*ptep = (paddr & DART_ADDR) | bits | 2 | 1 | (0xfffull << 40); /* SP_DIS, valid, subpage end */
	return 0;
}

static uint64_t __attribute__((noinline)) dart_unmap(uint64_t root, uint64_t iova, uint64_t pgsize)
{
	if (pgsize != 0x4000)
		return 0;
	uint64_t l1 = va(root)[(iova >> 25) & 2047];
	if (!l1)
		return 0;
	uint64_t *ptep = va(l1 & DART_ADDR) + ((iova >> 14) & 2047);
	if (!*ptep)
		return 0;
	*ptep = 0;
	return pgsize;
}

/* ---- driver ---- */
static uint8_t *slurp(const char *path, size_t *len, size_t spare)
{
	FILE *f = fopen(path, "rb");
	if (!f) { perror(path); exit(1); }
	fseek(f, 0, SEEK_END);
	*len = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = calloc(1, *len + spare);
	if (fread(p, 1, *len, f) != *len) { perror(path); exit(1); }
	fclose(f);
	return p;
}

static double cpu_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
	const char *mode = argv[1];
	size_t ilen, n;
	const size_t spare = 1 << 20;
	image = slurp(argv[2], &ilen, spare);
	image_base = strtoull(argv[3], NULL, 0);
	image_len = ilen + spare;
	next_table = image_base + ilen;
	uint64_t root = strtoull(argv[4], NULL, 0);
	uint64_t *iovas = (uint64_t *)slurp(argv[5], &n, 0);
	n /= 8;
	int lpae = strstr(mode, "lpae") != NULL;
	if (!strncmp(mode, "walk", 4)) {
		uint64_t sum = 0;
		double best = 1e30;
		for (int b = 0; b < 7; b++) {
			long reps = 0;
			double c0 = cpu_ns(), c;
			do {
				for (size_t i = 0; i < n; i++)
					sum += lpae ? lpae_iova_to_phys(root, iovas[i]) : dart_iova_to_phys(root, iovas[i]);
				reps++;
				c = cpu_ns() - c0;
			} while (c < 4e7);
			if (c / (reps * (double)n) < best)
				best = c / (reps * (double)n);
		}
		uint64_t one = 0;
		for (size_t i = 0; i < n; i++)
			one += lpae ? lpae_iova_to_phys(root, iovas[i]) : dart_iova_to_phys(root, iovas[i]);
		printf("%.3f %llu\n", best, (unsigned long long)one);
		return sum == 1; /* keeps sum observable */
	}
	size_t np;
	uint64_t *pas = (uint64_t *)slurp(argv[6], &np, 0);
	uint64_t pg = lpae ? 4096 : 0x4000;
	double bm = 1e30, bu = 1e30;
	for (int b = 0; b < 7; b++) {
		double c0 = cpu_ns();
		for (size_t i = 0; i < n; i++)
			if ((lpae ? lpae_map(root, iovas[i], pas[i], pg, 3) : dart_map(root, iovas[i], pas[i], pg, 3)) != 0) { fprintf(stderr, "map failed\n"); return 1; }
		double c1 = cpu_ns();
		for (size_t i = 0; i < n; i++)
			lpae ? lpae_unmap(root, iovas[i], pg) : dart_unmap(root, iovas[i], pg);
		double c2 = cpu_ns();
		if ((c1 - c0) / n < bm) bm = (c1 - c0) / n;
		if ((c2 - c1) / n < bu) bu = (c2 - c1) / n;
	}
	for (size_t i = 0; i < n; i++)
		lpae ? lpae_map(root, iovas[i], pas[i], pg, 3) : dart_map(root, iovas[i], pas[i], pg, 3);
	uint32_t h = 0x811c9dc5;
	for (size_t i = 0; i < ilen; i++)
		h = (h ^ image[i]) * 0x01000193u;
	printf("%.3f %.3f %u\n", bm, bu, h);
	return 0;
}
`;

export function haveCc(): boolean {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Compiled C program path (in a temp dir), or null without a compiler; the caller removes the dir. */
function compileC(dir: string): string | null {
  if (!haveCc()) return null;
  writeFileSync(join(dir, 'bench.c'), C_SOURCE);
  execFileSync('cc', ['-O2', '-o', join(dir, 'bench'), join(dir, 'bench.c')], { stdio: 'pipe' });
  return join(dir, 'bench');
}

/** Runs our C program in `dir` (its input files are there); the words it prints. */
function runC(exe: string, args: string[], dir: string): string[] {
  const out = execFileSync(exe, args, { encoding: 'utf8', timeout: 120_000, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  return out.trim().split(/\s+/);
}

/** Runs the harness on one layout in `dir` (its input files are there); its name=value output as a record. */
function runKernel(k: KernelBuild, args: string[], dir: string): Record<string, string> {
  const out = execFileSync(k.exe, args, { encoding: 'utf8', timeout: 300_000, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const rec: Record<string, string> = {};
  for (const kv of out.trim().split(/\s+/)) {
    const eq = kv.indexOf('=');
    if (eq > 0) rec[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return rec;
}

// ------------------------------------------------------------------ layouts

const N = 1 << 16;

interface Built {
  t: PageTable;
  mem: PhysMem;
  host: BenchHost;
  iovas: Float64Array;
  pas: Float64Array;
  /** Size of the PhysMem region the tables are allocated from (the kernel harness gets the same). */
  region: number;
}

/** arm-64-lpae-s1 4K: `dense` = 65536 contiguous pages; `sparse` = 32-page chunks spread over 1 TiB. */
function buildLpae(layout: 'dense' | 'sparse'): Built {
  const TBASE = 0x40_0000_0000; // tables at 256 GiB, above 4 GiB as on a big board
  const mem = new PhysMem([{ base: TBASE, size: 256 * 1024 * 1024 }]); // = region below
  const host = new BenchHost(mem, TBASE);
  const t = getFormat('arm-64-lpae-s1').create({ granule: 4096, ias: 48, oas: 48, coherentWalk: true }, host) as PageTable;
  const rnd = prng(0x1a9ae);
  const iovas = new Float64Array(N);
  const seen = new Set<number>();
  let k = 0;
  while (k < N) {
    const base = layout === 'dense' ? 0x100_0000_0000 + k * 0x1000 : (rnd() % (1 << 23)) * 0x20000 + 0x100_0000_0000;
    if (seen.has(base)) continue;
    seen.add(base);
    for (let j = 0; j < (layout === 'dense' ? 1 : 32); j++) iovas[k++] = base + j * 0x1000;
  }
  const pas = new Float64Array(N).map((_, i) => 0x1_0000_0000 + i * 0x1000);
  return { t, mem, host, iovas, pas, region: 256 * 1024 * 1024 };
}

function buildDart(): Built {
  const TBASE = 0x8_0000_0000; // tables above 4 GiB (M1 RAM starts at 0x8_0000_0000)
  const mem = new PhysMem([{ base: TBASE, size: 64 * 1024 * 1024 }]); // = region below
  const host = new BenchHost(mem, TBASE);
  const t = getFormat('apple-dart').create({ granule: 16384, ias: 32, oas: 36 }, host) as PageTable;
  const G = 0x4000;
  const rnd = prng(0xda27);
  const iovas = new Float64Array(N); // 1 GiB of 16K pages in 8-page chunks over the 4 GiB IOVA space
  const seen = new Set<number>();
  let k = 0;
  while (k < N) {
    const base = (rnd() % (1 << 15)) * 0x20000;
    if (seen.has(base)) continue;
    seen.add(base);
    for (let j = 0; j < 8; j++) iovas[k++] = base + j * G;
  }
  const pas = new Float64Array(N).map((_, i) => 0x9_0000_0000 + i * G);
  return { t, mem, host, iovas, pas, region: 64 * 1024 * 1024 };
}

interface Ops {
  translate(t: PageTable, iovas: Float64Array): number;
  walk(fmt: PageTableFormat, mem: PhysMem, t: PageTable, iovas: Float64Array): number;
  map(t: PageTable, iovas: Float64Array, pas: Float64Array, pg: number): number;
  unmap(t: PageTable, iovas: Float64Array, pg: number): number;
}
const LPAE_OPS: Ops = { translate: lpaeTranslate, walk: lpaeWalk, map: lpaeMap, unmap: lpaeUnmap };
const DART_OPS: Ops = { translate: dartTranslate, walk: dartWalk, map: dartMap, unmap: dartUnmap };

/** One table layout of one format: the unit a JS child process measures. */
interface Layout {
  /** Its name for `--js-child` and its temp subdirectory. */
  key: string;
  section: string;
  fmtName: string;
  build(): Built;
  /** Page size mapped and unmapped. */
  pg: number;
  ops: Ops;
  /** The C sides' format name. */
  cMode: 'lpae' | 'dart';
  /** Whether map/unmap rows are measured (the dense layout only translates). */
  withMap: boolean;
  /** Seed of the shuffled translation order. */
  seed: number;
}

const LAYOUTS: Layout[] = [
  { key: 'dense', section: 'lpae-s1 4K dense', fmtName: 'arm-64-lpae-s1', build: () => buildLpae('dense'), pg: 0x1000, ops: LPAE_OPS, cMode: 'lpae', withMap: false, seed: 0xbe7c4 },
  { key: 'sparse', section: 'lpae-s1 4K sparse', fmtName: 'arm-64-lpae-s1', build: () => buildLpae('sparse'), pg: 0x1000, ops: LPAE_OPS, cMode: 'lpae', withMap: true, seed: 0xbe7c5 },
  { key: 'dart', section: 'dart 16K', fmtName: 'apple-dart', build: buildDart, pg: 0x4000, ops: DART_OPS, cMode: 'dart', withMap: true, seed: 0xda27 },
];

/** What every process that runs the JS side does first: build, map every page (allocating tables). */
interface FirstPass {
  b: Built;
  /** CPU ns per map of that pass. */
  allocNs: number;
  /** The mapped IOVAs shuffled, each plus a small offset: the translation order of every side. */
  order: Float64Array;
  allocHash: number;
  allocEnd: number;
  /** Sum of iovaToPhys over `order`, mod 2^64: every side's translations must add up to it. */
  jsSum: bigint;
  /** The table region's bytes as they are now. */
  image(): Uint8Array;
}

function firstPass(L: Layout): FirstPass {
  const b = L.build();
  const { t, mem, host, iovas, pas } = b;
  const c0 = process.cpuUsage();
  if (L.ops.map(t, iovas, pas, L.pg) !== 0) throw new Error('bench: a map failed');
  const c1 = process.cpuUsage();
  const allocNs = ((c1.user - c0.user + c1.system - c0.system) * 1000) / N;
  const order = shuffled(iovas, prng(L.seed)).map((v, i) => v + ((i * 8) & (L.pg - 1)));
  const image = (): Uint8Array => mem.readBytes(host.base, host.next - host.base) as Uint8Array;
  const allocHash = fnv1a(image());
  let jsSum = 0n;
  for (let i = 0; i < N; i++) jsSum += BigInt(t.iovaToPhys(order[i]));
  return { b, allocNs, order, allocHash, allocEnd: host.next, jsSum: BigInt.asUintN(64, jsSum), image };
}

// ------------------------------------------------------------------ the JS side, in a child process

/** What a JS child prints (one JSON line): its timings and what its tables and translations came to. */
interface JsSample {
  allocNs: number;
  trNs: number;
  wkNs: number;
  mapNs: number | null;
  unmapNs: number | null;
  root: number;
  allocHash: number;
  allocEnd: number;
  /** jsSum as a decimal string (JSON has no 64-bit integers). */
  jsSum: string;
  /** Hash of the tables after the map/unmap rounds and a final map, or null without map rows. */
  jsHash: number | null;
}

/**
 * The JS measurement of one layout, in the order the single-process bench always took it: first map
 * (allocating), translations, walk(), then steady-state map/unmap rounds. Run in a fresh node process
 * per layout and round (`--js-child KEY`), so each round gets its own V8, JIT decisions and CPU placement.
 */
function measureJs(L: Layout): JsSample {
  const p = firstPass(L);
  const { t, mem, iovas, pas } = p.b;
  const fmt = getFormat(L.fmtName);
  const trNs = bestNs(N, () => L.ops.translate(t, p.order));
  const wkNs = bestNs(N, () => L.ops.walk(fmt, mem, t, p.order));
  let mapNs: number | null = null;
  let unmapNs: number | null = null;
  let jsHash: number | null = null;
  if (L.withMap) {
    // Steady state: unmap everything (tables stay), then map/unmap rounds.
    L.ops.unmap(t, iovas, L.pg);
    const mu = timeMapUnmap(
      N,
      () => L.ops.map(t, iovas, pas, L.pg),
      () => L.ops.unmap(t, iovas, L.pg),
    );
    L.ops.map(t, iovas, pas, L.pg);
    jsHash = fnv1a(p.image());
    mapNs = mu.map;
    unmapNs = mu.unmap;
  }
  return { allocNs: p.allocNs, trNs, wkNs, mapNs, unmapNs, root: t.roots[0], allocHash: p.allocHash, allocEnd: p.allocEnd, jsSum: p.jsSum.toString(), jsHash };
}

/** Runs `measureJs` for one layout in a new node process (this script with --js-child). */
function runJsChild(L: Layout): JsSample {
  const self = fileURLToPath(import.meta.url);
  let out: string;
  try {
    out = execFileSync(process.execPath, [...process.execArgv, self, '--js-child', L.key], { encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`bench: the JS child for ${L.section} failed: ${firstError(e)}`, { cause: e });
  }
  return JSON.parse(out.trim().split('\n').pop() ?? '') as JsSample;
}

// ------------------------------------------------------------------ the reference run and the rounds

/** One layout as the parent prepared it: the C sides' input files and the values every round must reproduce. */
interface Prepared {
  L: Layout;
  /** Its temp subdirectory: iovas.bin, pas.bin, order.bin, full.bin (tables after the first map), empty.bin (after unmapping all). */
  dir: string;
  root: number;
  base: number;
  region: number;
  allocHash: number;
  allocEnd: number;
  jsSum: bigint;
  jsHash: number | null;
}

/** Builds one layout (untimed) in the parent and writes the C sides' inputs. */
function prepare(L: Layout, top: string): Prepared {
  const p = firstPass(L);
  const { t, host, iovas, pas } = p.b;
  const dir = join(top, L.key);
  mkdirSync(dir);
  writeFileSync(join(dir, 'iovas.bin'), u64File(iovas));
  writeFileSync(join(dir, 'pas.bin'), u64File(pas));
  writeFileSync(join(dir, 'order.bin'), u64File(p.order));
  writeFileSync(join(dir, 'full.bin'), p.image());
  let jsHash: number | null = null;
  if (L.withMap) {
    L.ops.unmap(t, iovas, L.pg);
    writeFileSync(join(dir, 'empty.bin'), p.image());
    if (L.ops.map(t, iovas, pas, L.pg) !== 0) throw new Error('bench: a map failed');
    jsHash = fnv1a(p.image());
  }
  return { L, dir, root: t.roots[0], base: host.base, region: p.b.region, allocHash: p.allocHash, allocEnd: p.allocEnd, jsSum: p.jsSum, jsHash };
}

const hex = (v: number): string => '0x' + v.toString(16);

/** One line of the result table: every round's figure for each side. */
export interface Row {
  section: string;
  what: string;
  /** JS CPU ns per operation, one per round (each a fresh process's best batch). */
  js: number[];
  /** Our hand-written C's, one per round; empty when not measured (no counterpart, no cc). */
  c: number[];
  /** The kernel's own C (io-pgtable-*.c), one per round that ran; empty when not measured. */
  k: number[];
  /** Target ratio JS/C, or null when the issue sets none. */
  target: number | null;
  /** Problems found in any round (bugs) and remarks; printed once each. */
  notes: string[];
}

function note(r: Row, text: string): void {
  if (!r.notes.includes(text)) r.notes.push(text);
}

/** What the kernel's map_pages built for one layout, over all rounds, for the summary under the table. */
interface KernelCheck {
  section: string;
  /** Rounds the harness ran in (and was compared). */
  compared: number;
  /** What differed, per round ("round 2: hash ... vs JS ..."). */
  bad: string[];
  /** Why the harness failed, per round. */
  failed: string[];
}

/** The rows of one layout, filled round by round. */
interface LayoutRows {
  tr: Row;
  wk: Row;
  map: Row | null;
  unmap: Row | null;
  alloc: Row | null;
  check: KernelCheck;
}

function layoutRows(L: Layout): LayoutRows {
  const row = (what: string, target: number | null, notes: string[] = []): Row => ({ section: L.section, what, js: [], c: [], k: [], target, notes });
  const pk = `${L.pg / 1024}K`;
  return {
    tr: row('iova_to_phys (mapped IOVA)', 2),
    wk: row('walk() with every step', null),
    map: L.withMap ? row(`map_pages ${pk}, tables present`, 3) : null,
    unmap: L.withMap ? row(`unmap_pages ${pk}`, null) : null,
    alloc: L.withMap ? row(`map_pages ${pk}, allocating tables`, null, ['one pass']) : null,
    check: { section: L.section, compared: 0, bad: [], failed: [] },
  };
}

/** The C programs (either may be null: not built). */
interface CSides {
  own: string | null;
  kernel: KernelBuild | null;
}

/** The kernel's code on one layout in a fresh process: builds its own tables from the same pairs, times the same operations. */
function kernelRound(k: KernelBuild, P: Prepared, R: LayoutRows, round: number): void {
  let kr: Record<string, string>;
  try {
    kr = runKernel(k, [P.L.cMode, hex(P.base), hex(P.region), 'iovas.bin', 'pas.bin', 'order.bin', String(P.allocEnd - P.base)], P.dir);
  } catch (e) {
    note(R.tr, 'KERNEL HARNESS FAILED, see below');
    R.check.failed.push(`round ${round}: kernel harness failed: ${firstError(e)}`);
    return;
  }
  R.check.compared++;
  const hashOk = Number(kr.hash) === P.allocHash;
  const sameAlloc = Number(kr.root) === P.root && Number(kr.end) === P.allocEnd;
  const bad: string[] = [];
  if (!sameAlloc) bad.push(`root/end ${kr.root}/${kr.end} vs JS ${hex(P.root)}/${hex(P.allocEnd)}`);
  if (!hashOk) bad.push(`hash ${hex(Number(kr.hash))} vs JS ${hex(P.allocHash)}`);
  if (kr.warnings !== '0') bad.push(`${kr.warnings} WARN_ON`);
  if (bad.length) R.check.bad.push(`round ${round}: ${bad.join('; ')}`);
  if (!hashOk || !sameAlloc) note(R.tr, 'KERNEL TABLES DIFFER: bug');
  if (BigInt(kr.checksum) !== P.jsSum) note(R.tr, 'KERNEL CHECKSUM DIFFERS: bug');
  R.tr.k.push(Number(kr.walk_ns));
  if (R.map && R.unmap && R.alloc) {
    if (Number(kr.hash2) !== P.jsHash) note(R.map, 'KERNEL TABLES DIFFER: bug');
    R.map.k.push(Number(kr.map_ns));
    R.unmap.k.push(Number(kr.unmap_ns));
    R.alloc.k.push(Number(kr.alloc_ns));
  }
}

/** Our own C on one layout: a fresh process for the walk and one for map/unmap. */
function ownRound(exe: string, P: Prepared, R: LayoutRows): void {
  const [ns, sum] = runC(exe, [`walk-${P.L.cMode}`, 'full.bin', hex(P.base), hex(P.root), 'order.bin'], P.dir);
  R.tr.c.push(Number(ns));
  if (BigInt(sum) !== P.jsSum) note(R.tr, 'C CHECKSUM DIFFERS: bug');
  if (R.map && R.unmap) {
    const [m, u, h] = runC(exe, [`map-${P.L.cMode}`, 'empty.bin', hex(P.base), hex(P.root), 'iovas.bin', 'pas.bin'], P.dir);
    R.map.c.push(Number(m));
    R.unmap.c.push(Number(u));
    if (Number(h) !== P.jsHash) note(R.map, 'C TABLES DIFFER: bug');
  }
}

/** The JS side of one layout in a fresh node process; its tables and sums must equal the parent's. */
function jsRound(P: Prepared, R: LayoutRows): void {
  const s = runJsChild(P.L);
  R.tr.js.push(s.trNs);
  R.wk.js.push(s.wkNs);
  if (s.root !== P.root || s.allocHash !== P.allocHash || s.allocEnd !== P.allocEnd || BigInt(s.jsSum) !== P.jsSum) note(R.tr, 'JS RESULT DIFFERS BETWEEN PROCESSES: bug');
  if (R.map && R.unmap && R.alloc && s.mapNs !== null && s.unmapNs !== null) {
    R.map.js.push(s.mapNs);
    R.unmap.js.push(s.unmapNs);
    R.alloc.js.push(s.allocNs);
    if (s.jsHash !== P.jsHash) note(R.map, 'JS RESULT DIFFERS BETWEEN PROCESSES: bug');
  }
}

// ------------------------------------------------------------------ the table

function fmtNs(ns: number | null): string {
  if (ns === null) return '-';
  return ns >= 100 ? ns.toFixed(0) : ns.toFixed(1);
}
function fmtOps(ns: number): string {
  const r = 1e9 / ns;
  if (r >= 1e6) return `${(r / 1e6).toFixed(2)} M/s`;
  return `${(r / 1e3).toFixed(0)} k/s`;
}
function best(v: number[]): number | null {
  return v.length ? Math.min(...v) : null;
}
/** min-max over the rounds ("-" with fewer than two). */
function spread(v: number[]): string {
  return v.length < 2 ? '-' : `${fmtNs(Math.min(...v))}-${fmtNs(Math.max(...v))}`;
}

/**
 * The result table. Each side's figure is its best round (min), next to its spread over the rounds;
 * JS/C and met compare the best JS with the best C. `versus` is the C they are taken against: the
 * kernel's own code when it was built (the issue's definition), else our hand-written C.
 */
export function table(rows: Row[], versus: 'kernel' | 'own'): string[] {
  const head = ['benchmark', 'JS ops/s', 'JS ns/op', 'spread', 'kernel C', 'spread', 'own C', 'spread', 'JS/C', 'target', 'met'];
  const body = rows.map((r) => {
    const js = best(r.js);
    const ref = best(versus === 'kernel' ? r.k : r.c);
    const ratio = js !== null && ref !== null ? js / ref : null;
    const met = r.target === null || ratio === null ? '-' : ratio <= r.target ? 'yes' : 'no';
    return [
      `${r.section}: ${r.what}`,
      js === null ? '-' : fmtOps(js),
      fmtNs(js),
      spread(r.js),
      fmtNs(best(r.k)),
      spread(r.k),
      fmtNs(best(r.c)),
      spread(r.c),
      // Two decimals below 10x: a ratio of 2.04 must not print as '2.0x' next to a 'no' for '<= 2x'.
      ratio === null ? '-' : `${ratio.toFixed(ratio < 10 ? 2 : 1)}x`,
      r.target === null ? '-' : `<= ${r.target}x`,
      met + (r.notes.length ? ` (${r.notes.join('; ')})` : ''),
    ];
  });
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(w[i]) : c.padStart(w[i])))
      .join('  ')
      .trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)];
}

/** First line of a failed command's stderr (cc's first error), else of the error message. */
function firstError(e: unknown): string {
  const err = e as Error & { stderr?: Buffer | string };
  const text = err.stderr ? String(err.stderr) : '';
  const line = text.split('\n').find((l) => /error|fatal/i.test(l)) ?? text.split('\n')[0];
  return (line || err.message.split('\n')[0]).trim();
}


const DEFAULT_ROUNDS = 5;

function main(): void {
  const argv = process.argv.slice(2);
  const child = flagValue(argv, '--js-child');
  if (child !== undefined) {
    const L = LAYOUTS.find((l) => l.key === child);
    if (!L) throw new Error(`bench: --js-child ${child}: no such layout`);
    process.stdout.write(JSON.stringify(measureJs(L)) + '\n');
    return;
  }
  const roundsArg = flagValue(argv, '--rounds');
  const rounds = roundsArg === undefined ? DEFAULT_ROUNDS : Number(roundsArg);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) {
    console.error(`bench: --rounds needs a whole number from 1 to 50 (got '${roundsArg}')`);
    process.exitCode = 2;
    return;
  }
  const t0 = performance.now();
  const cpu = cpus();
  console.log(`iommu-lab bench - CPU: ${cpu[0]?.model ?? 'unknown'} (${cpu.length} cores), Node ${process.version}, ${process.platform}/${process.arch}`);
  console.log(`${rounds} round${rounds > 1 ? 's' : ''}. In each round every layout is measured by a fresh process per side, JS (a new node process) between`);
  console.log('kernel C and own C; each process reports its best of 7 batches of CPU time per operation. Shown per side: the best');
  console.log('round (min) and the spread min-max over the rounds - this machine\'s run-to-run noise. JS/C and met: best JS over');
  console.log('best C, both sides at their least disturbed. C sides: cc -O2 over the same IOVAs and physical addresses.');
  const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-bench-'));
  try {
    const cc = haveCc();
    let exe: string | null = null;
    let kernel: KernelBuild | null = null;
    let problem: string | undefined;
    if (!cc) console.log('no cc on this machine: no C baseline, ratios not measured');
    else {
      try {
        exe = compileC(dir);
      } catch (e) {
        console.log(`own C not compiled (${firstError(e)})`);
      }
      const found = findKernelTree(argv, process.env);
      const tree = found.tree;
      problem = found.problem;
      if (problem) console.log(problem);
      if (tree) {
        try {
          kernel = compileKernelC(tree, dir, 'harness.c', 'kernel-harness');
        } catch (e) {
          console.log(`kernel C not built from ${tree.path}: ${firstError(e)}`);
        }
      }
    }
    const versus = kernel ? 'kernel' : 'own';
    if (kernel) {
      console.log(`kernel C: io-pgtable.c, io-pgtable-arm.c, io-pgtable-dart.c of ${kernel.label}, unmodified, with bench/kernel-c shims`);
      console.log('JS/C and met: JS against the kernel\'s own code (issue 3 item 7). own C: our hand-written walkers (a floor).');
    } else if (cc) {
      if (!problem) console.log('no Linux 6.12 tree found (--kernel-src PATH, IOMMU_LAB_KERNEL_SRC, /usr/src/linux-source-6.12.tar.xz, /usr/src/linux-source-6.12/)');
      console.log('JS/C and met: against OUR HAND-WRITTEN C (constant shifts, fixed start level; faster than the kernel\'s code), not the');
      console.log('issue\'s yardstick - see bench/README.md for getting the kernel source (apt-get install linux-source-6.12).');
    }
    console.log('');
    const c: CSides = { own: exe, kernel };
    const prepared = LAYOUTS.map((L) => prepare(L, dir));
    const rows = LAYOUTS.map(layoutRows);
    for (let r = 1; r <= rounds; r++) {
      for (let i = 0; i < LAYOUTS.length; i++) {
        const P = prepared[i];
        const R = rows[i];
        // JS between the two C sides, their order swapped every round: a slow spell lands on both.
        const kernelSide = (): void => {
          if (c.kernel) kernelRound(c.kernel, P, R, r);
        };
        const ownSide = (): void => {
          if (c.own) ownRound(c.own, P, R);
        };
        const [before, after] = r % 2 === 1 ? [kernelSide, ownSide] : [ownSide, kernelSide];
        before();
        jsRound(P, R);
        after();
      }
      if (process.stderr.isTTY) process.stderr.write(`round ${r}/${rounds} done (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
    }
    const all = rows.flatMap((R) => [R.tr, R.wk, ...[R.map, R.unmap, R.alloc].filter((x): x is Row => x !== null)]);
    for (const l of table(all, versus)) console.log(l);
    console.log('\ndense: 65536 contiguous 4K pages (tables fit in cache); sparse: 65536 pages in 32-page chunks over 1 TiB;');
    console.log('dart: 65536 16K pages in 8-page chunks over the 4 GiB IOVA space. Targets: issue 3 item 7.');
    if (kernel) {
      console.log('\nTables built by the kernel\'s map_pages vs ours (same pairs, same order, same table addresses):');
      for (let i = 0; i < LAYOUTS.length; i++) {
        const P = prepared[i];
        const k = rows[i].check;
        const what = k.compared === 0 ? 'not compared' : k.bad.length ? 'DIFFERENT (bug)' : 'bit-identical';
        const detail = k.bad.length
          ? k.bad.join('; ')
          : `${N} maps, ${(P.allocEnd - P.base) / 1024} KiB of tables, FNV-1a 0x${P.allocHash.toString(16).padStart(8, '0')}, root ${hex(P.root)}, ${k.compared === rounds ? (rounds === 1 ? 'in the one round' : `in all ${rounds} rounds`) : `in ${k.compared} of ${rounds} rounds`}`;
        console.log(`  ${k.section}: ${what} - ${[...(k.compared ? [detail] : []), ...k.failed].join('; ')}`);
      }
    }
    console.log(`\nwall time ${((performance.now() - t0) / 1000).toFixed(0)} s (${rounds} round${rounds > 1 ? 's' : ''})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
