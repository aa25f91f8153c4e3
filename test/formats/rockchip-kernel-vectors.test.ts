/**
 * The Rockchip kernel vectors (test/fixtures/kernel-vectors/rockchip-*.json.gz, made by `npm run vectors`
 * from the kernel's own drivers/iommu/rockchip-iommu.c, cited RK:line) are replayed call by call in
 * kernel-vectors.test.ts. This file checks that they hold what makes that replay worth something - the
 * driver's clash print, unwinds, partial and empty unmaps, whole-page-table maps, addresses an entry
 * cannot hold, tables on both sides of 4 GiB - and that a few of the kernel's answers agree with values
 * worked out by hand from the driver's encoders, independently of our format.
 */
import { describe, expect, it } from 'vitest';
import { type MapCall, type UnmapCall, type Vector, hx, loadVector } from './kernel-vectors-helpers.js';

const V1 = loadVector('rockchip-v1-tables-below-4g.json.gz');
const V2_HIGH = loadVector('rockchip-v2-tables-above-4g.json.gz');
const V2_STRADDLE = loadVector('rockchip-v2-tables-straddle-4g.json.gz');
const ALL = [V1, V2_HIGH, V2_STRADDLE];

const maps = (v: Vector): MapCall[] => (v.calls ?? []).filter((c): c is MapCall => c.op === 'map');
const unmaps = (v: Vector): UnmapCall[] => (v.calls ?? []).filter((c): c is UnmapCall => c.op === 'unmap');
const SZ_4M = 0x40_0000;
const EADDRINUSE = 98; // include/uapi/asm-generic/errno.h

describe.each(ALL.map((v) => [v.name, v] as const))('%s', (_name, v) => {
  it("takes the driver's own limits: 4K..4M page sizes, a 32-bit aperture, the variant's DMA mask", () => {
    // RK_IOMMU_PGSIZE_BITMAP (RK:84), aperture_end = DMA_BIT_MASK(32) (RK:1103), dma_bit_mask (RK:1369, 1377).
    expect(v.alloc).toEqual({ pgsize_bitmap: '0x7ff000', ias: 32, oas: v.format === 'rockchip-v1' ? 32 : 40, events: [] });
  });

  it('only ever gets single page sizes the core picks, aligned, each mapped alone (count is ignored)', () => {
    for (const c of v.calls ?? []) {
      const pgsize = hx(c.pgsize);
      expect(pgsize & (pgsize - 1)).toBe(0);
      expect(pgsize & 0x7ff000).toBe(pgsize);
      expect(hx(c.iova) % pgsize).toBe(0);
      // rk_iommu_map maps `size` only and says so in *mapped (RK:870-871), whatever pgcount was.
      if (c.op === 'map' && c.ret === 0) expect(hx(c.mapped)).toBe(pgsize);
    }
    expect(maps(v).some((c) => c.pgcount > 1)).toBe(true);
  });

  it('holds clashes: -EADDRINUSE with the pr_err of RK:829 and its words, after the unwind sync', () => {
    const clashes = maps(v).filter((c) => c.ret === -EADDRINUSE);
    expect(clashes.length).toBeGreaterThan(5);
    for (const c of clashes) {
      const last = c.events[c.events.length - 1];
      expect(last.slice(0, 3)).toEqual(['warn', 'rockchip-iommu.c', 829]);
      // "iova: %pad already mapped to %pa cannot remap to phys: %pa prot: %#x" (RK:829-830), %pad/%pa
      // of 64-bit types printing 16 digits, and the prot printed as the caller passed it.
      expect(String(last[3])).toMatch(/^iova: 0x[0-9a-f]{16} already mapped to 0x[0-9a-f]{16} cannot remap to phys: 0x[0-9a-f]{16} prot: 0x[0-9a-f]+$/);
      expect(String(last[3]).endsWith(`prot: 0x${c.prot.toString(16)}`)).toBe(true);
      // The unwind flushes what it invalidated (RK:822-824) before printing: one sync, maybe empty.
      expect(c.events[c.events.length - 2][0]).toBe('sync');
      expect(c.mapped).toBe('0x0');
    }
    // Some unwinds undo PTEs this call had written (a non-empty sync).
    expect(clashes.some((c) => c.events.some((e) => e[0] === 'sync' && e[2] !== '0x0'))).toBe(true);
    // Some clashes are on whole-page-table (4 MiB) calls.
    expect(maps(v).some((c) => hx(c.pgsize) === SZ_4M)).toBe(true);
  });

  it('holds unmaps of nothing (0) and unmaps that stop at the first invalid PTE', () => {
    expect(unmaps(v).filter((c) => c.ret === '0x0').length).toBeGreaterThan(5);
    expect(unmaps(v).some((c) => hx(c.ret) > 0 && hx(c.ret) < hx(c.pgsize))).toBe(true);
  });

  it('frees every page table named by a valid DTE, then the DT last (RK:1123-1136)', () => {
    const frees = v.free!.events;
    expect(frees.every((e) => e[0] === 'free' && e[2] === '0x1000')).toBe(true);
    expect(frees[frees.length - 1][1]).toBe(v.roots![0]);
    // Every table the allocator handed out is freed once: the domain never frees a PT before.
    const tbase = hx(v.tbase);
    const pages = (hx(v.tables!.end) - tbase) / 0x1000;
    expect(new Set(frees.map((e) => e[1])).size).toBe(pages);
  });
});

describe('addresses the entries hold, worked out by hand from the encoders', () => {
  it('v1: DTE_ADDR is the DT address with the valid bit (rk_mk_dte, RK:225-228)', () => {
    expect(V1.roots).toEqual(['0xf0000000']);
    expect(V1.registers).toEqual({ DTE_ADDR: '0xf0000001' });
  });

  it('v2: DT at 0xa5_0000_0000 folds PA 35:32 (0x5) into bits 11:8 and 39:36 (0xa) into 7:4 (RK:230-237)', () => {
    expect(V2_HIGH.roots).toEqual(['0xa500000000']);
    expect(V2_HIGH.registers).toEqual({ DTE_ADDR: '0x5a1' });
  });

  it('v2 straddling 4 GiB: the DT just below, page tables on both sides', () => {
    const frees = V2_STRADDLE.free!.events.map((e) => hx(String(e[1])));
    expect(frees.some((pa) => pa < 2 ** 32)).toBe(true);
    expect(frees.some((pa) => pa >= 2 ** 32)).toBe(true);
    expect(V2_STRADDLE.registers).toEqual({ DTE_ADDR: '0xffff4001' });
  });

  it('v1: a page above 4 GiB is mapped at its alias below (rk_mk_pte keeps bits 31:12, RK:271-278)', () => {
    // A probe that lands in such a mapping translates to the truncated address, never above 4 GiB.
    const high = maps(V1).filter((c) => c.ret === 0 && hx(c.paddr) >= 2 ** 32);
    expect(high.length).toBeGreaterThan(0);
    for (const [, phys] of V1.probes!) expect(hx(phys)).toBeLessThan(2 ** 32);
  });
});
