import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMem, ACCESS_FAULT } from '../../src/mem/phys-mem.js';
import { DeviceView } from '../../src/mem/device-view.js';

const G = 2 ** 30;

/** The word at index w of the cached extent, read after the call that found w (it may move the cache). */
function wordIn(m: PhysMem, w: number): number {
  return m.xWords[w];
}

describe('PhysMem', () => {
  const banks = () => [
    { base: 0x0, size: 0xf000_0000 },
    { base: 0x1_0000_0000, size: 4 * G },
  ];

  it('reads unwritten RAM as zero and holes as a fault, without materialising frames', () => {
    const m = new PhysMem(banks());
    expect(m.read32(0x1000)).toBe(0);
    expect(m.read32(0x1_8000_0000)).toBe(0);
    expect(m.read32(0xf000_0000)).toBe(ACCESS_FAULT);
    expect(m.write32(0xf800_0000, 1)).toBe(false);
    expect(m.materialisedFrames).toBe(0);
  });

  it('round-trips 8/32/64-bit little-endian values above 4 GiB', () => {
    const m = new PhysMem(banks());
    expect(m.write32(0x1_2345_6000, 0xdeadbeef)).toBe(true);
    expect(m.read8(0x1_2345_6000)).toBe(0xef);
    expect(m.read8(0x1_2345_6003)).toBe(0xde);
    expect(m.write64(0x1_2345_6008, 0x89abcdef, 0x01234567)).toBe(true);
    const out = [0, 0];
    expect(m.read64(0x1_2345_6008, out)).toBe(true);
    expect(out).toEqual([0x89abcdef, 0x01234567]);
    expect(m.read32(0x1_2345_6002)).toBe(0x0000dead);
    expect(m.read32(0x1_2345_6006)).toBe(0xcdef0000);
    expect(m.materialisedFrames).toBe(1);
  });

  it('copies and fills across frame boundaries, refusing ranges that touch a hole', () => {
    const m = new PhysMem(banks());
    const data = new Uint8Array(6000).map((_, i) => i & 0xff);
    expect(m.writeBytes(0x1ff0, data)).toBe(true);
    expect(m.copy(0x1_0000_0ff0, 0x1ff0, 6000)).toBe(true);
    expect(m.readBytes(0x1_0000_0ff0, 6000)).toEqual(data);
    expect(m.writeBytes(0xefff_fffe, new Uint8Array(4))).toBe(false);
    expect(m.read32(0xefff_fffc)).toBe(0);
    expect(m.fill(0x1000, 0x3000, 0)).toBe(true);
    expect(m.read8(0x1ff0)).toBe(0);
  });

  it('rejects overlapping or misaligned banks', () => {
    expect(() => new PhysMem([{ base: 0, size: 0x2000 }, { base: 0x1000, size: 0x1000 }])).toThrow(/overlap/);
    expect(() => new PhysMem([{ base: 0x10, size: 0x1000 }])).toThrow(/aligned/);
  });

  it('behaves like a plain byte map under random writes (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 0x7fff }), fc.integer({ min: 0, max: 255 })), { maxLength: 200 }),
        (writes) => {
          const m = new PhysMem([{ base: 0x1_0000_0000, size: 0x8000 }]);
          const ref = new Map<number, number>();
          for (const [off, v] of writes) {
            m.write8(0x1_0000_0000 + off, v);
            ref.set(off, v);
          }
          for (const [off, v] of ref) if (m.read8(0x1_0000_0000 + off) !== v) return false;
          return m.read8(0x1_0000_0000 + 0x7fff) === (ref.get(0x7fff) ?? 0);
        },
      ),
    );
  });
});

/**
 * The frame index of PhysMem (a radix over address bits 51:32 / 31:22 / 21:12, with shared empty
 * sentinels and a cached 4 GiB window) against the simplest possible model: one Map from byte address to
 * byte value, a list of banks, and the set of frames the documented sparseness rules materialise (any
 * store into RAM materialises its frame; a zero fill of a whole frame drops it; a partial zero fill of a
 * frame never written leaves it sparse). Banks straddle the 4 GiB line (two windows), a 4 MiB leaf
 * boundary, and sit far up at 2^51, with holes between them.
 */
describe('PhysMem frame index against a byte-map model (property)', () => {
  const BANKS = [
    { base: 0x0, size: 0x6000 },
    { base: 0x1_0000_0000 - 0x3000, size: 0x6000 }, // crosses into the second 4 GiB window
    { base: 0x8_0040_0000 - 0x2000, size: 0x5000 }, // crosses a 4 MiB leaf boundary
    { base: 0x8_0040_3000, size: 0x2000 }, // adjacent to the previous bank: ranges may span both
    { base: 2 ** 51, size: 0x3000 }, // the top of the 52-bit space
  ];
  const FRAME = 4096;

  class Model {
    bytes = new Map<number, number>();
    frames = new Set<number>();
    bank(a: number) {
      return BANKS.find((b) => a >= b.base && a < b.base + b.size);
    }
    ram(a: number, len: number): boolean {
      for (let i = 0; i < len; i++) if (!this.bank(a + i)) return false;
      return true;
    }
    store(a: number, data: number[]): boolean {
      if (!this.ram(a, data.length)) return false;
      data.forEach((v, i) => {
        this.bytes.set(a + i, v & 0xff);
        this.frames.add(Math.floor((a + i) / FRAME));
      });
      return true;
    }
    load(a: number, len: number): number[] | null {
      if (!this.ram(a, len)) return null;
      return Array.from({ length: len }, (_, i) => this.bytes.get(a + i) ?? 0);
    }
    fill(a: number, len: number, v: number): boolean {
      if (!this.ram(a, len)) return false;
      for (let i = 0; i < len; i++) {
        const x = a + i;
        const fn = Math.floor(x / FRAME);
        const wholeFrame = x % FRAME === 0 && i + FRAME <= len;
        if (v === 0 && wholeFrame) {
          for (let k = 0; k < FRAME; k++) this.bytes.delete(x + k);
          this.frames.delete(fn);
          i += FRAME - 1;
        } else if (v !== 0 || this.frames.has(fn)) {
          this.bytes.set(x, v);
          this.frames.add(fn);
        }
      }
      return true;
    }
  }

  /** An address near a bank (inside, or up to 8 KiB into the holes around it). */
  const addr = fc
    .tuple(fc.integer({ min: 0, max: BANKS.length - 1 }), fc.integer({ min: -0x2000, max: 0x7fff }))
    .map(([b, off]) => BANKS[b].base + off)
    .filter((a) => a >= 0);
  const aligned = addr.map((a) => a - (a % 4));
  const op = fc.oneof(
    fc.record({ k: fc.constant('w32' as const), a: fc.oneof(aligned, addr), v: fc.integer({ min: 0, max: 0xffffffff }) }),
    fc.record({ k: fc.constant('w8' as const), a: addr, v: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ k: fc.constant('w64' as const), a: aligned, v: fc.integer({ min: 0, max: 0xffffffff }) }),
    fc.record({ k: fc.constant('wb' as const), a: addr, n: fc.integer({ min: 1, max: 6000 }), v: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ k: fc.constant('fill' as const), a: addr, n: fc.integer({ min: 1, max: 9000 }), v: fc.constantFrom(0, 0, 0x5a) }),
    fc.record({ k: fc.constant('zframes' as const), a: addr.map((a) => a - (a % FRAME)), n: fc.integer({ min: 1, max: 2 }), v: fc.constant(0) }),
    fc.record({ k: fc.constant('copy' as const), a: addr, b: addr, n: fc.integer({ min: 1, max: 5000 }) }),
    fc.record({ k: fc.constant('r32' as const), a: fc.oneof(aligned, addr) }),
  );

  it('reads, writes, fills, copies and sparseness agree with the model', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => {
        const m = new PhysMem(BANKS);
        const model = new Model();
        const probes = new Set<number>();
        const le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
        for (const o of ops) {
          probes.add(o.a);
          switch (o.k) {
            case 'w32':
              expect(m.write32(o.a, o.v)).toBe(model.store(o.a, le(o.v)));
              break;
            case 'w8':
              expect(m.write8(o.a, o.v)).toBe(model.store(o.a, [o.v]));
              break;
            case 'w64': {
              // write64 checks that all 8 bytes lie in the bank of the first (PhysMem.isRam).
              const b = model.bank(o.a);
              const ok = !!b && o.a + 8 <= b.base + b.size;
              if (ok) model.store(o.a, [...le(o.v), ...le(~o.v >>> 0)]);
              expect(m.write64(o.a, o.v, ~o.v >>> 0)).toBe(ok);
              break;
            }
            case 'wb': {
              const data = Array.from({ length: o.n }, (_, i) => (o.v + i * 7) & 0xff);
              expect(m.writeBytes(o.a, Uint8Array.from(data))).toBe(model.store(o.a, data));
              break;
            }
            case 'fill':
            case 'zframes': {
              const n = o.k === 'zframes' ? o.n * FRAME : o.n;
              expect(m.fill(o.a, n, o.v)).toBe(model.fill(o.a, n, o.v));
              break;
            }
            case 'copy': {
              probes.add(o.b);
              const data = model.load(o.b, o.n);
              const ok = data !== null && model.store(o.a, data);
              expect(m.copy(o.a, o.b, o.n)).toBe(ok);
              break;
            }
            case 'r32': {
              const bytes = model.load(o.a, 4);
              expect(m.read32(o.a)).toBe(bytes === null ? ACCESS_FAULT : (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0);
              break;
            }
          }
        }
        // Every address touched, its neighbourhood and every written byte read back as the model says.
        for (const b of model.bytes.keys()) probes.add(b);
        for (const p of probes) {
          for (const a of [p, p - (p % 4), p + 4092]) {
            const bytes = model.load(a, 4);
            const want = bytes === null ? ACCESS_FAULT : (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
            if (m.read32(a) !== want) return false;
            const b1 = model.load(a, 1);
            if (m.read8(a) !== (b1 === null ? ACCESS_FAULT : b1[0])) return false;
            // frameSnapshot sees exactly the written frames; the walkers' accessors (wordAt with the
            // low half as a uint32 or an int32, tableWordAt) find each word's bytes in the cached
            // extent, and tableWordAt reads a hole as a zero word in a frame never written.
            const fn = Math.floor(a / FRAME);
            const lo = a >>> 0;
            const hi = (a - lo) / 2 ** 32;
            if ((m.frameSnapshot(a) !== undefined) !== model.frames.has(fn)) return false;
            if ((a & 3) === 0) {
              const w = m.wordAt(hi, lo);
              if (w !== m.wordAt(hi, lo | 0) || w !== m.wordOf(a)) return false;
              if ((w >= 0) !== (want !== ACCESS_FAULT)) return false;
              if (w >= 0 && (m.xWords[w] !== want || (m.xWritten[w >>> 10] !== 0) !== model.frames.has(fn))) return false;
              const t = m.tableWordAt(hi, lo | 0);
              if (m.xWords[t] !== (w >= 0 ? want : 0) || (w < 0 && m.xWritten[t >>> 10] !== 0)) return false;
            }
          }
        }
        expect(m.materialisedFrames).toBe(model.frames.size);
        expect(m.frameNumbers()).toEqual([...model.frames].sort((x, y) => x - y));
        return true;
      }),
      { numRuns: 100 },
    );
  });

  it('never lets an address outside [0, 2^52) alias RAM', () => {
    const m = new PhysMem([{ base: 0, size: 0x2000 }]);
    m.write32(0, 0x11223344);
    m.write32(0x1000, 0x55667788);
    // 2^52 and 2^64 have the same low 32 bits as 0; -4096 has those of 0xfffff000 (bits 51:32 = -1).
    for (const a of [2 ** 52, 2 ** 64, 2 ** 32 * 2 ** 31, -4096, -(2 ** 32), Number.NaN, Infinity]) {
      expect(m.read32(a)).toBe(ACCESS_FAULT);
      expect(m.write32(a, 1)).toBe(false);
    }
    expect(m.read32(0)).toBe(0x11223344);
    expect(m.read32(0x1000)).toBe(0x55667788);
    // A fractional address inside RAM is not an address either: no frame is made for it.
    expect(m.write32(0x1000 + 0.5, 1)).toBe(false);
    expect(m.writeBytes(0x1000 + 0.5, new Uint8Array([1, 2]))).toBe(false);
    expect(m.read32(0x1000)).toBe(0x55667788);
    expect(m.materialisedFrames).toBe(2);
    expect(m.frameNumbers()).toEqual([0, 1]);
  });

  it('keeps frames apart whatever order a 4 GiB window is written in, down to its first and last frame', () => {
    // One bank covering the whole window 1 (and a little of window 2), so every frame number is RAM.
    const W = 2 ** 32;
    const m = new PhysMem([{ base: W, size: W + 0x2000 }]);
    // Start mid-window, then below, far above, the window's last frame, its first, and in between:
    // the index of the window has to grow both ways.
    const frames = [0x80000, 0x7ffff, 0x80001, 0x9_0000, 0xf_ffff, 0, 0x4_0000, 0x1, 0xf_fffe];
    frames.forEach((n, i) => expect(m.write32(W + n * 4096 + 8, 0x1000 + i)).toBe(true));
    frames.forEach((n, i) => {
      expect(m.read32(W + n * 4096 + 8)).toBe(0x1000 + i);
      expect(wordIn(m, m.wordAt(1, n * 4096 + 8))).toBe(0x1000 + i);
      expect(m.frameSnapshot(W + n * 4096)?.[2]).toBe(0x1000 + i);
      // The same word in the neighbouring frames (when not written) and in window 2 reads zero.
      for (const d of [-1, 1]) {
        const k = n + d;
        if (k >= 0 && k < 2 ** 20 && !frames.includes(k)) expect(m.read32(W + k * 4096 + 8)).toBe(0);
      }
    });
    expect(m.read32(2 * W + 8)).toBe(0);
    expect(m.materialisedFrames).toBe(frames.length);
    expect(m.frameNumbers()).toEqual([...frames].sort((a, b) => a - b).map((n) => 2 ** 20 + n));
    // A window whose first written frame is high: frames below it must not wrap onto written ones.
    const h = new PhysMem([{ base: W, size: W }]);
    h.write32(W + 0xf_ffff * 4096, 7);
    h.write32(W + 0xf_fff0 * 4096, 8);
    for (const n of [0, 0xf, 0x10, 0x8_0000, 0xf_ffef]) expect(h.read32(W + n * 4096)).toBe(0);
    expect(h.read32(W + 0xf_ffff * 4096)).toBe(7);
    expect(h.read32(W + 0xf_fff0 * 4096)).toBe(8);
    // Zero-filling a frame drops it; the others stay.
    expect(m.fill(W + 0x80000 * 4096, 4096)).toBe(true);
    expect(m.read32(W + 0x80000 * 4096 + 8)).toBe(0);
    expect(m.read32(W + 0x7ffff * 4096 + 8)).toBe(0x1001);
    expect(m.materialisedFrames).toBe(frames.length - 1);
  });
});

describe('PhysMem extents', () => {
  const W = 2 ** 32;

  it('keeps 3000 frames over two windows apart while the cached extent moves between them, and forgets zero-filled frames', () => {
    const m = new PhysMem([{ base: 0, size: 64 * 1024 * 1024 }, { base: 3 * W, size: 64 * 1024 * 1024 }]);
    // Interleaved: every write moves the cached extent to the other window.
    const addr = (i: number): number => (i % 2 ? 3 * W : 0) + (i >> 1) * 4096 * 3 + 0x10;
    for (let i = 0; i < 3000; i++) expect(m.write32(addr(i), 0xa0000000 + i)).toBe(true);
    for (let i = 0; i < 3000; i++) expect(m.read32(addr(i))).toBe(0xa0000000 + i);
    expect(m.materialisedFrames).toBe(3000);
    expect(m.frameNumbers().length).toBe(3000);
    // The frame between two written ones was never written: it reads zero and is not listed.
    expect(m.read32(addr(0) + 4096)).toBe(0);
    expect(m.frameSnapshot(addr(0) + 4096 - 0x10)).toBeUndefined();
    // Zero-filling two whole frames forgets them; writing one again lists it with only the new word.
    expect(m.fill(addr(10) - 0x10, 4096)).toBe(true);
    expect(m.fill(addr(11) - 0x10, 4096)).toBe(true);
    expect(m.read32(addr(10))).toBe(0);
    expect(m.frameSnapshot(addr(11) - 0x10)).toBeUndefined();
    expect(m.materialisedFrames).toBe(2998);
    expect(m.write8(addr(11) - 0x10, 1)).toBe(true);
    expect(m.materialisedFrames).toBe(2999);
    expect(m.frameSnapshot(addr(11) - 0x10)?.slice(0, 8)).toEqual(new Uint32Array([1, 0, 0, 0, 0, 0, 0, 0]));
    expect(m.read32(addr(12))).toBe(0xa0000000 + 12);
  });

  it('cuts a bank at a 4 GiB boundary and finds words on both sides, with the low half signed or not', () => {
    // RAM from 2 GiB to 6 GiB: extents [0x8000_0000, 4G) (a low half >= 2^31, negative as an int32)
    // and [4G, 6G).
    const m = new PhysMem([{ base: 0x8000_0000, size: 4 * 2 ** 30 }]);
    const below = W - 8;
    expect(m.write64(below, 0x11111111, 0x22222222)).toBe(true);
    expect(m.write32(W, 0x33333333)).toBe(true);
    expect(m.write32(0x8000_0000, 0x44444444)).toBe(true);
    // A range across the boundary reads back whole.
    expect(Array.from(m.readBytes(below + 4, 8) ?? [])).toEqual([0x22, 0x22, 0x22, 0x22, 0x33, 0x33, 0x33, 0x33]);
    const w = m.wordAt(0, 0xffff_fff8 | 0);
    expect(w).toBe(m.wordAt(0, 0xffff_fff8));
    expect(m.xWords[w + 1]).toBe(0x22222222);
    expect(wordIn(m, m.wordAt(0, 0x8000_0000 | 0))).toBe(0x44444444);
    expect(wordIn(m, m.wordAt(1, 0))).toBe(0x33333333);
    // Below the bank (a low half under the extent's) is a hole, not a wrapped-around word.
    expect(m.wordAt(0, 0x7fff_fffc)).toBe(-1);
    expect(m.read32(0x7fff_fffc)).toBe(ACCESS_FAULT);
    expect(m.wordAt(1, 0x8000_0000)).toBe(-1);
    expect(m.frameNumbers()).toEqual([0x80000, 0xfffff, 0x100000]);
  });

  it('reads a hole through tableWordAt as a zero entry of a frame never written, then moves back to RAM', () => {
    const m = new PhysMem([{ base: 0x4000_0000, size: 0x10_0000 }]);
    m.write32(0x4000_0100, 0xabcd);
    const t = m.tableWordAt(0, 0x1000);
    expect([m.xWords[t], m.xWords[t + 1], m.xWritten[t >>> 10]]).toEqual([0, 0, 0]);
    expect(wordIn(m, m.tableWordAt(0, 0x4000_0100))).toBe(0xabcd);
    expect(m.read32(0x1000)).toBe(ACCESS_FAULT);
    expect(m.wordAt(0, 0x1000)).toBe(-1);
  });
});

describe('DeviceView', () => {
  it('raises a bus error beyond its width, or truncates when the interconnect does', () => {
    const m = new PhysMem([{ base: 0, size: 0x1000_0000 }, { base: 0x1_0000_0000, size: 0x1000_0000 }]);
    m.write32(0x1_0000_0040, 0x1111);
    m.write32(0x40, 0x2222);
    const cpuLike = new DeviceView(m, 40);
    expect(cpuLike.read32(0x1_0000_0040)).toBe(0x1111);
    const narrow = new DeviceView(m, 32, 'bus-error');
    expect(narrow.read32(0x1_0000_0040)).toBe(ACCESS_FAULT);
    expect(narrow.lastFault).toEqual({ addr: 0x1_0000_0040, reason: 'beyond-bus', busBits: 32 });
    const trunc = new DeviceView(m, 32, 'truncate');
    expect(trunc.read32(0x1_0000_0040)).toBe(0x2222);
    expect(trunc.beyondCount).toBe(1);
  });
});

describe('PhysMem on a machine that will not reserve a whole extent', () => {
  it('cuts the extent until its words can be made, and keeps every byte where it was written', () => {
    const Real = globalThis.Uint32Array;
    // A Uint32Array that refuses more than 1 MiB, as V8 does (RangeError) when mmap fails.
    class Small extends Real {
      constructor(length: number) {
        if (length > 256 * 1024) throw new RangeError('Array buffer allocation failed');
        super(length);
      }
    }
    globalThis.Uint32Array = Small as unknown as Uint32ArrayConstructor;
    try {
      const m = new PhysMem([{ base: 0x4000_0000, size: 64 * 1024 * 1024 }]);
      const addrs = [0x4000_0000, 0x4000_0ffc, 0x4123_4560, 0x43ff_fffc, 0x4200_0000];
      addrs.forEach((a, i) => expect(m.write32(a, 0x5000 + i)).toBe(true));
      addrs.forEach((a, i) => expect(m.read32(a)).toBe(0x5000 + i));
      expect(m.xNWords).toBeLessThanOrEqual(256 * 1024);
      // A range across two of the cut extents.
      expect(m.writeBytes(0x4010_0000 - 2, new Uint8Array([1, 2, 3, 4]))).toBe(true);
      expect(Array.from(m.readBytes(0x4010_0000 - 2, 4) ?? [])).toEqual([1, 2, 3, 4]);
      expect(m.frameNumbers()).toEqual([0x40000, 0x400ff, 0x40100, 0x41234, 0x42000, 0x43fff]);
    } finally {
      globalThis.Uint32Array = Real;
    }
  });
});

describe('PhysMem.release', () => {
  it('hands its zeroed storage to the next PhysMem of the same extents, and refuses any later use', () => {
    const banks = [{ base: 0x9_0000_0000, size: 8 * 1024 * 1024 }];
    const a = new PhysMem(banks);
    const addrs = [0x9_0000_0000, 0x9_0012_3458, 0x9_007f_fffc];
    addrs.forEach((x, i) => a.write32(x, 0xc0de0000 + i));
    a.fill(0x9_0040_0000, 0x1800, 0x77); // a frame and a half of non-zero bytes
    a.wordOf(addrs[0]);
    const storage = a.xWords;
    a.release();
    expect(() => a.read32(addrs[0])).toThrow(/after release/);
    const b = new PhysMem(banks);
    for (const x of [...addrs, 0x9_0040_0000, 0x9_0041_0ffc]) expect(b.read32(x)).toBe(0);
    expect(b.xWords).toBe(storage); // the same array, not a new one
    expect(b.materialisedFrames).toBe(0);
    expect(b.frameNumbers()).toEqual([]);
    expect(b.xWords.every((w) => w === 0)).toBe(true);
    b.write32(addrs[1], 5);
    expect(b.frameNumbers()).toEqual([Math.floor(addrs[1] / 4096)]);
  });
});
