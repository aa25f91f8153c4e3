import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compareBytes, dataBytes, describeDiff } from '../../src/scenario/data.js';

describe('data phrases', () => {
  it('fill, zero and inc', () => {
    expect([...dataBytes('fill 0xa5', 3)]).toEqual([0xa5, 0xa5, 0xa5]);
    expect([...dataBytes('zero', 2)]).toEqual([0, 0]);
    expect(dataBytes('inc', 258)[257]).toBe(1);
  });
  it('word repeats a 32-bit value little-endian (as every modelled SoC stores it)', () => {
    expect([...dataBytes('word 0xdeadbeef', 6)]).toEqual([0xef, 0xbe, 0xad, 0xde, 0xef, 0xbe]);
  });
  it('hex repeats the given bytes', () => {
    expect([...dataBytes('hex de ad be', 5)]).toEqual([0xde, 0xad, 0xbe, 0xde, 0xad]);
    expect([...dataBytes('hex 0102', 3)]).toEqual([1, 2, 1]);
  });
  it('random N is reproducible and depends on N', () => {
    expect(dataBytes('random 7', 64)).toEqual(dataBytes('random 7', 64));
    expect(dataBytes('random 7', 64)).not.toEqual(dataBytes('random 8', 64));
    // A prefix of a longer stream is the shorter stream.
    expect(dataBytes('random 3', 10)).toEqual(dataBytes('random 3', 20).slice(0, 10));
  });
  it('a diff names the first differing byte and counts them', () => {
    const a = dataBytes('fill 0x11', 16);
    const b = a.slice();
    b[5] = 0;
    b[9] = 0;
    const d = compareBytes(a, b);
    expect(d).toEqual({ offset: 5, expected: 0x11, actual: 0, count: 2 });
    expect(describeDiff(d, 0x1000)).toBe('2 bytes differ; first at 0x1005: expected 0x11, found 0x00');
    expect(describeDiff(undefined)).toBe('identical');
  });
  it('comparing equal arrays finds nothing; any single change is found where it is', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (arr, i, delta) => {
        expect(compareBytes(arr, arr.slice())).toBeUndefined();
        const j = i % arr.length;
        const b = arr.slice();
        b[j] = (b[j] + delta) & 0xff;
        expect(compareBytes(arr, b)).toMatchObject({ offset: j, count: 1 });
      }),
    );
  });
});
