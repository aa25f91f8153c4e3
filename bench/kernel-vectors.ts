/**
 * Kernel vectors: what the kernel's own io-pgtable code does for pseudo-random sequences of
 * map_pages / unmap_pages calls, one per configuration, written as JSON fixtures for
 * test/formats/kernel-vectors.test.ts to replay through our formats.
 *
 *   npm run vectors -- [--kernel-src DIR|linux-source-6.12.tar.xz] [--out DIR] [--only NAME]
 *
 * It builds bench/kernel-c/vectors.c with io-pgtable.c, io-pgtable-arm.c and io-pgtable-dart.c of a
 * Linux 6.12 tree (found as the bench finds it: bench/kernel-tree.ts), runs it for every entry of
 * CONFIGS and writes <out>/<name>.json.gz (default out: test/fixtures/kernel-vectors); likewise
 * bench/kernel-c/rockchip-vectors.c, which #includes drivers/iommu/rockchip-iommu.c (the Rockchip
 * driver's own page tables), for every entry of ROCKCHIP_CONFIGS. The fixtures are
 * the kernel's answers, not its code; regenerate them only from the kernel the project follows
 * (Debian's 6.12.117) and say so in the commit.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROCKCHIP_FILES, compileKernelC, findKernelTree, flagValue } from './kernel-tree.js';

/** One configuration: the io-pgtable format and cfg fields the vectors program takes. */
export interface VectorConfig {
  name: string;
  format: 'arm-32-lpae-s1' | 'arm-32-lpae-s2' | 'arm-64-lpae-s1' | 'arm-64-lpae-s2' | 'apple-dart' | 'apple-dart2';
  pgsizeBitmap: number;
  ias: number;
  oas: number;
  /** IO_PGTABLE_QUIRK_* bits (include/linux/io-pgtable.h:91-97). */
  quirks: number;
  coherent: boolean;
  seed: number;
  ops: number;
  probes: number;
}

const NS = 1 << 0;
const TTBR1 = 1 << 5;
const OUTER_WBWA = 1 << 6;
const HD = 1 << 7;
const K4 = 0x1000;
const K16 = 0x4000;
const K64 = 0x10000;
const M2 = 0x20_0000;
const M32 = 0x200_0000;
const M512 = 0x2000_0000;
const G1 = 0x4000_0000;
/** 4 TiB: a level-1 block with the 64K granule and a 52-bit output (io-pgtable-arm.c:885-886); above bit 31, so added, not ORed. */
const T4 = 2 ** 42;

/**
 * The table region: above 4 GiB, as on the boards the seeds are about, and below 2^36, so that every
 * configuration's tables are within its OAS (a DART1 table entry holds PA bits 35:12 only: tables above
 * would be truncated, and the kernel code would follow the truncated address). 64 MiB is enough.
 */
export const VECTOR_TBASE = 0x8_0000_0000;
export const VECTOR_REGION = 64 * 1024 * 1024;

const cfg = (name: string, format: VectorConfig['format'], pgsizeBitmap: number, ias: number, oas: number, quirks: number, coherent: boolean, seed: number): VectorConfig => ({
  name,
  format,
  pgsizeBitmap,
  ias,
  oas,
  quirks,
  coherent,
  seed,
  ops: 220,
  probes: 120,
});

/**
 * Every granule, stage and width io-pgtable-arm.c has, start levels 0-2, concatenated stage-2 roots,
 * 52-bit output, the quirks that change descriptors or registers, non-coherent walkers; DART and DART2
 * with 4K and 16K pages and one and several TTBRs.
 */
export const CONFIGS: VectorConfig[] = [
  cfg('lpae64-s1-4k-ias48-oas48', 'arm-64-lpae-s1', K4 | M2 | G1, 48, 48, 0, true, 0x5101),
  cfg('lpae64-s1-4k-ias39-oas40-ns-noncoherent', 'arm-64-lpae-s1', K4 | M2 | G1, 39, 40, NS, false, 0x5102),
  cfg('lpae64-s1-4k-ias32-oas36-wbwa-coherent-refused', 'arm-64-lpae-s1', K4 | M2 | G1, 32, 36, OUTER_WBWA, true, 0x5103),
  cfg('lpae64-s1-4k-ias32-oas36-wbwa-noncoherent', 'arm-64-lpae-s1', K4 | M2 | G1, 32, 36, OUTER_WBWA, false, 0x5109),
  cfg('lpae64-s1-4k-ias48-oas48-ttbr1-hd', 'arm-64-lpae-s1', K4 | M2 | G1, 48, 48, TTBR1 | HD, true, 0x5104),
  cfg('lpae64-s1-16k-ias48-oas48', 'arm-64-lpae-s1', K16 | M32, 48, 48, 0, true, 0x5105),
  cfg('lpae64-s1-16k-ias36-oas40-noncoherent', 'arm-64-lpae-s1', K16 | M32, 36, 40, 0, false, 0x5106),
  cfg('lpae64-s1-64k-ias48-oas48', 'arm-64-lpae-s1', K64 | M512, 48, 48, 0, true, 0x5107),
  cfg('lpae64-s1-64k-ias52-oas52', 'arm-64-lpae-s1', K64 | M512, 52, 52, 0, true, 0x5108),
  cfg('lpae64-s1-64k-ias52-oas52-4tb', 'arm-64-lpae-s1', K64 + M512 + T4, 52, 52, 0, true, 0x510a),
  cfg('lpae64-s1-mixed-16k-64k', 'arm-64-lpae-s1', K16 | K64 | M32 | M512, 48, 48, 0, true, 0x510b),
  cfg('lpae64-s2-4k-ias40-oas40-concat', 'arm-64-lpae-s2', K4 | M2 | G1, 40, 40, 0, true, 0x5201),
  cfg('lpae64-s2-16k-ias48-oas48-concat', 'arm-64-lpae-s2', K16 | M32, 48, 48, 0, true, 0x5205),
  cfg('lpae64-s2-4k-ias48-oas48-noncoherent', 'arm-64-lpae-s2', K4 | M2 | G1, 48, 48, 0, false, 0x5202),
  cfg('lpae64-s2-16k-ias42-oas42', 'arm-64-lpae-s2', K16 | M32, 42, 42, 0, true, 0x5203),
  cfg('lpae64-s2-64k-ias42-oas44', 'arm-64-lpae-s2', K64 | M512, 42, 44, 0, true, 0x5204),
  cfg('lpae32-s1-4k-ias32-oas40', 'arm-32-lpae-s1', K4 | M2 | G1, 32, 40, 0, true, 0x5301),
  cfg('lpae32-s2-4k-ias40-oas40', 'arm-32-lpae-s2', K4 | M2 | G1, 40, 40, 0, true, 0x5302),
  cfg('dart-16k-ias32-oas36', 'apple-dart', K16, 32, 36, 0, true, 0x5401),
  cfg('dart-16k-ias36-oas36', 'apple-dart', K16, 36, 36, 0, true, 0x5402),
  cfg('dart-4k-ias32-oas36', 'apple-dart', K4, 32, 36, 0, true, 0x5403),
  cfg('dart2-16k-ias32-oas42', 'apple-dart2', K16, 32, 42, 0, true, 0x5404),
  cfg('dart2-4k-ias32-oas42-4ttbr', 'apple-dart2', K4, 32, 42, 0, true, 0x5405),
  cfg('dart2-16k-ias38-oas42-4ttbr', 'apple-dart2', K16, 38, 42, 0, true, 0x5406),
  cfg('dart2-4k-ias36-oas42-refused', 'apple-dart2', K4, 36, 42, 0, true, 0x5407),
];

/**
 * Rockchip: the driver's variant (rk_ops = iommu_data_ops_v1 / _v2) and where its tables are allocated.
 * Every other input is the driver's own (pgsize_bitmap, the 32-bit aperture, the DMA mask).
 */
export interface RockchipVectorConfig {
  name: string;
  variant: 'v1' | 'v2';
  /** The table region's base (VECTOR_REGION bytes from here). */
  tbase: number;
  seed: number;
  ops: number;
  probes: number;
}

/**
 * v1 with its tables below 4 GiB (where GFP_DMA32 puts them: a v1 DTE holds address bits 31:12 only);
 * v2 with them high above 4 GiB (DTEs with both folded nibbles, PA 35:32 and 39:36, non-zero), and v2
 * with the DT and the first page tables just below 4 GiB and the rest above. Physical addresses of the
 * pages mapped range over what each variant's entries hold, now and then beyond (silently truncated).
 */
export const ROCKCHIP_CONFIGS: RockchipVectorConfig[] = [
  { name: 'rockchip-v1-tables-below-4g', variant: 'v1', tbase: 0xf000_0000, seed: 0x6101, ops: 160, probes: 120 },
  { name: 'rockchip-v2-tables-above-4g', variant: 'v2', tbase: 0xa5_0000_0000, seed: 0x6201, ops: 160, probes: 120 },
  { name: 'rockchip-v2-tables-straddle-4g', variant: 'v2', tbase: 0xffff_4000, seed: 0x6202, ops: 160, probes: 120 },
];

const hex = (v: number): string => '0x' + v.toString(16);


function main(): number {
  const argv = process.argv.slice(2);
  const found = findKernelTree(argv, process.env);
  if (!found.tree) {
    console.error(`vectors: ${found.problem ?? 'no Linux 6.12 tree found: give --kernel-src DIR|linux-source-6.12.tar.xz (apt-get download linux-source-6.12)'}`);
    return 2;
  }
  const out = resolve(flagValue(argv, '--out') ?? 'test/fixtures/kernel-vectors');
  const only = flagValue(argv, '--only');
  const configs = only ? CONFIGS.filter((c) => c.name === only) : CONFIGS;
  const rkConfigs = only ? ROCKCHIP_CONFIGS.filter((c) => c.name === only) : ROCKCHIP_CONFIGS;
  if (configs.length + rkConfigs.length === 0) {
    console.error(`vectors: --only ${only}: no such configuration (${[...CONFIGS, ...ROCKCHIP_CONFIGS].map((c) => c.name).join(', ')})`);
    return 2;
  }
  const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-vectors-'));
  const write = (name: string, label: string, json: string): void => {
    const v = JSON.parse(json) as { calls?: unknown[] };
    const file = join(out, `${name}.json.gz`);
    // gzip: the events repeat a lot (20-200 KiB of JSON per configuration, a tenth of that gzipped).
    writeFileSync(file, gzipSync(JSON.stringify({ name, kernel: label.replace(/ from .*/, ''), ...v }) + '\n', { level: 9 }));
    console.log(`${name}: ${v.calls?.length ?? 0} calls -> ${file}`);
  };
  const run = (exe: string, args: string[]): string => execFileSync(exe, args, { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    mkdirSync(out, { recursive: true });
    if (configs.length) {
      const build = compileKernelC(found.tree, dir, 'vectors.c', 'kernel-vectors');
      console.log(`kernel code: ${build.label}`);
      for (const c of configs) {
        const args = [c.format, hex(c.pgsizeBitmap), String(c.ias), String(c.oas), hex(c.quirks), c.coherent ? '1' : '0', hex(c.seed), String(c.ops), String(c.probes), hex(VECTOR_TBASE), hex(VECTOR_REGION)];
        write(c.name, build.label, run(build.exe, args));
      }
    }
    if (rkConfigs.length) {
      const build = compileKernelC(found.tree, dir, 'rockchip-vectors.c', 'rockchip-vectors', { files: ROCKCHIP_FILES, units: [], includeTop: true });
      console.log(`kernel code: ${build.label} (rockchip-iommu.c)`);
      for (const c of rkConfigs) write(c.name, build.label, run(build.exe, [c.variant, hex(c.seed), String(c.ops), String(c.probes), hex(c.tbase), hex(VECTOR_REGION)]));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return 0;
}

// Run as a script only (importing the module for CONFIGS runs nothing).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main();
