import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMem, ACCESS_FAULT } from '../../src/mem/phys-mem.js';
import { DeviceView } from '../../src/mem/device-view.js';

const G = 2 ** 30;

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
