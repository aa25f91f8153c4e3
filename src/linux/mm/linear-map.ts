/**
 * The arm64 kernel linear map (arch/arm64/include/asm/memory.h, Linux 6.12): every RAM page is mapped at
 * a fixed offset, so phys_to_virt / virt_to_phys are pure arithmetic.
 *
 *   PAGE_OFFSET  = -(1 << VA_BITS)                               (memory.h:44-45)
 *   PAGE_END     = -(1 << (VA_BITS_MIN - 1)): the linear map is [PAGE_OFFSET, PAGE_END) (memory.h:66, 110)
 *   PHYS_OFFSET  = memstart_addr = round_down(start of DRAM, ARM64_MEMSTART_ALIGN) (arch/arm64/mm/init.c:210-211),
 *                  lowered by a multiple of the alignment under KASLR (init.c:279-296)
 *   phys_to_virt(p) = (p - PHYS_OFFSET) | PAGE_OFFSET            (memory.h:353): no check that p is RAM
 *   virt_to_phys(v) = (v - PAGE_OFFSET) + PHYS_OFFSET for linear addresses (memory.h:333-341)
 *   virt_addr_valid(v) = linear address && pfn_is_map_memory(pfn) (memory.h:425-427)
 *
 * A kernel virtual address does not fit a JS number exactly (0xffff... > 2^53), so we carry it as its
 * offset from PAGE_OFFSET (< 2^VA_BITS <= 2^52) and print it the kernel's way (`%px`: 16 hex digits).
 * Kernel-image addresses (virt_to_phys via kimage_voffset) are not modelled.
 */
import { InputError, hi32, lo32 } from '../../addr.js';
import type { RamBank } from '../../mem/phys-mem.js';

/** A kernel virtual address, held as its offset above PAGE_OFFSET. */
export type KernelVirt = number & { readonly __kind?: 'kva' };

export interface LinearMapOptions {
  banks: readonly RamBank[];
  /** CONFIG_ARM64_VA_BITS (48 on Debian arm64 with 4K pages). */
  vaBits?: number;
  /** VA_BITS_MIN (memory.h:56-63): 48 for 52-bit VA with 4K pages, 47 with 16K, else VA_BITS. */
  vaBitsMin?: number;
  /**
   * ARM64_MEMSTART_ALIGN (arch/arm64/mm/init.c:76-94): 1 GiB with 4K pages (PUD_SHIFT 30), also 1 GiB
   * with 16K (CONT_PMD_SHIFT = 5 + PMD_SHIFT 25), 512 MiB with 64K. Default: memstartAlignFor(pageSize).
   */
  memstartAlign?: number;
  /** The kernel's PAGE_SIZE (default 4096): virt_addr_valid looks at the page holding the address. */
  pageSize?: number;
  /** KASLR's downward shift of memstart_addr, in multiples of memstartAlign (default 0: nokaslr). */
  kaslrSlots?: number;
}

const TWO32 = 0x1_0000_0000;

/**
 * ARM64_MEMSTART_ALIGN for a page size: 1 << max(ARM64_MEMSTART_SHIFT, SECTION_SIZE_BITS 27)
 * (arch/arm64/mm/init.c:76-94): PUD_SHIFT 30 at 4K, CONT_PMD_SHIFT 30 at 16K, PMD_SHIFT 29 at 64K.
 */
export function memstartAlignFor(pageSize = 4096): number {
  if (pageSize === 65536) return 2 ** 29;
  return 2 ** 30;
}

export class LinearMap {
  readonly vaBits: number;
  readonly vaBitsMin: number;
  /** PHYS_OFFSET (memstart_addr). May be negative only under absurd KASLR settings; we reject that. */
  readonly physOffset: number;
  /** Size of the linear region: PAGE_END - PAGE_OFFSET. */
  readonly linearSize: number;
  readonly pageSize: number;
  private readonly banks: RamBank[];
  /** High 32 bits of PAGE_OFFSET. */
  private readonly pageOffsetHi: number;

  constructor(opts: LinearMapOptions) {
    this.vaBits = opts.vaBits ?? 48;
    if (!Number.isInteger(this.vaBits) || this.vaBits < 36 || this.vaBits > 52)
      throw new RangeError(`vaBits ${this.vaBits}: arm64 supports 36..52`);
    this.vaBitsMin = opts.vaBitsMin ?? Math.min(this.vaBits, 48);
    this.pageSize = opts.pageSize ?? 4096;
    const align = opts.memstartAlign ?? memstartAlignFor(this.pageSize);
    this.banks = [...opts.banks].sort((a, b) => a.base - b.base);
    if (this.banks.length === 0) throw new RangeError('LinearMap: no RAM');
    const start = this.banks[0].base;
    this.physOffset = start - (start % align) - (opts.kaslrSlots ?? 0) * align;
    if (this.physOffset < 0) throw new RangeError('LinearMap: KASLR offset below physical address 0');
    this.linearSize = 2 ** (this.vaBitsMin - 1);
    this.pageOffsetHi = TWO32 - 2 ** (this.vaBits - 32);
  }

  /** PAGE_OFFSET printed, e.g. "ffff000000000000". */
  get pageOffsetText(): string {
    return formatHalves(this.pageOffsetHi, 0);
  }

  /** phys_to_virt: (p - PHYS_OFFSET) | PAGE_OFFSET, i.e. modulo 2^VA_BITS above PAGE_OFFSET. */
  physToVirt(pa: number): KernelVirt {
    const span = 2 ** this.vaBits;
    return ((((pa - this.physOffset) % span) + span) % span) as KernelVirt;
  }

  /** __is_lm_address. */
  isLinear(va: KernelVirt): boolean {
    return va >= 0 && va < this.linearSize;
  }

  /** virt_to_phys for a linear-map address; undefined for anything else (kernel image, vmalloc, ...). */
  virtToPhys(va: KernelVirt): number | undefined {
    if (!this.isLinear(va)) return undefined;
    return va + this.physOffset;
  }

  /** virt_addr_valid: a linear-map address whose page is mapped RAM. */
  virtAddrValid(va: KernelVirt): boolean {
    const pa = this.virtToPhys(va);
    if (pa === undefined) return false;
    const page = pa - (pa % this.pageSize);
    return this.banks.some((b) => page >= b.base && page < b.base + b.size);
  }

  /** `%px` of a kernel virtual address: 16 lowercase hex digits, no prefix ("ffff0000c0001000"). */
  format(va: KernelVirt): string {
    return formatHalves(this.pageOffsetHi + hi32(va), lo32(va));
  }

  /** "0x" + format(va), as `%#llx` / `%#lx` print it. */
  formatHex(va: KernelVirt): string {
    return '0x' + this.format(va);
  }

  /** Parse "ffff0000c0001000" / "0xffff0000c0001000" into a KernelVirt; InputError if not at or above PAGE_OFFSET. */
  parse(text: string, what = 'kernel virtual address'): KernelVirt {
    const t = text.trim().replace(/^0x/i, '').replace(/_/g, '');
    if (!/^[0-9a-f]{1,16}$/i.test(t)) throw new InputError(`${what} '${text}' is not a 64-bit hex value`);
    const padded = t.padStart(16, '0');
    const hi = parseInt(padded.slice(0, 8), 16);
    const lo = parseInt(padded.slice(8), 16);
    if (hi < this.pageOffsetHi)
      throw new InputError(`${what} '${text}' is below PAGE_OFFSET ${this.pageOffsetText} (VA_BITS=${this.vaBits})`);
    return ((hi - this.pageOffsetHi) * TWO32 + lo) as KernelVirt;
  }
}

function formatHalves(hi: number, lo: number): string {
  return (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}
