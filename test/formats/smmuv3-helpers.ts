/**
 * SMMUv3 structures for the tests, laid out word by word with the bit positions of the 6.12 driver
 * (see the header of smmuv3.test.ts for every field and its arm-smmu-v3.h line).
 */
import { PhysMem } from '../../src/mem/phys-mem.js';

export function write64(mem: PhysMem, addr: number, lo: number, hi: number): void {
  mem.write32(addr, lo >>> 0);
  mem.write32(addr + 4, hi >>> 0);
}

/** Hand-built constants (see the header). */
export const STE_V = 1;
export const CFG = (c: number) => c << 1;
export const S1CDMAX_HI = (n: number) => (n << 27) >>> 0; // bits 63:59 → high word bits 31:27
export const S1DSS_SSID0 = 2;
export const S1C_ATTRS = (1 << 2) | (1 << 4) | (3 << 6); // WBRA inner/outer, inner shareable
/** CD word 0, as arm_smmu_make_s1_cd writes it for a 4K, ias 48, oas 48 coherent table, ASID asid. */
export function cdWord0(t0sz: number, tg0: number, ips: number, asid: number): [number, number] {
  const lo = t0sz | (tg0 << 6) | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 30) | 0x8000_0000;
  const hi = ips | (1 << 9) | (1 << 13) | (1 << 14) | (1 << 15) | (asid << 16);
  return [lo >>> 0, hi >>> 0];
}

/** The memory of a small SMMUv3 system; see the layout in each constant. */
export function buildSmmuMemory(): PhysMem {
  const mem = new PhysMem([
    { base: 0x8000_0000, size: 0x100_0000 },
    { base: 0x8_0000_0000, size: 0x10_0000 },
  ]);
  // Stage-1 tables at 8 GiB: L0 0x800000000 → L1 +0x1000 → L2 +0x2000 → L3 +0x3000.
  const L0 = 0x8_0000_0000;
  write64(mem, L0 + 0 * 8, (0x1000 | 3) >>> 0, 8);
  write64(mem, L0 + 0x1000, (0x2000 | 3) >>> 0, 8);
  // L2 index 0x80 (IOVA 0x10000000) → L3 table; index 0x81 → a 2 MiB block at 0x840000000.
  write64(mem, L0 + 0x2000 + 0x80 * 8, (0x3000 | 3) >>> 0, 8);
  write64(mem, L0 + 0x2000 + 0x81 * 8, 0x4000_0000 | 0x741, 8);
  // L3 index 0: page 0x812345000, RW cached: nG|AF|SH(3)|AP1|AttrIndx 1|page.
  write64(mem, L0 + 0x3000, 0x1234_5000 | 0xf47, 8);

  // Linear stream table at 0x80000000, 32 STEs (LOG2SIZE 5), every one an abort STE as
  // arm_smmu_init_initial_stes leaves them (V=1, Config 0), then a few real ones.
  for (let sid = 0; sid < 32; sid++) write64(mem, 0x8000_0000 + sid * 64, STE_V | CFG(0), 0);
  // SID 3: stage 1, linear CD table of one CD at 0x80001000, S1CDMax 0, S1DSS SSID0.
  write64(mem, 0x8000_0000 + 3 * 64, 0x8000_1000 | STE_V | CFG(5), 0);
  write64(mem, 0x8000_0000 + 3 * 64 + 8, S1C_ATTRS | S1DSS_SSID0, 0);
  // SID 5: all zero (not valid). SID 6: bypass. SID 7: stage 1 with a CD that is not valid.
  write64(mem, 0x8000_0000 + 5 * 64, 0, 0);
  write64(mem, 0x8000_0000 + 6 * 64, STE_V | CFG(4), 0);
  write64(mem, 0x8000_0000 + 7 * 64, 0x8000_1040 | STE_V | CFG(5), 0);
  // SID 8: stage 2 only (arm_smmu_make_s2_domain_ste, arm-smmu-v3.c:1654-1700): VMID 1; VTCR (word 2
  // bits 50:32) S2T0SZ 24 (ias 40) | S2SL0 1 << 6 | IR0 1 << 8 | OR0 1 << 10 | SH0 3 << 12 | TG 0 | PS 2 << 16
  // = 0x21558; S2AA64 bit 51, S2PTW bit 54, S2R bit 58; S2TTB (word 3) 0x80002000.
  write64(mem, 0x8000_0000 + 8 * 64, STE_V | CFG(6), 0);
  write64(mem, 0x8000_0000 + 8 * 64 + 16, 1, 0x21558 | (1 << 19) | (1 << 22) | (1 << 26));
  write64(mem, 0x8000_0000 + 8 * 64 + 24, 0x8000_2000, 0);
  // SID 9: the same but S2SL0 0 (start at level 2), which ias 40 with 4K does not imply (it needs level 1).
  write64(mem, 0x8000_0000 + 9 * 64, STE_V | CFG(6), 0);
  write64(mem, 0x8000_0000 + 9 * 64 + 16, 1, 0x21518 | (1 << 19) | (1 << 22) | (1 << 26));
  write64(mem, 0x8000_0000 + 9 * 64 + 24, 0x8000_2000, 0);
  // CD at 0x80001000: T0SZ 16 (ias 48), TG0 0 (4K), IPS 5 (48 bits), ASID 1; TTB0 0x800000000.
  const [c0lo, c0hi] = cdWord0(16, 0, 5, 1);
  write64(mem, 0x8000_1000, c0lo, c0hi);
  write64(mem, 0x8000_1008, 0, 8);
  write64(mem, 0x8000_1018, 0xf404ff44, 0xffffffff);
  // CD at 0x80001040: zero (V = 0).

  // Two-level stream table at 0x80100000: LOG2SIZE 16, SPLIT 8 → 256 L1 descriptors.
  // L1[3] → L2 at 0x80200000 (Span 9 = 256 STEs); L1[4] left 0 (Span 0).
  write64(mem, 0x8010_0000 + 3 * 8, 0x8020_0000 | 9, 0);
  for (let i = 0; i < 256; i++) write64(mem, 0x8020_0000 + i * 64, STE_V | CFG(0), 0);
  // SID 0x312: stage 1, linear CD table at 0x80300000 with S1CDMax 2 (4 CDs), S1DSS SSID0.
  write64(mem, 0x8020_0000 + 0x12 * 64, 0x8030_0000 | STE_V | CFG(5), S1CDMAX_HI(2));
  write64(mem, 0x8020_0000 + 0x12 * 64 + 8, S1C_ATTRS | S1DSS_SSID0, 0);
  // CD 0 = the same context as above; CD 1: 16K granule (TG0 2), ias 36 (T0SZ 28), oas 40 (IPS 2), TTB0 0x80400000.
  write64(mem, 0x8030_0000, c0lo, c0hi);
  write64(mem, 0x8030_0008, 0, 8);
  const [d0lo, d0hi] = cdWord0(28, 2, 2, 2);
  write64(mem, 0x8030_0040, d0lo, d0hi);
  write64(mem, 0x8030_0048, 0x8040_0000, 0);
  // SID 0x313: two-level CD table (S1Fmt 2), S1CDMax 11: L1 CD table at 0x80500000, L1[1] → 0x80600000.
  write64(mem, 0x8020_0000 + 0x13 * 64, 0x8050_0000 | (2 << 4) | STE_V | CFG(5), S1CDMAX_HI(11));
  write64(mem, 0x8020_0000 + 0x13 * 64 + 8, S1C_ATTRS | S1DSS_SSID0, 0);
  write64(mem, 0x8050_0008, 0x8060_0000 | 1, 0);
  // SSID 1025 = L1 index 1, L2 index 1 → CD at 0x80600040.
  write64(mem, 0x8060_0040, c0lo, c0hi);
  write64(mem, 0x8060_0048, 0, 8);
  return mem;
}

/** STRTAB_BASE as Linux programs it: (dma & ADDR_MASK) | RA (bit 62). */
export const LINEAR_BASE = '0x4000000080000000';
export const LINEAR_CFG = 0x5; // FMT 0, LOG2SIZE 5
export const TWOLVL_BASE = '0x4000000080100000';
export const TWOLVL_CFG = (1 << 16) | (8 << 6) | 16; // 0x10210
