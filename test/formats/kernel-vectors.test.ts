/**
 * Replays the kernel vectors (test/fixtures/kernel-vectors/*.json.gz, made by `npm run vectors` from
 * the kernel's own io-pgtable-arm.c / io-pgtable-dart.c, see the README there) through our formats:
 * the same configuration, the same calls in the same order, table pages handed out at the same
 * addresses. Every call must return what the kernel returned and raise the same events in the same
 * order (WARN_ON file:line, TLB callbacks, syncs of table entries, table pages freed); afterwards the
 * base registers, the table region byte for byte (FNV-1a), iova_to_phys on every probe, the walker on
 * every probe within ias, and what freeing the tables releases.
 */
import { describe, expect, it } from 'vitest';
import { getFormat } from '../../src/formats/index.js';
import type { PageTable } from '../../src/formats/types.js';
import { PhysMem } from '../../src/mem/phys-mem.js';
import { type Event, KernelLikeHost, REGION, fnv1a, hex, hostFor, hx, loadVector, vectorConfig, vectorFiles } from './kernel-vectors-helpers.js';

const files = vectorFiles();

describe('kernel vectors (the kernel io-pgtable code on pseudo-random call sequences)', () => {
  it('are all here', () => {
    // One per configuration of bench/kernel-vectors.ts (22 io-pgtable, 3 Rockchip); a missing file
    // would silently test less.
    expect(files.length).toBe(28);
    expect(files.filter((f) => f.startsWith('rockchip-')).length).toBe(3);
  });

  describe.each(files)('%s', (file) => {
    const v = loadVector(file);
    const { config, iovaOf, ttbr1 } = vectorConfig(v);
    const fmt = getFormat(v.format);
    const tbase = hx(v.tbase);
    const ev = (events: Event[]): Event[] =>
      ttbr1 ? events.map((e) => (e[0] === 'tlb_add_page' || e[0] === 'tlb_flush_walk' ? [e[0], hex(iovaOf(String(e[1]))), ...e.slice(2)] : e) as Event) : events;

    if (v.alloc === null) {
      it('is refused, as the kernel refused it', () => {
        // alloc_io_pgtable_ops returned NULL: our create refuses with an InputError (or null).
        const mem = new PhysMem([{ base: tbase, size: REGION }]);
        let t: PageTable | null | 'threw';
        try {
          t = fmt.create(config, new KernelLikeHost(mem, tbase));
        } catch (e) {
          expect((e as Error).name).toBe('InputError');
          t = 'threw';
        }
        expect(t === null || t === 'threw').toBe(true);
      });
      return;
    }

    it('replays every call, then matches registers, tables, probes and the final free', () => {
      const alloc = v.alloc!;
      const mem = new PhysMem([{ base: tbase, size: REGION }]);
      // Rockchip (drivers/iommu/rockchip-iommu.c, not io-pgtable): the driver reports a map over an
      // existing mapping with pr_err (rockchip-iommu.c:829), not a WARN_ON. The vectors record that print
      // as ["warn", "rockchip-iommu.c", 829, message] (the message as the kernel's vsprintf formats it)
      // and our format raises it as TableHost.warn with the same file, line and words: the host for
      // Rockchip records the message too, so the words are compared as well as the place.
      const host = hostFor(v, mem, tbase);
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
