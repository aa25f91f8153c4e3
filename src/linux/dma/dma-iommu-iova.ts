/**
 * The IOVA side of dma-iommu (drivers/iommu/dma-iommu.c, Linux 6.12): domain init of the allocator,
 * iommu_dma_alloc_iova and iommu_dma_free_iova. The iommu_map/unmap side belongs to the iommu core; this
 * part only needs the domain's geometry and page-size bitmap, so it stays independent of hardware.
 */
import type { Tracer } from '../../trace/events.js';
import { IovaDomain, IovaBug } from './iova.js';
import { dmaBitMask, minNotZero, bitsPer } from './u64.js';

/** What dma-iommu reads of an iommu_domain. */
export interface DmaDomainGeometry {
  /** Bitmap of supported IOMMU page sizes; the granule is the smallest (dma-iommu.c:685). */
  pgsizeBitmap: number;
  apertureStart: number;
  apertureEnd: number;
  forceAperture: boolean;
}

/** The per-device facts dma-iommu uses (struct device + dev->iommu). */
export interface DmaIommuDevice {
  name: string;
  driverName?: string;
  busDmaLimit: number;
  /** dev->iommu->pci_32bit_workaround: PCI devices without iommu.forcedac (dma-iommu.c:1772-1773). */
  pci32BitWorkaround: boolean;
}

export interface InnerAllocCall {
  fn: 'alloc_iova_fast';
  size: number;
  limitPfn: number;
  flushRcache: boolean;
  ret: number;
  source: 'rcache' | 'rbtree' | 'none';
  memAllocs: number;
  memFrees: number;
}

export interface DmaIovaAllocResult {
  iova: number;
  inner: InnerAllocCall[];
  /** Set when this call turned the 32-bit workaround off (and printed the notice). */
  workaroundTurnedOff: boolean;
}

/** Lowest set bit of a page-size bitmap (__ffs). */
export function smallestPage(bitmap: number): number {
  if (bitmap <= 0) throw new Error('empty pgsize bitmap');
  let p = 1;
  while (Math.floor(bitmap / p) % 2 === 0) p *= 2;
  return p;
}

/**
 * An IOVA cookie: the allocator of one DMA domain. `create` does what iommu_dma_init_domain does for the
 * allocator (dma-iommu.c:675-716): order = __ffs(pgsize_bitmap), base_pfn = max(1, aperture_start >> order).
 */
export class DmaIovaCookie {
  private constructor(
    readonly iovad: IovaDomain,
    readonly geometry: DmaDomainGeometry,
    private readonly tracer?: Tracer,
  ) {}

  /** Throws IovaBug when the granule exceeds PAGE_SIZE (the 2021 seed-003 BUG_ON, iova.c:46). */
  static create(geometry: DmaDomainGeometry, pageSize: number, tracer?: Tracer, cpus = 1): DmaIovaCookie {
    const granule = smallestPage(geometry.pgsizeBitmap);
    const basePfn = Math.max(1, Math.floor(geometry.apertureStart / granule));
    const iovad = new IovaDomain(granule, basePfn, { pageSize, cpus, tracer });
    iovad.initRcaches();
    return new DmaIovaCookie(iovad, geometry, tracer);
  }

  /** Wrap an allocator set up by the caller (init_iova_domain + rcaches already done). */
  static fromDomain(iovad: IovaDomain, geometry: DmaDomainGeometry, tracer?: Tracer): DmaIovaCookie {
    return new DmaIovaCookie(iovad, geometry, tracer);
  }

  /**
   * iommu_dma_alloc_iova (dma-iommu.c:762-806). `size` in bytes, already iova_align'ed by the caller.
   * Returns IOVA bytes, 0 on failure. Prints "Using N-bit DMA addresses" through `notice` the first time
   * the 32-bit attempt fails.
   */
  allocIova(
    dev: DmaIommuDevice,
    size: number,
    dmaLimitIn: number,
    notice?: (text: string) => void,
  ): DmaIovaAllocResult {
    const iovad = this.iovad;
    const shift = iovad.shift;
    const iovaLen = Math.floor(size / iovad.granule);
    let dmaLimit = minNotZero(dmaLimitIn, dev.busDmaLimit);
    if (this.geometry.forceAperture) dmaLimit = Math.min(dmaLimit, this.geometry.apertureEnd);
    const inner: InnerAllocCall[] = [];
    const call = (limitPfn: number, flush: boolean): number => {
      const a0 = iovad.mem.allocs;
      const f0 = iovad.mem.frees;
      const r = iovad.allocIovaFast(iovaLen, limitPfn, flush);
      inner.push({
        fn: 'alloc_iova_fast',
        size: iovaLen,
        limitPfn,
        flushRcache: flush,
        ret: r.pfn,
        source: r.source,
        memAllocs: iovad.mem.allocs - a0,
        memFrees: iovad.mem.frees - f0,
      });
      return r.pfn;
    };
    let workaroundTurnedOff = false;
    let pfn = 0;
    let done = false;
    if (dmaLimit > dmaBitMask(32) && dev.pci32BitWorkaround) {
      pfn = call(Math.floor(dmaBitMask(32) / 2 ** shift), false);
      if (pfn) done = true;
      else {
        dev.pci32BitWorkaround = false;
        workaroundTurnedOff = true;
        notice?.(`Using ${bitsPer(dmaLimit)}-bit DMA addresses\n`);
      }
    }
    if (!done) pfn = call(pfnOfLimit(dmaLimit, shift), true);
    const iova = pfn * iovad.granule;
    this.tracer?.emit('iova', 'iommu_dma_alloc_iova', { dev: dev.name, size, dmaLimit, iova });
    return { iova, inner, workaroundTurnedOff };
  }

  /**
   * The IOVA half of __iommu_dma_map (dma-iommu.c:848-877): offset of phys in its granule, the
   * granule-aligned size, and the allocation. The caller (the iommu core glue) then does
   * iommu_map(domain, iova, phys - iovaOff, size, prot) and, on failure, freeIova(iova, size).
   * Returns null where the kernel returns DMA_MAPPING_ERROR before mapping (the min_align_mask WARN,
   * `warn` is called with its text, or no IOVA space).
   */
  prepareMap(
    dev: DmaIommuDevice & { minAlignMask?: number },
    phys: number,
    sizeIn: number,
    dmaMask: number,
    hooks: { notice?: (text: string) => void; warn?: (text: string) => void } = {},
  ): { iova: number; iovaOff: number; size: number; dma: number; alloc: DmaIovaAllocResult } | null {
    const g = this.iovad.granule;
    const iovaOff = phys % g;
    if ((dev.minAlignMask ?? 0) > g - 1) {
      hooks.warn?.('Unsupported alignment constraint\n');
      return null;
    }
    const size = Math.ceil((sizeIn + iovaOff) / g) * g;
    const alloc = this.allocIova(dev, size, dmaMask, hooks.notice);
    if (!alloc.iova) return null;
    return { iova: alloc.iova, iovaOff, size, dma: alloc.iova + iovaOff, alloc };
  }

  /** iommu_dma_free_iova, strict path (dma-iommu.c:808-823): straight to free_iova_fast. */
  freeIova(iova: number, size: number): { pfn: number; size: number; dest: 'rcache' | 'rbtree'; memAllocs: number; memFrees: number } {
    const iovad = this.iovad;
    const pfn = Math.floor(iova / iovad.granule);
    const len = Math.floor(size / iovad.granule);
    const a0 = iovad.mem.allocs;
    const f0 = iovad.mem.frees;
    const dest = iovad.freeIovaFast(pfn, len);
    this.tracer?.emit('iova', 'iommu_dma_free_iova', { iova, size, dest });
    return { pfn, size: len, dest, memAllocs: iovad.mem.allocs - a0, memFrees: iovad.mem.frees - f0 };
  }
}

/** `dma_limit >> shift` for limits that may be all-ones 64-bit values. */
export function pfnOfLimit(limit: number, shift: number): number {
  if (limit >= 2 ** 53) {
    // (2^bits - 1) >> shift = 2^(bits - shift) - 1
    const bits = Math.round(Math.log2(limit));
    return dmaBitMask(bits - shift);
  }
  return Math.floor(limit / 2 ** shift);
}

export { IovaBug };
