/**
 * The kernel's IOVA allocator (drivers/iommu/iova.c, Linux 6.12), in our own code.
 *
 * Facts the results depend on, all from iova.c:
 * - Allocation walks *down* from a cached node (`cached32_node` for limits at or below 4 GiB,
 *   `cached_node` above), taking the first gap below `min(limit, node.pfn_lo)` that fits
 *   (__alloc_and_insert_iova_range, iova.c:180-230). Only when that fails does it retry once over the
 *   part above the cached node, from the node `iova_find_limit()` picks (iova.c:203-211).
 * - A failed allocation records its size in `max32_alloc_size` (iova.c:212); any later request with a limit
 *   at or below the 32-bit pfn and a size >= that fails immediately (iova.c:186-188) until an rbtree
 *   removal below 4 GiB resets it (iova.c:92-93).
 * - size_aligned rounds the start down to 2^fls(size-1) (iova.c:179-180).
 * - alloc_iova_fast rounds sizes below 32 pages up to a power of two (iova.c:416-417) and serves
 *   sizes up to 32 pages from per-CPU magazines of 127 pfns with a shared depot (iova.c:560-840).
 *
 * The rb-tree is an ordered array here; the kernel's results do not depend on the tree's shape (the one
 * place that walks the shape, iova_find_limit, returns either the straddling node or the next one above
 * the limit, and both give the same next-fit scan). Nodes are objects so the cached "pointers" keep
 * their identity exactly as the kernel's do.
 */
import type { Tracer } from '../../trace/events.js';
import { U64_MAX, isPowerOf2, orderBase2, roundupPowOfTwo, fls64 } from './u64.js';

export interface IovaNode {
  pfnLo: number;
  pfnHi: number;
}

/** IOVA_ANCHOR (~0UL): the sentinel node above the whole space (iova.c:18). */
export const IOVA_ANCHOR = U64_MAX;
/** IOVA_RANGE_CACHE_MAX_SIZE: log2 of the largest cached range + 1 (iova.c:20). */
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;
/** IOVA_MAG_SIZE (iova.c:566). */
export const IOVA_MAG_SIZE = 127;

/** A magazine: pfns[0..size) (iova.c:570-576). */
export interface IovaMagazine {
  pfns: number[];
}

interface CpuRcache {
  loaded: IovaMagazine;
  prev: IovaMagazine;
}

interface Rcache {
  order: number;
  /** Depot, head first (a singly linked stack in the kernel). */
  depot: IovaMagazine[];
  cpu: CpuRcache[];
  /** schedule_delayed_work() pending flag for iova_depot_work_func. */
  workPending: boolean;
}

/** Counts of struct iova allocations and frees (kmem_cache), as the oracle traces record them. */
export interface IovaMemStats {
  allocs: number;
  frees: number;
}

/** Thrown when the kernel would BUG(): the caller ends the run. */
export class IovaBug extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly cond: string,
  ) {
    super(`kernel BUG at ${file}:${line}! (${cond})`);
    this.name = 'IovaBug';
  }
}

export interface IovaDomainOptions {
  /** Kernel PAGE_SIZE in bytes (4096 or 16384). */
  pageSize: number;
  /** Number of online CPUs (per-CPU caches); the work item keeps depot_size <= this. */
  cpus?: number;
  tracer?: Tracer;
}

export class IovaDomain {
  readonly granule: number;
  readonly startPfn: number;
  readonly shift: number;
  readonly dma32BitPfn: number;
  maxAllocSize32: number;
  /** Sorted by pfnLo, the anchor always last. */
  private readonly nodes: IovaNode[] = [];
  readonly anchor: IovaNode = { pfnLo: IOVA_ANCHOR, pfnHi: IOVA_ANCHOR };
  cachedNode: IovaNode;
  cached32Node: IovaNode;
  rcaches: Rcache[] | null = null;
  readonly mem: IovaMemStats = { allocs: 0, frees: 0 };
  readonly cpus: number;
  /** The CPU whose per-CPU cache the next operation uses (raw_cpu_ptr). */
  cpu = 0;
  /** Delayed work queue (FIFO of rcache orders); run by runDelayedWork(). */
  private readonly workQueue: Rcache[] = [];
  private readonly tracer?: Tracer;

  /** init_iova_domain (iova.c:37-58). Throws IovaBug for a granule larger than PAGE_SIZE (iova.c:46). */
  constructor(granule: number, startPfn: number, opts: IovaDomainOptions) {
    if (granule > opts.pageSize || !isPowerOf2(granule))
      throw new IovaBug('drivers/iommu/iova.c', 46, '(granule > PAGE_SIZE) || !is_power_of_2(granule)');
    this.granule = granule;
    this.startPfn = startPfn;
    this.shift = Math.log2(granule);
    this.dma32BitPfn = 2 ** (32 - this.shift);
    this.maxAllocSize32 = this.dma32BitPfn;
    this.nodes.push(this.anchor);
    this.cachedNode = this.anchor;
    this.cached32Node = this.anchor;
    this.cpus = opts.cpus ?? 1;
    this.tracer = opts.tracer;
  }

  /** iova_rcache_range(): PAGE_SIZE << (IOVA_RANGE_CACHE_MAX_SIZE - 1) (iova.c:594-597). */
  static rcacheRange(pageSize: number): number {
    return pageSize * 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1);
  }

  /** iova_domain_init_rcaches (iova.c:666-708): two empty magazines per CPU per order. */
  initRcaches(): void {
    this.rcaches = [];
    for (let order = 0; order < IOVA_RANGE_CACHE_MAX_SIZE; order++) {
      const cpu: CpuRcache[] = [];
      for (let c = 0; c < this.cpus; c++) cpu.push({ loaded: { pfns: [] }, prev: { pfns: [] } });
      this.rcaches.push({ order, depot: [], cpu, workPending: false });
    }
  }

  // ---- ordered-set helpers (stand-ins for rb_prev / rb_next / rb_insert) ----

  private indexOf(node: IovaNode): number {
    let lo = 0;
    let hi = this.nodes.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = this.nodes[mid];
      if (m === node) return mid;
      if (m.pfnLo < node.pfnLo) lo = mid + 1;
      else hi = mid - 1;
    }
    const i = this.nodes.indexOf(node);
    if (i < 0) throw new Error('iova: node not in tree');
    return i;
  }

  private prevOf(node: IovaNode): IovaNode | null {
    const i = this.indexOf(node);
    return i > 0 ? this.nodes[i - 1] : null;
  }

  private nextOf(node: IovaNode): IovaNode | null {
    const i = this.indexOf(node);
    return i + 1 < this.nodes.length ? this.nodes[i + 1] : null;
  }

  private insert(node: IovaNode): boolean {
    let lo = 0;
    let hi = this.nodes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.nodes[mid].pfnLo < node.pfnLo) lo = mid + 1;
      else hi = mid;
    }
    // iova_insert_rbtree: an equal pfn_lo is a WARN_ON and no insertion (iova.c:142-146).
    if (lo < this.nodes.length && this.nodes[lo].pfnLo === node.pfnLo) return false;
    this.nodes.splice(lo, 0, node);
    return true;
  }

  /** Nodes in order, anchor excluded (for state dumps). */
  ranges(): IovaNode[] {
    return this.nodes.slice(0, -1);
  }

  get rbtreeNodes(): number {
    return this.nodes.length - 1;
  }

  // ---- cached node maintenance ----

  private getCachedRbnode(limitPfn: number): IovaNode {
    return limitPfn <= this.dma32BitPfn ? this.cached32Node : this.cachedNode;
  }

  private cachedInsertUpdate(n: IovaNode): void {
    if (n.pfnHi < this.dma32BitPfn) this.cached32Node = n;
    else this.cachedNode = n;
  }

  private cachedDeleteUpdate(free: IovaNode): void {
    let cached = this.cached32Node;
    if (free === cached || (free.pfnHi < this.dma32BitPfn && free.pfnLo >= cached.pfnLo))
      this.cached32Node = this.nextOf(free) as IovaNode;
    if (free.pfnLo < this.dma32BitPfn) this.maxAllocSize32 = this.dma32BitPfn;
    cached = this.cachedNode;
    if (free.pfnLo >= cached.pfnLo) this.cachedNode = this.nextOf(free) as IovaNode;
  }

  /**
   * iova_find_limit (iova.c:100-131): above the 32-bit pfn, start from the anchor; otherwise from the
   * lowest node whose range reaches limitPfn (the straddling node, or the first one above it).
   */
  private findLimit(limitPfn: number): IovaNode {
    if (limitPfn > this.dma32BitPfn) return this.anchor;
    for (const n of this.nodes) if (n.pfnHi >= limitPfn) return n;
    return this.anchor;
  }

  /** __alloc_and_insert_iova_range (iova.c:162-223); limitPfn is exclusive here, as in the kernel. */
  private allocAndInsertRange(size: number, limitPfn: number, node: IovaNode, sizeAligned: boolean): boolean {
    const align = sizeAligned ? 2 ** fls64(size - 1) : 1;
    let highPfn = limitPfn;
    let lowPfn = this.startPfn;
    let newPfn: number;

    if (limitPfn <= this.dma32BitPfn && size >= this.maxAllocSize32) return false;

    let curr: IovaNode | null = this.getCachedRbnode(limitPfn);
    let currIova: IovaNode | null = curr;
    const retryPfn = curr.pfnHi;

    for (;;) {
      do {
        highPfn = Math.min(highPfn, currIova!.pfnLo);
        // (high_pfn - size) & align_mask: a negative value stands for the kernel's unsigned wrap; both
        // fail the `>= low_pfn` test below.
        const d = highPfn - size;
        newPfn = d >= 0 ? d - (d % align) : d;
        curr = this.prevOf(curr!);
        currIova = curr;
      } while (curr && newPfn <= currIova!.pfnHi && newPfn >= lowPfn);

      if (highPfn < size || newPfn < lowPfn) {
        if (lowPfn === this.startPfn && retryPfn < limitPfn) {
          highPfn = limitPfn;
          lowPfn = retryPfn + 1;
          curr = this.findLimit(limitPfn);
          currIova = curr;
          continue;
        }
        this.maxAllocSize32 = size;
        return false;
      }
      break;
    }

    node.pfnLo = newPfn;
    node.pfnHi = newPfn + size - 1;
    this.insert(node);
    this.cachedInsertUpdate(node);
    return true;
  }

  /**
   * alloc_iova (iova.c:256-276): size in granules, limitPfn inclusive. Returns the new node or null.
   */
  allocIova(size: number, limitPfn: number, sizeAligned: boolean): IovaNode | null {
    const node: IovaNode = { pfnLo: 0, pfnHi: 0 };
    this.mem.allocs++;
    if (!this.allocAndInsertRange(size, limitPfn + 1, node, sizeAligned)) {
      this.mem.frees++;
      this.tracer?.emit('iova', 'alloc_iova_fail', { size, limitPfn, sizeAligned });
      return null;
    }
    this.tracer?.emit('iova', 'alloc_iova', { size, limitPfn, sizeAligned, pfnLo: node.pfnLo, pfnHi: node.pfnHi });
    return node;
  }

  /** private_find_iova / find_iova (iova.c:278-311). */
  findIova(pfn: number): IovaNode | null {
    let lo = 0;
    let hi = this.nodes.length - 2; // anchor excluded: its range is ~0..~0
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const n = this.nodes[mid];
      if (pfn < n.pfnLo) hi = mid - 1;
      else if (pfn > n.pfnHi) lo = mid + 1;
      else return n;
    }
    return null;
  }

  private removeIova(n: IovaNode): void {
    this.cachedDeleteUpdate(n);
    this.nodes.splice(this.indexOf(n), 1);
  }

  /** __free_iova (iova.c:320-330). */
  freeIovaNode(n: IovaNode): void {
    this.removeIova(n);
    this.mem.frees++;
    this.tracer?.emit('iova', 'free_iova', { pfnLo: n.pfnLo, pfnHi: n.pfnHi });
  }

  /** free_iova (iova.c:339-354): no-op when pfn is not allocated. */
  freeIova(pfn: number): void {
    const n = this.findIova(pfn);
    if (!n) return;
    this.freeIovaNode(n);
  }

  /**
   * alloc_iova_fast (iova.c:366-402): returns the pfn, or 0 on failure. `source` tells where it came from.
   */
  allocIovaFast(size: number, limitPfn: number, flushRcache: boolean): { pfn: number; source: 'rcache' | 'rbtree' | 'none' } {
    let sz = size;
    if (sz < 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1)) sz = roundupPowOfTwo(sz);
    const cached = this.rcacheGet(sz, limitPfn + 1);
    if (cached) {
      this.tracer?.emit('iova', 'alloc_iova_fast', { size: sz, limitPfn, pfn: cached, source: 'rcache' });
      return { pfn: cached, source: 'rcache' };
    }
    let flush = flushRcache;
    for (;;) {
      const n = this.allocIova(sz, limitPfn, true);
      if (n) return { pfn: n.pfnLo, source: 'rbtree' };
      if (!flush) return { pfn: 0, source: 'none' };
      flush = false;
      for (let c = 0; c < this.cpus; c++) this.freeCpuCachedIovas(c);
      this.freeGlobalCachedIovas();
    }
  }

  /** free_iova_fast (iova.c:413-421). Returns where the range went. */
  freeIovaFast(pfn: number, size: number): 'rcache' | 'rbtree' {
    if (this.rcacheInsert(pfn, size)) {
      this.tracer?.emit('iova', 'free_iova_fast', { pfn, size, dest: 'rcache' });
      return 'rcache';
    }
    this.freeIova(pfn);
    return 'rbtree';
  }

  /**
   * reserve_iova (iova.c:486-527): returns the node covering the request (an existing one extended
   * downward when the request overlaps it), or null for pfns beyond the address width.
   */
  reserveIova(pfnLoIn: number, pfnHiIn: number): IovaNode | null {
    let pfnLo = pfnLoIn;
    const pfnHi = pfnHiIn;
    // WARN_ON((pfn_hi | pfn_lo) > (ULLONG_MAX >> iova_shift)) (iova.c:495)
    if (Math.max(pfnLo, pfnHi) > 2 ** (64 - this.shift) - 1) return null;
    let overlap = false;
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i];
      if (pfnLo <= n.pfnHi && pfnHi >= n.pfnLo) {
        if (pfnLo < n.pfnLo) n.pfnLo = pfnLo;
        if (pfnHi > n.pfnHi) pfnLo = n.pfnHi + 1;
        if (pfnLo >= n.pfnLo && pfnHi <= n.pfnHi) return n;
        overlap = true;
      } else if (overlap) break;
    }
    const node: IovaNode = { pfnLo, pfnHi };
    this.mem.allocs++;
    this.insert(node);
    this.tracer?.emit('iova', 'reserve_iova', { pfnLo, pfnHi });
    return node;
  }

  // ---- the per-CPU range caches (iova.c:560-840) ----

  private magazineFreePfns(mag: IovaMagazine): void {
    for (const pfn of mag.pfns) {
      const n = this.findIova(pfn);
      if (!n) continue; // WARN_ON(!iova) in the kernel
      this.removeIova(n);
      this.mem.frees++;
    }
    mag.pfns = [];
  }

  /** iova_magazine_pop (iova.c:631-645): the last pfn <= limit, swapped out with the top. */
  private magazinePop(mag: IovaMagazine, limitPfn: number): number {
    let i = mag.pfns.length - 1;
    while (mag.pfns[i] > limitPfn) {
      if (i === 0) return 0;
      i--;
    }
    const pfn = mag.pfns[i];
    const top = mag.pfns.pop() as number;
    if (i < mag.pfns.length) mag.pfns[i] = top;
    return pfn;
  }

  private scheduleWork(rc: Rcache): void {
    if (rc.workPending) return;
    rc.workPending = true;
    this.workQueue.push(rc);
  }

  /** __iova_rcache_insert (iova.c:716-752). */
  private rcacheInsert(pfn: number, size: number): boolean {
    const logSize = orderBase2(size);
    if (!this.rcaches || logSize >= IOVA_RANGE_CACHE_MAX_SIZE) return false;
    const rc = this.rcaches[logSize];
    const cpu = rc.cpu[this.cpu];
    if (cpu.loaded.pfns.length < IOVA_MAG_SIZE) {
      // room in the loaded magazine
    } else if (cpu.prev.pfns.length < IOVA_MAG_SIZE) {
      [cpu.prev, cpu.loaded] = [cpu.loaded, cpu.prev];
    } else {
      rc.depot.unshift(cpu.loaded);
      this.scheduleWork(rc);
      cpu.loaded = { pfns: [] };
    }
    cpu.loaded.pfns.push(pfn);
    return true;
  }

  /** iova_rcache_get / __iova_rcache_get (iova.c:769-815); limitPfn exclusive as passed by the caller. */
  private rcacheGet(size: number, limitPfn: number): number {
    const logSize = orderBase2(size);
    if (!this.rcaches || logSize >= IOVA_RANGE_CACHE_MAX_SIZE) return 0;
    const rc = this.rcaches[logSize];
    const cpu = rc.cpu[this.cpu];
    let has = false;
    if (cpu.loaded.pfns.length) has = true;
    else if (cpu.prev.pfns.length) {
      [cpu.prev, cpu.loaded] = [cpu.loaded, cpu.prev];
      has = true;
    } else if (rc.depot.length) {
      cpu.loaded = rc.depot.shift() as IovaMagazine;
      has = true;
    }
    return has ? this.magazinePop(cpu.loaded, limitPfn - size) : 0;
  }

  /** free_cpu_cached_iovas (iova.c:846-861). */
  freeCpuCachedIovas(cpu: number): void {
    if (!this.rcaches) return;
    for (const rc of this.rcaches) {
      this.magazineFreePfns(rc.cpu[cpu].loaded);
      this.magazineFreePfns(rc.cpu[cpu].prev);
    }
  }

  /** free_global_cached_iovas (iova.c:866-883). */
  freeGlobalCachedIovas(): void {
    if (!this.rcaches) return;
    for (const rc of this.rcaches) {
      while (rc.depot.length) this.magazineFreePfns(rc.depot.shift() as IovaMagazine);
    }
  }

  /**
   * Let IOVA_DEPOT_DELAY (100 ms) pass: every pending iova_depot_work_func runs once (iova.c:650-664),
   * freeing one depot magazine while depot_size > num_online_cpus() and re-queueing itself.
   * Returns how many work items ran.
   */
  runDelayedWork(): number {
    const pending = this.workQueue.splice(0);
    for (const rc of pending) {
      rc.workPending = false;
      if (rc.depot.length > this.cpus) {
        const mag = rc.depot.shift() as IovaMagazine;
        this.magazineFreePfns(mag);
        this.scheduleWork(rc);
      }
    }
    return pending.length;
  }

  /** Per order: [loaded size, prev size, depot size] of the current CPU (the trace's STATE). */
  rcacheSizes(): number[][] {
    if (!this.rcaches) return [];
    return this.rcaches.map((rc) => [rc.cpu[this.cpu].loaded.pfns.length, rc.cpu[this.cpu].prev.pfns.length, rc.depot.length]);
  }

  /** Full contents per order (loaded, prev, depot head first). */
  rcacheContents(): { order: number; loaded: number[]; prev: number[]; depot: number[][] }[] {
    if (!this.rcaches) return [];
    return this.rcaches.map((rc) => ({
      order: rc.order,
      loaded: [...rc.cpu[this.cpu].loaded.pfns],
      prev: [...rc.cpu[this.cpu].prev.pfns],
      depot: rc.depot.map((m) => [...m.pfns]),
    }));
  }
}

/** iova_shift / iova_align / iova_pfn helpers (include/linux/iova.h:48-84). */
export function iovaAlign(d: IovaDomain, size: number): number {
  return Math.ceil(size / d.granule) * d.granule;
}

export function iovaPfn(d: IovaDomain, iova: number): number {
  return Math.floor(iova / d.granule);
}
