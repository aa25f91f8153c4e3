/**
 * The Linux 6.12 physical page allocator, as far as it decides *which address* an allocation returns:
 * zones, per-zone buddy free lists, per-CPU page lists (pcp), watermarks with lowmem_reserve, the
 * zonelist fallback, allocation-failure warnings, and the boot-time release of memory into the lists.
 *
 * ## Why the address is what it is (the placement policy)
 * 1. Boot. memblock_free_all() walks the free memblock ranges in ascending address order
 *    (mm/memblock.c:2214-2233) and frees each range in the largest naturally aligned chunks, at most
 *    MAX_PAGE_ORDER (memblock.c:2124-2148). Each chunk goes through __free_pages_core() with
 *    FPI_TO_TAIL (mm/page_alloc.c:1365-1369), merging with free buddies (page_alloc.c:810-893). So every
 *    free list starts out in ascending address order, its head the lowest block of the zone. Deferred
 *    struct-page init (the part of the highest zone beyond ~2 GiB freed later by a kthread) also frees
 *    with FPI_TO_TAIL in ascending order, so it ends up in the same order; we free everything at once.
 * 2. Allocation takes the **head** of the smallest non-empty list at or above the order
 *    (__rmqueue_smallest, page_alloc.c:1631-1654) and splits it keeping the *lower* half; every upper
 *    half goes to the **head** of the next lower list (expand, page_alloc.c:1438-1465).
 * 3. Freeing merges with free buddies; the result goes to the head of its list, or to the tail when the
 *    buddy of the next-higher order is free (buddy_merge_likely, page_alloc.c:758-773, 880-893).
 * 4. Orders 0..3 (PAGE_ALLOC_COSTLY_ORDER) go through the per-CPU lists (pcp_allowed_order,
 *    page_alloc.c:570-579). An empty pcp list is refilled with `batch` blocks taken one by one from the
 *    buddy lists and appended at the tail (rmqueue_bulk, page_alloc.c:2373-2403), so a fresh refill
 *    hands pages out in ascending order; allocation takes the first entry (page_alloc.c:3092-3093) and
 *    a freed page is pushed at the head (page_alloc.c:2689): a page freed and re-allocated on the same
 *    CPU comes straight back (LIFO). Pages sitting on a pcp list are not counted as free by the zone.
 * 5. Zone choice: gfp_zone() gives the highest allowed zone; the zonelist walks populated zones from
 *    there downwards (Normal, DMA32, DMA) and takes the first whose watermark check passes
 *    (get_page_from_freelist, page_alloc.c:3416-...; __zone_watermark_ok page_alloc.c:3204-3270): fast
 *    path against the low watermark, slow path against min (halved for __GFP_HIGH, a further quarter off
 *    for callers that cannot reclaim; gfp_to_alloc_flags page_alloc.c:4075-4115), always plus the lower
 *    zone's lowmem_reserve for the request's highest zone (setup_per_zone_lowmem_reserve
 *    page_alloc.c:6084-6111, ratios 256/256/32 page_alloc.c:256-265). So GFP_KERNEL on an 8 GiB RK3568
 *    gets memory above 4 GiB until ZONE_NORMAL runs low, and GFP_DMA32 never leaves the zones below
 *    4 GiB.
 * 6. A seeded boot history (`bootHistory`) stands for everything the kernel allocated and freed
 *    before the code under study runs (slab, page tables, stacks, initramfs page cache): interleaved
 *    allocations and frees of mixed orders and gfp masks from a PRNG. It is what makes "which page comes
 *    back" depend on history as it does on hardware, reproducibly.
 *
 * Simplifications (documented in docs/page-allocator.md): one NUMA node and one CPU's pcp lists; no
 * migratetypes (every block is on one list per order; the kernel's unmovable/movable split and pageblock
 * stealing are replaced by the boot history); no reclaim, compaction or OOM killer (a request that would
 * reclaim instead fails once the min watermark is reached, after draining the pcp lists as the kernel
 * does before giving up); pcp `high` fixed at its minimum (zone_highsize without the dynamic scaling),
 * the refill size fixed at `batch` (no alloc_factor doubling); no page shuffling, no CMA, no
 * highatomic reserves.
 */
import { hex } from '../../addr.js';
import type { PhysMem, RamBank } from '../../mem/phys-mem.js';
import type { Tracer } from '../../trace/events.js';
import {
  GFP_ATOMIC,
  GFP_CONSTRAINT_MASK,
  GFP_DMA32,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_RECLAIM_MASK,
  GFP_SLAB_BUG_MASK_ZONES,
  ZONE_DMA,
  ZONE_NAMES,
  ZONE_NORMAL,
  __GFP_BITS_MASK,
  __GFP_COMP,
  __GFP_DIRECT_RECLAIM,
  __GFP_DMA,
  __GFP_HIGH,
  __GFP_HIGHMEM,
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_RETRY_MAYFAIL,
  __GFP_THISNODE,
  __GFP_RECLAIM,
  __GFP_ZERO,
  formatGfp,
  formatGfpMode,
  gfpZone,
  type ZoneIndex,
} from './gfp.js';
import { Prng } from './prng.js';
import { PAGE_SIZE, computeZones, type ZoneLayout } from './zones.js';

/** arch/arm64/Kconfig:1707-1711: ARCH_FORCE_MAX_ORDER is 10 with 4K pages (4 MiB blocks). */
export const MAX_PAGE_ORDER = 10;
export const NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1;
export const PAGE_ALLOC_COSTLY_ORDER = 3;
export const PAGE_SHIFT = 12;
const NONE = -1;

/** The CPU page sizes an arm64 kernel model may be built with (CONFIG_ARM64_4K_PAGES / _16K_PAGES). */
export type PageSize = 4096 | 16384;
export const SUPPORTED_PAGE_SIZES: readonly PageSize[] = [4096, 16384];

/** The page size as a checked PageSize; a bug in the caller (not user input) otherwise. */
export function checkPageSize(pageSize: number): PageSize {
  if (pageSize !== 4096 && pageSize !== 16384) throw new RangeError(`page size ${pageSize}: the mm model supports 4096 and 16384`);
  return pageSize;
}

/** PAGE_SHIFT of a page size: 12 for 4K, 14 for 16K. */
export function pageShiftOf(pageSize: number): number {
  return Math.log2(checkPageSize(pageSize));
}

/**
 * MAX_PAGE_ORDER = CONFIG_ARCH_FORCE_MAX_ORDER (include/linux/mmzone.h:30-32): 10 with 4K pages
 * (4 MiB blocks), 11 with 16K pages (32 MiB blocks) (arch/arm64/Kconfig:1707-1711).
 */
export function maxPageOrder(pageSize: number): number {
  return checkPageSize(pageSize) === 16384 ? 11 : 10;
}

export interface ReservedRange {
  base: number;
  size: number;
  name?: string;
}

/**
 * What ran before the code under study: `allocations` allocations, each preceded (with probability
 * `freeRatio`) by freeing a random earlier one; what is still allocated at the end stays allocated.
 */
export interface BootHistory {
  seed: number;
  allocations: number;
  /** Probability that a step first frees a random live allocation (default 0.4). */
  freeRatio?: number;
  /**
   * Relative weights of orders 0, 1, 2, ... (default at 4K [70, 10, 12, 6, 1, 0.5, 0.5]: mostly single
   * pages, 16 KiB stacks are order 2; at 16K the same request sizes in bytes regrouped into 16K-page
   * orders, [92, 6, 1, 0.5, 0.5]: a 4, 8 or 16 KiB request is one 16K page).
   */
  orderWeights?: number[];
  /** gfp masks and weights (default GFP_KERNEL 60, GFP_HIGHUSER_MOVABLE 30, GFP_ATOMIC 8, GFP_KERNEL|GFP_DMA32 2). */
  gfpMix?: { gfp: number; weight: number }[];
}

export const DEFAULT_BOOT_HISTORY: Readonly<BootHistory> = Object.freeze({ seed: 0, allocations: 2048, freeRatio: 0.4 });
const DEFAULT_ORDER_WEIGHTS = [70, 10, 12, 6, 1, 0.5, 0.5];

/**
 * The default weights for a page size: the 4K weights stand for request sizes 4K, 8K, ... 256K; a
 * bigger page holds several of them, so their weights add up in the order that now covers that size.
 */
export function defaultOrderWeights(pageSize: number): number[] {
  const shift = pageShiftOf(pageSize) - 12;
  const out: number[] = [];
  DEFAULT_ORDER_WEIGHTS.forEach((w, o4k) => {
    const o = Math.max(0, o4k - shift);
    out[o] = (out[o] ?? 0) + w;
  });
  return out;
}
const DEFAULT_GFP_MIX = [
  { gfp: GFP_KERNEL, weight: 60 },
  { gfp: GFP_HIGHUSER_MOVABLE, weight: 30 },
  { gfp: GFP_ATOMIC, weight: 8 },
  { gfp: GFP_KERNEL | GFP_DMA32, weight: 2 },
];

export interface PageAllocatorOptions {
  /** RAM as memblock.memory has it. */
  banks: readonly RamBank[];
  /**
   * The kernel's PAGE_SIZE: 4096 (default) or 16384. Page frames, orders, alignment, MAX_PAGE_ORDER,
   * watermarks, pcp batch/high and the boot history are all counted in pages of this size.
   */
  pageSize?: number;
  /** memblock reservations never given to the buddy allocator (kernel image, memmap, swiotlb, CMA, ...). */
  reserved?: readonly ReservedRange[];
  /** Zone layout; computed from `banks` and `dtDmaLimit` when absent. */
  zones?: ZoneLayout;
  /** of_dma_get_max_cpu_address() when `zones` is not given. */
  dtDmaLimit?: number;
  /** Where allocation warnings and events go. */
  tracer?: Tracer;
  /** Memory that __GFP_ZERO clears. */
  mem?: PhysMem;
  /** current->comm for warnings (default "kworker/0:1"). */
  comm?: string;
  /** Boot history to replay after the boot-time release; null or allocations 0 for a pristine allocator. */
  bootHistory?: BootHistory | null;
  /** Model the per-CPU page lists (default true). */
  pcp?: boolean;
  /** Online CPUs sharing the pcp high budget (default 4, as RK3568). */
  nrCpus?: number;
  /** Apply watermarks and lowmem_reserve (default true). */
  watermarks?: boolean;
  /**
   * Suffix cpuset_print_current_mems_allowed() appends with CONFIG_CPUSETS=y (Debian):
   * ",cpuset=/,mems_allowed=0" by default; "" for a kernel without cpusets.
   */
  cpusetSuffix?: string;
}

export interface ZoneStats {
  index: ZoneIndex;
  name: string;
  /** Span [start, end). */
  start: number;
  end: number;
  /** Pages handed to the buddy allocator at boot. */
  managedPages: number;
  /** NR_FREE_PAGES: pages on the buddy lists (pcp pages excluded, as in the kernel). */
  freePages: number;
  /** Number of free blocks per order 0..MAX_PAGE_ORDER of the page size (/proc/buddyinfo). */
  freeBlocks: number[];
  /** Pages on this CPU's pcp lists. */
  pcpPages: number;
  pcpBatch: number;
  pcpHigh: number;
  watermark: { min: number; low: number; high: number };
  /** lowmem_reserve[j] for requests whose highest zone is j (index by zone). */
  lowmemReserve: number[];
}

export interface AllocFailure {
  gfp: number;
  order: number;
  /**
   * 'nopage': the allocator gave up (warn_alloc); 'oom': the kernel would now invoke the OOM killer and
   * retry (not modelled: we stop there); 'bad-order': order > MAX_PAGE_ORDER.
   */
  kind: 'nopage' | 'oom' | 'bad-order';
  /** The line logged (warn_alloc's or the oom-killer header), or null when suppressed (__GFP_NOWARN, ...). */
  warning: string | null;
}

interface Zone {
  index: ZoneIndex;
  name: string;
  startPfn: number;
  endPfn: number;
  managed: number;
  free: number;
  head: number[];
  tail: number[];
  count: number[];
  wmMin: number;
  wmLow: number;
  wmHigh: number;
  lowmemReserve: number[];
  pcpLists: number[][];
  pcpCount: number;
  pcpBatch: number;
  pcpHigh: number;
}

interface LiveBlock {
  order: number;
  zone: ZoneIndex;
  gfp: number;
}

// alloc_flags bits we use (mm/internal.h): which watermark and how far below it a caller may go.
const ALLOC_WMARK_MIN = 0;
const ALLOC_WMARK_LOW = 1;
const ALLOC_MIN_RESERVE = 2;
const ALLOC_NON_BLOCK = 4;

function pow2(order: number): number {
  return 2 ** order;
}

/** pfn ^ (1 << order) for pfns above 2^32. */
function buddyOf(pfn: number, order: number): number {
  const size = pow2(order);
  return Math.floor(pfn / size) % 2 === 0 ? pfn + size : pfn - size;
}

/** get_order(size) for a kernel with `pageSize` pages: the smallest order whose block holds `size` bytes. */
export function getOrder(size: number, pageSize: number = PAGE_SIZE): number {
  let order = 0;
  while (pageSize * pow2(order) < size) order++;
  return order;
}

/** int_sqrt (lib/math/int_sqrt.c): floor of the square root. */
function intSqrt(x: number): number {
  let r = Math.floor(Math.sqrt(x));
  while (r * r > x) r--;
  while ((r + 1) * (r + 1) <= x) r++;
  return r;
}

function roundDownPow2(n: number): number {
  return n <= 0 ? 0 : pow2(Math.floor(Math.log2(n)));
}

export class PageAllocator {
  readonly layout: ZoneLayout;
  /** PAGE_SIZE in bytes; every pfn, order and page count of this allocator is in pages of this size. */
  readonly pageSize: PageSize;
  readonly pageShift: number;
  /** MAX_PAGE_ORDER for this page size. */
  readonly maxOrder: number;
  readonly tracer?: Tracer;
  readonly mem?: PhysMem;
  comm: string;
  readonly pcpEnabled: boolean;
  readonly watermarksEnabled: boolean;
  readonly cpusetSuffix: string;
  /** min_free_kbytes as calculate_min_free_kbytes() set it. */
  minFreeKbytes = 0;
  /** The failures seen so far (including silent ones). */
  readonly failures: AllocFailure[] = [];
  /** NR_IOMMU_PAGES (iommu-pages.h accounting). */
  iommuPages = 0;

  private readonly zones: Zone[] = [];
  /** Head pfn of every free buddy block -> its order. */
  private readonly freeOrder = new Map<number, number>();
  private readonly next = new Map<number, number>();
  private readonly prev = new Map<number, number>();
  /** Blocks handed out to callers, by first pfn. */
  private readonly live = new Map<number, LiveBlock>();
  private readonly nrCpus: number;
  private quiet = false;
  private slab?: SlabAllocator;

  constructor(opts: PageAllocatorOptions) {
    this.pageSize = checkPageSize(opts.pageSize ?? opts.zones?.pageSize ?? PAGE_SIZE);
    this.pageShift = pageShiftOf(this.pageSize);
    this.maxOrder = maxPageOrder(this.pageSize);
    if (opts.zones?.pageSize !== undefined && opts.zones.pageSize !== this.pageSize)
      throw new RangeError(`PageAllocator: zones computed with ${opts.zones.pageSize}-byte pages, allocator uses ${this.pageSize}`);
    this.layout = opts.zones ?? computeZones({ ram: opts.banks, dtDmaLimit: opts.dtDmaLimit, pageSize: this.pageSize });
    this.tracer = opts.tracer;
    this.mem = opts.mem;
    this.comm = opts.comm ?? 'kworker/0:1';
    this.pcpEnabled = opts.pcp ?? true;
    this.watermarksEnabled = opts.watermarks ?? true;
    this.cpusetSuffix = opts.cpusetSuffix ?? ',cpuset=/,mems_allowed=0';
    this.nrCpus = Math.max(1, opts.nrCpus ?? 4);

    for (const span of this.layout.zones) {
      this.zones.push({
        index: span.index,
        name: span.name,
        startPfn: Math.floor(span.start / this.pageSize),
        endPfn: Math.floor(span.end / this.pageSize),
        managed: 0,
        free: 0,
        head: new Array<number>(this.maxOrder + 1).fill(NONE),
        tail: new Array<number>(this.maxOrder + 1).fill(NONE),
        count: new Array<number>(this.maxOrder + 1).fill(0),
        wmMin: 0,
        wmLow: 0,
        wmHigh: 0,
        lowmemReserve: [0, 0, 0, 0],
        pcpLists: [[], [], [], []],
        pcpCount: 0,
        pcpBatch: 1,
        pcpHigh: 0,
      });
    }
    this.releaseBootMemory(opts.banks, opts.reserved ?? []);
    this.setupWatermarks();
    const history = opts.bootHistory === undefined ? DEFAULT_BOOT_HISTORY : opts.bootHistory;
    if (history && history.allocations > 0) this.replayBootHistory(history);
  }

  // ---------------------------------------------------------------- boot

  /** memblock_free_all(): free ranges in address order, largest aligned chunks, to the list tails. */
  private releaseBootMemory(banks: readonly RamBank[], reserved: readonly ReservedRange[]): void {
    const ranges = subtractRanges(
      [...banks].sort((a, b) => a.base - b.base).map((b) => ({ base: b.base, end: b.base + b.size })),
      [...reserved].map((r) => ({ base: r.base, end: r.base + r.size })),
    );
    for (const r of ranges) {
      let start = Math.ceil(r.base / this.pageSize);
      const end = Math.floor(r.end / this.pageSize);
      while (start < end) {
        const zone = this.zoneOfPfn(start);
        if (!zone) throw new Error(`RAM pfn ${hex(start)} lies in no zone`);
        // A chunk never crosses a zone boundary (they are MAX_PAGE_ORDER aligned in practice; an odd
        // dma-ranges limit is the exception we guard against).
        const stop = Math.min(end, zone.endPfn);
        let order = this.maxOrder;
        while (order > 0 && start % pow2(order) !== 0) order--;
        while (start + pow2(order) > stop) order--;
        zone.managed += pow2(order);
        this.freeOneBlock(zone, start, order, true);
        start += pow2(order);
      }
    }
  }

  /**
   * calculate_min_free_kbytes, __setup_per_zone_wmarks, setup_per_zone_lowmem_reserve and the pcp batch
   * and high of each zone (page_alloc.c:5628-5720, 6084-6173, 6224-6238).
   */
  private setupWatermarks(): void {
    const lowmemPages = this.zones.reduce((s, z) => s + z.managed, 0);
    // nr_free_buffer_pages() << (PAGE_SHIFT - 10) and min_free_kbytes >> (PAGE_SHIFT - 10)
    // (page_alloc.c calculate_min_free_kbytes, __setup_per_zone_wmarks): kilobytes, then pages of
    // this size again, so a 16K kernel's watermarks are a quarter as many (bigger) pages.
    const kbPerPage = this.pageSize / 1024;
    const lowmemKbytes = lowmemPages * kbPerPage;
    this.minFreeKbytes = Math.min(262144, Math.max(128, intSqrt(lowmemKbytes * 16)));
    const pagesMin = Math.floor(this.minFreeKbytes / kbPerPage);
    for (const z of this.zones) {
      const min = lowmemPages ? Math.floor((pagesMin * z.managed) / lowmemPages) : 0;
      const tmp = Math.max(Math.floor(min / 4), Math.floor((z.managed * 10) / 10000));
      z.wmMin = min;
      z.wmLow = min + tmp;
      z.wmHigh = z.wmLow + tmp;
      // zone_batchsize (page_alloc.c:5628-5660): min(managed >> 10, SZ_1M / PAGE_SIZE) / 4.
      let batch = Math.floor(Math.min(Math.floor(z.managed / 1024), (1024 * 1024) / this.pageSize) / 4);
      if (batch < 1) batch = 1;
      batch = roundDownPow2(batch + Math.floor(batch / 2)) - 1;
      z.pcpBatch = Math.max(1, batch);
      z.pcpHigh = Math.max(Math.floor(z.wmLow / this.nrCpus), z.pcpBatch * 4);
    }
    const ratio = [256, 256, 32];
    for (let i = 0; i < this.zones.length; i++) {
      const zi = this.zones[i];
      const clear = !ratio[i] || !zi.managed;
      let upper = 0;
      for (let j = i + 1; j < 4; j++) {
        upper += j < this.zones.length ? this.zones[j].managed : 0;
        zi.lowmemReserve[j] = clear ? 0 : Math.floor(upper / ratio[i]);
      }
    }
  }

  private replayBootHistory(h: BootHistory): void {
    const rng = new Prng(h.seed);
    const freeRatio = h.freeRatio ?? 0.4;
    const orderWeights = h.orderWeights ?? defaultOrderWeights(this.pageSize);
    const mix = h.gfpMix ?? DEFAULT_GFP_MIX;
    const mixWeights = mix.map((m) => m.weight);
    const held: { pa: number; order: number }[] = [];
    this.quiet = true;
    try {
      for (let i = 0; i < h.allocations; i++) {
        if (held.length && rng.nextFloat() < freeRatio) {
          const k = rng.int(held.length);
          const victim = held[k];
          held[k] = held[held.length - 1];
          held.pop();
          this.freePages(victim.pa, victim.order);
        }
        const order = rng.weighted(orderWeights);
        const gfp = mix[rng.weighted(mixWeights)].gfp | __GFP_NOWARN;
        const pa = this.allocPages(gfp, order);
        if (pa !== null) held.push({ pa, order });
      }
    } finally {
      this.quiet = false;
    }
    this.failures.length = 0;
    this.tracer?.emit('mm', 'boot_history', {
      seed: h.seed,
      allocations: h.allocations,
      stillAllocated: held.length,
      pagesHeld: held.reduce((s, b) => s + pow2(b.order), 0),
    });
  }

  // ---------------------------------------------------------------- free lists

  private zoneOfPfn(pfn: number): Zone | undefined {
    for (const z of this.zones) if (pfn >= z.startPfn && pfn < z.endPfn) return z;
    return undefined;
  }

  private addToList(z: Zone, pfn: number, order: number, toTail: boolean): void {
    this.freeOrder.set(pfn, order);
    const h = z.head[order];
    if (h === NONE) {
      z.head[order] = z.tail[order] = pfn;
      this.next.set(pfn, NONE);
      this.prev.set(pfn, NONE);
    } else if (toTail) {
      const t = z.tail[order];
      this.next.set(t, pfn);
      this.prev.set(pfn, t);
      this.next.set(pfn, NONE);
      z.tail[order] = pfn;
    } else {
      this.prev.set(h, pfn);
      this.next.set(pfn, h);
      this.prev.set(pfn, NONE);
      z.head[order] = pfn;
    }
    z.count[order]++;
  }

  private delFromList(z: Zone, pfn: number, order: number): void {
    const n = this.next.get(pfn) ?? NONE;
    const p = this.prev.get(pfn) ?? NONE;
    if (p === NONE) z.head[order] = n;
    else this.next.set(p, n);
    if (n === NONE) z.tail[order] = p;
    else this.prev.set(n, p);
    this.next.delete(pfn);
    this.prev.delete(pfn);
    this.freeOrder.delete(pfn);
    z.count[order]--;
  }

  private isFreeBuddy(z: Zone, pfn: number, order: number): boolean {
    return this.freeOrder.get(pfn) === order && pfn >= z.startPfn && pfn < z.endPfn;
  }

  /** __free_one_page: merge upwards, then head or tail. */
  private freeOneBlock(z: Zone, pfn: number, order: number, toTailForced: boolean): void {
    z.free += pow2(order);
    while (order < this.maxOrder) {
      const buddy = buddyOf(pfn, order);
      if (!this.isFreeBuddy(z, buddy, order)) break;
      this.delFromList(z, buddy, order);
      pfn = Math.min(pfn, buddy);
      order++;
    }
    let toTail = toTailForced;
    if (!toTail && order < this.maxOrder - 1) {
      // buddy_merge_likely: is the buddy of the order+1 block containing us free?
      const higher = pfn - (pfn % pow2(order + 1));
      toTail = this.isFreeBuddy(z, buddyOf(higher, order + 1), order + 1);
    }
    this.addToList(z, pfn, order, toTail);
  }

  /** __rmqueue_smallest + expand. */
  private rmqueueSmallest(z: Zone, order: number): number | null {
    for (let cur = order; cur <= this.maxOrder; cur++) {
      const pfn = z.head[cur];
      if (pfn === NONE) continue;
      this.delFromList(z, pfn, cur);
      z.free -= pow2(cur);
      let high = cur;
      while (high > order) {
        high--;
        const upper = pfn + pow2(high);
        this.addToList(z, upper, high, false);
        z.free += pow2(high);
      }
      return pfn;
    }
    return null;
  }

  private pcpAlloc(z: Zone, order: number): number | null {
    const list = z.pcpLists[order];
    if (list.length === 0) {
      // nr_pcp_alloc without the alloc_factor scaling: batch, divided by the order (min 2).
      const batch = z.pcpBatch > 1 ? Math.max(Math.floor(z.pcpBatch / pow2(order)), 2) : 1;
      for (let i = 0; i < batch; i++) {
        const pfn = this.rmqueueSmallest(z, order);
        if (pfn === null) break;
        list.push(pfn);
        z.pcpCount += pow2(order);
      }
      if (list.length === 0) return null;
    }
    const pfn = list.shift() as number;
    z.pcpCount -= pow2(order);
    return pfn;
  }

  private pcpFree(z: Zone, pfn: number, order: number): void {
    z.pcpLists[order].unshift(pfn);
    z.pcpCount += pow2(order);
    if (z.pcpCount >= z.pcpHigh) this.pcpDrain(z, z.pcpBatch, order);
  }

  /** free_pcppages_bulk: give `count` pages back from list tails, starting with the list just used. */
  private pcpDrain(z: Zone, count: number, firstOrder: number): void {
    let order = firstOrder;
    let guard = 0;
    while (count > 0 && z.pcpCount > 0 && guard++ < 1_000_000) {
      const list = z.pcpLists[order];
      if (list.length) {
        const pfn = list.pop() as number;
        z.pcpCount -= pow2(order);
        count -= pow2(order);
        this.freeOneBlock(z, pfn, order, false);
      } else {
        order = (order + 1) % (PAGE_ALLOC_COSTLY_ORDER + 1);
      }
    }
  }

  /** drain_all_pages(): every pcp page back to the buddy lists. */
  drainPcp(): void {
    for (const z of this.zones) {
      for (let order = 0; order <= PAGE_ALLOC_COSTLY_ORDER; order++) {
        const list = z.pcpLists[order];
        while (list.length) {
          const pfn = list.pop() as number;
          z.pcpCount -= pow2(order);
          this.freeOneBlock(z, pfn, order, false);
        }
      }
    }
  }

  // ---------------------------------------------------------------- allocation

  private watermarkOk(z: Zone, order: number, allocFlags: number, highestIdx: number): boolean {
    if (!this.watermarksEnabled) return this.hasBlock(z, order);
    let min = allocFlags & ALLOC_WMARK_LOW ? z.wmLow : z.wmMin;
    if (allocFlags & ALLOC_MIN_RESERVE) {
      min -= Math.floor(min / 2);
      if (allocFlags & ALLOC_NON_BLOCK) min -= Math.floor(min / 4);
    }
    const free = z.free - (pow2(order) - 1);
    if (free <= min + (z.lowmemReserve[highestIdx] ?? 0)) return false;
    if (order === 0) return true;
    return this.hasBlock(z, order);
  }

  private hasBlock(z: Zone, order: number): boolean {
    if (order === 0 && z.pcpLists[0].length) return true;
    for (let o = order; o <= this.maxOrder; o++) if (z.count[o] > 0) return true;
    return false;
  }

  /** The zonelist walk of get_page_from_freelist; `why` collects one line per zone looked at. */
  private fromFreelist(
    order: number,
    allocFlags: number,
    highestIdx: ZoneIndex,
    why: string[],
  ): { pfn: number; zone: Zone; via: 'pcp' | 'buddy' } | null {
    const pass = allocFlags & ALLOC_WMARK_LOW ? 'low' : 'min';
    for (let i = Math.min(highestIdx, this.zones.length - 1); i >= 0; i--) {
      const z = this.zones[i];
      if (z.managed === 0) {
        why.push(`${z.name}: empty`);
        continue;
      }
      if (!this.watermarkOk(z, order, allocFlags, highestIdx)) {
        why.push(`${z.name}: ${z.free} free pages, not above the ${pass} watermark (+lowmem_reserve ${z.lowmemReserve[highestIdx] ?? 0})`);
        continue;
      }
      const viaPcp = this.pcpEnabled && order <= PAGE_ALLOC_COSTLY_ORDER;
      const pfn = viaPcp ? this.pcpAlloc(z, order) : this.rmqueueSmallest(z, order);
      if (pfn !== null) {
        why.push(`${z.name}: taken from the ${viaPcp ? `pcp list (order ${order})` : 'buddy free lists'}`);
        return { pfn, zone: z, via: viaPcp ? 'pcp' : 'buddy' };
      }
      why.push(`${z.name}: no free block of order >= ${order}`);
    }
    return null;
  }

  /**
   * alloc_pages(gfp, order): the physical address of the first page, or null (with the kernel's
   * warning unless __GFP_NOWARN). `__GFP_ZERO` clears the pages in `mem`.
   */
  allocPages(gfp: number, order: number): number | null {
    if (!Number.isInteger(order) || order < 0) throw new Error(`allocPages: bad order ${order}`);
    if (order > this.maxOrder) {
      // WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER) in __alloc_pages: NULL, no warn_alloc line.
      this.failures.push({ gfp, order, kind: 'bad-order', warning: null });
      if (!this.quiet) this.tracer?.emit('mm', 'mm_page_alloc_fail', { order, gfp, gfpFlags: formatGfp(gfp), kind: 'bad-order' });
      return null;
    }
    const highest = gfpZone(gfp);
    const highestIdx = (highest === 3 ? ZONE_NORMAL : highest) as ZoneIndex; // no ZONE_MOVABLE populated
    const why: string[] = [];
    let got = this.fromFreelist(order, ALLOC_WMARK_LOW, highestIdx, why);
    if (!got) {
      // __alloc_pages_slowpath: the min watermark, reserves for __GFP_HIGH and non-blocking callers.
      let flags = ALLOC_WMARK_MIN;
      if (gfp & __GFP_HIGH) flags |= ALLOC_MIN_RESERVE;
      if (!(gfp & __GFP_DIRECT_RECLAIM) && !(gfp & __GFP_NOMEMALLOC)) flags |= ALLOC_NON_BLOCK;
      why.push('slow path');
      got = this.fromFreelist(order, flags, highestIdx, why);
      if (!got && gfp & __GFP_DIRECT_RECLAIM) {
        // Direct reclaim found nothing to reclaim; the kernel drains the pcp lists and retries once
        // (__alloc_pages_direct_reclaim, page_alloc.c).
        this.drainPcp();
        why.push('pcp lists drained');
        got = this.fromFreelist(order, flags, highestIdx, why);
      }
    }
    if (!got) {
      this.reportFailure(gfp, order, highestIdx, why);
      return null;
    }
    const pa = got.pfn * this.pageSize;
    this.live.set(got.pfn, { order, zone: got.zone.index, gfp });
    if (gfp & __GFP_ZERO && this.mem) this.mem.fill(pa, this.pageSize * pow2(order), 0);
    if (!this.quiet)
      this.tracer?.emit('mm', 'mm_page_alloc', {
        pfn: got.pfn,
        pa,
        order,
        size: this.pageSize * pow2(order),
        gfp,
        gfpFlags: formatGfp(gfp),
        zone: got.zone.name,
        highestZone: ZONE_NAMES[highest],
        via: got.via,
        zonelist: why,
      });
    return pa;
  }

  private hasManagedDma(): boolean {
    const z = this.zones[ZONE_DMA];
    return !!z && z.index === ZONE_DMA && z.managed > 0;
  }

  /**
   * The end of __alloc_pages_slowpath. A request that may reclaim, is not costly (order <= 3), not
   * __GFP_NORETRY/__GFP_RETRY_MAYFAIL/__GFP_THISNODE and may use ZONE_NORMAL reaches the OOM killer
   * (__alloc_pages_may_oom, page_alloc.c:3655-3730): "%s invoked oom-killer: gfp_mask=%#x(%pGg),
   * order=%d, oom_score_adj=%hd" (mm/oom_kill.c:462). The kernel would then kill a task and retry; we
   * stop and report. Lowmem requests (GFP_DMA32, GFP_DMA) never OOM (page_alloc.c:3708-3710): they end in
   * warn_alloc (page_alloc.c:3609-3632), whose first line we print (dump_stack and show_mem are not
   * modelled), unless __GFP_NOWARN or __GFP_DMA without a populated ZONE_DMA.
   */
  private reportFailure(gfp: number, order: number, highestIdx: ZoneIndex, why: string[]): void {
    const oom =
      (gfp & __GFP_DIRECT_RECLAIM) !== 0 &&
      (gfp & (__GFP_NORETRY | __GFP_RETRY_MAYFAIL | __GFP_THISNODE)) === 0 &&
      order <= PAGE_ALLOC_COSTLY_ORDER &&
      highestIdx >= ZONE_NORMAL;
    let warning: string | null = null;
    if (oom) {
      warning = `${this.comm} invoked oom-killer: gfp_mask=${formatGfpMode(gfp)}, order=${order}, oom_score_adj=0`;
    } else if (!(gfp & __GFP_NOWARN) && !(gfp & __GFP_DMA && !this.hasManagedDma())) {
      warning =
        `${this.comm}: page allocation failure: order:${order}, mode:${formatGfpMode(gfp)}, nodemask=(null)` +
        this.cpusetSuffix;
    }
    const kind = oom ? 'oom' : 'nopage';
    this.failures.push({ gfp, order, kind, warning });
    if (this.quiet) return;
    this.tracer?.emit('mm', 'mm_page_alloc_fail', { order, gfp, gfpFlags: formatGfp(gfp), kind, warned: warning !== null, zonelist: why });
    if (warning) this.tracer?.printk('warn', warning);
  }

  /**
   * __free_pages(pa, order). Freeing a block that is not allocated (or with another order) is a kernel
   * bug: logged as the kernel's "Bad page state" and ignored; returns false.
   */
  freePages(pa: number, order: number): boolean {
    const pfn = Math.floor(pa / this.pageSize);
    const rec = this.live.get(pfn);
    if (!rec || rec.order !== order || pa % this.pageSize !== 0) {
      if (!this.quiet)
        this.tracer?.printk('alert', `BUG: Bad page state in process ${this.comm}  pfn:${pfn.toString(16).padStart(5, '0')}`);
      return false;
    }
    this.live.delete(pfn);
    const z = this.zones[rec.zone];
    if (this.pcpEnabled && order <= PAGE_ALLOC_COSTLY_ORDER) this.pcpFree(z, pfn, order);
    else this.freeOneBlock(z, pfn, order, false);
    if (!this.quiet) this.tracer?.emit('mm', 'mm_page_free', { pfn, pa, order });
    return true;
  }

  allocPage(gfp: number): number | null {
    return this.allocPages(gfp, 0);
  }

  /** __get_free_pages (gfp minus __GFP_HIGHMEM). Returns the physical address: use LinearMap for the virtual one. */
  getFreePages(gfp: number, order: number): number | null {
    return this.allocPages(gfp & ~__GFP_HIGHMEM, order);
  }

  freePage(pa: number): boolean {
    return this.freePages(pa, 0);
  }

  /** iommu_alloc_pages (drivers/iommu/iommu-pages.h:56-63, 111-119): always zeroed, accounted. Physical address. */
  iommuAllocPages(gfp: number, order: number): number | null {
    const pa = this.allocPages(gfp | __GFP_ZERO, order);
    if (pa !== null) this.iommuPages += pow2(order);
    return pa;
  }

  iommuAllocPage(gfp: number): number | null {
    return this.iommuAllocPages(gfp, 0);
  }

  /** iommu_free_pages: NULL-safe (null is ignored), un-accounts. */
  iommuFreePages(pa: number | null, order: number): boolean {
    if (pa === null) return true;
    const ok = this.freePages(pa, order);
    if (ok) this.iommuPages -= pow2(order);
    return ok;
  }

  iommuFreePage(pa: number | null): boolean {
    return this.iommuFreePages(pa, 0);
  }

  /** kmalloc (SLUB size classes; see SlabAllocator). Physical address of the object, or null. */
  kmalloc(size: number, gfp: number): number | null {
    this.slab ??= new SlabAllocator(this, this.nrCpus);
    return this.slab.kmalloc(size, gfp);
  }

  kfree(pa: number | null): boolean {
    if (pa === null) return true;
    this.slab ??= new SlabAllocator(this, this.nrCpus);
    return this.slab.kfree(pa);
  }

  /** @internal for SlabAllocator */
  warn(text: string): void {
    if (!this.quiet) this.tracer?.printk('warn', text);
  }

  // ---------------------------------------------------------------- queries

  /** Whether pa is the first byte of a block handed out by this allocator (for callers' checks). */
  isAllocated(pa: number): boolean {
    return this.live.has(Math.floor(pa / this.pageSize));
  }

  /** Allocated blocks: [pa, order] in address order (for property tests and --explain). */
  liveBlocks(): { pa: number; order: number; zone: string }[] {
    return [...this.live.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([pfn, r]) => ({ pa: pfn * this.pageSize, order: r.order, zone: ZONE_NAMES[r.zone] }));
  }

  /** Free buddy blocks: [pa, order] in address order. */
  freeBlocks(): { pa: number; order: number }[] {
    return [...this.freeOrder.entries()].sort((a, b) => a[0] - b[0]).map(([pfn, order]) => ({ pa: pfn * this.pageSize, order }));
  }

  /** The free list of one zone and order, head first (physical addresses). */
  freeList(zone: ZoneIndex, order: number): number[] {
    const out: number[] = [];
    let p = this.zones[zone]?.head[order] ?? NONE;
    while (p !== NONE) {
      out.push(p * this.pageSize);
      p = this.next.get(p) ?? NONE;
    }
    return out;
  }

  /** The pcp list of one zone and order, head first (physical addresses). */
  pcpList(zone: ZoneIndex, order: number): number[] {
    return (this.zones[zone]?.pcpLists[order] ?? []).map((p) => p * this.pageSize);
  }

  zoneStats(): ZoneStats[] {
    return this.zones.map((z) => ({
      index: z.index,
      name: z.name,
      start: z.startPfn * this.pageSize,
      end: z.endPfn * this.pageSize,
      managedPages: z.managed,
      freePages: z.free,
      freeBlocks: [...z.count],
      pcpPages: z.pcpCount,
      pcpBatch: z.pcpBatch,
      pcpHigh: z.pcpHigh,
      watermark: { min: z.wmMin, low: z.wmLow, high: z.wmHigh },
      lowmemReserve: [...z.lowmemReserve],
    }));
  }

  /** One line per zone for --explain: span, managed and free pages, watermarks, pcp pages. */
  zoneReport(): string[] {
    return this.zones.map((z) => {
      const name = z.name.padEnd(6, ' ');
      if (z.startPfn === z.endPfn) return `${name} empty`;
      const span = `[${hex(z.startPfn * this.pageSize)}-${hex(z.endPfn * this.pageSize - 1)}]`;
      if (!z.managed) return `${name} ${span} no RAM`;
      return (
        `${name} ${span} managed ${z.managed} pages, free ${z.free} (+${z.pcpCount} on pcp), ` +
        `watermarks min ${z.wmMin} low ${z.wmLow} high ${z.wmHigh}`
      );
    });
  }

  /** /proc/buddyinfo lines (mm/vmstat.c frag_show_print: "Node %d, zone %8s " then "%6lu " per order), populated zones only. */
  buddyinfo(): string[] {
    return this.zones
      .filter((z) => z.managed > 0)
      .map((z) => `Node 0, zone ${z.name.padStart(8, ' ')} ` + z.count.map((c) => `${String(c).padStart(6, ' ')} `).join(''));
  }
}

/**
 * An mm_page_alloc / mm_page_alloc_fail event in words, for --explain: what was asked, which zones the
 * zonelist walk looked at and why, and where the block came from.
 */
export function explainAllocEvent(data: Record<string, unknown>): string {
  const order = Number(data.order);
  const asked = `alloc_pages(${String(data.gfpFlags) || '0'}, order ${order})`;
  const walk = Array.isArray(data.zonelist) ? (data.zonelist as string[]).join('; ') : '';
  if (data.pa === undefined) {
    const end = data.kind === 'oom' ? 'the OOM killer would run' : data.kind === 'bad-order' ? 'order above MAX_PAGE_ORDER' : 'allocation failed';
    return `${asked}: ${walk ? walk + '; ' : ''}${end}`;
  }
  const pa = Number(data.pa);
  const bytes = data.size !== undefined ? Number(data.size) : PAGE_SIZE * pow2(order);
  const end = pa + bytes - 1;
  return `${asked}: highest zone ${String(data.highestZone)}; ${walk} -> ${hex(pa)}-${hex(end)} in ZONE_${String(data.zone).toUpperCase()}`;
}

// -------------------------------------------------------------------- kmalloc

/** kmalloc_size_index[] for sizes 1..192 (mm/slab_common.c:741-766): index into the size classes below. */
const SIZE_INDEX = [3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2];
/** kmalloc_info sizes by index (slab_common.c:853-876); index 0 unused. */
const KMALLOC_SIZES = [0, 96, 192, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192];
/** KMALLOC_SHIFT_HIGH = PAGE_SHIFT + 1 (include/linux/slab.h:538): bigger requests go to the page allocator. */
export const KMALLOC_MAX_CACHE_SIZE = 8192;

/** KMALLOC_MAX_CACHE_SIZE = 1 << (PAGE_SHIFT + 1) (include/linux/slab.h:538, 547): 8 KiB at 4K, 32 KiB at 16K. */
export function kmallocMaxCacheSize(pageSize: number = PAGE_SIZE): number {
  return 2 * checkPageSize(pageSize);
}

/**
 * The kmalloc size class a request lands in (kmalloc_slab / kmalloc_size_roundup), or 0 for
 * page-allocator sizes (above 2 * PAGE_SIZE; a 16K kernel also has kmalloc-16k and kmalloc-32k caches).
 */
export function kmallocSizeClass(size: number, pageSize: number = PAGE_SIZE): number {
  if (size <= 0 || size > kmallocMaxCacheSize(pageSize)) return 0;
  if (size <= 192) return KMALLOC_SIZES[SIZE_INDEX[Math.floor((size - 1) / 8)]];
  return 2 ** Math.ceil(Math.log2(size));
}

/**
 * SLUB's slab order for a cache of `size`-byte objects (calculate_order / calc_slab_order,
 * mm/slub.c:5144-5215) with slub_min_order 0, slub_max_order PAGE_ALLOC_COSTLY_ORDER and
 * min_objects = 4 * (fls(nr_cpus) + 1).
 */
export function slabOrder(size: number, nrCpus: number, pageSize: number = PAGE_SIZE): number {
  const fls = nrCpus <= 0 ? 0 : Math.floor(Math.log2(nrCpus)) + 1;
  const maxOrder = PAGE_ALLOC_COSTLY_ORDER;
  const orderObjects = (order: number): number => Math.floor((pageSize * pow2(order)) / size);
  const maxObjects = Math.max(orderObjects(maxOrder), 1);
  const minObjects = Math.min(4 * (fls + 1), maxObjects);
  const minOrder = getOrder(minObjects * size, pageSize);
  for (let fraction = 16; fraction > 1; fraction /= 2) {
    let order = minOrder;
    for (; order <= maxOrder; order++) {
      const slabSize = pageSize * pow2(order);
      if (slabSize % size <= slabSize / fraction) break;
    }
    if (order <= maxOrder) return order;
  }
  return getOrder(size, pageSize);
}

interface Slab {
  base: number;
  order: number;
  objSize: number;
  cacheKey: string;
  /** Free object offsets, lowest first. */
  free: number[];
  inUse: number;
}

/**
 * A minimal kmalloc: the kernel's size classes and slab page orders, separate kmalloc-dma caches for
 * __GFP_DMA, and the kmalloc_fix_flags() warning for __GFP_DMA32/__GFP_HIGHMEM (slab_common.c:1060-1070),
 * which are stripped so such memory comes from any zone (gfp_types.h: "kmalloc(..., GFP_DMA32) does not
 * return DMA32 memory"). Which page an object sits in follows the page allocator exactly; the object's
 * offset inside the slab does not (objects are handed out lowest offset first; SLUB's per-CPU freelists
 * and CONFIG_SLAB_FREELIST_RANDOM are not modelled), and an empty slab is returned to the page
 * allocator at once (SLUB keeps min_partial empty slabs).
 */
export class SlabAllocator {
  private readonly partial = new Map<string, Slab[]>();
  /** pfn of every page of a slab -> slab. */
  private readonly byPfn = new Map<number, Slab>();
  /** Large kmalloc blocks (page allocator) -> order. */
  private readonly large = new Map<number, number>();

  constructor(
    private readonly pages: PageAllocator,
    readonly nrCpus = 4,
  ) {}

  kmalloc(size: number, gfp: number): number | null {
    if (size === 0) return null; // ZERO_SIZE_PTR: not a usable address
    let flags = gfp;
    const bad = (flags & GFP_SLAB_BUG_MASK_ZONES) | (flags & ~__GFP_BITS_MASK);
    if (bad) {
      flags &= ~(GFP_SLAB_BUG_MASK_ZONES | ~__GFP_BITS_MASK);
      this.pages.warn(
        `Unexpected gfp: ${'0x' + (bad >>> 0).toString(16)} (${formatGfp(bad)}). Fixing up to gfp: ${'0x' + (flags >>> 0).toString(16)} (${formatGfp(flags)}). Fix your code!`,
      );
    }
    const pageSize = this.pages.pageSize;
    if (size > kmallocMaxCacheSize(pageSize)) {
      // __kmalloc_large_node: straight from the page allocator, compound, zone bits as given.
      const order = getOrder(size, pageSize);
      const pa = this.pages.allocPages(flags | __GFP_COMP, order);
      if (pa !== null) this.large.set(pa, order);
      return pa;
    }
    const objSize = kmallocSizeClass(size, pageSize);
    const dma = (flags & __GFP_DMA) !== 0;
    const cacheKey = `${dma ? 'dma-' : ''}kmalloc-${objSize}`;
    const list = this.partial.get(cacheKey) ?? [];
    this.partial.set(cacheKey, list);
    let slab = list.find((s) => s.free.length > 0);
    if (!slab) {
      const order = slabOrder(objSize, this.nrCpus, pageSize);
      // allocate_slab: only reclaim/constraint bits of the caller survive, plus the cache's own flags.
      const base = (flags & (GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK)) | (dma ? __GFP_DMA : 0) | (order ? __GFP_COMP : 0);
      // First the preferred order without warnings or retries, then the minimum order (slub.c allocate_slab).
      const minOrder = getOrder(objSize, pageSize);
      let first = base | __GFP_NOWARN | __GFP_NORETRY;
      if (first & __GFP_DIRECT_RECLAIM && order > minOrder) first = (first | __GFP_NOMEMALLOC) & ~__GFP_RECLAIM;
      let gotOrder = order;
      let pa = this.pages.allocPages(first, order);
      if (pa === null) {
        gotOrder = minOrder;
        pa = this.pages.allocPages(base, minOrder);
      }
      if (pa === null) return null;
      const bytes = pageSize * pow2(gotOrder);
      const free: number[] = [];
      for (let off = 0; off + objSize <= bytes; off += objSize) free.push(off);
      slab = { base: pa, order: gotOrder, objSize, cacheKey, free, inUse: 0 };
      list.push(slab);
      for (let i = 0; i < pow2(gotOrder); i++) this.byPfn.set(pa / pageSize + i, slab);
    }
    const off = slab.free.shift() as number;
    slab.inUse++;
    const pa = slab.base + off;
    if (flags & __GFP_ZERO) this.pages.mem?.fill(pa, objSize, 0);
    return pa;
  }

  kfree(pa: number): boolean {
    const order = this.large.get(pa);
    if (order !== undefined) {
      this.large.delete(pa);
      return this.pages.freePages(pa, order);
    }
    const slab = this.byPfn.get(Math.floor(pa / this.pages.pageSize));
    const off = slab ? pa - slab.base : -1;
    if (!slab || off % slab.objSize !== 0 || slab.free.includes(off)) {
      this.pages.warn(`kfree: ${hex(pa)} is not an allocated kmalloc object`);
      return false;
    }
    slab.inUse--;
    const i = slab.free.findIndex((f) => f > off);
    if (i < 0) slab.free.push(off);
    else slab.free.splice(i, 0, off);
    if (slab.inUse === 0) {
      const list = this.partial.get(slab.cacheKey) ?? [];
      list.splice(list.indexOf(slab), 1);
      for (let k = 0; k < pow2(slab.order); k++) this.byPfn.delete(slab.base / this.pages.pageSize + k);
      this.pages.freePages(slab.base, slab.order);
    }
    return true;
  }
}

// -------------------------------------------------------------------- helpers

/** Ranges minus holes, in address order (memblock's for_each_free_mem_range). */
function subtractRanges(ranges: { base: number; end: number }[], holes: { base: number; end: number }[]): { base: number; end: number }[] {
  const sortedHoles = holes.filter((h) => h.end > h.base).sort((a, b) => a.base - b.base);
  const out: { base: number; end: number }[] = [];
  for (const r of ranges) {
    let cur = r.base;
    for (const h of sortedHoles) {
      if (h.end <= cur || h.base >= r.end) continue;
      if (h.base > cur) out.push({ base: cur, end: h.base });
      cur = Math.max(cur, h.end);
      if (cur >= r.end) break;
    }
    if (cur < r.end) out.push({ base: cur, end: r.end });
  }
  return out;
}
