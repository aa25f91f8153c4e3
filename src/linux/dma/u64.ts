/**
 * 64-bit kernel quantities that do not fit a JS number exactly.
 *
 * Addresses in iommu-lab stay below 2^52, but the DMA layer also handles all-ones values: DMA_MAPPING_ERROR
 * (~0), IOVA_ANCHOR (~0UL), DMA_BIT_MASK(64), ULONG_MAX segment boundaries. We hold any value of 2^53 or
 * more as a float that is only ever *compared* with real addresses (every real address is smaller), and
 * print masks back in the kernel's form. `U64_MAX` is 2^64 as a float: it compares greater than every
 * address and equal to itself, which is all the kernel code asks of ~0.
 */

export const U64_MAX = 2 ** 64;
/** dma_addr_t DMA_MAPPING_ERROR (include/linux/dma-mapping.h: (~(dma_addr_t)0)). */
export const DMA_MAPPING_ERROR = U64_MAX;
/** Largest value we hold exactly. */
const EXACT = 2 ** 53;

/** Parse a "0x..." hex string of up to 64 bits (values >= 2^53 become the nearest float: masks, ~0). */
export function parseU64(text: string): number {
  const t = text.trim().toLowerCase();
  if (!/^0x[0-9a-f]{1,16}$/.test(t)) throw new Error(`not a hex u64: ${text}`);
  const h = t.slice(2).replace(/^0+(?=.)/, '');
  if (h.length === 16 && /^f+$/.test(h)) return U64_MAX;
  return parseInt(h, 16);
}

/** Print like the kernel's %#llx: lowercase, no padding. Values >= 2^53 are printed as all-ones masks. */
export function hexU64(n: number): string {
  if (n >= EXACT) {
    const bits = Math.round(Math.log2(n));
    return '0x' + 'f'.repeat(Math.ceil(bits / 4));
  }
  return '0x' + n.toString(16);
}

/** DMA_BIT_MASK(n). */
export function dmaBitMask(n: number): number {
  if (n >= 64) return U64_MAX;
  if (n >= 53) return 2 ** n; // nearest float of 2^n - 1; compares above every address
  return 2 ** n - 1;
}

/** min_not_zero(a, b) (include/linux/minmax.h). */
export function minNotZero(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return Math.min(a, b);
}

/** fls64: index of the highest set bit, 1-based; 0 for 0. */
export function fls64(n: number): number {
  if (n <= 0) return 0;
  if (n >= EXACT) return Math.round(Math.log2(n));
  let bits = 0;
  let v = n;
  while (v >= 1) {
    v = Math.floor(v / 2);
    bits++;
  }
  return bits;
}

/** bits_per(n) (include/linux/log2.h): bits needed to hold n; 1 for 0 and 1. */
export function bitsPer(n: number): number {
  return n < 2 ? 1 : fls64(n);
}

/** roundup_pow_of_two(n), n >= 1. */
export function roundupPowOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** order_base_2(n): ceil(log2(n)); 0 for n <= 1. */
export function orderBase2(n: number): number {
  let o = 0;
  while (2 ** o < n) o++;
  return o;
}

export function isPowerOf2(n: number): boolean {
  return n > 0 && Number.isInteger(n) && (n & (n - 1)) === 0 && n < 2 ** 31
    ? true
    : n > 0 && Number.isInteger(Math.log2(n));
}

/** `n & mask` where mask is a low-bits mask (2^k - 1) and n may exceed 32 bits. */
export function lowBits(n: number, mask: number): number {
  return n % (mask + 1);
}
