/**
 * Property: random map/unmap sequences of 4K pages and 2M blocks in a 16 MiB window that straddles a
 * 1 GiB boundary (so level-2 tables and their ends are crossed) leave tables whose iova_to_phys, hardware
 * walk and enumeration agree with a plain reference map.
 *
 * The reference encodes the 6.12 semantics read from io-pgtable-arm.c: a map stops at the end of one
 * table (LP:402-410); any leaf in the way is -EEXIST with nothing written (LP:331-335, 433-437); a block
 * mapped over a page table first unmaps the whole table (LP:336-349), even when a later slot of the same
 * call then fails; a page unmapped inside a block splits it (LP:584-642); a page unmap stops at the first
 * empty entry (LP:671-672); a table whose pages were all unmapped stays until its 2M slot is unmapped.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getFormat } from '../../src/formats/index.js';
import { EEXIST, IOMMU_CACHE, IOMMU_NOEXEC, IOMMU_READ, IOMMU_WRITE, type MappingRun } from '../../src/formats/types.js';
import { PhysMem } from '../../src/mem/phys-mem.js';
import { BumpHost } from './lpae-helpers.js';

const K4 = 0x1000;
const M2 = 0x200000;
const WINDOW = 0x4000_0000 - 4 * M2; // 4 slots before and 4 after the 1 GiB boundary
const SLOTS = 8;
const PAGES = SLOTS * 512;
const PROTS = [IOMMU_READ | IOMMU_WRITE, IOMMU_READ, IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE, IOMMU_READ | IOMMU_NOEXEC];
const PA_BASE = 0x2_0000_0000;

type Op =
  | { t: 'map4k'; page: number; count: number; pa: number; prot: number }
  | { t: 'map2m'; slot: number; count: number; pa: number; prot: number }
  | { t: 'unmap4k'; page: number; count: number }
  | { t: 'unmap2m'; slot: number; count: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('map4k' as const), page: fc.integer({ min: 0, max: PAGES - 1 }), count: fc.integer({ min: 1, max: 4 }), pa: fc.integer({ min: 0, max: 64 }), prot: fc.constantFrom(...PROTS) }),
  fc.record({ t: fc.constant('map2m' as const), slot: fc.integer({ min: 0, max: SLOTS - 1 }), count: fc.integer({ min: 1, max: 2 }), pa: fc.integer({ min: 0, max: 8 }), prot: fc.constantFrom(...PROTS) }),
  fc.record({ t: fc.constant('unmap4k' as const), page: fc.integer({ min: 0, max: PAGES - 1 }), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ t: fc.constant('unmap2m' as const), slot: fc.integer({ min: 0, max: SLOTS - 1 }), count: fc.integer({ min: 1, max: 2 }) }),
);

interface Leaf {
  pa: number;
  prot: number;
}

/** Reference: per 2M slot (window-relative) a block, or a page table holding some pages. */
class Ref {
  blocks = new Map<number, Leaf>();
  tables = new Set<number>();
  pages = new Map<number, Leaf>(); // window-relative page index

  lookup(page: number): Leaf | undefined {
    const b = this.blocks.get(Math.floor(page / 512));
    if (b) return { pa: b.pa + (page % 512) * K4, prot: b.prot };
    return this.pages.get(page);
  }

  private clearSlot(s: number): void {
    this.blocks.delete(s);
    this.tables.delete(s);
    for (let p = s * 512; p < (s + 1) * 512; p++) this.pages.delete(p);
  }

  /** Entries left in the level-2 table from slot s (the window starts at level-2 index 508). */
  private slotsLeft(s: number): number {
    const abs = Math.floor(WINDOW / M2) + s;
    return 512 - (abs % 512);
  }

  map4k(page: number, count: number, pa: number, prot: number): { ret: number; mapped: number } {
    const s = Math.floor(page / 512);
    const n = Math.min(count, 512 - (page % 512));
    if (this.blocks.has(s)) return { ret: -EEXIST, mapped: 0 };
    for (let i = 0; i < n; i++) if (this.pages.has(page + i)) return { ret: -EEXIST, mapped: 0 };
    this.tables.add(s);
    for (let i = 0; i < n; i++) this.pages.set(page + i, { pa: pa + i * K4, prot });
    return { ret: 0, mapped: n * K4 };
  }

  map2m(slot: number, count: number, pa: number, prot: number): { ret: number; mapped: number } {
    const n = Math.min(count, this.slotsLeft(slot));
    for (let i = 0; i < n; i++) {
      if (this.blocks.has(slot + i)) return { ret: -EEXIST, mapped: 0 };
      if (this.tables.has(slot + i)) this.clearSlot(slot + i);
    }
    for (let i = 0; i < n; i++) this.blocks.set(slot + i, { pa: pa + i * M2, prot });
    return { ret: 0, mapped: n * M2 };
  }

  unmap4k(page: number, count: number): number {
    const s = Math.floor(page / 512);
    const n = Math.min(count, 512 - (page % 512));
    const b = this.blocks.get(s);
    if (b) {
      this.blocks.delete(s);
      this.tables.add(s);
      for (let i = 0; i < 512; i++) {
        const p = s * 512 + i;
        if (p >= page && p < page + n) continue;
        this.pages.set(p, { pa: b.pa + i * K4, prot: b.prot });
      }
      return n * K4;
    }
    if (!this.tables.has(s)) return 0;
    let i = 0;
    while (i < n && this.pages.has(page + i)) this.pages.delete(page + i++);
    return i * K4;
  }

  unmap2m(slot: number, count: number): number {
    const n = Math.min(count, this.slotsLeft(slot));
    let i = 0;
    while (i < n && (this.blocks.has(slot + i) || this.tables.has(slot + i))) this.clearSlot(slot + i++);
    return i * M2;
  }

  runs(): MappingRun[] {
    const out: MappingRun[] = [];
    let run: MappingRun | null = null;
    for (let p = 0; p < PAGES; p++) {
      const l = this.lookup(p);
      if (!l) continue;
      const iova = WINDOW + p * K4;
      if (run && run.iova + run.size === iova && run.phys + run.size === l.pa && run.prot === l.prot) run.size += K4;
      else out.push((run = { iova, phys: l.pa, size: K4, prot: l.prot }));
    }
    return out;
  }
}

describe.each(['arm-64-lpae-s1', 'arm-64-lpae-s2', 'arm-32-lpae-s1'])('%s 4K: random map/unmap agrees with a reference map', (name) => {
  it('iova_to_phys, walk and enumerate', () => {
    const fmt = getFormat(name);
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.boolean(), (ops, coherent) => {
        const mem = new PhysMem([{ base: 0x8_0000_0000, size: 64 * 1024 * 1024 }]);
        const host = new BumpHost(mem, 0x8_0000_0000);
        const t = fmt.create({ granule: K4, ias: 32, oas: 40, coherentWalk: coherent }, host)!;
        const ref = new Ref();
        for (const op of ops) {
          if (op.t === 'map4k') {
            const pa = PA_BASE + op.pa * K4;
            const exp = ref.map4k(op.page, op.count, pa, op.prot);
            expect(t.mapPages(WINDOW + op.page * K4, pa, K4, op.count, op.prot), JSON.stringify(op)).toEqual(exp);
          } else if (op.t === 'map2m') {
            const pa = PA_BASE + op.pa * M2;
            const exp = ref.map2m(op.slot, op.count, pa, op.prot);
            expect(t.mapPages(WINDOW + op.slot * M2, pa, M2, op.count, op.prot), JSON.stringify(op)).toEqual(exp);
          } else if (op.t === 'unmap4k') {
            expect(t.unmapPages(WINDOW + op.page * K4, K4, op.count), JSON.stringify(op)).toBe(ref.unmap4k(op.page, op.count));
          } else {
            expect(t.unmapPages(WINDOW + op.slot * M2, M2, op.count), JSON.stringify(op)).toBe(ref.unmap2m(op.slot, op.count));
          }
        }
        const params = { roots: t.roots, cfg: t.cfg };
        // Collected first and compared once: an expect() per page would dominate the run time.
        const got: string[] = [];
        const want: string[] = [];
        for (let p = 0; p < PAGES; p++) {
          const l = ref.lookup(p);
          const iova = WINDOW + p * K4 + 0x123;
          got.push(`${p} ${t.iovaToPhys(iova)}`);
          want.push(`${p} ${l ? l.pa + 0x123 : 0}`);
          if (p % 7 === 0 || l) {
            const w = fmt.walk(mem, params, iova);
            got.push(`${p} walk ${w.phys} ${w.prot} ${w.fault}`);
            want.push(`${p} walk ${l ? l.pa + 0x123 : null} ${l ? l.prot : 0} ${l ? null : 'translation'}`);
          }
        }
        expect(got).toEqual(want);
        const e = fmt.enumerate(mem, params);
        expect(e.problems).toEqual([]);
        expect(e.mappings).toEqual(ref.runs());
      }),
      { numRuns: 40, seed: 0x1a9ae },
    );
  });
});

/**
 * Other granules and start levels: random non-overlapping page and block mappings anywhere in the input
 * range (concatenated stage-2 roots included), checked by iova_to_phys, walk and enumerate, then each
 * unmapped with its own size.
 */
describe.each([
  ['arm-64-lpae-s1', 16384, 48, 48],
  ['arm-64-lpae-s2', 16384, 48, 48], // 2 level-0 entries concatenated into a 32K level-1 root
  ['arm-64-lpae-s1', 65536, 52, 52], // 4T blocks at level 1, PA bits 51:48 in the descriptor
  ['arm-64-lpae-s2', 65536, 42, 44],
  ['arm-64-lpae-s2', 4096, 40, 40], // 8K concatenated root
  ['arm-32-lpae-s2', 4096, 36, 40],
] as const)('%s granule %i ias %i oas %i: random mappings', (name, granule, ias, oas) => {
  it('translate, walk, enumerate and unmap as mapped', () => {
    const fmt = getFormat(name);
    fc.assert(
      fc.property(
        fc.array(fc.record({ sizeIdx: fc.nat(), slot: fc.nat(), pa: fc.nat(), prot: fc.constantFrom(...PROTS) }), { minLength: 1, maxLength: 12 }),
        (reqs) => {
          const mem = new PhysMem([{ base: 0x8_0000_0000, size: 64 * 1024 * 1024 }]);
          const host = new BumpHost(mem, 0x8_0000_0000);
          const t = fmt.create({ granule, ias, oas }, host)!;
          const sizes: number[] = [];
          for (let b = 0; b < 53; b++) if (Math.floor(t.cfg.pgsizeBitmap / 2 ** b) % 2) sizes.push(2 ** b);
          const done: { iova: number; pa: number; size: number; prot: number }[] = [];
          for (const r of reqs) {
            const size = sizes[r.sizeIdx % sizes.length];
            const iova = (r.slot % Math.min(2 ** ias / size, 2 ** 20)) * size;
            const pa = (r.pa % Math.min(2 ** oas / size, 2 ** 20)) * size;
            if (done.some((d) => iova < d.iova + d.size && d.iova < iova + size)) continue;
            expect(t.mapPages(iova, pa, size, 1, r.prot)).toEqual({ ret: 0, mapped: size });
            done.push({ iova, pa, size, prot: r.prot });
          }
          const params = { roots: t.roots, cfg: t.cfg };
          for (const d of done)
            for (const off of [0, 0x123, d.size - 1]) {
              expect(t.iovaToPhys(d.iova + off)).toBe(d.pa + off);
              const w = fmt.walk(mem, params, d.iova + off);
              expect([w.phys, w.prot, w.leafSize]).toEqual([d.pa + off, d.prot, d.size]);
            }
          const e = fmt.enumerate(mem, params);
          expect(e.problems).toEqual([]);
          const sorted = [...done].sort((a, b) => a.iova - b.iova);
          // Runs merge neighbours; every mapping must lie inside one run at the right offset.
          for (const d of sorted) {
            const run = e.mappings.find((m) => d.iova >= m.iova && d.iova + d.size <= m.iova + m.size);
            expect(run && run.phys + (d.iova - run.iova)).toBe(d.pa);
            expect(run?.prot).toBe(d.prot);
          }
          expect(e.mappings.reduce((s, m) => s + m.size, 0)).toBe(done.reduce((s, d) => s + d.size, 0));
          for (const d of done) expect(t.unmapPages(d.iova, d.size, 1)).toBe(d.size);
          for (const d of done) expect(t.iovaToPhys(d.iova)).toBe(0);
          expect(fmt.enumerate(mem, params).mappings).toEqual([]);
        },
      ),
      { numRuns: 30, seed: 0x64e },
    );
  });
});
