/**
 * Rockchip IOMMU page tables, v1 ("rockchip,iommu") and v2 ("rockchip,rk3568-iommu"), as Linux 6.12's
 * drivers/iommu/rockchip-iommu.c builds them (cited as RK:line).
 *
 * Two levels of 32-bit little-endian entries: one 4 KiB directory table (DT) of 1024 DTEs, each naming a
 * 4 KiB page table (PT) of 1024 PTEs, each naming a 4 KiB page. IOVA bits 31:22 pick the DTE, 21:12 the
 * PTE, 11:0 the byte (RK:306-336).
 *
 * v1 keeps address bits 31:12 in place and silently loses anything above 4 GiB (the entries are u32).
 * v2 reaches 40 bits by folding address bits 35:32 into entry bits 11:8 and 39:36 into 7:4 (RK:193-237);
 * the same folding is used for DTEs, PTEs and the DTE_ADDR register value.
 *
 * The Rockchip driver is not an io-pgtable user: it does its own map/unmap with DMA addresses and
 * re-derives CPU pointers with phys_to_virt (seed 000's bug). `rockchipVariants` holds the pure encoders
 * for the driver model; the format object below runs the driver's map/unmap/iova_to_phys under the
 * assumption dma address == physical address.
 */
import { InputError, TWO32, hex } from '../addr.js';
import { ACCESS_FAULT, type MemReader } from '../mem/phys-mem.js';
import { kHexAlt, kPad } from '../trace/printf.js';
import {
  EADDRINUSE,
  EINVAL,
  ENOMEM,
  IOMMU_READ,
  IOMMU_WRITE,
  type EntryDescription,
  type EnumerateResult,
  type FaultKind,
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

/** 1024 entries per table (RK:72-73); each table is one 4 KiB page (RK:75-76). */
export const RK_NUM_DT_ENTRIES = 1024;
export const RK_NUM_PT_ENTRIES = 1024;
export const RK_SPAGE_SIZE = 4096;
/** One PT covers 4 MiB of IOVA. */
export const RK_PT_SPAN = RK_NUM_PT_ENTRIES * RK_SPAGE_SIZE;
/** Every power of two from 4 KiB to 4 MiB: whatever fits in one PT (RK:80-84, used at RK:1187). */
export const RK_IOMMU_PGSIZE_BITMAP = 0x007ff000;
/** The domain aperture is 0..DMA_BIT_MASK(32) (RK:1102-1103). */
export const RK_IOVA_BITS = 32;

const VALID = 1; // DTE bit 0 (RK:186) and PTE bit 0 (RK:263)
const PTE_READABLE = 1 << 1; // RK:262
const PTE_WRITABLE = 1 << 2; // RK:261
const ADDR_31_12 = 0xfffff000; // RK:185, RK:259
const V1_PTE_FLAGS = 0x1fe; // RK:260

/** IOVA bits 31:22 (RK:323-326). Works for any IOVA < 2^53: the kernel's u32 cast drops higher bits. */
export function rkDteIndex(iova: number): number {
  return (iova >>> 22) & 0x3ff;
}
/** IOVA bits 21:12 (RK:328-331). */
export function rkPteIndex(iova: number): number {
  return (iova >>> 12) & 0x3ff;
}
/** IOVA bits 11:0 (RK:333-336). */
export function rkPageOffset(iova: number): number {
  return iova & 0xfff;
}

/** The per-variant encoders of struct rk_iommu_ops (RK:101-107), as pure functions on JS numbers. */
export interface RockchipEntryOps {
  readonly variant: 'v1' | 'v2';
  /** The compatible string that selects these ops (RK:1381-1389). */
  readonly compatible: string;
  /** Widest address an entry can express. */
  readonly addressBits: number;
  /** rk_ops->mk_dtentries: a valid DTE naming the PT at ptDma (bits the entry cannot hold are dropped). */
  mkDte(ptDma: number): number;
  /** rk_ops->mk_ptentries: a valid PTE for the page, with R/W from IOMMU_READ/IOMMU_WRITE. */
  mkPte(page: number, prot: number): number;
  /** rk_ops->pt_address applied to a DTE: the PT address it names. */
  ptAddress(dte: number): number;
  /** rk_ops->pt_address applied to a PTE (the driver uses the same decoder): the page address. */
  pteAddress(pte: number): number;
  /** What rk_iommu_enable writes to DTE_ADDR: rk_ops->mk_dtentries(dt_dma) (RK:961-962). */
  dteAddrReg(dtDma: number): number;
  /** The DT address the driver's log_iova derives from DTE_ADDR: rk_ops->pt_address(reg) (RK:567-568). */
  decodeDteAddrReg(raw: number): number;
  dteIsValid(dte: number): boolean;
  pteIsValid(pte: number): boolean;
  /** rk_mk_pte_invalid: only the valid bit is cleared; address and flags stay (RK:301-304). */
  mkPteInvalid(pte: number): number;
  /** Bits the kernel's comments call reserved, per level (1 = DTE, 2 = PTE). */
  reservedMask(level: 1 | 2): number;
}

function v1Address(entry: number): number {
  return (entry & ADDR_31_12) >>> 0;
}

function protFlags(prot: number): number {
  return (prot & IOMMU_READ ? PTE_READABLE : 0) | (prot & IOMMU_WRITE ? PTE_WRITABLE : 0);
}

/**
 * rk_mk_dte_v2 (RK:230-237): address bits 31:12 in place, 35:32 to 11:8, 39:36 to 7:4, bits 3:1 cleared,
 * valid set. Bits 40 and up are lost without a word.
 */
function v2Pack(a: number): number {
  const lo = a >>> 0;
  const hi = Math.floor(a / TWO32);
  const packed = (lo & ADDR_31_12) | ((hi & 0xf) << 8) | (((hi >>> 4) & 0xf) << 4);
  return ((packed & 0xfffffff0) | VALID) >>> 0;
}

/** rk_dte_pt_address_v2 (RK:209-218): the inverse folding; flag bits 3:0 ignored. */
function v2Unpack(e: number): number {
  return ((e >>> 4) & 0xf) * 2 ** 36 + ((e >>> 8) & 0xf) * TWO32 + ((e & ADDR_31_12) >>> 0);
}

const v1Ops: RockchipEntryOps = {
  variant: 'v1',
  compatible: 'rockchip,iommu',
  addressBits: 32,
  // rk_mk_dte (RK:225-228): u32 result, so a PT above 4 GiB silently becomes its alias below.
  mkDte: (ptDma) => ((ptDma >>> 0) & ADDR_31_12) | VALID,
  // rk_mk_pte (RK:271-278): only R and W are ever set; the cache-attribute bits stay 0 (RK:270).
  mkPte: (page, prot) => (((page >>> 0) & ADDR_31_12) | protFlags(prot) | VALID) >>> 0,
  ptAddress: v1Address,
  pteAddress: v1Address,
  dteAddrReg: (dtDma) => (((dtDma >>> 0) & ADDR_31_12) | VALID) >>> 0,
  decodeDteAddrReg: v1Address,
  dteIsValid: (dte) => (dte & VALID) !== 0,
  pteIsValid: (pte) => (pte & VALID) !== 0,
  mkPteInvalid: (pte) => (pte & ~VALID) >>> 0,
  // DTE bits 11:1 (RK:176-183); PTE bits 11:9 (RK:239-245).
  reservedMask: (level) => (level === 1 ? 0xffe : 0xe00),
};

const v2Ops: RockchipEntryOps = {
  variant: 'v2',
  compatible: 'rockchip,rk3568-iommu',
  addressBits: 40,
  mkDte: v2Pack,
  // rk_mk_pte_v2 (RK:291-299): the DTE packing (valid included) plus R/W.
  mkPte: (page, prot) => (v2Pack(page) | protFlags(prot)) >>> 0,
  ptAddress: v2Unpack,
  pteAddress: v2Unpack,
  dteAddrReg: v2Pack,
  decodeDteAddrReg: v2Unpack,
  dteIsValid: (dte) => (dte & VALID) !== 0,
  pteIsValid: (pte) => (pte & VALID) !== 0,
  mkPteInvalid: (pte) => (pte & ~VALID) >>> 0,
  // DTE bits 3:1 (RK:193-199); PTE bit 3 is "security" (RK:285), not reserved.
  reservedMask: (level) => (level === 1 ? 0xe : 0),
};

export const rockchipVariants: Readonly<Record<'v1' | 'v2', RockchipEntryOps>> = { v1: v1Ops, v2: v2Ops };

function opsOf(cfg: ResolvedConfig): RockchipEntryOps {
  return cfg.variant === 'v2' ? v2Ops : v1Ops;
}

function protOfPte(pte: number): number {
  return (pte & PTE_READABLE ? IOMMU_READ : 0) | (pte & PTE_WRITABLE ? IOMMU_WRITE : 0);
}

/** The fault text of the Rockchip page fault logger (RK:590) uses this value as "flags" for both variants. */
export function rkLoggedFlags(pte: number): number {
  return pte & V1_PTE_FLAGS;
}

class RockchipTable implements PageTable {
  readonly roots: number[];
  private readonly ops: RockchipEntryOps;

  constructor(
    readonly format: PageTableFormat,
    readonly cfg: ResolvedConfig,
    private readonly host: TableHost,
    private readonly dt: number,
  ) {
    this.roots = [dt];
    this.ops = opsOf(cfg);
  }

  registers(): Record<string, string> {
    return { DTE_ADDR: hex(this.ops.dteAddrReg(this.dt)) };
  }

  private sync(pa: number, bytes: number): void {
    // The driver syncs even a zero-length range (an unwind that undid nothing, RK:785).
    this.host.syncTable?.(pa, bytes);
  }

  private write(pa: number, value: number, line: number): void {
    if (!this.host.mem.write32(pa, value))
      this.host.warn?.('rockchip-iommu.c', line, `CPU store to ${kPad(pa)} hit no memory (phys_to_virt of a non-RAM address)`);
  }

  /** The iommu core only ever passes a pgsize from RK_IOMMU_PGSIZE_BITMAP with iova aligned to it. */
  private badChunk(iova: number, pgsize: number): boolean {
    return (pgsize & RK_IOMMU_PGSIZE_BITMAP) !== pgsize || (pgsize & (pgsize - 1)) !== 0 || pgsize === 0 || iova % pgsize !== 0;
  }

  /** rk_iommu_map (RK:835-874): maps exactly `pgsize` bytes, ignoring pgcount, as the driver does. */
  mapPages(iova: number, paddr: number, pgsize: number, _pgcount: number, prot: number): MapResult {
    if (this.badChunk(iova, pgsize)) return { ret: -EINVAL, mapped: 0 };
    const ops = this.ops;
    const mem = this.host.mem;
    const dteIdx = rkDteIndex(iova);
    const dteAddr = this.dt + dteIdx * 4;
    // rk_dte_get_page_table (RK:731-766)
    let dte = mem.read32(dteAddr);
    if (dte === ACCESS_FAULT) dte = 0;
    if (!ops.dteIsValid(dte)) {
      const pt = this.host.allocTable(RK_SPAGE_SIZE, RK_SPAGE_SIZE);
      if (pt === null) return { ret: -ENOMEM, mapped: 0 };
      dte = ops.mkDte(pt);
      this.write(dteAddr, dte, 759);
      this.sync(dteAddr, 4); // rk_table_flush of one DTE (RK:761-762)
    }
    // The PT is found again from the DTE value, not from the page just allocated (RK:764-765, 865).
    const ptBase = ops.ptAddress(dte);
    const pteIdx = rkPteIndex(iova);
    const pteFirst = ptBase + pteIdx * 4;
    const total = pgsize / RK_SPAGE_SIZE;
    // rk_iommu_map_iova (RK:790-833)
    let page = paddr;
    for (let i = 0; i < total; i++) {
      const at = pteFirst + i * 4;
      const old = mem.read32(at);
      if (old !== ACCESS_FAULT && ops.pteIsValid(old)) {
        // Unwind: invalidate what this call wrote, flush those entries, report the clash (RK:822-832).
        let n = 0;
        for (; n < i; n++) {
          const a = pteFirst + n * 4;
          const v = mem.read32(a);
          if (v === ACCESS_FAULT || !ops.pteIsValid(v)) break;
          this.write(a, ops.mkPteInvalid(v), 782);
        }
        this.sync(pteFirst, n * 4);
        const clashIova = iova + i * RK_SPAGE_SIZE;
        this.host.warn?.(
          'rockchip-iommu.c',
          829,
          `iova: ${kPad(clashIova)} already mapped to ${kPad(ops.pteAddress(old))} cannot remap to phys: ${kPad(page)} prot: ${kHexAlt(prot)}`,
        );
        return { ret: -EADDRINUSE, mapped: 0 };
      }
      this.write(at, ops.mkPte(page, prot), 806);
      page += RK_SPAGE_SIZE;
    }
    this.sync(pteFirst, total * 4); // RK:811
    return { ret: 0, mapped: pgsize };
  }

  /** rk_iommu_unmap (RK:876-914): `pgsize` bytes, stopping at the first PTE that is already invalid. */
  unmapPages(iova: number, pgsize: number, _pgcount: number): number {
    if (this.badChunk(iova, pgsize)) return 0;
    const ops = this.ops;
    const mem = this.host.mem;
    const dte = mem.read32(this.dt + rkDteIndex(iova) * 4);
    if (dte === ACCESS_FAULT || !ops.dteIsValid(dte)) return 0;
    const pteFirst = ops.ptAddress(dte) + rkPteIndex(iova) * 4;
    const total = pgsize / RK_SPAGE_SIZE;
    let n = 0;
    for (; n < total; n++) {
      const a = pteFirst + n * 4;
      const pte = mem.read32(a);
      if (pte === ACCESS_FAULT || !ops.pteIsValid(pte)) break;
      this.write(a, ops.mkPteInvalid(pte), 782);
    }
    this.sync(pteFirst, n * 4); // RK:785
    return n * RK_SPAGE_SIZE;
  }

  /** rk_iommu_iova_to_phys (RK:665-691). */
  iovaToPhys(iova: number): number {
    const ops = this.ops;
    const mem = this.host.mem;
    const dte = mem.read32(this.dt + rkDteIndex(iova) * 4);
    if (dte === ACCESS_FAULT || !ops.dteIsValid(dte)) return 0;
    const pte = mem.read32(ops.ptAddress(dte) + rkPteIndex(iova) * 4);
    if (pte === ACCESS_FAULT || !ops.pteIsValid(pte)) return 0;
    return ops.pteAddress(pte) + rkPageOffset(iova);
  }

  /** rk_iommu_domain_free (RK:1116-1135): every PT named by a valid DTE, then the DT. */
  free(): void {
    const ops = this.ops;
    for (let i = 0; i < RK_NUM_DT_ENTRIES; i++) {
      const dte = this.host.mem.read32(this.dt + i * 4);
      if (dte !== ACCESS_FAULT && ops.dteIsValid(dte)) this.host.freeTable(ops.ptAddress(dte), RK_SPAGE_SIZE);
    }
    this.host.freeTable(this.dt, RK_SPAGE_SIZE);
  }
}

function describeRockchip(ops: RockchipEntryOps, level: number, e: number): EntryDescription {
  const fields: [string, string][] = [];
  const valid = (e & VALID) !== 0;
  const reserved = e & ops.reservedMask(level === 1 ? 1 : 2);
  const address = valid ? (level === 1 ? ops.ptAddress(e) : ops.pteAddress(e)) : null;
  const what = level === 1 ? 'page table' : 'page';
  if (ops.variant === 'v1') {
    fields.push([`bits 31:12 (${what} address 31:12)`, hex(v1Address(e))]);
    if (level === 1) {
      fields.push(['bits 11:1 (reserved)', hex((e >>> 1) & 0x7ff)]);
    } else {
      fields.push(['bits 11:9 (reserved)', hex((e >>> 9) & 7)]);
      fields.push(['bit 8 (read allocate)', String((e >>> 8) & 1)]);
      fields.push(['bit 7 (read cache)', String((e >>> 7) & 1)]);
      fields.push(['bit 6 (write buffer)', String((e >>> 6) & 1)]);
      fields.push(['bit 5 (write allocate)', String((e >>> 5) & 1)]);
      fields.push(['bit 4 (write cache)', String((e >>> 4) & 1)]);
      fields.push(['bit 3 (override cache attributes; 0 = bus defaults)', String((e >>> 3) & 1)]);
    }
  } else {
    fields.push([`bits 31:12 (${what} address 31:12)`, hex(v1Address(e))]);
    fields.push([`bits 11:8 (${what} address 35:32, packed)`, hex((e >>> 8) & 0xf)]);
    fields.push([`bits 7:4 (${what} address 39:36, packed)`, hex((e >>> 4) & 0xf)]);
    fields.push([`decoded ${what} address (40 bits)`, hex(v2Unpack(e))]);
    if (level === 1) fields.push(['bits 3:1 (reserved)', hex((e >>> 1) & 7)]);
    else fields.push(['bit 3 (security; never set by Linux)', String((e >>> 3) & 1)]);
  }
  if (level !== 1) {
    fields.push(['bit 2 (writable)', String((e >>> 2) & 1)]);
    fields.push(['bit 1 (readable)', String((e >>> 1) & 1)]);
  }
  fields.push(['bit 0 (valid)', valid ? '1' : '0']);
  return {
    valid,
    kind: valid ? (level === 1 ? 'table' : 'page') : 'invalid',
    address,
    prot: level === 1 || !valid ? 0 : protOfPte(e),
    fields,
    reservedBitsSet: reserved !== 0,
  };
}

function makeFormat(variant: 'v1' | 'v2'): PageTableFormat {
  const ops = rockchipVariants[variant];
  const name = `rockchip-${variant}`;

  const resolveConfig = (cfg: FormatConfig): ResolvedConfig => {
    if (cfg.granule !== undefined && cfg.granule !== RK_SPAGE_SIZE)
      throw new InputError(`${name}: granule ${cfg.granule} is impossible, the Rockchip IOMMU has 4 KiB pages only`);
    if (cfg.ias !== undefined && cfg.ias !== RK_IOVA_BITS)
      throw new InputError(`${name}: ias ${cfg.ias} is impossible, the IOVA is 32 bits (10+10+12)`);
    if (cfg.oas !== undefined && (cfg.oas < 32 || cfg.oas > ops.addressBits))
      throw new InputError(`${name}: oas ${cfg.oas} is outside 32..${ops.addressBits}, what its entries can hold`);
    if (cfg.pgsizeBitmap !== undefined && (cfg.pgsizeBitmap & RK_IOMMU_PGSIZE_BITMAP) === 0)
      throw new InputError(`${name}: pgsize_bitmap ${hex(cfg.pgsizeBitmap)} has no size the driver supports (${hex(RK_IOMMU_PGSIZE_BITMAP)})`);
    return {
      granule: RK_SPAGE_SIZE,
      ias: RK_IOVA_BITS,
      oas: cfg.oas ?? ops.addressBits,
      quirks: [],
      // The driver syncs every table write with dma_sync_single_for_device (RK:131-137).
      coherentWalk: false,
      pgsizeBitmap: cfg.pgsizeBitmap !== undefined ? cfg.pgsizeBitmap & RK_IOMMU_PGSIZE_BITMAP : RK_IOMMU_PGSIZE_BITMAP,
      levels: 2,
      variant,
      compatible: ops.compatible,
      dtEntries: RK_NUM_DT_ENTRIES,
      ptEntries: RK_NUM_PT_ENTRIES,
    };
  };

  const walk = (mem: MemReader, params: WalkParams, iova: number): WalkResult => {
    const steps: WalkStep[] = [];
    const res: WalkResult = { iova, phys: null, prot: 0, leafSize: 0, fault: null, steps };
    const fail = (fault: FaultKind, detail: string): WalkResult => walkFail(res, fault, detail);
    if (iova >= TWO32) return fail('outside-ias', `IOVA ${hex(iova)} has bits above bit 31; the Rockchip IOVA is 32 bits`);
    const root = params.roots[0];
    if (root === undefined) return fail('translation', 'no DTE_ADDR (directory table) given');
    const dteIdx = rkDteIndex(iova);
    const dteAddr = root + dteIdx * 4;
    const dte = mem.read32(dteAddr);
    if (dte === ACCESS_FAULT) return busFault(res, dteAddr, `reading DTE ${dteIdx} at ${hex(dteAddr)}`);
    const dteOk = ops.dteIsValid(dte);
    steps.push({ level: 1, tableAddr: root, index: dteIdx, entryAddr: dteAddr, entryLo: dte, entryHi: 0, kind: dteOk ? 'table' : 'invalid' });
    if (!dteOk) return fail('translation', `DTE ${dteIdx} at ${hex(dteAddr)} reads ${hex(dte)}: valid bit clear`);
    const notes: string[] = [];
    if (dte & ops.reservedMask(1)) notes.push(`DTE ${hex(dte)} has reserved bits set (${hex(dte & ops.reservedMask(1))})`);
    const pt = ops.ptAddress(dte);
    if (pt === root) notes.push(`DTE ${dteIdx} names the directory table itself as its page table`);
    const pteIdx = rkPteIndex(iova);
    const pteAddr = pt + pteIdx * 4;
    if (notes.length) res.notes = notes;
    const pte = mem.read32(pteAddr);
    if (pte === ACCESS_FAULT) return busFault(res, pteAddr, `reading PTE ${pteIdx} at ${hex(pteAddr)} (page table ${hex(pt)} from DTE ${hex(dte)})`);
    const pteOk = ops.pteIsValid(pte);
    steps.push({ level: 2, tableAddr: pt, index: pteIdx, entryAddr: pteAddr, entryLo: pte, entryHi: 0, kind: pteOk ? 'page' : 'invalid' });
    if (!pteOk) return fail('translation', `PTE ${pteIdx} at ${hex(pteAddr)} reads ${hex(pte)}: valid bit clear`);
    if (pte & ops.reservedMask(2)) {
      notes.push(`PTE ${hex(pte)} has reserved bits set (${hex(pte & ops.reservedMask(2))})`);
      res.notes = notes;
    }
    const phys = ops.pteAddress(pte) + rkPageOffset(iova);
    if (phys >= 2 ** params.cfg.oas) return fail('address-size', `output ${hex(phys)} is beyond the ${params.cfg.oas}-bit output size`);
    res.phys = phys;
    res.prot = protOfPte(pte);
    res.leafSize = RK_SPAGE_SIZE;
    return res;
  };

  const enumerate = (mem: MemReader, params: WalkParams): EnumerateResult => {
    const mappings: MappingRun[] = [];
    const problems: WalkProblem[] = [];
    const root = params.roots[0];
    if (root === undefined || !mem.isBacked(root, RK_SPAGE_SIZE) || mem.read32(root) === ACCESS_FAULT) {
      problems.push({ kind: 'root', addr: root ?? 0, message: `directory table at ${hex(root ?? 0)} is not in memory` });
      return { mappings, problems };
    }
    let run: MappingRun | null = null;
    const limit = 2 ** params.cfg.oas;
    for (let d = 0; d < RK_NUM_DT_ENTRIES; d++) {
      const dteAddr = root + d * 4;
      const dte = mem.read32(dteAddr);
      if (dte === ACCESS_FAULT) {
        problems.push({ kind: 'outside-dump', addr: dteAddr, level: 1, message: `DTE ${d} at ${hex(dteAddr)} cannot be read` });
        continue;
      }
      if (!ops.dteIsValid(dte)) continue;
      if (dte & ops.reservedMask(1))
        problems.push({ kind: 'reserved', addr: dteAddr, level: 1, message: `DTE ${d} at ${hex(dteAddr)} = ${hex(dte)} has reserved bits ${hex(dte & ops.reservedMask(1))} set` });
      const pt = ops.ptAddress(dte);
      if (pt === root) {
        problems.push({ kind: 'cycle', addr: dteAddr, level: 1, message: `DTE ${d} at ${hex(dteAddr)} = ${hex(dte)} names the directory table itself as a page table (the walker would read DTEs as PTEs); not followed` });
        continue;
      }
      if (!mem.isBacked(pt, RK_SPAGE_SIZE)) {
        problems.push({ kind: 'outside-dump', addr: dteAddr, level: 1, message: `DTE ${d} at ${hex(dteAddr)} = ${hex(dte)} names page table ${hex(pt)}, which is not in memory (IOVA ${hex(d * RK_PT_SPAN)}..${hex((d + 1) * RK_PT_SPAN - 1)} unreadable)` });
        continue;
      }
      for (let p = 0; p < RK_NUM_PT_ENTRIES; p++) {
        const pteAddr = pt + p * 4;
        const pte = mem.read32(pteAddr);
        if (pte === ACCESS_FAULT || !ops.pteIsValid(pte)) continue;
        if (pte & ops.reservedMask(2))
          problems.push({ kind: 'reserved', addr: pteAddr, level: 2, message: `PTE at ${hex(pteAddr)} = ${hex(pte)} has reserved bits ${hex(pte & ops.reservedMask(2))} set` });
        const iova = d * RK_PT_SPAN + p * RK_SPAGE_SIZE;
        const phys = ops.pteAddress(pte);
        if (phys >= limit) {
          problems.push({ kind: 'address-size', addr: pteAddr, level: 2, message: `PTE at ${hex(pteAddr)} = ${hex(pte)} maps IOVA ${hex(iova)} to ${hex(phys)}, beyond the ${params.cfg.oas}-bit output size` });
          continue;
        }
        const prot = protOfPte(pte);
        if (run && run.iova + run.size === iova && run.phys + run.size === phys && run.prot === prot) {
          run.size += RK_SPAGE_SIZE;
        } else {
          run = { iova, phys, size: RK_SPAGE_SIZE, prot };
          mappings.push(run);
        }
      }
    }
    return { mappings, problems };
  };

  const format: PageTableFormat = {
    name,
    description:
      variant === 'v1'
        ? 'Rockchip IOMMU v1 ("rockchip,iommu"): 2 levels of 32-bit entries, 4 KiB pages, 32-bit physical addresses'
        : 'Rockchip IOMMU v2 ("rockchip,rk3568-iommu"): 2 levels of 32-bit entries, 4 KiB pages, 40-bit addresses packed into bits 11:4',
    entryBytes: 4,
    resolveConfig,
    create(cfg: FormatConfig, host: TableHost): PageTable | null {
      const rc = resolveConfig(cfg);
      // rk_iommu_domain_alloc_paging: one zeroed page for the DT (RK:1087-1093).
      const dt = host.allocTable(RK_SPAGE_SIZE, RK_SPAGE_SIZE);
      if (dt === null) return null;
      return new RockchipTable(format, rc, host, dt);
    },
    decodeRootRegister(raw: number): number[] {
      if (!Number.isInteger(raw) || raw < 0 || raw >= TWO32)
        throw new InputError(`${name}: DTE_ADDR value ${String(raw)} is not a 32-bit register value`);
      return [ops.decodeDteAddrReg(raw)];
    },
    walk,
    enumerate,
    describeEntry(level: number, lo: number): EntryDescription {
      return describeRockchip(ops, level, lo >>> 0);
    },
  };
  return format;
}

export const rockchipV1Format: PageTableFormat = makeFormat('v1');
export const rockchipV2Format: PageTableFormat = makeFormat('v2');
export const rockchipFormats: PageTableFormat[] = [rockchipV1Format, rockchipV2Format];

