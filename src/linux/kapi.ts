/**
 * What an IOMMU driver model may use of the rest of the kernel model: the same services the real
 * drivers call (page allocator, DMA API, readl/writel, IRQs, delays, printk), behind one interface so
 * the drivers never reach into a lower layer's internals. `src/linux/kernel.ts` implements it.
 */
import type { SimClock, Tracer } from '../trace/events.js';

export { DMA_MAPPING_ERROR } from './dma/u64.js';

export type DmaDirection = 'bidirectional' | 'to-device' | 'from-device' | 'none';

/** A device as drivers see it: the DMA layer's struct device. */
export interface KDevice {
  name: string;
  driverName: string;
  /** Device-tree facts of the node the device was created from. */
  of?: { compatible: string[]; props: Record<string, unknown> };
}

/** A modelled kernel crash (Oops, BUG): ends the run; never a JS error of ours. */
export class KernelCrash extends Error {
  constructor(
    readonly kind: 'oops' | 'bug' | 'panic',
    readonly lines: string[],
  ) {
    super(lines[0]);
    this.name = 'KernelCrash';
  }
}

export type IrqReturn = 'handled' | 'none';

export interface KernelApi {
  readonly tracer: Tracer;
  readonly clock: SimClock;
  /** Kernel preset name, e.g. "v6.12". */
  readonly release: string;
  /** CPU PAGE_SIZE in bytes (4K or 16K kernels). */
  readonly pageSize: number;
  /** Lowest RAM address (memstart): where a static "fake bypass" window starts. */
  ramBase(): number;
  /** Give a device a dma-range window (bus 0 = cpuBase, size bytes) and the matching bus limit. */
  setDmaWindow(dev: KDevice, cpuBase: number, size: number): void;

  // CPU access to memory through the linear map (phys_to_virt). A hole is a kernel paging fault.
  cpuRead32(pa: number, why: string): number;
  cpuWrite32(pa: number, value: number, why: string): void;

  // Page allocator (iommu-pages.h helpers add __GFP_ZERO).
  iommuAllocPage(gfp: number, why: string): number | null;
  iommuFreePage(pa: number): void;
  /** iommu_alloc_pages(gfp, order) in 4 KiB frames (a 16 KiB DART table is one order-2 block); optional. */
  iommuAllocPages?(gfp: number, order: number, why: string): number | null;
  iommuFreePages?(pa: number, order: number): void;
  /** gfp constants by kernel name (GFP_KERNEL, GFP_ATOMIC, GFP_DMA32, ...). */
  gfp(name: string): number;

  // The DMA API on a device.
  dmaMapSingle(dev: KDevice, pa: number, size: number, dir: DmaDirection): number;
  dmaUnmapSingle(dev: KDevice, dma: number, size: number, dir: DmaDirection): void;
  dmaSyncSingleForDevice(dev: KDevice, dma: number, size: number, dir: DmaDirection): void;
  dmaSetMaskAndCoherent(dev: KDevice, bits: number): number;

  // MMIO (ioremap'd registers) and interrupts.
  readl(addr: number): number;
  writel(addr: number, value: number): void;
  requestIrq(irq: number, name: string, handler: () => IrqReturn): number;

  /** usleep_range / udelay: advance simulated time. */
  sleepUs(us: number): void;

  /** WARN_ON in kernel file:line. */
  warn(file: string, line: number, fn: string): void;
  /** A NULL (or bad) pointer dereference in kernel code: ends the run with an Oops. */
  oops(addr: number, pcSymbol: string, callTrace: string[]): never;

  /** A runtime-PM / power-domain view: whether the device's power domain is on. */
  isPowered(dev: KDevice): boolean;
}

/**
 * readx_poll_timeout (include/linux/iopoll.h): read; stop when cond holds; past the timeout read once
 * more; otherwise sleep. Returns 0 or -ETIMEDOUT (-110).
 */
export function pollTimeout(k: KernelApi, read: () => boolean, sleepUs: number, timeoutUs: number): number {
  const start = k.clock.ns;
  for (let guard = 0; guard < 100000; guard++) {
    if (read()) return 0;
    if (timeoutUs && (k.clock.ns - start) / 1000 > timeoutUs) return read() ? 0 : -110;
    // usleep_range(sleep/4 + 1, sleep): we take the upper bound, deterministic.
    k.sleepUs(sleepUs ? sleepUs : 1);
  }
  return -110;
}
