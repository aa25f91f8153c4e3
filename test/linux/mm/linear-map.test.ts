import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/addr.js';
import { LinearMap } from '../../../src/linux/mm/linear-map.js';

const G = 0x4000_0000;
const rk8g = [
  { base: 0x20_0000, size: 0xf000_0000 - 0x20_0000 },
  { base: 0x1_0000_0000, size: 4 * G },
];
const salvator = [
  { base: 0x4800_0000, size: 0x3800_0000 },
  { base: 0x5_0000_0000, size: G },
  { base: 0x6_0000_0000, size: G },
  { base: 0x7_0000_0000, size: G },
];

describe('arm64 linear map (asm/memory.h)', () => {
  it('RK3568: PHYS_OFFSET = 0 (DRAM start 0x200000 rounded down to 1 GiB)', () => {
    const lm = new LinearMap({ banks: rk8g });
    expect(lm.physOffset).toBe(0);
    expect(lm.pageOffsetText).toBe('ffff000000000000');
    const va = lm.physToVirt(0xc000_1000);
    expect(lm.format(va)).toBe('ffff0000c0001000');
    expect(lm.formatHex(lm.physToVirt(0x1_0189_a000))).toBe('0xffff00010189a000');
    expect(lm.virtToPhys(va)).toBe(0xc000_1000);
  });

  it('Salvator-X: PHYS_OFFSET 0x40000000, the seed page 0x7388f3000 at ffff0006f88f3000 in 6.12', () => {
    const lm = new LinearMap({ banks: salvator });
    expect(lm.physOffset).toBe(0x4000_0000);
    expect(lm.format(lm.physToVirt(0x7_388f_3000))).toBe('ffff0006f88f3000');
    expect(lm.virtToPhys(lm.parse('0xffff0006f88f3000'))).toBe(0x7_388f_3000);
  });

  it('phys_to_virt below PHYS_OFFSET wraps as the OR does, and is not a valid linear address', () => {
    const lm = new LinearMap({ banks: salvator });
    // (0 - 0x40000000) | 0xffff000000000000 = 0xffffffffc0000000
    const va = lm.physToVirt(0);
    expect(lm.format(va)).toBe('ffffffffc0000000');
    expect(lm.isLinear(va)).toBe(false);
    expect(lm.virtToPhys(va)).toBeUndefined();
    expect(lm.virtAddrValid(va)).toBe(false);
  });

  it('virt_addr_valid is false for holes and true for RAM', () => {
    const lm = new LinearMap({ banks: rk8g });
    expect(lm.virtAddrValid(lm.physToVirt(0x1000_0000))).toBe(true);
    expect(lm.virtAddrValid(lm.physToVirt(0xf800_0000))).toBe(false); // MMIO hole
    expect(lm.virtAddrValid(lm.physToVirt(0x1_ffff_f000))).toBe(true);
    expect(lm.virtAddrValid(lm.physToVirt(0x2_0000_0000))).toBe(false);
  });

  it('Apple M1: DRAM at 0x800000000 maps to the bottom of the linear map', () => {
    const lm = new LinearMap({ banks: [{ base: 0x8_0000_0000, size: 8 * G }] });
    expect(lm.format(lm.physToVirt(0x8_0000_4000))).toBe('ffff000000004000');
  });

  it('other VA sizes and KASLR', () => {
    const lm39 = new LinearMap({ banks: rk8g, vaBits: 39 });
    expect(lm39.format(lm39.physToVirt(0x1000))).toBe('ffffff8000001000');
    const lm52 = new LinearMap({ banks: rk8g, vaBits: 52 });
    expect(lm52.format(lm52.physToVirt(0x1000))).toBe('fff0000000001000');
    const kaslr = new LinearMap({ banks: salvator, kaslrSlots: 1 });
    expect(kaslr.physOffset).toBe(0);
    expect(kaslr.format(kaslr.physToVirt(0x7_388f_3000))).toBe('ffff0007388f3000');
  });

  it('rejects addresses below PAGE_OFFSET or not hex, with InputError', () => {
    const lm = new LinearMap({ banks: rk8g });
    expect(() => lm.parse('0000ffff00000000')).toThrow(InputError);
    expect(() => lm.parse('zz')).toThrow(InputError);
    expect(lm.parse('ffff000000001000')).toBe(0x1000);
  });
});
