import { describe, expect, it } from 'vitest';
import { PhysMem, type RamBank } from '../../../src/mem/phys-mem.js';
import { Tracer } from '../../../src/trace/events.js';
import {
  GFP_ATOMIC,
  GFP_DMA,
  GFP_DMA32,
  GFP_KERNEL,
  ZONE_DMA,
  ZONE_NORMAL,
  __GFP_NOWARN,
  __GFP_ZERO,
} from '../../../src/linux/mm/gfp.js';
import { arm64MemmapReservation } from '../../../src/linux/mm/memblock.js';
import { PageAllocator, explainAllocEvent, getOrder, kmallocSizeClass, slabOrder } from '../../../src/linux/mm/page-alloc.js';
import { rk2g, rk4g, rk8g } from './rk3568-ram.js';

const M = 0x10_0000;
const FOUR_G = 0x1_0000_0000;

describe('boot-time release and buddy split/merge (mm/memblock.c, mm/page_alloc.c)', () => {
  it('frees RAM in largest aligned chunks, ascending, to list tails', () => {
    // 0x200000 is only 2 MiB aligned: an order-9 block, then order-10 blocks from 0x400000 upwards.
    const pa = new PageAllocator({ banks: rk2g, bootHistory: null, pcp: false, watermarks: false });
    expect(pa.freeList(ZONE_DMA, 9)).toEqual([0x20_0000]);
    const o10 = pa.freeList(ZONE_DMA, 10);
    expect(o10.slice(0, 3)).toEqual([0x40_0000, 0x80_0000, 0xc0_0000]);
    expect(o10.length).toBe((0x8000_0000 - 0x40_0000) / (4 * M));
    // The smallest order with a free block is 9: the first page comes from 0x200000.
    expect(pa.allocPages(GFP_KERNEL, 0)).toBe(0x20_0000);
  });

  it('splits keeping the lower half and merges back to the original block', () => {
    const pa = new PageAllocator({ banks: [{ base: 0, size: 16 * M }], bootHistory: null, pcp: false, watermarks: false });
    expect(pa.freeList(ZONE_DMA, 10)).toEqual([0, 4 * M, 8 * M, 12 * M]);
    expect(pa.allocPages(GFP_KERNEL, 0)).toBe(0x0);
    // expand(): upper halves 0x200000 (o9), 0x100000 (o8), ..., 0x1000 (o0) at the list heads.
    expect(pa.freeList(ZONE_DMA, 9)).toEqual([0x20_0000]);
    expect(pa.freeList(ZONE_DMA, 0)).toEqual([0x1000]);
    expect(pa.allocPages(GFP_KERNEL, 0)).toBe(0x1000);
    expect(pa.allocPages(GFP_KERNEL, 1)).toBe(0x2000);
    // Free 0x1000: its buddy 0x0 is allocated, no merge; buddy_merge_likely checks 0x2000 (allocated): head.
    expect(pa.freePages(0x1000, 0)).toBe(true);
    expect(pa.freeList(ZONE_DMA, 0)).toEqual([0x1000]);
    // Free 0x0: merges with 0x1000 into an order-1 block at 0.
    expect(pa.freePages(0x0, 0)).toBe(true);
    expect(pa.freeList(ZONE_DMA, 1)).toEqual([0x0]);
    // Free 0x2000 (order 1): merges up to a full order-10 block at 0, put at the head.
    expect(pa.freePages(0x2000, 1)).toBe(true);
    expect(pa.freeList(ZONE_DMA, 10)).toEqual([0, 4 * M, 8 * M, 12 * M]);
    for (let o = 0; o < 10; o++) expect(pa.freeList(ZONE_DMA, o)).toEqual([]);
  });

  it('a merged block goes to the tail when the next-order buddy is free (buddy_merge_likely)', () => {
    const pa = new PageAllocator({ banks: [{ base: 0, size: 4 * M }], bootHistory: null, pcp: false, watermarks: false });
    const a = pa.allocPages(GFP_KERNEL, 0); // 0x0; free now: 0x1000 (o0), 0x2000 (o1), 0x4000 (o2) ...
    const b = pa.allocPages(GFP_KERNEL, 0); // 0x1000
    expect([a, b]).toEqual([0x0, 0x1000]);
    const c = pa.allocPages(GFP_KERNEL, 1); // 0x2000
    const d = pa.allocPages(GFP_KERNEL, 1); // 0x4000 split from the o2 block; 0x6000 (o1) free
    expect([c, d]).toEqual([0x2000, 0x4000]);
    // Free 0x4000 (o1): merges with 0x6000 into o2 at 0x4000; its o3 pair block starts at 0,
    // whose buddy at order 3 is 0x8000 — free (o3 list) — so the o2 block goes to the tail.
    const before = pa.freeList(ZONE_DMA, 2);
    expect(before).toEqual([]);
    pa.freePages(0x4000, 1);
    expect(pa.freeList(ZONE_DMA, 2)).toEqual([0x4000]);
    pa.freePages(0x0, 0);
    pa.freePages(0x1000, 0);
    pa.freePages(0x2000, 1);
    expect(pa.freeList(ZONE_DMA, 10)).toEqual([0]);
  });

  it('reserved ranges never reach the free lists', () => {
    const pa = new PageAllocator({
      banks: [{ base: 0, size: 16 * M }],
      reserved: [{ base: 0, size: 2 * M, name: 'kernel' }],
      bootHistory: null,
      pcp: false,
      watermarks: false,
    });
    expect(pa.zoneStats()[0].managedPages).toBe((14 * M) / 4096);
    expect(pa.freeList(ZONE_DMA, 9)).toEqual([2 * M]);
    expect(pa.allocPages(GFP_KERNEL, 0)).toBe(2 * M);
  });

  it('a hole splits the boot chunks: no block spans it', () => {
    // OP-TEE hole [0x8400000, 0x9400000): the range below ends at an order-10 boundary (0x8400000 is
    // 4 MiB aligned) and the range above restarts at 0x9400000 (also 4 MiB aligned).
    const banks: RamBank[] = [
      { base: 0x20_0000, size: 0x0840_0000 - 0x20_0000 },
      { base: 0x0940_0000, size: 0x0100_0000 },
    ];
    const pa = new PageAllocator({ banks, bootHistory: null, pcp: false, watermarks: false });
    expect(pa.freeBlocks()).toEqual([
      { pa: 0x20_0000, order: 9 },
      ...Array.from({ length: 32 }, (_, i) => ({ pa: 0x40_0000 + i * 4 * M, order: 10 })),
      ...Array.from({ length: 4 }, (_, i) => ({ pa: 0x0940_0000 + i * 4 * M, order: 10 })),
    ]);
  });

  it('order > MAX_PAGE_ORDER fails', () => {
    const pa = new PageAllocator({ banks: [{ base: 0, size: 16 * M }], bootHistory: null });
    expect(pa.allocPages(GFP_KERNEL, 11)).toBeNull();
  });
});

describe('per-CPU page lists', () => {
  it('refills a batch in ascending order and hands a just-freed page back (LIFO)', () => {
    const pa = new PageAllocator({ banks: rk2g, bootHistory: null });
    const dma = pa.zoneStats()[ZONE_DMA];
    // zone_batchsize: min(523776 >> 10, 256) / 4 = 64 -> rounddown_pow_of_two(96) - 1 = 63.
    expect(dma.pcpBatch).toBe(63);
    const first = pa.allocPage(GFP_KERNEL);
    const second = pa.allocPage(GFP_KERNEL);
    expect([first, second]).toEqual([0x20_0000, 0x20_1000]);
    expect(pa.zoneStats()[ZONE_DMA].pcpPages).toBe(61);
    pa.freePage(0x20_0000);
    expect(pa.allocPage(GFP_KERNEL)).toBe(0x20_0000);
    pa.freePage(0x20_1000);
    pa.freePage(0x20_0000);
    expect(pa.allocPage(GFP_KERNEL)).toBe(0x20_0000);
    expect(pa.allocPage(GFP_KERNEL)).toBe(0x20_1000);
    expect(pa.allocPage(GFP_KERNEL)).toBe(0x20_2000);
  });
});

describe('watermarks (calculate_min_free_kbytes, __setup_per_zone_wmarks, lowmem_reserve)', () => {
  it('2 GiB: one zone', () => {
    const pa = new PageAllocator({ banks: rk2g, bootHistory: null });
    // managed 523776 pages -> lowmem 2095104 KiB -> int_sqrt(33521664) = 5789 KiB -> 1447 pages min.
    expect(pa.minFreeKbytes).toBe(5789);
    const z = pa.zoneStats()[ZONE_DMA];
    // low = min + max(min/4 = 361, 523776*10/10000 = 523); high = low + 523.
    expect(z.watermark).toEqual({ min: 1447, low: 1970, high: 2493 });
    // pcp high = max(low / 4 CPUs, 4 * batch) = max(492, 252).
    expect(z.pcpHigh).toBe(492);
  });

  it('8 GiB RK3568: min split by zone size, DMA protected by lowmem_reserve', () => {
    const pa = new PageAllocator({ banks: rk8g, bootHistory: null });
    // managed: DMA (0xf0000000-0x200000)/4K = 982528, Normal 1048576; total 2031104 pages = 8124416 KiB.
    // int_sqrt(8124416 * 16) = 11401 -> pages_min 2850.
    expect(pa.minFreeKbytes).toBe(11401);
    const [dma, dma32, normal] = pa.zoneStats();
    expect(dma.managedPages).toBe(982528);
    expect(dma32.managedPages).toBe(0);
    expect(normal.managedPages).toBe(1048576);
    expect(dma.watermark.min).toBe(1378); // floor(2850 * 982528 / 2031104)
    expect(normal.watermark.min).toBe(1471); // floor(2850 * 1048576 / 2031104)
    // lowmem_reserve[DMA][NORMAL] = Normal's managed pages / 256.
    expect(dma.lowmemReserve).toEqual([0, 0, 4096, 4096]);
    expect(dma32.lowmemReserve).toEqual([0, 0, 0, 0]);
  });
});

describe('zone selection and fallback', () => {
  it('GFP_KERNEL on 8 GiB RK3568 returns memory above 4 GiB under the default boot history', () => {
    const pa = new PageAllocator({ banks: rk8g });
    for (let i = 0; i < 50; i++) {
      const p = pa.allocPages(GFP_KERNEL, i % 3);
      expect(p).not.toBeNull();
      expect(p as number).toBeGreaterThanOrEqual(FOUR_G);
    }
    expect((pa.iommuAllocPage(GFP_KERNEL) as number) >= FOUR_G).toBe(true);
  });

  it('GFP_KERNEL on a 2 GiB board returns memory below 4 GiB', () => {
    const pa = new PageAllocator({ banks: rk2g });
    for (let i = 0; i < 50; i++) expect(pa.allocPages(GFP_KERNEL, i % 4) as number).toBeLessThan(0x8000_0000);
  });

  it('GFP_DMA32 and GFP_DMA stay below 4 GiB on 8 GiB (DMA32 empty: served from ZONE_DMA)', () => {
    const pa = new PageAllocator({ banks: rk8g });
    for (let i = 0; i < 50; i++) {
      expect(pa.allocPages(GFP_KERNEL | GFP_DMA32, i % 4) as number).toBeLessThan(FOUR_G);
      expect(pa.iommuAllocPage(GFP_ATOMIC | GFP_DMA32) as number).toBeLessThan(FOUR_G);
      expect(pa.allocPages(GFP_KERNEL | GFP_DMA, 0) as number).toBeLessThan(FOUR_G);
    }
  });

  it('GFP_KERNEL falls back to ZONE_DMA once Normal reaches its low watermark', () => {
    // 8 MiB above 4 GiB = 2048 pages in Normal.
    const banks: RamBank[] = [
      { base: 0, size: 64 * M },
      { base: FOUR_G, size: 8 * M },
    ];
    const pa = new PageAllocator({ banks, bootHistory: null, pcp: false });
    const normal = pa.zoneStats()[ZONE_NORMAL];
    let above = 0;
    let p: number | null;
    while ((p = pa.allocPage(GFP_KERNEL)) !== null && p >= FOUR_G) above++;
    // The fast path stops taking from Normal when free - 0 <= low (+ reserve 0): low+1 pages stay free.
    expect(above).toBe(normal.managedPages - normal.watermark.low);
    expect(p as number).toBeLessThan(FOUR_G);
  });

  it('GFP_DMA32 exhaustion: null with the warn_alloc line; never an address at or above 4 GiB', () => {
    const banks: RamBank[] = [
      { base: 0, size: 8 * M },
      { base: FOUR_G, size: 64 * M },
    ];
    const tracer = new Tracer();
    const pa = new PageAllocator({ banks, tracer, bootHistory: null, comm: 'kworker/u8:2' });
    let p: number | null;
    let n = 0;
    while ((p = pa.iommuAllocPage(GFP_ATOMIC | GFP_DMA32)) !== null) {
      expect(p).toBeLessThan(FOUR_G);
      n++;
    }
    // managed 2048 + 16384 pages = 73728 KiB -> min_free_kbytes int_sqrt(1179648) = 1086 -> 271 pages;
    // DMA min = floor(271 * 2048 / 18432) = 30. GFP_ATOMIC in the slow path: min - min/2 = 15, then
    // (non-blocking) 15 - 15/4 = 12; lowmem_reserve[DMA][DMA32] = 0 (DMA32 is empty). Allocation goes on
    // while free > 12; the pcp batch of this tiny zone is max(1, 0) = 1, so no pages hide on pcp lists.
    expect(pa.zoneStats()[ZONE_DMA].watermark.min).toBe(30);
    expect(n).toBe(2048 - 12);
    const warnings = tracer.log.filter((l) => l.text.includes('page allocation failure'));
    expect(warnings.map((l) => [l.level, l.text])).toEqual([
      [
        'warn',
        'kworker/u8:2: page allocation failure: order:0, mode:0x924(GFP_ATOMIC|GFP_DMA32|__GFP_ZERO), nodemask=(null),cpuset=/,mems_allowed=0',
      ],
    ]);
    // Memory above 4 GiB is still there for GFP_KERNEL.
    expect(pa.allocPage(GFP_KERNEL) as number).toBeGreaterThanOrEqual(FOUR_G);
    // __GFP_NOWARN: fails silently.
    expect(pa.allocPage(GFP_DMA32 | __GFP_NOWARN)).toBeNull();
    expect(tracer.log.filter((l) => l.text.includes('page allocation failure')).length).toBe(1);
    expect(pa.failures.at(-1)).toEqual({ gfp: GFP_DMA32 | __GFP_NOWARN, order: 0, kind: 'nopage', warning: null });
  });

  it('GFP_KERNEL exhaustion reaches the OOM killer; GFP_KERNEL|GFP_DMA32 does not (lowmem)', () => {
    const tracer = new Tracer();
    const banks: RamBank[] = [
      { base: 0, size: 4 * M },
      { base: FOUR_G, size: 4 * M },
    ];
    const pa = new PageAllocator({ banks, tracer, bootHistory: null, comm: 'modprobe' });
    while (pa.allocPage(GFP_KERNEL) !== null);
    expect(tracer.log.at(-1)?.text).toBe('modprobe invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0');
    expect(pa.failures.at(-1)?.kind).toBe('oom');
    while (pa.allocPage(GFP_KERNEL | GFP_DMA32) !== null);
    expect(tracer.log.at(-1)?.text).toBe(
      'modprobe: page allocation failure: order:0, mode:0xcc4(GFP_KERNEL|GFP_DMA32), nodemask=(null),cpuset=/,mems_allowed=0',
    );
  });

  it('a kernel without cpusets prints no cpuset suffix', () => {
    const tracer = new Tracer();
    const pa = new PageAllocator({ banks: [{ base: FOUR_G, size: 2 * M }], tracer, bootHistory: null, cpusetSuffix: '' });
    // All RAM above 4 GiB with no dma-ranges: ZONE_DMA holds it all, so GFP_DMA32 succeeds here...
    expect(pa.allocPage(GFP_DMA32) as number).toBeGreaterThanOrEqual(FOUR_G);
    // ...and an order-10 block cannot exist in 2 MiB: warn_alloc.
    expect(pa.allocPages(GFP_KERNEL, 10)).toBeNull();
    expect(tracer.log.at(-1)?.text).toBe('kworker/0:1: page allocation failure: order:10, mode:0xcc0(GFP_KERNEL), nodemask=(null)');
  });

  it('__GFP_ZERO clears the memory', () => {
    const mem = new PhysMem(rk2g);
    const pa = new PageAllocator({ banks: rk2g, mem, bootHistory: null });
    const p = pa.allocPage(GFP_KERNEL) as number;
    mem.write32(p + 0x10, 0xdeadbeef);
    pa.freePage(p);
    const q = pa.allocPage(GFP_KERNEL) as number;
    expect(q).toBe(p); // pcp LIFO
    expect(mem.read32(q + 0x10)).toBe(0xdeadbeef); // not zeroed without __GFP_ZERO
    pa.freePage(q);
    const r = pa.allocPage(GFP_KERNEL | __GFP_ZERO) as number;
    expect(r).toBe(p);
    expect(mem.read32(r + 0x10)).toBe(0);
  });

  it('a double free is the kernel bug "Bad page state", not an exception', () => {
    const tracer = new Tracer();
    const pa = new PageAllocator({ banks: rk2g, tracer, bootHistory: null, comm: 'insmod' });
    const p = pa.allocPage(GFP_KERNEL) as number;
    expect(pa.freePage(p)).toBe(true);
    expect(pa.freePage(p)).toBe(false);
    expect(tracer.log.at(-1)?.text).toBe('BUG: Bad page state in process insmod  pfn:00200');
  });
});

describe('boot history', () => {
  it('is deterministic and depends on the seed', () => {
    const run = (seed: number): (number | null)[] => {
      const pa = new PageAllocator({ banks: rk4g, bootHistory: { seed, allocations: 3000 } });
      return [0, 1, 2, 0, 3, 0].map((o) => pa.allocPages(GFP_KERNEL, o));
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
  });

  it('holds memory that is no longer on the free lists', () => {
    const pa = new PageAllocator({ banks: rk4g, bootHistory: { seed: 1, allocations: 5000 } });
    const held = pa.liveBlocks().reduce((s, b) => s + 2 ** b.order, 0);
    expect(held).toBeGreaterThan(1000);
    const st = pa.zoneStats();
    const managed = st.reduce((s, z) => s + z.managedPages, 0);
    const free = st.reduce((s, z) => s + z.freePages + z.pcpPages, 0);
    expect(free + held).toBe(managed);
  });

  it('a heavy boot history on a 4 GiB RK3568 can leave the 256 MiB Normal alias exhausted', () => {
    // 256 MiB = 65536 pages; ~40000 allocations of mostly GFP_KERNEL/GFP_HIGHUSER_MOVABLE fill it.
    const light = new PageAllocator({ banks: rk4g, bootHistory: { seed: 3, allocations: 1000 } });
    expect(light.allocPage(GFP_KERNEL) as number).toBeGreaterThanOrEqual(FOUR_G);
    const heavy = new PageAllocator({ banks: rk4g, bootHistory: { seed: 3, allocations: 60000, freeRatio: 0.1 } });
    expect(heavy.allocPage(GFP_KERNEL) as number).toBeLessThan(FOUR_G);
  });
});

describe('kmalloc', () => {
  it('uses the kernel size classes', () => {
    // kmalloc_size_index (slab_common.c): 1..8 -> 8, 24 -> 32, 65..96 -> 96, 129..192 -> 192.
    const cases: [number, number][] = [
      [1, 8], [8, 8], [9, 16], [24, 32], [33, 64], [65, 96], [96, 96], [97, 128], [130, 192], [193, 256],
      [1000, 1024], [4097, 8192], [8192, 8192], [8193, 0],
    ];
    for (const [size, cls] of cases) expect([size, kmallocSizeClass(size)]).toEqual([size, cls]);
  });

  it('computes SLUB slab orders like calculate_order with 4 CPUs (min_objects 16)', () => {
    expect([64, 96, 192, 512, 1024, 2048, 4096, 8192].map((s) => slabOrder(s, 4))).toEqual([0, 0, 0, 1, 2, 3, 3, 3]);
    expect(getOrder(8193)).toBe(2);
  });

  it('packs objects in one slab page and frees the page when empty', () => {
    const pa = new PageAllocator({ banks: rk2g, bootHistory: null });
    const a = pa.kmalloc(64, GFP_KERNEL) as number;
    const b = pa.kmalloc(60, GFP_KERNEL) as number;
    expect(b - a).toBe(64);
    expect(Math.floor(a / 4096)).toBe(Math.floor(b / 4096));
    expect(pa.isAllocated(a - (a % 4096))).toBe(true);
    pa.kfree(a);
    pa.kfree(b);
    expect(pa.isAllocated(a - (a % 4096))).toBe(false);
  });

  it('kmalloc(GFP_DMA32) warns and ignores the zone, as kmalloc_fix_flags does', () => {
    const tracer = new Tracer();
    const pa = new PageAllocator({ banks: rk8g, tracer, bootHistory: null });
    const p = pa.kmalloc(128, GFP_KERNEL | GFP_DMA32) as number;
    expect(tracer.log.at(-1)?.text).toBe('Unexpected gfp: 0x4 (GFP_DMA32). Fixing up to gfp: 0xcc0 (GFP_KERNEL). Fix your code!');
    expect(p).toBeGreaterThanOrEqual(FOUR_G);
    // GFP_DMA has its own caches whose slabs come from ZONE_DMA.
    expect(pa.kmalloc(128, GFP_KERNEL | GFP_DMA) as number).toBeLessThan(FOUR_G);
    // Large sizes go to the page allocator directly.
    const big = pa.kmalloc(3 * 4096 + 1, GFP_KERNEL) as number;
    expect(big % (4 * 4096)).toBe(0);
    expect(pa.kfree(big)).toBe(true);
  });
});

describe('early reservations and --explain data', () => {
  it('memmap: 2 MiB per present 128 MiB section, top-down', () => {
    // 8 GiB: sections 0..29 below 0xf0000000 and 32..63 above 4 GiB = 62 -> 124 MiB below 0x2_0000_0000.
    expect(arm64MemmapReservation(rk8g)).toEqual({ base: 0x2_0000_0000 - 124 * M, size: 124 * M, name: 'memmap' });
    // 4 GiB: 30 + 2 sections -> 64 MiB at the top of the 256 MiB alias.
    const r4 = arm64MemmapReservation(rk4g);
    expect(r4).toEqual({ base: 0x1_fc00_0000, size: 64 * M, name: 'memmap' });
    const pa = new PageAllocator({ banks: rk4g, reserved: [r4!], bootHistory: null });
    expect(pa.zoneStats()[ZONE_NORMAL].managedPages).toBe((192 * M) / 4096);
  });

  it('records the zonelist walk in the trace event', () => {
    const tracer = new Tracer();
    const pa = new PageAllocator({ banks: rk8g, tracer, bootHistory: null });
    pa.iommuAllocPage(GFP_ATOMIC | GFP_DMA32);
    const ev = tracer.events.filter((e) => e.type === 'mm_page_alloc').at(-1);
    expect(ev?.data.gfpFlags).toBe('GFP_ATOMIC|GFP_DMA32|__GFP_ZERO');
    expect(ev?.data.highestZone).toBe('DMA32');
    expect(ev?.data.zone).toBe('DMA');
    expect(ev?.data.zonelist).toEqual(['DMA32: empty', 'DMA: taken from the pcp list (order 0)']);
    expect(explainAllocEvent(ev!.data)).toBe(
      'alloc_pages(GFP_ATOMIC|GFP_DMA32|__GFP_ZERO, order 0): highest zone DMA32; DMA32: empty; DMA: taken from the pcp list (order 0) -> 0x200000-0x200fff in ZONE_DMA',
    );
    // One pcp refill of 63 pages left the buddy lists; one of them was handed out. low = min + max(min/4,
    // managed/1000): DMA 1378 + 982, Normal 1471 + 1048.
    expect(pa.zoneReport()).toEqual([
      'DMA    [0x200000-0xffffffff] managed 982528 pages, free 982465 (+62 on pcp), watermarks min 1378 low 2360 high 3342',
      'DMA32  empty',
      'Normal [0x100000000-0x1ffffffff] managed 1048576 pages, free 1048576 (+0 on pcp), watermarks min 1471 low 2519 high 3567',
    ]);
  });
});
