/**
 * Replays the kernel vectors (test/fixtures/kernel-vectors/*.json.gz, made by `npm run vectors` from
 * the kernel's own io-pgtable-arm.c / io-pgtable-dart.c, see the README there) through our formats:
 * the same configuration, the same calls in the same order, table pages handed out at the same
 * addresses. Every call must return what the kernel returned and raise the same events in the same
 * order (WARN_ON file:line, TLB callbacks, syncs of table entries, table pages freed); afterwards the
 * base registers, the table region byte for byte (FNV-1a), iova_to_phys on every probe, the walker on
 * every probe within ias, and what freeing the tables releases.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { getFormat } from '../../src/formats/index.js';
import type { PageTable, TableHost } from '../../src/formats/types.js';
import { PhysMem } from '../../src/mem/phys-mem.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'kernel-vectors');
/** Must match bench/kernel-vectors.ts (the region the kernel's allocator had). */
const REGION = 64 * 1024 * 1024;

type Event = [string, ...(string | number)[]];
interface MapCall {
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
interface UnmapCall {
  op: 'unmap';
  iova: string;
  pgsize: string;
  pgcount: number;
  queued: boolean;
  ret: string;
  events: Event[];
}
interface Vector {
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

const hx = (s: string): number => {
  const v = Number(BigInt(s));
  if (!Number.isSafeInteger(v)) throw new Error(`vector value ${s} is not a safe integer`);
  return v;
};
const hex = (v: number): string => '0x' + v.toString(16);

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
class KernelLikeHost implements TableHost {
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

function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h;
}

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json.gz'))
  .sort();

describe('kernel vectors (the kernel io-pgtable code on pseudo-random call sequences)', () => {
  it('are all here', () => {
    // One per configuration of bench/kernel-vectors.ts; a missing file would silently test less.
    expect(files.length).toBe(22);
  });

  describe.each(files)('%s', (file) => {
    const v = JSON.parse(gunzipSync(readFileSync(join(DIR, file))).toString('utf8')) as Vector;
    const quirkBits = hx(v.in.quirks);
    const config = {
      pgsizeBitmap: hx(v.in.pgsize_bitmap),
      ias: v.in.ias,
      oas: v.in.oas,
      coherentWalk: v.in.coherent_walk,
      quirks: QUIRK_BITS.filter(([bit]) => quirkBits & (1 << bit)).map(([, n]) => n),
    };
    const fmt = getFormat(v.format);
    const tbase = hx(v.tbase);
    // ARM_TTBR1: the kernel's IOVAs have every bit above ias set (the top of the 64-bit space); ours
    // are their low ias bits (a JS number cannot hold the rest; see PageTable and lpae.ts).
    const ttbr1 = config.quirks.includes('ARM_TTBR1');
    const low = (BigInt(1) << BigInt(v.in.ias)) - BigInt(1);
    const iovaOf = (s: string): number => (ttbr1 ? Number(BigInt(s) & low) : hx(s));
    const ev = (events: Event[]): Event[] =>
      ttbr1 ? events.map((e) => (e[0] === 'tlb_add_page' || e[0] === 'tlb_flush_walk' ? [e[0], hex(iovaOf(String(e[1]))), ...e.slice(2)] : e) as Event) : events;

    if (v.alloc === null) {
      it('is refused, as the kernel refused it', () => {
        const mem = new PhysMem([{ base: tbase, size: REGION }]);
        let t: PageTable | null = null;
        try {
          t = fmt.create(config, new KernelLikeHost(mem, tbase));
        } catch (e) {
          expect((e as Error).name).toBe('InputError');
          return;
        }
        expect(t).toBeNull();
      });
      return;
    }

    it('replays every call, then matches registers, tables, probes and the final free', () => {
      const alloc = v.alloc!;
      const mem = new PhysMem([{ base: tbase, size: REGION }]);
      const host = new KernelLikeHost(mem, tbase);
      const t = fmt.create(config, host) as PageTable;
      expect(t).not.toBeNull();
      expect(hex(t.cfg.pgsizeBitmap)).toBe(alloc.pgsize_bitmap);
      expect([t.cfg.ias, t.cfg.oas]).toEqual([alloc.ias, alloc.oas]);
      expect(host.take()).toEqual(ev(alloc.events));

      for (const [i, c] of (v.calls ?? []).entries()) {
        const where = `call ${i}: ${c.op} ${c.iova} ${c.pgsize} x${c.pgcount}`;
        if (c.op === 'map') {
          const r = t.mapPages(iovaOf(c.iova), hx(c.paddr), hx(c.pgsize), c.pgcount, c.prot);
          expect([r.ret, hex(r.mapped)], where).toEqual([c.ret, c.mapped]);
        } else {
          const n = t.unmapPages(iovaOf(c.iova), hx(c.pgsize), c.pgcount, { queued: c.queued });
          expect(hex(n), where).toBe(c.ret);
        }
        expect(host.take(), where).toEqual(ev(c.events));
      }

      if (v.registers) {
        const regs = t.registers();
        for (const [k, want] of Object.entries(v.registers)) expect(regs[k], `register ${k}`).toBe(want);
      }
      if (v.roots) expect(t.roots.map(hex)).toEqual(v.roots);

      const end = hx(v.tables!.end);
      expect(hex(host.next)).toBe(hex(end));
      expect(hex(fnv1a(mem.readBytes(tbase, end - tbase) as Uint8Array))).toBe(hex(hx(v.tables!.fnv1a)));

      const params = { roots: t.roots, cfg: t.cfg };
      for (const [iovaS, physS] of v.probes ?? []) {
        const iova = iovaOf(iovaS);
        expect(hex(t.iovaToPhys(iova)), `iova_to_phys ${iovaS}`).toBe(physS);
        // The walker models the hardware: for an IOVA within ias it gives the kernel's answer (null
        // where the kernel says 0) - except where the kernel's answer is beyond OAS. map_pages checks
        // only the first page's address against OAS, so a pgcount run can go past it; the kernel's
        // software walk returns such an address, a hardware walk faults (address size).
        if (iova < 2 ** v.in.ias) {
          const w = fmt.walk(mem, params, iova);
          const phys = hx(physS);
          if (phys >= 2 ** v.in.oas) expect(w.fault, `walk ${iovaS}`).toBe('address-size');
          else expect(w.phys === null ? '0x0' : hex(w.phys), `walk ${iovaS}`).toBe(physS);
        }
      }

      t.free();
      expect(host.take()).toEqual(ev(v.free!.events));
    });
  });
});
