/**
 * SMMUv3 stream table → STE → CD → page table, from structures this test lays out word by word with
 * the bit positions of the 6.12 driver (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h, "V3H"):
 *   STRTAB_BASE ADDR 51:6, RA bit 62 (V3H:139-140); STRTAB_BASE_CFG FMT 17:16, SPLIT 10:6, LOG2SIZE 5:0
 *   (V3H:143-147), written by arm_smmu_write_strtab (arm-smmu-v3.c:3968-3990);
 *   L1 stream descriptor SPAN 4:0 = SPLIT+1, L2PTR 51:6 (V3H:209-210, arm-smmu-v3.c:1506-1516);
 *   STE word 0: V 0, CFG 3:1 (abort 0, bypass 4, S1 5, S2 6), S1FMT 5:4, S1CTXPTR 51:6, S1CDMAX 63:59;
 *   word 1: S1DSS 1:0, S1CIR 3:2, S1COR 5:4, S1CSH 7:6 (V3H:238-262; arm_smmu_make_cdtable_ste :1596-1651);
 *   CD word 0: T0SZ 5:0, TG0 7:6, IRGN0 9:8, ORGN0 11:10, SH0 13:12, EPD0 14, EPD1 30, V 31, IPS 34:32,
 *   AA64 41, R 45, A 46, ASET 47, ASID 63:48; word 1: TTB0 51:4 (V3H:331-355; arm_smmu_make_s1_cd :1369-1409);
 *   L1 CD descriptor V 0, L2PTR 51:12 (V3H:304-305).
 * The stage-1 tables are hand-made arm-64-lpae-s1 descriptors (table = addr | 0b11; page/block with
 * AF bit 10, SH 9:8, AP[1] bit 6, AttrIndx 4:2, nG bit 11, as arm_lpae_prot_to_pte writes them).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhysMem } from '../../src/mem/phys-mem.js';
import { CFG, LINEAR_BASE, LINEAR_CFG, STE_V, TWOLVL_BASE, TWOLVL_CFG, buildSmmuMemory, write64 } from './smmuv3-helpers.js';
import { parseReg64, resolveSmmuV3Stream, field64 } from '../../src/formats/smmuv3.js';


describe('register parsing', () => {
  it('keeps a 64-bit STRTAB_BASE with RA (bit 62) in halves', () => {
    const r = parseReg64(LINEAR_BASE, 'x');
    expect(r).toEqual({ hi: 0x4000_0000, lo: 0x8000_0000 });
    expect(field64(r, 62, 62)).toBe(1);
    expect(field64(r, 51, 6) * 64).toBe(0x8000_0000);
  });
  it('rejects garbage with the option name', () => {
    expect(() => parseReg64('0xzz', '--smmu-strtab')).toThrow(/--smmu-strtab '0xzz'/);
    expect(() => parseReg64('0x1' + '0'.repeat(16), '--smmu-strtab')).toThrow(/not a 64-bit/);
  });
});

describe('resolveSmmuV3Stream', () => {
  const mem = buildSmmuMemory();
  const linear = { strtabBase: parseReg64(LINEAR_BASE, 'b'), strtabCfg: LINEAR_CFG };
  const twolvl = { strtabBase: parseReg64(TWOLVL_BASE, 'b'), strtabCfg: TWOLVL_CFG };

  it('linear table: SID 3 → STE at base + 3*64 → CD → TTB0 with 4K, ias 48, oas 48', () => {
    const r = resolveSmmuV3Stream(mem, { ...linear, sid: 3 });
    expect(r.outcome).toEqual({ kind: 'translate', stage: 1, format: 'arm-64-lpae-s1', granule: 4096, ias: 48, oas: 48, root: 0x8_0000_0000 });
    expect(r.steps.map((s) => s.addr)).toEqual([null, 0x8000_00c0, 0x8000_1000]);
    const cd = Object.fromEntries(r.steps[2].fields);
    expect(cd['ASID (bits 63:48)']).toBe('1');
    expect(cd['AA64 (bit 41)']).toMatch(/^1/);
    expect(cd['EPD1 (bit 30)']).toMatch(/^1/);
  });

  it('abort, invalid, bypass STEs and an invalid CD stop with a reason', () => {
    const abort = resolveSmmuV3Stream(mem, { ...linear, sid: 4 });
    expect(abort.outcome).toMatchObject({ kind: 'stop', event: null });
    expect((abort.outcome as { reason: string }).reason).toMatch(/abort STE/);
    expect(resolveSmmuV3Stream(mem, { ...linear, sid: 5 }).outcome).toMatchObject({ kind: 'stop', event: 'C_BAD_STE' });
    expect(resolveSmmuV3Stream(mem, { ...linear, sid: 6 }).outcome.kind).toBe('bypass');
    expect(resolveSmmuV3Stream(mem, { ...linear, sid: 7 }).outcome).toMatchObject({ kind: 'stop', event: 'C_BAD_CD' });
    expect(resolveSmmuV3Stream(mem, { ...linear, sid: 32 }).outcome).toMatchObject({ kind: 'stop', event: 'C_BAD_STREAMID' });
  });

  it('stage-2 STE: VTCR gives 4K, ias 40, oas 40, start level 1; S2TTB the root', () => {
    const r = resolveSmmuV3Stream(mem, { ...linear, sid: 8 });
    expect(r.outcome).toEqual({ kind: 'translate', stage: 2, format: 'arm-64-lpae-s2', granule: 4096, ias: 40, oas: 40, root: 0x8000_2000, startLevel: 1 });
    expect(r.notes.join()).toMatch(/starts at level 1/);
  });

  it('two-level table: SID 0x312 → L1[3] (Span 9) → STE 0x12 of the L2 array', () => {
    const r = resolveSmmuV3Stream(mem, { ...twolvl, sid: 0x312 });
    expect(r.steps.map((s) => s.addr)).toEqual([null, 0x8010_0018, 0x8020_0480, 0x8030_0000]);
    expect(r.outcome).toMatchObject({ kind: 'translate', root: 0x8_0000_0000, granule: 4096, ias: 48 });
  });

  it('substreams: no SSID uses CD 0 (S1DSS 2); SSID 1 reads CD 1 (16K, ias 36, oas 40); SSID 4 is out of range', () => {
    expect(resolveSmmuV3Stream(mem, { ...twolvl, sid: 0x312, ssid: 1 }).outcome).toEqual({
      kind: 'translate', stage: 1, format: 'arm-64-lpae-s1', granule: 16384, ias: 36, oas: 40, root: 0x8040_0000,
    });
    expect(resolveSmmuV3Stream(mem, { ...twolvl, sid: 0x312, ssid: 4 }).outcome).toMatchObject({ event: 'C_BAD_SUBSTREAMID' });
    expect(resolveSmmuV3Stream(mem, { ...linear, sid: 3, ssid: 1 }).outcome).toMatchObject({ event: 'C_BAD_SUBSTREAMID' });
  });

  it('two-level CD table (S1Fmt 2): SSID 1025 → L1 CD[1] → CD 1 of that leaf', () => {
    const r = resolveSmmuV3Stream(mem, { ...twolvl, sid: 0x313, ssid: 1025 });
    expect(r.steps.map((s) => s.addr)).toEqual([null, 0x8010_0018, 0x8020_04c0, 0x8050_0008, 0x8060_0040]);
    expect(r.outcome).toMatchObject({ kind: 'translate', root: 0x8_0000_0000 });
    expect(resolveSmmuV3Stream(mem, { ...twolvl, sid: 0x313, ssid: 5 }).outcome).toMatchObject({ event: 'C_BAD_SUBSTREAMID' });
  });

  it('an L1 stream descriptor with Span 0 and a table outside memory are reported, not thrown', () => {
    expect(resolveSmmuV3Stream(mem, { ...twolvl, sid: 0x400 }).outcome).toMatchObject({ kind: 'stop', event: 'C_BAD_STE' });
    const far = { strtabBase: parseReg64('0x4000000090000000', 'b'), strtabCfg: LINEAR_CFG };
    expect(resolveSmmuV3Stream(mem, { ...far, sid: 1 }).outcome).toMatchObject({ kind: 'stop', event: 'F_STE_FETCH' });
  });
});

describe('property: the STE the walk reads is where the architecture puts it', () => {
  it('linear: base + SID × 64; 2-level: L1[SID >> SPLIT] → L2 + (SID mod 2^SPLIT) × 64', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(6, 8, 10), fc.boolean(), (sid, split, twoLevel) => {
        const mem = new PhysMem([{ base: 0x4000_0000, size: 0x400_0000 }]);
        const base = 0x4000_0000;
        const l2 = 0x4200_0000;
        let steAddr: number;
        let cfg: number;
        if (twoLevel) {
          cfg = (1 << 16) | (split << 6) | 16;
          write64(mem, base + Math.floor(sid / 2 ** split) * 8, l2 | (split + 1), 0);
          steAddr = l2 + (sid % 2 ** split) * 64;
        } else {
          cfg = 16;
          steAddr = base + sid * 64;
        }
        write64(mem, steAddr, STE_V | CFG(4), 0); // a bypass STE marks the spot
        const r = resolveSmmuV3Stream(mem, { strtabBase: { lo: base, hi: 0x4000_0000 }, strtabCfg: cfg, sid });
        expect(r.outcome.kind).toBe('bypass');
        expect(r.steps.at(-1)?.addr).toBe(steAddr);
      }),
      { numRuns: 200 },
    );
  });
});
