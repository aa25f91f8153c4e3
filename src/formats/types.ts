/**
 * One interface for every IOMMU page-table format, in the spirit of the kernel's io-pgtable ops: a
 * format builds tables (map/unmap/iova_to_phys exactly as the 6.12 code does, descriptor for
 * descriptor) and walks tables it finds in memory (as the hardware would, reporting every step).
 *
 * A format never decides where its tables live: it asks `TableHost.allocTable`, which the kernel model
 * implements with its page allocator and DMA API (so a table can land above 4 GiB, or be refused), and
 * a plain test allocator implements with a bump pointer. It writes descriptors through `TableHost.mem`,
 * the CPU's view of physical memory.
 *
 * 64-bit descriptors are handled as two 32-bit halves (lo, hi); nothing here uses BigInt.
 */
import type { MemReader, MemWriter } from '../mem/phys-mem.js';

/** The kernel's IOMMU_* prot flags (include/linux/iommu.h). */
export const IOMMU_READ = 1 << 0;
export const IOMMU_WRITE = 1 << 1;
export const IOMMU_CACHE = 1 << 2;
export const IOMMU_NOEXEC = 1 << 3;
export const IOMMU_MMIO = 1 << 4;
export const IOMMU_PRIV = 1 << 5;

export function protNames(prot: number): string {
  const names: string[] = [];
  if (prot & IOMMU_READ) names.push('READ');
  if (prot & IOMMU_WRITE) names.push('WRITE');
  if (prot & IOMMU_CACHE) names.push('CACHE');
  if (prot & IOMMU_NOEXEC) names.push('NOEXEC');
  if (prot & IOMMU_MMIO) names.push('MMIO');
  if (prot & IOMMU_PRIV) names.push('PRIV');
  return names.join('|') || 'NONE';
}

export const ENOMEM = 12;
export const EINVAL = 22;
export const EEXIST = 17;
export const EADDRINUSE = 98;
export const ERANGE = 34;

export interface FormatConfig {
  /** Granule (smallest page) in bytes: 4096, 16384 or 65536 where the format has a choice. */
  granule?: number;
  /** Input (IOVA) address bits. */
  ias?: number;
  /** Output (physical) address bits. */
  oas?: number;
  /** io-pgtable quirks by kernel name without the prefix: 'ARM_NS', 'ARM_TTBR1', 'ARM_OUTER_WBWA', ... */
  quirks?: string[];
  /** Whether the walker snoops CPU caches (cfg->coherent_walk). Non-coherent tables are synced after writes. */
  coherentWalk?: boolean;
  /** pgsize_bitmap requested by the driver; the format restricts it as the kernel does. */
  pgsizeBitmap?: number;
  /**
   * How the IOMMU block encodes its base register, where one format is driven by blocks that differ
   * (Apple DART2 tables behind t6000-style 't8020' TTBRs or 't8110' TTBRs). Default: the format's own.
   */
  rootRegisterEncoding?: string;
  /**
   * The CPU's PAGE_SIZE (4096 unless the kernel is built for 16K/64K pages). io-pgtable-arm picks its
   * granule from pgsize_bitmap by comparing with it (arm_lpae_restrict_pgsizes). Default 4096.
   */
  cpuPageSize?: number;
}

/** The configuration after the format's init function adjusted it (as alloc_io_pgtable_ops does). */
export interface ResolvedConfig {
  granule: number;
  ias: number;
  oas: number;
  quirks: string[];
  coherentWalk: boolean;
  pgsizeBitmap: number;
  levels: number;
  /** Format-specific facts: start_level, bits_per_level, pgd_size, n_ttbrs, ... */
  [k: string]: unknown;
}

/** What a format needs from whoever owns the tables (the kernel model, or a test). */
export interface TableHost {
  /** CPU view: descriptors are written here at physical addresses. */
  mem: MemWriter;
  /**
   * A zeroed table of `size` bytes aligned to `align`; returns its physical address, or null when the
   * allocation (or the kernel's DMA mapping checks around it) fails: the format then returns -ENOMEM.
   */
  allocTable(size: number, align: number): number | null;
  freeTable(pa: number, size: number): void;
  /** Non-coherent walkers: make [pa, pa+size) visible to the device (dma_sync_single_for_device). */
  syncTable?(pa: number, size: number): void;
  /** TLB maintenance callbacks (io_pgtable_tlb_*), counted or forwarded by the host. */
  tlbFlushAll?(): void;
  tlbFlushWalk?(iova: number, size: number, granule: number): void;
  tlbAddPage?(iova: number, granule: number): void;
  /** Kernel WARN_ON / printk from inside the format code (file:line of the kernel source). */
  warn?(file: string, line: number, cond: string): void;
}

/** Read-only: a format may hand out one shared object for its most common result. */
export interface MapResult {
  /** 0 or -errno, as the kernel returns. */
  readonly ret: number;
  /** Bytes mapped before stopping. */
  readonly mapped: number;
}

/** A live page table built by a format (io_pgtable_ops). */
export interface PageTable {
  readonly format: PageTableFormat;
  readonly cfg: ResolvedConfig;
  /** Physical addresses of the top-level table(s) (DART has several TTBRs). */
  readonly roots: number[];
  /** The base-register values a driver would program, by register name (hex strings for > 32 bits). */
  registers(): Record<string, string>;
  mapPages(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number): MapResult;
  /**
   * Returns bytes unmapped (0 when nothing was mapped there). `gather` is the caller's
   * iommu_iotlb_gather as io-pgtable sees it: omitted = a strict gather (tlbAddPage per unmapped entry),
   * { queued: true } = a flush-queue gather (tlbAddPage skipped), null = none: then each format does
   * what its kernel code does, io-pgtable-arm adds no page (LP:687), io-pgtable-dart still adds them.
   */
  unmapPages(iova: number, pgsize: number, pgcount: number, gather?: { queued: boolean } | null): number;
  /** The kernel's iova_to_phys: 0 when not mapped. Allocation-free. */
  iovaToPhys(iova: number): number;
  /** Free every table page (free_io_pgtable_ops). */
  free(): void;
}

export type StepKind = 'table' | 'block' | 'page' | 'invalid' | 'bogus';

export interface WalkStep {
  level: number;
  tableAddr: number;
  index: number;
  entryAddr: number;
  /** Low and high 32 bits of the descriptor (hi is 0 for 32-bit formats). */
  entryLo: number;
  entryHi: number;
  kind: StepKind;
}

/**
 * Why a walk did not produce an address, in hardware terms:
 * translation (an invalid entry), permission, address-size (output beyond OAS, or a table address the
 * walker cannot express), outside-ias (IOVA bits above the input size), bus (the walker's read hit a
 * hole or was beyond its bus), reserved (reserved bits set / a malformed entry), loop (a table that
 * points back into the walk).
 */
/** What stops a walk. 'outside-dump' only from `iommu-lab walk`: a 'bus' fault on bytes a dump lacks. */
export type FaultKind = 'translation' | 'permission' | 'address-size' | 'outside-ias' | 'bus' | 'reserved' | 'loop' | 'outside-dump';

export interface WalkResult {
  iova: number;
  /** Physical address of the byte at iova, or null. */
  phys: number | null;
  /** IOMMU_* prot of the leaf (0 when none). */
  prot: number;
  /** Size of the leaf mapping (page or block) in bytes, 0 when unmapped. */
  leafSize: number;
  fault: FaultKind | null;
  /** Words for the fault, e.g. "level 2 entry at 0x... reads 0x0 (invalid)". */
  detail?: string;
  /**
   * For a 'bus' fault: the read nothing answered (its physical address, and which entry it was). On a
   * dump that means the dump does not hold it: `iommu-lab walk` says so, and why.
   */
  faultRead?: { addr: number; what: string };
  steps: WalkStep[];
  /**
   * Oddities that did not stop the walker but a reader should know (reserved bits set, a table that is
   * also an upper-level table of the same walk). Absent when there is nothing to say.
   */
  notes?: string[];
}

/** A walk that stops: record the fault and its words on `res` and return it. */
export function walkFail(res: WalkResult, fault: FaultKind, detail: string): WalkResult {
  res.fault = fault;
  res.detail = detail;
  return res;
}

/** A walk that stops because nothing answers the read of `what` at `addr` (a bus fault). */
export function busFault(res: WalkResult, addr: number, what: string): WalkResult {
  res.faultRead = { addr, what };
  return walkFail(res, 'bus', `${what}: no memory answers the walker's read`);
}

/** Parameters for walking tables found in memory (dump inspector, hardware walker). */
export interface WalkParams {
  /** Top-level table physical addresses, in order (TTBR0..3 for DART). */
  roots: number[];
  cfg: ResolvedConfig;
}

export interface MappingRun {
  iova: number;
  phys: number;
  size: number;
  prot: number;
}

export interface WalkProblem {
  kind: FaultKind | 'cycle' | 'outside-dump' | 'root';
  /** Where: the entry's physical address, or the root. */
  addr: number;
  level?: number;
  message: string;
  /**
   * An 'outside-dump' page of a table whose other pages the dump holds (makedumpfile leaves zero
   * pages out): no sign that the table was misread, as a table missing whole can be.
   */
  partial?: true;
}

export interface EnumerateResult {
  mappings: MappingRun[];
  problems: WalkProblem[];
}

export interface EntryDescription {
  valid: boolean;
  kind: StepKind;
  /** Output or next-table address decoded from the entry (null when none). */
  address: number | null;
  prot: number;
  /** Field-by-field words: [name, value text]. */
  fields: [string, string][];
  reservedBitsSet: boolean;
}

export interface PageTableFormat {
  readonly name: string;
  readonly description: string;
  /** Entry size in bytes (4 or 8). */
  readonly entryBytes: number;
  /** The init function's config resolution (alloc_io_pgtable_ops); throws InputError for an impossible config. */
  resolveConfig(cfg: FormatConfig): ResolvedConfig;
  /** Build an empty table (allocates the root(s) through host). null when allocation failed. */
  create(cfg: FormatConfig, host: TableHost): PageTable | null;
  /** Decode a raw base-register value into root table address(es). */
  decodeRootRegister(raw: number, cfg: ResolvedConfig): number[];
  /** A hardware-faithful walk of one IOVA through tables in `mem`. Reports problems as faults. */
  walk(mem: MemReader, params: WalkParams, iova: number): WalkResult;
  /** Every valid mapping, merged into contiguous runs, plus problems found on the way. */
  enumerate(mem: MemReader, params: WalkParams): EnumerateResult;
  /** One descriptor in words (for `decode` and `--explain`). */
  describeEntry(level: number, lo: number, hi: number, cfg: ResolvedConfig): EntryDescription;
}
