/**
 * IOVA allocator cases worked out by hand from drivers/iommu/iova.c and dma-iommu.c (6.12); the
 * arithmetic of each expected value is in the comment next to it.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { IovaDomain, IovaBug } from '../../../src/linux/dma/iova.js';
import { DmaIovaCookie, type DmaIommuDevice } from '../../../src/linux/dma/dma-iommu-iova.js';
import { dmaBitMask } from '../../../src/linux/dma/u64.js';

const geometry = { pgsizeBitmap: 0x1000 | 0x200000 | 0x40000000, apertureStart: 0, apertureEnd: 2 ** 48 - 1, forceAperture: true };
const platformDev = (): DmaIommuDevice => ({ name: 'dev', busDmaLimit: 0, pci32BitWorkaround: false });

describe('iommu_dma_alloc_iova with 40- and 32-bit masks (4K granule, platform device)', () => {
  it('allocates top-down below each mask, reuses freed ranges through the rcache', () => {
    const c = DmaIovaCookie.create(geometry, 4096);
    const dev = platformDev();
    const m40 = dmaBitMask(40);
    const m32 = dmaBitMask(32);
    // limit_pfn 0xfffffff; empty tree: (0x10000000 - 1) = 0xfffffff
    expect(c.allocIova(dev, 0x1000, m40).iova).toBe(0xfff_ffff_000);
    // 3 pages round to 4 (alloc_iova_fast); below the cached node 0xfffffff: (0xfffffff - 4) & ~3 = 0xffffff8
    expect(c.allocIova(dev, 0x3000, m40).iova).toBe(0xfff_fff8_000);
    // 32-bit limit: cached32_node is the anchor: (0x100000 - 2) & ~1 = 0xffffe; nothing below 4 GiB yet
    expect(c.allocIova(dev, 0x2000, m32).iova).toBe(0xffffe000);
    // free of the 3-page range: order_base_2(3) = 2 -> rcache, the rbtree keeps the node
    const nodesBefore = c.iovad.rbtreeNodes;
    expect(c.freeIova(0xfff_fff8_000, 0x3000).dest).toBe('rcache');
    expect(c.iovad.rbtreeNodes).toBe(nodesBefore);
    // a 4-page request pops it again (0xffffff8 <= 0x10000000 - 4)
    const again = c.allocIova(dev, 0x4000, m40);
    expect(again.iova).toBe(0xfff_fff8_000);
    expect(again.inner[0].source).toBe('rcache');
    // 32-bit, 1 page: next fit below cached32 (0xffffe): 0xffffd
    expect(c.allocIova(dev, 0x1000, m32).iova).toBe(0xffffd000);
    // 33 pages are not cached (order 6): the free goes to the rbtree
    const big = c.allocIova(dev, 33 * 0x1000, m40);
    // next fit below the cached node 0xffffff8, aligned to 64 pages: (0xffffff8 - 0x21) & ~0x3f = 0xfffffc0
    expect(big.iova).toBe(0xfff_ffc0_000);
    expect(c.freeIova(big.iova, 33 * 0x1000).dest).toBe('rbtree');
  });

  it('tries below 4 GiB first for a PCI device, then goes high for good after the first failure', () => {
    const c = DmaIovaCookie.create(geometry, 4096);
    const dev: DmaIommuDevice = { name: '0000:01:00.0', busDmaLimit: 0, pci32BitWorkaround: true };
    const notices: string[] = [];
    const m = dmaBitMask(40);
    // 1 page below 4 GiB: pfn 0xfffff
    expect(c.allocIova(dev, 0x1000, m, (t) => notices.push(t)).iova).toBe(0xfffff000);
    // 2 GiB fits below 0xfffff: (0xfffff - 0x80000) & ~0x7ffff = 0x00000 -> below start_pfn 1: the 32-bit
    // try fails, the notice is printed, and the full mask is used: (0x10000000 - 0x80000) = 0xff80000
    const r = c.allocIova(dev, 0x8000_0000, m, (t) => notices.push(t));
    expect(r.inner.map((x) => x.limitPfn)).toEqual([0xfffff, 0xfffffff]);
    expect(r.iova).toBe(0xff8_0000_000);
    expect(notices).toEqual(['Using 40-bit DMA addresses\n']);
    expect(dev.pci32BitWorkaround).toBe(false);
    // from now on even a page goes high: below the cached node 0xff80000
    expect(c.allocIova(dev, 0x1000, m).iova).toBe(0xff7_ffff_000);
  });

  it('BUG_ON in init_iova_domain for a 16K IOMMU granule on a 4K kernel (seed 003)', () => {
    expect(() => DmaIovaCookie.create({ ...geometry, pgsizeBitmap: 0x4000 | 0x2000000 }, 4096)).toThrow(IovaBug);
    expect(DmaIovaCookie.create({ ...geometry, pgsizeBitmap: 0x4000 | 0x2000000 }, 16384).iovad.granule).toBe(0x4000);
  });
});

describe('alloc_iova: max32_alloc_size and the retry above the cached node', () => {
  it('records a failed size and refuses it until a free below 4 GiB', () => {
    const d = new IovaDomain(4096, 1, { pageSize: 4096 });
    d.initRcaches();
    expect(d.allocIova(0x80000, 0xfffff, true)?.pfnLo).toBe(0x80000);
    // (0x80000 - 0x80000) = 0 < start_pfn; retry over (0xfffff, 0x100000] finds nothing
    expect(d.allocIova(0x80000, 0xfffff, true)).toBeNull();
    expect(d.maxAllocSize32).toBe(0x80000);
    expect(d.allocIova(1, 0xfffff, true)?.pfnLo).toBe(0x7ffff);
    const allocsBefore = d.mem.allocs;
    expect(d.allocIova(0x80000, 0xfffff, true)).toBeNull(); // refused at once
    expect(d.mem.allocs).toBe(allocsBefore + 1);
    // a 0x40000 request fails too ((0x7ffff - 0x40000) & ~0x3ffff = 0), and lowers the record
    expect(d.allocIova(0x40000, 0xfffff, true)).toBeNull();
    expect(d.maxAllocSize32).toBe(0x40000);
    // but the same size with a 40-bit limit is fine (the record only applies at or below 4 GiB)
    expect(d.allocIova(0x40000, 0xfffffff, true)?.pfnLo).toBe(0xffc0000);
    d.freeIova(0x80000);
    expect(d.maxAllocSize32).toBe(0x100000);
  });

  it('size_aligned false packs odd sizes, true aligns to the next power of two', () => {
    const d = new IovaDomain(4096, 1, { pageSize: 4096 });
    expect(d.allocIova(5, 0xfffff, false)?.pfnLo).toBe(0xffffb); // 0x100000 - 5
    expect(d.allocIova(5, 0xfffff, true)?.pfnLo).toBe(0xffff0); // (0xffffb - 5) & ~7
  });

  it('property: allocations never overlap, stay within [start_pfn, limit] and are size-aligned', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ size: fc.integer({ min: 1, max: 300 }), high: fc.boolean(), free: fc.nat(50) }), { maxLength: 60 }),
        (ops) => {
          const d = new IovaDomain(4096, 1, { pageSize: 4096 });
          d.initRcaches();
          const live: { lo: number; size: number }[] = [];
          for (const op of ops) {
            const limit = op.high ? 0xfffffff : 0xfffff;
            const r = d.allocIovaFast(op.size, limit, true);
            if (r.pfn) {
              const sz = op.size < 32 ? 2 ** Math.ceil(Math.log2(op.size)) : op.size;
              const align = 2 ** Math.ceil(Math.log2(sz));
              expect(r.pfn % align).toBe(0);
              expect(r.pfn).toBeGreaterThanOrEqual(1);
              expect(r.pfn + sz - 1).toBeLessThanOrEqual(limit);
              for (const l of live) expect(r.pfn + sz <= l.lo || l.lo + l.size <= r.pfn).toBe(true);
              live.push({ lo: r.pfn, size: sz });
            }
            if (op.free && live.length) {
              const [f] = live.splice(op.free % live.length, 1);
              d.freeIovaFast(f.lo, f.size);
            }
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('16K kernel, 16K granule (Apple DART on a 16K kernel)', () => {
  it('dma_32bit_pfn is 1 << 18 and the first 32-bit IOVA is the top 16K page', () => {
    const c = DmaIovaCookie.create({ pgsizeBitmap: 0x4000, apertureStart: 0, apertureEnd: 0xffff_ffff, forceAperture: true }, 16384);
    expect(c.iovad.dma32BitPfn).toBe(0x40000);
    const dev = platformDev();
    // a 40-bit mask is cut to the 32-bit aperture: limit_pfn 0xffffffff >> 14 = 0x3ffff
    expect(c.allocIova(dev, 0x4000, dmaBitMask(40)).iova).toBe(0xffff_c000);
  });
  it('__iommu_dma_map: a 100-byte buffer crossing a 16K boundary takes two granules and keeps its offset', () => {
    const c = DmaIovaCookie.create({ pgsizeBitmap: 0x4000, apertureStart: 0, apertureEnd: 0xffff_ffff, forceAperture: true }, 16384);
    const m = c.prepareMap(platformDev(), 0x8_0000_3fc0, 100, dmaBitMask(32));
    // iova_off = 0x3fc0; size = align(0x64 + 0x3fc0 = 0x4024, 16K) = 0x8000; 2 granules below pfn
    // 0x40000, aligned to 2: 0x3fffe -> iova 0xffff8000, dma = iova + 0x3fc0
    expect(m).toMatchObject({ iovaOff: 0x3fc0, size: 0x8000, iova: 0xffff_8000, dma: 0xffff_bfc0 });
    // and one that stays inside its granule takes one: 0x3f80 + 0x64 = 0x3fe4 -> 0x4000, next fit 0x3fffd
    expect(c.prepareMap(platformDev(), 0x8_0000_3f80, 100, dmaBitMask(32))).toMatchObject({ size: 0x4000, iova: 0xffff_4000 });
  });
});
