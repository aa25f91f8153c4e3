/**
 * Zone boundaries as arm64 Linux 6.12 derives them from a board's RAM and device tree — a small pure
 * function so `iommu-lab board` and the page allocator can share it.
 *
 * Evidence (Linux 6.12):
 * - arch/arm64/mm/init.c:117-120 max_zone_phys(limit) = min(limit, end_of_DRAM - 1) + 1.
 * - init.c:122-155 zone_sizes_init: zone_dma_limit = min(DT limit, ACPI IORT limit); when DRAM starts
 *   below 4 GiB it is clamped to U32_MAX (init.c:140-141); ZONE_DMA ends at max_zone_phys(zone_dma_limit),
 *   ZONE_DMA32 at max_zone_phys(DMA_BIT_MASK(32)), ZONE_NORMAL at max_pfn.
 * - drivers/of/address.c:962-994 of_dma_get_max_cpu_address: the DT limit (Board.zoneDmaLimit).
 * - mm/mm_init.c:1795-1812 free_area_init: zones are laid end to end from the start of DRAM; a zone
 *   whose limit is not above the previous end is empty. That is why, with RAM starting below 4 GiB and no
 *   restricting dma-ranges, ZONE_DMA reaches 4 GiB and ZONE_DMA32 is *empty*; and why an all-high-RAM
 *   board (Apple M1) puts everything in ZONE_DMA.
 * - mm/mm_init.c:1819-1832: the "Zone ranges:" boot lines.
 */
import type { RamBank } from '../mem/phys-mem.js';

/** Stands in for PHYS_ADDR_MAX: above every address we model, exact in a JS number. */
export const PHYS_ADDR_MAX = Number.MAX_SAFE_INTEGER;
const U32_MAX = 0xffff_ffff;

export type ZoneName = 'DMA' | 'DMA32' | 'Normal';

export interface ZoneRange {
  name: ZoneName;
  /** [start, end) span; start === end: empty. */
  start: number;
  end: number;
  empty: boolean;
  /** Bytes of RAM inside the span (pages exist only where RAM is). */
  present: number;
}

export interface ZoneOptions {
  /** CONFIG_ZONE_DMA (y on arm64 distribution kernels). */
  zoneDma?: boolean;
  /** CONFIG_ZONE_DMA32 (y on arm64 distribution kernels). */
  zoneDma32?: boolean;
  /** ACPI IORT limit (inclusive); undefined on DT systems. */
  acpiDmaLimit?: number;
  /** PAGE_SIZE of the kernel (PFN_DOWN rounding). */
  pageSize?: number;
  /** PHYS_MASK + 1, used only when both DMA zones are configured out. */
  physLimit?: number;
}

export interface ZoneBoundaries {
  zones: ZoneRange[];
  /** zone_dma_limit after the U32_MAX clamp (inclusive); undefined without CONFIG_ZONE_DMA. */
  zoneDmaLimit?: number;
  /** arm64_dma_phys_limit: exclusive end of ZONE_DMA (or DMA32 without ZONE_DMA). */
  arm64DmaPhysLimit: number;
}

/**
 * @param ram         RAM banks as memblock holds them.
 * @param dtDmaLimit  of_dma_get_max_cpu_address(NULL), inclusive; undefined = PHYS_ADDR_MAX (no dma-ranges).
 */
export function zoneBoundaries(ram: readonly RamBank[], dtDmaLimit?: number, opts: ZoneOptions = {}): ZoneBoundaries {
  const pageSize = opts.pageSize ?? 4096;
  const banks = ram.filter((b) => b.size > 0).sort((a, b) => a.base - b.base);
  if (!banks.length) throw new RangeError('zoneBoundaries: no RAM');
  const dramStart = banks[0].base;
  const dramEnd = Math.max(...banks.map((b) => b.base + b.size));
  const maxZonePhys = (limit: number): number => Math.min(limit, dramEnd - 1) + 1;
  const pfn = (a: number): number => Math.floor(a / pageSize);

  const maxPfn = { DMA: 0, DMA32: 0, Normal: pfn(dramEnd) };
  let dmaPhysLimit = 0;
  let zoneDmaLimit: number | undefined;
  if (opts.zoneDma ?? true) {
    zoneDmaLimit = Math.min(dtDmaLimit ?? PHYS_ADDR_MAX, opts.acpiDmaLimit ?? PHYS_ADDR_MAX);
    if (dramStart < U32_MAX) zoneDmaLimit = Math.min(zoneDmaLimit, U32_MAX);
    dmaPhysLimit = maxZonePhys(zoneDmaLimit);
    maxPfn.DMA = pfn(dmaPhysLimit);
  }
  if (opts.zoneDma32 ?? true) {
    const dma32 = maxZonePhys(U32_MAX);
    maxPfn.DMA32 = pfn(dma32);
    if (!dmaPhysLimit) dmaPhysLimit = dma32;
  }
  if (!dmaPhysLimit) dmaPhysLimit = opts.physLimit ?? 2 ** 48;

  const zones: ZoneRange[] = [];
  let startPfn = pfn(dramStart);
  for (const name of ['DMA', 'DMA32', 'Normal'] as const) {
    const endPfn = Math.max(maxPfn[name], startPfn);
    const start = startPfn * pageSize;
    const end = endPfn * pageSize;
    let present = 0;
    for (const b of banks) present += Math.max(0, Math.min(b.base + b.size, end) - Math.max(b.base, start));
    zones.push({ name, start, end, empty: start === end, present });
    startPfn = endPfn;
  }
  return zoneDmaLimit === undefined ? { zones, arm64DmaPhysLimit: dmaPhysLimit } : { zones, zoneDmaLimit, arm64DmaPhysLimit: dmaPhysLimit };
}

/** The boot log lines of mm/mm_init.c:1819-1832 ("  %-8s " then "empty" or "[mem %#018Lx-%#018Lx]"). */
export function zoneRangesText(b: ZoneBoundaries): string[] {
  const h = (n: number): string => '0x' + n.toString(16).padStart(16, '0');
  return ['Zone ranges:', ...b.zones.map((z) => `  ${z.name.padEnd(8)} ${z.empty ? 'empty' : `[mem ${h(z.start)}-${h(z.end - 1)}]`}`)];
}
