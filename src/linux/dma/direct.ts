/**
 * dma-direct (kernel/dma/direct.c, direct.h, include/linux/dma-direct.h, Linux 6.12): the DMA API for
 * devices without an IOMMU, on our memory.
 *
 * The decision order of dma_direct_map_page (direct.h:87-113) is what seeds 000 and 002 turn on:
 *   1. swiotlb=force: always bounce;
 *   2. the address is not dma_capable (or a small kmalloc buffer of a non-coherent device): bounce
 *      through swiotlb if a pool exists, else WARN "DMA addr ... overflow" and fail;
 *   3. otherwise the DMA address is phys_to_dma(phys) — which differs from phys under dma-ranges.
 * `dma_capable` changed in 2018 (v4.20, "dma-direct: implement complete bus_dma_mask handling"): before,
 * only the device mask counted; since, min_not_zero(mask, bus limit). Both rules are data below.
 */
import type { PhysMem } from '../../mem/phys-mem.js';
import { type CmaArea, cmaAlignOrder } from '../mm/cma.js';
import type { Tracer } from '../../trace/events.js';
import { GFP_DMA, GFP_DMA32, __GFP_DIRECT_RECLAIM } from '../mm/gfp.js';
import type { Device } from '../device.js';
import { dmaGetMask } from '../device.js';
import { KLog } from './kmsg.js';
import { DMA_ATTR_SKIP_CPU_SYNC, type DmaDir, type Swiotlb } from './swiotlb.js';
import { DMA_MAPPING_ERROR, U64_MAX, dmaBitMask, fls64, hexU64, minNotZero } from './u64.js';

// ---- phys <-> dma through dev->dma_range_map (include/linux/dma-direct.h:26-60, 86-105) ----

export function translatePhysToDma(dev: Device, paddr: number): number {
  for (const m of dev.dmaRangeMap ?? []) {
    if (paddr >= m.cpuStart && paddr - m.cpuStart < m.size) return m.dmaStart + (paddr - m.cpuStart);
  }
  return DMA_MAPPING_ERROR;
}

export function translateDmaToPhys(dev: Device, dma: number): number {
  for (const m of dev.dmaRangeMap ?? []) {
    if (dma >= m.dmaStart && dma - m.dmaStart < m.size) return m.cpuStart + (dma - m.dmaStart);
  }
  return U64_MAX; // (phys_addr_t)-1
}

/** phys_to_dma (no memory encryption on our arm64 boards). */
export function physToDma(dev: Device, paddr: number): number {
  return dev.dmaRangeMap ? translatePhysToDma(dev, paddr) : paddr;
}

export function dmaToPhys(dev: Device, dma: number): number {
  if (dma >= 2 ** 53) return dev.dmaRangeMap ? U64_MAX : dma;
  return dev.dmaRangeMap ? translateDmaToPhys(dev, dma) : dma;
}

// ---- dma_capable, as kernel-version data ----

export type DmaCapableRule = (dev: Device, addr: number, size: number) => boolean;

/** The limit each rule compares the last byte against. */
export const DMA_CAPABLE_RULES: Record<string, { describe: string; limit: (dev: Device) => number }> = {
  /** Before v4.20: `addr + size - 1 <= *dev->dma_mask` — the bus limit did not exist. */
  'device-mask-only': { describe: 'end <= *dev->dma_mask', limit: (dev) => dmaGetMask(dev) },
  /** v4.20 and later (include/linux/dma-direct.h:127 in 6.12). */
  'mask-and-bus-limit': {
    describe: 'end <= min_not_zero(*dev->dma_mask, dev->bus_dma_limit)',
    limit: (dev) => minNotZero(dmaGetMask(dev), dev.busDmaLimit),
  },
};

// Which kernel uses which rule is preset data: KernelPreset.dmaCapableRule in src/linux/presets.ts.

/** dma_capable (include/linux/dma-direct.h:116-128); arm64 has a 64-bit dma_addr_t, so no min_low_pfn test. */
export function dmaCapable(dev: Device, addr: number, size: number, rule: keyof typeof DMA_CAPABLE_RULES = 'mask-and-bus-limit'): boolean {
  if (addr === DMA_MAPPING_ERROR) return false;
  const end = addr + size - 1;
  return end <= DMA_CAPABLE_RULES[rule].limit(dev);
}

// ---- zones (arch/arm64/mm/init.c zone_sizes_init) ----

export type ZoneName = 'DMA' | 'DMA32' | 'NORMAL' | 'MOVABLE';

export interface ZoneSpan {
  zone: ZoneName;
  start: number;
  end: number;
}

export interface Arm64Zones {
  zoneDmaLimit: number;
  arm64DmaPhysLimit: number;
  /** [DMA, DMA32, NORMAL, MOVABLE] pfns. */
  maxZonePfns: number[];
  spans: ZoneSpan[];
  maxPfn: number;
  /** arm64 mem_init: max_pfn > PFN_DOWN(arm64_dma_phys_limit) -> swiotlb is set up (init.c:368). */
  swiotlbNeeded: boolean;
}

/**
 * zone_sizes_init (arch/arm64/mm/init.c:121-157) with CONFIG_ZONE_DMA and CONFIG_ZONE_DMA32, and the span
 * each zone gets in free_area_init (mm/mm_init.c: a zone starts where the previous one ended).
 * `ofDmaMaxCpu` / `acpiDmaMaxCpu` are of_dma_get_max_cpu_address(NULL) and the IORT answer (U64_MAX when
 * the firmware says nothing). `dramEnd` is exclusive.
 */
export function arm64Zones(o: { dramStart: number; dramEnd: number; pageSize: number; ofDmaMaxCpu?: number; acpiDmaMaxCpu?: number }): Arm64Zones {
  const endMinus1 = o.dramEnd - 1;
  const maxZonePhys = (limit: number): number => Math.min(limit, endMinus1) + 1;
  const dma32PhysLimit = maxZonePhys(dmaBitMask(32));
  let zoneDmaLimit = Math.min(o.ofDmaMaxCpu ?? U64_MAX, o.acpiDmaMaxCpu ?? U64_MAX);
  // "Keep low RAM DMA zone on platforms that have RAM there" (init.c:139-140).
  if (o.dramStart < 0xffff_ffff) zoneDmaLimit = Math.min(zoneDmaLimit, 0xffff_ffff);
  let arm64DmaPhysLimit = maxZonePhys(zoneDmaLimit);
  const pfn = (pa: number): number => Math.floor(pa / o.pageSize);
  const maxPfn = pfn(o.dramEnd);
  const maxZonePfns = [pfn(arm64DmaPhysLimit), pfn(dma32PhysLimit), maxPfn, 0];
  if (!arm64DmaPhysLimit) arm64DmaPhysLimit = dma32PhysLimit;
  const names: ZoneName[] = ['DMA', 'DMA32', 'NORMAL', 'MOVABLE'];
  const spans: ZoneSpan[] = [];
  let start = pfn(o.dramStart);
  for (let z = 0; z < 4; z++) {
    // ZONE_MOVABLE has max pfn 0 and ends where NORMAL ended.
    const end = Math.max(maxZonePfns[z], start);
    spans.push({ zone: names[z], start: start * o.pageSize, end: end * o.pageSize });
    start = end;
  }
  return { zoneDmaLimit, arm64DmaPhysLimit, maxZonePfns, spans, maxPfn, swiotlbNeeded: maxPfn > pfn(arm64DmaPhysLimit) };
}

/** dma_direct_get_required_mask (direct.c:39-45). */
export function dmaDirectGetRequiredMask(dev: Device, maxPfn: number, pageSize: number): number {
  const maxDma = physToDma(dev, (maxPfn - 1) * pageSize);
  const top = fls64(maxDma);
  return 2 ** top - 1;
}

// ---- page allocation ----

/**
 * Where dma_direct_alloc gets pages. `src/linux/mm/page-alloc.ts` (PageAllocator) fits this shape;
 * the oracle replay uses a zone model (lowest or highest free block of the chosen zone).
 */
export interface PageSource {
  allocPages(gfp: number, order: number): number | null;
  freePages(pa: number, order: number): void;
  /** The zone a page came from (for traces); optional. */
  zoneOf?(pa: number): ZoneName | 'none';
}

/** gfp zone modifier name as the traces print it. */
export function gfpZoneName(gfp: number): string {
  if (gfp & GFP_DMA) return 'GFP_DMA';
  if (gfp & GFP_DMA32) return 'GFP_DMA32';
  return '0';
}

/** A zone model: the highest non-empty zone the flags allow, its lowest or highest block. */
export class ZoneModelPages implements PageSource {
  constructor(
    readonly zones: Arm64Zones,
    readonly policy: 'lowest-free-first' | 'highest-free-first',
    readonly pageSize: number,
  ) {}

  private zonelist(gfp: number): ZoneName[] {
    if (gfp & GFP_DMA) return ['DMA'];
    if (gfp & GFP_DMA32) return ['DMA32', 'DMA'];
    return ['NORMAL', 'DMA32', 'DMA'];
  }

  pick(gfp: number, order: number): { zone: ZoneName | 'none'; pa: number | null } {
    const bytes = this.pageSize * 2 ** order;
    for (const z of this.zonelist(gfp)) {
      const s = this.zones.spans.find((x) => x.zone === z);
      if (!s || s.end - s.start < bytes) continue;
      const pa = this.policy === 'lowest-free-first' ? s.start : s.end - bytes - ((s.end - bytes) % bytes);
      return { zone: z, pa };
    }
    return { zone: 'none', pa: null };
  }

  allocPages(gfp: number, order: number): number | null {
    return this.pick(gfp, order).pa;
  }

  freePages(): void {}

  zoneOf(pa: number): ZoneName | 'none' {
    for (const s of this.zones.spans) if (pa >= s.start && pa < s.end) return s.zone;
    return 'none';
  }
}

export interface AllocAttempt {
  gfp: number;
  order: number;
  zone: ZoneName | 'none';
  phys: number | null;
  coherentOk: boolean;
}

export interface DirectAllocResult {
  phys: number | null;
  dma: number;
  optimalGfp: number;
  physLimit: number;
  attempts: AllocAttempt[];
}

export interface DirectDmaOptions {
  mem: PhysMem;
  pageSize: number;
  swiotlb?: Swiotlb | null;
  pages?: PageSource | null;
  /** The default CMA area (cma=), from which dma_alloc_contiguous serves large blocking allocations. */
  cma?: CmaArea | null;
  /** zone_dma_limit (inclusive), from arm64Zones. */
  zoneDmaLimit?: number;
  capableRule?: keyof typeof DMA_CAPABLE_RULES;
  /** CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC (arm64 default y). */
  bounceUnalignedKmalloc?: boolean;
  /**
   * cache_line_size(), which arm64 uses as dma_get_cache_alignment (arch/arm64/include/asm/cache.h:88):
   * 4 << CTR_EL0.CWG, 64 on the Cortex-A cores of the modelled SoCs.
   */
  cacheLineSize?: number;
  klog?: KLog;
  tracer?: Tracer;
}

export interface MapPageResult {
  dma: number;
  bounced: boolean;
  /** arch_sync_dma_for_device calls (cache maintenance for non-coherent devices). */
  archSyncForDevice: number;
}

/** ARCH_DMA_MINALIGN on arm64 (arch/arm64/include/asm/cache.h:35). */
const ARCH_DMA_MINALIGN = 128;

/** kmalloc_size_roundup for the kmalloc-8 .. kmalloc-256 caches (with the 96 and 192 caches). */
function kmallocSizeRoundup(size: number): number {
  if (size <= 8) return 8;
  if (size <= 16) return 16;
  if (size <= 32) return 32;
  if (size <= 64) return 64;
  if (size <= 96) return 96;
  if (size <= 128) return 128;
  if (size <= 192) return 192;
  let p = 256;
  while (p < size) p *= 2;
  return p;
}

/** The dma-direct DMA API on one kernel: memory, swiotlb pool, pages, and the dma_capable rule. */
export class DirectDma {
  readonly mem: PhysMem;
  readonly pageSize: number;
  swiotlb: Swiotlb | null;
  pages: PageSource | null;
  cma: CmaArea | null;
  zoneDmaLimit: number;
  capableRule: keyof typeof DMA_CAPABLE_RULES;
  bounceUnalignedKmalloc: boolean;
  cacheLineSize: number;
  readonly klog: KLog;
  private readonly tracer?: Tracer;

  constructor(o: DirectDmaOptions) {
    this.mem = o.mem;
    this.pageSize = o.pageSize;
    this.swiotlb = o.swiotlb ?? null;
    this.pages = o.pages ?? null;
    this.cma = o.cma ?? null;
    this.zoneDmaLimit = o.zoneDmaLimit ?? dmaBitMask(32);
    this.capableRule = o.capableRule ?? 'mask-and-bus-limit';
    this.bounceUnalignedKmalloc = o.bounceUnalignedKmalloc ?? true;
    this.cacheLineSize = o.cacheLineSize ?? 64;
    this.tracer = o.tracer;
    this.klog = o.klog ?? new KLog(o.tracer);
  }

  capable(dev: Device, addr: number, size: number): boolean {
    return dmaCapable(dev, addr, size, this.capableRule);
  }

  private poolOf(dev: Device): Swiotlb | null {
    const p = (dev.dmaIoTlbMem as Swiotlb | null) ?? null;
    return p ?? this.swiotlb;
  }

  /** dma_kmalloc_needs_bounce (include/linux/dma-map-ops.h:262-317). */
  kmallocNeedsBounce(dev: Device, size: number, dir: DmaDir): boolean {
    if (!this.bounceUnalignedKmalloc) return false;
    const safe = dev.dmaCoherent || dir === 'DMA_TO_DEVICE';
    if (safe) return false;
    const aligned = size >= 2 * ARCH_DMA_MINALIGN || kmallocSizeRoundup(size) % this.cacheLineSize === 0;
    return !aligned;
  }

  /** swiotlb_map (swiotlb.c:1599-1626). */
  private swiotlbMap(dev: Device, pool: Swiotlb, phys: number, size: number, dir: DmaDir, attrs: number): MapPageResult {
    this.tracer?.emit('swiotlb', 'swiotlb_bounced', { dev: dev.name, dma: physToDma(dev, phys), size });
    const r = pool.mapSingle(dev, phys, size, 0, dir, attrs);
    if (!r) return { dma: DMA_MAPPING_ERROR, bounced: true, archSyncForDevice: 0 };
    const dma = physToDma(dev, r.tlbAddr);
    if (!this.capable(dev, dma, size)) {
      pool.unmapSingle(dev, r.tlbAddr, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
      this.klog.warn(
        'kernel/dma/swiotlb.c',
        1617,
        '1',
        `swiotlb addr ${padHex(dma)}+${size} overflow (mask ${hexU64(dmaGetMask(dev)).slice(2)}, bus limit ${hexU64(dev.busDmaLimit).slice(2)}).\n`,
        dev,
      );
      return { dma: DMA_MAPPING_ERROR, bounced: true, archSyncForDevice: 0 };
    }
    const sync = !dev.dmaCoherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC) ? 1 : 0;
    return { dma, bounced: true, archSyncForDevice: sync };
  }

  /** dma_direct_map_page (kernel/dma/direct.h:87-113). */
  mapPage(dev: Device, phys: number, size: number, dir: DmaDir, attrs = 0): MapPageResult {
    const dma = physToDma(dev, phys);
    const pool = this.poolOf(dev);
    let r: MapPageResult;
    if (pool && pool.forceBounce) r = this.swiotlbMap(dev, pool, phys, size, dir, attrs);
    else if (!this.capable(dev, dma, size) || this.kmallocNeedsBounce(dev, size, dir)) {
      if (pool && pool.nslabs) r = this.swiotlbMap(dev, pool, phys, size, dir, attrs);
      else {
        this.klog.warn(
          'kernel/dma/direct.h',
          103,
          '1',
          `DMA addr ${padHex(dma)}+${size} overflow (mask ${hexU64(dmaGetMask(dev)).slice(2)}, bus limit ${hexU64(dev.busDmaLimit).slice(2)}).\n`,
          dev,
        );
        r = { dma: DMA_MAPPING_ERROR, bounced: false, archSyncForDevice: 0 };
      }
    } else {
      const sync = !dev.dmaCoherent && !(attrs & DMA_ATTR_SKIP_CPU_SYNC) ? 1 : 0;
      r = { dma, bounced: false, archSyncForDevice: sync };
    }
    this.tracer?.emit('dma', 'dma_map_page', { dev: dev.name, phys, size, dir, dma: r.dma, bounced: r.bounced });
    return r;
  }

  /** dma_direct_sync_single_for_cpu (direct.h:70-85). Returns arch_sync_dma_for_cpu calls. */
  syncSingleForCpu(dev: Device, addr: number, size: number, dir: DmaDir): number {
    const paddr = dmaToPhys(dev, addr);
    const sync = dev.dmaCoherent ? 0 : 1;
    this.poolOf(dev)?.syncSingleForCpu(dev, paddr, size, dir);
    this.tracer?.emit('dma', 'dma_sync_single_for_cpu', { dev: dev.name, dma: addr, phys: paddr, size, dir });
    return sync;
  }

  /** dma_direct_sync_single_for_device (direct.h:59-68). */
  syncSingleForDevice(dev: Device, addr: number, size: number, dir: DmaDir): number {
    const paddr = dmaToPhys(dev, addr);
    this.poolOf(dev)?.syncSingleForDevice(dev, paddr, size, dir);
    this.tracer?.emit('dma', 'dma_sync_single_for_device', { dev: dev.name, dma: addr, phys: paddr, size, dir });
    return dev.dmaCoherent ? 0 : 1;
  }

  /** dma_direct_unmap_page (direct.h:115-125). */
  unmapPage(dev: Device, addr: number, size: number, dir: DmaDir, attrs = 0): { archSyncForCpu: number } {
    const phys = dmaToPhys(dev, addr);
    let n = 0;
    if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC)) n = this.syncSingleForCpu(dev, addr, size, dir);
    this.poolOf(dev)?.unmapSingle(dev, phys, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
    this.tracer?.emit('dma', 'dma_unmap_page', { dev: dev.name, dma: addr, phys, size, dir });
    return { archSyncForCpu: n };
  }

  /**
   * dma_direct_map_sg (direct.c:463-505): map each segment; on a failure unmap those done and return
   * -EIO (-5). Returns the DMA addresses.
   */
  mapSg(dev: Device, sg: { phys: number; length: number }[], dir: DmaDir, attrs = 0): { nents: number; dma: number[] } {
    const out: number[] = [];
    for (let i = 0; i < sg.length; i++) {
      const r = this.mapPage(dev, sg[i].phys, sg[i].length, dir, attrs);
      if (r.dma === DMA_MAPPING_ERROR) {
        for (let j = 0; j < i; j++) this.unmapPage(dev, out[j], sg[j].length, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
        return { nents: -5, dma: [] };
      }
      out.push(r.dma);
    }
    return { nents: sg.length, dma: out };
  }

  /** dma_direct_optimal_gfp_mask (direct.c:47-67). */
  optimalGfpMask(dev: Device): { gfp: number; physLimit: number } {
    const dmaLimit = minNotZero(dev.coherentDmaMask, dev.busDmaLimit);
    const physLimit = dmaToPhys(dev, dmaLimit);
    if (physLimit <= this.zoneDmaLimit) return { gfp: GFP_DMA, physLimit };
    if (physLimit <= dmaBitMask(32)) return { gfp: GFP_DMA32, physLimit };
    return { gfp: 0, physLimit };
  }

  /** dma_coherent_ok (direct.c:69-77). */
  coherentOk(dev: Device, phys: number, size: number): boolean {
    const dma = physToDma(dev, phys);
    if (dma === DMA_MAPPING_ERROR) return false;
    return dma + size - 1 <= minNotZero(dev.coherentDmaMask, dev.busDmaLimit);
  }

  /**
   * __dma_direct_alloc_pages (direct.c:118-160) without CMA: try the optimal zone, then on an
   * unaddressable page retry with GFP_DMA32, then GFP_DMA. Size must be page-aligned.
   */
  allocPages(dev: Device, size: number, gfpIn: number): DirectAllocResult {
    if (!this.pages) throw new Error('dma_direct_alloc: no page allocator attached');
    const order = Math.max(0, Math.ceil(Math.log2(Math.ceil(size / this.pageSize))));
    const opt = this.optimalGfpMask(dev);
    let gfp = gfpIn | opt.gfp;
    const attempts: AllocAttempt[] = [];
    let page: number | null = null;
    // dma_alloc_contiguous (kernel/dma/contiguous.c:350-361): blocking allocations larger than a page
    // come from the default CMA area first, if the device can reach what it returns.
    if (this.cma && gfp & __GFP_DIRECT_RECLAIM && size > this.pageSize) {
      const pages = Math.ceil(size / this.pageSize);
      const cmaPage = this.cma.alloc(pages, cmaAlignOrder(size, this.pageSize));
      if (cmaPage !== null && !this.coherentOk(dev, cmaPage, size)) this.cma.release(cmaPage, pages);
      else if (cmaPage !== null) page = cmaPage;
      this.tracer?.emit('dma', 'dma_alloc_contiguous', { dev: dev.name, size, phys: page });
    }
    for (;;) {
      if (page !== null && this.cma?.contains(page)) break;
      page = this.pages.allocPages(gfp, order);
      const zone = page === null ? 'none' : this.pages.zoneOf?.(page) ?? 'none';
      const ok = page !== null && this.coherentOk(dev, page, size);
      attempts.push({ gfp, order, zone, phys: page, coherentOk: ok });
      if (page !== null && !ok) {
        this.pages.freePages(page, order);
        page = null;
        if (opt.physLimit < dmaBitMask(64) && !(gfp & (GFP_DMA32 | GFP_DMA))) {
          gfp |= GFP_DMA32;
          continue;
        }
        if (!(gfp & GFP_DMA)) {
          gfp = (gfp & ~GFP_DMA32) | GFP_DMA;
          continue;
        }
      }
      break;
    }
    const dma = page === null ? DMA_MAPPING_ERROR : physToDma(dev, page);
    this.tracer?.emit('dma', 'dma_direct_alloc', { dev: dev.name, size, gfp, phys: page, dma });
    return { phys: page, dma, optimalGfp: opt.gfp, physLimit: opt.physLimit, attempts };
  }

  /** dma_direct_alloc for a coherent device (direct.c:224-...): pages zeroed, dma handle. */
  alloc(dev: Device, size: number, gfp: number): { cpuPhys: number | null; dma: number } {
    const sz = Math.ceil(size / this.pageSize) * this.pageSize;
    const r = this.allocPages(dev, sz, gfp);
    if (r.phys === null) return { cpuPhys: null, dma: DMA_MAPPING_ERROR };
    this.mem.fill(r.phys, sz, 0);
    return { cpuPhys: r.phys, dma: r.dma };
  }
}

/** %pad: 0x and 16 hex digits. */
function padHex(n: number): string {
  return n >= 2 ** 53 ? '0xffffffffffffffff' : '0x' + n.toString(16).padStart(16, '0');
}
