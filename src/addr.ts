/**
 * Addresses above 32 bits as plain JS numbers.
 *
 * Every physical, bus (DMA) and IO virtual address in iommu-lab is a `number`, exact up to 2^53.
 * We validate them below 2^52 (the widest output address any modelled IOMMU can produce is 52 bits,
 * LPAE with 64K granule), so sums of an address and a size never lose precision.
 *
 * The three kinds are branded so that the type checker catches a DMA address passed where a physical
 * one is expected: that mix-up is exactly seed 002 (dma_map_single() returned a bounce address that was
 * then written into a page table as if it were physical). Brands cost nothing at run time.
 */

export type PhysAddr = number & { readonly __kind?: 'phys' };
export type DmaAddr = number & { readonly __kind?: 'dma' };
export type IovaAddr = number & { readonly __kind?: 'iova' };

export const ADDR_LIMIT = 2 ** 52;
export const TWO32 = 0x1_0000_0000;

/** Raised for bad user input (a CLI argument, a scenario value). Carries an optional location. */
export class InputError extends Error {
  constructor(
    message: string,
    readonly where?: string,
  ) {
    super(where ? `${where}: ${message}` : message);
    this.name = 'InputError';
  }
}

export function isAddr(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n < ADDR_LIMIT;
}

export function checkAddr(n: number, what = 'address'): number {
  if (!isAddr(n)) throw new InputError(`${what} ${String(n)} is not an integer in [0, 2^52)`);
  return n;
}

/** High 32 bits of an address or 64-bit value held in a number (< 2^53). */
export function hi32(n: number): number {
  return Math.floor(n / TWO32) >>> 0;
}

/** Low 32 bits, unsigned. `>>> 0` takes the value modulo 2^32, exact for integers below 2^53. */
export function lo32(n: number): number {
  return n >>> 0;
}

export function join64(hi: number, lo: number): number {
  return (hi >>> 0) * TWO32 + (lo >>> 0);
}

/** `n & mask` for values above 32 bits (both < 2^53). */
export function and64(n: number, mask: number): number {
  return join64(hi32(n) & hi32(mask), lo32(n) & lo32(mask));
}

export function alignDown(n: number, align: number): number {
  return n - (n % align);
}

export function alignUp(n: number, align: number): number {
  const r = n % align;
  return r === 0 ? n : n + (align - r);
}

export function isAligned(n: number, align: number): boolean {
  return n % align === 0;
}

/** DMA_BIT_MASK(n) as a number: 2^n - 1 (n <= 52), or 2^64-1 saturated to the largest we hold. */
export function bitMask(bits: number): number {
  if (bits >= 53) return Number.MAX_SAFE_INTEGER;
  return 2 ** bits - 1;
}

/** Number of bits needed to hold n (fls64). */
export function fls(n: number): number {
  if (n <= 0) return 0;
  return Math.floor(n).toString(2).length;
}

/** Kernel-style hex: lowercase, `0x` prefix, no separators (`%#llx`, `%pad` without padding). */
export function hex(n: number): string {
  return '0x' + n.toString(16);
}

/** Zero-padded to `digits` hex digits with 0x prefix (kernel `%#010x`-like, `%pad` is 0x%016llx). */
export function hexPad(n: number, digits: number): string {
  return '0x' + n.toString(16).padStart(digits, '0');
}

/** A 64-bit value given as two halves, zero-padded to 16 digits. */
export function hex64(hi: number, lo: number): string {
  return '0x' + (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  K: 1024,
  KB: 1024,
  KIB: 1024,
  M: 1024 ** 2,
  MB: 1024 ** 2,
  MIB: 1024 ** 2,
  G: 1024 ** 3,
  GB: 1024 ** 3,
  GIB: 1024 ** 3,
  T: 1024 ** 4,
  TB: 1024 ** 4,
  TIB: 1024 ** 4,
};

/**
 * Parse an address: decimal, `0x` hex with optional `_` separators (`0x1_0000_0000`), or with a size
 * unit (`4K`, `8G`). Throws InputError naming `what`.
 */
export function parseAddr(text: string, what = 'address'): number {
  const n = parseNumber(text, what);
  if (n >= ADDR_LIMIT) throw new InputError(`${what} '${text}' is 2^52 or more: beyond any modelled address space`);
  return n;
}

/** Parse a size: like parseAddr, e.g. "4K", "2M", "8G", "0x1000", "4096". Zero is allowed. */
export function parseSize(text: string, what = 'size'): number {
  return parseAddr(text, what);
}

function parseNumber(text: string, what: string): number {
  const t = String(text).trim();
  const m = /^(0x[0-9a-f_]+|[0-9][0-9_]*)\s*([kmgt]i?b?|b)?$/i.exec(t);
  if (!m) throw new InputError(`${what} '${text}' is not a number (use 4096, 0x1000, 0x1_0000_0000, 4K, 8G)`);
  const digits = m[1].replace(/_/g, '');
  if (digits === '0x' || /__|_$/.test(m[1])) throw new InputError(`${what} '${text}' is not a well-formed number`);
  let value: number;
  if (/^0x/i.test(digits)) {
    const h = digits.slice(2);
    if (h.length > 16) throw new InputError(`${what} '${text}' has too many hex digits`);
    value = parseInt(h, 16);
  } else {
    value = parseInt(digits, 10);
  }
  const unit = (m[2] ?? '').toUpperCase();
  const mult = SIZE_UNITS[unit];
  if (mult === undefined) throw new InputError(`${what} '${text}' has an unknown unit '${m[2]}'`);
  value *= mult;
  if (!Number.isSafeInteger(value)) throw new InputError(`${what} '${text}' does not fit in 53 bits`);
  return value;
}

/** Human size: 4096 -> "4K", 0x200000000 -> "8G", odd sizes as hex. */
export function formatSize(n: number): string {
  const units: [number, string][] = [
    [1024 ** 4, 'T'],
    [1024 ** 3, 'G'],
    [1024 ** 2, 'M'],
    [1024, 'K'],
  ];
  for (const [mult, u] of units) if (n >= mult && n % mult === 0) return `${n / mult}${u}`;
  return n < 1024 ? `${n}` : hex(n);
}

/** Kernel's %pa / %pad style: 0x followed by 16 hex digits. */
export function pad(n: number): string {
  return hexPad(n, 16);
}
