/**
 * The kernel-built oracle cases of test/fixtures/oracle/ (schema iommu-lab-oracle/1, see the README
 * there), shared by the LPAE, DART and Rockchip tests: the JSON's common shape, its hex strings, and
 * the ELF core each case ships, read through src/dump/elf.ts.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ElfDump } from '../../src/dump/elf.js';

export const ORACLE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'oracle');

export interface OracleStep {
  level: number;
  table: string;
  index: number;
  pte_addr: string;
  pte: string;
  kind: string;
}
export interface OracleProbe {
  iova: string;
  phys: string;
  tag: string;
  after_op: number;
  final: boolean;
  outside_ias: boolean;
  left_dump: boolean;
  walk: OracleStep[];
}
export interface OracleOp {
  op_index: number;
  op: 'map_pages' | 'unmap_pages' | 'poke';
  iova: string;
  paddr?: string;
  pgsize: string;
  pgcount: number;
  prot?: number;
  ret?: number;
  mapped?: string;
  unmapped?: string;
  table_allocs: number;
  tlb_add_page: number;
}
export interface OracleCase<Op extends OracleOp = OracleOp> {
  case: string;
  format: string;
  /** File name of the case's ELF core in ORACLE_DIR. */
  core: string;
  config: Record<string, unknown> & { granule: number; ias: number; oas: number };
  registers: Record<string, unknown>;
  root: string;
  memory: { region: string; phys: string; size: string }[];
  ops: Op[];
  probes: OracleProbe[];
  kernel_messages: { op: number; kind: string; file?: string; line?: number; cond?: string; text?: string }[];
}

/** A hex string of the oracle as a number (they are all < 2^53 where we use them this way). */
export function hx(s: string): number {
  const n = Number(BigInt(s));
  if (!Number.isSafeInteger(n)) throw new Error(`hex ${s} beyond 2^53`);
  return n;
}

/** A 64-bit hex string as [lo, hi]. */
export function hx64(s: string): [number, number] {
  const b = BigInt(s);
  return [Number(b & 0xffffffffn), Number(b >> 32n)];
}

export function loadOracleCase<C extends OracleCase = OracleCase>(stem: string): C {
  return JSON.parse(readFileSync(join(ORACLE_DIR, `${stem}.json`), 'utf8')) as C;
}

/** The case's ELF core (PT_LOADs by p_paddr) as a MemReader; close() it when done. */
export function openOracleCore(c: OracleCase): ElfDump {
  return new ElfDump(join(ORACLE_DIR, c.core));
}
