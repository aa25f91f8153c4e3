/**
 * The DMA-relevant part of `struct device` (include/linux/device.h) and the mask setters of
 * kernel/dma/mapping.c.
 *
 * Why each field exists, from the kernel:
 * - `dmaMask` / `coherentDmaMask`: what the driver says the device can address (dma_set_mask*).
 * - `busDmaLimit`: what the *bus* in front of it can carry; 6.12 sets it only from a valid DT
 *   `dma-ranges` (drivers/of/device.c:146-150). Both enter `dma_capable` as min_not_zero (seed 002).
 * - `dmaRangeMap`: the dma-ranges translation (cpu_start, dma_start, size) rows of
 *   include/linux/dma-direct.h:20-24, so a DMA address may differ from the physical one.
 * - `minAlignMask`: dma_parms->min_align_mask that swiotlb preserves (NVMe uses 0xfff).
 * - `dmaIoTlbMem`: the swiotlb pool the device bounces through (NULL when swiotlb was not set up).
 * - `iommu`: filled by the iommu core at probe (dev->iommu), left alone here.
 */
import type { Tracer, LogLevel } from '../trace/events.js';
import { and64 } from '../addr.js';
import { U64_MAX, dmaBitMask, fls64 } from './dma/u64.js';

/** One row of dev->dma_range_map (struct bus_dma_region). */
export interface BusDmaRegion {
  cpuStart: number;
  dmaStart: number;
  size: number;
}

/** What the DMA layer needs from the swiotlb pool; implemented by src/linux/dma/swiotlb.ts. */
export interface IoTlbMemRef {
  readonly nslabs: number;
  readonly forceBounce: boolean;
}

/**
 * Kernel-wide facts dma_direct_supported() reads (max_pfn, zone_dma_limit, PAGE_SIZE). Set by whoever
 * boots the kernel model; absent means "no limit known" and every mask is accepted.
 */
export interface DmaGlobals {
  pageSize: number;
  /** max_pfn: one past the highest RAM page frame. */
  maxPfn: number;
  /** zone_dma_limit (inclusive), from arm64 zone_sizes_init. */
  zoneDmaLimit: number;
}

export class Device {
  /** dev_name(dev), e.g. "fde4b000.iommu". */
  name: string;
  /** The bound driver's name, the first word of dev_* messages ("rk_iommu"). */
  driverName: string;
  /** *dev->dma_mask; null models a device without a dma_mask pointer (dma_set_mask then fails). */
  dmaMask: number | null;
  coherentDmaMask: number;
  busDmaLimit = 0;
  dmaRangeMap: BusDmaRegion[] | null = null;
  dmaCoherent = true;
  minAlignMask = 0;
  /** dma_parms->segment_boundary_mask; ULONG_MAX when the device has no dma_parms. */
  segBoundaryMask = U64_MAX;
  dmaIoTlbMem: IoTlbMemRef | null = null;
  /** dev->dma_iommu: DMA API calls go through dma-iommu instead of dma-direct. */
  dmaIommu = false;
  /** dev->iommu: owned by the iommu core. */
  iommu: unknown = null;
  /** Is this a PCI device (dma-iommu's 32-bit-first workaround is PCI-only). */
  isPci = false;
  dmaGlobals: DmaGlobals | null = null;
  tracer: Tracer | null = null;

  constructor(name: string, driverName = '', opts: Partial<Pick<Device, 'dmaMask' | 'coherentDmaMask' | 'busDmaLimit' | 'dmaRangeMap' | 'dmaCoherent' | 'minAlignMask' | 'segBoundaryMask' | 'isPci'>> = {}) {
    this.name = name;
    this.driverName = driverName;
    // of_dma_configure / platform devices start with a 32-bit mask (drivers/of/platform.c, device.c:103).
    this.dmaMask = opts.dmaMask === undefined ? dmaBitMask(32) : opts.dmaMask;
    this.coherentDmaMask = opts.coherentDmaMask ?? dmaBitMask(32);
    if (opts.busDmaLimit !== undefined) this.busDmaLimit = opts.busDmaLimit;
    if (opts.dmaRangeMap !== undefined) this.dmaRangeMap = opts.dmaRangeMap;
    if (opts.dmaCoherent !== undefined) this.dmaCoherent = opts.dmaCoherent;
    if (opts.minAlignMask !== undefined) this.minAlignMask = opts.minAlignMask;
    if (opts.segBoundaryMask !== undefined) this.segBoundaryMask = opts.segBoundaryMask;
    if (opts.isPci !== undefined) this.isPci = opts.isPci;
  }

  /** dev_printk: "<driver> <dev_name>: text" (a driverless device prints just its name). */
  printk(level: LogLevel, text: string): void {
    const t = text.endsWith('\n') ? text.slice(0, -1) : text;
    if (!this.tracer) return;
    if (this.driverName) this.tracer.devPrintk(level, this.driverName, this.name, t);
    else this.tracer.printk(level, `${this.name}: ${t}`);
  }
}

/** -EIO */
export const EIO = -5;

/**
 * dma_direct_supported (kernel/dma/direct.c:566-587): masks of 32 bits or more are always fine; a
 * smaller one must reach the lower of the top of RAM and zone_dma_limit (through dma-ranges).
 */
export function dmaDirectSupported(dev: Device, mask: number, phys2dma: (dev: Device, pa: number) => number): boolean {
  const g = dev.dmaGlobals;
  if (mask >= dmaBitMask(32)) return true;
  if (!g) return true;
  let minMask = (g.maxPfn - 1) * g.pageSize;
  minMask = Math.min(minMask, g.zoneDmaLimit);
  return mask >= phys2dma(dev, minMask);
}

/** dma_supported (kernel/dma/mapping.c:840-861): dma-iommu devices accept any mask. */
export function dmaSupported(dev: Device, mask: number, phys2dma: (dev: Device, pa: number) => number): boolean {
  if (dev.dmaIommu) return true;
  return dmaDirectSupported(dev, mask, phys2dma);
}

/** dma_set_mask (mapping.c:878-894). Returns 0 or -EIO. */
export function dmaSetMask(dev: Device, mask: number, phys2dma: (dev: Device, pa: number) => number = identity): number {
  if (dev.dmaMask === null || !dmaSupported(dev, mask, phys2dma)) return EIO;
  dev.dmaMask = mask;
  dev.tracer?.emit('dma', 'set_mask', { dev: dev.name, mask });
  return 0;
}

/** dma_set_coherent_mask (mapping.c:897-910). */
export function dmaSetCoherentMask(dev: Device, mask: number, phys2dma: (dev: Device, pa: number) => number = identity): number {
  if (!dmaSupported(dev, mask, phys2dma)) return EIO;
  dev.coherentDmaMask = mask;
  return 0;
}

/** dma_set_mask_and_coherent (include/linux/dma-mapping.h:499-505). */
export function dmaSetMaskAndCoherent(dev: Device, mask: number, phys2dma: (dev: Device, pa: number) => number = identity): number {
  const rc = dmaSetMask(dev, mask, phys2dma);
  if (rc === 0) dmaSetCoherentMask(dev, mask, phys2dma);
  return rc;
}

/** dma_get_mask: *dev->dma_mask, or DMA_BIT_MASK(32) without one. */
export function dmaGetMask(dev: Device): number {
  return dev.dmaMask ?? dmaBitMask(32);
}

/** phys_to_dma_unencrypted through dev->dma_range_map (include/linux/dma-direct.h:26-40, 79-85). */
function identity(dev: Device, pa: number): number {
  if (!dev.dmaRangeMap) return pa;
  for (const m of dev.dmaRangeMap) if (pa >= m.cpuStart && pa - m.cpuStart < m.size) return m.dmaStart + (pa - m.cpuStart);
  return U64_MAX;
}

/** `a &= b` for masks that may be all-ones 64-bit values (held as 2^64). */
function andMask(a: number, b: number): number {
  if (a >= 2 ** 53) return b;
  if (b >= 2 ** 53) return a;
  return and64(a, b);
}

/**
 * of_dma_configure_id's mask and limit part (drivers/of/device.c:95-150): with valid dma-ranges (`map`),
 * end = the highest DMA address they cover, the range map and bus_dma_limit = end are set; without, end is
 * the coherent mask (or 4 GiB - 1) and neither is set. Both masks are then ANDed with
 * DMA_BIT_MASK(ilog2(end) + 1). A driver's later dma_set_mask_and_coherent can widen the masks again,
 * never the bus limit.
 */
export function ofDmaConfigure(dev: Device, map: BusDmaRegion[] | null, coherent?: boolean): void {
  let end = 0;
  if (map && map.length) end = Math.max(...map.map((m) => m.dmaStart + m.size - 1));
  if (dev.dmaMask === null) {
    dev.printk('warn', 'DMA mask not set\n');
    dev.dmaMask = dev.coherentDmaMask;
  }
  if (!end && dev.coherentDmaMask) end = dev.coherentDmaMask;
  else if (!end) end = 2 ** 32 - 1;
  const mask = dmaBitMask(fls64(end));
  dev.coherentDmaMask = andMask(dev.coherentDmaMask, mask);
  dev.dmaMask = andMask(dev.dmaMask, mask);
  if (map && map.length) {
    dev.busDmaLimit = end;
    dev.dmaRangeMap = map;
  }
  if (coherent !== undefined) dev.dmaCoherent = coherent;
}
