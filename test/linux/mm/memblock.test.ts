import { describe, expect, it } from 'vitest';
import type { RamBank } from '../../../src/mem/phys-mem.js';
import { Memblock, arm64BootMemblock, memmapBytes } from '../../../src/linux/mm/memblock.js';
import { GFP_KERNEL } from '../../../src/linux/mm/gfp.js';
import { PageAllocator } from '../../../src/linux/mm/page-alloc.js';

const M = 0x10_0000;
const G = 0x4000_0000;
const rk2g: RamBank[] = [{ base: 0x20_0000, size: 0x8000_0000 - 0x20_0000 }];
const rk8g: RamBank[] = [
  { base: 0x20_0000, size: 0xf000_0000 - 0x20_0000 },
  { base: 0x1_0000_0000, size: 4 * G },
];

describe('memblock top-down allocation (mm/memblock.c __memblock_find_range_top_down)', () => {
  it('never hands out the first page', () => {
    const mb = new Memblock([{ base: 0, size: 0x4000 }]);
    expect(mb.alloc(0x4000, 0x1000)).toBeNull();
    expect(mb.alloc(0x3000, 0x1000)).toBe(0x1000);
  });

  it('memblock_alloc_low with an inclusive limit ends one page below RAM that reaches the limit', () => {
    const mb = new Memblock([{ base: 0, size: 4 * G }]);
    // end = 0xffffffff: round_down(0xffffffff - 64M, 4K) = 0xfbfff000.
    expect(mb.allocLow(64 * M, 0x1000, 0x1_0000_0000, 'swiotlb')).toBe(0xfbff_f000);
  });

  it('arm64 8 GiB RK3568: memmap at the top, CMA and swiotlb below the MMIO hole', () => {
    // 62 present sections -> 124 MiB, 2 MiB aligned, top-down from 0x2_0000_0000.
    expect(memmapBytes(rk8g)).toBe(124 * M);
    const mb = arm64BootMemblock(rk8g, { cmaBytes: 64 * M });
    // CMA is bounded by arm64_dma_phys_limit = 4 GiB; the range above 4 GiB clamps to nothing.
    expect(mb.allocLow(64 * M, 0x1000, 0x1_0000_0000, 'swiotlb')).toBe(0xe800_0000);
    expect(mb.reserved).toEqual([
      { base: 0x2_0000_0000 - 124 * M, size: 124 * M, name: 'memmap' },
      { base: 0xec00_0000, size: 64 * M, name: 'cma' },
      { base: 0xe800_0000, size: 64 * M, name: 'swiotlb' },
    ]);
    const pa = new PageAllocator({ banks: rk8g, reserved: mb.reserved, bootHistory: null });
    const [dma, , normal] = pa.zoneStats();
    expect(dma.managedPages).toBe((0xe800_0000 - 0x20_0000) / 4096);
    expect(normal.managedPages).toBe((4 * G - 124 * M) / 4096);
    expect(pa.allocPage(GFP_KERNEL)).toBe(0x1_0000_0000);
  });

  it('arm64 2 GiB RK3568: the pool goes right below the memmap', () => {
    const mb = arm64BootMemblock(rk2g, { kernel: { base: 0x20_0000, size: 40 * M } });
    // 16 sections -> 32 MiB at 0x7e000000; memblock_alloc_low(64M) with limit 0x80000000 - 1.
    expect(mb.allocLow(64 * M, 0x1000, 0x8000_0000, 'swiotlb')).toBe(0x7a00_0000);
    expect(mb.freeRanges()).toEqual([{ base: 0x20_0000 + 40 * M, end: 0x7a00_0000 }]);
  });
});
