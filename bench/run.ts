/**
 * `npm run bench`: throughput of the page-table formats on this machine (not a test: numbers vary).
 *
 * Each section builds a table through the format's own map path on a PhysMem, then times
 * - translations of mapped IOVAs (iovaToPhys, the kernel's iova_to_phys; and walk(), the hardware walk),
 * - map and unmap of 4K pages one call each, as the iommu core issues them.
 * Where a C compiler is available, a section may also time a small C walker of its own (written here,
 * not kernel code) over the same table image and IOVAs, compiled -O2 at bench time, and print the ratio.
 *
 * Sections are entries of SECTIONS; a new format adds one (e.g. Apple DART 16K).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { getFormat } from '../src/formats/index.js';
import { IOMMU_READ, IOMMU_WRITE, type PageTable, type TableHost } from '../src/formats/types.js';
import { PhysMem } from '../src/mem/phys-mem.js';

export interface SectionResult {
  name: string;
  lines: string[];
}

export interface BenchSection {
  name: string;
  run(): SectionResult;
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

export interface Rate {
  /** Operations per second of wall time (performance.now). */
  wall: number;
  /** Nanoseconds of this process's CPU time per operation (fairer on a loaded machine). */
  cpuNs: number;
}

/** Runs fn(i) for i < n repeatedly until at least minMs elapsed. */
export function opsPerSec(n: number, fn: (i: number) => void, minMs = 300): Rate {
  let rounds = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let t: number;
  do {
    for (let i = 0; i < n; i++) fn(i);
    rounds++;
    t = performance.now();
  } while (t - t0 < minMs);
  const c = process.cpuUsage(c0);
  return { wall: (rounds * n * 1000) / (t - t0), cpuNs: ((c.user + c.system) * 1000) / (rounds * n) };
}

export function fmtRate(r: number): string {
  if (r >= 1e6) return `${(r / 1e6).toFixed(2)} M/s`;
  if (r >= 1e3) return `${(r / 1e3).toFixed(1)} k/s`;
  return `${r.toFixed(0)} /s`;
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

export function haveCc(): boolean {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Compile `source` with cc -O2 in a temp dir and run it with `args`; returns its stdout, or null when
 * there is no compiler or it fails.
 */
export function runC(source: string, files: Record<string, Uint8Array>, args: (dir: string) => string[]): string | null {
  if (!haveCc()) return null;
  const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-bench-'));
  try {
    writeFileSync(join(dir, 'walk.c'), source);
    for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
    execFileSync('cc', ['-O2', '-o', join(dir, 'walk'), join(dir, 'walk.c')], { stdio: 'pipe' });
    return execFileSync(join(dir, 'walk'), args(dir), { encoding: 'utf8', timeout: 30_000 });
  } catch (e) {
    return `failed: ${(e as Error).message.split('\n')[0]}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ ARM LPAE stage 1, 4K granule

/**
 * The C side: a 4-level LPAE lookup written from the architecture (index = iova bits per level, stop at
 * a zero entry, a block at levels 1/2 when bits 1:0 = 01, a page at level 3 when 11), reading tables
 * through a linear map (a fixed offset from physical address to the buffer), as the kernel does with
 * __va(). It times the same IOVAs in the same order and prints nanoseconds per lookup and a checksum.
 */
const LPAE_C = String.raw`
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint8_t *image;
static uint64_t image_base;

static inline uint64_t *va(uint64_t pa) { return (uint64_t *)(image + (pa - image_base)); }

static uint64_t __attribute__((noinline)) lookup(uint64_t root, uint64_t iova)
{
	uint64_t *table = va(root);
	for (int lvl = 0; lvl < 4; lvl++) {
		int shift = 39 - 9 * lvl;
		uint64_t pte = table[(iova >> shift) & 511];
		if (!pte)
			return 0;
		if (lvl == 3 ? (pte & 3) == 3 : (pte & 3) == 1)
			return (pte & 0x0000fffffffff000ull) | (iova & ((1ull << shift) - 1));
		table = va(pte & 0x0000fffffffff000ull);
	}
	return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) { perror(path); exit(1); }
	fseek(f, 0, SEEK_END);
	*len = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc(*len);
	if (fread(p, 1, *len, f) != *len) { perror(path); exit(1); }
	fclose(f);
	return p;
}

int main(int argc, char **argv)
{
	size_t ilen, n;
	image = slurp(argv[1], &ilen);
	image_base = strtoull(argv[2], NULL, 0);
	uint64_t root = strtoull(argv[3], NULL, 0);
	uint64_t *iovas = (uint64_t *)slurp(argv[4], &n);
	n /= 8;
	uint64_t sum = 0;
	long rounds = 0;
	struct timespec t0, t1, c0, c1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	double el;
	do {
		for (size_t i = 0; i < n; i++)
			sum += lookup(root, iovas[i]);
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		el = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
	} while (el < 3e8);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	double cpu = (c1.tv_sec - c0.tv_sec) * 1e9 + (c1.tv_nsec - c0.tv_nsec);
	printf("%.3f %.3f %llu\n", el / (rounds * (double)n), cpu / (rounds * (double)n), (unsigned long long)(sum / rounds));
	return 0;
}
`;

const RW = IOMMU_READ | IOMMU_WRITE;

/** A mapped arm-64-lpae-s1 4K table: `dense` = 256 MiB contiguous; `sparse` = 32-page chunks spread over 1 TiB. */
function buildLpae(layout: 'dense' | 'sparse'): { t: PageTable; mem: PhysMem; host: BenchHost; iovas: number[] } {
  const TBASE = 0x40_0000_0000; // tables at 256 GiB, above 4 GiB as on a big board
  const mem = new PhysMem([{ base: TBASE, size: 256 * 1024 * 1024 }]);
  const host = new BenchHost(mem, TBASE);
  const t = getFormat('arm-64-lpae-s1').create({ granule: 4096, ias: 48, oas: 48, coherentWalk: true }, host) as PageTable;
  const rnd = prng(0x1a9ae);
  const iovas: number[] = [];
  const seen = new Set<number>();
  while (iovas.length < LPAE_PAGES) {
    const base = layout === 'dense' ? 0x100_0000_0000 + iovas.length * 0x1000 : (rnd() % (1 << 23)) * 0x20000 + 0x100_0000_0000;
    if (seen.has(base)) continue;
    seen.add(base);
    for (let k = 0; k < (layout === 'dense' ? 1 : 32); k++) iovas.push(base + k * 0x1000);
  }
  return { t, mem, host, iovas };
}

const LPAE_PAGES = 1 << 16;

function lpaeS1Section(): SectionResult {
  const lines: string[] = [];
  const fmt = getFormat('arm-64-lpae-s1');
  const pa = (i: number): number => 0x1_0000_0000 + i * 0x1000;
  const rnd = prng(0xbe7c4);
  {
    // map / unmap of 4K pages, one call each: first with table allocation, then in steady state.
    const { t, iovas } = buildLpae('sparse');
    const N = iovas.length;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) t.mapPages(iovas[i], pa(i), 0x1000, 1, RW);
    const t1 = performance.now();
    for (let i = 0; i < N; i++) t.unmapPages(iovas[i], 0x1000, 1);
    const t2 = performance.now();
    for (let i = 0; i < N; i++) t.mapPages(iovas[i], pa(i), 0x1000, 1, RW);
    const t3 = performance.now();
    lines.push(`map_pages 4K, tables present    ${fmtRate((N * 1000) / (t3 - t2))}   (allocating tables: ${fmtRate((N * 1000) / (t1 - t0))})`);
    lines.push(`unmap_pages 4K                  ${fmtRate((N * 1000) / (t2 - t1))}`);
  }
  for (const layout of ['dense', 'sparse'] as const) {
    const { t, mem, host, iovas } = buildLpae(layout);
    const N = iovas.length;
    for (let i = 0; i < N; i++) t.mapPages(iovas[i], pa(i), 0x1000, 1, RW);
    // Translations of mapped IOVAs in a shuffled order.
    const order = new Float64Array(N);
    for (let i = 0; i < N; i++) order[i] = iovas[i] + (i & 0xfff);
    for (let i = N - 1; i > 0; i--) {
      const j = rnd() % (i + 1);
      const x = order[i];
      order[i] = order[j];
      order[j] = x;
    }
    let sum = 0;
    const tr = opsPerSec(N, (i) => {
      sum += t.iovaToPhys(order[i]);
    });
    const params = { roots: t.roots, cfg: t.cfg };
    const wk = opsPerSec(N, (i) => {
      sum += fmt.walk(mem, params, order[i]).phys ?? 0;
    });
    const what = layout === 'dense' ? '65536 contiguous pages (tables fit in cache)' : '65536 pages in 32-page chunks over 1 TiB';
    lines.push(`${layout}: ${what}`);
    lines.push(`  iova_to_phys                  ${fmtRate(tr.wall)}   ${tr.cpuNs.toFixed(1)} ns CPU each`);
    lines.push(`  walk() with steps             ${fmtRate(wk.wall)}   ${wk.cpuNs.toFixed(1)} ns CPU each`);
    // The same image and IOVAs for the C walker.
    const image = mem.readBytes(host.base, host.next - host.base) as Uint8Array;
    const iovaBytes = new Uint8Array(N * 8);
    const dv = new DataView(iovaBytes.buffer);
    let expected = 0n;
    for (let i = 0; i < N; i++) {
      dv.setBigUint64(i * 8, BigInt(order[i]), true);
      expected += BigInt(t.iovaToPhys(order[i]));
    }
    const out = runC(LPAE_C, { 'image.bin': image, 'iovas.bin': iovaBytes }, (dir) => [join(dir, 'image.bin'), '0x' + host.base.toString(16), '0x' + t.roots[0].toString(16), join(dir, 'iovas.bin')]);
    if (out === null) lines.push('  C walker: no cc on this machine, ratio not measured');
    else if (out.startsWith('failed')) lines.push(`  C walker: ${out}`);
    else {
      const [wallText, cpuText, sumText] = out.trim().split(' ');
      const cCpu = Number(cpuText);
      const agrees = BigInt(sumText) === expected;
      lines.push(`  C walker -O2, same tables     ${(1e3 / Number(wallText)).toFixed(2)} M/s   ${cCpu.toFixed(1)} ns CPU each${agrees ? '' : '   (CHECKSUM DIFFERS: bug)'}`);
      lines.push(`  ratio iova_to_phys JS / C     ${(tr.cpuNs / cCpu).toFixed(2)}x CPU time   (target: within 2x)`);
    }
    if (sum === -1) lines.push(''); // keeps `sum` observable
  }
  return { name: 'arm-64-lpae-s1, 4K granule, ias 48, tables at 256 GiB', lines };
}

// ------------------------------------------------------------------ Apple DART (t8020), 16K granule

/**
 * The C side for DART: the two-level lookup of the DART format's iova_to_phys written from the format
 * (L1 index = iova bits 35:25, L2 index = 24:14, a zero entry ends the walk, PA = entry bits 35:12 | the
 * offset in the 16K page), reading tables through the same linear-map offset; the rest of the program
 * (loading, timing, output) is the LPAE walker's.
 */
const DART_C = LPAE_C.replace(
  /static uint64_t __attribute__\(\(noinline\)\) lookup[\s\S]*?\n}\n/,
  String.raw`static uint64_t __attribute__((noinline)) lookup(uint64_t root, uint64_t iova)
{
	const uint64_t addr = 0x0000000ffffff000ull;
	uint64_t l1 = va(root)[(iova >> 25) & 2047];
	if (!l1)
		return 0;
	uint64_t pte = va(l1 & addr)[(iova >> 14) & 2047];
	if (!pte)
		return 0;
	return (pte & addr) | (iova & 0x3fff);
}
`,
);

function dartSection(): SectionResult {
  const lines: string[] = [];
  const TBASE = 0x8_0000_0000; // tables above 4 GiB (M1 RAM starts at 0x8_0000_0000)
  const mem = new PhysMem([{ base: TBASE, size: 64 * 1024 * 1024 }]);
  const host = new BenchHost(mem, TBASE);
  const fmt = getFormat('apple-dart');
  const t = fmt.create({ granule: 16384, ias: 32, oas: 36 }, host) as PageTable;
  const G = 0x4000;
  const N = 1 << 16; // 1 GiB of 16K pages in 8-page chunks spread over the 4 GiB IOVA space
  const rnd = prng(0xda27);
  const iovas: number[] = [];
  const seen = new Set<number>();
  while (iovas.length < N) {
    const base = (rnd() % (1 << 15)) * 0x20000;
    if (seen.has(base)) continue;
    seen.add(base);
    for (let k = 0; k < 8; k++) iovas.push(base + k * G);
  }
  const pa = (i: number): number => 0x9_0000_0000 + i * G;
  {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) t.mapPages(iovas[i], pa(i), G, 1, RW);
    const t1 = performance.now();
    for (let i = 0; i < N; i++) t.unmapPages(iovas[i], G, 1);
    const t2 = performance.now();
    for (let i = 0; i < N; i++) t.mapPages(iovas[i], pa(i), G, 1, RW);
    const t3 = performance.now();
    lines.push(`map_pages 16K, tables present   ${fmtRate((N * 1000) / (t3 - t2))}   (allocating tables: ${fmtRate((N * 1000) / (t1 - t0))})`);
    lines.push(`unmap_pages 16K                 ${fmtRate((N * 1000) / (t2 - t1))}`);
  }
  const order = new Float64Array(N);
  for (let i = 0; i < N; i++) order[i] = iovas[i] + ((i * 8) & 0x3fff);
  for (let i = N - 1; i > 0; i--) {
    const j = rnd() % (i + 1);
    const x = order[i];
    order[i] = order[j];
    order[j] = x;
  }
  let sum = 0;
  const tr = opsPerSec(N, (i) => {
    sum += t.iovaToPhys(order[i]);
  });
  const params = { roots: t.roots, cfg: t.cfg };
  const wk = opsPerSec(N, (i) => {
    sum += fmt.walk(mem, params, order[i]).phys ?? 0;
  });
  lines.push(`iova_to_phys                    ${fmtRate(tr.wall)}   ${tr.cpuNs.toFixed(1)} ns CPU each`);
  lines.push(`walk() with steps               ${fmtRate(wk.wall)}   ${wk.cpuNs.toFixed(1)} ns CPU each`);
  const image = mem.readBytes(host.base, host.next - host.base) as Uint8Array;
  const iovaBytes = new Uint8Array(N * 8);
  const dv = new DataView(iovaBytes.buffer);
  let expected = 0n;
  for (let i = 0; i < N; i++) {
    dv.setBigUint64(i * 8, BigInt(order[i]), true);
    expected += BigInt(t.iovaToPhys(order[i]));
  }
  const out = runC(DART_C, { 'image.bin': image, 'iovas.bin': iovaBytes }, (dir) => [join(dir, 'image.bin'), '0x' + host.base.toString(16), '0x' + t.roots[0].toString(16), join(dir, 'iovas.bin')]);
  if (out === null) lines.push('C walker: no cc on this machine, ratio not measured');
  else if (out.startsWith('failed')) lines.push(`C walker: ${out}`);
  else {
    const [wallText, cpuText, sumText] = out.trim().split(' ');
    const cCpu = Number(cpuText);
    const agrees = BigInt(sumText) === expected;
    lines.push(`C walker -O2, same tables       ${(1e3 / Number(wallText)).toFixed(2)} M/s   ${cCpu.toFixed(1)} ns CPU each${agrees ? '' : '   (CHECKSUM DIFFERS: bug)'}`);
    lines.push(`ratio iova_to_phys JS / C       ${(tr.cpuNs / cCpu).toFixed(2)}x CPU time   (target: within 2x)`);
  }
  if (sum === -1) lines.push(''); // keeps `sum` observable
  return { name: 'apple-dart (t8020), 16K granule, ias 32, 65536 pages, tables at 32 GiB', lines };
}

export const SECTIONS: BenchSection[] = [
  { name: 'arm-64-lpae-s1 4K', run: lpaeS1Section },
  { name: 'apple-dart 16K', run: dartSection },
];

function main(): void {
  console.log(`iommu-lab bench — CPU: ${cpus()[0]?.model ?? 'unknown'} (${cpus().length} cores), Node ${process.version}`);
  for (const s of SECTIONS) {
    const r = s.run();
    console.log(`\n${r.name}`);
    for (const l of r.lines) console.log(`  ${l}`);
  }
}

main();
