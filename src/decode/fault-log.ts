/**
 * The kernel's own IOMMU fault reports, pasted from dmesg, parsed back into fields and explained.
 *
 * Every recogniser is built from a 6.12 format string (cited file:line); the kernel's printf rules
 * matter when reading them back: `%pad`/`%pa` are "0x" + 16 digits, `%#08x` counts the "0x" in its
 * width and prints "0x0…" even for zero (lib/vsprintf.c). The parser is forgiving where pasting is
 * not exact: dmesg / journal prefixes, a missing device prefix, runs of spaces, a trailing "\r".
 * An unrecognised line is reported as such; nothing here throws for text.
 *
 * Sources: RK = drivers/iommu/rockchip-iommu.c, IPMMU = drivers/iommu/ipmmu-vmsa.c,
 * DART = drivers/iommu/apple-dart.c, SMMU = drivers/iommu/arm/arm-smmu/arm-smmu.c (+ arm-smmu.h),
 * arm-smmu-v3 events = drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (+ .h).
 */
import { TWO32, hex } from '../addr.js';
import { rockchipVariants, rkDteIndex, rkPageOffset, rkPteIndex } from '../formats/rockchip.js';
import { field64, parseReg64, reg64Hex, type Reg64 } from '../formats/smmuv3.js';

export type FaultLineKind =
  | 'rockchip-page-fault'
  | 'rockchip-iova'
  | 'rockchip-walk'
  | 'rockchip-bus-error'
  | 'rockchip-no-domain'
  | 'rockchip-int-status'
  | 'ipmmu-unhandled'
  | 'ipmmu-walk-abort'
  | 'ipmmu-multi-hit'
  | 'dart-translation-fault'
  | 'arm-smmu-context-fault'
  | 'arm-smmu-fsr'
  | 'arm-smmu-fsynr0'
  | 'smmuv3-event'
  | 'smmuv3-event-word'
  | 'unrecognised';

export interface FaultLine {
  /** 1-based line number in the input. */
  line: number;
  text: string;
  kind: FaultLineKind;
  /** dmesg timestamp in seconds, when the line had one. */
  time?: number;
  /** "rk_iommu fde4b000.iommu" — the dev_* prefix, when present. */
  device?: string;
  /** The numbers read back, by the format string's names (hex strings for addresses). */
  fields: Record<string, string | number>;
  /** What each field means, and what follows from it. */
  explain: string[];
}

export interface FaultLogResult {
  lines: FaultLine[];
  recognised: number;
  unrecognised: number;
}

/** A hex or decimal number as printed; values above 2^53 keep their text only (returned as NaN). */
function num(text: string): number {
  const t = text.trim();
  if (/^0x/i.test(t)) {
    const h = t.slice(2).replace(/^0+(?=.)/, '');
    if (h.length > 13) {
      const v = Number(BigInt('0x' + h));
      return Number.isSafeInteger(v) ? v : NaN;
    }
    return parseInt(h, 16);
  }
  return parseInt(t, 10);
}

const HEX = '(0x[0-9a-fA-F]+)';
const S = '\\s*';

/**
 * Strip what surrounds the message: "<3>", "[  123.456789]", journalctl's "Mon dd hh:mm:ss host kernel:",
 * and the dev_* prefix "driver device: " (drivers/base/core.c dev_printk: "%s %s: ").
 */
function frame(raw: string): { body: string; time?: number; device?: string } {
  let s = raw.replace(/\r$/, '').trim();
  s = s.replace(/^<\d+>\s*/, '');
  s = s.replace(/^[A-Z][a-z]{2}\s+\d+\s+\d\d:\d\d:\d\d\s+\S+\s+kernel:\s*/, '');
  let time: number | undefined;
  const ts = /^\[\s*(\d+\.\d+)\]\s*/.exec(s);
  if (ts) {
    time = parseFloat(ts[1]);
    s = s.slice(ts[0].length);
  }
  let device: string | undefined;
  // "rk_iommu fde4b000.iommu: ", "ipmmu-vmsa e67b0000.iommu: ", "apple-dart 231304000.iommu: ", "arm-smmu 5040000.iommu: "
  const dev = /^([\w.-]+)\s+([\w.:@-]+):\s+(?=\S)/.exec(s);
  if (dev && !/^(iova|mmu_dte_addr|Page|BUS_ERROR|Unhandled|translation|FSR|FSYNR0|Multiple|unexpected)$/.test(dev[1])) {
    device = `${dev[1]} ${dev[2]}`;
    s = s.slice(dev[0].length);
  }
  return { body: s.trim(), ...(time !== undefined ? { time } : {}), ...(device ? { device } : {}) };
}

const rx = (src: string) => new RegExp('^' + src.replace(/ /g, '\\s+') + S + '$', 'i');

// RK:627
const RK_FAULT = rx(`Page fault at ${HEX} of type (read|write)`);
// RK:588 "iova = %pad: dte_index: %#03x pte_index: %#03x page_offset: %#03x"
const RK_IOVA = rx(`iova${S}=${S}${HEX}:${S}dte_index:${S}${HEX} pte_index:${S}${HEX} page_offset:${S}${HEX}`);
// RK:590 "mmu_dte_addr: %pa dte@%pa: %#08x valid: %u pte@%pa: %#08x valid: %u page@%pa flags: %#03x"
const RK_WALK = rx(
  `mmu_dte_addr:${S}${HEX} dte${S}@${S}${HEX}:${S}${HEX} valid:${S}(\\d+) pte${S}@${S}${HEX}:${S}${HEX} valid:${S}(\\d+) page${S}@${S}${HEX} flags:${S}${HEX}`,
);
const RK_BUS = rx(`BUS_ERROR occurred at ${HEX}`); // RK:649
const RK_NODOM = rx('Page fault while iommu not attached to domain\\?'); // RK:642
const RK_INT = rx(`unexpected int_status:${S}${HEX}`); // RK:652
// IPMMU:531, 515, 512
const IPMMU_UNH = rx(`Unhandled fault:${S}status ${HEX} iova ${HEX}`);
const IPMMU_ABORT = rx(`Page Table Walk Abort${S}@${S}${HEX}`);
const IPMMU_MHIT = rx(`Multiple TLB hits${S}@${S}${HEX}`);
// DART:1037 / 1076 "translation fault: status:0x%x stream:%d code:0x%x (%s) at 0x%llx"
const DART_TF = rx(`translation fault:${S}status:${S}${HEX} stream:${S}(\\d+) code:${S}${HEX}${S}\\(([^)]*)\\) at ${HEX}`);
// SMMU:421 "Unhandled context fault: fsr=0x%x, iova=0x%08lx, fsynr=0x%x, cbfrsynra=0x%x, cb=%d"
const SMMU_CF = rx(`Unhandled context fault:${S}fsr${S}=${S}${HEX},${S}iova${S}=${S}${HEX},${S}fsynr${S}=${S}${HEX},${S}cbfrsynra${S}=${S}${HEX},${S}cb${S}=${S}(\\d+)`);
// SMMU:424 "FSR    = %08x [...], SID=0x%x"
const SMMU_FSR = rx(`FSR${S}=${S}([0-9a-fA-F]+)${S}\\[([^\\]]*)\\],${S}SID${S}=${S}${HEX}`);
// SMMU:439 "FSYNR0 = %08x [S1CBNDX=%u ... PLVL=%u]"
const SMMU_FSYNR = rx(`FSYNR0${S}=${S}([0-9a-fA-F]+)${S}\\[([^\\]]*)\\]`);

const GiB4 = TWO32;

// SMMUv3 event queue dump: "event 0x%02x received:" then each of the EVTQ_ENT_DWORDS (4) words as
// "\t0x%016llx" (arm-smmu-v3.c:1856-1859; EVTQ_ENT_DWORDS arm-smmu-v3.h:435).
const V3_EVENT = rx(`event${S}(0x[0-9a-fA-F]{1,2}) received:`);
const V3_WORD = /^(0x[0-9a-fA-F]{16})$/;

/** Event IDs: the four the driver names (arm-smmu-v3.h:440-443) and the architecture's others. */
const V3_EVENT_NAMES: Record<number, string> = {
  0x01: 'F_UUT (unsupported upstream transaction)',
  0x02: 'C_BAD_STREAMID (StreamID beyond the stream table)',
  0x03: 'F_STE_FETCH (the STE could not be read)',
  0x04: 'C_BAD_STE (STE not valid or malformed)',
  0x05: 'F_BAD_ATS_TREQ',
  0x06: 'F_STREAM_DISABLED',
  0x07: 'F_TRANSL_FORBIDDEN',
  0x08: 'C_BAD_SUBSTREAMID (SubstreamID beyond S1CDMax, or an invalid L1 CD descriptor)',
  0x09: 'F_CD_FETCH (the CD could not be read)',
  0x0a: 'C_BAD_CD (CD not valid or malformed)',
  0x0b: 'F_WALK_EABT (external abort during the table walk)',
  0x10: 'F_TRANSLATION (translation fault: no valid descriptor)',
  0x11: 'F_ADDR_SIZE (address size fault: beyond ias/oas)',
  0x12: 'F_ACCESS (access flag fault)',
  0x13: 'F_PERMISSION (permission fault)',
  0x20: 'F_TLB_CONFLICT',
  0x21: 'F_CFG_CONFLICT',
  0x24: 'E_PAGE_REQUEST',
  0x25: 'F_VMS_FETCH',
};

/** The four event words, fields from arm-smmu-v3.h:438-459 (EVTQ_0_*, EVTQ_1_*, EVTQ_2_ADDR, EVTQ_3_IPA). */
function explainV3Event(id: number, w: Reg64[]): { fields: Record<string, string | number>; explain: string[] } {
  const fields: Record<string, string | number> = { id: hex(id) };
  const explain: string[] = [`SMMUv3 event ${hex(id)}: ${V3_EVENT_NAMES[id] ?? 'an event ID the architecture reserves or this table does not know'}`];
  if (w.length < 4) explain.push(`only ${w.length} of the 4 event words follow: fields beyond them are unknown`);
  if (w[0]) {
    const wid = field64(w[0], 7, 0);
    const sid = field64(w[0], 63, 32);
    const ssv = field64(w[0], 11, 11);
    const ssid = field64(w[0], 31, 12);
    Object.assign(fields, { sid: hex(sid), ...(ssv ? { ssid } : {}) });
    explain.push(`word 0: StreamID ${hex(sid)} (bits 63:32)${ssv ? `, SubstreamID ${ssid} (SSV set)` : ', no SubstreamID (SSV clear)'}${wid !== id ? `; its ID field ${hex(wid)} differs from the header's ${hex(id)}` : ''}`);
  }
  if (w[1]) {
    const rnw = field64(w[1], 35, 35);
    const cls = field64(w[1], 41, 40);
    Object.assign(fields, { access: rnw ? 'read' : 'write', class: ['CD', 'TT', 'IN', 'reserved'][cls] });
    explain.push(
      `word 1: ${rnw ? 'a read' : 'a write'} (RnW bit 35), ${field64(w[1], 34, 34) ? 'instruction' : 'data'} (InD), ${field64(w[1], 33, 33) ? 'privileged' : 'unprivileged'} (PnU), ` +
        `stage ${field64(w[1], 39, 39) ? 2 : 1} (S2 bit 39), class ${['CD (fetching the context descriptor)', 'TT (walking the translation table)', 'IN (the input address itself)', 'reserved'][cls]}` +
        `${field64(w[1], 31, 31) ? ', stalled (STALL bit 31, STAG ' + field64(w[1], 15, 0) + ')' : ''}`,
    );
  }
  if (w[2]) {
    fields.iova = reg64Hex(w[2]);
    explain.push(`word 2: input address (IOVA) ${reg64Hex(w[2])}`);
  }
  if (w[3] && (id >= 0x10 && id <= 0x13)) {
    const ipa = field64(w[3], 51, 12) * 4096;
    if (ipa) explain.push(`word 3: IPA ${hex(ipa)} (bits 51:12; for a stage-2 fault)`);
  }
  if (fields.sid !== undefined && fields.iova !== undefined)
    explain.push(
      `to see the walk: iommu-lab walk DUMP --smmu-strtab STRTAB_BASE --strtab-cfg STRTAB_BASE_CFG --sid ${fields.sid}${fields.ssid !== undefined ? ` --ssid ${fields.ssid}` : ''} --iova ${fields.iova} --explain`,
    );
  return { fields, explain };
}

/** What the Rockchip walk line's numbers say, for both entry layouts. */
function explainRockchipWalk(f: Record<string, number>, prior: { iova?: number } ): string[] {
  const out: string[] = [];
  const { mmuDteAddr, dteAddr, dte, dteValid, pteAddr, pte, pteValid, pageAddr, flags } = f;
  const v1 = rockchipVariants.v1;
  const v2 = rockchipVariants.v2;
  out.push(`mmu_dte_addr ${hex(mmuDteAddr)}: the directory table (DT) address the driver decoded from the DTE_ADDR register with rk_ops->pt_address (RK:567-568)`);
  out.push(
    'the DTE and PTE values are what the CPU reads at those addresses through phys_to_virt (RK:571-572, 578-579), not what the IOMMU read: a table the IOMMU sees elsewhere (a swiotlb bounce copy, a truncated address) can differ',
  );
  if (mmuDteAddr >= GiB4)
    out.push(
      `the DT is above 4 GiB: only a v2 block can be given it; an RK3568 v1.0 block (e.g. the NPU's IOMMU) cannot reach a DT above 4 GiB, its walker fails or truncates the address (seeds/000)`,
    );
  const dteIndex = Number.isFinite(dteAddr - mmuDteAddr) ? (dteAddr - mmuDteAddr) / 4 : NaN;
  if (Number.isInteger(dteIndex) && dteIndex >= 0 && dteIndex < 1024)
    out.push(`dte@${hex(dteAddr)} = mmu_dte_addr + 4 × dte_index ${hex(dteIndex)}: IOVA ${hex(dteIndex * 0x400000)}..${hex(dteIndex * 0x400000 + 0x3fffff)} is served by this DTE`);
  else out.push(`dte@${hex(dteAddr)} is not mmu_dte_addr + 4 × an index below 1024: the line is inconsistent`);
  if (prior.iova !== undefined && Number.isInteger(dteIndex) && rkDteIndex(prior.iova) !== dteIndex)
    out.push(`note: the IOVA ${hex(prior.iova)} of the line before has dte_index ${hex(rkDteIndex(prior.iova))}, not ${hex(dteIndex)}`);
  if (!dteValid) {
    out.push(`DTE ${hex(dte)} valid: 0 — nothing was ever mapped in this 4 MiB of IOVA (or the DT was cleared); the driver stops here and prints the PTE, page and flags as 0 (RK:574-575)`);
    if (dte !== 0) out.push(`the DTE is not 0 but its valid bit is clear: a stale or garbage entry`);
    return out;
  }
  const ptV1 = v1.ptAddress(dte);
  const ptV2 = v2.ptAddress(dte);
  const hiBits = (dte >>> 4) & 0xff;
  const pteOffset = pteAddr - ptV2;
  const v2Fits = pteOffset >= 0 && pteOffset < 4096 && pteOffset % 4 === 0;
  const v1Off = pteAddr - ptV1;
  const v1Fits = v1Off >= 0 && v1Off < 4096 && v1Off % 4 === 0;
  if (hiBits === 0) out.push(`DTE ${hex(dte)}: valid, page table (PT) at ${hex(ptV1)} (bits 31:12; bits 11:4 are 0, so v1 and v2 read it the same)`);
  else {
    out.push(
      `DTE ${hex(dte)}: valid; as v2 (rk_dte_pt_address_v2, RK:209-218) bits 11:8 = ${hex((dte >>> 8) & 0xf)} are PT address bits 35:32 and bits 7:4 = ${hex((dte >>> 4) & 0xf)} bits 39:36, so the PT is at ${hex(ptV2)} (40-bit)`,
    );
    out.push(`as v1 the same DTE would name ${hex(ptV1)} with reserved bits 11:1 set`);
  }
  if (v2Fits || v1Fits) {
    const variant = v2Fits && !v1Fits ? 'v2' : v1Fits && !v2Fits ? 'v1' : null;
    const pteIdx = (v2Fits ? pteOffset : v1Off) / 4;
    out.push(`pte@${hex(pteAddr)} = PT + 4 × pte_index ${hex(pteIdx)}${variant ? ` — consistent only with the ${variant} layout, so this is a ${variant} IOMMU` : ''}`);
    if (ptV2 >= GiB4) out.push('the PT is above 4 GiB: whether a v1.0 block can walk a second-level table there is not known from the source (Rockchip only requires the DT below 4 GiB)');
  } else out.push(`pte@${hex(pteAddr)} is not inside the 4 KiB PT the DTE names (${hex(ptV2)}): the line is inconsistent`);
  if (!pteValid) {
    if (pte === 0)
      out.push(
        'PTE 0 under a valid DTE: the page table is empty at this index — never mapped, already unmapped, or erased after it was written (seed 000: PTEs written into a swiotlb bounce slot are wiped by the next sync)',
      );
    else out.push(`PTE ${hex(pte)} has its valid bit clear but other bits set: unmapped by rk_mk_pte_invalid, which clears only bit 0 (RK:301-304), so it still shows the old page ${hex(v2.pteAddress(pte))}`);
    return out;
  }
  const pageV1 = v1.pteAddress(pte);
  const pageV2 = v2.pteAddress(pte);
  const off = Number.isFinite(pageAddr) ? pageAddr % 4096 : NaN;
  out.push(`PTE ${hex(pte)}: valid, ${pte & 4 ? 'writable' : 'not writable'}, ${pte & 2 ? 'readable' : 'not readable'}`);
  if (pageV2 !== pageV1) out.push(`its page is ${hex(pageV2)} read as v2 (bits 11:4 packed address bits 39:32), ${hex(pageV1)} read as v1`);
  if (pageAddr - off === pageV2 || pageAddr - off === pageV1) out.push(`page@${hex(pageAddr)} = page ${hex(pageAddr - off)} + page_offset ${hex(off)}`);
  out.push(
    `flags ${hex(flags)} = PTE & 0x1fe (RK_PTE_PAGE_FLAGS_MASK, RK:260): bit 2 write ${(flags >> 2) & 1}, bit 1 read ${(flags >> 1) & 1}` +
      ((flags & 0x1f0) !== 0
        ? `; bits 8:4 = ${hex((flags >>> 4) & 0x1f)} are NOT flags on a v2 IOMMU: they are address bits 32 (bit 8) and 39:36 (bits 7:4) of the page, which the logger masks as if it were v1 (RK:585)`
        : '; bits 8:3 (v1 cache attributes, or v2 address bits) are 0'),
  );
  return out;
}

const IMSTR_BITS: [number, string][] = [
  [1 << 4, 'MHIT (multiple TLB hits)'],
  [1 << 2, 'ABORT (page table walk abort: the walker\'s read of a table failed)'],
  [1 << 1, 'PF (permission fault)'],
  [1 << 0, 'TF (translation fault: no valid entry)'],
];

const DART_CODES = {
  t8020: { stream: [27, 24], codeBits: 12, names: [[4, 'READ FAULT'], [3, 'WRITE FAULT'], [2, 'NO PTE FOR IOVA'], [1, 'NO PMD FOR IOVA'], [0, 'NO TTBR FOR IOVA']] },
  t8110: { stream: [27, 20], codeBits: 15, names: [[5, 'READ FAULT'], [4, 'WRITE FAULT'], [3, 'NO PTE FOR IOVA'], [2, 'NO PMD FOR IOVA'], [1, 'NO PGD FOR IOVA'], [0, 'NO TTBR FOR IOVA']] },
} as const;

const DART_MEANING: Record<string, string> = {
  'READ FAULT': 'a read to a page mapped without read permission',
  'WRITE FAULT': 'a write to a page mapped without write permission',
  'NO PTE FOR IOVA': 'the level-2 entry (PTE) for this IOVA is not valid: not mapped',
  'NO PMD FOR IOVA': 'the level-1 entry for this IOVA is not valid: nothing mapped in its whole range',
  'NO PGD FOR IOVA': 'the top-level entry is not valid',
  'NO TTBR FOR IOVA': 'the stream has no valid TTBR for this IOVA: no table attached (or bypass expected)',
};

const FSR_BITS: [number, string][] = [
  [31, 'MULTI (more than one fault)'],
  [30, 'SS (stalled: the transaction waits for software)'],
  [8, 'UUT (unsupported upstream transaction)'],
  [7, 'ASF (address size fault)'],
  [6, 'TLBLKF (TLB lock fault)'],
  [5, 'TLBMCF (TLB match conflict)'],
  [4, 'EF (external fault: the walk\'s or access\'s bus read failed)'],
  [3, 'PF (permission fault)'],
  [2, 'AFF (access flag fault)'],
  [1, 'TF (translation fault: no valid descriptor)'],
];

/** Parse and explain every line. Never throws for the text's content. */
export function parseFaultLog(text: string): FaultLogResult {
  const lines: FaultLine[] = [];
  const prior: { iova?: number } = {};
  let event: { line: FaultLine; id: number; words: Reg64[] } | null = null;
  const finishEvent = () => {
    if (!event) return;
    const { fields, explain } = explainV3Event(event.id, event.words);
    event.line.fields = fields;
    event.line.explain = explain;
    event = null;
  };
  const raw = text.split('\n');
  raw.forEach((t, i) => {
    if (t.trim() === '') return;
    const fr = frame(t);
    const base = { line: i + 1, text: t.replace(/\r$/, ''), ...(fr.time !== undefined ? { time: fr.time } : {}), ...(fr.device ? { device: fr.device } : {}) };
    const push = (kind: FaultLineKind, fields: Record<string, string | number>, explain: string[]) => lines.push({ ...base, kind, fields, explain });
    const b = fr.body;
    let m: RegExpExecArray | null;
    if (event && (m = V3_WORD.exec(b))) {
      event.words.push(parseReg64(m[1], 'event word'));
      push('smmuv3-event-word', { word: event.words.length - 1, value: m[1] }, [`word ${event.words.length - 1} of the SMMUv3 event on line ${event.line.line}`]);
      if (event.words.length === 4) finishEvent();
      return;
    }
    finishEvent();
    if ((m = V3_EVENT.exec(b))) {
      push('smmuv3-event', { id: hex(num(m[1])) }, []);
      event = { line: lines[lines.length - 1], id: num(m[1]), words: [] };
    } else if ((m = RK_FAULT.exec(b))) {
      const iova = num(m[1]);
      prior.iova = iova;
      push('rockchip-page-fault', { iova: hex(iova), type: m[2].toLowerCase() }, [
        `Rockchip IOMMU page fault (RK:627): the master's ${m[2].toLowerCase()} of IOVA ${hex(iova)} found no valid translation; the IOVA comes from PAGE_FAULT_ADDR, read/write from STATUS bit 5`,
        `the IOVA splits into DTE index ${hex(rkDteIndex(iova))} (bits 31:22), PTE index ${hex(rkPteIndex(iova))} (bits 21:12), page offset ${hex(rkPageOffset(iova))} (bits 11:0)`,
        'the driver zaps the IOTLB and acknowledges the fault (PAGE_FAULT_DONE) after printing',
      ]);
    } else if ((m = RK_IOVA.exec(b))) {
      const iova = num(m[1]);
      const got = [num(m[2]), num(m[3]), num(m[4])];
      const want = [rkDteIndex(iova), rkPteIndex(iova), rkPageOffset(iova)];
      prior.iova = iova;
      const ex = [`IOVA ${hex(iova)}: dte_index = bits 31:22, pte_index = bits 21:12, page_offset = bits 11:0 (RK:323-336)`];
      if (got.some((g, k) => g !== want[k])) ex.push(`inconsistent: from the IOVA they should be ${want.map(hex).join(', ')}`);
      push('rockchip-iova', { iova: hex(iova), dte_index: got[0], pte_index: got[1], page_offset: got[2] }, ex);
    } else if ((m = RK_WALK.exec(b))) {
      const f = {
        mmuDteAddr: num(m[1]),
        dteAddr: num(m[2]),
        dte: num(m[3]),
        dteValid: num(m[4]),
        pteAddr: num(m[5]),
        pte: num(m[6]),
        pteValid: num(m[7]),
        pageAddr: num(m[8]),
        flags: num(m[9]),
      };
      push(
        'rockchip-walk',
        {
          mmu_dte_addr: hex(f.mmuDteAddr),
          dte_addr: hex(f.dteAddr),
          dte: hex(f.dte),
          dte_valid: f.dteValid,
          pte_addr: hex(f.pteAddr),
          pte: hex(f.pte),
          pte_valid: f.pteValid,
          page_addr: hex(f.pageAddr),
          flags: hex(f.flags),
        },
        [
          ...explainRockchipWalk(f, prior),
          `to walk it in a dump: iommu-lab walk DUMP --format ${f.mmuDteAddr >= GiB4 || ((f.dte >>> 4) & 0xff) !== 0 ? 'rockchip-v2' : 'rockchip-v1|rockchip-v2 (the IOMMU node\'s compatible says which)'} --root ${hex(f.mmuDteAddr)}${prior.iova !== undefined ? ` --iova ${hex(prior.iova)} --explain` : ''}`,
        ],
      );
    } else if ((m = RK_BUS.exec(b))) {
      const a = num(m[1]);
      push('rockchip-bus-error', { addr: hex(a) }, [
        `BUS_ERROR interrupt (RK:649); the address printed is PAGE_FAULT_ADDR, ${hex(a)}`,
        'a bus error means a read by the IOMMU (its table walk) or the master got an error response from the interconnect: e.g. a DT or PT the walker cannot reach (a v1.0 block given a DT above 4 GiB), a power domain off, or memory that is not there',
      ]);
    } else if (RK_NODOM.test(b)) {
      push('rockchip-no-domain', {}, ['a page fault while the IOMMU is attached to the identity domain (RK:642): the master ran DMA before its driver attached a paging domain, or after it detached']);
    } else if ((m = RK_INT.exec(b))) {
      const st = num(m[1]);
      push('rockchip-int-status', { int_status: hex(st) }, [
        `INT_STATUS ${hex(st)} has bits outside page fault (bit 0) and bus error (bit 1) (RK:652): ${hex(st & ~3)} — often the register read while the block is unpowered or in reset (all ones), or an interrupt line shared with another device`,
      ]);
    } else if ((m = IPMMU_UNH.exec(b))) {
      const st = num(m[1]);
      const iova = num(m[2]);
      const bits = IMSTR_BITS.filter(([bit]) => st & bit).map(([, n]) => n);
      push('ipmmu-unhandled', { status: hex(st), iova: hex(iova) }, [
        `IPMMU context fault nobody handled (ipmmu-vmsa.c:531): IMSTR ${hex(st)} = ${bits.join(', ') || 'no error bit'}; IOVA ${hex(iova)} from IMELAR/IMEUAR`,
        'translation and permission faults come from the arm-32-lpae-s1 table this context walks: walk it at this IOVA to see which level is invalid',
      ]);
    } else if ((m = IPMMU_ABORT.exec(b))) {
      push('ipmmu-walk-abort', { iova: hex(num(m[1])) }, [
        `IMSTR.ABORT (ipmmu-vmsa.c:515): the table walker's read failed for IOVA ${hex(num(m[1]))}: a table the walker cannot read (outside memory, or beyond what the IPMMU's bus reaches)`,
      ]);
    } else if ((m = IPMMU_MHIT.exec(b))) {
      push('ipmmu-multi-hit', { iova: hex(num(m[1])) }, [`IMSTR.MHIT (ipmmu-vmsa.c:512): two IOTLB entries matched IOVA ${hex(num(m[1]))}: a mapping changed without the TLB being flushed`]);
    } else if ((m = DART_TF.exec(b))) {
      const st = num(m[1]);
      const stream = num(m[2]);
      const code = num(m[3]);
      const name = m[4];
      const addr = num(m[5]);
      const ex: string[] = [`Apple DART translation fault (apple-dart.c:1037/1076) at IOVA ${Number.isNaN(addr) ? m[5] : hex(addr)}`];
      const layouts = (Object.keys(DART_CODES) as (keyof typeof DART_CODES)[]).filter((k) => {
        const L = DART_CODES[k];
        const s = (st >>> L.stream[1]) & ((1 << (L.stream[0] - L.stream[1] + 1)) - 1);
        const c = st & ((1 << L.codeBits) - 1);
        if (s !== stream || c !== code) return false;
        // The printed name is the driver's == comparison of the code with this layout's bits.
        const named = L.names.find(([bit]) => code === 1 << bit);
        return (named ? named[1] : 'unknown') === name;
      });
      if (layouts.length === 1) ex.push(`status ${hex(st)} decodes as a ${layouts[0]} DART's ERROR register: flag bit 31 ${st >>> 31}, stream ${stream}, code ${hex(code)}`);
      else if (layouts.length === 0) ex.push(`status ${hex(st)}, stream ${stream}, code ${hex(code)} and the name "${name}" do not agree under either ERROR register layout (t8020, t8110): the line is inconsistent or edited`);
      else ex.push(`status ${hex(st)}: flag bit 31 ${st >>> 31}, stream ${stream}, code ${hex(code)} (the t8020 and t8110 layouts read it the same)`);
      if (name === 'unknown') ex.push(`"unknown": the code has more or other than exactly one known bit (the driver compares with ==), e.g. ${hex(code)} = bits ${[...Array(15).keys()].filter((k) => code & (1 << k)).join(', ')}`);
      else ex.push(`${name}: ${DART_MEANING[name] ?? 'not a name the 6.12 driver prints'}`);
      push('dart-translation-fault', { status: hex(st), stream, code: hex(code), name, addr: Number.isNaN(addr) ? m[5] : hex(addr) }, ex);
    } else if ((m = SMMU_CF.exec(b))) {
      const fsr = num(m[1]);
      const iova = num(m[2]);
      const fsynr = num(m[3]);
      const cbfr = num(m[4]);
      const cb = num(m[5]);
      const set = FSR_BITS.filter(([bit]) => Math.floor(fsr / 2 ** bit) % 2 === 1).map(([, n]) => n);
      push('arm-smmu-context-fault', { fsr: hex(fsr), iova: Number.isNaN(iova) ? m[2] : hex(iova), fsynr: hex(fsynr), cbfrsynra: hex(cbfr), cb }, [
        `arm-smmu (SMMUv1/v2) context bank ${cb} fault nobody handled (arm-smmu.c:421); FAR = IOVA ${Number.isNaN(iova) ? m[2] : hex(iova)}`,
        `FSR ${hex(fsr)}: ${set.join(', ') || 'no fault bit'}; format ${(fsr >>> 9) & 3}`,
        `FSYNR0 ${hex(fsynr)}: level ${fsynr & 3}, ${fsynr & 0x10 ? 'write' : 'read'}${fsynr & 0x400 ? ', fault during the table walk (PTWF)' : ''}${fsynr & 0x40 ? ', instruction fetch' : ''}`,
        `CBFRSYNRA ${hex(cbfr)}: StreamID ${hex(cbfr & 0xffff)} of the master that faulted`,
      ]);
    } else if ((m = SMMU_FSR.exec(b))) {
      const fsr = parseInt(m[1], 16);
      push('arm-smmu-fsr', { fsr: hex(fsr), flags: m[2].trim(), sid: hex(num(m[3])) }, [
        `FSR ${hex(fsr)} spelled out by the driver (arm-smmu.c:424): ${m[2].trim()}; the StreamID is ${hex(num(m[3]))} (CBFRSYNRA bits 15:0)`,
      ]);
    } else if ((m = SMMU_FSYNR.exec(b))) {
      const v = parseInt(m[1], 16);
      push('arm-smmu-fsynr0', { fsynr0: hex(v), flags: m[2].trim() }, [
        `FSYNR0 ${hex(v)} (arm-smmu.c:439): S1CBNDX ${(v >>> 16) & 0xff}, PLVL ${v & 3} (table level of the fault), ${v & 0x10 ? 'WNR: a write' : 'a read'}${v & 0x400 ? ', PTWF: the fault happened while reading a table' : ''}`,
      ]);
    } else {
      push('unrecognised', {}, ['not a fault line iommu-lab knows (Rockchip, IPMMU, Apple DART, arm-smmu context faults, arm-smmu-v3 events of Linux 6.12)']);
    }
  });
  finishEvent();
  const recognised = lines.filter((l) => l.kind !== 'unrecognised').length;
  return { lines, recognised, unrecognised: lines.length - recognised };
}
