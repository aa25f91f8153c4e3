import { describe, expect, it } from 'vitest';
import { iommuPgsize, lowestBit } from '../../../src/linux/iommu/core.js';

// Worked by hand from iommu_pgsize() in drivers/iommu/iommu.c (6.12).
const RK = 0x007ff000; // Rockchip: every power of two 4K..4M
const LPAE4K = 0x40201000; // 4K | 2M | 1G

function split(bitmap: number, iova: number, pa: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  while (size) {
    const { pgsize, count } = iommuPgsize(bitmap, iova, pa, size);
    out.push([pgsize, count]);
    const n = pgsize * count;
    iova += n;
    pa += n;
    size -= n;
  }
  return out;
}

describe('iommu_pgsize', () => {
  it('the fact sheet example: Rockchip, iova 0x1000 pa 0x5000 size 4M', () => {
    expect(iommuPgsize(RK, 0x1000, 0x5000, 0x400000)).toEqual({ pgsize: 0x1000, count: 1 });
    // next call at iova 0x2000, pa 0x6000: 8K allowed by alignment, 16K boundary at 0x4000 is 0x2000 away
    expect(iommuPgsize(RK, 0x2000, 0x6000, 0x3ff000)).toEqual({ pgsize: 0x2000, count: 1 });
  });
  it('an unaligned 2 MiB + 12 KiB map on LPAE 4K: 4K pages up to the 2M boundary, then a 2M block, then 4K', () => {
    // iova 0x1ff000, pa 0x401ff000 (same offset mod 2M), size 2M+12K
    // first: 4K pages; next size 2M, offset to boundary = 0x1000; 0x1000+2M <= size -> count 1
    // then 2M block at 0x200000; then remaining 8K as two 4K pages
    expect(split(LPAE4K, 0x1ff000, 0x401ff000, 0x203000)).toEqual([
      [0x1000, 1],
      [0x200000, 1],
      [0x1000, 2],
    ]);
  });
  it('never picks a larger page when iova and pa are offset differently', () => {
    expect(split(LPAE4K, 0x200000, 0x40201000, 0x400000)).toEqual([[0x1000, 1024]]);
  });
  it('handles addresses above 4 GiB (no 32-bit truncation)', () => {
    expect(iommuPgsize(LPAE4K, 0x1_4000_0000, 0x7_4000_0000, 0x4000_0000)).toEqual({ pgsize: 0x4000_0000, count: 1 });
    expect(lowestBit(0x1_0000_0000)).toBe(0x1_0000_0000);
    expect(lowestBit(RK)).toBe(0x1000);
  });
});
