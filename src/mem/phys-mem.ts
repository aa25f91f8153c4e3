/**
 * Sparse physical memory: RAM banks with holes between them, 4 KiB frames materialised on first write.
 *
 * Reads of RAM that was never written return zero (as freshly booted DRAM is *not*, but as every page
 * the kernel hands out with __GFP_ZERO or that a dump omits is treated). An access into a hole is not an
 * exception: the accessor returns `ACCESS_FAULT` (-1) and the caller decides what that means (a bus error
 * for a device, a problem report for the dump walker).
 *
 * Hot path: every table walk, map and DMA goes through `read32`/`write32`, so frames are found through a
 * two-level index instead of a hash lookup per word: [address bits 51:32 | 31:12]. The top level (one
 * entry per 4 GiB window) is a Map with a one-entry cache, because nearly every run touches one or two
 * windows; below it one flat array of frames per window, indexed by frame number within the window minus
 * the window's lowest frame written so far, and only as long as the span of frames written in the window
 * (it grows by doubling: a 4 GiB window of 2^20 slots costs ~25 ms to allocate, paid only by what writes
 * that far apart). An aligned access is then one compare, one subtraction, one array load and one
 * Uint32Array slot, with no allocation and no hashing; the index never thrashes between the levels of a
 * page table as a one-frame cache did. Against the earlier [51:32 | 31:22 | 21:12] radix this drops one
 * dependent load per table level: ~15% off a 4-level walk (bench/README.md).
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

/**
 * The frames of one 4 GiB window, slot i holding frame `base + i` of the window (address bits 31:12;
 * undefined: never written). A load past the end reads undefined as a never-written slot does.
 */
type FrameWindow = (Uint32Array | undefined)[];

interface Window {
  base: number;
  frames: FrameWindow;
}

/** Frames in one 4 GiB window. */
const WINDOW_FRAMES = 1 << 20;

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

function filledArray<T>(n: number, v: T): T[] {
  // Built by push so V8 keeps the elements packed (new Array(n) would make them holey: slower loads).
  const a: T[] = [];
  for (let i = 0; i < n; i++) a.push(v);
  return a;
}

/**
 * Shared, never written: the window of every 4 GiB with nothing written yet, so a lookup is one
 * unconditional array load and one `undefined` test. One `undefined` element (not zero) so that it has
 * the same elements kind as a real window and the load stays monomorphic; indices past it read undefined.
 */
// Not frozen: a frozen array has another elements kind, which would make every index load polymorphic.
const EMPTY_WINDOW: FrameWindow = filledArray<Uint32Array | undefined>(1, undefined);

export class PhysMem implements MemWriter {
  readonly banks: readonly RamBank[];
  /** 4 GiB windows by address bits 51:32 (see the file comment). */
  private readonly windows = new Map<number, Window>();
  /**
   * The last window looked up, as its frames and base (EMPTY_WINDOW and 0 for a window with nothing
   * written yet): kept in fields of their own so the hit path loads no Window object.
   */
  private cachedHi = -1;
  private cachedWin: FrameWindow = EMPTY_WINDOW;
  private cachedBaseLo = 0;
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
      const { base, frames } = this.windows.get(hi) as Window;
      for (let i = 0; i < frames.length; i++) if (frames[i] !== undefined) out.push(hi * 2 ** 20 + base + i);
    }
    return out;
  }

  /**
   * The words of the materialised frame holding addr, or undefined when that frame was never written
   * (unwritten RAM, or a hole: `isRam` tells which). For bulk users inside this module and for callers
   * that index one frame many times; writing through it is writing memory.
   */
  frameWords(addr: number): Uint32Array | undefined {
    const lo = addr >>> 0;
    return this.frameAt(hiOf(addr, lo), lo);
  }

  /**
   * frameWords for an address given as halves (hi = bits 51:32, lo = bits 31:0 as uint32): table walkers
   * that keep descriptor addresses as two 32-bit halves find a frame with integer arithmetic only.
   */
  frameAt(hi: number, lo: number): Uint32Array | undefined {
    // (lo - base address) mod 2^32, in frames: a frame below the window's base wraps to an index of at
    // least 2^20 - base, past the array's end (it never reaches the window's end), so it reads undefined
    // with no branch; a bounds test here measured ~20% slower per walk.
    const win = hi === this.cachedHi ? this.cachedWin : this.windowOf(hi);
    return win[(lo - this.cachedBaseLo) >>> 12];
  }

  private windowOf(hi: number): FrameWindow {
    const w = this.windows.get(hi);
    this.cachedHi = hi;
    this.cachedWin = w === undefined ? EMPTY_WINDOW : w.frames;
    this.cachedBaseLo = w === undefined ? 0 : w.base << 12;
    return this.cachedWin;
  }

  /** The frame holding addr, created (zeroed) if it is RAM and was never written; undefined in a hole. */
  private materialise(addr: number): Uint32Array | undefined {
    const f = this.frameWords(addr);
    if (f !== undefined) return f;
    const lo = addr >>> 0;
    const hi = hiOf(addr, lo);
    // A fractional address inside a bank is no address (hiOf = -1): nothing to materialise.
    if (hi < 0 || !this.isRam(addr)) return undefined;
    const n = lo >>> 12;
    let w = this.windows.get(hi);
    if (w === undefined) {
      w = { base: n, frames: filledArray<Uint32Array | undefined>(1, undefined) };
      this.windows.set(hi, w);
    } else if (n < w.base) {
      // Grow downwards, at least doubling, into a new packed array (push keeps the elements packed).
      const old = w.frames;
      const base = Math.max(0, Math.min(n, w.base - old.length));
      const frames = filledArray<Uint32Array | undefined>(w.base - base, undefined);
      for (let i = 0; i < old.length; i++) frames.push(old[i]);
      w.base = base;
      w.frames = frames;
    } else if (n - w.base >= w.frames.length) {
      // Grow upwards, at least doubling (capped at the window's end), in place.
      const frames = w.frames;
      const len = Math.min(WINDOW_FRAMES - w.base, Math.max(n - w.base + 1, frames.length * 2));
      while (frames.length < len) frames.push(undefined);
    }
    if (hi === this.cachedHi) {
      this.cachedWin = w.frames;
      this.cachedBaseLo = w.base << 12;
    }
    const frame = new Uint32Array(FRAME_SIZE / 4);
    w.frames[n - w.base] = frame;
    this.frameCount++;
    return frame;
  }

  /** Forget the frame holding addr (it reads as zero again). */
  private drop(addr: number): void {
    const lo = addr >>> 0;
    const w = this.windows.get(hiOf(addr, lo));
    const i = w === undefined ? -1 : (lo >>> 12) - w.base;
    if (w === undefined || i < 0 || w.frames[i] === undefined) return;
    w.frames[i] = undefined;
    this.frameCount--;
  }

  read32(addr: number): number {
    const lo = addr >>> 0;
    if ((lo & 3) !== 0) return this.readUnaligned(addr, 4);
    // frameWords inlined by hand: this is the hottest function of the simulator.
    const hi = hiOf(addr, lo);
    const win = hi === this.cachedHi ? this.cachedWin : this.windowOf(hi);
    const f = win[(lo - this.cachedBaseLo) >>> 12];
    if (f !== undefined) return f[(lo & 0xfff) >>> 2];
    return this.isRam(addr) ? 0 : ACCESS_FAULT;
  }

  write32(addr: number, value: number): boolean {
    const lo = addr >>> 0;
    if ((lo & 3) !== 0) return this.writeBytes(addr, le32(value));
    const f = this.frameWords(addr) ?? this.materialise(addr);
    if (f === undefined) return false;
    f[(lo & 0xfff) >>> 2] = value;
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
    const f = this.frameWords(addr);
    if (f === undefined) return this.isRam(addr) ? 0 : ACCESS_FAULT;
    const w = f[(addr & 0xfff) >>> 2];
    return (w >>> ((addr & 3) * 8)) & 0xff;
  }

  write8(addr: number, value: number): boolean {
    const f = this.frameWords(addr) ?? this.materialise(addr);
    if (f === undefined) return false;
    const i = (addr & 0xfff) >>> 2;
    const sh = (addr & 3) * 8;
    f[i] = ((f[i] & ~(0xff << sh)) | ((value & 0xff) << sh)) >>> 0;
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

  /** Read len bytes. Returns null if any byte is in a hole. */
  readBytes(addr: number, len: number): Uint8Array | null {
    if (!this.isRangeRam(addr, len)) return null;
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = addr + done;
      const off = a & 0xfff;
      const chunk = Math.min(len - done, FRAME_SIZE - off);
      const f = this.frameWords(a);
      if (f) out.set(new Uint8Array(f.buffer, f.byteOffset + off, chunk), done);
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
      const f = this.materialise(a);
      if (f === undefined) return false; // only a fractional address (every chunk of it) gets here
      new Uint8Array(f.buffer, f.byteOffset + off, chunk).set(data.subarray(done, done + chunk));
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
        const f = value === 0 ? this.frameWords(a) : this.materialise(a);
        if (f) new Uint8Array(f.buffer, f.byteOffset + off, chunk).fill(value);
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
