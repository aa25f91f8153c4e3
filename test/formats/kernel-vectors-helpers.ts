/**
 * The kernel vectors (test/fixtures/kernel-vectors, see its README): loading, our configuration for
 * a vector, its IOVAs as our numbers, and a table host that allocates as the kernel's allocator did.
 * Used by test/formats/kernel-vectors.test.ts and test/cli/walk-kernel-vectors.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { getFormat } from '../../src/formats/index.js';
import type { FormatConfig, PageTable, TableHost } from '../../src/formats/types.js';
import { PhysMem } from '../../src/mem/phys-mem.js';

export const VECTORS_DIR = join(import.meta.dirname, '..', 'fixtures', 'kernel-vectors');
/** Must match bench/kernel-vectors.ts (the region the kernel's allocator had). */
export const REGION = 64 * 1024 * 1024;

export type Event = [string, ...(string | number)[]];
export interface MapCall {
  op: 'map';
  iova: string;
  paddr: string;
  pgsize: string;
  pgcount: number;
  prot: number;
  ret: number;
  mapped: string;
  events: Event[];
}
export interface UnmapCall {
  op: 'unmap';
  iova: string;
  pgsize: string;
  pgcount: number;
  queued: boolean;
  ret: string;
  events: Event[];
}
export interface Vector {
  name: string;
  format: string;
  in: { pgsize_bitmap: string; ias: number; oas: number; quirks: string; coherent_walk: boolean };
  tbase: string;
  alloc: { pgsize_bitmap: string; ias: number; oas: number; events: Event[] } | null;
  calls?: (MapCall | UnmapCall)[];
  registers?: Record<string, string>;
  roots?: string[];
  tables?: { end: string; fnv1a: string };
  probes?: [string, string][];
  free?: { events: Event[] };
}

export const hx = (s: string): number => {
  const v = Number(BigInt(s));
  if (!Number.isSafeInteger(v)) throw new Error(`vector value ${s} is not a safe integer`);
  return v;
};
export const hex = (v: number): string => '0x' + v.toString(16);

/** IO_PGTABLE_QUIRK_* bits (include/linux/io-pgtable.h:91-97) by our names. */
const QUIRK_BITS: [number, string][] = [
  [0, 'ARM_NS'],
  [5, 'ARM_TTBR1'],
  [6, 'ARM_OUTER_WBWA'],
  [7, 'ARM_HD'],
];

/**
 * The kernel vectors' allocator (bench/kernel-c/kshim.c): blocks of PAGE_SIZE << get_order(size),
 * naturally aligned, at increasing addresses, zeroed, never reused; freeing reports the block.
 */
export class KernelLikeHost implements TableHost {
  next: number;
  events: Event[] = [];
  constructor(
    readonly mem: PhysMem,
    readonly base: number,
  ) {
    this.next = base;
  }
  private static block(size: number): number {
    let b = 4096;
    while (b < size) b *= 2;
    return b;
  }
  allocTable(size: number): number | null {
    const b = KernelLikeHost.block(size);
    const pa = Math.ceil(this.next / b) * b;
    if (pa + b > this.base + REGION) return null;
    this.next = pa + b;
    return pa;
  }
  freeTable(pa: number, size: number): void {
    this.events.push(['free', hex(pa), hex(KernelLikeHost.block(size))]);
  }
  syncTable(pa: number, size: number): void {
    this.events.push(['sync', hex(pa), hex(size)]);
  }
  tlbFlushAll(): void {
    this.events.push(['tlb_flush_all']);
  }
  tlbFlushWalk(iova: number, size: number, granule: number): void {
    this.events.push(['tlb_flush_walk', hex(iova), hex(size), hex(granule)]);
  }
  tlbAddPage(iova: number, granule: number): void {
    this.events.push(['tlb_add_page', hex(iova), hex(granule)]);
  }
  warn(file: string, line: number): void {
    this.events.push(['warn', file, line]);
  }
  take(): Event[] {
    const e = this.events;
    this.events = [];
    return e;
  }
}

/**
 * KernelLikeHost for drivers that report a failure by printing rather than by WARN_ON (the Rockchip
 * driver's pr_err of a clash, rockchip-iommu.c:829): the kernel vectors record such a print as
 * ["warn", file, line, message] with the message as the kernel's vsprintf formats it
 * (bench/kernel-c/rockchip-vectors.c), and our formats report it through TableHost.warn with the same
 * words, so the message is compared too.
 */
export class PrintingHost extends KernelLikeHost {
  override warn(file: string, line: number, message?: string): void {
    this.events.push(['warn', file, line, message ?? '']);
  }
}

/** The host a vector's format is replayed with: the Rockchip driver's prints carry their message. */
export function hostFor(v: Vector, mem: PhysMem, base: number): KernelLikeHost {
  return v.format.startsWith('rockchip-') ? new PrintingHost(mem, base) : new KernelLikeHost(mem, base);
}

export function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h;
}

/** Every vector file, by name. */
export function vectorFiles(): string[] {
  return readdirSync(VECTORS_DIR)
    .filter((f) => f.endsWith('.json.gz'))
    .sort();
}

export function loadVector(file: string): Vector {
  return JSON.parse(gunzipSync(readFileSync(join(VECTORS_DIR, file))).toString('utf8')) as Vector;
}

/** Our configuration for a vector's `in`, and its IOVAs as our numbers. */
export function vectorConfig(v: Vector): { config: FormatConfig & { quirks: string[] }; iovaOf: (s: string) => number; ttbr1: boolean } {
  const quirkBits = hx(v.in.quirks);
  const config = {
    pgsizeBitmap: hx(v.in.pgsize_bitmap),
    ias: v.in.ias,
    oas: v.in.oas,
    coherentWalk: v.in.coherent_walk,
    quirks: QUIRK_BITS.filter(([bit]) => quirkBits & (1 << bit)).map(([, n]) => n),
  };
  // ARM_TTBR1: the kernel's IOVAs have every bit above ias set (the top of the 64-bit space); ours
  // are their low ias bits (a JS number cannot hold the rest; see PageTable and lpae.ts).
  const ttbr1 = config.quirks.includes('ARM_TTBR1');
  const low = (BigInt(1) << BigInt(v.in.ias)) - BigInt(1);
  const iovaOf = (s: string): number => (ttbr1 ? Number(BigInt(s) & low) : hx(s));
  return { config, iovaOf, ttbr1 };
}

/** A vector's calls replayed through our format (no checks: kernel-vectors.test.ts does those). */
export function replayVector(v: Vector): { mem: PhysMem; t: PageTable } {
  const { config, iovaOf } = vectorConfig(v);
  const tbase = hx(v.tbase);
  const mem = new PhysMem([{ base: tbase, size: REGION }]);
  const t = getFormat(v.format).create(config, new KernelLikeHost(mem, tbase));
  if (t === null) throw new Error(`${v.name}: refused`);
  for (const c of v.calls ?? []) {
    if (c.op === 'map') t.mapPages(iovaOf(c.iova), hx(c.paddr), hx(c.pgsize), c.pgcount, c.prot);
    else t.unmapPages(iovaOf(c.iova), hx(c.pgsize), c.pgcount, { queued: c.queued });
  }
  return { mem, t };
}
