/**
 * arm64 memory zones as Linux 6.12 computes them at boot (arch/arm64/mm/init.c:117-155 zone_sizes_init,
 * mm/mm_init.c:1783-1833 free_area_init).
 *
 * - ZONE_DMA ends at arm64_dma_phys_limit = max_zone_phys(zone_dma_limit), where zone_dma_limit is the
 *   lower of the DT limit (of_dma_get_max_cpu_address: the lowest "highest CPU address reachable" over
 *   every dma-ranges in the tree, PHYS_ADDR_MAX when there is none) and the ACPI IORT limit, and is
 *   further clamped to 4 GiB - 1 whenever DRAM starts below 4 GiB (init.c:140-141).
 * - ZONE_DMA32 ends at max_zone_phys(DMA_BIT_MASK(32)).
 * - ZONE_NORMAL ends at max_pfn.
 * - max_zone_phys(limit) = min(limit, end_of_DRAM - 1) + 1 (init.c:117-120).
 * - free_area_init makes the spans contiguous: each zone starts where the previous one ended, the first
 *   at the start of DRAM, and a zone whose limit is below that start is empty (mm_init.c:1798-1812).
 *
 * Consequences the seeds depend on: with RAM starting below 4 GiB and no restricting dma-ranges,
 * ZONE_DMA already reaches 4 GiB, so ZONE_DMA32 is *empty* and GFP_DMA32 is served from ZONE_DMA
 * (reference README point 21); with all RAM above 4 GiB and no dma-ranges (Apple M1), ZONE_DMA covers
 * all of RAM and DMA32/Normal are empty.
 *
 * This module is pure data-in/data-out so the board layer (`iommu-lab board`) can reuse it.
 */
import type { RamBank } from '../../mem/phys-mem.js';
import { ARM64_ZONE_CONFIG, ZONE_DMA, ZONE_DMA32, ZONE_NAMES, ZONE_NORMAL, type ZoneConfig, type ZoneIndex } from './gfp.js';

export const PAGE_SIZE = 4096;
/** PHYS_ADDR_MAX stand-in: larger than any address we model (< 2^52), exact as a JS number. */
export const PHYS_ADDR_MAX = Number.MAX_SAFE_INTEGER;
const U32_MAX = 0xffff_ffff;

export interface ZoneInput {
  /** RAM as memblock sees it (banks in any order, no overlap). */
  ram: readonly RamBank[];
  /**
   * of_dma_get_max_cpu_address(NULL): the highest CPU physical address (inclusive) every DT dma-ranges
   * can reach; undefined when the tree has no dma-ranges (PHYS_ADDR_MAX).
   */
  dtDmaLimit?: number;
  /** acpi_iort_dma_get_max_cpu_address(); undefined on DT systems (PHYS_ADDR_MAX). */
  acpiDmaLimit?: number;
  config?: ZoneConfig;
}

export interface ZoneSpan {
  index: ZoneIndex;
  name: string;
  /** Span [start, end): contiguous with its neighbours; start === end means empty. */
  start: number;
  end: number;
  empty: boolean;
  /** The RAM inside the span (pages exist only here). */
  ram: RamBank[];
  /** Bytes of RAM inside the span (present pages * 4K). */
  presentBytes: number;
}

export interface ZoneLayout {
  /** DMA, DMA32, Normal in index order (a zone CONFIG disables is reported empty). */
  zones: ZoneSpan[];
  /** zone_dma_limit after clamping (inclusive); undefined when CONFIG_ZONE_DMA is off. */
  zoneDmaLimit?: number;
  /** arm64_dma_phys_limit (exclusive end of ZONE_DMA, or of DMA32 without ZONE_DMA). */
  arm64DmaPhysLimit: number;
  dramStart: number;
  dramEnd: number;
}

function maxZonePhys(limit: number, dramEnd: number): number {
  return Math.min(limit, dramEnd - 1) + 1;
}

export function computeZones(input: ZoneInput): ZoneLayout {
  const config = input.config ?? ARM64_ZONE_CONFIG;
  const banks = [...input.ram].filter((b) => b.size > 0).sort((a, b) => a.base - b.base);
  if (banks.length === 0) throw new RangeError('computeZones: no RAM');
  const dramStart = banks[0].base;
  const dramEnd = banks.reduce((m, b) => Math.max(m, b.base + b.size), 0);
  const pfnDown = (a: number): number => Math.floor(a / PAGE_SIZE);

  const maxZonePfn = [0, 0, 0];
  let arm64DmaPhysLimit = 0;
  let zoneDmaLimit: number | undefined;
  if (config.zoneDma) {
    zoneDmaLimit = Math.min(input.dtDmaLimit ?? PHYS_ADDR_MAX, input.acpiDmaLimit ?? PHYS_ADDR_MAX);
    if (dramStart < U32_MAX) zoneDmaLimit = Math.min(zoneDmaLimit, U32_MAX);
    arm64DmaPhysLimit = maxZonePhys(zoneDmaLimit, dramEnd);
    maxZonePfn[ZONE_DMA] = pfnDown(arm64DmaPhysLimit);
  }
  const dma32PhysLimit = maxZonePhys(U32_MAX, dramEnd);
  if (config.zoneDma32) {
    maxZonePfn[ZONE_DMA32] = pfnDown(dma32PhysLimit);
    if (!arm64DmaPhysLimit) arm64DmaPhysLimit = dma32PhysLimit;
  }
  if (!arm64DmaPhysLimit) arm64DmaPhysLimit = 2 ** 48; // PHYS_MASK + 1 with 48-bit PA
  maxZonePfn[ZONE_NORMAL] = pfnDown(dramEnd);

  const zones: ZoneSpan[] = [];
  let startPfn = pfnDown(dramStart);
  for (const index of [ZONE_DMA, ZONE_DMA32, ZONE_NORMAL] as const) {
    const endPfn = Math.max(maxZonePfn[index], startPfn);
    const start = startPfn * PAGE_SIZE;
    const end = endPfn * PAGE_SIZE;
    const ram: RamBank[] = [];
    for (const b of banks) {
      const lo = Math.max(b.base, start);
      const hi = Math.min(b.base + b.size, end);
      if (hi > lo) ram.push({ base: lo, size: hi - lo, ...(b.name ? { name: b.name } : {}) });
    }
    zones.push({
      index,
      name: ZONE_NAMES[index],
      start,
      end,
      empty: start === end,
      ram,
      presentBytes: ram.reduce((s, r) => s + r.size, 0),
    });
    startPfn = endPfn;
  }
  return { zones, zoneDmaLimit, arm64DmaPhysLimit, dramStart, dramEnd };
}

/** The zone a physical address belongs to (by span), or undefined outside every span. */
export function zoneOf(layout: ZoneLayout, pa: number): ZoneSpan | undefined {
  return layout.zones.find((z) => pa >= z.start && pa < z.end);
}

/**
 * The boot log's zone report (mm/mm_init.c:1819-1832): "Zone ranges:" then "  %-8s " with "empty" or
 * "[mem %#018Lx-%#018Lx]" (inclusive end) per zone except Movable. `withDevice` adds the ZONE_DEVICE
 * line a CONFIG_ZONE_DEVICE kernel prints (always empty at boot).
 */
export function zoneRangesLog(layout: ZoneLayout, withDevice = false): string[] {
  const lines = ['Zone ranges:'];
  const row = (name: string, text: string): string => `  ${name.padEnd(8, ' ')} ${text}`;
  for (const z of layout.zones) {
    lines.push(row(z.name, z.empty ? 'empty' : `[mem ${hex018(z.start)}-${hex018(z.end - 1)}]`));
  }
  if (withDevice) lines.push(row('Device', 'empty'));
  return lines;
}

/** `%#018Lx`: "0x" plus 16 zero-padded digits (the width counts the prefix). */
export function hex018(n: number): string {
  return '0x' + n.toString(16).padStart(16, '0');
}
