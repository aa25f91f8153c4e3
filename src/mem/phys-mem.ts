/**
 * Sparse physical memory: RAM banks with holes between them, 4 KiB frames materialised on first write.
 *
 * Reads of RAM that was never written return zero (as freshly booted DRAM is *not*, but as every page
 * the kernel hands out with __GFP_ZERO or that a dump omits is treated). An access into a hole is not an
 * exception: the accessor returns `ACCESS_FAULT` (-1) and the caller decides what that means (a bus error
 * for a device, a problem report for the dump walker).
 *
 * Hot path: `read32`/`write32` on aligned addresses touch one Map lookup (with a one-entry cache) and
 * one Uint32Array slot. Everything is little-endian, as on every modelled SoC.
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

export class PhysMem implements MemWriter {
  readonly banks: readonly RamBank[];
  private readonly frames = new Map<number, Uint32Array>();
  private lastFrameNo = -1;
  private lastFrame: Uint32Array | undefined;
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
    return this.frames.size;
  }

  /** Frame numbers materialised, ascending (for writing dumps). */
  frameNumbers(): number[] {
    return [...this.frames.keys()].sort((a, b) => a - b);
  }

  private frameFor(addr: number, create: boolean): Uint32Array | undefined | null {
    const fn = Math.floor(addr / FRAME_SIZE);
    if (fn === this.lastFrameNo && this.lastFrame) return this.lastFrame;
    let f = this.frames.get(fn);
    if (!f) {
      if (!this.isRam(addr)) return null;
      if (!create) return undefined;
      f = new Uint32Array(FRAME_SIZE / 4);
      this.frames.set(fn, f);
    }
    this.lastFrameNo = fn;
    this.lastFrame = f;
    return f;
  }

  read32(addr: number): number {
    if ((addr & 3) !== 0) return this.readUnaligned(addr, 4);
    const f = this.frameFor(addr, false);
    if (f === null) return ACCESS_FAULT;
    if (f === undefined) return 0;
    return f[(addr & 0xfff) >>> 2];
  }

  write32(addr: number, value: number): boolean {
    if ((addr & 3) !== 0) return this.writeBytes(addr, le32(value));
    const f = this.frameFor(addr, true);
    if (!f) return false;
    f[(addr & 0xfff) >>> 2] = value >>> 0;
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
    const f = this.frameFor(addr, false);
    if (f === null) return ACCESS_FAULT;
    if (f === undefined) return 0;
    const w = f[(addr & 0xfff) >>> 2];
    return (w >>> ((addr & 3) * 8)) & 0xff;
  }

  write8(addr: number, value: number): boolean {
    const f = this.frameFor(addr, true);
    if (!f) return false;
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
      const f = this.frames.get(Math.floor(a / FRAME_SIZE));
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
      const f = this.frameFor(a, true) as Uint32Array;
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
      const fn = Math.floor(a / FRAME_SIZE);
      if (value === 0 && off === 0 && chunk === FRAME_SIZE) {
        this.frames.delete(fn);
        if (fn === this.lastFrameNo) {
          this.lastFrameNo = -1;
          this.lastFrame = undefined;
        }
      } else {
        const f = value === 0 ? this.frames.get(fn) : (this.frameFor(a, true) as Uint32Array);
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
