/**
 * Test helpers for the Rockchip and DART oracle cases (test/fixtures/oracle/, copied from the kernel-built
 * samples; the case JSON and core are read by ./oracle.ts): TableHosts that record what the format asked
 * for, and PhysMem shaped like the case's memory.
 */
import { PhysMem } from '../../src/mem/phys-mem.js';
import type { TableHost } from '../../src/formats/types.js';
import { hx, type OracleCase } from './oracle.js';

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
  return new PhysMem(c.memory.map((m) => ({ base: hx(m.phys), size: hx(m.size), name: m.region })));
}
