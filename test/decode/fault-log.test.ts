/**
 * Kernel fault lines built from the 6.12 format strings (rockchip-iommu.c:588-590, 627, 649;
 * ipmmu-vmsa.c:512-531; apple-dart.c:1037/1076; arm-smmu.c:421-445) with values worked out by hand,
 * printed with the kernel's printf rules (%pad/%pa = 0x + 16 digits; %#08x counts the 0x).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseFaultLog } from '../../src/decode/fault-log.js';

const one = (line: string) => {
  const r = parseFaultLog(line);
  expect(r.lines).toHaveLength(1);
  return r.lines[0];
};

describe('Rockchip page-fault dump', () => {
  // A v2 IOMMU, DT at 0x1f7ff0000 (above 4 GiB). IOVA 0x100abc: dte_index 0, pte_index 0x100, offset 0xabc.
  // DTE for a PT at 0x123401000 (rk_mk_dte_v2): 0x23401000 | (addr bit 32 → bit 8) | valid = 0x23401101.
  // PTE for page 0x187654000, R+W: 0x87654000 | 0x100 | 0x6 | 1 = 0x87654107; flags = pte & 0x1fe = 0x106.
  const walk =
    '[ 5012.000321] rk_iommu fde4b000.iommu: mmu_dte_addr: 0x00000001f7ff0000 dte@0x00000001f7ff0000: 0x23401101 valid: 1 ' +
    'pte@0x0000000123401400: 0x87654107 valid: 1 page@0x0000000187654abc flags: 0x106';

  it('reads every field of the walk line and decodes the v2 packing', () => {
    const l = one(walk);
    expect(l.kind).toBe('rockchip-walk');
    expect(l.time).toBeCloseTo(5012.000321, 6);
    expect(l.device).toBe('rk_iommu fde4b000.iommu');
    expect(l.fields).toEqual({
      mmu_dte_addr: '0x1f7ff0000',
      dte_addr: '0x1f7ff0000',
      dte: '0x23401101',
      dte_valid: 1,
      pte_addr: '0x123401400',
      pte: '0x87654107',
      pte_valid: 1,
      page_addr: '0x187654abc',
      flags: '0x106',
    });
    const text = l.explain.join('\n');
    expect(text).toMatch(/DT is above 4 GiB.*v1\.0 block/);
    expect(text).toMatch(/the PT is at 0x123401000 \(40-bit\)/);
    expect(text).toMatch(/consistent only with the v2 layout/);
    expect(text).toMatch(/bits 8:4 = 0x10 are NOT flags on a v2 IOMMU/);
    expect(text).toMatch(/page@0x187654abc = page 0x187654000 \+ page_offset 0xabc/);
    expect(text).toMatch(/iommu-lab walk DUMP --format rockchip-v2 --root 0x1f7ff0000$/m);
  });

  it('a zero PTE under a valid DTE is called empty or erased; an invalid DTE stops the dump', () => {
    // rockchip-iommu.c:574-580: an invalid DTE leaves pte@, pte, page@ and flags at 0.
    const erased = one(
      'rk_iommu fde4b000.iommu: mmu_dte_addr: 0x00000000f7ff0000 dte@0x00000000f7ff0000: 0xf4a01001 valid: 1 pte@0x00000000f4a01400: 0x000000 valid: 0 page@0x0000000000000000 flags: 0x0',
    );
    expect(erased.explain.join('\n')).toMatch(/PTE 0 under a valid DTE: the page table is empty at this index .* erased/);
    const noDte = one(
      'rk_iommu ff900000.iommu: mmu_dte_addr: 0x0000000031e60000 dte@0x0000000031e60008: 0x000000 valid: 0 pte@0x0000000000000000: 0x000000 valid: 0 page@0x0000000000000000 flags: 0x0',
    );
    expect(noDte.explain.join('\n')).toMatch(/dte_index 0x2: IOVA 0x800000\.\.0xbfffff/);
    expect(noDte.explain.join('\n')).toMatch(/nothing was ever mapped in this 4 MiB/);
  });

  it('page fault, iova line (checked against the IOVA), bus error; odd spacing and syslog framing', () => {
    const r = parseFaultLog(
      [
        '<3>[   12.345678] rk_iommu   fde4b000.iommu:  Page fault at 0x00000000ffc01234 of type write',
        'Nov 23 19:00:01 rock3b kernel: rk_iommu fde4b000.iommu: iova = 0x00000000ffc01234: dte_index:  0x3ff pte_index: 0x1 page_offset: 0x234\r',
        '\trk_iommu fde4b000.iommu: iova = 0x00000000ffc01234: dte_index: 0x3fe pte_index: 0x1 page_offset: 0x234',
        'rk_iommu fde4b000.iommu: BUS_ERROR occurred at 0x0000000000100000',
      ].join('\n'),
    );
    expect(r.lines.map((l) => l.kind)).toEqual(['rockchip-page-fault', 'rockchip-iova', 'rockchip-iova', 'rockchip-bus-error']);
    expect(r.lines[0].fields).toEqual({ iova: '0xffc01234', type: 'write' });
    expect(r.lines[0].explain[1]).toMatch(/DTE index 0x3ff .* PTE index 0x1 .* page offset 0x234/);
    expect(r.lines[1].fields).toMatchObject({ dte_index: 0x3ff, pte_index: 1, page_offset: 0x234 });
    expect(r.lines[1].explain.join()).not.toMatch(/inconsistent/);
    expect(r.lines[2].explain.join()).toMatch(/inconsistent: from the IOVA they should be 0x3ff, 0x1, 0x234/);
    expect(r.lines[3].fields).toEqual({ addr: '0x100000' });
  });
});

describe('IPMMU, DART, arm-smmu', () => {
  it('IPMMU unhandled fault and walk abort', () => {
    const r = parseFaultLog(
      'ipmmu-vmsa e67b0000.iommu: Unhandled fault: status 0x00000001 iova 0x7fff000\nipmmu-vmsa e67b0000.iommu: Page Table Walk Abort @0xfffff000',
    );
    expect(r.lines[0]).toMatchObject({ kind: 'ipmmu-unhandled', fields: { status: '0x1', iova: '0x7fff000' } });
    expect(r.lines[0].explain[0]).toMatch(/TF \(translation fault/);
    expect(r.lines[1]).toMatchObject({ kind: 'ipmmu-walk-abort', fields: { iova: '0xfffff000' } });
  });

  it('DART: the ERROR layout is told from the printed stream, code and name', () => {
    // t8110: stream bits 27:20 = 3, NO_PTE = bit 3 → status 0x80300008 (apple-dart.c:108-117).
    const t8110 = one('apple-dart 231304000.iommu: translation fault: status:0x80300008 stream:3 code:0x8 (NO PTE FOR IOVA) at 0x1000abc000');
    expect(t8110.fields).toEqual({ status: '0x80300008', stream: 3, code: '0x8', name: 'NO PTE FOR IOVA', addr: '0x1000abc000' });
    expect(t8110.explain.join('\n')).toMatch(/a t8110 DART/);
    // t8020: READ_FAULT is bit 4 (apple-dart.c:62); on t8110 bit 4 would be WRITE FAULT.
    expect(one('translation fault: status:0x80000010 stream:0 code:0x10 (READ FAULT) at 0x4000').explain.join('\n')).toMatch(/a t8020 DART/);
    // Two bits set: the driver's == comparison prints "unknown" (apple-dart.c:1022-1033).
    const unk = one('apple-dart 382f00000.iommu: translation fault: status:0x81000018 stream:1 code:0x18 (unknown) at 0x8000');
    expect(unk.explain.join('\n')).toMatch(/"unknown".*bits 3, 4/);
  });

  it('arm-smmu context fault lines', () => {
    const r = parseFaultLog(
      [
        'arm-smmu 5040000.iommu: Unhandled context fault: fsr=0x402, iova=0x80001000, fsynr=0x10011, cbfrsynra=0x420, cb=1',
        'arm-smmu 5040000.iommu: FSR    = 00000402 [Format=2 TF], SID=0x420',
        'arm-smmu 5040000.iommu: FSYNR0 = 00010011 [S1CBNDX=1 WNR PLVL=1]',
      ].join('\n'),
    );
    expect(r.lines.map((l) => l.kind)).toEqual(['arm-smmu-context-fault', 'arm-smmu-fsr', 'arm-smmu-fsynr0']);
    const e = r.lines[0].explain.join('\n');
    expect(e).toMatch(/FSR 0x402: TF \(translation fault/);
    expect(e).toMatch(/format 2/);
    expect(e).toMatch(/level 1, write/);
    expect(e).toMatch(/StreamID 0x420/);
    expect(r.lines[2].explain[0]).toMatch(/S1CBNDX 1, PLVL 1 .* WNR: a write/);
  });
});

describe('SMMUv3 event queue dump (arm-smmu-v3.c:1856-1859, fields arm-smmu-v3.h:438-459)', () => {
  // F_TRANSLATION (0x10) for SID 0x300 without a substream: word 0 = SID << 32 | ID; word 1: RnW bit 35
  // (read) | CLASS 1 (TT) in bits 41:40 = 0x10800000000; word 2 = the IOVA.
  const dump = [
    '[  88.000001] arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:',
    '[  88.000002] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000030000000010',
    '[  88.000003] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000010800000000',
    '[  88.000004] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000010000abc',
    '[  88.000005] arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000',
  ].join('\n');
  it('collects the four words under the header and decodes them', () => {
    const r = parseFaultLog(dump);
    expect(r.lines.map((l) => l.kind)).toEqual(['smmuv3-event', 'smmuv3-event-word', 'smmuv3-event-word', 'smmuv3-event-word', 'smmuv3-event-word']);
    expect(r.lines[0].fields).toEqual({ id: '0x10', sid: '0x300', access: 'read', class: 'TT', iova: '0x10000abc' });
    const e = r.lines[0].explain.join('\n');
    expect(e).toMatch(/F_TRANSLATION/);
    expect(e).toMatch(/no SubstreamID/);
    expect(e).toMatch(/--sid 0x300 --iova 0x10000abc --explain/);
  });
  it('a header cut short is still explained, and says so', () => {
    const r = parseFaultLog(dump.split('\n').slice(0, 2).join('\n') + '\nsomething else');
    expect(r.lines[0].explain.join()).toMatch(/only 1 of the 4 event words/);
    expect(r.lines[2].kind).toBe('unrecognised');
  });
});

describe('robustness', () => {
  it('unrecognised lines are listed, blank lines skipped', () => {
    const r = parseFaultLog('hello\n\n[    0.000000] Booting Linux on physical CPU 0x0\nrk_iommu x.iommu: BUS_ERROR occurred at 0x0000000000000000');
    expect(r.lines.map((l) => [l.line, l.kind])).toEqual([
      [1, 'unrecognised'],
      [3, 'unrecognised'],
      [4, 'rockchip-bus-error'],
    ]);
    expect(r).toMatchObject({ recognised: 1, unrecognised: 2 });
  });
  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const r = parseFaultLog(s);
        expect(r.recognised + r.unrecognised).toBe(r.lines.length);
      }),
      { numRuns: 300 },
    );
  });
});
