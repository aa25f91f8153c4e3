/**
 * ARM LPAE page tables (VMSAv8-64 long descriptors) as Linux 6.12's drivers/iommu/io-pgtable-arm.c
 * builds them, for the four formats an SMMU/IPMMU driver can ask for: arm-64-lpae-s1, arm-64-lpae-s2,
 * arm-32-lpae-s1 and arm-32-lpae-s2 (io-pgtable-arm.c is cited as LP:line).
 *
 * Two halves of the model live here:
 * - the kernel's code paths (config resolution of the alloc functions, map_pages, unmap_pages with its
 *   block splitting, iova_to_phys, table freeing), reproduced step by step so the descriptors, the table
 *   allocations, the syncs, the TLB callbacks and the WARNs are those 6.12 produces;
 * - a hardware walker and a table enumerator for tables found in memory or a dump, which follow the
 *   architecture instead of the kernel where they differ (a non-zero entry with bit 0 clear is invalid
 *   to hardware, but the kernel's walker follows it as a table).
 *
 * Descriptors are 64 bits, handled as a low and a high 32-bit half. Addresses are numbers < 2^52.
 *
 * IOVAs of a table built with the ARM_TTBR1 quirk are given by their low `ias` bits: the upper half of
 * the address space (bits 63..ias all ones) cannot be held in a JS number, and the kernel requires those
 * bits to be a sign extension anyway (LP:524-527); a number of 2^ias or more is then "not sign-extended".
 */
import { InputError, TWO32, hex, hex64 } from '../addr.js';
import { ACCESS_FAULT, PhysMem, type MemReader } from '../mem/phys-mem.js';
import { anyPageBacked, entriesToPageEnd } from './dump-pages.js';
import { MAX_LEVELS_PER_STAGE, NO_COMPILED_WALK, SPLIT_IOVA, compileWalk, iovaBits, joinHalves, lit, type CompiledWalk } from './compiled-walk.js';
import {
  EINVAL,
  EEXIST,
  ENOMEM,
  ERANGE,
  IOMMU_CACHE,
  IOMMU_MMIO,
  IOMMU_NOEXEC,
  IOMMU_PRIV,
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
  type StepKind,
  type TableHost,
  type WalkParams,
  type WalkProblem,
  type WalkResult,
  type WalkStep,
  busFault,
  walkFail as setFault,
} from './types.js';

const FILE = 'io-pgtable-arm.c';

/** ARM_LPAE_MAX_LEVELS (LP:28): level numbers run 0..3 whatever the start level. */
export const LPAE_MAX_LEVELS = 4;
/** ARM_LPAE_MAX_ADDR_BITS (LP:26). */
export const LPAE_MAX_ADDR_BITS = 52;
/** ARM_LPAE_S2_MAX_CONCAT_PAGES (LP:27). */
export const LPAE_S2_MAX_CONCAT_PAGES = 16;

const SZ_4K = 0x1000;
/** Bytes of one PhysMem frame: entries handled in one frame must not cross this. */
const FRAME_BYTES = 0x1000;
const SZ_16K = 0x4000;
const SZ_64K = 0x10000;
const SZ_2M = 0x200000;
const SZ_32M = 0x2000000;
const SZ_512M = 0x20000000;
const SZ_1G = 0x40000000;
const SZ_4T = 2 ** 42;

// Descriptor bits (LP:67-111), split into the half they live in.
const TYPE_MASK = 3;
const TYPE_BLOCK = 1;
const TYPE_TABLE = 3; // also TYPE_PAGE at level 3
const LO_NS = 1 << 5;
const LO_AP_UNPRIV = 1 << 6;
const LO_AP_RDONLY = 1 << 7;
const LO_HAP_READ = 1 << 6;
const LO_HAP_WRITE = 1 << 7;
const LO_SH_OS = 2 << 8;
const LO_SH_IS = 3 << 8;
const LO_AF = 1 << 10;
const LO_NG = 1 << 11;
const LO_ATTR_MASK = 0x3ff << 2; // ARM_LPAE_PTE_ATTR_LO_MASK
const HI_DBM = 1 << (51 - 32);
const HI_XN = 3 << (53 - 32);
const HI_SW_SYNC = 1 << (55 - 32);
const HI_NSTABLE = (1 << (63 - 32)) >>> 0;
const HI_ATTR_MASK = HI_XN | HI_DBM; // ARM_LPAE_PTE_ATTR_HI_MASK
const MEMATTR_OIWB = 0xf << 2;
const MEMATTR_NC = 0x5 << 2;
const MEMATTR_DEV = 0x1 << 2;
const ATTRIDX_CACHE = 1 << 2;
const ATTRIDX_DEV = 2 << 2;

/** MAIR as 6.12 computes it: the 0xf4 byte is shifted as an int and sign-extends into bits 63:32 (LP:1014-1023). */
export const LPAE_S1_MAIR_LO = 0xf404ff44;
export const LPAE_S1_MAIR_HI = 0xffffffff;

export type LpaeFormatName = 'arm-64-lpae-s1' | 'arm-64-lpae-s2' | 'arm-32-lpae-s1' | 'arm-32-lpae-s2';

const QUIRKS_S1 = ['ARM_NS', 'ARM_TTBR1', 'ARM_OUTER_WBWA', 'ARM_HD'];
/** IO_PGTABLE_QUIRK_* bit numbers (include/linux/io-pgtable.h:91-97), for quirks_mask. */
const QUIRK_BITS: Record<string, number> = { ARM_NS: 0, NO_PERMS: 1, ARM_MTK_EXT: 3, ARM_MTK_TTBR_EXT: 4, ARM_TTBR1: 5, ARM_OUTER_WBWA: 6, ARM_HD: 7 };

/** The resolved configuration: the kernel's io_pgtable_cfg after alloc plus struct arm_lpae_io_pgtable. */
export interface LpaeConfig extends ResolvedConfig {
  stage: 1 | 2;
  /** One of the arm-32 formats (only changes the limits and the page sizes, LP:1145-1163). */
  aarch32: boolean;
  startLevel: number;
  bitsPerLevel: number;
  pgdBits: number;
  /** Bytes of the top-level table, stage-2 concatenation included (ARM_LPAE_PGD_SIZE). */
  pgdSize: number;
  /** S2 only: whether the root was concatenated (start level moved from 0 to 1). */
  concatenated: boolean;
  /** S1: cfg->arm_lpae_s1_cfg.tcr fields; S2: cfg->arm_lpae_s2_cfg.vtcr fields. */
  tcr: { ips?: number; ps?: number; tg: number; sh: number; orgn: number; irgn: number; tsz: number; sl?: number };
}

function isLpaeConfig(cfg: ResolvedConfig): cfg is LpaeConfig {
  return typeof cfg.startLevel === 'number' && typeof cfg.bitsPerLevel === 'number';
}

/** Bit helpers on bitmaps that may exceed 32 bits (pgsize_bitmap can hold 4T = 2^42). */
function bitSet(bitmap: number, bit: number): boolean {
  return Math.floor(bitmap / 2 ** bit) % 2 === 1;
}
function andBits(a: number, b: number): number {
  // `&` takes each operand modulo 2^32, exact below 2^53; the high words are below 2^21.
  const lo = (a & b) >>> 0;
  if (a < TWO32 || b < TWO32) return lo;
  return ((Math.floor(a / TWO32) & Math.floor(b / TWO32)) >>> 0) * TWO32 + lo;
}
function lowestBit(bitmap: number): number {
  for (let bit = 0; bit < 53; bit++) if (bitSet(bitmap, bit)) return bit;
  return -1;
}
function highestBit(bitmap: number): number {
  for (let bit = 52; bit >= 0; bit--) if (bitSet(bitmap, bit)) return bit;
  return -1;
}

const IPS_BY_OAS: Record<number, number> = { 32: 0, 36: 1, 40: 2, 42: 3, 44: 4, 48: 5, 52: 6 };

/**
 * The alloc functions' config resolution (LP:854-1163). Throws InputError where the kernel's alloc
 * returns NULL for the configuration itself (not for a failed table allocation).
 */
export function resolveLpaeConfig(name: LpaeFormatName, cfg: FormatConfig): LpaeConfig {
  const aarch32 = name.startsWith('arm-32');
  const stage: 1 | 2 = name.endsWith('s1') ? 1 : 2;
  const quirks = [...(cfg.quirks ?? [])];
  const coherentWalk = cfg.coherentWalk ?? true;
  const pageSize = cfg.cpuPageSize ?? 4096;
  if (![4096, 16384, 65536].includes(pageSize)) throw new InputError(`${name}: CPU page size ${pageSize} is not 4K, 16K or 64K`);
  let ias = cfg.ias ?? (aarch32 ? (stage === 1 ? 32 : 40) : 48);
  let oas = cfg.oas ?? (aarch32 ? 40 : 48);
  let bitmap: number;
  if (cfg.pgsizeBitmap !== undefined) bitmap = cfg.pgsizeBitmap;
  else if (cfg.granule === undefined || cfg.granule === SZ_4K) bitmap = SZ_4K | SZ_2M | SZ_1G;
  else if (cfg.granule === SZ_16K) bitmap = SZ_16K | SZ_32M;
  else if (cfg.granule === SZ_64K) bitmap = SZ_64K + SZ_512M + (oas > 48 ? SZ_4T : 0);
  else throw new InputError(`${name}: granule ${cfg.granule} is not 4K, 16K or 64K`);
  for (const v of [ias, oas]) if (!Number.isInteger(v) || v <= 0) throw new InputError(`${name}: ias/oas must be positive integers (got ${v})`);

  // arm_32_lpae_alloc_pgtable_s1/s2 (LP:1145-1163): limits first, then only 4K|2M|1G.
  if (aarch32) {
    if (stage === 1 && (ias > 32 || oas > 40)) throw new InputError(`${name}: ias ${ias} > 32 or oas ${oas} > 40 (LP:1148)`);
    if (stage === 2 && (ias > 40 || oas > 40)) throw new InputError(`${name}: ias ${ias} > 40 or oas ${oas} > 40 (LP:1158)`);
    bitmap = andBits(bitmap, SZ_4K | SZ_2M | SZ_1G);
  }
  // Quirks: stage 1 accepts four (LP:944-948); stage 2 none at all (LP:1051-1052).
  for (const q of quirks) {
    if (stage === 2) throw new InputError(`${name}: stage 2 takes no quirks, got ${q} (LP:1051)`);
    if (!QUIRKS_S1.includes(q)) throw new InputError(`${name}: quirk ${q} is not one of ${QUIRKS_S1.join(', ')} (LP:944-948)`);
  }

  // arm_lpae_restrict_pgsizes (LP:854-896): prefer the CPU page size, else the largest smaller size,
  // else the smallest larger one; then only the block sizes of that granule.
  const below = bitmap % pageSize;
  let granule: number;
  if (bitSet(bitmap, Math.log2(pageSize))) granule = pageSize;
  else if (below) granule = 2 ** highestBit(below);
  else if (bitmap - below) granule = 2 ** lowestBit(bitmap - below);
  else granule = 0;
  let maxAddrBits = 48;
  let pageSizes = 0;
  if (granule === SZ_4K) pageSizes = SZ_4K | SZ_2M | SZ_1G;
  else if (granule === SZ_16K) pageSizes = SZ_16K | SZ_32M;
  else if (granule === SZ_64K) {
    maxAddrBits = 52;
    pageSizes = SZ_64K | SZ_512M;
    if (oas > 48) pageSizes += SZ_4T;
  }
  bitmap = andBits(bitmap, pageSizes);
  ias = Math.min(ias, maxAddrBits);
  oas = Math.min(oas, maxAddrBits);

  // arm_lpae_alloc_pgtable (LP:898-936)
  if (andBits(bitmap, SZ_4K | SZ_16K | SZ_64K) === 0)
    throw new InputError(`${name}: pgsize_bitmap ${hex(cfg.pgsizeBitmap ?? bitmap)} leaves no 4K, 16K or 64K granule (LP:905)`);
  const pgShift = lowestBit(bitmap);
  const bitsPerLevel = pgShift - 3;
  const vaBits = ias - pgShift;
  if (vaBits <= 0) throw new InputError(`${name}: ias ${ias} leaves no bits to translate with a ${2 ** pgShift}-byte granule`);
  const levels = Math.ceil(vaBits / bitsPerLevel);
  let startLevel = LPAE_MAX_LEVELS - levels;
  let pgdBits = vaBits - bitsPerLevel * (levels - 1);
  const g = 2 ** pgShift;

  let tcr: LpaeConfig['tcr'];
  let concatenated = false;
  if (stage === 1) {
    let sh: number, irgn: number, orgn: number;
    if (coherentWalk) {
      sh = 3;
      irgn = 1;
      orgn = 1;
      if (quirks.includes('ARM_OUTER_WBWA'))
        throw new InputError(`${name}: quirk ARM_OUTER_WBWA is refused for a coherent walker (LP:957-961)`);
    } else {
      sh = 2;
      irgn = 0;
      orgn = quirks.includes('ARM_OUTER_WBWA') ? 1 : 0;
    }
    const tg1 = quirks.includes('ARM_TTBR1');
    // io-pgtable-arm.h:5-11
    const tg = g === SZ_4K ? (tg1 ? 2 : 0) : g === SZ_16K ? (tg1 ? 1 : 2) : tg1 ? 3 : 1;
    const ips = IPS_BY_OAS[oas];
    if (ips === undefined) throw new InputError(`${name}: oas ${oas} has no TCR.IPS encoding (LP:985-1008)`);
    tcr = { ips, tg, sh, orgn, irgn, tsz: 64 - ias };
  } else {
    // Concatenate up to 16 level-0 entries into a level-1 root (LP:1062-1070).
    if (startLevel === 0 && 2 ** pgdBits <= LPAE_S2_MAX_CONCAT_PAGES) {
      pgdBits += bitsPerLevel;
      startLevel++;
      concatenated = true;
    }
    const sh = coherentWalk ? 3 : 2;
    const rgn = coherentWalk ? 1 : 0;
    let sl = startLevel;
    let tg: number;
    if (g === SZ_4K) {
      tg = 0;
      sl++; // SL0 is encoded differently for the 4K granule (LP:1088)
    } else tg = g === SZ_16K ? 2 : 1;
    const ps = IPS_BY_OAS[oas];
    if (ps === undefined) throw new InputError(`${name}: oas ${oas} has no VTCR.PS encoding (LP:1098-1120)`);
    tcr = { ps, tg, sh, orgn: rgn, irgn: rgn, sl: ~sl & 3, tsz: 64 - ias };
  }
  let quirksMask = 0;
  for (const q of quirks) quirksMask |= 1 << (QUIRK_BITS[q] ?? 0);
  return {
    granule: g,
    ias,
    oas,
    quirks,
    coherentWalk,
    pgsizeBitmap: bitmap,
    levels: LPAE_MAX_LEVELS - startLevel,
    stage,
    aarch32,
    startLevel,
    bitsPerLevel,
    pgdBits,
    pgdSize: 8 * 2 ** pgdBits,
    concatenated,
    tcr,
    quirksMask,
    cpuPageSize: pageSize,
  };
}

/**
 * Precomputed per-table geometry: everything the hot paths need, as plain numbers in small arrays,
 * so a walk allocates nothing.
 */
class Geometry {
  readonly granule: number = 0;
  readonly g64k: boolean;
  readonly start: number = 0;
  readonly ptesPerTable: number = 0;
  /** 2^ARM_LPAE_LVL_SHIFT(l) = block size at level l. */
  readonly blockSize = [0, 0, 0, 0];
  /** ARM_LPAE_LVL_SHIFT(l). */
  readonly shift = [0, 0, 0, 0];
  readonly idxMask = [0, 0, 0, 0];
  readonly oasLimit: number;
  readonly iasLimit: number;
  readonly stage: 1 | 2;
  /** Levels at which a block (type 01) descriptor is architecturally allowed. */
  readonly blockAllowed = [false, false, false, false];
  /** RES0 masks per level, [lo, hi] halves, for table and leaf descriptors (see reservedMasks). */
  readonly resTableLo = [0, 0, 0, 0];
  readonly resTableHi = [0, 0, 0, 0];
  readonly resLeafLo = [0, 0, 0, 0];
  readonly resLeafHi = [0, 0, 0, 0];

  constructor(readonly cfg: LpaeConfig) {
    this.granule = cfg.granule;
    this.g64k = cfg.granule === SZ_64K;
    this.start = cfg.startLevel;
    this.ptesPerTable = cfg.granule / 8;
    this.stage = cfg.stage;
    for (let l = 0; l < LPAE_MAX_LEVELS; l++) {
      const shift = (LPAE_MAX_LEVELS - l) * cfg.bitsPerLevel + 3;
      this.blockSize[l] = 2 ** shift;
      this.shift[l] = shift;
      // ARM_LPAE_LVL_IDX: the start level indexes with pgd_bits bits (LP:56-62).
      // Built with shifts so the array holds small integers, not doubles: the walks AND with it.
      this.idxMask[l] = (1 << (l === cfg.startLevel ? cfg.pgdBits : cfg.bitsPerLevel)) - 1;
      // 4K: blocks at 1 and 2; 16K: at 2; 64K: at 2, and at 1 (4T) only with 52-bit output.
      const bs = this.blockSize[l];
      this.blockAllowed[l] =
        l < 3 && (bs === SZ_2M || bs === SZ_1G || bs === SZ_32M || bs === SZ_512M || (bs === SZ_4T && cfg.oas > 48));
    }
    this.oasLimit = 2 ** cfg.oas;
    this.iasLimit = 2 ** cfg.ias;
    for (let l = 0; l < LPAE_MAX_LEVELS; l++) {
      [this.resTableLo[l], this.resTableHi[l]] = reservedMasks(this, 'table', l);
      [this.resLeafLo[l], this.resLeafHi[l]] = reservedMasks(this, 'leaf', l);
    }
  }

  idx(iova: number, l: number): number {
    return Math.floor(iova / this.blockSize[l]) & this.idxMask[l];
  }

  /** iopte_to_paddr (LP:191-200) of a descriptor's halves. */
  addrOf(lo: number, hi: number): number {
    if (this.g64k) return (hi & 0xffff) * TWO32 + ((lo & 0xffff0000) >>> 0) + ((lo >>> 12) & 0xf) * 2 ** 48;
    return (hi & 0xffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
  }
}

/** paddr_to_iopte (LP:181-189): the address bits of a descriptor, low half. */
function addrLo(pa: number): number {
  const hi = Math.floor(pa / TWO32);
  return ((pa & 0xfffff000) | (((hi >>> 16) & 0xf) << 12)) >>> 0;
}
/** paddr_to_iopte: high half (bits 47:32). */
function addrHi(pa: number): number {
  return Math.floor(pa / TWO32) & 0xffff;
}

function orAddr(a: number, b: number): number {
  if (a < TWO32 && b < TWO32) return (a | b) >>> 0;
  const hi = (Math.floor(a / TWO32) | Math.floor(b / TWO32)) >>> 0;
  return hi * TWO32 + ((a | b) >>> 0);
}

/** Decoded IOMMU_* prot of a leaf descriptor (inverse of arm_lpae_prot_to_pte, LP:445-509). */
function protOfLeaf(stage: 1 | 2, lo: number, hi: number): number {
  let prot = 0;
  if (stage === 1) {
    prot |= IOMMU_READ;
    if (!(lo & LO_AP_RDONLY)) prot |= IOMMU_WRITE;
    if (!(lo & LO_AP_UNPRIV)) prot |= IOMMU_PRIV;
    const idx = (lo >>> 2) & 7;
    if (idx === 1) prot |= IOMMU_CACHE;
    else if (idx === 2) prot |= IOMMU_MMIO;
  } else {
    if (lo & LO_HAP_READ) prot |= IOMMU_READ;
    if (lo & LO_HAP_WRITE) prot |= IOMMU_WRITE;
    const ma = lo & (0xf << 2);
    if (ma === MEMATTR_OIWB) prot |= IOMMU_CACHE;
    else if (ma === MEMATTR_DEV) prot |= IOMMU_MMIO;
  }
  if (hi & HI_XN) prot |= IOMMU_NOEXEC;
  return prot;
}

/** Bits the architecture reserves (RES0) in a table or leaf descriptor of this geometry: [lo, hi] masks. */
function reservedMasks(geo: Geometry, kind: 'table' | 'leaf', level: number): [number, number] {
  // Bits 50:48 of a table descriptor, 49:48 of a leaf (bit 50 is GP with BTI at stage 1).
  const hi = kind === 'table' ? 0x7 << 16 : 0x3 << 16;
  let lo = 0;
  const addrStart = geo.g64k ? 16 : 12;
  // The address field starts at the granule (16K: bits 13:12 are RES0); a block's output address at its size.
  const low = kind === 'leaf' && level < 3 ? Math.log2(geo.blockSize[level]) : Math.log2(geo.granule);
  for (let b = addrStart; b < Math.min(low, 32); b++) lo |= 1 << b;
  let hiAddr = 0;
  for (let b = 32; b < Math.min(low, 48); b++) hiAddr |= 1 << (b - 32);
  return [lo >>> 0, (hi | hiAddr) >>> 0];
}

/** The kernel's leaf test iopte_leaf (LP:165-172). */
function kernelLeaf(lo: number, level: number): boolean {
  return level === LPAE_MAX_LEVELS - 1 ? (lo & TYPE_MASK) === TYPE_TABLE : (lo & TYPE_MASK) === TYPE_BLOCK;
}

class LpaeTable implements PageTable {
  readonly roots: number[];
  private readonly geo: Geometry;
  private readonly mem: TableHost['mem'];
  /** host.mem when it is a PhysMem and the geometry allows iovaToPhys to walk its frames directly. */
  private readonly frames: PhysMem | undefined;
  // Number fields read on the walk are declared with an integer (here and in Geometry): a bare
  // declaration defines the field as undefined first, and V8 then keeps it as a generic tagged field
  // that every load has to check and unbox (~10% of iovaToPhys, bench/README.md).
  private readonly pgdHi: number = 0;
  private readonly pgdLo: number = 0;
  private readonly coherent: boolean;
  private readonly ns: boolean;
  private readonly hd: boolean;
  // Scratch halves of the last descriptor read (readEntry), so hot paths allocate nothing.
  private eLo = 0;
  private eHi = 0;

  constructor(
    readonly format: PageTableFormat,
    readonly cfg: LpaeConfig,
    private readonly host: TableHost,
    private readonly pgd: number,
  ) {
    this.roots = [pgd];
    this.geo = new Geometry(cfg);
    this.mem = host.mem;
    // The frame-index fast path of iovaToPhys needs the table address in two halves: every granule but
    // 64K keeps it in place in descriptor bits 47:12 (LP:191-200), and the pgd must be entry-aligned.
    this.frames = host.mem instanceof PhysMem && !this.geo.g64k && pgd % 8 === 0 ? host.mem : undefined;
    this.pgdHi = Math.floor(pgd / TWO32);
    this.pgdLo = pgd | 0;
    this.coherent = cfg.coherentWalk;
    this.mappedOne = Object.freeze({ ret: 0, mapped: cfg.granule });
    // Compiled once per geometry (cached by source), so making them here costs a lookup.
    this.walkFn = this.frames === undefined ? NO_COMPILED_WALK : compileWalk(this.walkSource(false));
    this.slotFn = this.frames === undefined ? NO_COMPILED_WALK : compileWalk(this.walkSource(true));
    this.ns = cfg.quirks.includes('ARM_NS');
    this.hd = cfg.quirks.includes('ARM_HD');
  }

  registers(): Record<string, string> {
    const t = this.cfg.tcr;
    if (this.cfg.stage === 1)
      return {
        ttbr: hex(this.pgd),
        'tcr.ips': String(t.ips),
        'tcr.tg': String(t.tg),
        'tcr.sh': String(t.sh),
        'tcr.orgn': String(t.orgn),
        'tcr.irgn': String(t.irgn),
        'tcr.tsz': String(t.tsz),
        mair: hex64(LPAE_S1_MAIR_HI, LPAE_S1_MAIR_LO).replace(/^0x0*/, '0x'),
        mair0: hex(LPAE_S1_MAIR_LO),
      };
    return {
      vttbr: hex(this.pgd),
      'vtcr.ps': String(t.ps),
      'vtcr.tg': String(t.tg),
      'vtcr.sh': String(t.sh),
      'vtcr.orgn': String(t.orgn),
      'vtcr.irgn': String(t.irgn),
      'vtcr.sl': String(t.sl),
      'vtcr.tsz': String(t.tsz),
    };
  }

  /** READ_ONCE(*ptep) into eLo/eHi. A hole reads as zero (and WARNs: the kernel would have oopsed). */
  private readEntry(addr: number): void {
    // On a PhysMem, both words of an aligned entry come from one lookup.
    const mem = this.frames;
    const w = mem !== undefined && (addr & 7) === 0 ? mem.wordOf(addr) : -1;
    if (w >= 0) {
      this.eLo = (mem as PhysMem).xWords[w];
      this.eHi = (mem as PhysMem).xWords[w + 1];
      return;
    }
    const lo = this.mem.read32(addr);
    const hi = this.mem.read32(addr + 4);
    if (lo === ACCESS_FAULT || hi === ACCESS_FAULT) {
      this.host.warn?.(FILE, 0, `CPU load of a descriptor at ${hex(addr)} hit no memory`);
      this.eLo = 0;
      this.eHi = 0;
      return;
    }
    this.eLo = lo;
    this.eHi = hi;
  }

  private writeEntry(addr: number, lo: number, hi: number): void {
    const mem = this.frames;
    const w = mem !== undefined && (addr & 7) === 0 ? mem.wordOf(addr) : -1;
    if (w >= 0) {
      (mem as PhysMem).noteWritten(w);
      (mem as PhysMem).xWords[w] = lo;
      (mem as PhysMem).xWords[w + 1] = hi;
      return;
    }
    if (!this.mem.write32(addr, lo >>> 0) || !this.mem.write32(addr + 4, hi >>> 0))
      this.host.warn?.(FILE, 0, `CPU store of a descriptor at ${hex(addr)} hit no memory`);
  }

  /** __arm_lpae_sync_pte (LP:282-287). */
  private syncPte(addr: number, n: number): void {
    this.host.syncTable?.(addr, 8 * n);
  }

  private warn(line: number, cond: string): void {
    this.host.warn?.(FILE, line, cond);
  }

  /**
   * __arm_lpae_alloc_pages (LP:221-266): one table of `size` bytes. The kernel takes whole pages
   * (get_order), naturally aligned; the host does the DMA mapping and the dma == phys check.
   */
  private allocTable(size: number): number | null {
    return this.host.allocTable(size, Math.max(size, this.cfg.cpuPageSize as number));
  }

  // ---------------------------------------------------------------- prot

  /** arm_lpae_prot_to_pte (LP:445-509), low and high halves. */
  private protLo = 0;
  private protHi = 0;
  private protToPte(prot: number): void {
    let lo = 0;
    let hi = 0;
    if (this.cfg.stage === 1) {
      lo = LO_NG;
      if (!(prot & IOMMU_WRITE) && prot & IOMMU_READ) lo |= LO_AP_RDONLY;
      else if (this.hd) hi |= HI_DBM;
      if (!(prot & IOMMU_PRIV)) lo |= LO_AP_UNPRIV;
      if (prot & IOMMU_MMIO) lo |= ATTRIDX_DEV;
      else if (prot & IOMMU_CACHE) lo |= ATTRIDX_CACHE;
    } else {
      if (prot & IOMMU_READ) lo |= LO_HAP_READ;
      if (prot & IOMMU_WRITE) lo |= LO_HAP_WRITE;
      if (prot & IOMMU_MMIO) lo |= MEMATTR_DEV;
      else if (prot & IOMMU_CACHE) lo |= MEMATTR_OIWB;
      else lo |= MEMATTR_NC;
    }
    lo |= prot & IOMMU_CACHE ? LO_SH_IS : LO_SH_OS;
    if (prot & IOMMU_NOEXEC) hi |= HI_XN;
    if (this.ns) lo |= LO_NS;
    lo |= LO_AF;
    this.protLo = lo;
    this.protHi = hi;
  }

  // ---------------------------------------------------------------- map

  /** arm_lpae_map_pages (LP:511-543). */
  /** The descriptor bits of the last prot mapped on the short way (arm_lpae_prot_to_pte). */
  private lastProt = -1;
  private lastProtLo = 0;
  private lastProtHi = 0;
  /** The result of every one-page map that succeeds (read-only by contract). */
  private readonly mappedOne: MapResult;

  /**
   * The last-level entry's index in mem.xWords for a one-page map/unmap, or -1 for the generic code:
   * a chain of table descriptors (type 0b11) down to a materialised last-level frame.
   */
  private slot(iova: number): number {
    const f = this.slotFn;
    return f(this.frames as PhysMem, this.pgdHi, this.pgdLo, iova);
  }

  /**
   * arm_lpae_map_pages (LP:511-543). One granule page (pgcount 1: the dma-iommu steady state) with
   * every check passing, a coherent walker and the tables present takes the short way: the entry
   * found by a compiled walk, refused if it holds a page, written as __arm_lpae_init_pte writes it.
   * Everything else - a WARN, a table to allocate, a block to split, several pages, syncs for a
   * non-coherent walker, memory that is not a PhysMem - goes to mapPagesGeneric, the kernel's
   * function step by step. Small on purpose: inlined into a caller, its result is never allocated.
   */
  mapPages(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number): MapResult {
    const geo = this.geo;
    // `=== true` on purpose: V8 compiles a bare boolean field in a condition to a truthiness test of a
    // tagged value (~10 instructions), a comparison with true to one compare (bench/README.md).
    const w =
      pgcount === 1 && pgsize === geo.granule && iova < geo.iasLimit && paddr < geo.oasLimit && (prot & (IOMMU_READ | IOMMU_WRITE)) !== 0 && this.coherent === true
        ? this.slot(iova)
        : -1;
    if (w < 0) return this.mapPagesGeneric(iova, paddr, pgsize, pgcount, prot);
    const words = (this.frames as PhysMem).xWords;
    if ((words[w] & 3) === 3) return this.mapPagesGeneric(iova, paddr, pgsize, pgcount, prot);
    if (prot !== this.lastProt) {
      this.protToPte(prot);
      this.lastProt = prot;
      this.lastProtLo = this.protLo;
      this.lastProtHi = this.protHi;
    }
    // paddr_to_iopte for 4K/16K (LP:181-189): address bits 47:12 in place, bits 51:48 into 15:12.
    const plo = paddr >>> 0;
    const phi = ((paddr - plo) * 2.3283064365386963e-10) | 0;
    words[w] = this.lastProtLo | 3 | (plo & 0xfffff000) | (((phi >>> 16) & 0xf) << 12);
    words[w + 1] = this.lastProtHi | (phi & 0xffff);
    return this.mappedOne;
  }

  private mapPagesGeneric(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number): MapResult {
    const cfg = this.cfg;
    if (!pgsize || andBits(pgsize, cfg.pgsizeBitmap) !== pgsize) {
      this.warn(522, '!pgsize || (pgsize & cfg->pgsize_bitmap) != pgsize');
      return { ret: -EINVAL, mapped: 0 };
    }
    if (iova >= this.geo.iasLimit || paddr >= this.geo.oasLimit) {
      this.warn(527, 'iaext || paddr >> cfg->oas');
      return { ret: -ERANGE, mapped: 0 };
    }
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) return { ret: -EINVAL, mapped: 0 };
    this.protToPte(prot);
    if (pgsize === this.geo.granule) {
      const w = this.leafFrame(iova, pgcount);
      if (w >= 0 && this.mapInFrame(w, paddr, pgsize)) return { ret: 0, mapped: this.leafCount * pgsize };
    }
    this.mapped = 0;
    const ret = this.map(iova, paddr, pgsize, pgcount, this.protLo, this.protHi, this.geo.start, this.pgd);
    return { ret, mapped: this.mapped };
  }

  private mapped = 0;

  /** __arm_lpae_map (LP:388-443), iterating down the levels instead of recursing. */
  private map(iova: number, paddr: number, size: number, pgcount: number, pLo: number, pHi: number, lvl: number, table: number): number {
    const geo = this.geo;
    for (;;) {
      const idx = geo.idx(iova, lvl);
      const ptep = table + idx * 8;
      if (size === geo.blockSize[lvl]) {
        const n = Math.min(pgcount, this.maxEntries(idx));
        const ret = this.initPte(iova, paddr, pLo, pHi, lvl, n, ptep, table);
        if (!ret) this.mapped += n * size;
        return ret;
      }
      if (lvl >= LPAE_MAX_LEVELS - 1) {
        this.warn(415, 'lvl >= ARM_LPAE_MAX_LEVELS - 1');
        return -EINVAL;
      }
      this.readEntry(ptep);
      const lo = this.eLo;
      const hi = this.eHi;
      let next: number;
      if (lo === 0 && hi === 0) {
        const t = this.allocTable(geo.granule);
        if (t === null) return -ENOMEM;
        this.installTable(t, ptep, 0, 0);
        // installTable returned the old value: 0 here (nobody races with us), so the new table is ours.
        next = t;
      } else {
        if (!this.coherent && !(hi & HI_SW_SYNC)) this.syncPte(ptep, 1);
        if (kernelLeaf(lo, lvl)) {
          this.warn(436, '!selftest_running');
          return -EEXIST;
        }
        // Anything non-zero that is not a leaf is followed as a table, even type 0b00/0b10 garbage.
        next = geo.addrOf(lo, hi);
      }
      table = next;
      lvl++;
    }
  }

  /** arm_lpae_max_entries (LP:207-212). */
  private maxEntries(idx: number): number {
    const per = this.geo.ptesPerTable;
    return per - (idx & (per - 1));
  }

  /** arm_lpae_init_pte (LP:324-354). */
  private initPte(iova: number, paddr: number, pLo: number, pHi: number, lvl: number, n: number, ptep: number, table: number): number {
    const sz = this.geo.blockSize[lvl];
    for (let i = 0; i < n; i++) {
      this.readEntry(ptep + i * 8);
      const lo = this.eLo;
      if (kernelLeaf(lo, lvl)) {
        this.warn(334, '!selftest_running');
        return -EEXIST;
      }
      if ((lo & TYPE_MASK) === TYPE_TABLE) {
        // A table where a block goes: unmap and free it first (no gather: no tlb_add_page).
        if (this.unmap(iova + i * sz, sz, 1, lvl, table, false) !== sz) {
          this.warn(347, '1');
          return -EINVAL;
        }
      }
    }
    this.writeLeaves(paddr, pLo, pHi, lvl, n, ptep);
    return 0;
  }

  /** __arm_lpae_init_pte (LP:303-322): n consecutive leaves, then one sync for all of them. */
  private writeLeaves(paddr: number, pLo: number, pHi: number, lvl: number, n: number, ptep: number): void {
    const sz = this.geo.blockSize[lvl];
    const type = lvl === LPAE_MAX_LEVELS - 1 ? TYPE_TABLE : TYPE_BLOCK;
    for (let i = 0; i < n; i++) {
      const pa = paddr + i * sz;
      this.writeEntry(ptep + i * 8, pLo | type | addrLo(pa), pHi | addrHi(pa));
    }
    if (!this.coherent) this.syncPte(ptep, n);
  }

  /**
   * arm_lpae_install_table (LP:356-386) without a racing CPU: the compare always succeeds when the entry
   * still holds `curr`. Returns nothing; the caller knows the old value was `curr`.
   */
  private installTable(table: number, ptep: number, curLo: number, curHi: number): void {
    let lo = (addrLo(table) | TYPE_TABLE) >>> 0;
    let hi = addrHi(table);
    if (this.ns) hi = (hi | HI_NSTABLE) >>> 0;
    this.readEntry(ptep);
    const oldLo = this.eLo;
    const oldHi = this.eHi;
    if (oldLo === curLo && oldHi === curHi) this.writeEntry(ptep, lo, hi);
    if (this.coherent || oldHi & HI_SW_SYNC) return;
    this.syncPte(ptep, 1);
    if (oldLo === curLo && oldHi === curHi) {
      hi = (hi | HI_SW_SYNC) >>> 0;
      lo = lo >>> 0;
      this.writeEntry(ptep, lo, hi);
    }
  }

  // ---------------------------------------------------------------- unmap

  /**
   * arm_lpae_unmap_pages (LP:706-725). Entries cleared at their own level queue tlb_add_page only with a
   * gather that is not queued (LP:687-689); a block split calls it regardless (LP:634-636).
   */
  /**
   * arm_lpae_unmap_pages (LP:706-725). One present page on a coherent walker takes the short way:
   * cleared, and queued for TLB invalidation unless the gather is a queued one (LP:687-689);
   * anything else unmapPagesGeneric.
   */
  unmapPages(iova: number, pgsize: number, pgcount: number, gather?: { queued: boolean } | null): number {
    const w = pgcount === 1 && pgsize === this.geo.granule && iova < this.geo.iasLimit && this.coherent === true ? this.slot(iova) : -1;
    if (w >= 0) {
      const words = (this.frames as PhysMem).xWords;
      if ((words[w] & 3) === 3) {
        words[w] = 0;
        words[w + 1] = 0;
        if (gather === undefined || (gather !== null && !gather.queued)) this.host.tlbAddPage?.(iova, pgsize);
        return pgsize;
      }
    }
    return this.unmapPagesGeneric(iova, pgsize, pgcount, gather);
  }

  private unmapPagesGeneric(iova: number, pgsize: number, pgcount: number, gather?: { queued: boolean } | null): number {
    if (!pgsize || andBits(pgsize, this.cfg.pgsizeBitmap) !== pgsize || !pgcount) {
      this.warn(715, '!pgsize || (pgsize & cfg->pgsize_bitmap) != pgsize || !pgcount');
      return 0;
    }
    if (iova >= this.geo.iasLimit) {
      this.warn(720, 'iaext');
      return 0;
    }
    const addPages = gather === undefined || (gather !== null && !gather.queued);
    if (pgsize === this.geo.granule) {
      const w = this.leafFrame(iova, pgcount);
      if (w >= 0) {
        const r = this.unmapInFrame(w, iova, pgsize, addPages);
        if (r >= 0) return r;
      }
    }
    return this.unmap(iova, pgsize, pgcount, this.geo.start, this.pgd, addPages);
  }

  // ---------------------------------------------------------------- one-page fast paths on a PhysMem

  /** Output of leafFrame besides its result: how many entries from there. */
  private leafCount = 0;

  /**
   * For map/unmap of granule-sized pages on a PhysMem with a coherent walker: the index in mem.xWords of
   * the last-level entries [idx, idx + n) of iova, n = min(pgcount, arm_lpae_max_entries) (LP:207-212),
   * found down the levels with 32-bit halves as in iovaToPhys. -1 - and the caller takes the
   * kernel-shaped code above, which handles every other case with its warnings, syncs and table
   * allocation or splitting - when an upper entry is zero or a block, a frame was never written, or the
   * entries do not all lie in one frame. Sets leafCount.
   */
  private leafFrame(iova: number, pgcount: number): number {
    const mem = this.frames;
    if (mem === undefined || !this.coherent) return -1;
    const geo = this.geo;
    const ilo = iova >>> 0;
    const ihi = ((iova - ilo) / TWO32) >>> 0;
    let th = this.pgdHi;
    let tl = this.pgdLo;
    for (let lvl = geo.start; ; lvl++) {
      const s = geo.shift[lvl];
      const idx = (s >= 32 ? ihi >>> (s - 32) : (ilo >>> s) | (ihi << (32 - s))) & geo.idxMask[lvl];
      const el = (tl + idx * 8) | 0;
      const eh = el >>> 0 < tl >>> 0 ? th + 1 : th;
      if (lvl === LPAE_MAX_LEVELS - 1) {
        const per = geo.ptesPerTable;
        const n = Math.min(pgcount, per - (idx & (per - 1)));
        if ((el & 0xfff) + n * 8 > FRAME_BYTES) return -1;
        const leaf = mem.wordAt(eh, el);
        this.leafCount = n;
        return leaf < 0 || mem.xWritten[leaf >>> 10] === 0 ? -1 : leaf;
      }
      // RAM never written reads as zeros: a zero entry. A hole: the generic code.
      const w = mem.wordAt(eh, el);
      if (w < 0) return -1;
      const lo = mem.xWords[w];
      const hi = mem.xWords[w + 1];
      // map: zero = allocate, block = -EEXIST; unmap: zero = WARN, block = split. All left to the slow path.
      if ((lo === 0 && hi === 0) || (lo & TYPE_MASK) === TYPE_BLOCK) return -1;
      th = hi & 0xffff;
      tl = lo & 0xfffff000;
    }
  }

  /**
   * arm_lpae_init_pte + __arm_lpae_init_pte (LP:303-354) at the last level on the entries leafFrame
   * found: false, writing nothing, if one of them is already a page (the slow path WARNs, -EEXIST).
   */
  private mapInFrame(w: number, paddr: number, pgsize: number): boolean {
    const f = (this.frames as PhysMem).xWords;
    const n = this.leafCount;
    for (let i = 0; i < n; i++) if ((f[w + 2 * i] & TYPE_MASK) === TYPE_TABLE) return false;
    for (let i = 0; i < n; i++) {
      const pa = paddr + i * pgsize;
      f[w + 2 * i] = (this.protLo | TYPE_TABLE | addrLo(pa)) >>> 0;
      f[w + 2 * i + 1] = (this.protHi | addrHi(pa)) >>> 0;
    }
    return true;
  }

  /**
   * __arm_lpae_unmap at the last level (LP:658-691) on the entries leafFrame found: the WARNs of a zero
   * entry, clearing, then tlb_add_page per cleared page. -1, doing nothing, when an entry in the range
   * is not a page (the slow path frees what it points to).
   */
  private unmapInFrame(w: number, iova: number, size: number, gather: boolean): number {
    const f = (this.frames as PhysMem).xWords;
    const n = this.leafCount;
    let i = 0;
    for (; i < n; i++) {
      const lo = f[w + 2 * i];
      if (lo === 0 && f[w + 2 * i + 1] === 0) break;
      if ((lo & TYPE_MASK) !== TYPE_TABLE) return -1;
    }
    if (i < n) {
      if (i === 0) {
        this.warn(660, '!pte');
        return 0;
      }
      this.warn(671, '!pte');
    }
    for (let j = 0; j < i; j++) {
      f[w + 2 * j] = 0;
      f[w + 2 * j + 1] = 0;
    }
    if (gather) for (let j = 0; j < i; j++) this.host.tlbAddPage?.(iova + j * size, size);
    return i * size;
  }

  /** __arm_lpae_unmap (LP:644-707). `gather`: whether entries cleared here queue tlb_add_page. */
  private unmap(iova: number, size: number, pgcount: number, lvl: number, table: number, gather: boolean): number {
    const geo = this.geo;
    for (;;) {
      if (lvl === LPAE_MAX_LEVELS) {
        this.warn(654, 'lvl == ARM_LPAE_MAX_LEVELS');
        return 0;
      }
      const idx = geo.idx(iova, lvl);
      const ptep = table + idx * 8;
      this.readEntry(ptep);
      const lo = this.eLo;
      const hi = this.eHi;
      if (lo === 0 && hi === 0) {
        this.warn(660, '!pte');
        return 0;
      }
      if (size === geo.blockSize[lvl]) {
        const n = Math.min(pgcount, this.maxEntries(idx));
        let i = 0;
        for (; i < n; i++) {
          this.readEntry(ptep + i * 8);
          const l = this.eLo;
          const h = this.eHi;
          if (l === 0 && h === 0) {
            this.warn(671, '!pte');
            break;
          }
          if (!kernelLeaf(l, lvl)) {
            this.clearPtes(ptep + i * 8, 1);
            this.host.tlbFlushWalk?.(iova + i * size, size, geo.granule);
            this.freeTables(lvl + 1, geo.addrOf(l, h));
          }
        }
        this.clearPtes(ptep, i);
        if (gather) for (let j = 0; j < i; j++) this.host.tlbAddPage?.(iova + j * size, size);
        return i * size;
      }
      if (kernelLeaf(lo, lvl)) return this.splitBlockUnmap(iova, size, lo, hi, lvl + 1, ptep, pgcount, gather);
      table = geo.addrOf(lo, hi);
      lvl++;
    }
  }

  /** __arm_lpae_clear_pte (LP:289-296). */
  private clearPtes(ptep: number, n: number): void {
    for (let i = 0; i < n; i++) this.writeEntry(ptep + i * 8, 0, 0);
    if (!this.coherent && n) this.syncPte(ptep, n);
  }

  /**
   * arm_lpae_split_blk_unmap (LP:584-642): replace a block by a next-level table holding the rest of
   * it (allocated GFP_ATOMIC), then unmap from that table; 6.12 splits all the way down.
   */
  private splitBlockUnmap(iova: number, size: number, bLo: number, bHi: number, lvl: number, ptep: number, pgcount: number, gather: boolean): number {
    const geo = this.geo;
    if (lvl === LPAE_MAX_LEVELS) {
      this.warn(598, 'lvl == ARM_LPAE_MAX_LEVELS');
      return 0;
    }
    const t = this.allocTable(geo.granule);
    if (t === null) return 0;
    const splitSz = geo.blockSize[lvl];
    let start = -1;
    let n = 0;
    if (size === splitSz) {
      start = geo.idx(iova, lvl);
      n = Math.min(pgcount, this.maxEntries(start));
    }
    let pa = geo.addrOf(bLo, bHi);
    const pLo = bLo & LO_ATTR_MASK;
    const pHi = bHi & HI_ATTR_MASK;
    for (let i = 0; i < geo.ptesPerTable; i++, pa += splitSz) {
      if (i >= start && i < start + n) continue;
      this.writeLeaves(pa, pLo, pHi, lvl, 1, t + i * 8);
    }
    this.installTable(t, ptep, bLo, bHi);
    if (start >= 0) {
      // io_pgtable_tlb_add_page regardless of gather (LP:634-636).
      for (let i = 0; i < n; i++) this.host.tlbAddPage?.(iova + i * size, size);
      return n * size;
    }
    return this.unmap(iova, size, pgcount, lvl, t, gather);
  }

  /** __arm_lpae_free_pgtable (LP:545-573): depth first, any non-zero non-leaf entry is a table. */
  private freeTables(lvl: number, table: number): void {
    const geo = this.geo;
    const size = lvl === geo.start ? this.cfg.pgdSize : geo.granule;
    if (lvl < LPAE_MAX_LEVELS - 1) {
      for (let off = 0; off < size; off += 8) {
        this.readEntry(table + off);
        const lo = this.eLo;
        const hi = this.eHi;
        if ((lo === 0 && hi === 0) || kernelLeaf(lo, lvl)) continue;
        this.freeTables(lvl + 1, geo.addrOf(lo, hi));
      }
    }
    this.host.freeTable(table, size);
  }

  // ---------------------------------------------------------------- lookup

  /** The walks iovaToPhys and the one-page map/unmap take (see compiled-walk.ts), made at creation. */
  private readonly walkFn: CompiledWalk;
  private readonly slotFn: CompiledWalk;

  /**
   * arm_lpae_iova_to_phys (LP:727-761): the kernel's walk, allocation-free. On a PhysMem the common
   * case - a chain of table descriptors down to a page - takes a walk compiled for this geometry
   * (walkSource); anything else the kernel's loop accepts (a zero entry, a block, a non-zero invalid
   * entry it follows as a table) restarts in iovaToPhysGeneric, which is that loop itself, with the
   * same answer. Any other memory (a DeviceView, a dump) takes the generic walk. Test:
   * test/formats/iova-to-phys-fast.test.ts compares both on identical, corrupted and 4 GiB-straddling
   * tables for every granule and start level.
   */
  iovaToPhys(iova: number): number {
    const f = this.walkFn;
    const pa = f(this.frames as PhysMem, this.pgdHi, this.pgdLo, iova);
    return pa >= 0 ? pa : this.iovaToPhysGeneric(iova);
  }

  /**
   * The compiled walk's source, levels unrolled with this geometry's shifts (ARM_LPAE_LVL_SHIFT) and
   * index masks (the start level's covers pgd_bits, concatenated stage-2 roots included) as literals;
   * the memory and the pgd halves are arguments. -1 (take the generic walk) for anything but a table
   * descriptor above the last level and a page at it. `slot`: instead of the output address, the
   * index in mem.xWords of the last-level entry (-1 when its frame was never written), for the
   * one-page map/unmap. Every address is two 32-bit integers: a table address comes out of a
   * descriptor as (hi & 0xffff, lo & 0xfffff000), PhysMem.tableWordAt finds its word with integer
   * arithmetic (inlined: a compare and a subtraction in the cached extent) and both words of an entry
   * are read from `mem.xWords`; RAM never written, and a hole, read as a zero entry with no test
   * (the generic walk then reports the hole). `(lo & 3) !== 3`: not TYPE_TABLE (a page at the last level). The
   * carry into the high half guards a table straddling 4 GiB: at the start level (a pgd placed
   * anywhere) and with a 16K granule (a garbage table address is only 4K-aligned, an offset reaches
   * 16K); a 4K table below the start is 4K-aligned with offsets under 4K and cannot straddle.
   */
  private walkSource(slot = false): string {
    const geo = this.geo;
    const levels: string[][] = [];
    for (let lvl = geo.start; lvl < LPAE_MAX_LEVELS; lvl++) {
      const carry = lvl === geo.start || geo.granule !== SZ_4K ? '(el >>> 0 < tl >>> 0 ? th + 1 : th)' : 'th';
      const lines = [`el = (tl + ((${iovaBits(geo.shift[lvl])} & ${lit(geo.idxMask[lvl])}) << 3)) | 0;`];
      if (lvl < LPAE_MAX_LEVELS - 1 || !slot)
        lines.push(
          `w = mem.tableWordAt(${carry}, el);`,
          'words = mem.xWords;',
          'lo = words[w];',
          'if ((lo & 3) !== 3) return -1;',
        );
      if (lvl < LPAE_MAX_LEVELS - 1) lines.push('th = words[w + 1] & 0xffff;', 'tl = lo & 0xfffff000;');
      else if (!slot) lines.push(`return ${joinHalves('(words[w + 1] & 0xffff)', `(lo & 0xfffff000) | (ilo & ${lit(geo.granule - 1)})`)};`);
      // slot: where the last-level entry lives in mem.xWords, -1 if its frame was never written.
      else lines.push(`w = mem.tableWordAt(${carry}, el);`, 'return mem.xWritten[w >>> 10] === 0 ? -1 : w;');
      levels.push(lines);
    }
    // Stages of at most MAX_LEVELS_PER_STAGE levels, the last defined first; each passes the walk's
    // state (IOVA halves, next table) to the next.
    const stages: string[] = [];
    for (let i = 0; i < levels.length; i += MAX_LEVELS_PER_STAGE) stages.push(levels.slice(i, i + MAX_LEVELS_PER_STAGE).flat().join('\n'));
    const out: string[] = [];
    for (let k = stages.length - 1; k >= 0; k--) {
      const head = k === 0 ? `function stage0(mem, th, tl, iova) {\n${SPLIT_IOVA}` : `function stage${k}(mem, iova, ilo, ihi, th, tl) {`;
      const next = k < stages.length - 1 ? `\nreturn stage${k + 1}(mem, iova, ilo, ihi, th, tl);` : '';
      out.push(`${head}\nlet words = mem.xWords;\nlet el = 0;\nlet w = 0;\nlet lo = 0;\n${stages[k]}${next}\n}`);
    }
    out.push('return stage0;');
    return out.join('\n');
  }

  /** arm_lpae_iova_to_phys through any MemReader (a DeviceView, a dump). */
  private iovaToPhysGeneric(iova: number): number {
    const geo = this.geo;
    const mem = this.mem;
    // IOVA as two 32-bit halves once, so every index below is integer shifts (no float division).
    const ilo = iova >>> 0;
    const ihi = ((iova - ilo) / TWO32) >>> 0;
    const shift = geo.shift;
    let table = this.pgd;
    for (let lvl = geo.start; lvl < LPAE_MAX_LEVELS; lvl++) {
      const s = shift[lvl];
      const idx = (s >= 32 ? ihi >>> (s - 32) : (ilo >>> s) | (ihi << (32 - s))) & geo.idxMask[lvl];
      const ptep = table + idx * 8;
      let lo = mem.read32(ptep);
      let hi = mem.read32(ptep + 4);
      if (lo === ACCESS_FAULT || hi === ACCESS_FAULT) lo = hi = 0;
      if (lo === 0 && hi === 0) return 0;
      if (lvl === LPAE_MAX_LEVELS - 1 ? (lo & TYPE_MASK) === TYPE_TABLE : (lo & TYPE_MASK) === TYPE_BLOCK) {
        // iopte_to_paddr(pte) | (iova & (block size - 1)): an OR, as the kernel does (LP:759-760).
        if (s < 32 && !geo.g64k) return (hi & 0xffff) * TWO32 + (((lo & 0xfffff000) | (ilo & ((1 << s) - 1))) >>> 0);
        return orAddr(geo.addrOf(lo, hi), iova % geo.blockSize[lvl]);
      }
      table = geo.g64k ? geo.addrOf(lo, hi) : (hi & 0xffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
    }
    return 0;
  }

  /** arm_lpae_free_pgtable (LP:575-582). */
  free(): void {
    this.host.tlbFlushAll?.();
    this.freeTables(this.geo.start, this.pgd);
  }
}

// ==================================================================== hardware walk and dumps

const geoCache = new WeakMap<ResolvedConfig, Geometry>();
let lastCfg: ResolvedConfig | undefined;
let lastGeo: Geometry | undefined;
function geometryOf(name: string, cfg: ResolvedConfig): Geometry {
  if (cfg === lastCfg && lastGeo) return lastGeo;
  let g = geoCache.get(cfg);
  if (!g) {
    if (!isLpaeConfig(cfg)) throw new InputError(`${name}: the configuration was not resolved by an LPAE format`);
    g = new Geometry(cfg);
    geoCache.set(cfg, g);
  }
  lastCfg = cfg;
  lastGeo = g;
  return g;
}

function levelName(l: number): string {
  return `level ${l}`;
}

/** How the architecture reads one descriptor at a level (not the kernel's leaf test). */
function classify(geo: Geometry, lo: number, hi: number, level: number): StepKind {
  if ((lo & 1) === 0) return lo === 0 && hi === 0 ? 'invalid' : 'bogus';
  const t = lo & TYPE_MASK;
  if (level === LPAE_MAX_LEVELS - 1) return t === TYPE_TABLE ? 'page' : 'bogus';
  return t === TYPE_TABLE ? 'table' : 'block';
}

function addNote(res: WalkResult, text: string): void {
  (res.notes ??= []).push(text);
}

function stepText(lvl: number, index: number, entryAddr: number, lo: number, hi: number): string {
  return `${levelName(lvl)} descriptor ${index} at ${hex(entryAddr)} reads ${hex64(hi, lo)}`;
}

/** Tables used so far by the walk in progress (walks are synchronous, so one scratch array serves all). */
const walkSeen = new Float64Array(LPAE_MAX_LEVELS + 1);

/**
 * The hardware's walk of one IOVA. Allocates only the result and its steps; messages are built on the
 * failure paths alone, so a walk of a mapped IOVA stays cheap for the device models that call it per miss.
 */
function walkLpae(name: string, mem: MemReader, params: WalkParams, iova: number): WalkResult {
  const geo = geometryOf(name, params.cfg);
  const steps: WalkStep[] = [];
  const res: WalkResult = { iova, phys: null, prot: 0, leafSize: 0, fault: null, steps };
  if (!(iova >= 0) || iova >= geo.iasLimit)
    return setFault(res, 'outside-ias', `IOVA ${hex(iova)} has bits at or above bit ${geo.cfg.ias} (input size ${geo.cfg.ias} bits): the walker faults before reading any table`);
  const root = params.roots[0];
  if (root === undefined) return setFault(res, 'translation', 'no root table (TTBR) given');
  if (root >= geo.oasLimit) return setFault(res, 'address-size', `root table ${hex(root)} is beyond the ${geo.cfg.oas}-bit output address size`);
  let table = root;
  walkSeen[0] = root;
  for (let lvl = geo.start; lvl < LPAE_MAX_LEVELS; lvl++) {
    const index = geo.idx(iova, lvl);
    const entryAddr = table + index * 8;
    const lo = mem.read32(entryAddr);
    const hi = lo === ACCESS_FAULT ? ACCESS_FAULT : mem.read32(entryAddr + 4);
    if (lo === ACCESS_FAULT || hi === ACCESS_FAULT)
      return busFault(res, entryAddr, `${levelName(lvl)} descriptor ${index} at ${hex(entryAddr)} (table ${hex(table)})`);
    const kind = classify(geo, lo, hi, lvl);
    steps.push({ level: lvl, tableAddr: table, index, entryAddr, entryLo: lo, entryHi: hi, kind });
    if (kind === 'invalid') return setFault(res, 'translation', `${stepText(lvl, index, entryAddr, lo, hi)} (invalid)`);
    if (kind === 'bogus') {
      if ((lo & 1) === 0)
        return setFault(res, 'translation', `${stepText(lvl, index, entryAddr, lo, hi)}: bit 0 clear, so invalid to the hardware (Linux's own iova_to_phys would follow this non-zero entry as a table)`);
      return setFault(res, 'reserved', `${stepText(lvl, index, entryAddr, lo, hi)}: type 0b01 is a reserved encoding at level 3 (the architecture reports a Translation fault)`);
    }
    if (kind === 'table') {
      const rl = geo.resTableLo[lvl];
      const rh = geo.resTableHi[lvl];
      if (lo & rl || hi & rh) addNote(res, `${stepText(lvl, index, entryAddr, lo, hi)} has RES0 bits set (${hex64(hi & rh, lo & rl)})`);
      const next = geo.addrOf(lo & ~rl, hi & ~rh);
      if (next >= geo.oasLimit)
        return setFault(res, 'address-size', `${stepText(lvl, index, entryAddr, lo, hi)} names a next-level table at ${hex(next)}, beyond the ${geo.cfg.oas}-bit output size`);
      const depth = lvl - geo.start;
      for (let k = 0; k <= depth; k++)
        if (walkSeen[k] === next)
          addNote(res, `${stepText(lvl, index, entryAddr, lo, hi)} names table ${hex(next)}, already used at ${levelName(geo.start + k)} of this walk (a loop: the walker reads it again as a ${levelName(lvl + 1)} table)`);
      walkSeen[depth + 1] = next;
      table = next;
      continue;
    }
    // block or page
    if (kind === 'block' && !geo.blockAllowed[lvl])
      return setFault(res, 'reserved', `${stepText(lvl, index, entryAddr, lo, hi)}: a block descriptor at ${levelName(lvl)} is not allowed with the ${geo.granule / 1024}K granule and ${geo.cfg.oas}-bit output (the architecture reports a Translation fault)`);
    const rl = geo.resLeafLo[lvl];
    const rh = geo.resLeafHi[lvl];
    if (lo & rl || hi & rh) addNote(res, `${stepText(lvl, index, entryAddr, lo, hi)} has RES0 bits set (${hex64(hi & rh, lo & rl)}); ignored`);
    const base = geo.addrOf(lo & ~rl, hi & ~rh);
    if (base >= geo.oasLimit) return setFault(res, 'address-size', `${stepText(lvl, index, entryAddr, lo, hi)} maps to ${hex(base)}, beyond the ${geo.cfg.oas}-bit output size`);
    if (!(lo & LO_AF)) return setFault(res, 'permission', `${stepText(lvl, index, entryAddr, lo, hi)}: access flag clear (an Access flag fault; Linux always sets AF)`);
    const bs = geo.blockSize[lvl];
    res.phys = base + (iova % bs);
    res.prot = protOfLeaf(geo.stage, lo, hi);
    res.leafSize = bs;
    return res;
  }
  // Unreachable: level 3 always ends the walk.
  return setFault(res, 'translation', 'ran out of levels');
}

/**
 * Work caps for enumerate. Linux never points two entries at one table, so descriptors read again through
 * a shared table are garbage work and get a small budget; the total cap only stops absurd inputs (2^26
 * descriptors is 256 GiB mapped in 4K pages).
 */
const ENUMERATE_MAX_SHARED_ENTRIES = 1 << 22;
const ENUMERATE_MAX_ENTRIES = 1 << 26;

function enumerateLpae(name: string, mem: MemReader, params: WalkParams): EnumerateResult {
  const geo = geometryOf(name, params.cfg);
  const cfg = geo.cfg;
  const mappings: MappingRun[] = [];
  const problems: WalkProblem[] = [];
  const root = params.roots[0];
  if (root === undefined) {
    problems.push({ kind: 'root', addr: 0, message: 'no root table (TTBR) given' });
    return { mappings, problems };
  }
  if (root >= geo.oasLimit) {
    problems.push({ kind: 'address-size', addr: root, message: `root table ${hex(root)} is beyond the ${cfg.oas}-bit output size` });
    return { mappings, problems };
  }
  if (!anyPageBacked(mem, root, cfg.pgdSize)) {
    problems.push({ kind: 'root', addr: root, message: `root table ${hex(root)} (${cfg.pgdSize} bytes) is not in memory or in the dump` });
    return { mappings, problems };
  }
  let run: MappingRun | null = null;
  let budget = ENUMERATE_MAX_ENTRIES;
  let sharedBudget = ENUMERATE_MAX_SHARED_ENTRIES;
  let stopped = false;
  const visited = new Set<number>();
  const ancestors: number[] = [];
  const ancestorSizes: number[] = [];

  const visit = (table: number, lvl: number, base: number): void => {
    const size = lvl === geo.start ? cfg.pgdSize : geo.granule;
    const n = size / 8;
    const bs = geo.blockSize[lvl];
    ancestors.push(table);
    ancestorSizes.push(size);
    const shared = visited.has(table);
    visited.add(table);
    for (let i = 0; i < n; i++) {
      if (budget-- <= 0 || (shared && sharedBudget-- <= 0)) {
        if (!stopped) {
          stopped = true;
          const why = budget < 0 ? `${ENUMERATE_MAX_ENTRIES} descriptors` : `${ENUMERATE_MAX_SHARED_ENTRIES} descriptors of tables reached more than once`;
          problems.push({ kind: 'loop', addr: table + i * 8, level: lvl, message: `stopped after reading ${why}: the tables are garbage or share sub-tables many times; mappings from IOVA ${hex(base + i * bs)} on are not listed` });
        }
        break;
      }
      const ea = table + i * 8;
      const lo = mem.read32(ea);
      const hi = lo === ACCESS_FAULT ? ACCESS_FAULT : mem.read32(ea + 4);
      if (lo === ACCESS_FAULT || hi === ACCESS_FAULT) {
        // This page of the table is not in the dump: its descriptors are unknown; read on after it.
        const end = entriesToPageEnd(table, i, n);
        const what = end - i > 1 ? `descriptors ${i}..${end - 1} at ${hex(ea)}..${hex(table + end * 8 - 1)} cannot be read` : `descriptor at ${hex(ea)} cannot be read`;
        problems.push({ kind: 'outside-dump', addr: ea, level: lvl, message: `${levelName(lvl)} ${what}; IOVA ${hex(base + i * bs)}..${hex(base + end * bs - 1)} unknown`, partial: true });
        i = end - 1;
        continue;
      }
      if (lo === 0 && hi === 0) continue;
      const iova = base + i * bs;
      const desc = (): string => `${levelName(lvl)} descriptor at ${hex(ea)} = ${hex64(hi, lo)} (IOVA ${hex(iova)})`;
      const kind = classify(geo, lo, hi, lvl);
      if (kind === 'bogus') {
        if ((lo & 1) === 0)
          problems.push({ kind: 'translation', addr: ea, level: lvl, message: `${desc()}: non-zero with bit 0 clear: invalid to the hardware, but Linux's walkers would follow it as a table` });
        else problems.push({ kind: 'reserved', addr: ea, level: lvl, message: `${desc()}: type 0b01 is reserved at level 3` });
        continue;
      }
      if (kind === 'table') {
        const rl = geo.resTableLo[lvl];
        const rh = geo.resTableHi[lvl];
        if (lo & rl || hi & rh) problems.push({ kind: 'reserved', addr: ea, level: lvl, message: `${desc()} has RES0 bits set (${hex64(hi & rh, lo & rl)})` });
        const next = geo.addrOf(lo & ~rl, hi & ~rh);
        if (next >= geo.oasLimit) {
          problems.push({ kind: 'address-size', addr: ea, level: lvl, message: `${desc()} names a table at ${hex(next)}, beyond the ${cfg.oas}-bit output size; not followed` });
          continue;
        }
        let cyc = -1;
        for (let k = 0; k < ancestors.length; k++) if (next >= ancestors[k] && next < ancestors[k] + ancestorSizes[k]) cyc = k;
        if (cyc >= 0) {
          problems.push({ kind: 'cycle', addr: ea, level: lvl, message: `${desc()} names table ${hex(next)}, inside the ${levelName(geo.start + cyc)} table ${hex(ancestors[cyc])} of its own walk (a cycle); not followed` });
          continue;
        }
        if (!anyPageBacked(mem, next, geo.granule)) {
          problems.push({ kind: 'outside-dump', addr: ea, level: lvl, message: `${desc()} names table ${hex(next)}, which is not in memory or in the dump; IOVA ${hex(iova)}..${hex(iova + bs - 1)} unreadable` });
          continue;
        }
        visit(next, lvl + 1, iova);
        if (stopped) break;
        continue;
      }
      if (kind === 'block' && !geo.blockAllowed[lvl]) {
        problems.push({ kind: 'reserved', addr: ea, level: lvl, message: `${desc()}: a block is not allowed at ${levelName(lvl)} with this granule and output size` });
        continue;
      }
      const rl = geo.resLeafLo[lvl];
      const rh = geo.resLeafHi[lvl];
      if (lo & rl || hi & rh) problems.push({ kind: 'reserved', addr: ea, level: lvl, message: `${desc()} has RES0 bits set (${hex64(hi & rh, lo & rl)})` });
      const phys = geo.addrOf(lo & ~rl, hi & ~rh);
      if (phys + bs > geo.oasLimit) {
        problems.push({ kind: 'address-size', addr: ea, level: lvl, message: `${desc()} maps to ${hex(phys)}, beyond the ${cfg.oas}-bit output size` });
        continue;
      }
      if (!(lo & LO_AF)) problems.push({ kind: 'permission', addr: ea, level: lvl, message: `${desc()}: access flag clear (the hardware raises an Access flag fault)` });
      const prot = protOfLeaf(geo.stage, lo, hi);
      if (run && run.iova + run.size === iova && run.phys + run.size === phys && run.prot === prot) run.size += bs;
      else {
        run = { iova, phys, size: bs, prot };
        mappings.push(run);
      }
    }
    ancestors.pop();
    ancestorSizes.pop();
  };
  visit(root, geo.start, 0);
  return { mappings, problems };
}

// ==================================================================== registers and words

/**
 * A TTBR/VTTBR value in halves: BADDR bits 47:1 (table aligned to its size, at least 64 bytes for the
 * AArch64 formats), CnP bit 0, ASID/VMID bits 63:48 ignored. With the 64K granule and 52-bit output,
 * bits 5:2 hold BADDR 51:48.
 */
export function decodeTtbr(lo: number, hi: number, cfg: ResolvedConfig): { base: number; cnp: boolean; asid: number } {
  if (!isLpaeConfig(cfg)) throw new InputError('decodeTtbr: not an LPAE configuration');
  const align = cfg.aarch32 ? cfg.pgdSize : Math.max(64, cfg.pgdSize);
  const lowBits = cfg.granule === SZ_64K && cfg.oas > 48 ? ((lo >>> 2) & 0xf) * 2 ** 48 : 0;
  let base = (hi & 0xffff) * TWO32 + ((lo & 0xfffffffe) >>> 0);
  base -= base % align;
  return { base: base + lowBits, cnp: (lo & 1) === 1, asid: (hi >>> 16) & 0xffff };
}

function describeLpae(geo: Geometry, level: number, lo: number, hi: number): EntryDescription {
  lo >>>= 0;
  hi >>>= 0;
  const fields: [string, string][] = [];
  const kind = classify(geo, lo, hi, level);
  const valid = (lo & 1) === 1;
  fields.push(['bit 0 (valid)', valid ? '1' : '0']);
  fields.push(['bit 1 (type: 1 = table/page, 0 = block)', String((lo >>> 1) & 1)]);
  let address: number | null = null;
  let reservedBitsSet = false;
  let prot = 0;
  const s1 = geo.stage === 1;
  if (!valid) {
    fields.push(['meaning', lo === 0 && hi === 0 ? 'invalid (all zero, as Linux clears entries)' : 'invalid to the hardware; non-zero, so Linux would follow it as a table']);
  } else if (kind === 'table') {
    const [rl, rh] = reservedMasks(geo, 'table', level);
    address = geo.addrOf(lo & ~rl, hi & ~rh);
    reservedBitsSet = (lo & rl) !== 0 || (hi & rh) !== 0;
    // The field starts at the granule: 4K bits 47:12; 16K 47:14 (13:12 RES0); 64K 47:16, PA 51:48 in 15:12.
    const from = Math.log2(geo.granule);
    fields.push([`next-level table address (bits 47:${from}${geo.g64k ? ', 51:48 in 15:12' : from > 12 ? `; ${from - 1}:12 RES0` : ''})`, hex(address)]);
    fields.push(['bits 11:2 (ignored in a table descriptor)', hex((lo >>> 2) & 0x3ff)]);
    fields.push(['bits 50:48 (RES0)', hex((hi >>> 16) & 7)]);
    fields.push(['bit 55 (software: SW_SYNC, entry cleaned to memory for a non-coherent walker)', String((hi >>> 23) & 1)]);
    fields.push(['bits 62:59 (APTable/XNTable/PXNTable; Linux leaves 0)', hex((hi >>> 27) & 0xf)]);
    fields.push(['bit 63 (NSTable; set by the ARM_NS quirk)', String(hi >>> 31)]);
  } else {
    const [rl, rh] = reservedMasks(geo, 'leaf', level);
    reservedBitsSet = (lo & rl) !== 0 || (hi & rh) !== 0;
    address = geo.addrOf(lo & ~rl, hi & ~rh);
    prot = protOfLeaf(geo.stage, lo, hi);
    const what = kind === 'page' ? 'page' : `block (${geo.blockSize[level] >= SZ_1G ? geo.blockSize[level] / SZ_1G + 'G' : geo.blockSize[level] / 0x100000 + 'M'})`;
    fields.push(['kind', kind === 'bogus' ? 'reserved encoding (type 0b01 at level 3)' : what]);
    if (kind === 'block' && !geo.blockAllowed[level]) fields.push(['block allowed here', 'no: a reserved encoding at this level and granule']);
    fields.push(['output address', hex(address)]);
    if (s1) {
      const idx = (lo >>> 2) & 7;
      fields.push(['bits 4:2 (AttrIndx)', `${idx} (${['Normal non-cacheable (MAIR 0x44)', 'Normal write-back (MAIR 0xff, IOMMU_CACHE)', 'Device-nGnRE (MAIR 0x04, IOMMU_MMIO)', 'inner-NC outer-WB (MAIR 0xf4)'][idx] ?? 'outside the MAIR Linux programs'})`]);
      fields.push(['bit 5 (NS)', String((lo >>> 5) & 1)]);
      fields.push(['bit 6 (AP[1]: unprivileged access; clear = IOMMU_PRIV)', String((lo >>> 6) & 1)]);
      fields.push(['bit 7 (AP[2]: read-only)', String((lo >>> 7) & 1)]);
    } else {
      const ma = (lo >>> 2) & 0xf;
      fields.push(['bits 5:2 (MemAttr)', `${hex(ma)} (${ma === 0xf ? 'Normal outer+inner write-back (IOMMU_CACHE)' : ma === 5 ? 'Normal non-cacheable' : ma === 1 ? 'Device-nGnRE (IOMMU_MMIO)' : 'not a value Linux writes'})`]);
      fields.push(['bit 6 (S2AP read)', String((lo >>> 6) & 1)]);
      fields.push(['bit 7 (S2AP write)', String((lo >>> 7) & 1)]);
    }
    const sh = (lo >>> 8) & 3;
    fields.push(['bits 9:8 (SH)', `${sh} (${['non-shareable', 'reserved', 'outer shareable', 'inner shareable'][sh]})`]);
    fields.push(['bit 10 (AF, access flag)', String((lo >>> 10) & 1)]);
    if (s1) fields.push(['bit 11 (nG, not global)', String((lo >>> 11) & 1)]);
    fields.push(['bits 49:48 (RES0)', hex((hi >>> 16) & 3)]);
    fields.push(['bit 51 (DBM, dirty bit modifier; ARM_HD quirk)', String((hi >>> 19) & 1)]);
    fields.push(['bit 52 (Contiguous; Linux never sets it)', String((hi >>> 20) & 1)]);
    fields.push([s1 ? 'bits 54:53 (UXN/PXN; both set for IOMMU_NOEXEC)' : 'bits 54:53 (XN; both set for IOMMU_NOEXEC)', String((hi >>> 21) & 3)]);
    fields.push(['bits 58:55 (software use)', hex((hi >>> 23) & 0xf)]);
  }
  if (reservedBitsSet) fields.push(['reserved bits', 'set (RES0 fields are not zero)']);
  return { valid: valid && kind !== 'bogus' && !(kind === 'block' && !geo.blockAllowed[level]), kind, address, prot, fields, reservedBitsSet };
}

// ==================================================================== the format objects

function makeFormat(name: LpaeFormatName, description: string): PageTableFormat & { decodeRootRegisterHalves(lo: number, hi: number, cfg: ResolvedConfig): number[] } {
  const format = {
    name,
    description,
    entryBytes: 8,
    resolveConfig: (cfg: FormatConfig): ResolvedConfig => resolveLpaeConfig(name, cfg),
    create(cfg: FormatConfig, host: TableHost): PageTable | null {
      const rc = resolveLpaeConfig(name, cfg);
      // __arm_lpae_alloc_pages of the pgd (LP:1026, 1127); TTBR = virt_to_phys(pgd).
      const pgd = host.allocTable(rc.pgdSize, Math.max(rc.pgdSize, rc.cpuPageSize as number));
      if (pgd === null) return null;
      return new LpaeTable(format, rc, host, pgd);
    },
    decodeRootRegister(raw: number, cfg: ResolvedConfig): number[] {
      if (!Number.isSafeInteger(raw) || raw < 0)
        throw new InputError(`${name}: base register value ${String(raw)} does not fit in 53 bits; give it without ASID/VMID bits`);
      return [decodeTtbr(raw >>> 0, Math.floor(raw / TWO32), cfg).base];
    },
    decodeRootRegisterHalves(lo: number, hi: number, cfg: ResolvedConfig): number[] {
      return [decodeTtbr(lo >>> 0, hi >>> 0, cfg).base];
    },
    walk: (mem: MemReader, params: WalkParams, iova: number): WalkResult => walkLpae(name, mem, params, iova),
    enumerate: (mem: MemReader, params: WalkParams): EnumerateResult => enumerateLpae(name, mem, params),
    describeEntry: (level: number, lo: number, hi: number, cfg: ResolvedConfig): EntryDescription => describeLpae(geometryOf(name, cfg), level, lo, hi),
  };
  return format;
}

export const arm64LpaeS1Format = makeFormat('arm-64-lpae-s1', 'ARM LPAE stage 1, AArch64 (SMMU stage 1): 4K/16K/64K granules, up to 48/52-bit input and output');
export const arm64LpaeS2Format = makeFormat('arm-64-lpae-s2', 'ARM LPAE stage 2, AArch64 (SMMU stage 2): concatenated root tables, S2AP/MemAttr attributes');
export const arm32LpaeS1Format = makeFormat('arm-32-lpae-s1', 'ARM LPAE stage 1, AArch32 long descriptors (e.g. Renesas IPMMU): 4K pages, 2M/1G blocks, ias <= 32, oas <= 40');
export const arm32LpaeS2Format = makeFormat('arm-32-lpae-s2', 'ARM LPAE stage 2, AArch32 long descriptors: 4K pages, 2M/1G blocks, ias and oas <= 40');
export const lpaeFormats: PageTableFormat[] = [arm64LpaeS1Format, arm64LpaeS2Format, arm32LpaeS1Format, arm32LpaeS2Format];
