import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Iotlb, type ReplacementPolicy } from '../../src/hw/iotlb.js';

const R = 1, W = 2;

describe('Iotlb', () => {
  it('hits within a page, misses outside it, and returns page-aligned addresses', () => {
    const t = new Iotlb({ entries: 4, policy: 'lru', pageSize: 4096 });
    t.insert(0, 0x1234, 0x9_8765_4234, R);
    expect(t.lookup(0, 0x1fff)).toEqual({ tag: 0, iova: 0x1000, phys: 0x9_8765_4000, prot: R });
    expect(t.lookup(0, 0x2000)).toBeUndefined();
    expect(t.lookup(1, 0x1000)).toBeUndefined();
    expect(t.stats).toMatchObject({ hits: 1, misses: 2 });
  });

  it('evicts the least recently used entry under LRU and the oldest under FIFO', () => {
    for (const [policy, survivor, victim] of [
      ['lru', 0x0000, 0x1000],
      ['fifo', 0x1000, 0x0000],
    ] as [ReplacementPolicy, number, number][]) {
      const t = new Iotlb({ entries: 2, policy, pageSize: 4096 });
      t.insert(0, 0x0000, 0xa000, R);
      t.insert(0, 0x1000, 0xb000, R);
      t.lookup(0, 0x0000); // touch the first
      t.insert(0, 0x2000, 0xc000, R);
      expect(t.lookup(0, survivor)).toBeDefined();
      expect(t.lookup(0, victim)).toBeUndefined();
      expect(t.stats.evictions).toBe(1);
    }
  });

  it('invalidates one page, one tag, or everything', () => {
    const t = new Iotlb({ entries: 8, policy: 'fifo', pageSize: 16384 });
    t.insert(3, 0x4000, 0x8_0000_4000, R | W);
    t.insert(3, 0x8000, 0x8_0000_8000, R | W);
    t.insert(4, 0x4000, 0x8_0001_0000, R);
    expect(t.invalidatePage(3, 0x5000)).toBe(true);
    expect(t.lookup(3, 0x4000)).toBeUndefined();
    expect(t.invalidateTag(3)).toBe(1);
    expect(t.lookup(4, 0x4000)).toBeDefined();
    expect(t.invalidateAll()).toBe(1);
    expect(t.size).toBe(0);
  });

  it('a zero-entry TLB caches nothing', () => {
    const t = new Iotlb({ entries: 0, policy: 'lru', pageSize: 4096 });
    t.insert(0, 0, 0x1000, R);
    expect(t.lookup(0, 0)).toBeUndefined();
  });

  it('never holds more than its size, and every hit is the last translation inserted for that page (model check)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<ReplacementPolicy>('lru', 'fifo'),
        fc.integer({ min: 1, max: 6 }),
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('ins' as const), page: fc.integer({ min: 0, max: 9 }), phys: fc.integer({ min: 0, max: 0xffff }) }),
            fc.record({ op: fc.constant('look' as const), page: fc.integer({ min: 0, max: 9 }) }),
            fc.record({ op: fc.constant('zap' as const), page: fc.integer({ min: 0, max: 9 }) }),
          ),
          { maxLength: 80 },
        ),
        (policy, size, ops) => {
          const t = new Iotlb({ entries: size, policy, pageSize: 4096 });
          const latest = new Map<number, number>();
          // reference: recency/insertion order list
          let order: number[] = [];
          for (const o of ops) {
            if (o.op === 'ins') {
              t.insert(0, o.page * 4096, o.phys * 4096, R);
              latest.set(o.page, o.phys * 4096);
              order = order.filter((p) => p !== o.page);
              if (order.length >= size) order.shift();
              order.push(o.page);
            } else if (o.op === 'zap') {
              t.invalidatePage(0, o.page * 4096);
              order = order.filter((p) => p !== o.page);
            } else {
              const e = t.lookup(0, o.page * 4096);
              expect(e !== undefined).toBe(order.includes(o.page));
              if (e) {
                expect(e.phys).toBe(latest.get(o.page));
                if (policy === 'lru') order = [...order.filter((p) => p !== o.page), o.page];
              }
            }
            expect(t.size).toBeLessThanOrEqual(size);
            expect(t.size).toBe(order.length);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
