/**
 * Golden vectors for the LPAE formats, worked out by hand from drivers/iommu/io-pgtable-arm.c (6.12,
 * cited LP:line), and the kernel's own selftest sweep (arm_lpae_do_selftests, LP:1302-1444).
 */
import { describe, expect, it } from 'vitest';
import { getFormat } from '../../src/formats/index.js';
import { decodeTtbr, type LpaeConfig } from '../../src/formats/lpae.js';
import {
  EEXIST,
  EINVAL,
  ENOMEM,
  ERANGE,
  IOMMU_CACHE,
  IOMMU_MMIO,
  IOMMU_NOEXEC,
  IOMMU_PRIV,
  IOMMU_READ,
  IOMMU_WRITE,
  type FormatConfig,
  type PageTable,
} from '../../src/formats/types.js';
import { PhysMem } from '../../src/mem/phys-mem.js';
import { BumpHost } from './lpae-helpers.js';

const RW = IOMMU_READ | IOMMU_WRITE;
const TBASE = 0x8_0000_0000; // tables at 32 GiB
const G = 2 ** 30;

function setup(name: string, cfg: FormatConfig = {}): { t: PageTable; mem: PhysMem; host: BumpHost; cfg: LpaeConfig } {
  const mem = new PhysMem([
    { base: 0, size: 4 * G },
    { base: TBASE, size: 256 * 1024 * 1024 },
  ]);
  const host = new BumpHost(mem, TBASE);
  const t = getFormat(name).create(cfg, host)!;
  expect(t).not.toBeNull();
  return { t, mem, host, cfg: t.cfg as LpaeConfig };
}

function entry(mem: PhysMem, pa: number): [number, number] {
  return [mem.read32(pa), mem.read32(pa + 4)];
}

describe('config resolution (LP:854-1163)', () => {
  const rc = (name: string, cfg: FormatConfig) => getFormat(name).resolveConfig(cfg) as LpaeConfig;
  it.each([
    // granule, ias, levels, start level, pgd bytes (the start-level table of LP:898-936)
    [4096, 32, 3, 1, 32],
    [4096, 36, 3, 1, 512],
    [4096, 39, 3, 1, 4096],
    [4096, 40, 4, 0, 16],
    [4096, 48, 4, 0, 4096],
    [16384, 32, 2, 2, 1024],
    [16384, 36, 2, 2, 16384],
    [16384, 40, 3, 1, 128],
    [16384, 48, 4, 0, 16],
    [65536, 32, 2, 2, 64],
    [65536, 42, 2, 2, 65536],
    [65536, 48, 3, 1, 512],
  ])('s1 granule %i ias %i: %i levels from level %i, pgd %i bytes', (granule, ias, levels, start, pgd) => {
    const c = rc('arm-64-lpae-s1', { granule, ias });
    expect([c.levels, c.startLevel, c.pgdSize]).toEqual([levels, start, pgd]);
    expect(c.tcr.tsz).toBe(64 - ias);
  });

  it('concatenates a small stage-2 level-0 root into level 1 (LP:1062-1070)', () => {
    // 4K ias 40: stage 1 has a 2-entry level-0 pgd; stage 2 makes it 2 x 512 entries at level 1.
    const s2 = rc('arm-64-lpae-s2', { granule: 4096, ias: 40 });
    expect([s2.startLevel, s2.pgdBits, s2.pgdSize, s2.concatenated]).toEqual([1, 10, 8192, true]);
    // SL0 = ~(start + 1 for 4K) & 3 = ~2 & 3 = 1
    expect(s2.tcr.sl).toBe(1);
    // 16K ias 48: 2 level-0 entries -> 32 KiB root at level 1, SL0 = ~1 & 3 = 2
    const s16 = rc('arm-64-lpae-s2', { granule: 16384, ias: 48 });
    expect([s16.startLevel, s16.pgdSize, s16.tcr.sl, s16.tcr.tg]).toEqual([1, 32768, 2, 2]);
    // 4K ias 48: 512 level-0 entries, more than 16: no concatenation; SL0 = ~1 & 3 = 2
    const s48 = rc('arm-64-lpae-s2', { granule: 4096, ias: 48 });
    expect([s48.startLevel, s48.pgdSize, s48.concatenated, s48.tcr.sl]).toEqual([0, 4096, false, 2]);
    // 64K ias 48: 3 levels from level 1, SL0 = ~1 & 3 = 2, TG0 64K = 1
    // arm-32-lpae-s2 with ias 40 goes the same way (LP:1155-1163): 8K root at level 1, VTCR.PS 40-bit = 2.
    const s32 = rc('arm-32-lpae-s2', { ias: 40, oas: 40 });
    expect([s32.startLevel, s32.pgdSize, s32.tcr.sl, s32.tcr.ps, s32.tcr.tsz]).toEqual([1, 8192, 1, 2, 24]);
    const s64 = rc('arm-64-lpae-s2', { granule: 65536, ias: 48 });
    expect([s64.startLevel, s64.tcr.sl, s64.tcr.tg]).toEqual([1, 2, 1]);
  });

  it('restricts pgsize_bitmap from the CPU page size (LP:854-896)', () => {
    // 4K CPU pages, a driver offering 4K|64K|2M|512M|1G: 4K granule, only 4K|2M|1G survive.
    expect(rc('arm-64-lpae-s1', { pgsizeBitmap: 0x1000 | 0x10000 | 0x200000 | 0x20000000 | 0x40000000 }).pgsizeBitmap).toBe(0x40201000);
    // 16K CPU pages, driver offers 4K|16K|64K: the CPU page size wins.
    expect(rc('arm-64-lpae-s1', { pgsizeBitmap: 0x1000 | 0x4000 | 0x10000, cpuPageSize: 16384 }).granule).toBe(16384);
    // 64K CPU pages, driver offers 4K|16K: the largest size below PAGE_SIZE (16K).
    expect(rc('arm-64-lpae-s1', { pgsizeBitmap: 0x1000 | 0x4000, cpuPageSize: 65536 }).granule).toBe(16384);
    // 4K CPU pages, driver offers only 64K|512M: the smallest above.
    expect(rc('arm-64-lpae-s1', { pgsizeBitmap: 0x10000 | 0x20000000 }).granule).toBe(65536);
    // 64K with oas 52 gains the 4 TiB level-1 block; ias/oas are clamped to 52 (48 for the others).
    const c = rc('arm-64-lpae-s1', { granule: 65536, ias: 52, oas: 52 });
    expect(c.pgsizeBitmap).toBe(0x10000 + 0x20000000 + 2 ** 42);
    expect(rc('arm-64-lpae-s1', { granule: 4096, ias: 52, oas: 52 }).ias).toBe(48);
    // arm-32 formats drop anything but 4K|2M|1G before restricting (LP:1151).
    expect(() => rc('arm-32-lpae-s1', { pgsizeBitmap: 0x10000 | 0x20000000 })).toThrow(/no 4K, 16K or 64K/);
  });

  it('refuses what the alloc functions refuse', () => {
    expect(() => rc('arm-32-lpae-s1', { ias: 36, oas: 40 })).toThrow(/ias 36/);
    expect(() => rc('arm-32-lpae-s2', { ias: 40, oas: 44 })).toThrow(/oas 44/);
    expect(() => rc('arm-64-lpae-s2', { quirks: ['ARM_NS'] })).toThrow(/no quirks/);
    expect(() => rc('arm-64-lpae-s1', { quirks: ['NO_PERMS'] })).toThrow(/not one of/);
    expect(() => rc('arm-64-lpae-s1', { quirks: ['ARM_OUTER_WBWA'], coherentWalk: true })).toThrow(/coherent/);
    expect(() => rc('arm-64-lpae-s1', { oas: 46 })).toThrow(/IPS/);
  });

  it('computes TCR fields for coherent, non-coherent, OUTER_WBWA and TTBR1 walkers (LP:956-1011)', () => {
    expect(rc('arm-64-lpae-s1', { coherentWalk: true }).tcr).toEqual({ ips: 5, tg: 0, sh: 3, orgn: 1, irgn: 1, tsz: 16 });
    expect(rc('arm-64-lpae-s1', { coherentWalk: false, oas: 40 }).tcr).toEqual({ ips: 2, tg: 0, sh: 2, orgn: 0, irgn: 0, tsz: 16 });
    expect(rc('arm-64-lpae-s1', { coherentWalk: false, quirks: ['ARM_OUTER_WBWA'] }).tcr.orgn).toBe(1);
    expect(rc('arm-64-lpae-s1', { quirks: ['ARM_TTBR1'] }).tcr.tg).toBe(2);
    expect(rc('arm-64-lpae-s1', { quirks: ['ARM_TTBR1'], granule: 16384 }).tcr.tg).toBe(1);
    expect(rc('arm-64-lpae-s1', { quirks: ['ARM_TTBR1'], granule: 65536 }).tcr.tg).toBe(3);
    expect(rc('arm-64-lpae-s1', { granule: 16384 }).tcr.tg).toBe(2);
    expect(rc('arm-64-lpae-s2', { coherentWalk: false, oas: 44 }).tcr).toEqual({ ps: 4, tg: 0, sh: 2, orgn: 0, irgn: 0, sl: 2, tsz: 16 });
  });
});

describe('descriptors (arm_lpae_prot_to_pte LP:445-509, install LP:303-386)', () => {
  it('stage 1, 4K: a 4-level walk of table entries and one page per prot', () => {
    const { t, mem, host } = setup('arm-64-lpae-s1', { granule: 4096, ias: 48, oas: 48 });
    expect(t.roots).toEqual([TBASE]);
    const cases: [number, number, number][] = [
      // prot, expected lo, expected hi
      [RW, 0x0e43, 0], // nG | AF | SH_OS | AP_UNPRIV | page
      [IOMMU_READ, 0x0ec3, 0], // + AP_RDONLY
      [IOMMU_WRITE, 0x0e43, 0], // write-only is read-write at stage 1
      [RW | IOMMU_CACHE, 0x0f47, 0], // AttrIndx 1, SH_IS
      [RW | IOMMU_MMIO | IOMMU_CACHE, 0x0f4b, 0], // MMIO wins the AttrIndx (2), CACHE still gives SH_IS
      [RW | IOMMU_PRIV, 0x0e03, 0], // no AP_UNPRIV
      [IOMMU_READ | IOMMU_NOEXEC, 0x0ec3, 0x00600000], // XN = bits 54:53
    ];
    cases.forEach(([prot], i) => expect(t.mapPages(0x1000 * (i + 1), 0x8000_0000 + 0x1000 * i, 0x1000, 1, prot)).toEqual({ ret: 0, mapped: 0x1000 }));
    // Three tables below the root, allocated in walk order.
    expect(host.rec.allocs.map((a) => a.pa)).toEqual([TBASE, TBASE + 0x1000, TBASE + 0x2000, TBASE + 0x3000]);
    expect(entry(mem, TBASE)).toEqual([(TBASE + 0x1000) % 2 ** 32 | 3, 8]);
    expect(entry(mem, TBASE + 0x1000)).toEqual([0x2003, 8]);
    expect(entry(mem, TBASE + 0x2000)).toEqual([0x3003, 8]);
    cases.forEach(([, lo, hi], i) => expect(entry(mem, TBASE + 0x3000 + 8 * (i + 1))).toEqual([(0x8000_0000 + 0x1000 * i + lo) >>> 0, hi]));
    expect(t.iovaToPhys(0x1abc)).toBe(0x8000_0abc);
    expect(host.rec.syncs).toEqual([]); // coherent walker: no syncs
  });

  it('stage 2, 4K: S2AP and MemAttr', () => {
    const { t, mem } = setup('arm-64-lpae-s2', { granule: 4096, ias: 40, oas: 40 });
    // concatenated 8K root at level 1: iova 0x1000 goes root[0] -> level 2 -> level 3
    expect(t.mapPages(0x1000, 0x1000_0000, 0x1000, 1, RW)).toEqual({ ret: 0, mapped: 0x1000 });
    expect(t.mapPages(0x2000, 0x1000_1000, 0x1000, 1, RW | IOMMU_CACHE)).toEqual({ ret: 0, mapped: 0x1000 });
    expect(t.mapPages(0x3000, 0x1000_2000, 0x1000, 1, IOMMU_READ | IOMMU_MMIO)).toEqual({ ret: 0, mapped: 0x1000 });
    expect(t.mapPages(0x4000, 0x1000_3000, 0x1000, 1, IOMMU_WRITE | IOMMU_NOEXEC)).toEqual({ ret: 0, mapped: 0x1000 });
    // Root is 8K (two pages), so the level-2 table comes at +0x2000.
    expect(entry(mem, TBASE)).toEqual([0x2003, 8]);
    const l3 = TBASE + 0x3000;
    expect(entry(mem, l3 + 8)).toEqual([0x1000_0000 | 0x6d7, 0]); // HAP rw 0xc0 | NC 0x14 | OS 0x200 | AF | page
    expect(entry(mem, l3 + 16)).toEqual([0x1000_1000 | 0x7ff, 0]); // OIWB 0x3c, IS 0x300
    expect(entry(mem, l3 + 24)).toEqual([0x1000_2000 | 0x647, 0]); // HAP r 0x40 | DEV 0x04 | OS | AF | page
    expect(entry(mem, l3 + 32)).toEqual([0x1000_3000 | 0x697, 0x00600000]); // HAP w 0x80 | NC | OS | AF, XN
    // A level-1 2M... 1G block at a level-1 slot of the concatenated root (iova 1G -> root index 1).
    expect(t.mapPages(G, 0x4000_0000, G, 1, RW)).toEqual({ ret: 0, mapped: G });
    expect(entry(mem, TBASE + 8)).toEqual([0x4000_0000 | 0x6d5, 0]);
    expect(t.iovaToPhys(G + 0x1234_5678)).toBe(0x4000_0000 + 0x1234_5678);
  });

  it('quirks ARM_NS and ARM_HD (LP:365-366, 454-456, 502-503)', () => {
    const { t, mem } = setup('arm-32-lpae-s1', { quirks: ['ARM_NS', 'ARM_HD'], ias: 32, oas: 40 });
    expect(t.mapPages(0x4000_0000, 0x1_2345_6000, 0x1000, 1, RW)).toEqual({ ret: 0, mapped: 0x1000 });
    // 32-byte level-1 root (4 entries); iova 1G is root index 1; table entries carry NSTable (bit 63).
    expect(entry(mem, TBASE + 8)).toEqual([0x1003, 0x80000008]);
    expect(entry(mem, TBASE + 0x1000)).toEqual([0x2003, 0x80000008]);
    // Leaf: NS (bit 5) and DBM (bit 51) because it is writable.
    expect(entry(mem, TBASE + 0x2000)).toEqual([0x23456000 | 0xe63, 0x00080001]);
    expect(t.mapPages(0x4000_1000, 0x1_2345_7000, 0x1000, 1, IOMMU_READ)).toEqual({ ret: 0, mapped: 0x1000 });
    expect(entry(mem, TBASE + 0x2008)).toEqual([0x23457000 | 0xee3, 0x00000001]); // read-only: no DBM
    const regs = t.registers();
    expect(regs.mair).toBe('0xfffffffff404ff44');
    expect(regs.mair0).toBe('0xf404ff44');
    expect(regs.ttbr).toBe('0x800000000');
  });

  it('16K granule: 32M block at level 2', () => {
    const { t, mem, cfg } = setup('arm-64-lpae-s1', { granule: 16384, ias: 36 });
    expect([cfg.startLevel, cfg.pgdSize]).toEqual([2, 16384]);
    expect(t.mapPages(0x200_0000, 0x4000_0000, 0x200_0000, 1, RW)).toEqual({ ret: 0, mapped: 0x200_0000 });
    expect(entry(mem, TBASE + 8)).toEqual([0x4000_0e41, 0]);
    expect(t.mapPages(0x4000, 0x5000_4000, 0x4000, 1, RW)).toEqual({ ret: 0, mapped: 0x4000 });
    expect(entry(mem, TBASE)).toEqual([(TBASE + 0x4000) % 2 ** 32 | 3, 8]); // 16K level-3 table
    expect(entry(mem, TBASE + 0x4000 + 8)).toEqual([0x5000_4e43, 0]);
    expect(t.iovaToPhys(0x7fff)).toBe(0x5000_7fff);
  });

  it('64K granule with 52-bit output: PA bits 51:48 go to descriptor bits 15:12 (LP:181-200)', () => {
    const { t, mem, cfg } = setup('arm-64-lpae-s1', { granule: 65536, ias: 48, oas: 52 });
    expect([cfg.startLevel, cfg.pgdSize, cfg.tcr.ips, cfg.tcr.tg]).toEqual([1, 512, 6, 1]);
    const pa = 0xf_0000_1234_0000;
    expect(t.mapPages(0x10000, pa, 0x10000, 1, RW)).toEqual({ ret: 0, mapped: 0x10000 });
    // root (512 bytes, one 64K allocation), level 2 at +0x10000, level 3 at +0x20000
    expect(entry(mem, TBASE + 0x20000 + 8)).toEqual([0x1234_fe43, 0]);
    expect(t.iovaToPhys(0x1abcd)).toBe(pa + 0xabcd);
    const w = getFormat('arm-64-lpae-s1').walk(mem, { roots: t.roots, cfg }, 0x1abcd);
    expect(w.phys).toBe(pa + 0xabcd);
    // With oas 48 the same descriptor is an address-size fault for the hardware.
    const c48 = getFormat('arm-64-lpae-s1').resolveConfig({ granule: 65536, ias: 48, oas: 48 });
    expect(getFormat('arm-64-lpae-s1').walk(mem, { roots: t.roots, cfg: c48 }, 0x1abcd).fault).toBe('address-size');
  });

  it('ARM_TTBR1: IOVAs are the low ias bits of the upper half', () => {
    const { t, mem } = setup('arm-64-lpae-s1', { quirks: ['ARM_TTBR1'], ias: 39 });
    expect(t.mapPages(0x1000, 0x9000, 0x1000, 1, RW).ret).toBe(0);
    expect(t.iovaToPhys(0x1008)).toBe(0x9008);
    expect(t.mapPages(2 ** 39, 0x9000, 0x1000, 1, RW).ret).toBe(-ERANGE);
    expect(entry(mem, TBASE)[0]).toBe(0x1003);
  });
});

describe('map/unmap paths', () => {
  it('returns -EINVAL, -ERANGE, -EEXIST with the kernel WARNs', () => {
    const { t, host } = setup('arm-64-lpae-s1');
    expect(t.mapPages(0, 0, 0x2000, 1, RW)).toEqual({ ret: -EINVAL, mapped: 0 });
    expect(host.rec.warns.at(-1)).toEqual({ file: 'io-pgtable-arm.c', line: 522, cond: '!pgsize || (pgsize & cfg->pgsize_bitmap) != pgsize' });
    expect(t.mapPages(2 ** 48, 0, 0x1000, 1, RW).ret).toBe(-ERANGE);
    expect(t.mapPages(0, 2 ** 48, 0x1000, 1, RW).ret).toBe(-ERANGE);
    expect(host.rec.warns.at(-1)?.line).toBe(527);
    const nw = host.rec.warns.length;
    expect(t.mapPages(0, 0, 0x1000, 1, IOMMU_CACHE).ret).toBe(-EINVAL); // no READ/WRITE: no WARN (LP:530)
    expect(host.rec.warns.length).toBe(nw);
    expect(t.mapPages(0x20_0000, 0x20_0000, 0x20_0000, 1, RW).ret).toBe(0);
    // A page inside the block: the walk meets a leaf at level 2 (LP:433-437).
    expect(t.mapPages(0x20_1000, 0, 0x1000, 1, RW)).toEqual({ ret: -EEXIST, mapped: 0 });
    expect(host.rec.warns.at(-1)).toEqual({ file: 'io-pgtable-arm.c', line: 436, cond: '!selftest_running' });
    // The same block again: the leaf is found by arm_lpae_init_pte (LP:331-335).
    expect(t.mapPages(0x20_0000, 0, 0x20_0000, 1, RW).ret).toBe(-EEXIST);
    expect(host.rec.warns.at(-1)?.line).toBe(334);
    // Unmapping what is not mapped: WARN_ON(!pte) (LP:660) and 0.
    expect(t.unmapPages(0x4000_0000, 0x1000, 1)).toBe(0);
    expect(host.rec.warns.at(-1)?.line).toBe(660);
    expect(t.unmapPages(0x20_0000, 0x1000, 0)).toBe(0);
    expect(host.rec.warns.at(-1)?.line).toBe(715);
  });

  it('maps pgcount entries only up to the end of one table (LP:402-410)', () => {
    const { t } = setup('arm-64-lpae-s1');
    expect(t.mapPages(0x1f_e000, 0x1000_0000, 0x1000, 4, RW)).toEqual({ ret: 0, mapped: 0x2000 });
    expect(t.iovaToPhys(0x20_0000)).toBe(0);
  });

  it('splits a 1G block down to pages to unmap one 4K page (LP:584-642)', () => {
    const { t, mem, host } = setup('arm-64-lpae-s1');
    expect(t.mapPages(G, 0x4000_0000, G, 1, RW | IOMMU_CACHE).ret).toBe(0);
    const before = host.rec.allocs.length;
    expect(t.unmapPages(G + 0x20_1000, 0x1000, 1)).toBe(0x1000);
    // One level-2 table (512 x 2M blocks), then the 2M block holding the page becomes a level-3 table.
    expect(host.rec.allocs.length - before).toBe(2);
    const [l2, l3] = host.rec.allocs.slice(before).map((a) => a.pa);
    expect(entry(mem, TBASE + 0x1000 + 8)).toEqual([l2 % 2 ** 32 | 3, 8]);
    expect(entry(mem, l2)).toEqual([0x4000_0000 | 0xf45, 0]); // block attrs kept, type block
    expect(entry(mem, l2 + 8)).toEqual([l3 % 2 ** 32 | 3, 8]);
    expect(entry(mem, l3)).toEqual([0x4020_0000 | 0xf47, 0]);
    expect(entry(mem, l3 + 8)).toEqual([0, 0]);
    expect(entry(mem, l3 + 16)).toEqual([0x4020_2000 | 0xf47, 0]);
    expect(host.rec.addPage).toEqual([{ iova: G + 0x20_1000, granule: 0x1000 }]);
    expect(t.iovaToPhys(G + 0x20_1000)).toBe(0);
    expect(t.iovaToPhys(G + 0x20_2004)).toBe(0x4020_2004);
    expect(t.iovaToPhys(G + 0x3fff_ffff)).toBe(0x7fff_ffff);
  });

  it('unmapping a 2M range that holds a page table frees the table and flushes the walk (LP:666-690)', () => {
    const { t, host } = setup('arm-64-lpae-s1');
    expect(t.mapPages(0x40_0000, 0x1000_0000, 0x1000, 3, RW).ret).toBe(0);
    const l3 = host.rec.allocs.at(-1)!.pa;
    expect(t.unmapPages(0x40_0000, 0x20_0000, 1)).toBe(0x20_0000);
    expect(host.rec.flushWalk).toEqual([{ iova: 0x40_0000, size: 0x20_0000, granule: 0x1000 }]);
    expect(host.rec.frees).toEqual([{ pa: l3, size: 0x1000 }]);
    expect(host.rec.addPage).toEqual([{ iova: 0x40_0000, granule: 0x20_0000 }]);
    expect(t.iovaToPhys(0x40_1000)).toBe(0);
  });

  it('tlb_add_page follows the gather: strict, none, queued; a split adds the page regardless (LP:634-636, 687-689)', () => {
    const { t, host } = setup('arm-64-lpae-s1');
    t.mapPages(0x1000, 0x9000, 0x1000, 3, RW);
    expect(t.unmapPages(0x1000, 0x1000, 1, null)).toBe(0x1000);
    expect(t.unmapPages(0x2000, 0x1000, 1, { queued: true })).toBe(0x1000);
    expect(host.rec.addPage).toEqual([]);
    expect(t.unmapPages(0x3000, 0x1000, 1, { queued: false })).toBe(0x1000);
    expect(host.rec.addPage).toEqual([{ iova: 0x3000, granule: 0x1000 }]);
    t.mapPages(0x4000_0000, 0x4000_0000, 0x20_0000, 1, RW);
    expect(t.unmapPages(0x4000_0000, 0x1000, 1, { queued: true })).toBe(0x1000);
    expect(host.rec.addPage.at(-1)).toEqual({ iova: 0x4000_0000, granule: 0x1000 });
  });

  it('a block mapped over a page table replaces it, without tlb_add_page (LP:336-349)', () => {
    const { t, host } = setup('arm-64-lpae-s1');
    expect(t.mapPages(0x40_0000, 0x1000_0000, 0x1000, 1, RW).ret).toBe(0);
    expect(t.mapPages(0x40_0000, 0x2000_0000, 0x20_0000, 1, RW)).toEqual({ ret: 0, mapped: 0x20_0000 });
    expect(host.rec.frees.length).toBe(1);
    expect(host.rec.flushWalk.length).toBe(1);
    expect(host.rec.addPage.length).toBe(0);
    expect(t.iovaToPhys(0x40_0123)).toBe(0x2000_0123);
  });

  it('non-coherent walker: syncs every write and marks table entries SW_SYNC (LP:282-296, 372-385)', () => {
    const { t, mem, host } = setup('arm-64-lpae-s1', { coherentWalk: false });
    expect(t.mapPages(0x1000, 0x9000, 0x1000, 1, RW).ret).toBe(0);
    // Three table installs (each synced once) and one leaf sync.
    expect(host.rec.syncs).toEqual([
      { pa: TBASE, size: 8 },
      { pa: TBASE + 0x1000, size: 8 },
      { pa: TBASE + 0x2000, size: 8 },
      { pa: TBASE + 0x3000 + 8, size: 8 },
    ]);
    expect(entry(mem, TBASE)).toEqual([(TBASE + 0x1000) % 2 ** 32 | 3, 0x00800008]);
    host.rec.syncs = [];
    // Second page: the SW_SYNC entries need no sync on the way down.
    expect(t.mapPages(0x2000, 0xa000, 0x1000, 2, RW).ret).toBe(0);
    expect(host.rec.syncs).toEqual([{ pa: TBASE + 0x3000 + 16, size: 16 }]);
    host.rec.syncs = [];
    expect(t.unmapPages(0x2000, 0x1000, 2)).toBe(0x2000);
    expect(host.rec.syncs).toEqual([{ pa: TBASE + 0x3000 + 16, size: 16 }]);
    // Split of a block: one sync per new entry (511), then the install.
    expect(t.mapPages(0x4000_0000, 0x4000_0000, 0x20_0000, 1, RW).ret).toBe(0);
    host.rec.syncs = [];
    expect(t.unmapPages(0x4000_0000, 0x1000, 1)).toBe(0x1000);
    expect(host.rec.syncs.length).toBe(512);
    expect(host.rec.syncs.every((s) => s.size === 8)).toBe(true);
  });

  it('allocation failure is -ENOMEM for map and 0 bytes for a split (LP:420-422, 602-604)', () => {
    const { t, host } = setup('arm-64-lpae-s1');
    host.failAfter = 2;
    expect(t.mapPages(0x1000, 0x9000, 0x1000, 1, RW)).toEqual({ ret: -ENOMEM, mapped: 0 });
    host.failAfter = Infinity;
    expect(t.mapPages(0x4000_0000, 0x4000_0000, G, 1, RW).ret).toBe(0);
    host.failAfter = host.rec.allocs.length;
    expect(t.unmapPages(0x4000_0000, 0x1000, 1)).toBe(0);
    expect(t.iovaToPhys(0x4000_0000)).toBe(0x4000_0000);
    const mem = new PhysMem([{ base: 0, size: 0x10000 }]);
    const h = new BumpHost(mem, 0);
    h.failAfter = 0;
    expect(getFormat('arm-64-lpae-s1').create({}, h)).toBeNull();
  });

  it('free() releases every table once, depth first, after a full flush (LP:545-582)', () => {
    const { t, host } = setup('arm-64-lpae-s1');
    t.mapPages(0x1000, 0x9000, 0x1000, 1, RW);
    t.mapPages(0x8000_0000, 0x9000, 0x1000, 1, RW);
    t.mapPages(0x4000_0000, 0x4000_0000, 0x20_0000, 1, RW);
    t.free();
    expect(host.rec.flushAll).toBe(1);
    const allocated = host.rec.allocs.map((a) => a.pa).sort();
    expect(host.rec.frees.map((f) => f.pa).sort()).toEqual(allocated);
    expect(host.rec.frees.at(-1)).toEqual({ pa: TBASE, size: 4096 });
  });
});

describe('arm_lpae_do_selftests sweep (LP:1302-1444)', () => {
  const sizes = [0x1000 | 0x200000 | 0x40000000, 0x4000 | 0x2000000, 0x10000 | 0x20000000];
  const iasList = [32, 36, 40, 42, 44, 48];
  for (const pgsize of sizes)
    for (const ias of iasList)
      for (const fmt of ['arm-64-lpae-s1', 'arm-64-lpae-s2'])
        it(`${fmt} pgsize_bitmap ${pgsize.toString(16)} ias ${ias}`, () => {
          const { t } = setup(fmt, { pgsizeBitmap: pgsize, ias, oas: 48, coherentWalk: true });
          const bitmap = t.cfg.pgsizeBitmap;
          expect(t.iovaToPhys(42)).toBe(0);
          expect(t.iovaToPhys(G + 42)).toBe(0);
          expect(t.iovaToPhys(2 * G + 42)).toBe(0);
          const list: number[] = [];
          for (let b = 0; b < 43; b++) if (Math.floor(bitmap / 2 ** b) % 2) list.push(2 ** b);
          let iova = 0;
          for (const size of list) {
            expect(t.mapPages(iova, iova, size, 1, RW | IOMMU_NOEXEC | IOMMU_CACHE).ret).toBe(0);
            expect(t.mapPages(iova, iova + size, size, 1, IOMMU_READ | IOMMU_NOEXEC).ret).not.toBe(0);
            expect(t.iovaToPhys(iova + 42)).toBe(iova + 42);
            iova += G;
          }
          const size0 = list[0];
          expect(t.unmapPages(G + size0, size0, 1)).toBe(size0);
          expect(t.mapPages(G + size0, size0, size0, 1, IOMMU_READ).ret).toBe(0);
          expect(t.iovaToPhys(G + size0 + 42)).toBe(size0 + 42);
          iova = 0;
          for (const size of list) {
            expect(t.unmapPages(iova, size, 1)).toBe(size);
            expect(t.iovaToPhys(iova + 42)).toBe(0);
            expect(t.mapPages(iova, iova, size, 1, IOMMU_WRITE).ret).toBe(0);
            expect(t.iovaToPhys(iova + 42)).toBe(iova + 42);
            iova += G;
          }
          t.free();
        });
});

describe('base registers and words', () => {
  const s1 = getFormat('arm-64-lpae-s1');
  it('decodes TTBR: base bits 47:1, CnP bit 0, ASID ignored', () => {
    const cfg = s1.resolveConfig({});
    expect(s1.decodeRootRegister(0x8_1234_5000 + 1, cfg)).toEqual([0x8_1234_5000]);
    expect(s1.decodeRootRegister(0x1f * 2 ** 48 + 0x4000_0000, cfg)).toEqual([0x4000_0000]);
    expect(decodeTtbr(0x4000_0001, 0xabcd_0008, cfg)).toEqual({ base: 0x8_4000_0000, cnp: true, asid: 0xabcd });
    // A value with ASID bits beyond 2^53 cannot be a JS number: refused with the way out.
    expect(() => s1.decodeRootRegister(2 ** 60, cfg)).toThrow(/53 bits/);
    // arm-32: the 32-byte root only needs 32-byte alignment; the AArch64 formats at least 64.
    const c32 = getFormat('arm-32-lpae-s1').resolveConfig({});
    expect(getFormat('arm-32-lpae-s1').decodeRootRegister(0x8_0000_0020, c32)).toEqual([0x8_0000_0020]);
    const c40 = s1.resolveConfig({ ias: 40 }); // 16-byte level-0 table
    expect(s1.decodeRootRegister(0x8_0000_0020, c40)).toEqual([0x8_0000_0000]);
    // 64K granule, 52-bit output: TTBR bits 5:2 hold BADDR 51:48.
    const c52 = s1.resolveConfig({ granule: 65536, ias: 48, oas: 52 });
    expect(decodeTtbr(0x1234_0000 | (0xf << 2), 0, c52).base).toBe(0xf_0000_1234_0000);
  });

  it('describes a stage-1 page and a stage-2 block field by field', () => {
    const cfg = s1.resolveConfig({});
    const d = s1.describeEntry(3, 0x9000_0ec3, 0x0060_0000, cfg);
    expect(d).toMatchObject({ valid: true, kind: 'page', address: 0x9000_0000, prot: IOMMU_READ | IOMMU_NOEXEC, reservedBitsSet: false });
    const f = Object.fromEntries(d.fields);
    expect(f['bit 7 (AP[2]: read-only)']).toBe('1');
    expect(f['bit 10 (AF, access flag)']).toBe('1');
    const s2 = getFormat('arm-64-lpae-s2');
    const c2 = s2.resolveConfig({});
    const b = s2.describeEntry(2, 0x4000_07fd, 0, c2);
    expect(b).toMatchObject({ kind: 'block', address: 0x4000_0000, prot: RW | IOMMU_CACHE });
    expect(Object.fromEntries(b.fields)['bits 5:2 (MemAttr)']).toMatch(/^0xf /);
    // Reserved bits: bit 48 in a page; a 2M block with address bit 12 set.
    expect(s1.describeEntry(3, 0x1003, 0x0001_0000, cfg).reservedBitsSet).toBe(true);
    expect(s1.describeEntry(2, 0x20_1e41, 0, cfg).reservedBitsSet).toBe(true);
    // A level-0 block with the 4K granule is not a valid descriptor.
    expect(s1.describeEntry(0, 0x0e41, 0, cfg).valid).toBe(false);
    expect(s1.describeEntry(1, 0x0000_0002, 0, cfg)).toMatchObject({ valid: false, kind: 'bogus' });
    expect(s1.describeEntry(1, 0x8000_1003, 0x0080_0008, cfg)).toMatchObject({ kind: 'table', address: 0x8_8000_1000 });
  });

  it("names a table descriptor's address field by granule: 4K 47:12, 16K 47:14 with 13:12 RES0, 64K 47:16", () => {
    const field = (granule: number, lo: number) => {
      const d = s1.describeEntry(2, lo, 0x1, s1.resolveConfig({ granule }));
      return [d.fields.find(([k]) => k.startsWith('next-level table address')), d.address, d.reservedBitsSet];
    };
    expect(field(4096, 0x1000_1003)).toEqual([['next-level table address (bits 47:12)', '0x110001000'], 0x1_1000_1000, false]);
    // 16K: bit 12 is RES0 in a table descriptor (the hardware ignores it; QEMU's SMMUv3 reads 47:14 too).
    expect(field(16384, 0x1000_1003)).toEqual([['next-level table address (bits 47:14; 13:12 RES0)', '0x110000000'], 0x1_1000_0000, true]);
    expect(field(65536, 0x1001_0003)).toEqual([['next-level table address (bits 47:16, 51:48 in 15:12)', '0x110010000'], 0x1_1001_0000, false]);
  });
});
