import { describe, expect, it } from 'vitest';
import { Prng } from '../../../src/linux/mm/prng.js';

describe('Prng (xoshiro128**)', () => {
  it('follows the reference algorithm from state {1, 2, 3, 4}', () => {
    // Worked by hand from the algorithm: out = rotl(s1 * 5, 7) * 9, then the xorshift state update.
    // 1st: rotl(10, 7) * 9 = 11520; state -> {7, 0, 1026, 12288}; 2nd: 0; 3rd: rotl(5145, 7) * 9 = 5927040.
    const p = Prng.fromState(1, 2, 3, 4);
    expect([p.nextU32(), p.nextU32(), p.nextU32()]).toEqual([11520, 0, 5927040]);
  });

  it('is deterministic per seed and differs between seeds', () => {
    const seq = (seed: number): number[] => {
      const p = new Prng(seed);
      return Array.from({ length: 8 }, () => p.nextU32());
    };
    expect(seq(42)).toEqual(seq(42));
    expect(seq(0)).not.toEqual(seq(1));
    expect(seq(2 ** 40)).not.toEqual(seq(0));
  });

  it('int, weighted and shuffle stay in range', () => {
    const p = new Prng(5);
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) {
      const v = p.int(3);
      expect(v === 0 || v === 1 || v === 2).toBe(true);
      counts[v]++;
    }
    for (const c of counts) expect(c).toBeGreaterThan(800);
    for (let i = 0; i < 100; i++) expect(p.weighted([0, 1, 0])).toBe(1);
    expect(p.shuffle([1, 2, 3, 4, 5]).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(() => p.int(0)).toThrow(RangeError);
  });
});
