/**
 * `walk --format auto`: the format is chosen only when the base register's form and the table's
 * contents leave one; otherwise the formats that fit are listed and the exit code is 2.
 * Register forms (worked out by hand): Rockchip DTE_ADDR = mk_dtentries(dt) (rockchip-iommu.c:961-962;
 * v2 packs address bits 35:32 into 11:8, rk_mk_dte_v2 :230-237); DART t8020 TTBR = valid bit 31 |
 * PA >> 12 (apple-dart.c:337-348). Table entries as the drivers write them (see decode.test.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildElfCore, loadsFromPhysMem } from '../../src/dump/elf-writer.js';
import { PhysMem } from '../../src/mem/phys-mem.js';
import { cli } from '../support/cli.js';
import { LINEAR_BASE, buildSmmuMemory } from '../formats/smmuv3-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-auto-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function core(mem: PhysMem): string {
  const p = join(dir, `c${n++}.core`);
  writeFileSync(p, buildElfCore({ loads: loadsFromPhysMem(mem) }));
  return p;
}

/** Rockchip: DT at dt, DTE 0 → PT at pt, PTE 1 → page 0x2000 read+write (entries from the given encoder). */
function rockchipMem(dt: number, dte: number, pt: number, pte: number): PhysMem {
  const mem = new PhysMem([
    { base: 0, size: 0x10_0000 },
    { base: 0x4000_0000, size: 0x10_0000 },
    { base: 0x1_0000_0000, size: 0x10_0000 },
  ]);
  mem.write32(dt, dte);
  mem.write32(pt + 4, pte);
  return mem;
}

describe('walk --format auto', () => {
  it('a v2-packed DTE_ADDR (DT at 0x100000000 → register 0x101) chooses rockchip-v2', async () => {
    // DTE for PT 0x100001000 = 0x00001000 | 1 << 8 | 1 = 0x1101; PTE page 0x2000 R+W = 0x2007.
    const c = core(rockchipMem(0x1_0000_0000, 0x1101, 0x1_0000_1000, 0x2007));
    const r = await cli(['walk', c, '--format', 'auto', '--root-reg', '0x101', '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.format).toBe('rockchip-v2');
    expect(j.root).toBe('0x100000000');
    expect(j.auto.chosen).toBe('rockchip-v2');
    expect(j.mappings).toEqual([{ iova: '0x1000', phys: '0x2000', size: '0x1000', prot: 3, protNames: 'READ|WRITE' }]);
    const text = (await cli(['walk', c, '--format', 'auto', '--root-reg', '0x101'])).out;
    expect(text).toMatch(/--format auto: rockchip-v2: DTE_ADDR v2 form/);
  });

  it('a DTE_ADDR below 4 GiB with no packed bits fits v1 and v2 alike: listed, exit 2', async () => {
    const c = core(rockchipMem(0x4000_0000, 0x4000_1001, 0x4000_1000, 0x2007));
    const r = await cli(['walk', c, '--format', 'auto', '--root-reg', '0x40000001']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/2 formats fit \(rockchip-v1, rockchip-v2\), and they give the same 1 run\(s\) here; choose one with --format/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('a DART t8020 TTBR (bit 31 | PA >> 12) chooses the DART whose entries make sense', async () => {
    // DART1, 16K granule: L1[0] → table 0x40004000 (valid bit 0); L2[1] (IOVA 0x4000) → page 0x80000,
    // SP_DIS bit 1 + valid, subpage end 0xfff in bits 51:40 (high word 0xfff00).
    const mem = new PhysMem([{ base: 0x4000_0000, size: 0x10_0000 }]);
    // Both 16 KiB tables wholly in the dump (the next test leaves their zero pages out).
    for (let a = 0x4000_0000; a < 0x4000_8000; a += 0x1000) mem.write32(a, 0);
    mem.write32(0x4000_0000, 0x4000_4001);
    mem.write32(0x4000_4000 + 8, 0x0008_0003);
    mem.write32(0x4000_4000 + 12, 0xfff00);
    const c = core(mem);
    const r = await cli(['walk', c, '--format', 'auto', '--root-reg', '0x80040000', '--json']);
    expect(r.err).toBe('');
    const j = JSON.parse(r.out);
    expect(j.format).toBe('apple-dart');
    expect(j.mappings).toEqual([{ iova: '0x4000', phys: '0x80000', size: '0x4000', prot: 3, protNames: 'READ|WRITE' }]);
    const dart2 = j.auto.candidates.find((x: { format: string }) => x.format === 'apple-dart2');
    expect(dart2.fits).toBe(false);
  });

  it('a DART whose 16 KiB tables the dump holds only in part (zero pages left out) is still chosen', async () => {
    // As above, but only the frames with entries are in the core (makedumpfile -d 1 drops zero pages):
    // the missing pages are partial outside-dump problems, which do not count against the reading.
    const mem = new PhysMem([{ base: 0x4000_0000, size: 0x10_0000 }]);
    mem.write32(0x4000_0000, 0x4000_4001);
    mem.write32(0x4000_4000 + 8, 0x0008_0003);
    mem.write32(0x4000_4000 + 12, 0xfff00);
    const r = await cli(['walk', core(mem), '--format', 'auto', '--root-reg', '0x80040000', '--json']);
    expect(r.err).toBe('');
    const j = JSON.parse(r.out);
    expect(j.format).toBe('apple-dart');
    expect(j.mappings).toEqual([{ iova: '0x4000', phys: '0x80000', size: '0x4000', prot: 3, protNames: 'READ|WRITE' }]);
    // Pages 1-3 of the L2 table; the root's are not reported: with ias 32 only its first 128 entries
    // (page 0) can be reached.
    expect(j.problems.length).toBe(3);
    expect(j.problems.every((q: { kind: string; partial?: boolean }) => q.kind === 'outside-dump' && q.partial)).toBe(true);
  });

  it('a DART t8110 TTBR ((PA >> 14) << 2 | valid) is chosen with its encoding', async () => {
    const mem = new PhysMem([{ base: 0x4000_0000, size: 0x10_0000 }]);
    for (let a = 0x4000_0000; a < 0x4000_8000; a += 0x1000) mem.write32(a, 0);
    mem.write32(0x4000_0000, 0x4000_4001);
    mem.write32(0x4000_4000 + 8, 0x0008_0003);
    mem.write32(0x4000_4000 + 12, 0xfff00);
    const r = await cli(['walk', core(mem), '--format', 'auto', '--root-reg', '0x40001', '--iova', '0x4abc', '--json']);
    expect(r.err).toBe('');
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ format: 'apple-dart', root: '0x40000000', auto: { chosen: 'apple-dart', encoding: 't8110' } });
    expect(j.translations[0].phys).toBe('0x80abc');
  });

  it('an LPAE table with --granule/--ias: stage 1 and stage 2 both read it cleanly, so both are listed', async () => {
    const c = core(buildSmmuMemory());
    const r = await cli(['walk', c, '--format', 'auto', '--root', '0x800000000', '--granule', '4K', '--ias', '48']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/formats fit \(arm-64-lpae-s1, arm-64-lpae-s2\)/);
  });

  it('--format auto with the SMMUv3 registers takes the format from the CD', async () => {
    const c = core(buildSmmuMemory());
    const r = await cli(['walk', c, '--format', 'auto', '--smmu-strtab', LINEAR_BASE, '--strtab-cfg', '5', '--sid', '3', '--iova', '0x10000abc', '--json']);
    expect(JSON.parse(r.out)).toMatchObject({ format: 'arm-64-lpae-s1', translations: [{ phys: '0x812345abc' }] });
  });

  it('nothing fits, or nothing to judge: one line, exit 2', async () => {
    const c = core(rockchipMem(0x4000_0000, 0x4000_1001, 0x4000_1000, 0x2007));
    const none = await cli(['walk', c, '--format', 'auto', '--root-reg', '0x40000002']);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/--format auto: no format fits .*no format writes a base register of this form/);
    const noRoot = await cli(['walk', c, '--format', 'auto']);
    expect(noRoot.code).toBe(2);
    expect(noRoot.err).toMatch(/--format auto needs the base register/);
  });
});
