/**
 * __iommu_dma_alloc_pages (drivers/iommu/dma-iommu.c:886-935), worked out by hand: orders come from
 * pgsize_bitmap >> PAGE_SHIFT capped at MAX_PAGE_ORDER; per remaining count only orders <= fls(count);
 * the highest first, with __GFP_NORETRY while a smaller one remains; a failed order is dropped for good.
 */
import { describe, expect, it } from 'vitest';
import { allocPagesForRemap } from '../../../src/linux/dma/dma-iommu-alloc.js';
import { GFP_KERNEL, __GFP_HIGHMEM, __GFP_NORETRY, __GFP_NOWARN } from '../../../src/linux/mm/gfp.js';

const BASE = GFP_KERNEL | __GFP_NOWARN | __GFP_HIGHMEM;

function fake(failOrders: number[] = [], failAfter = Infinity) {
  const calls: [number, number][] = [];
  const freed: number[] = [];
  let next = 0x100000;
  let n = 0;
  return {
    calls,
    freed,
    alloc: (gfp: number, order: number) => {
      calls.push([gfp, order]);
      if (failOrders.includes(order) || n++ >= failAfter) return null;
      const pa = next;
      next += 0x2000 << order; // leave holes: blocks are not contiguous
      return pa;
    },
    free: (c: { pa: number }) => void freed.push(c.pa),
  };
}

describe('allocPagesForRemap (__iommu_dma_alloc_pages)', () => {
  it('Rockchip bitmap (4K..4M), 3 pages: an order-1 block with NORETRY, then an order-0 page without', () => {
    const f = fake();
    const chunks = allocPagesForRemap(3, 0x007ff000 / 4096, GFP_KERNEL, 10, f.alloc, f.free);
    expect(chunks?.map((c) => c.order)).toEqual([1, 0]);
    expect(f.calls).toEqual([[BASE | __GFP_NORETRY, 1], [BASE, 0]]);
  });

  it('a failed order is never tried again', () => {
    const f = fake([2]);
    const chunks = allocPagesForRemap(8, 0x7ff, GFP_KERNEL, 10, f.alloc, f.free);
    // count 8: order 3 ok. Then done. Try count 12 instead: order 3 ok, count 4: order 2 fails, 1, 1.
    expect(chunks?.map((c) => c.order)).toEqual([3]);
    const g = fake([2]);
    const c2 = allocPagesForRemap(12, 0x7ff, GFP_KERNEL, 10, g.alloc, g.free);
    expect(c2?.map((c) => c.order)).toEqual([3, 1, 1]);
    expect(g.calls.map(([, o]) => o)).toEqual([3, 2, 1, 1]);
  });

  it('IPMMU bitmap (4K | 2M | 1G): orders 0 and 9 only (1G is above MAX_PAGE_ORDER), 600 pages = 512 + 88 x 1', () => {
    const f = fake();
    const bitmap = 0x1000 + 0x200000 + 0x40000000;
    const chunks = allocPagesForRemap(600, Math.floor(bitmap / 4096), GFP_KERNEL, 10, f.alloc, f.free)!;
    expect(chunks.length).toBe(89);
    expect(chunks[0].order).toBe(9);
    expect(chunks.slice(1).every((c) => c.order === 0)).toBe(true);
    expect(f.calls[0][0] & __GFP_NORETRY).toBeTruthy();
    expect(f.calls[1][0] & __GFP_NORETRY).toBe(0);
  });

  it('a failure at the smallest order frees what was taken and fails', () => {
    const f = fake([], 2);
    expect(allocPagesForRemap(7, 0x7ff, GFP_KERNEL, 10, f.alloc, f.free)).toBeNull();
    expect(f.freed.length).toBe(2);
  });

  it('no usable order (bitmap entirely above MAX_PAGE_ORDER) fails at once', () => {
    const f = fake();
    expect(allocPagesForRemap(4, 1 << 11, GFP_KERNEL, 10, f.alloc, f.free)).toBeNull();
    expect(f.calls).toEqual([]);
  });
});
