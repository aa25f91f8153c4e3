/**
 * Helpers for the LPAE tests: the LPAE fields of the oracle JSON (the common part is in ./oracle.ts),
 * and a TableHost over PhysMem that hands out table pages with a bump pointer and
 * records every callback the format makes.
 */
import { PhysMem } from '../../src/mem/phys-mem.js';
import type { TableHost } from '../../src/formats/types.js';
import { loadOracleCase, type OracleCase, type OracleOp } from './oracle.js';

/** The LPAE cases also count table frees and walk flushes, and poke raw words. */
export interface LpaeOracleOp extends OracleOp {
  table_frees: number;
  tlb_flush_walk: number;
  phys?: string;
  width?: number;
  value?: string;
}
export interface LpaeOracleCase extends OracleCase<LpaeOracleOp> {
  config: {
    granule: number;
    pgsize_bitmap: string;
    ias: number;
    oas: number;
    quirks: string[];
    coherent_walk: boolean;
    levels: number;
    start_level: number;
    bits_per_level: number;
    pgd_bits: number;
    pgd_size: number;
  };
  stats: Record<string, number>;
}

export function loadLpaeCase(stem: string): LpaeOracleCase {
  return loadOracleCase<LpaeOracleCase>(stem);
}

export interface Recorded {
  allocs: { pa: number; size: number; align: number }[];
  frees: { pa: number; size: number }[];
  syncs: { pa: number; size: number }[];
  flushWalk: { iova: number; size: number; granule: number }[];
  addPage: { iova: number; granule: number }[];
  flushAll: number;
  warns: { file: string; line: number; cond: string }[];
}

/**
 * A TableHost over `mem` whose tables come from a bump pointer at `base`, one naturally aligned
 * allocation of max(size, 4K) each (as the kernel's page allocator hands out whole pages), zeroed.
 * `failAfter` makes the n-th and later allocations fail (null), as a refused allocation or a failed
 * dma == phys check would.
 */
export class BumpHost implements TableHost {
  next: number;
  failAfter = Infinity;
  rec: Recorded = { allocs: [], frees: [], syncs: [], flushWalk: [], addPage: [], flushAll: 0, warns: [] };

  constructor(
    readonly mem: PhysMem,
    base: number,
  ) {
    this.next = base;
  }

  allocTable(size: number, align: number): number | null {
    if (this.rec.allocs.length >= this.failAfter) return null;
    const a = Math.max(align, 4096);
    const pa = Math.ceil(this.next / a) * a;
    this.next = pa + Math.max(size, 4096);
    this.mem.fill(pa, Math.max(size, 4096), 0);
    this.rec.allocs.push({ pa, size, align });
    return pa;
  }
  freeTable(pa: number, size: number): void {
    this.rec.frees.push({ pa, size });
  }
  syncTable(pa: number, size: number): void {
    this.rec.syncs.push({ pa, size });
  }
  tlbFlushAll(): void {
    this.rec.flushAll++;
  }
  tlbFlushWalk(iova: number, size: number, granule: number): void {
    this.rec.flushWalk.push({ iova, size, granule });
  }
  tlbAddPage(iova: number, granule: number): void {
    this.rec.addPage.push({ iova, granule });
  }
  warn(file: string, line: number, cond: string): void {
    this.rec.warns.push({ file, line, cond });
  }
}

/** 64-bit descriptor at pa as a lowercase hex string like the oracle's ("0x0" for zero). */
export function entryHex(lo: number, hi: number): string {
  return '0x' + ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString(16);
}
