/** Random alloc/free sequences for the buddy allocator's property tests, and the checks every step makes. */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { RamBank } from '../../../src/mem/phys-mem.js';
import { GFP_DMA, GFP_DMA32, __GFP_NOWARN } from '../../../src/linux/mm/gfp.js';
import type { PageAllocator } from '../../../src/linux/mm/page-alloc.js';

const FOUR_G = 0x1_0000_0000;

export type BuddyOp = { kind: 'alloc'; order: number; gfp: number } | { kind: 'free'; pick: number };

/** An allocation of order 0..maxOrder with one of `gfps`, or the free of one of our live blocks. */
export function buddyOpArb(maxOrder: number, gfps: number[]): fc.Arbitrary<BuddyOp> {
  return fc.oneof(
    fc.record({ kind: fc.constant('alloc' as const), order: fc.integer({ min: 0, max: maxOrder }), gfp: fc.constantFrom(...gfps) }),
    fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }),
  );
}

export function inBanks(banks: RamBank[], pa: number, len: number): boolean {
  return banks.some((b) => pa >= b.base && pa + len <= b.base + b.size);
}

/**
 * Run `ops` on `pa`: every block handed out is naturally aligned, in RAM, and below 4 GiB when a DMA
 * zone was asked for; every free of one of ours succeeds.
 */
export function applyBuddyOps(pa: PageAllocator, ops: BuddyOp[], pageSize: number, banks: RamBank[]): void {
  const mine: { pa: number; order: number }[] = [];
  for (const op of ops) {
    if (op.kind === 'alloc') {
      const p = pa.allocPages(op.gfp | __GFP_NOWARN, op.order);
      if (p !== null) {
        const len = pageSize * 2 ** op.order;
        expect(p % len).toBe(0); // naturally aligned
        expect(inBanks(banks, p, len)).toBe(true);
        if (op.gfp & (GFP_DMA32 | GFP_DMA)) expect(p + len).toBeLessThanOrEqual(FOUR_G);
        mine.push({ pa: p, order: op.order });
      }
    } else if (mine.length) {
      const [v] = mine.splice(op.pick % mine.length, 1);
      expect(pa.freePages(v.pa, v.order)).toBe(true);
    }
  }
}
