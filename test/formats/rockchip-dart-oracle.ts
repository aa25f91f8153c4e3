/**
 * Test helpers for the Rockchip and DART oracle cases (test/fixtures/oracle/, copied from the kernel-built
 * samples; the case JSON and core are read by ./oracle.ts): TableHosts that record what the format asked
 * for, PhysMem shaped like the case's memory, and the checks both formats' oracle and property tests make.
 */
import { expect } from 'vitest';
import { PhysMem } from '../../src/mem/phys-mem.js';
import type { MappingRun, PageTable, PageTableFormat, TableHost, WalkParams } from '../../src/formats/types.js';
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

/** Replay the case's map_pages/unmap_pages calls on `pt`, each returning what the kernel's did. */
export function replayOps(pt: PageTable, c: OracleCase): void {
  for (const op of c.ops) {
    if (op.op === 'map_pages') {
      const r = pt.mapPages(hx(op.iova), hx(op.paddr!), hx(op.pgsize), op.pgcount, op.prot!);
      expect(r.ret, `op ${op.op_index}`).toBe(op.ret);
      expect(r.mapped).toBe(hx(op.mapped!));
    } else if (op.op === 'unmap_pages') {
      expect(pt.unmapPages(hx(op.iova), hx(op.pgsize), op.pgcount)).toBe(hx(op.unmapped!));
    }
  }
}

/** Every final probe inside the IAS translates through the enumerated runs to the kernel's answer (0: in no run). */
export function expectRunsGiveProbes(mappings: MappingRun[], c: OracleCase): void {
  for (const p of c.probes.filter((q) => q.final && !q.outside_ias)) {
    const iova = hx(p.iova);
    const run = mappings.find((m) => iova >= m.iova && iova < m.iova + m.size);
    expect(run ? run.phys + (iova - run.iova) : 0, p.iova).toBe(hx(p.phys));
  }
}

/** What the property tests mapped: page IOVA -> page PA and IOMMU_* prot. */
export type PageRef = Map<number, { phys: number; prot: number }>;

/** The byte at page + off: iova_to_phys and a hardware walk both give the reference's answer (0 / null if unmapped). */
export function expectTranslatesLikeRef(pt: PageTable, format: PageTableFormat, mem: PhysMem, ref: PageRef, page: number, off: number): void {
  const iova = page + off;
  const want = ref.get(iova - off);
  expect(pt.iovaToPhys(iova)).toBe(want ? want.phys + off : 0);
  const w = format.walk(mem, { roots: pt.roots, cfg: pt.cfg }, iova);
  expect(w.phys).toBe(want ? want.phys + off : null);
  if (want) expect(w.prot).toBe(want.prot);
}

/** Enumerating the tables finds no problem and exactly the reference's pages, each with its PA and prot. */
export function expectEnumeratesRef(format: PageTableFormat, mem: PhysMem, params: WalkParams, ref: PageRef, pageSize: number): void {
  const e = format.enumerate(mem, params);
  expect(e.problems).toEqual([]);
  expect(e.mappings.reduce((s, m) => s + m.size, 0)).toBe(ref.size * pageSize);
  for (const m of e.mappings) for (let off = 0; off < m.size; off += pageSize) expect(ref.get(m.iova + off)).toEqual({ phys: m.phys + off, prot: m.prot });
}
