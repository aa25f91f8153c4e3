/**
 * arm64 memory zones as Linux 6.12 computes them at boot (arch/arm64/mm/init.c:117-155 zone_sizes_init,
 * mm/mm_init.c:1783-1833 free_area_init).
 *
 * The boundary arithmetic lives in src/board/zones.ts (`zoneBoundaries`, shared with `iommu-lab board`);
 * this module adds what the page allocator needs on top: zone indices as enum zone_type has them, the
 * RAM ranges inside each span (pages exist only there) and a lookup by address.
 *
 * Consequences the seeds depend on: with RAM starting below 4 GiB and no restricting dma-ranges,
 * ZONE_DMA already reaches 4 GiB, so ZONE_DMA32 is *empty* and GFP_DMA32 is served from ZONE_DMA
 * (reference README point 21); with all RAM above 4 GiB and no dma-ranges (Apple M1), ZONE_DMA covers
 * all of RAM and DMA32/Normal are empty.
 */
import { PHYS_ADDR_MAX, zoneBoundaries } from '../../board/zones.js';
import type { RamBank } from '../../mem/phys-mem.js';
import { ARM64_ZONE_CONFIG, ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, type ZoneConfig, type ZoneIndex } from './gfp.js';

export { PHYS_ADDR_MAX };
/** The default CPU page size (a 4K kernel). A 16K kernel passes `pageSize: 16384` everywhere in mm/. */
export const PAGE_SIZE = 4096;

export interface ZoneInput {
  /** RAM as memblock sees it (banks in any order, no overlap). */
  ram: readonly RamBank[];
  /**
   * of_dma_get_max_cpu_address(NULL): the highest CPU physical address (inclusive) every DT dma-ranges
   * can reach; undefined when the tree has no dma-ranges (PHYS_ADDR_MAX). Board.zoneDmaLimit.
   */
  dtDmaLimit?: number;
  /** acpi_iort_dma_get_max_cpu_address(); undefined on DT systems (PHYS_ADDR_MAX). */
  acpiDmaLimit?: number;
  config?: ZoneConfig;
  /** The kernel's PAGE_SIZE (default 4096): zone ends are pfns of that size (PFN_DOWN in max_zone_phys users). */
  pageSize?: number;
}

export interface ZoneSpan {
  index: ZoneIndex;
  name: string;
  /** Span [start, end): contiguous with its neighbours; start === end means empty. */
  start: number;
  end: number;
  empty: boolean;
  /** The RAM inside the span. */
  ram: RamBank[];
  /** Bytes of RAM inside the span (present pages * PAGE_SIZE). */
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
  /** The PAGE_SIZE the spans were computed with (absent: 4096). */
  pageSize?: number;
}

export function computeZones(input: ZoneInput): ZoneLayout {
  const config = input.config ?? ARM64_ZONE_CONFIG;
  const banks = [...input.ram].filter((b) => b.size > 0).sort((a, b) => a.base - b.base);
  if (banks.length === 0) throw new RangeError('computeZones: no RAM');
  const b = zoneBoundaries(banks, input.dtDmaLimit, {
    zoneDma: config.zoneDma,
    zoneDma32: config.zoneDma32,
    acpiDmaLimit: input.acpiDmaLimit,
    pageSize: input.pageSize ?? PAGE_SIZE,
  });
  const indexOf: Record<string, ZoneIndex> = { DMA: ZONE_DMA, DMA32: ZONE_DMA32, Normal: ZONE_NORMAL };
  const zones: ZoneSpan[] = b.zones.map((z) => {
    const ram: RamBank[] = [];
    for (const bank of banks) {
      const lo = Math.max(bank.base, z.start);
      const hi = Math.min(bank.base + bank.size, z.end);
      if (hi > lo) ram.push({ base: lo, size: hi - lo, ...(bank.name ? { name: bank.name } : {}) });
    }
    return { index: indexOf[z.name], name: z.name, start: z.start, end: z.end, empty: z.empty, ram, presentBytes: z.present };
  });
  return {
    zones,
    ...(b.zoneDmaLimit !== undefined ? { zoneDmaLimit: b.zoneDmaLimit } : {}),
    arm64DmaPhysLimit: b.arm64DmaPhysLimit,
    dramStart: banks[0].base,
    dramEnd: banks.reduce((m, x) => Math.max(m, x.base + x.size), 0),
    pageSize: input.pageSize ?? PAGE_SIZE,
  };
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
