/**
 * iovaToPhys has two implementations per format: a walk through any MemReader (the original, covered by
 * the golden and oracle tests) and, when the table host's memory is a PhysMem, a walk over its frames
 * with 32-bit halves (the fast path measured by `npm run bench`). This differential test runs both over
 * identical tables - built by the same map/unmap calls and then corrupted by the same pokes on the walk
 * path of mapped IOVAs (garbage pointers into holes, into never-written RAM, into another 4 GiB window,
 * tables straddling 4 GiB, blocks at odd levels) - and requires the same answer for every probe. Map and
 * unmap, which read and write entries through the frames too, must leave the same bytes in both memories
 * and make the same WARN and TLB callbacks.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getFormat } from '../../src/formats/index.js';
import { IOMMU_READ, IOMMU_WRITE, type FormatConfig, type PageTable, type TableHost } from '../../src/formats/types.js';
import { PhysMem, type MemWriter } from '../../src/mem/phys-mem.js';

/** The same memory behind an object that is not a PhysMem: the format must take its generic walk. */
class PlainView implements MemWriter {
  constructor(private readonly m: PhysMem) {}
  read32(a: number): number {
    return this.m.read32(a);
  }
  write32(a: number, v: number): boolean {
    return this.m.write32(a, v);
  }
  isBacked(a: number, len: number): boolean {
    return this.m.isBacked(a, len);
  }
}

/**
 * Bump allocator of table pages. `only4k` ignores the requested alignment beyond 4 KiB (no kernel does;
 * the formats do not check): from just below 4 GiB its 16 KiB tables straddle the 4 GiB line, so walks
 * cross from one window of the frame index into the next in the middle of a table.
 */
class Host implements TableHost {
  next: number;
  constructor(
    readonly mem: MemWriter,
    base: number,
    private readonly only4k = false,
  ) {
    this.next = base;
  }
  allocTable(size: number, align: number): number | null {
    const a = this.only4k ? 4096 : Math.max(align, 4096);
    const pa = Math.ceil(this.next / a) * a;
    this.next = pa + Math.max(size, 4096);
    return pa;
  }
  /** Every WARN, table free and TLB callback, in order: both paths must make the same calls. */
  readonly calls: string[] = [];
  freeTable(pa: number, size: number): void {
    this.calls.push(`free ${pa} ${size}`);
  }
  tlbFlushWalk(iova: number, size: number, granule: number): void {
    this.calls.push(`tlb_flush_walk ${iova} ${size} ${granule}`);
  }
  warn(file: string, line: number): void {
    this.calls.push(`warn ${file}:${line}`);
  }
  tlbAddPage(iova: number, granule: number): void {
    this.calls.push(`tlb_add_page ${iova} ${granule}`);
  }
}

// Tables start just below 4 GiB and continue above it; a second bank sits in another 4 GiB window, and
// 0x4000_0000 is a hole.
const BANKS = [
  { base: 0xfff0_0000, size: 0x20_0000 },
  { base: 0x8_0000_0000, size: 0x10_0000 },
];
const TABLE_BASE = 0xffff_0000;
const TABLE_BASE_4K = 0xffff_9000;

/** Descriptor halves a poke may write: table/block/page pointers to interesting places, or noise. */
const pokeLo = fc.oneof(
  fc.integer({ min: 0, max: 0xffff_ffff }),
  fc.constantFrom(0, 0x4000_0003, 0xffff_f003, 0xffff_f001, 0xfff0_0003, 0x0000_0003, 0x0000_1003, 0xffff_c003, 0x0000_0001, 0x4000_0001),
);
const pokeHi = fc.oneof(fc.constantFrom(0, 0, 8, 0x8, 0x1, 0xffff, 0x0060_0000), fc.integer({ min: 0, max: 0xffff_ffff }));

interface Case {
  name: string;
  cfg: FormatConfig;
  pg: number;
  iovaBits: number;
}

const CASES: Case[] = [
  { name: 'arm-64-lpae-s1', cfg: { granule: 4096, ias: 48, oas: 48, coherentWalk: true }, pg: 0x1000, iovaBits: 48 },
  { name: 'arm-64-lpae-s1', cfg: { granule: 16384, ias: 48, oas: 48, coherentWalk: true }, pg: 0x4000, iovaBits: 48 },
  { name: 'arm-64-lpae-s2', cfg: { granule: 4096, ias: 40, oas: 40, coherentWalk: true }, pg: 0x1000, iovaBits: 40 },
  { name: 'arm-32-lpae-s1', cfg: { granule: 4096, ias: 32, oas: 40, coherentWalk: true }, pg: 0x1000, iovaBits: 32 },
  // Start level 2 (two levels), and a concatenated 16K stage-2 root: the compiled walks start wherever the geometry says.
  { name: 'arm-64-lpae-s1', cfg: { granule: 16384, ias: 36, oas: 40, coherentWalk: true }, pg: 0x4000, iovaBits: 36 },
  { name: 'arm-64-lpae-s2', cfg: { granule: 16384, ias: 42, oas: 42, coherentWalk: true }, pg: 0x4000, iovaBits: 42 },
  { name: 'apple-dart', cfg: { granule: 16384, ias: 32, oas: 36 }, pg: 0x4000, iovaBits: 32 },
  { name: 'apple-dart', cfg: { granule: 4096, ias: 32, oas: 36 }, pg: 0x1000, iovaBits: 32 },
  { name: 'apple-dart2', cfg: { granule: 16384, ias: 32, oas: 42 }, pg: 0x4000, iovaBits: 32 },
];

describe.each(CASES)('$name $cfg.granule: iovaToPhys over PhysMem frames = the generic walk', (c) => {
  it('agrees on mapped, unmapped and corrupted tables (property)', () => {
    const fmt = getFormat(c.name);
    const pages = 2 ** c.iovaBits / c.pg;
    const iova = fc.oneof(
      fc.integer({ min: 0, max: pages - 1 }).map((p) => p * c.pg),
      fc.integer({ min: 0, max: 63 }).map((p) => p * c.pg), // clustered: tables shared between IOVAs
    );
    const op = fc.oneof(
      fc.record({ k: fc.constant('map' as const), i: fc.nat(7), n: fc.integer({ min: 1, max: 3 }), pa: fc.integer({ min: 0, max: 2 ** 20 - 1 }) }),
      fc.record({ k: fc.constant('unmap' as const), i: fc.nat(7), n: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ k: fc.constant('poke' as const), i: fc.nat(7), level: fc.nat(3), lo: pokeLo, hi: pokeHi, half: fc.constantFrom('lo', 'hi', 'both') }),
    );
    fc.assert(
      fc.property(fc.array(iova, { minLength: 8, maxLength: 8 }), fc.array(op, { minLength: 1, maxLength: 30 }), fc.boolean(), (pool, ops, only4k) => {
        const fastMem = new PhysMem(BANKS);
        const plainMem = new PhysMem(BANKS);
        const base = only4k ? TABLE_BASE_4K : TABLE_BASE;
        const fastHost = new Host(fastMem, base, only4k);
        const plainHost = new Host(new PlainView(plainMem), base, only4k);
        const fast = fmt.create(c.cfg, fastHost) as PageTable;
        const plain = fmt.create(c.cfg, plainHost) as PageTable;
        // White-box: the fast table really took the frame path and the other did not.
        expect((fast as unknown as { frames?: unknown }).frames).toBe(fastMem);
        expect((plain as unknown as { frames?: unknown }).frames).toBeUndefined();
        expect(plain.roots).toEqual(fast.roots);
        for (const o of ops) {
          const at = pool[o.i];
          if (o.k === 'map') {
            const pa = o.pa * c.pg;
            expect(fast.mapPages(at, pa, c.pg, o.n, IOMMU_READ | IOMMU_WRITE)).toEqual(plain.mapPages(at, pa, c.pg, o.n, IOMMU_READ | IOMMU_WRITE));
          } else if (o.k === 'unmap') {
            expect(fast.unmapPages(at, c.pg, o.n)).toBe(plain.unmapPages(at, c.pg, o.n));
          } else {
            // Corrupt an entry on the walk path of this IOVA (the last step when the walk is shorter).
            const steps = fmt.walk(fastMem, { roots: fast.roots, cfg: fast.cfg }, at).steps;
            if (steps.length === 0) continue;
            const e = steps[Math.min(o.level, steps.length - 1)].entryAddr;
            for (const m of [fastMem, plainMem]) {
              if (o.half !== 'hi') m.write32(e, o.lo);
              if (o.half !== 'lo') m.write32(e + 4, o.hi);
            }
          }
        }
        expect(fastHost.calls).toEqual(plainHost.calls);
        // map/unmap also read and write entries through the frames on a PhysMem: same bytes either way.
        expect(fastMem.frameNumbers()).toEqual(plainMem.frameNumbers());
        for (const fn of fastMem.frameNumbers()) expect(fastMem.frameSnapshot(fn * 4096)).toEqual(plainMem.frameSnapshot(fn * 4096));
        for (const base of pool) {
          for (const a of [base, base + 8, base + c.pg - 4, base + c.pg, base + 0x20_0000 + 0x10, base ^ 0x4000_0000]) {
            if (a >= 2 ** c.iovaBits) continue;
            if (fast.iovaToPhys(a) !== plain.iovaToPhys(a)) return false;
          }
        }
        return true;
      }),
      { numRuns: 60 },
    );
  });
});
