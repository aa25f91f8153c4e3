/**
 * Tables that Linux would never write, as a dump inspector meets them: cycles, entries into holes,
 * reserved bits and encodings, output beyond OAS, a root outside memory. The walker must report a fault
 * or a note, enumerate must report problems, and neither may throw or run unbounded.
 */
import { describe, expect, it } from 'vitest';
import { getFormat } from '../../src/formats/index.js';
import { DeviceView } from '../../src/mem/device-view.js';
import { PhysMem } from '../../src/mem/phys-mem.js';

const fmt = getFormat('arm-64-lpae-s1');
const cfg = fmt.resolveConfig({ granule: 4096, ias: 48, oas: 40 });
const ROOT = 0x1000_0000;
const T1 = ROOT + 0x1000;
const T2 = ROOT + 0x2000;
const T3 = ROOT + 0x3000;
const HOLE = 0x8000_0000; // between the two banks

function mem(): PhysMem {
  return new PhysMem([
    { base: 0, size: 0x8000_0000 },
    { base: 0x1_0000_0000, size: 0x1000_0000 },
  ]);
}
function put(m: PhysMem, pa: number, lo: number, hi = 0): void {
  m.write64(pa, lo >>> 0, hi >>> 0);
}
/** A clean 4-level path for IOVA 0: ROOT[0] -> T1[0] -> T2[0] -> T3. */
function path(m: PhysMem): void {
  put(m, ROOT, T1 | 3);
  put(m, T1, T2 | 3);
  put(m, T2, T3 | 3);
}
const params = { roots: [ROOT], cfg };
const PAGE = 0x0e43; // nG | AF | SH_OS | UNPRIV | page

describe('walk of garbage', () => {
  it('a table pointing back at the root: notes the loop, follows it as the hardware does', () => {
    const m = mem();
    put(m, ROOT, ROOT | 0x403); // AF is ignored in a table descriptor but makes the level-3 reading a usable page
    const w = fmt.walk(m, params, 0x123);
    expect(w.steps.map((s) => s.kind)).toEqual(['table', 'table', 'table', 'page']);
    expect(w.steps.every((s) => s.tableAddr === ROOT)).toBe(true);
    // Read as a page at level 3, ROOT[0] maps IOVA 0 to the root table itself.
    expect(w.phys).toBe(ROOT + 0x123);
    expect(w.notes?.some((n) => /loop/.test(n))).toBe(true);
  });

  it('an entry into a hole is a bus fault', () => {
    const m = mem();
    put(m, ROOT, (HOLE | 3) >>> 0);
    const w = fmt.walk(m, params, 0);
    expect(w.fault).toBe('bus');
    expect(w.steps.length).toBe(1);
    expect(w.detail).toMatch(/0x80000000/);
  });

  it('a non-zero entry with bit 0 clear is invalid to hardware (kind bogus, translation fault)', () => {
    const m = mem();
    put(m, ROOT, T1 | 2);
    const w = fmt.walk(m, params, 0);
    expect(w.steps[0].kind).toBe('bogus');
    expect(w.fault).toBe('translation');
  });

  it('a block at level 0, or type 0b01 at level 3, is a reserved encoding', () => {
    const m = mem();
    put(m, ROOT, 0x0e41);
    expect(fmt.walk(m, params, 0)).toMatchObject({ fault: 'reserved', phys: null });
    path(m);
    put(m, T3, 0x5000_0000 | 0x0e41);
    const w = fmt.walk(m, params, 0);
    expect(w.fault).toBe('reserved');
    expect(w.steps[3].kind).toBe('bogus');
  });

  it('output or table address beyond OAS is an address-size fault', () => {
    const m = mem();
    path(m);
    put(m, T3, PAGE, 0x100); // PA 0x100_0000_0000 = 2^40
    expect(fmt.walk(m, params, 0).fault).toBe('address-size');
    put(m, T2, 3, 0x200);
    expect(fmt.walk(m, params, 0).fault).toBe('address-size');
  });

  it('RES0 bits are noted and ignored; a clear access flag faults', () => {
    const m = mem();
    path(m);
    put(m, T3, 0x5000_0000 | PAGE, 0x0001_0000); // bit 48
    const w = fmt.walk(m, params, 0x10);
    expect(w.phys).toBe(0x5000_0010);
    expect(w.notes?.some((n) => /RES0/.test(n))).toBe(true);
    put(m, T3, 0x5000_0000 | (PAGE & ~0x400));
    expect(fmt.walk(m, params, 0).fault).toBe('permission');
  });

  it('a walker on a 32-bit bus cannot reach a table above 4 GiB: bus fault, or the aliased table when truncating', () => {
    const m = mem();
    const HIGH = 0x1_0000_0000;
    put(m, ROOT, (HIGH | 3) >>> 0, 1); // level-1 table at 4 GiB
    put(m, HIGH, T2 | 3);
    put(m, T2, T3 | 3);
    put(m, T3, 0x5000_0000 | PAGE);
    expect(fmt.walk(m, params, 0).phys).toBe(0x5000_0000);
    const w = fmt.walk(new DeviceView(m, 32, 'bus-error'), params, 0);
    expect(w.fault).toBe('bus');
    expect(w.steps.length).toBe(1);
    // Truncation reaches physical 0 instead, which holds nothing: a translation fault at level 1.
    const tr = fmt.walk(new DeviceView(m, 32, 'truncate'), params, 0);
    expect(tr.steps[1]).toMatchObject({ level: 1, tableAddr: HIGH, entryAddr: HIGH, kind: 'invalid' });
    expect(tr.fault).toBe('translation');
  });

  it('IOVA above ias faults before any read; a root above OAS too', () => {
    const m = mem();
    expect(fmt.walk(m, params, 2 ** 48)).toMatchObject({ fault: 'outside-ias', steps: [] });
    expect(fmt.walk(m, { roots: [2 ** 41], cfg }, 0).fault).toBe('address-size');
  });
});

describe('enumerate of garbage', () => {
  it('reports a cycle to an ancestor and does not follow it', () => {
    const m = mem();
    path(m);
    put(m, T3, 0x5000_0000 | PAGE);
    put(m, T2 + 8, T1 | 3); // level-2 entry naming the level-1 table
    put(m, T1 + 8, ROOT | 3);
    const r = fmt.enumerate(m, params);
    expect(r.mappings).toEqual([{ iova: 0, phys: 0x5000_0000, size: 0x1000, prot: 3 }]);
    expect(r.problems.filter((p) => p.kind === 'cycle').map((p) => p.addr).sort()).toEqual([T1 + 8, T2 + 8]);
  });

  it('reports tables in holes, reserved bits, reserved encodings, bogus entries and output beyond OAS', () => {
    const m = mem();
    path(m);
    put(m, ROOT + 8, (HOLE | 3) >>> 0);
    put(m, ROOT + 16, 0x0e41); // level-0 block
    put(m, T1 + 8, T1 | 2); // non-zero, bit 0 clear
    put(m, T3, 0x5000_0000 | PAGE, 0x0002_0000); // bit 49
    put(m, T3 + 8, PAGE, 0x100); // beyond OAS 40
    put(m, T3 + 16, 0x5000_2000 | 0x0e41); // 0b01 at level 3
    const r = fmt.enumerate(m, params);
    const kinds = r.problems.map((p) => `${p.kind}@${p.addr.toString(16)}`).sort();
    expect(kinds).toEqual(
      [`outside-dump@${(ROOT + 8).toString(16)}`, `reserved@${(ROOT + 16).toString(16)}`, `translation@${(T1 + 8).toString(16)}`, `reserved@${T3.toString(16)}`, `address-size@${(T3 + 8).toString(16)}`, `reserved@${(T3 + 16).toString(16)}`].sort(),
    );
    expect(r.mappings).toEqual([{ iova: 0, phys: 0x5000_0000, size: 0x1000, prot: 3 }]);
  });

  it('lists what a table holds in the pages a dump kept, and reports the pages it left out', () => {
    // A 64K-granule level-3 table is 16 pages of 4 KiB; makedumpfile leaves zero-filled ones out. Here
    // the dump lacks the table's page 1 (entries 512..1023): pages 0 and 2 are still listed.
    const f64 = getFormat('arm-64-lpae-s1');
    const c64 = f64.resolveConfig({ granule: 0x10000, ias: 48, oas: 48 });
    const R = 0x2000_0000;
    const L2 = R + 0x10000;
    const L3 = R + 0x20000;
    const m = mem();
    put(m, R, L2 | 3);
    put(m, L2, L3 | 3);
    put(m, L3, 0x4000_0000 | PAGE); // entry 0
    put(m, L3 + 600 * 8, 0x4010_0000 | PAGE); // entry 600: in the page left out
    put(m, L3 + 1100 * 8, 0x4020_0000 | PAGE); // entry 1100
    const missing = L3 + 0x1000;
    const dump = {
      read32: (a: number) => (a >= missing && a < missing + 0x1000 ? -1 : m.read32(a)),
      isBacked: (a: number, len: number) => !(a < missing + 0x1000 && a + len > missing) && m.isBacked(a, len),
    };
    const r = f64.enumerate(dump, { roots: [R], cfg: c64 });
    expect(r.mappings.map((x) => [x.iova, x.phys])).toEqual([
      [0, 0x4000_0000],
      [1100 * 0x10000, 0x4020_0000],
    ]);
    expect(r.problems).toEqual([expect.objectContaining({ kind: 'outside-dump', addr: missing, level: 3 })]);
    expect(r.problems[0].message).toContain(`IOVA 0x${(512 * 0x10000).toString(16)}..0x${(1024 * 0x10000 - 1).toString(16)} unknown`);
  });

  it('a root outside memory is a problem, not an exception', () => {
    const r = fmt.enumerate(mem(), { roots: [HOLE], cfg });
    expect(r.problems).toEqual([expect.objectContaining({ kind: 'root', addr: HOLE })]);
    expect(fmt.enumerate(mem(), { roots: [], cfg }).problems[0].kind).toBe('root');
  });

  it('stays bounded when every entry shares the same sub-tables (512^3 leaves)', () => {
    const m = mem();
    for (let i = 0; i < 512; i++) {
      put(m, ROOT + 8 * i, T1 | 3);
      put(m, T1 + 8 * i, T2 | 3);
      put(m, T2 + 8 * i, T3 | 3);
      put(m, T3 + 8 * i, (0x5000_0000 + i * 0x1000) | PAGE);
    }
    const r = fmt.enumerate(m, params);
    expect(r.problems.at(-1)?.kind).toBe('loop');
    expect(r.mappings.length).toBeGreaterThan(1000);
    // The first 2 MiB are one run; every 2 MiB starts a new run since the PA wraps.
    expect(r.mappings[0]).toEqual({ iova: 0, phys: 0x5000_0000, size: 0x20_0000, prot: 3 });
  }, 20_000);
});
