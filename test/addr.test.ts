import { describe, expect, it } from 'vitest';
import { and64, hex, hi32, lo32, join64, parseAddr, parseSize, formatSize, InputError, alignUp, fls, bitMask } from '../src/addr.js';

describe('addr', () => {
  it('parses hex, separators, decimal and units', () => {
    expect(parseAddr('0x1_0000_0000')).toBe(0x100000000);
    expect(parseAddr('4096')).toBe(4096);
    expect(parseSize('4K')).toBe(4096);
    expect(parseSize('8G')).toBe(8 * 2 ** 30);
    expect(parseSize('2MiB')).toBe(2 * 2 ** 20);
    expect(parseAddr('0xF000000000')).toBe(0xf000000000);
  });
  it('rejects garbage and addresses at 2^52 or more with InputError', () => {
    expect(() => parseAddr('zz')).toThrow(InputError);
    expect(() => parseAddr('0x')).toThrow(InputError);
    expect(() => parseAddr('0x10000000000000')).toThrow(/2\^52/);
    expect(() => parseAddr('1__0')).toThrow(InputError);
  });
  it('formats the kernel way', () => {
    expect(hex(0x100000000)).toBe('0x100000000');
    expect(formatSize(8 * 2 ** 30)).toBe('8G');
    expect(formatSize(0x1800)).toBe('6K');
    expect(formatSize(0x1801)).toBe('0x1801');
  });
  it('splits and joins 64-bit values held in numbers', () => {
    const v = 0xf_1234_5678_9abc;
    expect(hi32(v)).toBe(0xf1234);
    expect(lo32(v)).toBe(0x56789abc);
    expect(join64(hi32(v), lo32(v))).toBe(v);
    expect(and64(v, 0xffff_0000_f000)).toBe(0x1234_0000_9000);
  });
  it('aligns and counts bits', () => {
    expect(alignUp(0x1001, 0x1000)).toBe(0x2000);
    expect(fls(0)).toBe(0);
    expect(fls(1)).toBe(1);
    expect(fls(0x100000000)).toBe(33);
    expect(fls(2 ** 52 - 1)).toBe(52);
    expect(bitMask(32)).toBe(0xffffffff);
    expect(bitMask(40)).toBe(0xff_ffff_ffff);
  });
});
