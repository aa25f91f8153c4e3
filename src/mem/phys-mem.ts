/**
 * Sparse physical memory: RAM banks with holes between them, 4 KiB frames materialised on first write.
 *
 * Reads of RAM that was never written return zero (as freshly booted DRAM is *not*, but as every page
 * the kernel hands out with __GFP_ZERO or that a dump omits is treated). An access into a hole is not an
 * exception: the accessor returns `ACCESS_FAULT` (-1) and the caller decides what that means (a bus error
 * for a device, a problem report for the dump walker).
 *
 * Hot path: every table walk, map and DMA goes through here, so the layout is chosen for a walker's
 * dependent loads. All materialised frames live in ONE Uint32Array, `words`, 1024 words per frame slot;
 * slot 0 is a frame of zeros that is never written. A 4 GiB window (address bits 51:32) written to has
 * an index of 2^20 entries, one per frame (bits 31:12), holding the word offset of the frame's slot, or
 * 0 - the zero frame - for a frame never written; that index lives in `words` too (1024 slots taken
 * when the window is first written). So a word is `words[words[win + (lo >>> 12)] + word]`: two loads
 * from one typed array, no object per frame, no `undefined` test (a never-written frame reads as zeros
 * by construction), and an index page costs nothing until written (the OS hands out zeroed pages
 * lazily). The last window found is cached in fields. `words` is replaced by a larger copy when it
 * fills up, so a caller re-reads `mem.words` after anything that may write memory.
 * Against one Uint32Array object per frame (the first layout) this drops the frame object's map check,
 * length and data-pointer loads from every table level (bench/README.md).
 * Everything is little-endian, as on every modelled SoC.
 */
export const FRAME_SHIFT = 12;
export const FRAME_SIZE = 4096;
export const ACCESS_FAULT = -1;

export interface RamBank {
  base: number;
  size: number;
  name?: string;
}

/** Anything a table walker can read 32-bit little-endian words from. -1 = nothing there. */
export interface MemReader {
  read32(addr: number): number;
  /** Whether [addr, addr+len) is backed (RAM for memory, present bytes for a dump). */
  isBacked(addr: number, len: number): boolean;
}

export interface MemWriter extends MemReader {
  /** Returns false when the address is not backed (a hole). */
  write32(addr: number, value: number): boolean;
}

/** Frames in one 4 GiB window. */
const WINDOW_FRAMES = 1 << 20;
/** Words in a frame. */
const FRAME_WORDS = FRAME_SIZE / 4;

/** 2^-32, exact: multiplying by it is the division by 2^32 without a divide instruction. */
const INV_TWO32 = 1 / 4294967296;

/**
 * Address bits 51:32 as an integer, given lo = addr >>> 0; -1 (a window that never holds RAM) when addr
 * is negative, fractional or too large to be an address, so such an address can never alias real RAM.
 */
function hiOf(addr: number, lo: number): number {
  const h = (addr - lo) * INV_TWO32;
  const hi = h | 0;
  return hi === h && hi >= 0 ? hi : -1;
}

export class PhysMem implements MemWriter {
  readonly banks: readonly RamBank[];
  /**
   * Every materialised frame's words, FRAME_WORDS per slot; slot 0 is the zero frame, never written.
   * Replaced by a larger copy when full: re-read it after anything that may write memory.
   */
  words: Uint32Array = new Uint32Array(16 * FRAME_WORDS);
  /**
   * Window indexes by address bits 51:32: the word offset in `words` of the window's index, whose
   * entry (bits 31:12) is the word offset of the frame's slot, 0 = never written.
   */
  private readonly windows = new Map<number, number>();
  /** The last window found (bits 51:32, and its index's offset): fields, so a hit loads no Map. */
  private cachedHi = -1;
  private cachedWin = 0;
  /** Slots never used yet start at nextSlot; freed slots (dropped frames) are reused first. */
  private nextSlot = 1;
  private readonly freeSlots: number[] = [];
  private frameCount = 0;
  private lastBank: RamBank | undefined;

  constructor(banks: RamBank[]) {
    const sorted = [...banks].sort((a, b) => a.base - b.base);
    for (let i = 0; i < sorted.length; i++) {
      const b = sorted[i];
      if (!Number.isSafeInteger(b.base) || !Number.isSafeInteger(b.size) || b.size <= 0 || b.base < 0)
        throw new RangeError(`bad RAM bank ${JSON.stringify(b)}`);
      if (b.base % FRAME_SIZE || b.size % FRAME_SIZE) throw new RangeError(`RAM bank not 4K aligned: ${JSON.stringify(b)}`);
      if (i > 0 && sorted[i - 1].base + sorted[i - 1].size > b.base)
        throw new RangeError(`RAM banks overlap at 0x${b.base.toString(16)}`);
    }
    this.banks = sorted;
  }

  get totalRam(): number {
    return this.banks.reduce((s, b) => s + b.size, 0);
  }

  /** The bank holding addr, or undefined for a hole. */
  bankOf(addr: number): RamBank | undefined {
    const lb = this.lastBank;
    if (lb && addr >= lb.base && addr < lb.base + lb.size) return lb;
    for (const b of this.banks) {
      if (addr >= b.base && addr < b.base + b.size) {
        this.lastBank = b;
        return b;
      }
    }
    return undefined;
  }

  isRam(addr: number, len = 1): boolean {
    const b = this.bankOf(addr);
    return !!b && addr + len <= b.base + b.size;
  }

  isBacked(addr: number, len: number): boolean {
    return this.isRam(addr, len);
  }

  /** Frames written so far (for dumps and for tests of sparseness). */
  get materialisedFrames(): number {
    return this.frameCount;
  }

  /** Frame numbers materialised, ascending (for writing dumps). */
  frameNumbers(): number[] {
    const out: number[] = [];
    for (const hi of [...this.windows.keys()].sort((a, b) => a - b)) {
      const win = this.windows.get(hi) as number;
      const words = this.words;
      for (let i = 0; i < WINDOW_FRAMES; i++) if (words[win + i] !== 0) out.push(hi * WINDOW_FRAMES + i);
    }
    return out;
  }

  /**
   * Word offset in `words` of the materialised frame holding addr, or 0 (the zero frame) when that
   * frame was never written - unwritten RAM or a hole (`isRam` tells which). Read `words[base + i]`;
   * writing through a non-zero base is writing memory (never write through 0).
   */
  frameOffset(addr: number): number {
    const lo = addr >>> 0;
    return this.frameBase(hiOf(addr, lo), lo);
  }

  /**
   * frameOffset for an address given as halves (hi = bits 51:32, lo = bits 31:0, either sign): table
   * walkers that keep descriptor addresses as two 32-bit halves find a frame with integer arithmetic.
   * A walker may read `words[frameBase(h, l) + w]` without testing the base: a frame never written
   * reads as zeros, as the RAM behind it does.
   */
  frameBase(hi: number, lo: number): number {
    return hi === this.cachedHi ? this.words[this.cachedWin + (lo >>> 12)] : this.frameBaseMiss(hi, lo);
  }

  /** A copy of the words of the frame holding addr, or undefined when it was never written. */
  frameSnapshot(addr: number): Uint32Array | undefined {
    const b = this.frameOffset(addr);
    return b === 0 ? undefined : this.words.slice(b, b + FRAME_WORDS);
  }

  /** frameBase in a window other than the cached one: a Map lookup, cached when the window exists. */
  private frameBaseMiss(hi: number, lo: number): number {
    const w = this.windows.get(hi);
    if (w === undefined) return 0;
    this.cachedHi = hi;
    this.cachedWin = w;
    return this.words[w + (lo >>> 12)];
  }

  /** `n` slots never used yet, contiguous, growing `words` when full: the word offset of the first. */
  private takeSlots(n: number): number {
    const base = this.nextSlot * FRAME_WORDS;
    const end = base + n * FRAME_WORDS;
    if (end > this.words.length) {
      // Double (a copy; offsets stay valid) until it fits. Offsets are int32: at most 2^31 words.
      let len = this.words.length;
      while (len < end) len *= 2;
      if (len > 2 ** 31) throw new RangeError('PhysMem: more than 8 GiB of frames written');
      const grown = new Uint32Array(len);
      grown.set(this.words.subarray(0, base));
      this.words = grown;
    }
    this.nextSlot += n;
    return base;
  }

  /** Word offset of the frame holding addr, created (zeroed) if it is RAM and was never written; 0 in a hole. */
  private materialise(addr: number): number {
    const lo = addr >>> 0;
    const hi = hiOf(addr, lo);
    const have = this.frameBase(hi, lo);
    if (have !== 0) return have;
    // A fractional address inside a bank is no address (hiOf = -1): nothing to materialise.
    if (hi < 0 || !this.isRam(addr)) return 0;
    let win = this.windows.get(hi);
    if (win === undefined) {
      // A window's index is WINDOW_FRAMES words of `words` itself (WINDOW_FRAMES / FRAME_WORDS slots):
      // a walk then bounds-checks one typed array, not two.
      win = this.takeSlots(WINDOW_FRAMES / FRAME_WORDS);
      this.windows.set(hi, win);
    }
    let base: number;
    const free = this.freeSlots.pop();
    if (free !== undefined) {
      base = free;
      this.words.fill(0, base, base + FRAME_WORDS);
    } else {
      base = this.takeSlots(1);
    }
    this.words[win + (lo >>> 12)] = base;
    this.frameCount++;
    return base;
  }

  /** Forget the frame holding addr (it reads as zero again); its slot is reused by a later frame. */
  private drop(addr: number): void {
    const lo = addr >>> 0;
    const win = this.windows.get(hiOf(addr, lo));
    const base = win === undefined ? 0 : this.words[win + (lo >>> 12)];
    if (win === undefined || base === 0) return;
    this.words[win + (lo >>> 12)] = 0;
    this.freeSlots.push(base);
    this.frameCount--;
  }

  read32(addr: number): number {
    const lo = addr >>> 0;
    if ((lo & 3) !== 0) return this.readUnaligned(addr, 4);
    const base = this.frameBase(hiOf(addr, lo), lo);
    if (base !== 0) return this.words[base + ((lo & 0xfff) >>> 2)];
    return this.isRam(addr) ? 0 : ACCESS_FAULT;
  }

  write32(addr: number, value: number): boolean {
    const lo = addr >>> 0;
    if ((lo & 3) !== 0) return this.writeBytes(addr, le32(value));
    const base = this.materialise(addr);
    if (base === 0) return false;
    this.words[base + ((lo & 0xfff) >>> 2)] = value;
    return true;
  }

  /** 64-bit read as two halves into out[0]=lo, out[1]=hi. Returns false on a hole. */
  read64(addr: number, out: Uint32Array | number[]): boolean {
    const lo = this.read32(addr);
    const hi = this.read32(addr + 4);
    if (lo === ACCESS_FAULT || hi === ACCESS_FAULT) return false;
    out[0] = lo;
    out[1] = hi;
    return true;
  }

  write64(addr: number, lo: number, hi: number): boolean {
    if (!this.isRam(addr, 8)) return false;
    this.write32(addr, lo);
    this.write32(addr + 4, hi);
    return true;
  }

  read8(addr: number): number {
    const base = this.frameOffset(addr);
    if (base === 0) return this.isRam(addr) ? 0 : ACCESS_FAULT;
    const w = this.words[base + ((addr & 0xfff) >>> 2)];
    return (w >>> ((addr & 3) * 8)) & 0xff;
  }

  write8(addr: number, value: number): boolean {
    const base = this.materialise(addr);
    if (base === 0) return false;
    const i = base + ((addr & 0xfff) >>> 2);
    const sh = (addr & 3) * 8;
    this.words[i] = ((this.words[i] & ~(0xff << sh)) | ((value & 0xff) << sh)) >>> 0;
    return true;
  }

  private readUnaligned(addr: number, n: number): number {
    let v = 0;
    for (let i = n - 1; i >= 0; i--) {
      const b = this.read8(addr + i);
      if (b === ACCESS_FAULT) return ACCESS_FAULT;
      v = v * 256 + b;
    }
    return v >>> 0;
  }

  /** The bytes of `words` from word offset base + byte off, chunk long (a view: valid until words grows). */
  private bytesAt(base: number, off: number, chunk: number): Uint8Array {
    return new Uint8Array(this.words.buffer, base * 4 + off, chunk);
  }

  /** Read len bytes. Returns null if any byte is in a hole. */
  readBytes(addr: number, len: number): Uint8Array | null {
    if (!this.isRangeRam(addr, len)) return null;
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = addr + done;
      const off = a & 0xfff;
      const chunk = Math.min(len - done, FRAME_SIZE - off);
      const base = this.frameOffset(a);
      if (base !== 0) out.set(this.bytesAt(base, off, chunk), done);
      done += chunk;
    }
    return out;
  }

  /** Write bytes. Returns false (writing nothing) if any byte is in a hole. */
  writeBytes(addr: number, data: Uint8Array): boolean {
    if (!this.isRangeRam(addr, data.length)) return false;
    let done = 0;
    while (done < data.length) {
      const a = addr + done;
      const off = a & 0xfff;
      const chunk = Math.min(data.length - done, FRAME_SIZE - off);
      const base = this.materialise(a);
      if (base === 0) return false; // only a fractional address (every chunk of it) gets here
      this.bytesAt(base, off, chunk).set(data.subarray(done, done + chunk));
      done += chunk;
    }
    return true;
  }

  /** Fill with a byte value (memset). Zero-filling whole frames drops them back to sparse. */
  fill(addr: number, len: number, value = 0): boolean {
    if (!this.isRangeRam(addr, len)) return false;
    let done = 0;
    while (done < len) {
      const a = addr + done;
      const off = a & 0xfff;
      const chunk = Math.min(len - done, FRAME_SIZE - off);
      if (value === 0 && off === 0 && chunk === FRAME_SIZE) {
        this.drop(a);
      } else {
        const base = value === 0 ? this.frameOffset(a) : this.materialise(a);
        if (base !== 0) this.bytesAt(base, off, chunk).fill(value);
      }
      done += chunk;
    }
    return true;
  }

  /** memcpy within physical memory (handles overlap like memmove). */
  copy(dst: number, src: number, len: number): boolean {
    const data = this.readBytes(src, len);
    if (!data) return false;
    return this.writeBytes(dst, data);
  }

  /** Whether every byte of [addr, addr+len) is RAM (may span adjacent banks). */
  isRangeRam(addr: number, len: number): boolean {
    let a = addr;
    const end = addr + len;
    while (a < end) {
      const b = this.bankOf(a);
      if (!b) return false;
      a = b.base + b.size;
    }
    return true;
  }
}

function le32(v: number): Uint8Array {
  return new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]);
}
