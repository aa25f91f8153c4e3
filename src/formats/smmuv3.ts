/**
 * Arm SMMUv3: from the SMMU's own registers (STRTAB_BASE, STRTAB_BASE_CFG) and a StreamID to the
 * page table its stage 1 (or stage 2) walks, as the hardware finds it: stream table (linear or two
 * levels) → STE → context-descriptor table (linear or two levels) → CD → TTB0 and the TCR fields that
 * give granule, input and output size. The page table itself is then an ordinary `arm-64-lpae-s1`
 * (or `-s2`) table, walked by lpae.ts.
 *
 * Bit positions are those the 6.12 driver uses (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h, cited
 * V3H:line; arm-smmu-v3.c cited V3C:line): STRTAB_BASE V3H:138-140, STRTAB_BASE_CFG V3H:142-147,
 * L1 stream descriptor V3H:209-210, STE V3H:238-293, L1 CD descriptor V3H:304-305, CD V3H:331-355.
 * The driver writes them in arm_smmu_write_strtab (V3C:3968-3990), arm_smmu_write_strtab_l1_desc
 * (V3C:1506-1516), arm_smmu_make_cdtable_ste / _bypass_ste / _abort_ste / _s2_domain_ste
 * (V3C:1571-1700), arm_smmu_write_cd_l1_desc (V3C:1238-1245) and arm_smmu_make_s1_cd (V3C:1369-1409).
 * Encodings Linux never writes (S1Fmt 1, SPLIT other than 8) are decoded by the architecture's rules.
 *
 * Pure: reads words through a MemReader, imports nothing above formats/mem.
 */
import { InputError, TWO32, hex } from '../addr.js';
import { ACCESS_FAULT, type MemReader } from '../mem/phys-mem.js';

/** A 64-bit register or descriptor word as two 32-bit halves. */
export interface Reg64 {
  lo: number;
  hi: number;
}

export function reg64Hex(r: Reg64): string {
  if (r.hi >>> 0 === 0) return '0x' + (r.lo >>> 0).toString(16);
  return '0x' + (r.hi >>> 0).toString(16) + (r.lo >>> 0).toString(16).padStart(8, '0');
}

/**
 * Parse a 64-bit register value as it reads on the board (`0x4000000081230000`: STRTAB_BASE has RA,
 * bit 62, set by Linux), hex up to 16 digits or decimal. Beyond 2^53 is fine: it is kept in halves.
 */
export function parseReg64(text: string, what: string): Reg64 {
  const t = String(text).trim().replace(/_/g, '');
  if (/^0x[0-9a-f]{1,16}$/i.test(t)) {
    const h = t.slice(2).padStart(16, '0');
    return { hi: parseInt(h.slice(0, 8), 16) >>> 0, lo: parseInt(h.slice(8), 16) >>> 0 };
  }
  if (/^[0-9]{1,20}$/.test(t)) {
    const v = BigInt(t);
    if (v >= 1n << 64n) throw new InputError(`${what} '${text}' does not fit in 64 bits`);
    return { hi: Number(v >> 32n) >>> 0, lo: Number(v & 0xffffffffn) >>> 0 };
  }
  throw new InputError(`${what} '${text}' is not a 64-bit register value (e.g. 0x4000000081230000)`);
}

/** Bits hi..lo (inclusive, 0..63) of a 64-bit value held in halves, as a number (< 2^53 wide). */
export function field64(r: Reg64, hiBit: number, loBit: number): number {
  let v = 0;
  for (let b = hiBit; b >= loBit; b--) {
    const bit = b >= 32 ? (r.hi >>> (b - 32)) & 1 : (r.lo >>> b) & 1;
    v = v * 2 + bit;
  }
  return v;
}

/** An address field [hiBit:loBit] kept in place (the low bits below loBit read as zero). */
function addrField(r: Reg64, hiBit: number, loBit: number): number {
  return field64(r, hiBit, loBit) * 2 ** loBit;
}

/** One structure the walk read, with its fields in words (for --explain and JSON). */
export interface SmmuStep {
  /** "STRTAB_BASE", "L1 stream descriptor", "STE", "L1 CD descriptor", "CD". */
  what: string;
  /** Physical address of the structure (null for a register). */
  addr: number | null;
  /** The 64-bit words read (as hex strings), in order. */
  words: string[];
  fields: [string, string][];
  /** One sentence: what this step established. */
  summary: string;
}

export type SmmuOutcome =
  | {
      kind: 'translate';
      stage: 1 | 2;
      /** The page-table format to walk with: arm-64-lpae-s1, arm-32-lpae-s1 (CD.AA64 = 0) or arm-64-lpae-s2. */
      format: 'arm-64-lpae-s1' | 'arm-32-lpae-s1' | 'arm-64-lpae-s2';
      granule: number;
      ias: number;
      oas: number;
      /** TTB0 / S2TTB as the structure holds it. */
      root: number;
      /** Stage 2: the starting level VTCR.S2SL0 names (the hardware's, which the ias alone may not imply). */
      startLevel?: number;
    }
  /** STE.Config bypass, or stage 1 bypassed by S1DSS: the IOVA is the physical address. */
  | { kind: 'bypass'; reason: string }
  /** No translation: an abort STE, an invalid structure, an index out of range, a read outside memory. */
  | { kind: 'stop'; reason: string; event: string | null };

export interface SmmuResolution {
  steps: SmmuStep[];
  outcome: SmmuOutcome;
  /** Oddities that did not stop the walk. */
  notes: string[];
}

export interface SmmuStreamInput {
  strtabBase: Reg64;
  strtabCfg: number;
  sid: number;
  /** SubstreamID (PASID); absent = a transaction without one. */
  ssid?: number;
}

const STE_BYTES = 64; // STRTAB_STE_DWORDS 8 (V3H:212)
const CD_BYTES = 64; // CTXDESC_CD_DWORDS 8 (V3H:307)

/** TG0 / S2TG encodings (Arm TCR): 0 = 4K, 1 = 64K, 2 = 16K. */
const GRANULE_BY_TG = [4096, 65536, 16384];
/** IPS / S2PS encodings to output bits. */
const OAS_BY_PS = [32, 36, 40, 42, 44, 48, 52];

function read64(mem: MemReader, addr: number): Reg64 | null {
  const lo = mem.read32(addr);
  const hi = mem.read32(addr + 4);
  if (lo === ACCESS_FAULT || hi === ACCESS_FAULT) return null;
  return { lo: lo >>> 0, hi: hi >>> 0 };
}

/** n words, or null when any is missing. Every word is tried, so a transcript learns all it lacks at once. */
function readWords(mem: MemReader, addr: number, n: number): Reg64[] | null {
  const out: Reg64[] = [];
  let missing = false;
  for (let i = 0; i < n; i++) {
    const w = read64(mem, addr + 8 * i);
    if (!w) missing = true;
    else out.push(w);
  }
  return missing ? null : out;
}

const CONFIG_NAMES: Record<number, string> = {
  0: 'abort (0b000): every transaction is terminated',
  4: 'bypass (0b100): no translation, IOVA = physical address',
  5: 'stage 1 translate (0b101)',
  6: 'stage 2 translate (0b110)',
  7: 'stage 1 + stage 2 (0b111, nested)',
};

const S1DSS_NAMES = ['terminate (non-substream transactions abort)', 'bypass (non-substream transactions skip stage 1)', 'substream 0 (non-substream transactions use CD 0)', 'reserved'];

/** Describe STRTAB_BASE_CFG alone (also used by `decode`). */
export function describeStrtabCfg(cfg: number): { fmt: number; split: number; log2size: number; fields: [string, string][] } {
  const fmt = (cfg >>> 16) & 3;
  const split = (cfg >>> 6) & 0x1f;
  const log2size = cfg & 0x3f;
  return {
    fmt,
    split,
    log2size,
    fields: [
      ['FMT (bits 17:16)', `${fmt} (${fmt === 0 ? 'linear' : fmt === 1 ? '2-level' : 'reserved'})`],
      ['SPLIT (bits 10:6)', `${split}${fmt === 1 ? ` (level-2 tables index SID bits ${split - 1}:0; Linux uses 8, V3H:207)` : ' (ignored for a linear table)'}`],
      ['LOG2SIZE (bits 5:0)', `${log2size} (StreamIDs 0..${hex(2 ** log2size - 1)})`],
    ],
  };
}

/** The fields of an STE (words 0-3; the rest are unused by Linux's configurations) in words. */
export function describeSte(ste: Reg64[]): [string, string][] {
  const z: Reg64 = { lo: 0, hi: 0 };
  const [s0, s1, s2, s3] = [ste[0] ?? z, ste[1] ?? z, ste[2] ?? z, ste[3] ?? z];
  const config = field64(s0, 3, 1);
  const s1fmt = field64(s0, 5, 4);
  const cdMax = field64(s0, 63, 59);
  const s1dss = field64(s1, 1, 0);
  const steFields: [string, string][] = [
    ['V (word 0 bit 0)', String(field64(s0, 0, 0))],
    ['Config (word 0 bits 3:1)', `${config} (${CONFIG_NAMES[config] ?? 'reserved'})`],
  ];
  if (config === 5 || config === 7) {
    steFields.push(
      ['S1Fmt (bits 5:4)', `${s1fmt} (${['linear CD table', '2-level CD table, 4 KiB leaves (64 CDs)', '2-level CD table, 64 KiB leaves (1024 CDs)', 'reserved'][s1fmt]})`],
      ['S1ContextPtr (bits 51:6)', hex(addrField(s0, 51, 6))],
      ['S1CDMax (bits 63:59)', `${cdMax} (${cdMax === 0 ? 'substreams disabled: one CD' : `2^${cdMax} substreams`})`],
      ['S1DSS (word 1 bits 1:0)', `${s1dss} (${S1DSS_NAMES[s1dss]})`],
      ['S1STALLD (word 1 bit 27)', String(field64(s1, 27, 27))],
      ['EATS (word 1 bits 29:28)', String(field64(s1, 29, 28))],
      ['STRW (word 1 bits 31:30)', `${field64(s1, 31, 30)} (${['NS-EL1', 'reserved', 'EL2', 'reserved'][field64(s1, 31, 30)]})`],
    );
  }
  if (config === 6 || config === 7) {
    steFields.push(
      ['S2VMID (word 2 bits 15:0)', String(field64(s2, 15, 0))],
      ['VTCR.S2T0SZ (word 2 bits 37:32)', `${field64(s2, 37, 32)} → ias ${64 - field64(s2, 37, 32)}`],
      ['VTCR.S2SL0 (bits 39:38)', String(field64(s2, 39, 38))],
      ['VTCR.S2TG (bits 47:46)', `${field64(s2, 47, 46)} → ${GRANULE_BY_TG[field64(s2, 47, 46)] ? `${(GRANULE_BY_TG[field64(s2, 47, 46)] as number) / 1024}K granule` : 'reserved'}`],
      ['VTCR.S2PS (bits 50:48)', `${field64(s2, 50, 48)} → ${OAS_BY_PS[field64(s2, 50, 48)] ? `oas ${OAS_BY_PS[field64(s2, 50, 48)]} bits` : 'reserved'}`],
      ['S2AA64 (bit 51)', String(field64(s2, 51, 51))],
      ['S2TTB (word 3 bits 51:4)', hex(addrField(s3, 51, 4))],
    );
  }
  return steFields;
}

/** The translation fields of CD word 0 (V3H:331-348) and what they make: granule, oas (undefined if reserved), ias. */
function cdWord0(c0: Reg64) {
  const t0sz = field64(c0, 5, 0);
  const tg0 = field64(c0, 7, 6);
  const ips = field64(c0, 34, 32);
  const aa64 = field64(c0, 41, 41);
  return {
    t0sz,
    tg0,
    epd0: field64(c0, 14, 14),
    endi: field64(c0, 15, 15),
    ips,
    aa64,
    granule: GRANULE_BY_TG[tg0],
    oasRaw: OAS_BY_PS[ips],
    ias: aa64 ? 64 - t0sz : 32 - (t0sz & 7),
  };
}

/** The fields of a context descriptor (words 0, 1 and 3) in words. */
export function describeCd(cd: Reg64[]): [string, string][] {
  const z: Reg64 = { lo: 0, hi: 0 };
  const [c0, c1, , c3] = [cd[0] ?? z, cd[1] ?? z, cd[2] ?? z, cd[3] ?? z];
  const { t0sz, tg0, epd0, endi, ips, aa64, granule, oasRaw, ias } = cdWord0(c0);
  return [
    ['V (word 0 bit 31)', String(field64(c0, 31, 31))],
    ['T0SZ (bits 5:0)', `${t0sz} → ias = ${aa64 ? `64 - ${t0sz}` : `32 - ${t0sz & 7}`} = ${ias} bits`],
    ['TG0 (bits 7:6)', `${tg0} → ${granule === undefined ? 'reserved' : `${granule / 1024}K granule`}`],
    ['IRGN0/ORGN0/SH0 (bits 9:8, 11:10, 13:12)', `${field64(c0, 9, 8)}/${field64(c0, 11, 10)}/${field64(c0, 13, 12)}`],
    ['EPD0 (bit 14)', `${epd0}${epd0 ? ' (walks through TTB0 disabled)' : ''}`],
    ['ENDI (bit 15)', `${endi} (${endi ? 'big-endian tables' : 'little-endian tables'})`],
    ['EPD1 (bit 30)', `${field64(c0, 30, 30)} (Linux sets it: no TTB1)`],
    ['IPS (bits 34:32)', `${ips} → ${oasRaw === undefined ? 'reserved' : `oas ${oasRaw} bits`}`],
    ['AA64 (bit 41)', `${aa64} (${aa64 ? 'AArch64 tables' : 'AArch32 LPAE tables'})`],
    ['HD/HA (bits 42, 43)', `${field64(c0, 42, 42)}/${field64(c0, 43, 43)}`],
    ['S/R/A/ASET (bits 44-47)', `${field64(c0, 44, 44)}/${field64(c0, 45, 45)}/${field64(c0, 46, 46)}/${field64(c0, 47, 47)}`],
    ['ASID (bits 63:48)', String(field64(c0, 63, 48))],
    ['TTB0 (word 1 bits 51:4)', hex(addrField(c1, 51, 4))],
    ['MAIR0 (word 3)', reg64Hex(c3)],
  ];
}

/** Follow the stream table to the STE of `sid`, the STE to its CD, the CD to TTB0. Never throws for table contents. */
export function resolveSmmuV3Stream(mem: MemReader, input: SmmuStreamInput): SmmuResolution {
  const steps: SmmuStep[] = [];
  const notes: string[] = [];
  const stop = (reason: string, event: string | null): SmmuResolution => ({ steps, notes, outcome: { kind: 'stop', reason, event } });
  const { sid } = input;

  // STRTAB_BASE: ADDR 51:6, RA 62 (V3H:139-140).
  const base = addrField(input.strtabBase, 51, 6);
  const ra = field64(input.strtabBase, 62, 62);
  const sc = describeStrtabCfg(input.strtabCfg);
  steps.push({
    what: 'STRTAB_BASE / STRTAB_BASE_CFG',
    addr: null,
    words: [reg64Hex(input.strtabBase), hex(input.strtabCfg >>> 0)],
    fields: [['ADDR (bits 51:6)', hex(base)], ['RA (bit 62, read-allocate hint; Linux sets it)', String(ra)], ...sc.fields],
    summary: `stream table at ${hex(base)}, ${sc.fmt === 1 ? '2-level' : sc.fmt === 0 ? 'linear' : 'reserved format'}, ${2 ** sc.log2size} StreamIDs`,
  });
  if (sc.fmt > 1) return stop(`STRTAB_BASE_CFG.FMT = ${sc.fmt} is reserved (0 linear, 1 two-level)`, null);
  if (sid >= 2 ** sc.log2size)
    return stop(`StreamID ${sid} (${hex(sid)}) is not below 2^LOG2SIZE = ${2 ** sc.log2size}: the SMMU rejects it (C_BAD_STREAMID)`, 'C_BAD_STREAMID');

  let steAddr: number;
  if (sc.fmt === 0) {
    steAddr = base + sid * STE_BYTES;
  } else {
    const split = sc.split;
    if (split !== 6 && split !== 8 && split !== 10) notes.push(`SPLIT ${split} is not one the architecture allows (6, 8, 10); used as given`);
    const l1 = Math.floor(sid / 2 ** split);
    const l2 = sid % 2 ** split;
    const l1Addr = base + l1 * 8;
    const d = read64(mem, l1Addr);
    if (!d) return stop(`level-1 stream descriptor ${l1} at ${hex(l1Addr)} is not in memory (the SMMU would raise F_STE_FETCH)`, 'F_STE_FETCH');
    // Span 4:0, L2Ptr 51:6 (V3H:209-210); Linux writes Span = SPLIT + 1 (V3C:1511).
    const span = field64(d, 4, 0);
    const l2ptr = addrField(d, 51, 6);
    const l2Entries = span === 0 ? 0 : 2 ** (span - 1);
    steps.push({
      what: 'L1 stream descriptor',
      addr: l1Addr,
      words: [reg64Hex(d)],
      fields: [
        ['index', `SID ${hex(sid)} >> SPLIT ${split} = ${l1}`],
        ['Span (bits 4:0)', `${span}${span === 0 ? ' (invalid: no level-2 table)' : ` (level-2 table of 2^(${span}-1) = ${l2Entries} STEs)`}`],
        ['L2Ptr (bits 51:6)', hex(l2ptr)],
      ],
      summary: span === 0 ? 'invalid (Span 0)' : `level-2 STE array at ${hex(l2ptr)}`,
    });
    if (span === 0) return stop(`level-1 stream descriptor ${l1} at ${hex(l1Addr)} has Span 0: no STEs for SIDs ${hex(l1 * 2 ** split)}..${hex((l1 + 1) * 2 ** split - 1)} (C_BAD_STE)`, 'C_BAD_STE');
    if (span > split + 1) notes.push(`Span ${span} is larger than SPLIT+1 = ${split + 1}; the architecture treats it as SPLIT+1`);
    if (l2 >= l2Entries) return stop(`SID ${hex(sid)} indexes STE ${l2} but the level-2 table holds only ${l2Entries} (Span ${span}) (C_BAD_STE)`, 'C_BAD_STE');
    steAddr = l2ptr + l2 * STE_BYTES;
  }

  const ste = readWords(mem, steAddr, 4);
  if (!ste) return stop(`STE of SID ${hex(sid)} at ${hex(steAddr)} is not in memory (the SMMU would raise F_STE_FETCH)`, 'F_STE_FETCH');
  const [s0, s1, s2, s3] = ste;
  const v = field64(s0, 0, 0);
  const config = field64(s0, 3, 1);
  const s1fmt = field64(s0, 5, 4);
  const ctxPtr = addrField(s0, 51, 6);
  const cdMax = field64(s0, 63, 59);
  const s1dss = field64(s1, 1, 0);
  const steFields: [string, string][] = [
    ['index', sc.fmt === 0 ? `SID ${hex(sid)} × 64 bytes` : `SID ${hex(sid)} & ${hex(2 ** sc.split - 1)} = ${sid % 2 ** sc.split}, × 64 bytes`],
    ...describeSte(ste),
  ];
  steps.push({
    what: `STE (SID ${hex(sid)})`,
    addr: steAddr,
    words: ste.map(reg64Hex),
    fields: steFields,
    summary: v ? `valid, ${CONFIG_NAMES[config] ?? `reserved Config ${config}`}` : 'not valid',
  });
  if (!v) return stop(`STE of SID ${hex(sid)} at ${hex(steAddr)} is not valid (V = 0): the SMMU rejects the stream (C_BAD_STE)`, 'C_BAD_STE');
  if (config === 0) return stop(`STE of SID ${hex(sid)} is an abort STE (Config 0b000): every transaction is terminated; Linux writes this for unused streams and blocked domains (V3C:1571-1577)`, null);
  if (config === 4) {
    return { steps, notes, outcome: { kind: 'bypass', reason: `STE of SID ${hex(sid)} is a bypass STE (Config 0b100): the IOVA is the physical address (Linux writes this for identity domains, V3C:1581-1592)` } };
  }
  if (config < 4) return stop(`STE Config ${config} is reserved (C_BAD_STE)`, 'C_BAD_STE');

  if (config === 6) {
    // Stage 2 only: VTCR in word 2 bits 50:32 (V3H:279-286), S2TTB word 3 (V3H:293).
    const tsz = field64(s2, 37, 32);
    const sl0 = field64(s2, 39, 38);
    const tg = field64(s2, 47, 46);
    const ps = field64(s2, 50, 48);
    const granule = GRANULE_BY_TG[tg];
    const oas = OAS_BY_PS[ps];
    if (granule === undefined) return stop(`STE VTCR.S2TG = ${tg} is reserved`, 'C_BAD_STE');
    if (oas === undefined) return stop(`STE VTCR.S2PS = ${ps} is reserved`, 'C_BAD_STE');
    if (!field64(s2, 51, 51)) notes.push('S2AA64 = 0: an AArch32 stage-2 table; walked as AArch64 anyway');
    const ias = 64 - tsz;
    // SL0 names the starting level: 4K: 0→2, 1→1, 2→0; 16K/64K: 0→3, 1→2, 2→1.
    const start = granule === 4096 ? 2 - sl0 : 3 - sl0;
    return {
      steps,
      notes: [...notes, `VTCR.S2SL0 ${sl0}: the walk starts at level ${start}`],
      outcome: { kind: 'translate', stage: 2, format: 'arm-64-lpae-s2', granule, ias, oas, root: addrField(s3, 51, 4), startLevel: start },
    };
  }

  // Stage 1 (config 5, or 7 with stage 2 after it).
  if (config === 7) notes.push('nested STE: this walks stage 1 only, so the "physical" addresses below are IPAs that stage 2 would translate further');
  let cdIndex: number;
  if (input.ssid === undefined) {
    if (cdMax > 0) {
      if (s1dss === 0) return stop(`STE S1DSS = 0 (terminate): a transaction without a SubstreamID aborts; give --ssid N to walk a substream's CD`, null);
      if (s1dss === 1) return { steps, notes, outcome: { kind: 'bypass', reason: 'STE S1DSS = 1 (bypass): a transaction without a SubstreamID skips stage 1, so the IOVA is the physical address' } };
      if (s1dss === 3) return stop('STE S1DSS = 3 is reserved (C_BAD_STE)', 'C_BAD_STE');
    }
    cdIndex = 0;
  } else {
    if (cdMax === 0)
      return stop(`--ssid ${input.ssid} given but STE S1CDMax = 0 (substreams disabled): a transaction with a SubstreamID is rejected (C_BAD_SUBSTREAMID); walk without --ssid`, 'C_BAD_SUBSTREAMID');
    if (input.ssid >= 2 ** cdMax)
      return stop(`SubstreamID ${input.ssid} is not below 2^S1CDMax = ${2 ** cdMax} (C_BAD_SUBSTREAMID)`, 'C_BAD_SUBSTREAMID');
    cdIndex = input.ssid;
  }

  let cdAddr: number;
  if (cdMax === 0 || s1fmt === 0) {
    cdAddr = ctxPtr + cdIndex * CD_BYTES;
  } else if (s1fmt === 1 || s1fmt === 2) {
    // Two levels: L1 descriptor V bit 0, L2Ptr 51:12 (V3H:304-305); 1024 CDs per leaf for S1Fmt 2
    // (CTXDESC_L2_ENTRIES, V3H:302), 64 for S1Fmt 1 (4 KiB of 64-byte CDs, the architecture's rule).
    const per = s1fmt === 2 ? 1024 : 64;
    const l1 = Math.floor(cdIndex / per);
    const l1Addr = ctxPtr + l1 * 8;
    const d = read64(mem, l1Addr);
    if (!d) return stop(`level-1 CD descriptor ${l1} at ${hex(l1Addr)} is not in memory (the SMMU would raise F_CD_FETCH)`, 'F_CD_FETCH');
    const dv = field64(d, 0, 0);
    const l2ptr = addrField(d, 51, 12);
    steps.push({
      what: 'L1 CD descriptor',
      addr: l1Addr,
      words: [reg64Hex(d)],
      fields: [
        ['index', `SSID ${cdIndex} / ${per} = ${l1}`],
        ['V (bit 0)', String(dv)],
        ['L2Ptr (bits 51:12)', hex(l2ptr)],
      ],
      summary: dv ? `level-2 CD table at ${hex(l2ptr)}` : 'not valid',
    });
    if (!dv) return stop(`level-1 CD descriptor ${l1} at ${hex(l1Addr)} is not valid: no CDs for SSIDs ${l1 * per}..${(l1 + 1) * per - 1} (C_BAD_SUBSTREAMID)`, 'C_BAD_SUBSTREAMID');
    cdAddr = l2ptr + (cdIndex % per) * CD_BYTES;
  } else {
    return stop(`STE S1Fmt = 3 is reserved (C_BAD_STE)`, 'C_BAD_STE');
  }

  const cd = readWords(mem, cdAddr, 4);
  if (!cd) return stop(`CD ${cdIndex} at ${hex(cdAddr)} is not in memory (the SMMU would raise F_CD_FETCH)`, 'F_CD_FETCH');
  const [c0, c1] = cd;
  const cv = field64(c0, 31, 31);
  const { t0sz, tg0, epd0, endi, ips, aa64, granule, oasRaw, ias } = cdWord0(c0);
  const ttb0 = addrField(c1, 51, 4);
  steps.push({
    what: `CD ${cdIndex}`,
    addr: cdAddr,
    words: cd.map(reg64Hex),
    fields: describeCd(cd),
    summary: cv ? `valid: TTB0 ${hex(ttb0)}, ${granule ? granule / 1024 + 'K' : '?'} granule, ias ${ias}, oas ${oasRaw ?? '?'}` : 'not valid',
  });
  if (!cv) return stop(`CD ${cdIndex} at ${hex(cdAddr)} is not valid (V = 0): the SMMU rejects the transaction (C_BAD_CD)`, 'C_BAD_CD');
  if (epd0) return stop(`CD ${cdIndex} has EPD0 = 1: walks through TTB0 are disabled, every IOVA faults (translation fault)`, null);
  if (endi) notes.push('CD.ENDI = 1: the tables are big-endian; walked as little-endian anyway');
  if (granule === undefined) return stop(`CD TG0 = ${tg0} is reserved (C_BAD_CD)`, 'C_BAD_CD');
  if (oasRaw === undefined) return stop(`CD IPS = ${ips} is reserved (C_BAD_CD)`, 'C_BAD_CD');
  if (!aa64) {
    if (granule !== 4096) return stop('CD.AA64 = 0 (AArch32 tables) needs the 4K granule', 'C_BAD_CD');
    return { steps, notes, outcome: { kind: 'translate', stage: 1, format: 'arm-32-lpae-s1', granule, ias, oas: Math.min(oasRaw, 40), root: ttb0 } };
  }
  if (ias > 48 && granule !== 65536) notes.push(`T0SZ ${t0sz} gives ${ias} input bits; a ${granule / 1024}K granule walks at most 48`);
  if (ias <= Math.log2(granule)) return stop(`CD T0SZ ${t0sz} gives ias ${ias}: nothing left to translate above the ${granule / 1024}K page offset`, 'C_BAD_CD');
  return { steps, notes, outcome: { kind: 'translate', stage: 1, format: 'arm-64-lpae-s1', granule, ias, oas: oasRaw, root: ttb0 } };
}

/** Halves of a number (< 2^53). */
export function toReg64(n: number): Reg64 {
  return { lo: n >>> 0, hi: Math.floor(n / TWO32) >>> 0 };
}
