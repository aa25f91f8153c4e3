/**
 * memblock, the boot-time allocator that runs before the buddy allocator exists, and the arm64 boot
 * reservations whose places decide which RAM the buddy allocator later gets.
 *
 * memblock allocates **top-down** (arm64 never switches to bottom-up): from the highest free range
 * downwards, the first candidate round_down(min(range end, end) - size, align) that still lies inside
 * the range (mm/memblock.c:252-273). The first page of memory is never used (memblock.c:301), and
 * `end` clamps the range end, so a caller passing an inclusive limit (memblock_alloc_low passes
 * ARCH_LOW_ADDRESS_LIMIT = arm64_dma_phys_limit - 1, arch/arm64/include/asm/processor.h:104) ends its
 * block one page below a RAM range that reaches the limit.
 *
 * arm64 boot order of the big reservations (arch/arm64/mm/init.c): arm64_memblock_init reserves the
 * kernel image and the initrd; bootmem_init then allocates the memmap (sparse_init), reserves the CMA
 * default area below arm64_dma_phys_limit (dma_contiguous_reserve, init.c:350) and the crash kernel;
 * mem_init allocates the swiotlb pool with memblock_alloc_low (init.c:381) and finally hands everything
 * else to the buddy allocator (memblock_free_all, init.c:384).
 */
import type { RamBank } from '../../mem/phys-mem.js';
import type { ReservedRange } from './page-alloc.js';
import { computeZones } from './zones.js';

/** arm64 SECTION_SIZE_BITS = 27 with 4K and 16K pages alike (arch/arm64/include/asm/sparsemem.h:18-29). */
const SECTION_SIZE = 2 ** 27;
/** sizeof(struct page) on arm64 without debug options. */
const STRUCT_PAGE_BYTES = 64;

/** PMD_SIZE: 1 << ((PAGE_SHIFT - 3) * 2 + 3) (arch/arm64/include/asm/pgtable-hwdef.h:41, 49): 2 MiB at 4K, 32 MiB at 16K. */
function pmdSize(pageSize: number): number {
  const shift = Math.log2(pageSize);
  return 2 ** ((shift - 3) * 2 + 3);
}

/**
 * The memmap of one 128 MiB section: PAGES_PER_SECTION struct pages, i.e. 2 MiB at 4K and 512 KiB at
 * 16K (sizeof(struct page) * PAGES_PER_SECTION, mm/sparse.c:344-347 before its PMD rounding).
 */
export function sectionMemmapBytes(pageSize = 4096): number {
  return (SECTION_SIZE / pageSize) * STRUCT_PAGE_BYTES;
}

/**
 * pageblock_order = min(HPAGE_PMD_ORDER, MAX_PAGE_ORDER) (include/linux/pageblock-flags.h:44-50):
 * 9 at 4K, 11 at 16K; CMA_MIN_ALIGNMENT_BYTES = PAGE_SIZE << pageblock_order (include/linux/cma.h:21):
 * 2 MiB at 4K, 32 MiB at 16K.
 */
export function cmaMinAlignment(pageSize = 4096): number {
  return pmdSize(pageSize);
}

export class Memblock {
  readonly memory: readonly RamBank[];
  private readonly reservations: ReservedRange[] = [];

  /** `pageSize`: the kernel's PAGE_SIZE (memblock never hands out the first page, memblock.c:301). */
  constructor(
    banks: readonly RamBank[],
    readonly pageSize = 4096,
  ) {
    this.memory = [...banks].sort((a, b) => a.base - b.base);
  }

  /** Reservations in the order they were made. */
  get reserved(): ReservedRange[] {
    return this.reservations.map((r) => ({ ...r }));
  }

  reserve(base: number, size: number, name?: string): void {
    if (size > 0) this.reservations.push({ base, size, ...(name ? { name } : {}) });
  }

  /** memblock.memory minus memblock.reserved, ascending (for_each_free_mem_range). */
  freeRanges(): { base: number; end: number }[] {
    const holes = [...this.reservations].sort((a, b) => a.base - b.base);
    const out: { base: number; end: number }[] = [];
    for (const m of this.memory) {
      let cur = m.base;
      const end = m.base + m.size;
      for (const h of holes) {
        if (h.base + h.size <= cur || h.base >= end) continue;
        if (h.base > cur) out.push({ base: cur, end: h.base });
        cur = Math.max(cur, h.base + h.size);
      }
      if (cur < end) out.push({ base: cur, end });
    }
    return out;
  }

  /**
   * memblock_alloc_range_nid / memblock_alloc_try_nid: top-down in [start, end) (end clamps range ends),
   * retried without the lower limit as memblock_alloc_internal does. Returns the base or null.
   */
  allocRange(size: number, align: number, start: number, end: number, name?: string): number | null {
    const found = this.findTopDown(size, align, start, end) ?? (start > 0 ? this.findTopDown(size, align, 0, end) : null);
    if (found === null) return null;
    this.reserve(found, size, name);
    return found;
  }

  /** memblock_alloc(size, align): anywhere (current_limit is MEMBLOCK_ALLOC_ANYWHERE on arm64). */
  alloc(size: number, align: number, name?: string): number | null {
    return this.allocRange(size, align, 0, Number.MAX_SAFE_INTEGER, name);
  }

  /** memblock_alloc_low(size, align) on arm64: below ARCH_LOW_ADDRESS_LIMIT = arm64DmaPhysLimit - 1. */
  allocLow(size: number, align: number, arm64DmaPhysLimit: number, name?: string): number | null {
    return this.allocRange(size, align, 0, arm64DmaPhysLimit - 1, name);
  }

  private findTopDown(size: number, align: number, start: number, end: number): number | null {
    const lo = Math.max(start, this.pageSize);
    const hi = Math.max(lo, end);
    const free = this.freeRanges().reverse();
    for (const f of free) {
      const thisStart = Math.min(Math.max(f.base, lo), hi);
      const thisEnd = Math.min(Math.max(f.end, lo), hi);
      if (thisEnd < size) continue;
      const cand = thisEnd - size - ((thisEnd - size) % align);
      if (cand >= thisStart) return cand;
    }
    return null;
  }
}

/**
 * Where the memmap of a SPARSEMEM_VMEMMAP kernel lands when nothing else is reserved near the top of
 * RAM (see reserveMemmap). The largest early reservation; on a 4 GiB RK3568 with 4K pages it takes
 * 64 MiB of the 256 MiB alias above 4 GiB.
 */
export function arm64MemmapReservation(banks: readonly RamBank[], pageSize = 4096): ReservedRange | undefined {
  const mb = new Memblock(banks, pageSize);
  return reserveMemmap(mb, banks) ?? undefined;
}

function presentSections(banks: readonly RamBank[]): number {
  const sections = new Set<number>();
  for (const b of banks) {
    for (let s = Math.floor(b.base / SECTION_SIZE); s * SECTION_SIZE < b.base + b.size; s++) sections.add(s);
  }
  return sections.size;
}

/**
 * The memmap that stays reserved: (present 128 MiB sections) * sizeof(struct page) * PAGES_PER_SECTION
 * — 2 MiB per section with 4K pages, 512 KiB with 16K pages.
 */
export function memmapBytes(banks: readonly RamBank[], pageSize = 4096): number {
  return presentSections(banks) * sectionMemmapBytes(pageSize);
}

/**
 * sparse_init_nid (mm/sparse.c:446) first takes one buffer of map_count * section_map_size(), aligned to
 * section_map_size(), top-down; section_map_size() rounds a section's memmap up to PMD_SIZE
 * (sparse.c:344-347).
 * - 4K pages: 2 MiB per section, exactly one PMD; vmemmap_populate maps it with PMD blocks
 *   (arch/arm64/mm/mmu.c:1211-1215) taken from the buffer in order, so the whole buffer stays reserved.
 * - 16K pages: 512 KiB per section rounded up to a 32 MiB PMD, so the buffer is 32 MiB per section;
 *   vmemmap_populate uses base pages on non-4K kernels (mmu.c:1211-1213), taking 16 KiB pieces from the
 *   start of the buffer (sparse_buffer_alloc, sparse.c:405-420), and sparse_buffer_fini gives the unused
 *   rest back to memblock. What stays reserved is the first map_count * 512 KiB of the buffer. When the
 *   buffer does not fit, each page comes from memblock on its own, top-down (vmemmap_alloc_block), which
 *   leaves one contiguous run under the top of the highest free range: we reserve that run at once.
 * The vmemmap page tables (a few pages) are not modelled.
 */
function reserveMemmap(mb: Memblock, banks: readonly RamBank[]): ReservedRange | null {
  const pageSize = mb.pageSize;
  const sections = presentSections(banks);
  const used = sections * sectionMemmapBytes(pageSize);
  const mapSize = Math.ceil(sectionMemmapBytes(pageSize) / pmdSize(pageSize)) * pmdSize(pageSize);
  if (mapSize === sectionMemmapBytes(pageSize)) {
    const base = mb.alloc(used, mapSize, 'memmap');
    return base === null ? null : { base, size: used, name: 'memmap' };
  }
  const probe = new Memblock(mb.memory, pageSize);
  for (const r of mb.reserved) probe.reserve(r.base, r.size, r.name);
  const buffer = probe.alloc(sections * mapSize, mapSize);
  if (buffer !== null) {
    mb.reserve(buffer, used, 'memmap');
    return { base: buffer, size: used, name: 'memmap' };
  }
  const base = mb.alloc(used, pageSize, 'memmap');
  return base === null ? null : { base, size: used, name: 'memmap' };
}

export interface Arm64BootOptions {
  /** The kernel image [_stext, _end) as loaded (unknown by default: the bootloader decides). */
  kernel?: { base: number; size: number };
  initrd?: { base: number; size: number };
  /** DT /reserved-memory and /memreserve/ regions. */
  dtReserved?: { base: number; size: number; name?: string }[];
  /** of_dma_get_max_cpu_address() for the zone limits (undefined: no dma-ranges). */
  dtDmaLimit?: number;
  /** Default CMA area size (CONFIG_CMA_SIZE_MBYTES or cma=); 0 = none. */
  cmaBytes?: number;
  /** The kernel's PAGE_SIZE (default 4096). */
  pageSize?: number;
}

/**
 * The memblock state just before mem_init's swiotlb_init: kernel, initrd, DT reservations, the memmap
 * (per present 128 MiB section 2 MiB at 4K, 512 KiB at 16K, placed as reserveMemmap explains;
 * mm/sparse.c:344-347, 384-395, 446) and the CMA default area (top-down below arm64_dma_phys_limit,
 * aligned to CMA_MIN_ALIGNMENT_BYTES: 2 MiB at 4K, 32 MiB at 16K; CMA
 * pages are later given to the buddy allocator as MIGRATE_CMA, usable only by movable allocations, so
 * for the kernel allocations modelled here they stay reserved). Add the swiotlb pool with
 * `allocLow(bytes, PAGE_SIZE, arm64DmaPhysLimit, 'swiotlb')`, then give `reserved` to PageAllocator.
 */
export function arm64BootMemblock(banks: readonly RamBank[], opts: Arm64BootOptions = {}): Memblock {
  const pageSize = opts.pageSize ?? 4096;
  const mb = new Memblock(banks, pageSize);
  if (opts.kernel) mb.reserve(opts.kernel.base, opts.kernel.size, 'kernel');
  if (opts.initrd) mb.reserve(opts.initrd.base, opts.initrd.size, 'initrd');
  for (const r of opts.dtReserved ?? []) mb.reserve(r.base, r.size, r.name ?? 'reserved-memory');
  reserveMemmap(mb, banks);
  if (opts.cmaBytes) {
    const limit = computeZones({ ram: banks, dtDmaLimit: opts.dtDmaLimit, pageSize }).arm64DmaPhysLimit;
    mb.allocRange(opts.cmaBytes, cmaMinAlignment(pageSize), 0, limit, 'cma');
  }
  return mb;
}
