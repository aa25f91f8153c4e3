/**
 * Sparse physical memory: RAM banks with holes between them, 4 KiB frames materialised on first write.
 *
 * Reads of RAM that was never written return zero (as freshly booted DRAM is *not*, but as every page
 * the kernel hands out with __GFP_ZERO or that a dump omits is treated). An access into a hole is not an
 * exception: the accessor returns `ACCESS_FAULT` (-1) and the caller decides what that means (a bus error
 * for a device, a problem report for the dump walker).
 *
 * Hot path: every table walk, map and DMA goes through here, so the layout is chosen for a walker's
 * dependent loads. RAM is cut into *extents*: a bank's part inside one 4 GiB window (address bits
 * 51:32). An extent's bytes are one flat Uint32Array, made when the extent is first touched and never
 * moved, so a word is `xWords[(lo - xLo) >>> 2]`: a subtraction, not a lookup. The kernel does the same
 * with its linear map (`__va(pa)` is an add), and that is what issue 3's benchmark compares with: a
 * per-frame index (the previous layout, bench/README.md "Sixth pass") put one more dependent load on
 * every table level. The array is as long as the extent (up to 4 GiB) but costs nothing until
 * written: the OS maps the untouched pages of a fresh zeroed allocation to its zero page, so memory is
 * sparse at the OS page, as the kernel harness's mmap'd region is. Which 4K frames were ever written is
 * kept in a byte map per extent (for dumps, `frameNumbers`, and tests of sparseness); a zero-fill of a
 * whole frame forgets it again.
 * The last extent found is cached in public fields (`xHi`, `xLo`, `xNWords`, `xWords`, `xWritten`)
 * that a compiled walk reads directly; `wordAt`/`tableWordAt` move the cache. `release()` hands the
 * storage on to the next PhysMem when its owner is done.
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

/** A bank's part inside one 4 GiB window: its words, made on first touch, and its written frames. */
interface Extent {
  /** Address bits 51:32 of every byte in it. */
  hi: number;
  /** Low 32 bits of its first byte (4K-aligned), as an int32. */
  lo: number;
  /** Its length in 32-bit words (at most 2^30). */
  nWords: number;
  /** Physical frame number of its first frame. */
  firstFrame: number;
  words: Uint32Array | null;
  /** One byte per frame: 1 when written since it was last zero-filled whole. */
  written: Uint8Array | null;
}

/**
 * Extent storage given back by `release`, zeroed, by length in words: the next PhysMem with an
 * extent of that length takes it instead of making one. Why: V8 counts a new array's whole length as
 * external memory and answers an allocation above 64 MiB with a full garbage collection, so a run of
 * scenarios on 8 GiB boards spent more time collecting than simulating (`npm start` 3.3 s -> 6.3 s);
 * reused storage costs only the zeroing of the frames written. At most SPARE_PER_LENGTH kept per length.
 */
const spare = new Map<number, { words: Uint32Array; written: Uint8Array }[]>();
const SPARE_PER_LENGTH = 2;

/**
 * The cached "extent" when there is none (at first, after a hole, after release): no length, so every
 * access goes to the miss path; and what tableWordAt reads in a hole - one zero entry, in a frame
 * never written.
 */
const HOLE_WORDS = new Uint32Array(2);
const HOLE_FRAMES = new Uint8Array(1);

export class PhysMem implements MemWriter {
  readonly banks: readonly RamBank[];
  /** Every extent, in address order. */
  private readonly extents: Extent[] = [];
  /**
   * The cached extent, for walkers: address bits 51:32 (-1: none), the low half of its first byte as
   * an int32, its length in words, its words and written-frame map. A word at (hi, lo) with
   * `hi === xHi` and `w = ((lo - xLo) | 0) >>> 2` below `xNWords` is `xWords[w]`; anything else goes
   * through `wordAt`, which moves the cache (re-read `xWords` after calling it).
   */
  xHi = -1;
  xLo = 0;
  xNWords = 0;
  xWords: Uint32Array = HOLE_WORDS;
  xWritten: Uint8Array = HOLE_FRAMES;
  private frameCount = 0;
  private lastBank: RamBank | undefined;
  private released = false;

  constructor(banks: RamBank[]) {
    const sorted = [...banks].sort((a, b) => a.base - b.base);
    for (let i = 0; i < sorted.length; i++) {
      const b = sorted[i];
      if (!Number.isSafeInteger(b.base) || !Number.isSafeInteger(b.size) || b.size <= 0 || b.base < 0)
        throw new RangeError(`bad RAM bank ${JSON.stringify(b)}`);
      if (b.base % FRAME_SIZE || b.size % FRAME_SIZE) throw new RangeError(`RAM bank not 4K aligned: ${JSON.stringify(b)}`);
      if (b.base + b.size > 2 ** 52) throw new RangeError(`RAM bank beyond 2^52: ${JSON.stringify(b)}`);
      if (i > 0 && sorted[i - 1].base + sorted[i - 1].size > b.base)
        throw new RangeError(`RAM banks overlap at 0x${b.base.toString(16)}`);
    }
    this.banks = sorted;
    for (const b of sorted) {
      // Cut at every 4 GiB boundary: an extent's offsets are then 32-bit.
      let a = b.base;
      const end = b.base + b.size;
      while (a < end) {
        const hi = Math.floor(a * INV_TWO32);
        const stop = Math.min(end, (hi + 1) * 4294967296);
        this.extents.push({ hi, lo: a | 0, nWords: (stop - a) / 4, firstFrame: a / FRAME_SIZE, words: null, written: null });
        a = stop;
      }
    }
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
    for (const x of this.extents) {
      const w = x.written;
      if (w === null) continue;
      for (let i = 0; i < w.length; i++) if (w[i] !== 0) out.push(x.firstFrame + i);
    }
    return out;
  }

  /** A copy of the words of the frame holding addr, or undefined when it was never written. */
  frameSnapshot(addr: number): Uint32Array | undefined {
    const w = this.wordOf(addr);
    if (w < 0 || this.xWritten[w >>> 10] === 0) return undefined;
    const b = w & ~(FRAME_WORDS - 1);
    return this.xWords.slice(b, b + FRAME_WORDS);
  }

  /**
   * Index in `xWords` of the word holding address (hi, lo) - hi = bits 51:32, lo = bits 31:0 as an
   * int32 or uint32 - after making its extent the cached one; -1 in a hole. A walker with an address
   * as two 32-bit halves finds its word with integer arithmetic; the inlined test is one compare
   * and one subtraction when the extent is the cached one.
   */
  wordAt(hi: number, lo: number): number {
    const w = ((lo - this.xLo) | 0) >>> 2;
    return hi === this.xHi && w < this.xNWords ? w : this.wordMiss(hi, lo);
  }

  /**
   * wordAt for a compiled table walk, which must stay small (V8 inlines it into its caller only
   * within a bytecode budget): in a hole it returns 0 in a pair of zero words made the cached
   * "extent" (with no length, so the next access moves the cache again), which a walk reads as a zero
   * entry with no test of its own - an invalid entry, sending it to its generic walk or ending it as
   * the kernel's `if (!pte)` does - and whose frame is never written (a slot walk's -1).
   */
  tableWordAt(hi: number, lo: number): number {
    const w = ((lo - this.xLo) | 0) >>> 2;
    return hi === this.xHi && w < this.xNWords ? w : this.tableWordMiss(hi, lo);
  }

  private tableWordMiss(hi: number, lo: number): number {
    const w = this.wordMiss(hi, lo);
    if (w >= 0) return w;
    this.uncache();
    return 0;
  }

  /** No cached extent: the next access takes the miss path. */
  private uncache(): void {
    this.xHi = -1;
    this.xNWords = 0;
    this.xWords = HOLE_WORDS;
    this.xWritten = HOLE_FRAMES;
  }

  /** wordAt for an address as a number (-1 also for a negative, fractional or too large one). */
  wordOf(addr: number): number {
    const lo = addr >>> 0;
    return this.wordAt(hiOf(addr, lo), lo);
  }

  /**
   * Gives the memory's storage back for the next PhysMem to reuse, zeroed (see `spare`), when its
   * owner is done with it (the scenario runner, after a run). Any later access is a bug and throws.
   */
  release(): void {
    for (const x of this.extents) {
      const { words, written } = x;
      x.words = null;
      x.written = null;
      if (words === null || written === null) continue;
      const list = spare.get(x.nWords) ?? [];
      if (list.length >= SPARE_PER_LENGTH) continue;
      for (let f = 0; f < written.length; f++) {
        if (written[f] === 0) continue;
        words.fill(0, f * FRAME_WORDS, (f + 1) * FRAME_WORDS);
        written[f] = 0;
      }
      list.push({ words, written });
      spare.set(x.nWords, list);
    }
    this.uncache();
    this.frameCount = 0;
    this.released = true;
  }

  /** wordAt outside the cached extent: find the extent, make its words if need be, cache it. */
  private wordMiss(hi: number, lo: number): number {
    if (this.released) throw new Error('PhysMem: used after release()');
    const u = lo >>> 0;
    const xs = this.extents;
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i];
      if (x.hi !== hi) continue;
      const w = ((u - x.lo) | 0) >>> 2;
      if (w >= x.nWords) continue;
      if (x.words === null && !this.makeWords(i)) return this.wordMiss(hi, lo);
      this.xHi = hi;
      this.xLo = x.lo;
      this.xNWords = x.nWords;
      this.xWords = x.words as Uint32Array;
      this.xWritten = x.written as Uint8Array;
      return w;
    }
    return -1;
  }

  /**
   * Makes extent i's words: true, or false after cutting it in two (the caller looks again) when the
   * machine will not reserve that much address space at once (a small machine without overcommit:
   * V8 throws a RangeError). Smaller extents only cost more cache moves for walks that cross them.
   */
  private makeWords(i: number): boolean {
    const x = this.extents[i];
    const reuse = spare.get(x.nWords)?.pop();
    if (reuse !== undefined) {
      x.words = reuse.words;
      x.written = reuse.written;
      return true;
    }
    try {
      x.words = new Uint32Array(x.nWords);
      x.written = new Uint8Array(x.nWords / FRAME_WORDS);
      return true;
    } catch (e) {
      x.words = null;
      const frames = x.nWords / FRAME_WORDS;
      if (!(e instanceof RangeError) || frames < 2) throw e;
      const half = Math.floor(frames / 2);
      const second: Extent = {
        hi: x.hi,
        lo: (x.lo + half * FRAME_SIZE) | 0,
        nWords: (frames - half) * FRAME_WORDS,
        firstFrame: x.firstFrame + half,
        words: null,
        written: null,
      };
      x.nWords = half * FRAME_WORDS;
      this.extents.splice(i + 1, 0, second);
      return false;
    }
  }

  /**
   * Records that the frame of `xWords[w]` holds written data (for `frameNumbers` and dumps). Every
   * store into `xWords` outside this class calls it, unless the frame is known written already.
   */
  noteWritten(w: number): void {
    const f = w >>> 10;
    if (this.xWritten[f] === 0) {
      this.xWritten[f] = 1;
      this.frameCount++;
    }
  }

  /** Index in `xWords` of the word at addr for a store (frame noted written), or -1 in a hole. */
  private wordForStore(addr: number): number {
    const w = this.wordOf(addr);
    if (w >= 0) this.noteWritten(w);
    return w;
  }

  /** Forget the frame holding addr (4K-aligned): zeroed, no longer written. */
  private drop(addr: number): void {
    const w = this.wordOf(addr);
    if (w < 0 || this.xWritten[w >>> 10] === 0) return;
    this.xWords.fill(0, w, w + FRAME_WORDS);
    this.xWritten[w >>> 10] = 0;
    this.frameCount--;
  }

  read32(addr: number): number {
    const lo = addr >>> 0;
    if ((lo & 3) !== 0) return this.readUnaligned(addr, 4);
    const w = this.wordAt(hiOf(addr, lo), lo);
    return w < 0 ? ACCESS_FAULT : this.xWords[w];
  }

  write32(addr: number, value: number): boolean {
    const lo = addr >>> 0;
    if ((lo & 3) !== 0) return this.writeBytes(addr, le32(value));
    const w = this.wordForStore(addr);
    if (w < 0) return false;
    this.xWords[w] = value;
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
    const w = this.wordOf(addr);
    if (w < 0) return ACCESS_FAULT;
    return (this.xWords[w] >>> ((addr & 3) * 8)) & 0xff;
  }

  write8(addr: number, value: number): boolean {
    const w = this.wordForStore(addr);
    if (w < 0) return false;
    const sh = (addr & 3) * 8;
    this.xWords[w] = ((this.xWords[w] & ~(0xff << sh)) | ((value & 0xff) << sh)) >>> 0;
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

  /** The bytes of the cached extent from word w + byte off, chunk long (a view). */
  private bytesAt(w: number, off: number, chunk: number): Uint8Array {
    const x = this.xWords;
    return new Uint8Array(x.buffer, x.byteOffset + w * 4 + off, chunk);
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
      const w = this.wordOf(a - off);
      if (w >= 0 && this.xWritten[w >>> 10] !== 0) out.set(this.bytesAt(w, off, chunk), done);
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
      const w = this.wordForStore(a - off);
      if (w < 0) return false; // only a fractional address (every chunk of it) gets here
      this.bytesAt(w, off, chunk).set(data.subarray(done, done + chunk));
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
        const w = value === 0 ? this.wordOf(a - off) : this.wordForStore(a - off);
        if (w >= 0 && (value !== 0 || this.xWritten[w >>> 10] !== 0)) this.bytesAt(w, off, chunk).fill(value);
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
