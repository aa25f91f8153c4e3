import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RamBank } from '../../../src/mem/phys-mem.js';
import { GFP_ATOMIC, GFP_DMA, GFP_DMA32, GFP_KERNEL, __GFP_NOWARN } from '../../../src/linux/mm/gfp.js';
import { PageAllocator } from '../../../src/linux/mm/page-alloc.js';
import { applyBuddyOps, buddyOpArb } from './buddy-ops.js';

const M = 0x10_0000;
const FOUR_G = 0x1_0000_0000;
// Small RAM with a hole, an unaligned start and memory on both sides of 4 GiB.
const banks: RamBank[] = [
  { base: 0x3000, size: 6 * M - 0x3000 },
  { base: 8 * M, size: 5 * M },
  { base: FOUR_G, size: 8 * M },
];
const gfps = [GFP_KERNEL, GFP_ATOMIC, GFP_KERNEL | GFP_DMA32, GFP_ATOMIC | GFP_DMA32, GFP_KERNEL | GFP_DMA, GFP_KERNEL | __GFP_NOWARN];
const opArb = buddyOpArb(5, gfps);

describe('buddy invariants under random alloc/free', () => {
  it.each([
    ['pcp on, watermarks on', true, true],
    ['pcp off, watermarks off', false, false],
  ])('%s', (_name, pcp, watermarks) => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300 }), fc.integer({ min: 0, max: 3 }), (ops, seed) => {
        const pa = new PageAllocator({ banks, pcp, watermarks, bootHistory: { seed, allocations: 200 } });
        const initialFree = JSON.stringify(new PageAllocator({ banks, pcp: false, bootHistory: null }).freeBlocks());
        const managed = pa.zoneStats().reduce((s, z) => s + z.managedPages, 0);
        applyBuddyOps(pa, ops, 4096, banks);
        // No overlap between live blocks (ours and the boot history's).
        const live = pa.liveBlocks();
        for (let i = 1; i < live.length; i++) {
          expect(live[i - 1].pa + 4096 * 2 ** live[i - 1].order).toBeLessThanOrEqual(live[i].pa);
        }
        // Free blocks do not overlap live ones either, and pages add up.
        const freeBlocks = pa.freeBlocks();
        const all = [...live.map((b) => ({ pa: b.pa, order: b.order })), ...freeBlocks].sort((a, b) => a.pa - b.pa);
        for (let i = 1; i < all.length; i++) expect(all[i - 1].pa + 4096 * 2 ** all[i - 1].order).toBeLessThanOrEqual(all[i].pa);
        const st = pa.zoneStats();
        const free = st.reduce((s, z) => s + z.freePages, 0);
        const pcpPages = st.reduce((s, z) => s + z.pcpPages, 0);
        const allocated = live.reduce((s, b) => s + 2 ** b.order, 0);
        expect(free + pcpPages + allocated).toBe(managed);
        expect(free).toBe(freeBlocks.reduce((s, b) => s + 2 ** b.order, 0));
        // Free everything (ours and the boot history's): the free lists merge back to the boot state.
        for (const b of live) expect(pa.freePages(b.pa, b.order)).toBe(true);
        pa.drainPcp();
        expect(JSON.stringify(pa.freeBlocks())).toBe(initialFree);
      }),
      { numRuns: 60, seed: 20261123 },
    );
  });

  it('same banks, seed and calls give identical results', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 200 }), fc.nat(1000), (ops, seed) => {
        const run = (): string => {
          const pa = new PageAllocator({ banks, bootHistory: { seed, allocations: 300 } });
          const out: (number | null)[] = [];
          const mine: { pa: number; order: number }[] = [];
          for (const op of ops) {
            if (op.kind === 'alloc') {
              const p = pa.allocPages(op.gfp | __GFP_NOWARN, op.order);
              out.push(p);
              if (p !== null) mine.push({ pa: p, order: op.order });
            } else if (mine.length) {
              const [v] = mine.splice(op.pick % mine.length, 1);
              pa.freePages(v.pa, v.order);
            }
          }
          return JSON.stringify([out, pa.zoneStats(), pa.buddyinfo()]);
        };
        expect(run()).toBe(run());
      }),
      { numRuns: 25, seed: 7 },
    );
  });
});
