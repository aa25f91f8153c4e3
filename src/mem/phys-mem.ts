/**
 * Sparse physical memory: RAM banks with holes between them, 4 KiB frames materialised on first write.
 *
 * Reads of RAM that was never written return zero (as freshly booted DRAM is *not*, but as every page
 * the kernel hands out with __GFP_ZERO or that a dump omits is treated). An access into a hole is not an
 * exception: the accessor returns `ACCESS_FAULT` (-1) and the caller decides what that means (a bus error
 * for a device, a problem report for the dump walker).
 *
 * Hot path: every table walk, map and DMA goes through `read32`/`write32`, so frames are found through a
 * three-level radix index instead of a hash lookup per word: [address bits 51:32 | 31:22 | 21:12]. The
 * top level (one entry per 4 GiB) is a Map with a one-entry cache, because nearly every run touches one
 * or two 4 GiB windows; below it two arrays of 1024 entries (4 MiB, then 4 KiB apiece). An aligned access
 * is then one compare, two array loads and one Uint32Array slot, with no allocation and no hashing; the
 * index never thrashes between the levels of a page table as a one-frame cache did.
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

/** 4 KiB frames of one 4 MiB chunk, indexed by address bits 21:12 (undefined: never written). */
type FrameLeaf = (Uint32Array | undefined)[];
/** The 1024 chunks of one 4 GiB window, indexed by address bits 31:22. */
type FrameMid = FrameLeaf[];

const LEAF_ENTRIES = 1024;
const MID_ENTRIES = 1024;
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
 * Shared, never written: every slot of an index that holds nothing points at these, so a lookup is two
 * unconditional array loads and one `undefined` test at the end (measured ~30% faster per table level
 * than testing each level for undefined).
 */
// Not frozen: a frozen array has another elements kind, which would make every index load polymorphic.
const EMPTY_LEAF: FrameLeaf = filledArray<Uint32Array | undefined>(LEAF_ENTRIES, undefined);
const EMPTY_MID: FrameMid = filledArray<FrameLeaf>(MID_ENTRIES, EMPTY_LEAF);

export class PhysMem implements MemWriter {
  readonly banks: readonly RamBank[];
  /** 4 GiB windows by address bits 51:32 (see the file comment). */
  private readonly mids = new Map<number, FrameMid>();
  /** The last window looked up (`cachedMid` is EMPTY_MID for a window with nothing written yet). */
  private cachedHi = -1;
  private cachedMid: FrameMid = EMPTY_MID;
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
    for (const hi of [...this.mids.keys()].sort((a, b) => a - b)) {
      const mid = this.mids.get(hi) as FrameMid;
      for (let m = 0; m < MID_ENTRIES; m++) {
        const leaf = mid[m];
        if (leaf === EMPTY_LEAF) continue;
        for (let l = 0; l < LEAF_ENTRIES; l++) if (leaf[l] !== undefined) out.push(hi * 2 ** 20 + m * LEAF_ENTRIES + l);
      }
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
    const mid = hi === this.cachedHi ? this.cachedMid : this.midOf(hi);
    return mid[lo >>> 22][(lo >>> 12) & (LEAF_ENTRIES - 1)];
  }

  private midOf(hi: number): FrameMid {
    const mid = this.mids.get(hi) ?? EMPTY_MID;
    this.cachedHi = hi;
    this.cachedMid = mid;
    return mid;
  }

  /** The frame holding addr, created (zeroed) if it is RAM and was never written; undefined in a hole. */
  private materialise(addr: number): Uint32Array | undefined {
    const f = this.frameWords(addr);
    if (f !== undefined) return f;
    const lo = addr >>> 0;
    const hi = hiOf(addr, lo);
    // A fractional address inside a bank is no address (hiOf = -1): nothing to materialise.
    if (hi < 0 || !this.isRam(addr)) return undefined;
    let mid = this.mids.get(hi);
    if (mid === undefined) {
      mid = filledArray(MID_ENTRIES, EMPTY_LEAF);
      this.mids.set(hi, mid);
      if (hi === this.cachedHi) this.cachedMid = mid;
    }
    let leaf = mid[lo >>> 22];
    if (leaf === EMPTY_LEAF) {
      leaf = filledArray<Uint32Array | undefined>(LEAF_ENTRIES, undefined);
      mid[lo >>> 22] = leaf;
    }
    const frame = new Uint32Array(FRAME_SIZE / 4);
    leaf[(lo >>> 12) & (LEAF_ENTRIES - 1)] = frame;
    this.frameCount++;
    return frame;
  }

  /** Forget the frame holding addr (it reads as zero again). */
  private drop(addr: number): void {
    const lo = addr >>> 0;
    const leaf = this.mids.get(hiOf(addr, lo))?.[lo >>> 22];
    if (leaf === undefined || leaf === EMPTY_LEAF || leaf[(lo >>> 12) & (LEAF_ENTRIES - 1)] === undefined) return;
    leaf[(lo >>> 12) & (LEAF_ENTRIES - 1)] = undefined;
    this.frameCount--;
  }

  read32(addr: number): number {
    const lo = addr >>> 0;
    if ((lo & 3) !== 0) return this.readUnaligned(addr, 4);
    // frameWords inlined by hand: this is the hottest function of the simulator.
    const hi = hiOf(addr, lo);
    const mid = hi === this.cachedHi ? this.cachedMid : this.midOf(hi);
    const f = mid[lo >>> 22][(lo >>> 12) & (LEAF_ENTRIES - 1)];
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
