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

const PAGE_SIZE = 4096;
const SZ_2M = 2 * 1024 * 1024;
/** arm64 SECTION_SIZE_BITS = 27 with 4K pages (arch/arm64/include/asm/sparsemem.h:29). */
const SECTION_SIZE = 2 ** 27;

export class Memblock {
  readonly memory: readonly RamBank[];
  private readonly reservations: ReservedRange[] = [];

  constructor(banks: readonly RamBank[]) {
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
    const lo = Math.max(start, PAGE_SIZE);
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
 * RAM: one block of 2 MiB per present 128 MiB section, top-down. The largest early reservation; on a
 * 4 GiB RK3568 it takes 64 MiB of the 256 MiB alias above 4 GiB.
 */
export function arm64MemmapReservation(banks: readonly RamBank[]): ReservedRange | undefined {
  const mb = new Memblock(banks);
  const base = mb.alloc(memmapBytes(banks), SZ_2M, 'memmap');
  return base === null ? undefined : mb.reserved[0];
}

/** (present 128 MiB sections) * section_map_size() (2 MiB with 4K pages and 64-byte struct page). */
export function memmapBytes(banks: readonly RamBank[]): number {
  const sections = new Set<number>();
  for (const b of banks) {
    for (let s = Math.floor(b.base / SECTION_SIZE); s * SECTION_SIZE < b.base + b.size; s++) sections.add(s);
  }
  return sections.size * SZ_2M;
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
}

/**
 * The memblock state just before mem_init's swiotlb_init: kernel, initrd, DT reservations, the memmap
 * (one block of 2 MiB per present 128 MiB section, 2 MiB aligned, top-down; mm/sparse.c:344-347,
 * 384-395, 446) and the CMA default area (top-down below arm64_dma_phys_limit, 2 MiB aligned; CMA
 * pages are later given to the buddy allocator as MIGRATE_CMA, usable only by movable allocations, so
 * for the kernel allocations modelled here they stay reserved). Add the swiotlb pool with
 * `allocLow(bytes, PAGE_SIZE, arm64DmaPhysLimit, 'swiotlb')`, then give `reserved` to PageAllocator.
 */
export function arm64BootMemblock(banks: readonly RamBank[], opts: Arm64BootOptions = {}): Memblock {
  const mb = new Memblock(banks);
  if (opts.kernel) mb.reserve(opts.kernel.base, opts.kernel.size, 'kernel');
  if (opts.initrd) mb.reserve(opts.initrd.base, opts.initrd.size, 'initrd');
  for (const r of opts.dtReserved ?? []) mb.reserve(r.base, r.size, r.name ?? 'reserved-memory');
  mb.alloc(memmapBytes(banks), SZ_2M, 'memmap');
  if (opts.cmaBytes) {
    const limit = computeZones({ ram: banks, dtDmaLimit: opts.dtDmaLimit }).arm64DmaPhysLimit;
    mb.allocRange(opts.cmaBytes, SZ_2M, 0, limit, 'cma');
  }
  return mb;
}
