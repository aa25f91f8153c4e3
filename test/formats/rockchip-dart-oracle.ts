/**
 * Test helpers for the Rockchip and DART oracle cases (test/fixtures/oracle/, copied from the kernel-built
 * samples): a minimal ELF64 core reader (PT_LOAD by p_paddr) good enough for these fixtures, the JSON
 * schema's hex strings, and a TableHost that records what the format asked for.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ACCESS_FAULT, PhysMem, type MemReader } from '../../src/mem/phys-mem.js';
import type { TableHost } from '../../src/formats/types.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'oracle');

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
export interface OracleCase {
  format: string;
  config: Record<string, unknown> & { granule: number; ias: number; oas: number };
  registers: Record<string, unknown>;
  root: string;
  memory: { region: string; phys: string; size: string }[];
  ops: OracleOp[];
  probes: OracleProbe[];
  kernel_messages: { op: number; kind: string; file?: string; line?: number; cond?: string; text?: string }[];
}

export function h(s: string): number {
  const n = Number(BigInt(s));
  if (!Number.isSafeInteger(n)) throw new Error(`hex ${s} beyond 2^53`);
  return n;
}

/** A 64-bit hex string as [lo, hi]. */
export function h64(s: string): [number, number] {
  const b = BigInt(s);
  return [Number(b & 0xffffffffn), Number(b >> 32n)];
}

export function loadCase(stem: string): OracleCase {
  return JSON.parse(readFileSync(join(FIXTURES, `${stem}.json`), 'utf8')) as OracleCase;
}

interface Segment {
  paddr: number;
  size: number;
  data: DataView;
}

/** The PT_LOAD segments of an ELF64 little-endian core, readable by physical address. */
export class CoreMem implements MemReader {
  readonly segments: Segment[] = [];

  constructor(buf: Buffer) {
    if (buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) throw new Error('not an ELF64 LE file');
    const phoff = Number(buf.readBigUInt64LE(0x20));
    const phentsize = buf.readUInt16LE(0x36);
    const phnum = buf.readUInt16LE(0x38);
    for (let i = 0; i < phnum; i++) {
      const p = phoff + i * phentsize;
      if (buf.readUInt32LE(p) !== 1) continue; // PT_LOAD
      const offset = Number(buf.readBigUInt64LE(p + 8));
      const paddr = Number(buf.readBigUInt64LE(p + 24));
      const filesz = Number(buf.readBigUInt64LE(p + 32));
      this.segments.push({ paddr, size: filesz, data: new DataView(buf.buffer, buf.byteOffset + offset, filesz) });
    }
  }

  static load(stem: string): CoreMem {
    return new CoreMem(readFileSync(join(FIXTURES, `${stem}.core`)));
  }

  private seg(addr: number, len: number): Segment | undefined {
    return this.segments.find((s) => addr >= s.paddr && addr + len <= s.paddr + s.size);
  }

  read32(addr: number): number {
    const s = this.seg(addr, 4);
    return s ? s.data.getUint32(addr - s.paddr, true) : ACCESS_FAULT;
  }

  isBacked(addr: number, len: number): boolean {
    return this.seg(addr, len) !== undefined;
  }
}

/** A host over PhysMem handing out table addresses from a list (the oracle's order), recording calls. */
export class ListHost implements TableHost {
  readonly warnings: { file: string; line: number; cond: string }[] = [];
  readonly synced: [number, number][] = [];
  readonly freed: number[] = [];
  tlbPages = 0;
  private next = 0;

  constructor(
    readonly mem: PhysMem,
    private readonly addrs: number[],
  ) {}

  allocTable(): number | null {
    if (this.next >= this.addrs.length) return null;
    return this.addrs[this.next++];
  }
  freeTable(pa: number): void {
    this.freed.push(pa);
  }
  syncTable(pa: number, size: number): void {
    this.synced.push([pa, size]);
  }
  tlbAddPage(): void {
    this.tlbPages++;
  }
  warn(file: string, line: number, cond: string): void {
    this.warnings.push({ file, line, cond });
  }
  get allocated(): number {
    return this.next;
  }
}

/** A bump allocator host for property tests. */
export class BumpHost implements TableHost {
  readonly warnings: string[] = [];
  private cursor: number;
  constructor(
    readonly mem: PhysMem,
    base: number,
    private readonly minAlign = 1,
  ) {
    this.cursor = base;
  }
  allocTable(size: number, align: number): number | null {
    const a = Math.max(align, this.minAlign);
    this.cursor = Math.ceil(this.cursor / a) * a;
    const pa = this.cursor;
    this.cursor += size;
    return pa;
  }
  freeTable(): void {}
  warn(file: string, line: number, cond: string): void {
    this.warnings.push(`${file}:${line}: ${cond}`);
  }
}

export function memFor(c: OracleCase): PhysMem {
  return new PhysMem(c.memory.map((m) => ({ base: h(m.phys), size: h(m.size), name: m.region })));
}
