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
 * - kernel C, the yardstick (issue 3 item 7: a translation within 2x of "the kernel's own C
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
 * Timing: process CPU time (fairer than wall time on a shared machine), best of several batches for every
 * side, so a batch disturbed by other processes or by V8 compiling in the background does not count.
 * Each JS loop is a function of its own, called with one kind of table, as a hot caller in the simulator
 * would be: V8 can then inline the format's method into it (a call it cannot inline costs ~10-20 ns more,
 * mostly boxing the 64-bit IOVA and the result as heap numbers).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { getFormat } from '../src/formats/index.js';
import { IOMMU_READ, IOMMU_WRITE, type PageTable, type PageTableFormat, type TableHost } from '../src/formats/types.js';
import { PhysMem } from '../src/mem/phys-mem.js';

/** One line of the result table. */
export interface Row {
  section: string;
  what: string;
  /** JS nanoseconds of CPU per operation (best batch). */
  jsNs: number;
  /** Our hand-written C's nanoseconds per operation, or null when not measured (no counterpart, no cc). */
  cNs: number | null;
  /** The kernel's own C (io-pgtable-*.c) nanoseconds per operation, or null when not measured. */
  kNs: number | null;
  /** Target ratio JS/C, or null when the issue sets none. */
  target: number | null;
  note?: string;
}

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

function runC(exe: string | null, dir: string, args: string[], files: Record<string, Uint8Array>): number[] | null {
  if (exe === null) return null;
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
  const out = execFileSync(exe, args.map((a) => (files[a] ? join(dir, a) : a)), { encoding: 'utf8', timeout: 120_000 });
  return out.trim().split(/\s+/).map(Number);
}

// ------------------------------------------------------------------ the kernel's own C

/** Where the kernel's io-pgtable sources come from: a source tree or a linux-source tarball. */
export interface KernelTree {
  kind: 'dir' | 'tar';
  path: string;
  /** How it was chosen (the flag, the environment variable, a default path). */
  via: string;
}

/** The kernel files the build needs, relative to the tree's top (only these are read or extracted). */
export const KERNEL_FILES = [
  'drivers/iommu/io-pgtable.c',
  'drivers/iommu/io-pgtable-arm.c',
  'drivers/iommu/io-pgtable-dart.c',
  'drivers/iommu/io-pgtable-arm.h',
  'drivers/iommu/iommu-pages.h',
  'include/linux/io-pgtable.h',
];
/** The three of them compiled (the headers are found next to them or under include/). */
const KERNEL_UNITS = KERNEL_FILES.filter((f) => f.endsWith('.c'));

function kernelTreeAt(path: string, via: string): KernelTree | null {
  let st;
  try {
    st = statSync(path);
  } catch {
    return null;
  }
  if (st.isDirectory()) return existsSync(join(path, KERNEL_FILES[1])) ? { kind: 'dir', path, via } : null;
  return st.isFile() && /\.tar(\.\w+)?$/.test(path) ? { kind: 'tar', path, via } : null;
}

/**
 * The kernel tree to build from, in the order --kernel-src, IOMMU_LAB_KERNEL_SRC, the tarball the
 * Debian package linux-source-6.12 installs, that tarball extracted. A path given explicitly that holds
 * no tree is reported in `problem` (and not silently replaced by a default).
 */
export function findKernelTree(argv: string[], env: NodeJS.ProcessEnv): { tree: KernelTree | null; problem?: string } {
  let flag: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--kernel-src') flag = argv[i + 1] ?? '';
    else if (argv[i].startsWith('--kernel-src=')) flag = argv[i].slice('--kernel-src='.length);
  }
  const explicit: [string | undefined, string][] = [
    [flag, '--kernel-src'],
    [env.IOMMU_LAB_KERNEL_SRC || undefined, 'IOMMU_LAB_KERNEL_SRC'],
  ];
  for (const [path, via] of explicit) {
    if (path === undefined) continue;
    if (path === '') return { tree: null, problem: `${via} needs a PATH (a kernel tree or a .tar.xz of one)` };
    const tree = kernelTreeAt(resolve(path), via);
    if (tree) return { tree };
    return { tree: null, problem: `${via} ${path}: neither a kernel tree (with ${KERNEL_FILES[1]}) nor a .tar.* of one` };
  }
  for (const path of ['/usr/src/linux-source-6.12.tar.xz', '/usr/src/linux-source-6.12']) {
    const tree = kernelTreeAt(path, 'default path');
    if (tree) return { tree };
  }
  return { tree: null };
}

/** "6.12.117" from the tree's top Makefile, or null when the tree has none. */
function kernelVersion(makefile: string): string | null {
  if (!existsSync(makefile)) return null;
  const text = readFileSync(makefile, 'utf8');
  const v = (name: string): string => new RegExp(`^${name}[ \\t]*=[ \\t]*(\\S*)`, 'm').exec(text)?.[1] ?? '';
  return v('VERSION') ? `${v('VERSION')}.${v('PATCHLEVEL')}.${v('SUBLEVEL')}${v('EXTRAVERSION')}` : null;
}

/**
 * Copies (tree) or extracts (tarball: only these members, with tar) the kernel files into dir/kernel,
 * keeping their relative paths so the files' quoted includes find their neighbours. Returns the staged
 * top and the kernel version if the tree records one.
 */
function stageKernel(tree: KernelTree, dir: string): { top: string; version: string | null } {
  const top = join(dir, 'kernel');
  mkdirSync(top, { recursive: true });
  if (tree.kind === 'dir') {
    for (const f of [...KERNEL_FILES, 'Makefile']) {
      const src = join(tree.path, f);
      if (!existsSync(src)) continue;
      mkdirSync(dirname(join(top, f)), { recursive: true });
      copyFileSync(src, join(top, f));
    }
  } else {
    // The tarball's members sit under one top directory (linux-source-6.12/): match it with '*' and
    // strip it. tar exits non-zero when a pattern matches nothing; what is missing is checked below.
    const patterns = [...KERNEL_FILES, 'Makefile'].map((f) => `*/${f}`);
    try {
      execFileSync('tar', ['-xf', tree.path, '-C', top, '--strip-components=1', '--wildcards', '--no-wildcards-match-slash', ...patterns], { stdio: 'pipe' });
    } catch {
      // reported by the existence check
    }
  }
  const missing = KERNEL_FILES.filter((f) => !existsSync(join(top, f)));
  if (missing.length) throw new Error(`${tree.path} lacks ${missing.join(', ')}`);
  return { top, version: kernelVersion(join(top, 'Makefile')) };
}

/** bench/kernel-c in the checkout, from this file's place (bench/ when run by tsx, dist/bench/ when built). */
function kernelShimDir(): string | null {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4; up++) {
    for (const cand of [join(d, 'kernel-c'), join(d, 'bench', 'kernel-c')]) if (existsSync(join(cand, 'harness.c'))) return cand;
    d = dirname(d);
  }
  return null;
}

/** The compiled kernel-code harness and a line saying what it was built from. */
export interface KernelBuild {
  exe: string;
  label: string;
}

/**
 * Builds bench/kernel-c/harness.c with the kernel's three io-pgtable units: cc -O2 (plus
 * -fno-strict-aliasing, which the kernel always builds with), our shims first on the include path, the
 * staged kernel include/ second (it holds only linux/io-pgtable.h), the two formats' Kconfig options on.
 */
function compileKernelC(tree: KernelTree, dir: string): KernelBuild {
  const shims = kernelShimDir();
  if (shims === null) throw new Error('bench/kernel-c/harness.c not found next to the bench');
  const { top, version } = stageKernel(tree, dir);
  const exe = join(dir, 'kernel-harness');
  const flags = ['-O2', '-fno-strict-aliasing', '-I', join(shims, 'include'), '-I', join(top, 'include'), '-DCONFIG_IOMMU_IO_PGTABLE_LPAE', '-DCONFIG_IOMMU_IO_PGTABLE_DART'];
  const units = [...KERNEL_UNITS.map((f) => join(top, f)), join(shims, 'kshim.c'), join(shims, 'harness.c')];
  execFileSync('cc', [...flags, '-o', exe, ...units], { stdio: 'pipe' });
  // A partial tree may lack the top Makefile; its directory name (linux-source-6.12) still says which.
  const named = /linux(?:-source)?-(\d+\.\d+(?:\.\d+)?)/.exec(tree.path)?.[1];
  const what = version ? `Linux ${version}` : named ? `Linux ${named} (from the path; no top Makefile)` : 'a Linux tree (version not recorded: no top Makefile)';
  return { exe, label: `${what} from ${tree.path} (${tree.via})` };
}

/** Runs the harness on one layout; its name=value output as a record. */
function runKernel(k: KernelBuild | null, dir: string, args: string[], files: Record<string, Uint8Array>): Record<string, string> | null {
  if (k === null) return null;
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
  const out = execFileSync(k.exe, args.map((a) => (files[a] ? join(dir, a) : a)), { encoding: 'utf8', timeout: 300_000 });
  const rec: Record<string, string> = {};
  for (const kv of out.trim().split(/\s+/)) {
    const eq = kv.indexOf('=');
    if (eq > 0) rec[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return rec;
}

// ------------------------------------------------------------------ sections

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

function joinNotes(a: string | undefined, b: string): string {
  return a ? `${a}; ${b}` : b;
}

/** The C programs a section runs (either may be null: not built) and their temp dir. */
interface CSides {
  own: string | null;
  kernel: KernelBuild | null;
  dir: string;
}

/** What the kernel-code run of one layout found, for the summary under the table. */
interface KernelCheck {
  section: string;
  /** null: not compared (the harness failed). */
  tablesEqual: boolean | null;
  detail: string;
}

/**
 * One layout of one format: map with allocation, steady-state map/unmap, translations of the mapped
 * IOVAs in shuffled order, walk(); the same operations by our own C and by the kernel's code. `cMode`
 * is the C sides' format name (lpae | dart).
 */
function measure(section: string, fmtName: string, b: Built, pg: number, ops: Ops, cMode: string, c: CSides, withMap: boolean, seed: number, checks: KernelCheck[]): Row[] {
  const rows: Row[] = [];
  const { t, mem, host, iovas, pas } = b;
  const { own: exe, dir } = c;
  const fmt = getFormat(fmtName);
  // First map: tables allocated on the way.
  const c0 = process.cpuUsage();
  if (ops.map(t, iovas, pas, pg) !== 0) throw new Error('bench: a map failed');
  const c1 = process.cpuUsage();
  const allocNs = ((c1.user - c0.user + c1.system - c0.system) * 1000) / N;
  const order = shuffled(iovas, prng(seed)).map((v, i) => v + ((i * 8) & (pg - 1)));
  const image = (): Uint8Array => mem.readBytes(host.base, host.next - host.base) as Uint8Array;
  const allocHash = fnv1a(image());
  const allocEnd = host.next;
  const rootArg = '0x' + t.roots[0].toString(16);
  const baseArg = '0x' + host.base.toString(16);
  // The checksum of one pass: each C side must find the very addresses iovaToPhys finds.
  let jsSum = 0n;
  for (let i = 0; i < N; i++) jsSum += BigInt(t.iovaToPhys(order[i]));
  jsSum = BigInt.asUintN(64, jsSum);

  // The kernel's code: builds its own tables from the same pairs, then times the same operations.
  let kr: Record<string, string> | null = null;
  let kTrNote: string | undefined;
  let kMapNote: string | undefined;
  try {
    kr = runKernel(c.kernel, dir, [cMode, baseArg, '0x' + b.region.toString(16), 'iovas.bin', 'pas.bin', 'order.bin', String(allocEnd - host.base)], {
      'iovas.bin': u64File(iovas),
      'pas.bin': u64File(pas),
      'order.bin': u64File(order),
    });
  } catch (e) {
    kTrNote = 'KERNEL HARNESS FAILED, see below';
    checks.push({ section, tablesEqual: null, detail: `kernel harness failed: ${firstError(e)}` });
  }
  const kNum = (key: string): number | null => (kr ? Number(kr[key]) : null);
  if (kr) {
    const hashOk = Number(kr.hash) === allocHash;
    const sameAlloc = Number(kr.root) === t.roots[0] && Number(kr.end) === allocEnd;
    const bad: string[] = [];
    if (!sameAlloc) bad.push(`root/end ${kr.root}/${kr.end} vs JS ${rootArg}/0x${allocEnd.toString(16)}`);
    if (!hashOk) bad.push(`hash 0x${Number(kr.hash).toString(16)} vs JS 0x${allocHash.toString(16)}`);
    if (kr.warnings !== '0') bad.push(`${kr.warnings} WARN_ON`);
    checks.push({
      section,
      tablesEqual: hashOk && sameAlloc,
      detail: bad.length ? bad.join('; ') : `${N} maps, ${(allocEnd - host.base) / 1024} KiB of tables, FNV-1a 0x${allocHash.toString(16).padStart(8, '0')}, root ${rootArg}`,
    });
    if (!hashOk || !sameAlloc) kTrNote = 'KERNEL TABLES DIFFER: bug';
    if (BigInt(kr.checksum) !== jsSum) kTrNote = joinNotes(kTrNote, 'KERNEL CHECKSUM DIFFERS: bug');
  }

  // Translations (tables full).
  const trNs = bestNs(N, () => ops.translate(t, order));
  const wkNs = bestNs(N, () => ops.walk(fmt, mem, t, order));
  let cTr: number | null = null;
  let trNote: string | undefined = kTrNote;
  const cw = runC(exe, dir, [`walk-${cMode}`, 'image.bin', baseArg, rootArg, 'iovas.bin'], { 'image.bin': image(), 'iovas.bin': u64File(order) });
  if (cw) {
    cTr = cw[0];
    if (BigInt(cw[1]) !== jsSum) trNote = joinNotes(trNote, 'C CHECKSUM DIFFERS: bug');
  }
  rows.push({ section, what: 'iova_to_phys (mapped IOVA)', jsNs: trNs, cNs: cTr, kNs: kNum('walk_ns'), target: 2, note: trNote });
  rows.push({ section, what: 'walk() with every step', jsNs: wkNs, cNs: null, kNs: null, target: null });

  if (withMap) {
    // Steady state: unmap everything (tables stay), then map/unmap rounds.
    ops.unmap(t, iovas, pg);
    const before = image();
    const mu = timeMapUnmap(N, () => ops.map(t, iovas, pas, pg), () => ops.unmap(t, iovas, pg));
    ops.map(t, iovas, pas, pg);
    const jsHash = fnv1a(image());
    if (kr && Number(kr.hash2) !== jsHash) kMapNote = 'KERNEL TABLES DIFFER: bug';
    let cMap: number | null = null;
    let cUnmap: number | null = null;
    let mapNote: string | undefined = kMapNote;
    const cm = runC(exe, dir, [`map-${cMode}`, 'image.bin', baseArg, rootArg, 'iovas.bin', 'pas.bin'], { 'image.bin': before, 'iovas.bin': u64File(iovas), 'pas.bin': u64File(pas) });
    if (cm) {
      [cMap, cUnmap] = cm;
      if (cm[2] !== jsHash) mapNote = joinNotes(mapNote, 'C TABLES DIFFER: bug');
    }
    rows.push({ section, what: `map_pages ${pg / 1024}K, tables present`, jsNs: mu.map, cNs: cMap, kNs: kNum('map_ns'), target: 3, note: mapNote });
    rows.push({ section, what: `unmap_pages ${pg / 1024}K`, jsNs: mu.unmap, cNs: cUnmap, kNs: kNum('unmap_ns'), target: null });
    rows.push({ section, what: `map_pages ${pg / 1024}K, allocating tables`, jsNs: allocNs, cNs: null, kNs: kNum('alloc_ns'), target: null, note: 'one pass' });
  }
  return rows;
}

function fmtNs(ns: number | null): string {
  if (ns === null) return '-';
  return ns >= 100 ? ns.toFixed(0) : ns.toFixed(1);
}
function fmtOps(ns: number): string {
  const r = 1e9 / ns;
  if (r >= 1e6) return `${(r / 1e6).toFixed(2)} M/s`;
  return `${(r / 1e3).toFixed(0)} k/s`;
}

/**
 * The result table. `versus` is the C the JS/C ratio and `met` are taken against: the kernel's own code
 * when it was built (the definition), else our hand-written C.
 */
export function table(rows: Row[], versus: 'kernel' | 'own'): string[] {
  const head = ['benchmark', 'JS ops/s', 'JS ns/op', 'kernel C', 'own C', 'JS/C', 'target', 'met'];
  const body = rows.map((r) => {
    const ref = versus === 'kernel' ? r.kNs : r.cNs;
    const ratio = ref !== null ? r.jsNs / ref : null;
    const met = r.target === null || ratio === null ? '-' : ratio <= r.target ? 'yes' : 'no';
    return [
      `${r.section}: ${r.what}`,
      fmtOps(r.jsNs),
      fmtNs(r.jsNs),
      fmtNs(r.kNs),
      fmtNs(r.cNs),
      ratio === null ? '-' : `${ratio.toFixed(1)}x`,
      r.target === null ? '-' : `<= ${r.target}x`,
      met + (r.note ? ` (${r.note})` : ''),
    ];
  });
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...body.map(line)];
}

/** First line of a failed command's stderr (cc's first error), else of the error message. */
function firstError(e: unknown): string {
  const err = e as Error & { stderr?: Buffer | string };
  const text = err.stderr ? String(err.stderr) : '';
  const line = text.split('\n').find((l) => /error|fatal/i.test(l)) ?? text.split('\n')[0];
  return (line || err.message.split('\n')[0]).trim();
}

function main(): void {
  const cpu = cpus();
  console.log(`iommu-lab bench - CPU: ${cpu[0]?.model ?? 'unknown'} (${cpu.length} cores), Node ${process.version}, ${process.platform}/${process.arch}`);
  console.log('CPU time per operation, best of 7 batches; C sides: cc -O2 over the same IOVAs and physical addresses.');
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
      const found = findKernelTree(process.argv.slice(2), process.env);
      const tree = found.tree;
      problem = found.problem;
      if (problem) console.log(problem);
      if (tree) {
        try {
          kernel = compileKernelC(tree, dir);
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
    const c: CSides = { own: exe, kernel, dir };
    const checks: KernelCheck[] = [];
    const rows: Row[] = [
      ...measure('lpae-s1 4K dense', 'arm-64-lpae-s1', buildLpae('dense'), 0x1000, LPAE_OPS, 'lpae', c, false, 0xbe7c4, checks),
      ...measure('lpae-s1 4K sparse', 'arm-64-lpae-s1', buildLpae('sparse'), 0x1000, LPAE_OPS, 'lpae', c, true, 0xbe7c5, checks),
      ...measure('dart 16K', 'apple-dart', buildDart(), 0x4000, DART_OPS, 'dart', c, true, 0xda27, checks),
    ];
    for (const l of table(rows, versus)) console.log(l);
    console.log('\ndense: 65536 contiguous 4K pages (tables fit in cache); sparse: 65536 pages in 32-page chunks over 1 TiB;');
    console.log('dart: 65536 16K pages in 8-page chunks over the 4 GiB IOVA space. Targets: issue 3 item 7.');
    if (checks.length) {
      console.log('\nTables built by the kernel\'s map_pages vs ours (same pairs, same order, same table addresses):');
      for (const k of checks) console.log(`  ${k.section}: ${k.tablesEqual === null ? 'not compared' : k.tablesEqual ? 'bit-identical' : 'DIFFERENT (bug)'} - ${k.detail}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
