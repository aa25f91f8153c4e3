import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LzoError, lzo1xDecompress } from '../../src/dump/lzo1x.js';

describe('LZO1X decoder', () => {
  // Streams worked out by hand from Documentation/staging/lzo.rst's instruction table.
  it('a literal run then end of stream', () => {
    // 0x15 = 17 + 4: four literals; then 0x11 0x00 0x00 = 0001 0 001 + LE16 0: distance 16384, the end.
    expect(lzo1xDecompress(Uint8Array.from([0x15, 1, 2, 3, 4, 0x11, 0, 0]), 4)).toEqual(Uint8Array.from([1, 2, 3, 4]));
  });
  it('an overlapping dictionary copy repeats a pattern', () => {
    // 4 literals "abcd"; 0x20|6 = 001 00110: copy 2+6 = 8 bytes from distance (D=3)+1 = 4, S=0 (LE16 = 3 << 2).
    const s = Uint8Array.from([0x15, 97, 98, 99, 100, 0x26, 0x0c, 0x00, 0x11, 0, 0]);
    expect(new TextDecoder().decode(lzo1xDecompress(s, 12))).toBe('abcdabcdabcd');
  });
  it('a long literal run with a zero-extended length', () => {
    // first byte 0x00 with state 0: 0000 0000 -> 3 + (15 + 0*255 + 2) = 20 literals.
    const lits = Array.from({ length: 20 }, (_, i) => i + 1);
    const s = Uint8Array.from([0x00, 0x02, ...lits, 0x11, 0, 0]);
    expect(Array.from(lzo1xDecompress(s, 20))).toEqual(lits);
  });
  it('rejects a copy from before the start, overruns and trailing bytes', () => {
    expect(() => lzo1xDecompress(Uint8Array.from([0x15, 1, 2, 3, 4, 0x26, 0x40, 0x00, 0x11, 0, 0]), 12)).toThrow(/look-behind/);
    expect(() => lzo1xDecompress(Uint8Array.from([0x15, 1, 2, 3, 4, 0x11, 0, 0]), 3)).toThrow(/output overrun/);
    expect(() => lzo1xDecompress(Uint8Array.from([0x15, 1, 2, 3, 4, 0x11, 0, 0, 9]), 4)).toThrow(/after the end-of-stream/);
    expect(() => lzo1xDecompress(Uint8Array.from([0x15, 1, 2]), 4)).toThrow(/input overrun/);
  });
  it('garbage never escapes as anything but LzoError (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 8192 }), (bytes, n) => {
        try {
          lzo1xDecompress(bytes, n);
        } catch (e) {
          return e instanceof LzoError;
        }
        return true;
      }),
      { numRuns: 2000 },
    );
  });
});
