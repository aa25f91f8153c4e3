/**
 * Apple DART page tables (DART1 = APPLE_DART on t8020/t8103, DART2 = APPLE_DART2 on t6000/t8110), as
 * Linux 6.12's drivers/iommu/io-pgtable-dart.c builds them (cited as PD:line; apple-dart.c as AD:line).
 *
 * Two levels of 64-bit entries below up to four top-level tables, one per TTBR. Every table is one
 * granule (4 KiB or 16 KiB); a granule holds 2^bpl entries with bpl = log2(granule) - 3. The IOVA splits
 * into [TTBR index | L1 index | L2 index | page offset] (PD:168-186). With ias 32 a 16 KiB DART needs one
 * TTBR and reaches only L1 entries 0..127; a 4 KiB one needs four (PD:366-373).
 *
 * DART1 keeps PA[35:12] in place; DART2 stores PA >> 4 in entry bits 37:10 (PD:80-108). A leaf also
 * carries the subpage window (start 0, end 0xfff: the whole page), bit 1 and the valid bit (PD:134-139).
 * Bit 1 is DART1's "subpage protection disable" and DART2's "no cache": the code sets it for both, so a
 * DART2 leaf is never cacheable whatever the caller asked (reference sheet point 19).
 * DART2 entries hold PA bits 41:14 only, so with a 4 KiB granule (which the init function accepts) PA
 * bits 13:12 of pages *and of tables* are dropped without a warning: only 16 KiB-aligned pages and tables
 * survive. Real DART2 blocks use 16 KiB pages; we model the code as it is.
 *
 * Entries are handled as two 32-bit halves; nothing here uses BigInt.
 */
import { InputError, TWO32, hex, hex64 } from '../addr.js';
import { ACCESS_FAULT, PhysMem, type MemReader } from '../mem/phys-mem.js';
import { anyPageBacked, entriesToPageEnd } from './dump-pages.js';
import { NO_COMPILED_WALK, SPLIT_IOVA, compileWalk, iovaBits, joinHalves, lit, type CompiledWalk } from './compiled-walk.js';
import {
  EEXIST,
  EINVAL,
  ENOMEM,
  ERANGE,
  IOMMU_CACHE,
  IOMMU_READ,
  IOMMU_WRITE,
  type EntryDescription,
  type EnumerateResult,
  type FormatConfig,
  type MapResult,
  type MappingRun,
  type PageTable,
  type PageTableFormat,
  type ResolvedConfig,
  type TableHost,
  type WalkParams,
  type WalkProblem,
  type WalkResult,
  type WalkStep,
  busFault,
  walkFail,
} from './types.js';

export type DartVariant = 'dart1' | 'dart2';
/** How the hardware block encodes a TTBR register (AD:83-87 for t8020/t6000, AD:142-145 for t8110). */
export type DartTtbrEncoding = 't8020' | 't8110';

/** DART_MAX_TABLES (PD:30). */
export const DART_MAX_TABLES = 4;

const VALID = 1; // PD:63
const BIT1 = 1 << 1; // DART1 SP_DIS (PD:55) == DART2 NO_CACHE (PD:60)
const D1_NO_WRITE = 1 << 7; // PD:54
const D1_NO_READ = 1 << 8; // PD:53
const D2_NO_WRITE = 1 << 2; // PD:59
const D2_NO_READ = 1 << 3; // PD:58
/** Subpage end = 0xfff in entry bits 51:40 (= high-half bits 19:8); start = 0 in 63:52 (PD:45-46, 135-136). */
const SUBPAGE_FULL_HI = 0xfff << 8;

/** Per-variant bit positions, as data. */
interface DartLayout {
  variant: DartVariant;
  /** Address field masks in the two halves, and the shift of the PA into the field. */
  addrLoMask: number;
  addrHiMask: number;
  paShift: number;
  /** Bits Linux never sets in a leaf / in a table entry (reserved as far as the source tells). */
  leafReservedLo: number;
  leafReservedHi: number;
  tableReservedLo: number;
  tableReservedHi: number;
  defaultOas: number;
  defaultTtbr: DartTtbrEncoding;
}

const DART1: DartLayout = {
  variant: 'dart1',
  // GENMASK_ULL(35, 12) (PD:48)
  addrLoMask: 0xfffff000,
  addrHiMask: 0xf,
  paShift: 0,
  leafReservedLo: 0x7c | 0xe00, // bits 6:2, 11:9
  leafReservedHi: 0xf0, // bits 39:36
  tableReservedLo: 0xffe,
  tableReservedHi: 0xfffffff0,
  defaultOas: 36,
  defaultTtbr: 't8020',
};

const DART2: DartLayout = {
  variant: 'dart2',
  // GENMASK_ULL(37, 10) holding PA >> 4 (PD:49-50)
  addrLoMask: 0xfffffc00,
  addrHiMask: 0x3f,
  paShift: 4,
  leafReservedLo: 0x3f0, // bits 9:4
  leafReservedHi: 0xc0, // bits 39:38
  tableReservedLo: 0x3fe,
  tableReservedHi: 0xffffffc0,
  defaultOas: 42,
  // t6000 uses the t8020 register layout (AD:1274-1278).
  defaultTtbr: 't8020',
};

/** paddr_to_iopte (PD:80-93): the address field of an entry, as [lo, hi]. */
function paToField(L: DartLayout, pa: number, out: number[]): void {
  const v = L.paShift ? Math.floor(pa / (1 << L.paShift)) : pa;
  out[0] = (v >>> 0) & L.addrLoMask;
  out[1] = Math.floor(v / TWO32) & L.addrHiMask;
}

/** iopte_to_paddr (PD:95-108). */
function fieldToPa(L: DartLayout, lo: number, hi: number): number {
  const v = (hi & L.addrHiMask) * TWO32 + ((lo & L.addrLoMask) >>> 0);
  return L.paShift ? v * (1 << L.paShift) : v;
}

/** dart_prot_to_pte (PD:208-229). */
function protToPte(L: DartLayout, prot: number): number {
  if (L.variant === 'dart1') return (prot & IOMMU_WRITE ? 0 : D1_NO_WRITE) | (prot & IOMMU_READ ? 0 : D1_NO_READ);
  return (prot & IOMMU_WRITE ? 0 : D2_NO_WRITE) | (prot & IOMMU_READ ? 0 : D2_NO_READ) | (prot & IOMMU_CACHE ? 0 : BIT1);
}

/** IOMMU_* prot a leaf grants, read back from its bits. */
function pteToProt(L: DartLayout, lo: number): number {
  if (L.variant === 'dart1') return (lo & D1_NO_READ ? 0 : IOMMU_READ) | (lo & D1_NO_WRITE ? 0 : IOMMU_WRITE);
  return (lo & D2_NO_READ ? 0 : IOMMU_READ) | (lo & D2_NO_WRITE ? 0 : IOMMU_WRITE) | (lo & BIT1 ? 0 : IOMMU_CACHE);
}

/** The TTBR register value apple_dart_hw_set_ttbr writes for a table at pa (AD:337-348), as a u32. */
export function dartTtbrRegister(pa: number, enc: DartTtbrEncoding): number {
  if (enc === 't8020') return ((Math.floor(pa / 4096) >>> 0) | 0x8000_0000) >>> 0;
  return ((Math.floor(pa / 16384) * 4) >>> 0 | 1) >>> 0;
}

/** The table address a TTBR register value names, or null when its valid bit is clear. */
export function decodeDartTtbr(raw: number, enc: DartTtbrEncoding): number | null {
  if (enc === 't8020') return raw & 0x8000_0000 ? (raw & 0x7fff_ffff) * 4096 : null;
  return raw & 1 ? (raw >>> 2) * 16384 : null;
}

/** Hardware TTBR slots per stream (AD:1226, 1278, and 1 for t8110). */
export function dartTtbrSlots(enc: DartTtbrEncoding): number {
  return enc === 't8020' ? 4 : 1;
}

interface Geometry {
  granule: number;
  bpl: number;
  entries: number;
  l2Shift: number;
  l1Shift: number;
  tblShift: number;
  tblBits: number;
  nTtbrs: number;
  /** 2^shift of each index, so the hot path divides instead of exponentiating. */
  l2Div: number;
  l1Div: number;
  tblDiv: number;
}

function geometry(cfg: ResolvedConfig): Geometry {
  const granule = cfg.granule;
  const pgShift = Math.log2(granule);
  const bpl = pgShift - 3;
  // A config resolved by resolveConfig carries tblBits; derive it for a hand-built one.
  const tblBits = typeof cfg.tblBits === 'number' ? cfg.tblBits : Math.max(0, cfg.ias - pgShift - 2 * bpl);
  return {
    granule,
    bpl,
    entries: 1 << bpl,
    l2Shift: bpl + 3,
    l1Shift: 2 * bpl + 3,
    tblShift: 3 * bpl + 3,
    tblBits,
    nTtbrs: 1 << tblBits,
    l2Div: 2 ** (bpl + 3),
    l1Div: 2 ** (2 * bpl + 3),
    tblDiv: 2 ** (3 * bpl + 3),
  };
}

const geometryCache = new WeakMap<ResolvedConfig, Geometry>();

/** geometry() once per resolved config: walk() is called per TLB miss by the hardware model. */
function geometryOf(cfg: ResolvedConfig): Geometry {
  let g = geometryCache.get(cfg);
  if (!g) {
    g = geometry(cfg);
    geometryCache.set(cfg, g);
  }
  return g;
}

/** (iova >> shift) & mask for any iova < 2^53, with div = 2^shift. */
function field(iova: number, div: number, mask: number): number {
  return Math.floor(iova / div) & mask;
}

class DartTable implements PageTable {
  private readonly g: Geometry;
  private readonly tmp = [0, 0];
  /** Output of l2Frame besides its result: the entry count. */
  private l2Count = 0;
  private readonly oasLimit: number;

  /** host.mem when it is a PhysMem: iovaToPhys then walks its frames with 32-bit integer halves. */
  private readonly frames: PhysMem | undefined;
  /** The TTBRs (roots) as address halves, bits 51:32 and bits 31:0 as int32: the compiled walks' roots. */
  private readonly rootHi: Int32Array;
  private readonly rootLo: Int32Array;
  /**
   * The usual case, one TTBR on a PhysMem: fastMem is that memory (else null) and r0Hi/r0Lo the TTBR's
   * halves in plain fields (declared with an integer so V8 keeps them untagged), so iovaToPhys and the
   * one-page map/unmap take the compiled walk straight away with no TTBR index to work out. A null
   * test is one compare; a boolean field would be a full truthiness test on a tagged value (about ten
   * instructions, measured in V8's code).
   */
  private readonly fastMem: PhysMem | null = null;
  private readonly r0Hi: number = 0;
  private readonly r0Lo: number = 0;

  constructor(
    readonly format: PageTableFormat,
    readonly cfg: ResolvedConfig,
    private readonly L: DartLayout,
    private readonly host: TableHost,
    readonly roots: number[],
  ) {
    this.g = geometry(cfg);
    this.frames = host.mem instanceof PhysMem ? host.mem : undefined;
    this.rootHi = Int32Array.from(roots, (r) => Math.floor(r / TWO32));
    this.rootLo = Int32Array.from(roots, (r) => r | 0);
    if (roots.length === 1 && this.g.nTtbrs === 1 && this.frames !== undefined) this.fastMem = this.frames;
    this.r0Hi = this.rootHi[0] ?? 0;
    this.r0Lo = this.rootLo[0] ?? 0;
    // Compiled once per geometry and layout (cached by source), so making them here costs a lookup.
    this.walkFn = this.frames === undefined ? NO_COMPILED_WALK : compileWalk(this.walkSource(false));
    this.slotFn = this.frames === undefined ? NO_COMPILED_WALK : compileWalk(this.walkSource(true));
    this.oasLimit = 2 ** cfg.oas;
    this.mappedOne = Object.freeze({ ret: 0, mapped: cfg.pgsizeBitmap });
  }

  /**
   * For map/unmap on a PhysMem: the index in mem.xWords of the L2 entries [start, start + n) of iova, with
   * n = min(pgcount, entries - start) (dart_map_pages / dart_unmap_pages, PD:262-265, 311-313), found
   * with 32-bit halves as in iovaToPhys. Sets l2Count. -1 - and the caller takes the
   * generic code, which handles every case and warning - when the L1 entry is zero, a frame was never
   * written, or the entries do not all lie in one frame.
   */
  private l2Frame(mem: PhysMem, iova: number, pgcount: number): number {
    const { L, g } = this;
    const ilo = iova >>> 0;
    const ihi = ((iova - ilo) / TWO32) >>> 0;
    const ts = g.tblShift;
    const root = this.roots[(ts >= 32 ? ihi >>> (ts - 32) : (ilo >>> ts) | (ihi << (32 - ts))) & (g.nTtbrs - 1)];
    if (root === undefined) return -1;
    const s1 = g.l1Shift;
    const rl = root | 0;
    const rh = Math.floor(root / TWO32);
    const el = (rl + ((((ilo >>> s1) | (ihi << (32 - s1))) & (g.entries - 1)) << 3)) | 0;
    // RAM never written reads as zeros: a zero entry. A hole: the generic code.
    const w1 = mem.wordAt(el >>> 0 < rl >>> 0 ? rh + 1 : rh, el);
    if (w1 < 0) return -1;
    const lo = mem.xWords[w1];
    const hi = mem.xWords[w1 + 1];
    if (lo === 0 && hi === 0) return -1;
    const ps = L.paShift;
    let tl = lo & L.addrLoMask;
    let th = hi & L.addrHiMask;
    if (ps !== 0) {
      th = (th << ps) | (tl >>> (32 - ps));
      tl <<= ps;
    }
    const start = (ilo >>> g.l2Shift) & (g.entries - 1);
    const n = Math.min(pgcount, g.entries - start);
    const e2 = (tl + (start << 3)) | 0;
    if (e2 >>> 0 < tl >>> 0 || (e2 & 0xfff) + n * 8 > 4096) return -1;
    this.l2Count = n;
    const w = mem.wordAt(th, e2);
    return w < 0 || mem.xWritten[w >>> 10] === 0 ? -1 : w;
  }

  registers(): Record<string, string> {
    const enc = this.cfg.ttbrEncoding as DartTtbrEncoding;
    const out: Record<string, string> = {};
    const slots = Math.max(dartTtbrSlots(enc), this.roots.length);
    // Unused slots are cleared to 0 (AD:568-569).
    for (let i = 0; i < slots; i++) out[`TTBR${i}`] = hex(i < this.roots.length ? dartTtbrRegister(this.roots[i], enc) : 0);
    return out;
  }

  private warn(line: number, cond: string): void {
    this.host.warn?.('io-pgtable-dart.c', line, cond);
  }

  private l1EntryAddr(iova: number): number {
    const g = this.g;
    return this.roots[field(iova, g.tblDiv, g.nTtbrs - 1)] + field(iova, g.l1Div, g.entries - 1) * 8;
  }

  /** dart_map_pages (PD:231-290). */
  /** prot -> PTE bits of the last prot mapped (dart_prot_to_pte | SP_DIS/NO_CACHE | VALID). */
  private lastProt = -1;
  private lastProtBits = 0;
  /** The result of every one-page map that succeeds (never written by anyone: read-only by contract). */
  private readonly mappedOne: MapResult;

  /** The L2 entry's index in mem.xWords for a one-page map/unmap, or -1 for the generic code. */
  private slot(iova: number): number {
    // Several TTBRs (a large IOVA space): the generic code.
    const m = this.fastMem;
    if (m === null) return -1;
    const f = this.slotFn;
    return f(m, this.r0Hi, this.r0Lo, iova);
  }

  /**
   * dart_map_pages (PD:232-290). One page (pgcount 1, the dma-iommu steady state) with every check
   * passing and its L2 table present takes the short way here: the entry found by a compiled walk,
   * refused if valid, written as dart_init_pte writes it. Everything else - a WARN, a table to
   * allocate, several pages, memory that is not a PhysMem - goes to mapPagesGeneric, the kernel's
   * function step by step. Small on purpose: inlined into a caller, its result object is never
   * allocated.
   */
  mapPages(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number): MapResult {
    const w = pgcount === 1 && pgsize === this.cfg.pgsizeBitmap && paddr < this.oasLimit && (prot & (IOMMU_READ | IOMMU_WRITE)) !== 0 ? this.slot(iova) : -1;
    if (w < 0) return this.mapPagesGeneric(iova, paddr, pgsize, pgcount, prot);
    const words = (this.frames as PhysMem).xWords;
    if (words[w] & VALID) return this.mapPagesGeneric(iova, paddr, pgsize, pgcount, prot);
    if (prot !== this.lastProt) {
      this.lastProt = prot;
      this.lastProtBits = protToPte(this.L, prot) | BIT1 | VALID;
    }
    // paddr_to_iopte: the field holds PA >> paShift; `<< (31 - ps) << 1` is `<< (32 - ps)` giving 0 for ps = 0.
    const ps = this.L.paShift;
    const plo = paddr >>> 0;
    const phi = ((paddr - plo) * 2.3283064365386963e-10) | 0;
    words[w] = (((plo >>> ps) | ((phi << (31 - ps)) << 1)) & this.L.addrLoMask) | this.lastProtBits;
    words[w + 1] = ((phi >>> ps) & this.L.addrHiMask) | SUBPAGE_FULL_HI;
    return this.mappedOne;
  }

  private mapPagesGeneric(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number): MapResult {
    const { L, g, host } = this;
    const mem = host.mem;
    if (pgsize !== this.cfg.pgsizeBitmap) {
      this.warn(242, 'pgsize != cfg->pgsize_bitmap');
      return { ret: -EINVAL, mapped: 0 };
    }
    if (paddr >= this.oasLimit) {
      this.warn(245, 'paddr >> cfg->oas');
      return { ret: -ERANGE, mapped: 0 };
    }
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) return { ret: -EINVAL, mapped: 0 };

    // Fast path on a PhysMem with the L2 table present: the same checks and writes on one frame.
    const w = this.frames === undefined ? -1 : this.l2Frame(this.frames, iova, pgcount);
    if (w >= 0 && this.mapInFrame(w, paddr, pgsize, prot)) return { ret: 0, mapped: this.l2Count * pgsize };

    const l1At = this.l1EntryAddr(iova);
    let lo = mem.read32(l1At);
    let hi = mem.read32(l1At + 4);
    if (lo === ACCESS_FAULT || hi === ACCESS_FAULT) lo = hi = 0;
    if (lo === 0 && hi === 0) {
      const table = host.allocTable(g.granule, g.granule);
      if (table === null) return { ret: -ENOMEM, mapped: 0 };
      // dart_install_table (PD:147-166): address field | valid, nothing else.
      paToField(L, table, this.tmp);
      lo = (this.tmp[0] | VALID) >>> 0;
      hi = this.tmp[1];
      mem.write32(l1At, lo);
      mem.write32(l1At + 4, hi);
    }
    // Any non-zero L1 entry is followed as a table, valid bit or not (PD:258, 271).
    const l2 = fieldToPa(L, lo, hi);
    const start = field(iova, g.l2Div, g.entries - 1);
    const n = Math.min(pgcount, g.entries - start);
    const first = l2 + start * 8;
    // dart_init_pte (PD:118-145): refuse before writing anything if any target is valid.
    for (let i = 0; i < n; i++) {
      const v = mem.read32(first + i * 8);
      if (v !== ACCESS_FAULT && v & VALID) {
        this.warn(130, 'ptep[i] & APPLE_DART_PTE_VALID');
        return { ret: -EEXIST, mapped: 0 };
      }
    }
    const protBits = protToPte(L, prot) | BIT1 | VALID;
    for (let i = 0; i < n; i++) {
      paToField(L, paddr + i * pgsize, this.tmp);
      mem.write32(first + i * 8, (this.tmp[0] | protBits) >>> 0);
      mem.write32(first + i * 8 + 4, (this.tmp[1] | SUBPAGE_FULL_HI) >>> 0);
    }
    return { ret: 0, mapped: n * pgsize };
  }

  /**
   * dart_init_pte (PD:118-145) on the entries l2Frame found: false, writing nothing, when one of them
   * is valid (the generic code then WARNs and returns -EEXIST).
   */
  private mapInFrame(w: number, paddr: number, pgsize: number, prot: number): boolean {
    const L = this.L;
    const f = (this.frames as PhysMem).xWords;
    const n = this.l2Count;
    for (let i = 0; i < n; i++) if (f[w + 2 * i] & VALID) return false;
    const protBits = protToPte(L, prot) | BIT1 | VALID;
    for (let i = 0; i < n; i++) {
      paToField(L, paddr + i * pgsize, this.tmp);
      f[w + 2 * i] = (this.tmp[0] | protBits) >>> 0;
      f[w + 2 * i + 1] = (this.tmp[1] | SUBPAGE_FULL_HI) >>> 0;
    }
    return true;
  }

  /**
   * dart_unmap_pages (PD:292-332). One present page takes the short way (clear it, queue its TLB
   * invalidation); anything else - a WARN, several pages, another memory - unmapPagesGeneric.
   * `gather` as in PageTable.unmapPages: a queued (flush-queue) gather adds no page to the TLB
   * invalidation (PD:324-326, iommu_iotlb_gather_queued).
   */
  unmapPages(iova: number, pgsize: number, pgcount: number, gather?: { queued: boolean } | null): number {
    const w = pgcount === 1 && pgsize === this.cfg.pgsizeBitmap ? this.slot(iova) : -1;
    if (w >= 0) {
      const words = (this.frames as PhysMem).xWords;
      if (words[w] !== 0 || words[w + 1] !== 0) {
        words[w] = 0;
        words[w + 1] = 0;
        if (addsPage(gather)) this.host.tlbAddPage?.(iova, pgsize);
        return pgsize;
      }
    }
    return this.unmapPagesGeneric(iova, pgsize, pgcount, addsPage(gather));
  }

  private unmapPagesGeneric(iova: number, pgsize: number, pgcount: number, addPage: boolean): number {
    const { L, g, host } = this;
    const mem = host.mem;
    if (pgsize !== this.cfg.pgsizeBitmap || !pgcount) {
      this.warn(301, 'pgsize != cfg->pgsize_bitmap || !pgcount');
      return 0;
    }
    const w = this.frames === undefined ? -1 : this.l2Frame(this.frames, iova, pgcount);
    if (w >= 0) {
      // The loop below on one frame: clear each entry, queue its TLB invalidation, stop at a zero one.
      const f = (this.frames as PhysMem).xWords;
      const n = this.l2Count;
      let i = 0;
      for (; i < n; i++) {
        if (f[w + 2 * i] === 0 && f[w + 2 * i + 1] === 0) {
          this.warn(318, '!pte');
          break;
        }
        f[w + 2 * i] = 0;
        f[w + 2 * i + 1] = 0;
        if (addPage) host.tlbAddPage?.(iova + i * pgsize, pgsize);
      }
      return i * pgsize;
    }
    const l1At = this.l1EntryAddr(iova);
    const lo = mem.read32(l1At);
    const hi = mem.read32(l1At + 4);
    if (lo === ACCESS_FAULT || hi === ACCESS_FAULT || (lo === 0 && hi === 0)) {
      this.warn(307, '!ptep');
      return 0;
    }
    const start = field(iova, g.l2Div, g.entries - 1);
    const n = Math.min(pgcount, g.entries - start);
    let at = fieldToPa(L, lo, hi) + start * 8;
    let i = 0;
    while (i < n) {
      const plo = mem.read32(at);
      const phi = mem.read32(at + 4);
      if (plo === ACCESS_FAULT || phi === ACCESS_FAULT || (plo === 0 && phi === 0)) {
        this.warn(318, '!pte');
        break;
      }
      mem.write32(at, 0);
      mem.write32(at + 4, 0);
      if (addPage) host.tlbAddPage?.(iova + i * pgsize, pgsize);
      at += 8;
      i++;
    }
    return i * pgsize;
  }

  /** The walks iovaToPhys and the one-page map/unmap take (see compiled-walk.ts), made at creation. */
  private readonly walkFn: CompiledWalk;
  private readonly slotFn: CompiledWalk;

  /**
   * dart_iova_to_phys (PD:335-358): non-zero entries are followed, valid bit or not. On a PhysMem it
   * takes a walk compiled for this geometry (walkSource) from the TTBR the IOVA selects; any other
   * memory (a DeviceView, a dump) takes the generic walk. Test: test/formats/iova-to-phys-fast.test.ts.
   */
  iovaToPhys(iova: number): number {
    // The usual case: one TTBR on a PhysMem. The compiled translation answers every outcome itself.
    const m = this.fastMem;
    if (m !== null) return this.walkFn(m, this.r0Hi, this.r0Lo, iova);
    return this.iovaToPhysOther(iova);
  }

  /** iovaToPhys with several TTBRs, or on memory that is not a PhysMem. */
  private iovaToPhysOther(iova: number): number {
    if (this.frames === undefined) return this.iovaToPhysGeneric(iova);
    const t = this.ttbrIndex(iova);
    if (t >= this.rootLo.length) return 0;
    return this.walkFn(this.frames, this.rootHi[t], this.rootLo[t], iova);
  }

  /** The TTBR an IOVA selects (dart_get_table: bits above the L1 index, PD:83-86). */
  private ttbrIndex(iova: number): number {
    return field(iova, this.g.tblDiv, this.g.nTtbrs - 1);
  }

  /**
   * The compiled walk from one TTBR (halves as arguments): this geometry's shifts and masks and this
   * layout's field as literals, every address two 32-bit integers; each entry's two words read from
   * the PhysMem's cached extent (`mem.tableWordAt`, inlined: a compare and a subtraction when the
   * entry is in it). RAM never written reads as zeros: a zero entry, which ends the walk as the kernel's
   * `if (!pte)` does; so does a hole, as the generic walk treats one. The address in an entry's field
   * is shifted back by paShift (DART2 stores PA >> 4). The carry into the high half guards a
   * (garbage) table straddling 4 GiB. The translation never needs the generic walk (every outcome of
   * the kernel's two-level loop is covered); `slot` returns -1 where the caller must take the generic
   * code.
   */
  private walkSource(slot = false): string {
    const { g, L } = this;
    const ps = L.paShift;
    // Address halves of an entry's field (lo, hi) into (tl, th); for ps = 0 the second term vanishes.
    const field = (lo: string, hi: string): string[] => [
      `tl = ${lo} & ${lit(L.addrLoMask | 0)};`,
      ps === 0 ? `th = ${hi} & ${lit(L.addrHiMask)};` : `th = ((${hi} & ${lit(L.addrHiMask)}) << ${lit(ps)}) | (tl >>> ${lit(32 - ps)});`,
      ...(ps === 0 ? [] : [`tl <<= ${lit(ps)};`]),
    ];
    // The entry's word index (w); a hole reads as a zero entry in a frame never written.
    const find = (bits: string): string[] => [
      `el = (tl + ((${bits} & ${lit(g.entries - 1)}) << 3)) | 0;`,
      'w = mem.tableWordAt(el >>> 0 < tl >>> 0 ? th + 1 : th, el);',
    ];
    const entry = (bits: string, miss: string): string[] => [
      ...find(bits),
      'words = mem.xWords;',
      'lo = words[w];',
      'hi = words[w + 1];',
      `if ((lo | hi) === 0) return ${miss};`,
    ];
    // slot: the index in mem.xWords of the L2 entry instead (for map/unmap of one page), -1 when the
    // L1 entry is zero or the L2 frame was never written (the caller then takes the generic code).
    const l2 = slot
      ? [...find(iovaBits(g.l2Shift)), 'return mem.xWritten[w >>> 10] === 0 ? -1 : w;']
      : [
          ...entry(iovaBits(g.l2Shift), '0'),
          ...field('lo', 'hi'),
          // iopte_to_paddr(pte) | (iova & (pgsize - 1)): an OR, which matters only for garbage entries.
          `return ${joinHalves('th', `tl | (ilo & ${lit(g.granule - 1)})`)};`,
        ];
    const lines = [
      'return function dartWalk(mem, th, tl, iova) {',
      SPLIT_IOVA,
      'let words = mem.xWords;',
      'let el = 0;',
      'let w = 0;',
      'let lo = 0;',
      'let hi = 0;',
      ...entry(iovaBits(g.l1Shift), slot ? '-1' : '0'),
      ...field('lo', 'hi'),
      ...l2,
      '};',
    ];
    return lines.join('\n');
  }

  /** dart_iova_to_phys through any MemReader (a DeviceView, a dump). */
  private iovaToPhysGeneric(iova: number): number {
    const { L, g } = this;
    const mem = this.host.mem;
    const l1At = this.l1EntryAddr(iova);
    const lo = mem.read32(l1At);
    const hi = mem.read32(l1At + 4);
    if (lo === ACCESS_FAULT || hi === ACCESS_FAULT || (lo === 0 && hi === 0)) return 0;
    const at = fieldToPa(L, lo, hi) + field(iova, g.l2Div, g.entries - 1) * 8;
    const plo = mem.read32(at);
    const phi = mem.read32(at + 4);
    if (plo === ACCESS_FAULT || phi === ACCESS_FAULT || (plo === 0 && phi === 0)) return 0;
    const pa = fieldToPa(L, plo, phi);
    // iopte_to_paddr(pte) | (iova & (pgsize - 1)): an OR, which matters only for garbage entries.
    const off = iova % g.granule;
    return pa - (pa % g.granule) + (((pa % g.granule) | off) >>> 0);
  }

  /** free_io_pgtable_ops (io-pgtable.c:90-100): a full TLB flush, then apple_dart_free_pgtable (PD:433-454). */
  free(): void {
    const { L, g, host } = this;
    host.tlbFlushAll?.();
    for (const root of this.roots) {
      for (let i = 0; i < g.entries; i++) {
        const lo = host.mem.read32(root + i * 8);
        const hi = host.mem.read32(root + i * 8 + 4);
        if (lo === ACCESS_FAULT || hi === ACCESS_FAULT || (lo === 0 && hi === 0)) continue;
        host.freeTable(fieldToPa(L, lo, hi), g.granule);
      }
      host.freeTable(root, g.granule);
    }
  }
}

/**
 * Whether an unmap adds each page to the TLB invalidation: unless the gather is queued. Unlike
 * io-pgtable-arm (LP:687), dart_unmap_pages does not test for a missing gather (PD:324-326:
 * iommu_iotlb_gather_queued(NULL) is false), so no gather (null) adds pages too.
 */
function addsPage(gather: { queued: boolean } | null | undefined): boolean {
  return !gather?.queued;
}

function describeDart(L: DartLayout, level: number, lo: number, hi: number): EntryDescription {
  const fields: [string, string][] = [];
  const valid = (lo & VALID) !== 0;
  const zero = lo === 0 && hi === 0;
  const address = zero ? null : fieldToPa(L, lo, hi);
  const addrBits = L.variant === 'dart1' ? 'bits 35:12 (physical address 35:12, in place)' : 'bits 37:10 (physical address 41:14, stored >> 4)';
  let reserved: boolean;
  if (level === 1) {
    fields.push([addrBits, hex(address ?? 0)]);
    fields.push(['other bits (never set by Linux)', hex64(hi & L.tableReservedHi, lo & L.tableReservedLo)]);
    fields.push(['bit 0 (valid)', valid ? '1' : '0']);
    reserved = (lo & L.tableReservedLo) !== 0 || (hi & L.tableReservedHi) !== 0;
  } else {
    fields.push(['bits 63:52 (subpage start; Linux writes 0)', hex((hi >>> 20) & 0xfff)]);
    fields.push(['bits 51:40 (subpage end; Linux writes 0xfff: whole page)', hex((hi >>> 8) & 0xfff)]);
    fields.push([addrBits, hex(address ?? 0)]);
    if (L.variant === 'dart1') {
      fields.push(['bit 8 (no read)', String((lo >>> 8) & 1)]);
      fields.push(['bit 7 (no write)', String((lo >>> 7) & 1)]);
      fields.push(['bit 1 (subpage protection disable)', String((lo >>> 1) & 1)]);
    } else {
      fields.push(['bit 3 (no read)', String((lo >>> 3) & 1)]);
      fields.push(['bit 2 (no write)', String((lo >>> 2) & 1)]);
      fields.push(['bit 1 (no cache; Linux always sets it, io-pgtable-dart.c:138)', String((lo >>> 1) & 1)]);
    }
    fields.push(['bit 0 (valid)', valid ? '1' : '0']);
    reserved = (lo & L.leafReservedLo) !== 0 || (hi & L.leafReservedHi) !== 0;
  }
  return {
    valid,
    kind: zero ? 'invalid' : !valid ? 'bogus' : level === 1 ? 'table' : 'page',
    address,
    prot: level === 1 || !valid ? 0 : pteToProt(L, lo),
    fields,
    reservedBitsSet: reserved,
  };
}

function makeFormat(L: DartLayout, name: string): PageTableFormat {
  const resolveConfig = (cfg: FormatConfig): ResolvedConfig => {
    const granule = cfg.granule ?? cfg.pgsizeBitmap ?? 16384;
    // apple_dart_alloc_pgtable's checks (PD:397-407), as input errors.
    if (granule !== 4096 && granule !== 16384) throw new InputError(`${name}: granule ${granule} is impossible (4K or 16K)`);
    if (cfg.pgsizeBitmap !== undefined && cfg.pgsizeBitmap !== granule)
      throw new InputError(`${name}: pgsize_bitmap ${hex(cfg.pgsizeBitmap)} must be exactly the granule ${hex(granule)}`);
    if (cfg.coherentWalk === false) throw new InputError(`${name}: the DART walker must be coherent (io-pgtable-dart.c:397)`);
    const oas = cfg.oas ?? L.defaultOas;
    if (oas !== 36 && oas !== 42) throw new InputError(`${name}: oas ${oas} is impossible (36 or 42)`);
    const ias = cfg.ias ?? 32;
    if (!Number.isInteger(ias) || ias < 14 || ias > oas) throw new InputError(`${name}: ias ${ias} must be at most oas ${oas}`);
    const pgShift = Math.log2(granule);
    const bpl = pgShift - 3;
    const tblBits = Math.max(0, ias - pgShift - 2 * bpl);
    if (1 << tblBits > DART_MAX_TABLES)
      throw new InputError(`${name}: ias ${ias} with granule ${granule} needs ${2 ** tblBits} TTBRs, more than ${DART_MAX_TABLES}`);
    const enc = (cfg.rootRegisterEncoding ?? L.defaultTtbr) as DartTtbrEncoding;
    if (enc !== 't8020' && enc !== 't8110')
      throw new InputError(`${name}: TTBR encoding '${String(enc)}' is unknown (t8020 or t8110)`);
    return {
      granule,
      ias,
      oas,
      quirks: [],
      coherentWalk: true,
      pgsizeBitmap: granule,
      levels: 2,
      bitsPerLevel: bpl,
      tblBits,
      nTtbrs: 1 << tblBits,
      ttbrEncoding: enc,
    };
  };

  const readEntry = (mem: MemReader, at: number, out: number[]): boolean => {
    const lo = mem.read32(at);
    const hi = mem.read32(at + 4);
    if (lo === ACCESS_FAULT || hi === ACCESS_FAULT) return false;
    out[0] = lo;
    out[1] = hi;
    return true;
  };

  const walk = (mem: MemReader, params: WalkParams, iova: number): WalkResult => {
    const cfg = params.cfg;
    const g = geometryOf(cfg);
    const steps: WalkStep[] = [];
    const res: WalkResult = { iova, phys: null, prot: 0, leafSize: 0, fault: null, steps };
    if (iova >= 2 ** cfg.ias) return walkFail(res, 'outside-ias', `IOVA ${hex(iova)} is beyond the ${cfg.ias}-bit input size`);
    const t = field(iova, g.tblDiv, g.nTtbrs - 1);
    const root = params.roots[t];
    if (root === undefined) return walkFail(res, 'translation', `IOVA ${hex(iova)} selects TTBR${t}, which holds no table (no TTBR)`);
    const l1Idx = field(iova, g.l1Div, g.entries - 1);
    const l1At = root + l1Idx * 8;
    let lo = mem.read32(l1At);
    let hi = mem.read32(l1At + 4);
    if (lo === ACCESS_FAULT || hi === ACCESS_FAULT) return busFault(res, l1At, `reading L1 entry ${l1Idx} at ${hex(l1At)} (TTBR${t})`);
    const l1Valid = (lo & VALID) !== 0;
    steps.push({ level: 1, tableAddr: root, index: l1Idx, entryAddr: l1At, entryLo: lo, entryHi: hi, kind: l1Valid ? 'table' : lo === 0 && hi === 0 ? 'invalid' : 'bogus' });
    if (!l1Valid) return walkFail(res, 'translation', `L1 entry ${l1Idx} at ${hex(l1At)} reads ${hex64(hi, lo)}: valid bit clear`);
    if (lo & L.tableReservedLo || hi & L.tableReservedHi) (res.notes ??= []).push(`L1 entry ${hex64(hi, lo)} has bits set that Linux never sets`);
    const l2 = fieldToPa(L, lo, hi);
    if (l2 >= 2 ** cfg.oas) return walkFail(res, 'address-size', `L1 entry names a table at ${hex(l2)}, beyond the ${cfg.oas}-bit output size`);
    if (params.roots.includes(l2)) (res.notes ??= []).push(`L1 entry ${l1Idx} names a top-level table (${hex(l2)}) as its L2 table`);
    const l2Idx = field(iova, g.l2Div, g.entries - 1);
    const l2At = l2 + l2Idx * 8;
    const l1Lo = lo;
    const l1Hi = hi;
    lo = mem.read32(l2At);
    hi = mem.read32(l2At + 4);
    if (lo === ACCESS_FAULT || hi === ACCESS_FAULT)
      return busFault(res, l2At, `reading L2 entry ${l2Idx} at ${hex(l2At)} (table from L1 entry ${hex64(l1Hi, l1Lo)})`);
    const l2Valid = (lo & VALID) !== 0;
    steps.push({ level: 2, tableAddr: l2, index: l2Idx, entryAddr: l2At, entryLo: lo, entryHi: hi, kind: l2Valid ? 'page' : lo === 0 && hi === 0 ? 'invalid' : 'bogus' });
    if (!l2Valid) return walkFail(res, 'translation', `L2 entry ${l2Idx} at ${hex(l2At)} reads ${hex64(hi, lo)}: valid bit clear`);
    if (lo & L.leafReservedLo || hi & L.leafReservedHi) (res.notes ??= []).push(`leaf ${hex64(hi, lo)} has bits set that Linux never sets`);
    if (L.variant === 'dart1' && !(lo & BIT1))
      (res.notes ??= []).push(`leaf has subpage protection enabled (bit 1 clear): window ${hex((hi >>> 20) & 0xfff)}..${hex((hi >>> 8) & 0xfff)}`);
    const phys = fieldToPa(L, lo, hi) + (iova % g.granule);
    if (phys >= 2 ** cfg.oas) return walkFail(res, 'address-size', `output ${hex(phys)} is beyond the ${cfg.oas}-bit output size`);
    res.phys = phys;
    res.prot = pteToProt(L, lo);
    res.leafSize = g.granule;
    return res;
  };

  const enumerate = (mem: MemReader, params: WalkParams): EnumerateResult => {
    const cfg = params.cfg;
    const g = geometryOf(cfg);
    const mappings: MappingRun[] = [];
    const problems: WalkProblem[] = [];
    const e = [0, 0];
    let run: MappingRun | null = null;
    // L1 entries an IOVA below 2^ias can reach in one top-level table.
    const reachable = Math.min(g.entries, 2 ** Math.max(0, cfg.ias - g.l1Shift));
    const oasLimit = 2 ** cfg.oas;
    if (params.roots.length === 0) problems.push({ kind: 'root', addr: 0, message: 'no TTBR given' });
    for (let t = 0; t < params.roots.length; t++) {
      const root = params.roots[t];
      if (root === undefined) continue; // a TTBR slot without its valid bit
      if (t >= g.nTtbrs) {
        problems.push({ kind: 'root', addr: root, message: `TTBR${t} (${hex(root)}) is not used: ias ${cfg.ias} with granule ${g.granule} selects only ${g.nTtbrs} TTBR(s)` });
        continue;
      }
      if (!anyPageBacked(mem, root, g.granule)) {
        problems.push({ kind: 'root', addr: root, message: `TTBR${t} table at ${hex(root)} is not in memory` });
        continue;
      }
      for (let i = 0; i < g.entries; i++) {
        const at = root + i * 8;
        if (!readEntry(mem, at, e)) {
          // This page of the table is not in the dump: its entries are unknown; read on after it.
          const end = entriesToPageEnd(root, i, g.entries);
          if (i < reachable) {
            const base = t * 2 ** g.tblShift;
            problems.push({ kind: 'outside-dump', addr: at, level: 1, message: `L1 entries ${i}..${end - 1} at ${hex(at)} cannot be read; IOVA ${hex(base + i * 2 ** g.l1Shift)}..${hex(base + Math.min(end, reachable) * 2 ** g.l1Shift - 1)} unknown`, partial: true });
          }
          i = end - 1;
          continue;
        }
        const [lo, hi] = e;
        if (lo === 0 && hi === 0) continue;
        if (i >= reachable) {
          problems.push({ kind: 'outside-ias', addr: at, level: 1, message: `L1 entry ${i} at ${hex(at)} = ${hex64(hi, lo)} is set but no ${cfg.ias}-bit IOVA reaches it` });
          continue;
        }
        if (!(lo & VALID)) {
          problems.push({ kind: 'translation', addr: at, level: 1, message: `L1 entry ${i} at ${hex(at)} = ${hex64(hi, lo)} is non-zero with the valid bit clear (Linux would follow it, the hardware faults)` });
          continue;
        }
        if (lo & L.tableReservedLo || hi & L.tableReservedHi)
          problems.push({ kind: 'reserved', addr: at, level: 1, message: `L1 entry ${i} at ${hex(at)} = ${hex64(hi, lo)} has bits set that Linux never sets` });
        const l2 = fieldToPa(L, lo, hi);
        if (params.roots.includes(l2)) {
          problems.push({ kind: 'cycle', addr: at, level: 1, message: `L1 entry ${i} at ${hex(at)} = ${hex64(hi, lo)} names a top-level table (${hex(l2)}) as its L2 table; not followed` });
          continue;
        }
        if (l2 >= oasLimit || !anyPageBacked(mem, l2, g.granule)) {
          problems.push({ kind: l2 >= oasLimit ? 'address-size' : 'outside-dump', addr: at, level: 1, message: `L1 entry ${i} at ${hex(at)} = ${hex64(hi, lo)} names an L2 table at ${hex(l2)}, which is not in memory` });
          continue;
        }
        const base = t * 2 ** g.tblShift + i * 2 ** g.l1Shift;
        for (let j = 0; j < g.entries; j++) {
          const pat = l2 + j * 8;
          if (!readEntry(mem, pat, e)) {
            // This page of the L2 table is not in the dump: its entries are unknown.
            const end = entriesToPageEnd(l2, j, g.entries);
            problems.push({ kind: 'outside-dump', addr: pat, level: 2, message: `L2 entries ${j}..${end - 1} at ${hex(pat)} cannot be read; IOVA ${hex(base + j * g.granule)}..${hex(base + end * g.granule - 1)} unknown`, partial: true });
            j = end - 1;
            continue;
          }
          const [plo, phi] = e;
          if (plo === 0 && phi === 0) continue;
          const iova = base + j * g.granule;
          if (!(plo & VALID)) {
            problems.push({ kind: 'translation', addr: pat, level: 2, message: `L2 entry for IOVA ${hex(iova)} at ${hex(pat)} = ${hex64(phi, plo)} is non-zero with the valid bit clear` });
            continue;
          }
          if (plo & L.leafReservedLo || phi & L.leafReservedHi)
            problems.push({ kind: 'reserved', addr: pat, level: 2, message: `leaf for IOVA ${hex(iova)} at ${hex(pat)} = ${hex64(phi, plo)} has bits set that Linux never sets` });
          const phys = fieldToPa(L, plo, phi);
          if (phys >= oasLimit) {
            problems.push({ kind: 'address-size', addr: pat, level: 2, message: `leaf for IOVA ${hex(iova)} maps to ${hex(phys)}, beyond the ${cfg.oas}-bit output size` });
            continue;
          }
          const prot = pteToProt(L, plo);
          if (run && run.iova + run.size === iova && run.phys + run.size === phys && run.prot === prot) run.size += g.granule;
          else {
            run = { iova, phys, size: g.granule, prot };
            mappings.push(run);
          }
        }
      }
    }
    return { mappings, problems };
  };

  const format: PageTableFormat = {
    name,
    description:
      L.variant === 'dart1'
        ? 'Apple DART (t8020/t8103, io-pgtable APPLE_DART): 2 levels of 64-bit entries under 1-4 TTBRs, 16K or 4K pages, 36-bit output'
        : 'Apple DART2 (t6000/t8110, io-pgtable APPLE_DART2): 2 levels of 64-bit entries under 1-4 TTBRs, 16K or 4K pages, 42-bit output (PA >> 4 in bits 37:10)',
    entryBytes: 8,
    resolveConfig,
    create(cfg: FormatConfig, host: TableHost): PageTable | null {
      const rc = resolveConfig(cfg);
      const g = geometry(rc);
      // Every top-level table is allocated up front (PD:415-420); on failure the ones we got go back.
      const roots: number[] = [];
      for (let i = 0; i < g.nTtbrs; i++) {
        const pa = host.allocTable(g.granule, g.granule);
        if (pa === null) {
          for (const r of roots.reverse()) host.freeTable(r, g.granule);
          return null;
        }
        roots.push(pa);
      }
      return new DartTable(format, rc, L, host, roots);
    },
    decodeRootRegister(raw: number, cfg: ResolvedConfig): number[] {
      const enc = (cfg.ttbrEncoding as DartTtbrEncoding | undefined) ?? L.defaultTtbr;
      if (!Number.isInteger(raw) || raw < 0 || raw >= TWO32) throw new InputError(`${name}: TTBR value ${String(raw)} is not a 32-bit register value`);
      const pa = decodeDartTtbr(raw, enc);
      if (pa === null)
        throw new InputError(`${name}: TTBR value ${hex(raw)} has its valid bit (${enc === 't8020' ? 'bit 31' : 'bit 0'}, ${enc} encoding) clear: it names no table`);
      return [pa];
    },
    walk,
    enumerate,
    describeEntry(level: number, lo: number, hi: number): EntryDescription {
      return describeDart(L, level, lo >>> 0, hi >>> 0);
    },
  };
  return format;
}

export const appleDartFormat: PageTableFormat = makeFormat(DART1, 'apple-dart');
export const appleDart2Format: PageTableFormat = makeFormat(DART2, 'apple-dart2');
export const dartFormats: PageTableFormat[] = [appleDartFormat, appleDart2Format];
