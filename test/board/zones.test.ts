/**
 * Zone boundaries worked out by hand from arch/arm64/mm/init.c:117-155 (zone_sizes_init, max_zone_phys)
 * and mm/mm_init.c:1795-1832 (free_area_init, "Zone ranges:" lines), for RAM sizes 2/4/8/16 GiB and
 * layouts with holes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { zoneBoundaries, zoneRangesText } from '../../src/board/zones.js';
import { RAM_FAMILIES, resolveRam } from '../../src/board/ram-layouts.js';

const G = 1024 ** 3;
const rk = RAM_FAMILIES.find((f) => f.id === 'rk356x');
const span = (z: { start: number; end: number; empty: boolean }): [number, number] | 'empty' => (z.empty ? 'empty' : [z.start, z.end]);

describe('arm64 zones', () => {
  it('2 GiB RK3568: everything in ZONE_DMA, DMA32 and Normal empty (README point 21)', () => {
    const z = zoneBoundaries(resolveRam('2G', rk).banks);
    // zone_dma_limit = min(PHYS_ADDR_MAX, U32_MAX); max_zone_phys = min(0xffffffff, 0x7fffffff) + 1
    expect(z.zoneDmaLimit).toBe(0xffffffff);
    expect(z.arm64DmaPhysLimit).toBe(0x8000_0000);
    expect(z.zones.map(span)).toEqual([[0x20_0000, 0x8000_0000], 'empty', 'empty']);
    expect(zoneRangesText(z)).toEqual([
      'Zone ranges:',
      '  DMA      [mem 0x0000000000200000-0x000000007fffffff]',
      '  DMA32    empty',
      '  Normal   empty',
    ]);
  });

  it('4 GiB RK3568: DMA up to 4 GiB over the MMIO hole, Normal holds only the 256 MiB alias', () => {
    const z = zoneBoundaries(resolveRam('4G', rk).banks);
    expect(z.zones.map(span)).toEqual([[0x20_0000, 0x1_0000_0000], 'empty', [0x1_0000_0000, 0x2_0000_0000]]);
    expect(z.zones.map((x) => x.present)).toEqual([0xf000_0000 - 0x20_0000, 0, 256 * 1024 * 1024]);
  });

  it('4 GiB RK3568 without the high alias: all below 4 GiB, DMA ends at the end of DRAM', () => {
    const z = zoneBoundaries(resolveRam('4G/no-high-alias', rk).banks);
    expect(z.zones.map(span)).toEqual([[0x20_0000, 0xf000_0000], 'empty', 'empty']);
  });

  it('8 GiB RK3568: Normal from 4 GiB to 8 GiB', () => {
    const z = zoneBoundaries(resolveRam('8G', rk).banks);
    expect(zoneRangesText(z).slice(1)).toEqual([
      '  DMA      [mem 0x0000000000200000-0x00000000ffffffff]',
      '  DMA32    empty',
      '  Normal   [mem 0x0000000100000000-0x00000001ffffffff]',
    ]);
  });

  it('16 GiB contiguous from 0x4000_0000: DMA to 4 GiB, Normal above', () => {
    const z = zoneBoundaries([{ base: 0x4000_0000, size: 16 * G }]);
    expect(z.zones.map(span)).toEqual([[0x4000_0000, 0x1_0000_0000], 'empty', [0x1_0000_0000, 0x4_4000_0000]]);
  });

  it('Salvator-X: spans are contiguous across the hole (page-allocator-zones.md §1 table)', () => {
    const z = zoneBoundaries(
      [
        { base: 0x4800_0000, size: 0x3800_0000 },
        { base: 0x5_0000_0000, size: G },
        { base: 0x6_0000_0000, size: G },
        { base: 0x7_0000_0000, size: G },
      ],
      0xffffffff,
    );
    expect(z.zones.map(span)).toEqual([[0x4800_0000, 0x1_0000_0000], 'empty', [0x1_0000_0000, 0x7_4000_0000]]);
    expect(z.zones[2].present).toBe(3 * G);
  });

  it('Apple M1 (all RAM above 4 GiB, no dma-ranges): ZONE_DMA covers everything', () => {
    const z = zoneBoundaries([{ base: 0x8_0000_0000, size: 16 * G }]);
    // DRAM starts above U32_MAX: no clamp; max_zone_phys(PHYS_ADDR_MAX) = end of DRAM
    expect(z.zoneDmaLimit).toBe(Number.MAX_SAFE_INTEGER);
    expect(z.zones.map(span)).toEqual([[0x8_0000_0000, 0xc_0000_0000], 'empty', 'empty']);
  });

  it('a 1 GiB dma-ranges limit makes a real ZONE_DMA32 between 1 GiB and 4 GiB', () => {
    const z = zoneBoundaries([{ base: 0, size: 8 * G }], 0x3fff_ffff);
    expect(z.zones.map(span)).toEqual([[0, 0x4000_0000], [0x4000_0000, 0x1_0000_0000], [0x1_0000_0000, 0x2_0000_0000]]);
  });

  it('a limit below the start of DRAM leaves ZONE_DMA empty', () => {
    const z = zoneBoundaries([{ base: 0x8000_0000, size: 2 * G }], 0x3fff_ffff);
    expect(z.arm64DmaPhysLimit).toBe(0x4000_0000);
    expect(z.zones.map(span)).toEqual(['empty', [0x8000_0000, 0x1_0000_0000], 'empty']);
  });

  it('without CONFIG_ZONE_DMA, arm64_dma_phys_limit is the DMA32 end', () => {
    const z = zoneBoundaries([{ base: 0x4000_0000, size: 8 * G }], undefined, { zoneDma: false });
    expect(z.zoneDmaLimit).toBeUndefined();
    expect(z.arm64DmaPhysLimit).toBe(0x1_0000_0000);
    expect(z.zones.map(span)).toEqual(['empty', [0x4000_0000, 0x1_0000_0000], [0x1_0000_0000, 0x2_4000_0000]]);
  });

  it('invariants: spans tile [start of DRAM, end of DRAM) in order and hold every byte of RAM', () => {
    const bank = fc.record({ base: fc.integer({ min: 0, max: 0x40_0000 }).map((p) => p * 4096), size: fc.integer({ min: 1, max: 0x20_0000 }).map((p) => p * 4096) });
    fc.assert(
      fc.property(fc.array(bank, { minLength: 1, maxLength: 4 }), fc.option(fc.integer({ min: 0, max: 2 ** 40 })), (raw, limit) => {
        // make banks disjoint by laying them out one after another with gaps
        let at = 0;
        const banks = raw.map((b) => {
          at += b.base;
          const out = { base: at, size: b.size };
          at += b.size;
          return out;
        });
        const z = zoneBoundaries(banks, limit ?? undefined);
        const start = banks[0].base;
        const end = at;
        expect(z.zones[0].start).toBe(start);
        expect(z.zones[1].start).toBe(z.zones[0].end);
        expect(z.zones[2].start).toBe(z.zones[1].end);
        expect(z.zones[2].end).toBe(end);
        expect(z.zones.reduce((s, x) => s + x.present, 0)).toBe(banks.reduce((s, b) => s + b.size, 0));
        // RAM starting below 4 GiB with no limit: DMA32 always empty
        if (limit === null && start < 0xffffffff) expect(z.zones[1].empty).toBe(true);
      }),
      { numRuns: 200, seed: 21 },
    );
  });
});
