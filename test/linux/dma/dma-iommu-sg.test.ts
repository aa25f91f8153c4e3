/**
 * iommu_dma_map_sg's layout, iommu_map_sg's runs and __finalise_sg (drivers/iommu/dma-iommu.c:1248-1492,
 * iommu.c:2616-2674), cases worked out by hand from the source with a 4 KiB granule and the default
 * dma_parms (max segment 64 KiB, boundary mask ULONG_MAX).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { finaliseSg, layoutSg, mapRuns } from '../../../src/linux/dma/dma-iommu-sg.js';

const G = 0x1000;

describe('dma-iommu scatterlists', () => {
  it('three scattered whole pages: 12 KiB of IOVA, three runs, one DMA segment', () => {
    const sg = [{ phys: 0x10000, length: G }, { phys: 0x30000, length: G }, { phys: 0x20000, length: 2 * G }];
    const l = layoutSg(sg, G);
    expect(l.iovaLen).toBe(0x4000);
    expect(mapRuns(l)).toEqual([{ phys: 0x10000, length: G }, { phys: 0x30000, length: G }, { phys: 0x20000, length: 2 * G }]);
    expect(finaliseSg(l, 0xffffc000)).toEqual([{ dma: 0xffffc000, length: 0x4000 }]);
  });

  it('a sub-page first entry: its offset is kept, its granule padded, and nothing joins it', () => {
    const l = layoutSg([{ phys: 0x10100, length: 0x100 }, { phys: 0x20000, length: G }], G);
    expect(l.segs[0]).toEqual({ alignedPhys: 0x10000, iovaLen: G, iovaOff: 0x100, length: 0x100 });
    expect(l.iovaLen).toBe(0x2000);
    expect(finaliseSg(l, 0x8000)).toEqual([{ dma: 0x8100, length: 0x100 }, { dma: 0x9000, length: G }]);
  });

  it('an entry starting inside a granule starts a new DMA segment', () => {
    const l = layoutSg([{ phys: 0x10000, length: G }, { phys: 0x20800, length: 0x800 }], G);
    expect(finaliseSg(l, 0x8000)).toEqual([{ dma: 0x8000, length: G }, { dma: 0x9800, length: 0x800 }]);
  });

  it('physically contiguous entries are mapped as one run', () => {
    const l = layoutSg([{ phys: 0x10000, length: G }, { phys: 0x11000, length: G }, { phys: 0x12000, length: G }], G);
    expect(mapRuns(l)).toEqual([{ phys: 0x10000, length: 3 * G }]);
  });

  it('the default 64 KiB max segment size splits 17 pages into 16 + 1', () => {
    const sg = Array.from({ length: 17 }, (_, i) => ({ phys: 0x100000 + i * 0x2000, length: G }));
    const out = finaliseSg(layoutSg(sg, G), 0x400000);
    expect(out).toEqual([{ dma: 0x400000, length: 0x10000 }, { dma: 0x410000, length: G }]);
    // with a larger dma_parms max_segment_size they stay one
    expect(finaliseSg(layoutSg(sg, G), 0x400000, 0x20000)).toEqual([{ dma: 0x400000, length: 17 * G }]);
  });

  it('no concatenation across a segment boundary (dma_addr & seg_mask == 0), whatever the max size', () => {
    const sg = Array.from({ length: 17 }, (_, i) => ({ phys: 0x100000 + i * 0x2000, length: G }));
    const l = layoutSg(sg, G, 0xffff);
    expect(l.iovaLen).toBe(17 * G); // page-sized entries never need padding
    expect(finaliseSg(l, 0x400000, 0x100000, 0xffff)).toEqual([{ dma: 0x400000, length: 0x10000 }, { dma: 0x410000, length: G }]);
  });

  it('a 64 KiB boundary mask pads the previous entry so the next does not cross it', () => {
    // 3 pages, then a 64 KiB entry: pad = 0x10000 - 0x3000 = 0xd000 < 0x10000 - 1 -> prev grows.
    const l = layoutSg([{ phys: 0x100000, length: 3 * G }, { phys: 0x200000, length: 0x10000 }], G, 0xffff);
    expect(l.segs[0].iovaLen).toBe(0x10000);
    expect(l.iovaLen).toBe(0x20000);
    const out = finaliseSg(l, 0x800000, 0x10000, 0xffff);
    // the first stops short of its (padded) length, so the second starts a new segment at the boundary
    expect(out).toEqual([{ dma: 0x800000, length: 3 * G }, { dma: 0x810000, length: 0x10000 }]);
  });

  it('property: the runs cover the IOVA length, every output byte maps back to its entry', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ page: fc.integer({ min: 1, max: 4000 }), off: fc.integer({ min: 0, max: G - 1 }), len: fc.integer({ min: 1, max: 3 * G }) }), { minLength: 1, maxLength: 20 }),
        (ents) => {
          const sg = ents.map((e) => ({ phys: e.page * 4 * G + e.off, length: e.len }));
          const l = layoutSg(sg, G);
          expect(mapRuns(l).reduce((n, r) => n + r.length, 0)).toBe(l.iovaLen);
          expect(l.iovaLen % G).toBe(0);
          const iova = 0x1000000;
          const out = finaliseSg(l, iova);
          expect(out.reduce((n, s) => n + s.length, 0)).toBe(sg.reduce((n, s) => n + s.length, 0));
          // Each entry's data sits at iova + (sum of earlier aligned lengths) + its offset.
          let at = iova;
          for (let i = 0; i < sg.length; i++) {
            const dma = at + l.segs[i].iovaOff;
            expect(out.some((s) => dma >= s.dma && dma + sg[i].length <= s.dma + s.length)).toBe(true);
            at += l.segs[i].iovaLen;
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
