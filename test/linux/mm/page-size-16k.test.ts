/**
 * The mm layer on a 16K-page arm64 kernel (CONFIG_ARM64_16K_PAGES), with expected values worked out by
 * hand from Linux 6.12:
 * - arch/arm64/Kconfig:1707-1711: ARCH_FORCE_MAX_ORDER 11 with 16K pages (10 with 4K);
 * - arch/arm64/include/asm/sparsemem.h:18-29: SECTION_SIZE_BITS 27 for 4K and 16K alike;
 * - mm/sparse.c:344-347, 405-420, 446 and arch/arm64/mm/mmu.c:1211-1215: the memmap buffer is
 *   map_count * ALIGN(64 * PAGES_PER_SECTION, PMD_SIZE), PMD_SIZE 32 MiB at 16K, and base-page vmemmap
 *   uses its first map_count * 512 KiB;
 * - mm/page_alloc.c:6224-6238 (min_free_kbytes = int_sqrt(lowmem_kbytes * 16)), 6115-6170
 *   (pages_min = min_free_kbytes >> (PAGE_SHIFT - 10), per-zone share, tmp = max(min/4,
 *   managed * 10 / 10000)), 5628-5655 (zone_batchsize), 6084-6111 (lowmem_reserve ratio 256);
 * - mm/page_alloc.c:1438-1465, 1631-1654, 2373-2403: lowest block split, low half first, pcp refill in
 *   ascending order;
 * - include/linux/slab.h:538-547: KMALLOC_SHIFT_HIGH = PAGE_SHIFT + 1; mm/slub.c calc_slab_order;
 * - mm/cma.c:265 + include/linux/cma.h:21 + include/linux/pageblock-flags.h:44-50: CMA aligned to
 *   PAGE_SIZE << min(HPAGE_PMD_ORDER, MAX_PAGE_ORDER) = 32 MiB at 16K;
 * - arch/arm64/mm/init.c:76-94: ARM64_MEMSTART_ALIGN = 1 << CONT_PMD_SHIFT = 1 GiB at 16K.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RamBank } from '../../../src/mem/phys-mem.js';
import { GFP_ATOMIC, GFP_DMA, GFP_DMA32, GFP_KERNEL, __GFP_NOWARN } from '../../../src/linux/mm/gfp.js';
import { LinearMap, memstartAlignFor } from '../../../src/linux/mm/linear-map.js';
import { arm64BootMemblock, arm64MemmapReservation, memmapBytes } from '../../../src/linux/mm/memblock.js';
import {
  PageAllocator,
  defaultOrderWeights,
  getOrder,
  kmallocSizeClass,
  maxPageOrder,
  slabOrder,
} from '../../../src/linux/mm/page-alloc.js';
import { computeZones, zoneRangesLog } from '../../../src/linux/mm/zones.js';
import { applyBuddyOps, buddyOpArb, inBanks } from './buddy-ops.js';

const K16 = 16384;
const M = 0x10_0000;
const G = 0x4000_0000;
const FOUR_G = 0x1_0000_0000;
/** An 8 GiB RK3568 as its bootloader lays it out: 3.75 GiB below 4 GiB, 4 GiB above. */
const rk8g: RamBank[] = [
  { base: 0, size: 0xf000_0000 },
  { base: FOUR_G, size: 4 * G },
];

describe('orders, alignment and MAX_PAGE_ORDER at 16K', () => {
  it('get_order counts 16 KiB pages', () => {
    expect([1, K16, K16 + 1, 32768, 32769, 65536, 4 * M].map((s) => getOrder(s, K16))).toEqual([0, 0, 1, 1, 2, 2, 8]);
    // The same sizes on a 4K kernel.
    expect([1, K16, K16 + 1, 32768].map((s) => getOrder(s))).toEqual([0, 2, 3, 3]);
  });

  it('MAX_PAGE_ORDER is 11 at 16K (32 MiB blocks) and 10 at 4K', () => {
    expect(maxPageOrder(K16)).toBe(11);
    expect(maxPageOrder(4096)).toBe(10);
    expect(() => maxPageOrder(8192)).toThrow(RangeError);
    const pa = new PageAllocator({ banks: rk8g, pageSize: K16, bootHistory: null });
    const big = pa.allocPages(GFP_KERNEL, 11);
    // The head of Normal's order-11 list is its lowest block.
    expect(big).toBe(FOUR_G);
    expect(pa.allocPages(GFP_KERNEL, 12)).toBeNull();
    expect(pa.failures.at(-1)?.kind).toBe('bad-order');
    const pa4 = new PageAllocator({ banks: rk8g, bootHistory: null });
    expect(pa4.allocPages(GFP_KERNEL, 11)).toBeNull();
    expect(pa4.failures.at(-1)?.kind).toBe('bad-order');
  });

  it('pages are 16 KiB frames: the first order-0 pages of a fresh zone are 16 KiB apart, ascending', () => {
    const pa = new PageAllocator({ banks: rk8g, pageSize: K16, bootHistory: null });
    expect([0, 1, 2].map(() => pa.allocPage(GFP_KERNEL))).toEqual([FOUR_G, FOUR_G + K16, FOUR_G + 2 * K16]);
    // An order-2 request is 64 KiB, naturally aligned.
    const o2 = pa.allocPages(GFP_KERNEL, 2) as number;
    expect(o2 % (4 * K16)).toBe(0);
    expect(pa.freePages(o2 + 4096, 2)).toBe(false); // not a 16K page boundary: Bad page state
    expect(pa.freePages(o2, 2)).toBe(true);
  });

  it('rejects zones computed with another page size', () => {
    const zones = computeZones({ ram: rk8g });
    expect(() => new PageAllocator({ banks: rk8g, zones, pageSize: K16, bootHistory: null })).toThrow(/4096-byte pages/);
  });
});

describe('zones, watermarks and pcp in 16K pages', () => {
  const pa = new PageAllocator({ banks: rk8g, pageSize: K16, bootHistory: null });
  const [dma, dma32, normal] = pa.zoneStats();

  it('zone spans and managed pages', () => {
    expect([dma.start, dma.end, dma.managedPages]).toEqual([0, FOUR_G, 0xf000_0000 / K16]);
    expect([dma32.start, dma32.end, dma32.managedPages]).toEqual([FOUR_G, FOUR_G, 0]);
    expect([normal.start, normal.end, normal.managedPages]).toEqual([FOUR_G, 2 * FOUR_G, (4 * G) / K16]);
    // Everything starts as 32 MiB blocks: 120 below 4 GiB, 128 above.
    expect(dma.freeBlocks).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 120]);
    expect(normal.freeBlocks).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 128]);
    expect(pa.buddyinfo()[0]).toBe('Node 0, zone      DMA ' + '     0 '.repeat(11) + '   120 ');
    expect(zoneRangesLog(pa.layout)).toEqual([
      'Zone ranges:',
      '  DMA      [mem 0x0000000000000000-0x00000000ffffffff]',
      '  DMA32    empty',
      '  Normal   [mem 0x0000000100000000-0x00000001ffffffff]',
    ]);
  });

  it('a bank that does not start on a 16K boundary loses its partial first page', () => {
    const p = new PageAllocator({ banks: [{ base: 0x1000, size: 0x10000 }], pageSize: K16, bootHistory: null });
    // RAM [0x1000, 0x11000): whole 16K pages only at 0x4000, 0x8000, 0xc000.
    expect(p.zoneStats()[0].managedPages).toBe(3);
    expect(p.freeBlocks()).toEqual([
      { pa: 0x4000, order: 0 },
      { pa: 0x8000, order: 1 },
    ]);
  });

  it('min_free_kbytes, watermarks and lowmem_reserve', () => {
    // lowmem = 245760 + 262144 = 507904 pages = 8126464 KiB; int_sqrt(8126464 * 16) = 11402.
    expect(pa.minFreeKbytes).toBe(11402);
    // pages_min = 11402 >> 4 = 712; DMA 712*245760/507904 = 344, tmp = max(86, mult_frac(245760, 10, 10000) = 245);
    // Normal 712*262144/507904 = 367, tmp = max(91, 262).
    expect(dma.watermark).toEqual({ min: 344, low: 589, high: 834 });
    expect(normal.watermark).toEqual({ min: 367, low: 629, high: 891 });
    // lowmem_reserve of ZONE_DMA for a Normal request: 262144 / 256.
    expect(dma.lowmemReserve[2]).toBe(1024);
  });

  it('pcp batch: min(managed >> 10, SZ_1M / 16K) / 4, clamped to 2^n - 1', () => {
    // DMA: min(240, 64) / 4 = 16 -> rounddown_pow_of_two(24) - 1 = 15; Normal: min(256, 64) / 4 = 16 -> 15.
    expect([dma.pcpBatch, normal.pcpBatch]).toEqual([15, 15]);
    // A 4K kernel on the same board: Normal min(1024, 256) / 4 = 64 -> rounddown(96) - 1 = 63.
    expect(new PageAllocator({ banks: rk8g, bootHistory: null }).zoneStats()[2].pcpBatch).toBe(63);
  });
});

describe('GFP_DMA32 on a 16K kernel', () => {
  const small: RamBank[] = [
    { base: 0, size: 64 * M },
    { base: FOUR_G, size: 64 * M },
  ];

  it('is served from ZONE_DMA below 4 GiB, in 16K-aligned pages, and fails cleanly when DMA runs out', () => {
    const pa = new PageAllocator({ banks: small, pageSize: K16, bootHistory: null, comm: 'modprobe' });
    const seen = new Set<number>();
    let p: number | null;
    while ((p = pa.allocPage(GFP_KERNEL | GFP_DMA32)) !== null) {
      expect(p % K16).toBe(0);
      expect(p + K16).toBeLessThanOrEqual(FOUR_G);
      expect(seen.has(p)).toBe(false);
      seen.add(p);
    }
    // Everything but the min watermark of ZONE_DMA (4096 pages) was handed out.
    expect(seen.size).toBeGreaterThan(4000);
    expect(seen.size).toBeLessThan(4096);
    const f = pa.failures.at(-1);
    expect(f?.kind).toBe('nopage');
    expect(f?.warning).toBe(
      'modprobe: page allocation failure: order:0, mode:0xcc4(GFP_KERNEL|GFP_DMA32), nodemask=(null),cpuset=/,mems_allowed=0',
    );
    // ZONE_NORMAL was never touched.
    expect(pa.zoneStats()[2].freePages).toBe((64 * M) / K16);
    expect(pa.allocPage(GFP_KERNEL)).toBe(FOUR_G);
  });

  it('GFP_KERNEL on an 8 GiB board gets memory above 4 GiB under the default boot history, GFP_DMA32 below', () => {
    const pa = new PageAllocator({ banks: rk8g, pageSize: K16 });
    const k = pa.allocPage(GFP_KERNEL) as number;
    const d = pa.allocPage(GFP_KERNEL | GFP_DMA32) as number;
    expect(k).toBeGreaterThanOrEqual(FOUR_G);
    expect(d).toBeLessThan(FOUR_G);
    expect(k % K16).toBe(0);
    expect(d % K16).toBe(0);
  });

  it('the default boot history asks for the same request sizes in bytes, regrouped into 16K orders', () => {
    expect(defaultOrderWeights(4096)).toEqual([70, 10, 12, 6, 1, 0.5, 0.5]);
    expect(defaultOrderWeights(K16)).toEqual([92, 6, 1, 0.5, 0.5]);
  });
});

describe('iommu pages and kmalloc at 16K', () => {
  it('iommu_alloc_pages gives zeroed 16K pages, accounted in pages', () => {
    const pa = new PageAllocator({ banks: rk8g, pageSize: K16, bootHistory: null });
    const t = pa.iommuAllocPage(GFP_KERNEL | GFP_DMA32) as number;
    expect(t % K16).toBe(0);
    expect(t).toBeLessThan(FOUR_G);
    const two = pa.iommuAllocPages(GFP_KERNEL, 1) as number;
    expect(two % (2 * K16)).toBe(0);
    expect(pa.iommuPages).toBe(3);
    expect(pa.iommuFreePages(two, 1)).toBe(true);
    expect(pa.iommuPages).toBe(1);
  });

  it('kmalloc caches go up to 32 KiB (2 * PAGE_SIZE); larger requests are page-allocator blocks', () => {
    expect(kmallocSizeClass(20000, K16)).toBe(32768);
    expect(kmallocSizeClass(20000)).toBe(0); // above kmalloc-8k on a 4K kernel
    expect(kmallocSizeClass(40000, K16)).toBe(0);
    // kmalloc-32k with 4 CPUs: min_objects = 4 * (fls(4) + 1) = 16, capped by (16K << 3) / 32K = 4;
    // get_order(4 * 32K) = 3, and 128K % 32K = 0 fits the first fraction.
    expect(slabOrder(32768, 4, K16)).toBe(3);
    const pa = new PageAllocator({ banks: rk8g, pageSize: K16, bootHistory: null });
    const a = pa.kmalloc(20000, GFP_KERNEL) as number;
    const b = pa.kmalloc(20000, GFP_KERNEL) as number;
    expect(a % (8 * K16)).toBe(0); // first object of an order-3 slab
    expect(b - a).toBe(32768);
    const big = pa.kmalloc(40000, GFP_KERNEL) as number; // get_order(40000) = 2 at 16K
    expect(big % (4 * K16)).toBe(0);
    expect(pa.liveBlocks().find((x) => x.pa === big)?.order).toBe(2);
    expect(pa.kfree(big)).toBe(true);
  });
});

describe('memblock and the linear map at 16K', () => {
  it('memmap: 512 KiB per 128 MiB section at the bottom of a 32 MiB-aligned top-down buffer', () => {
    // 30 sections below 4 GiB + 32 above = 62; buffer 62 * 32 MiB ends at 8 GiB -> starts 0x184000000.
    expect(memmapBytes(rk8g, K16)).toBe(62 * 512 * 1024);
    expect(arm64MemmapReservation(rk8g, K16)).toEqual({ base: 0x1_8400_0000, size: 62 * 512 * 1024, name: 'memmap' });
    // 4K: 62 * 2 MiB at the very top.
    expect(arm64MemmapReservation(rk8g)).toEqual({ base: 0x2_0000_0000 - 124 * M, size: 124 * M, name: 'memmap' });
  });

  it('memmap falls back to a block of its own size when the 32 MiB-per-section buffer does not fit', () => {
    // Three 32 MiB banks 256 MiB apart: 3 sections, a 96 MiB buffer fits nowhere; 3 * 512 KiB top-down instead.
    const banks: RamBank[] = [0, 1, 2].map((i) => ({ base: 0x4000_0000 + i * 256 * M, size: 32 * M }));
    expect(arm64MemmapReservation(banks, K16)).toEqual({ base: 0x6000_0000 + 32 * M - 1536 * 1024, size: 1536 * 1024, name: 'memmap' });
  });

  it('CMA is aligned to 32 MiB pageblocks', () => {
    const cma = (pageSize: number): number | undefined =>
      arm64BootMemblock(rk8g, { cmaBytes: 48 * M, pageSize }).reserved.find((r) => r.name === 'cma')?.base;
    expect(cma(4096)).toBe(0xf000_0000 - 48 * M); // 0xed000000, 2 MiB aligned
    expect(cma(K16)).toBe(0xec00_0000); // rounded down to 32 MiB
  });

  it('the linear map keeps 1 GiB memstart alignment; virt_addr_valid looks at the 16K page', () => {
    expect(memstartAlignFor(K16)).toBe(G);
    const banks: RamBank[] = [{ base: 0x8_0000_2000, size: 64 * M }];
    const lm16 = new LinearMap({ banks, pageSize: K16 });
    const lm4 = new LinearMap({ banks });
    expect(lm16.physOffset).toBe(0x8_0000_0000);
    const va = lm16.physToVirt(0x8_0000_3000);
    expect(lm16.virtAddrValid(va)).toBe(false); // its 16K page starts at 0x800000000, before RAM
    expect(lm4.virtAddrValid(lm4.physToVirt(0x8_0000_3000))).toBe(true);
    expect(lm16.virtAddrValid(lm16.physToVirt(0x8_0000_4000))).toBe(true);
  });
});

describe('buddy invariants at 16K under random alloc/free', () => {
  const banks: RamBank[] = [
    { base: 0x3000, size: 6 * M - 0x3000 },
    { base: 8 * M, size: 5 * M },
    { base: FOUR_G, size: 40 * M },
  ];
  const gfps = [GFP_KERNEL, GFP_ATOMIC, GFP_KERNEL | GFP_DMA32, GFP_KERNEL | GFP_DMA, GFP_KERNEL | __GFP_NOWARN];
  const opArb = buddyOpArb(11, gfps);

  it.each([
    ['pcp on, watermarks on', true, true],
    ['pcp off, watermarks off', false, false],
  ])('%s', (_name, pcp, watermarks) => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 200 }), fc.integer({ min: 0, max: 3 }), (ops, seed) => {
        const pa = new PageAllocator({ banks, pcp, watermarks, pageSize: K16, bootHistory: { seed, allocations: 100 } });
        const initialFree = JSON.stringify(new PageAllocator({ banks, pageSize: K16, pcp: false, bootHistory: null }).freeBlocks());
        const managed = pa.zoneStats().reduce((s, z) => s + z.managedPages, 0);
        applyBuddyOps(pa, ops, K16, banks);
        const live = pa.liveBlocks();
        const free = pa.freeBlocks();
        const all = [...live.map((b) => ({ pa: b.pa, order: b.order })), ...free].sort((a, b) => a.pa - b.pa);
        for (const b of all) {
          expect(b.order).toBeLessThanOrEqual(11);
          expect(b.pa % (K16 * 2 ** b.order)).toBe(0);
          expect(inBanks(banks, b.pa, K16 * 2 ** b.order)).toBe(true);
        }
        for (let i = 1; i < all.length; i++) expect(all[i - 1].pa + K16 * 2 ** all[i - 1].order).toBeLessThanOrEqual(all[i].pa);
        const st = pa.zoneStats();
        const freePages = st.reduce((s, z) => s + z.freePages, 0);
        const pcpPages = st.reduce((s, z) => s + z.pcpPages, 0);
        const livePages = live.reduce((s, b) => s + 2 ** b.order, 0);
        expect(freePages + pcpPages + livePages).toBe(managed);
        expect(free.reduce((s, b) => s + 2 ** b.order, 0)).toBe(freePages);
        // Free everything: the buddy lists merge back to exactly the boot state.
        for (const b of live) pa.freePages(b.pa, b.order);
        pa.drainPcp();
        expect(JSON.stringify(pa.freeBlocks())).toBe(initialFree);
      }),
      { numRuns: 40 },
    );
  });
});
