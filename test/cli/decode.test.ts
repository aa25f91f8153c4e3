/**
 * `iommu-lab decode` end to end. Descriptor values are worked out by hand from the kernel encoders:
 * rockchip-iommu.c rk_mk_pte (:271-278, R bit 1, W bit 2, valid bit 0), rk_mk_dte_v2 (:230-237, address
 * bits 35:32 → 11:8, 39:36 → 7:4); io-pgtable-arm.c stage-1 page/block (AF bit 10, SH 9:8, AP[1] bit 6,
 * AttrIndx 4:2, nG 11, type bits 1:0); io-pgtable-dart.c DART1 leaf (address 35:12 in place, SP_DIS
 * bit 1, subpage end 0xfff in 51:40).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-decode-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function decodeJson(args: string[]) {
  const r = await cli(['decode', ...args, '--json']);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.out);
}

describe('decode --format: one descriptor', () => {
  it('rockchip-v1 PTE 0x12345007: page 0x12345000, read+write', async () => {
    const j = await decodeJson(['--format', 'rockchip-v1', '--level', '2', '0x12345007']);
    expect(j.levels).toEqual([expect.objectContaining({ level: 2, valid: true, kind: 'page', address: '0x12345000', protNames: 'READ|WRITE', reservedBitsSet: false })]);
  });
  it('rockchip-v1 DTE with bit 8 set has reserved bits (v1 DTE bits 11:1 are reserved)', async () => {
    const j = await decodeJson(['--format', 'rockchip-v1', '--level', '1', '0x12345101']);
    expect(j.levels[0]).toMatchObject({ kind: 'table', address: '0x12345000', reservedBitsSet: true });
  });
  it('rockchip-v2 DTE 0x23401101 names a PT at 0x123401000 (bit 8 = address bit 32)', async () => {
    const j = await decodeJson(['--format', 'rockchip-v2', '--level', '1', '0x23401101']);
    expect(j.levels[0]).toMatchObject({ kind: 'table', address: '0x123401000', reservedBitsSet: false });
  });
  it('arm-64-lpae-s1: a page at level 3, a 2 MiB block at level 2, zero is invalid; no --level shows every level', async () => {
    const page = await decodeJson(['--format', 'arm-64-lpae-s1', '--level', '3', '0x812345f47']);
    expect(page.levels[0]).toMatchObject({ kind: 'page', address: '0x812345000', protNames: 'READ|WRITE|CACHE' });
    const block = await decodeJson(['--format', 'arm-64-lpae-s1', '--level', '2', '0x840000741']);
    expect(block.levels[0]).toMatchObject({ kind: 'block', address: '0x840000000', protNames: 'READ|WRITE' });
    const zero = await decodeJson(['--format', 'arm-64-lpae-s1', '--level', '1', '0']);
    expect(zero.levels[0]).toMatchObject({ kind: 'invalid', valid: false });
    const all = await decodeJson(['--format', 'arm-64-lpae-s1', '0x800001003']);
    expect(all.levels.map((l: { level: number; kind: string }) => [l.level, l.kind])).toEqual([
      [0, 'table'],
      [1, 'table'],
      [2, 'table'],
      [3, 'page'],
    ]);
  });
  it('a 64-bit value above 2^53 (UXN|PXN, bits 54:53) keeps every bit', async () => {
    const j = await decodeJson(['--format', 'arm-64-lpae-s1', '--level', '3', '0x0060000812345f47']);
    expect(j.levels[0]).toMatchObject({ address: '0x812345000' });
    expect(j.levels[0].protNames).toMatch(/NOEXEC/);
  });
  it('apple-dart leaf 0xfff0812344003: page 0x812344000, read+write', async () => {
    const j = await decodeJson(['--format', 'apple-dart', '--level', '2', '0xfff0812344003']);
    expect(j.levels[0]).toMatchObject({ kind: 'page', address: '0x812344000', protNames: 'READ|WRITE', reservedBitsSet: false });
  });
  it('text output names the fields', async () => {
    const r = await cli(['decode', '--format', 'rockchip-v2', '--level', '2', '0x87654107']);
    expect(r.out).toContain('level 2 (PTE): a page → 0x187654000, READ|WRITE');
    expect(r.out).toContain('bits 11:8 (page address 35:32, packed): 0x1');
  });
});

describe('decode --smmu: SMMUv3 structures by hand (arm-smmu-v3.h bit positions, see test/formats/smmuv3.test.ts)', () => {
  const fields = (j: { fields: { name: string; value: string }[] }) => Object.fromEntries(j.fields.map((f) => [f.name, f.value]));
  it('an STE as arm_smmu_make_cdtable_ste writes it: S1, CD table 0x80300000, S1CDMax 2, S1DSS 2', async () => {
    const f = fields(await decodeJson(['--smmu', 'ste', '0x100000008030000b', '0xd6']));
    expect(f['Config (word 0 bits 3:1)']).toMatch(/^5 /);
    expect(f['S1ContextPtr (bits 51:6)']).toBe('0x80300000');
    expect(f['S1CDMax (bits 63:59)']).toMatch(/^2 /);
    expect(f['S1DSS (word 1 bits 1:0)']).toMatch(/^2 /);
  });
  it('a stage-2 STE: VTCR 0x21558 in word 2 bits 50:32 → ias 40, 4K, oas 40', async () => {
    const f = fields(await decodeJson(['--smmu', 'ste', '0xd', '0', '0x044a155800000001', '0x80002000']));
    expect(f['VTCR.S2T0SZ (word 2 bits 37:32)']).toBe('24 → ias 40');
    expect(f['VTCR.S2TG (bits 47:46)']).toBe('0 → 4K granule');
    expect(f['VTCR.S2PS (bits 50:48)']).toBe('2 → oas 40 bits');
    expect(f['S2TTB (word 3 bits 51:4)']).toBe('0x80002000');
  });
  it('a CD as arm_smmu_make_s1_cd writes it, and STRTAB_BASE_CFG 0x10210', async () => {
    const cd = fields(await decodeJson(['--smmu', 'cd', '0x1e205c0003510', '0x800000000']));
    expect(cd['T0SZ (bits 5:0)']).toBe('16 → ias = 64 - 16 = 48 bits');
    expect(cd['ASID (bits 63:48)']).toBe('1');
    expect(cd['TTB0 (word 1 bits 51:4)']).toBe('0x800000000');
    const cfg = fields(await decodeJson(['--smmu', 'strtab-cfg', '0x10210']));
    expect(cfg['FMT (bits 17:16)']).toBe('1 (2-level)');
    expect(cfg['LOG2SIZE (bits 5:0)']).toBe('16 (StreamIDs 0..0xffff)');
  });
  it('bad kinds and word counts: exit 2', async () => {
    for (const [args, re] of [
      [['decode', '--smmu', 'pte', '0x1'], /--smmu 'pte' is not one of/],
      [['decode', '--smmu', 'ste', '1', '2', '3', '4', '5'], /1 to 4 64-bit words/],
      [['decode', '--smmu', 'strtab-cfg', '0x100000000'], /32-bit register/],
    ] as [string[], RegExp][]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(re);
    }
  });
});

describe('decode fault lines', () => {
  it('--log FILE with text output', async () => {
    const p = join(dir, 'dmesg.txt');
    writeFileSync(
      p,
      '[  123.456789] rk_iommu fde4b000.iommu: Page fault at 0x0000000000100000 of type read\n' +
        '[  123.456801] rk_iommu fde4b000.iommu: iova = 0x0000000000100000: dte_index: 0x0 pte_index: 0x100 page_offset: 0x0\n' +
        'garbage here\n',
    );
    const r = await cli(['decode', '--log', p]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('line 1: rockchip-page-fault (rk_iommu fde4b000.iommu) at 123.456789 s');
    expect(r.out).toContain('line 3: unrecognised');
    expect(r.out).toContain('2 line(s) recognised, 1 unrecognised');
  });
  it('positional text, unquoted words joined', async () => {
    const j = await decodeJson(['rk_iommu', 'fde4b000.iommu:', 'BUS_ERROR', 'occurred', 'at', '0x0000000100000000']);
    expect(j.lines[0]).toMatchObject({ kind: 'rockchip-bus-error', fields: { addr: '0x100000000' } });
  });
});

describe('bad input: one line, exit 2', () => {
  const cases: [string[], RegExp][] = [
    [['decode'], /nothing to decode/],
    [['decode', '--format', 'nope', '0x1'], /unknown format 'nope'/],
    [['decode', '--format', 'rockchip-v1', '0x100000000'], /entries are 32 bits/],
    [['decode', '--format', 'rockchip-v1', 'zz'], /descriptor value 'zz'/],
    [['decode', '--format', 'arm-64-lpae-s1', '--level', '7', '0x3'], /has levels 0, 1, 2, 3/],
    [['decode', '--format', 'arm-64-lpae-s1', '--level', 'x', '0x3'], /--level 'x'/],
    [['decode', '--format', 'rockchip-v1', '0x1', '0x2'], /exactly one descriptor VALUE/],
    [['decode', '--level', '1', 'BUS_ERROR occurred at 0x0'], /--level goes with --format/],
    [['decode', 'hello', 'world'], /no kernel IOMMU fault line recognised in the arguments/],
    [['decode', '--log', '/nonexistent/dmesg'], /ENOENT|no such file/i],
  ];
  for (const [args, re] of cases)
    it(args.join(' '), async () => {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(re);
      expect(r.err.trim().split('\n')).toHaveLength(1);
    });
});
