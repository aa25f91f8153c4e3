/**
 * The three LPAE cases built by the kernel's own io-pgtable-arm.c (test/fixtures/oracle/lpae*):
 * (1) walk the tables in the core for every final probe and compare with the kernel's walk and answer;
 * (2) replay the recorded io-pgtable ops into fresh memory, with table pages handed out in the same
 *     order from the same region, and compare every table byte with the core, every return value,
 *     every callback count and every WARN.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { getFormat } from '../../src/formats/index.js';
import type { LpaeConfig } from '../../src/formats/lpae.js';
import { PhysMem } from '../../src/mem/phys-mem.js';
import { BumpHost, entryHex, loadLpaeCase } from './lpae-helpers.js';
import { hx, openOracleCore } from './oracle.js';

const CASES = ['lpae-s1-4k-ias48-oas48', 'lpae-s2-4k-ias48-oas48', 'lpae32-s1-4k-ias32-oas40'];

describe.each(CASES)('oracle case %s', (stem) => {
  const c = loadLpaeCase(stem);
  const fmt = getFormat(c.format);
  const cfg = fmt.resolveConfig({
    granule: c.config.granule,
    ias: c.config.ias,
    oas: c.config.oas,
    quirks: c.config.quirks,
    coherentWalk: c.config.coherent_walk,
    pgsizeBitmap: hx(c.config.pgsize_bitmap),
  }) as LpaeConfig;
  const dump = openOracleCore(c);
  afterAll(() => dump.close());
  const root = hx(c.root);

  it('resolves the configuration as the kernel did', () => {
    expect(cfg.pgsizeBitmap).toBe(hx(c.config.pgsize_bitmap));
    expect([cfg.ias, cfg.oas, cfg.granule, cfg.levels]).toEqual([c.config.ias, c.config.oas, c.config.granule, c.config.levels]);
    expect([cfg.startLevel, cfg.bitsPerLevel, cfg.pgdBits, cfg.pgdSize]).toEqual([
      c.config.start_level,
      c.config.bits_per_level,
      c.config.pgd_bits,
      c.config.pgd_size,
    ]);
    const ttbr = (c.registers.ttbr ?? c.registers.vttbr) as string;
    expect(fmt.decodeRootRegister(hx(ttbr), cfg)).toEqual([root]);
  });

  it('walks every final probe to the kernel answer, step by step', () => {
    const finals = c.probes.filter((p) => p.final);
    expect(finals.length).toBeGreaterThan(50);
    for (const p of finals) {
      const iova = hx(p.iova);
      const w = fmt.walk(dump, { roots: [root], cfg }, iova);
      const kphys = hx(p.phys);
      if (p.outside_ias) {
        // Hardware faults on input bits above ias; the kernel silently drops them. Our walk of the
        // aliased IOVA must give the kernel's answer.
        expect(w.fault, p.iova).toBe('outside-ias');
        expect(w.steps).toEqual([]);
        const alias = fmt.walk(dump, { roots: [root], cfg }, iova % 2 ** cfg.ias);
        expect(alias.phys ?? 0, p.iova).toBe(kphys);
        continue;
      }
      const bogusAt = p.walk.findIndex((s) => s.kind === 'bogus');
      const kSteps = bogusAt >= 0 ? p.walk.slice(0, bogusAt + 1) : p.walk;
      const ours = w.steps.map((s) => ({
        level: s.level,
        table: '0x' + s.tableAddr.toString(16),
        index: s.index,
        pte_addr: '0x' + s.entryAddr.toString(16),
        pte: entryHex(s.entryLo, s.entryHi),
        kind: s.kind,
      }));
      expect(ours, `${p.tag} ${p.iova}`).toEqual(kSteps);
      if (bogusAt >= 0) {
        expect(w.fault).not.toBeNull();
        continue;
      }
      if (kphys === 0) {
        expect(w.phys, p.iova).toBeNull();
        expect(w.fault).toBe('translation');
      } else {
        expect(w.fault, `${p.iova}: ${w.detail}`).toBeNull();
        expect(w.phys, p.iova).toBe(kphys);
      }
    }
  });

  it('replays the ops bit for bit: descriptors, returns, callbacks, WARNs', () => {
    const tables = c.memory.find((m) => m.region === 'tables')!;
    const banks = c.memory.map((m) => ({ base: hx(m.phys), size: hx(m.size) }));
    const mem = new PhysMem(banks);
    const host = new BumpHost(mem, hx(tables.phys));
    const t = fmt.create(
      { granule: c.config.granule, ias: c.config.ias, oas: c.config.oas, quirks: c.config.quirks, coherentWalk: c.config.coherent_walk, pgsizeBitmap: hx(c.config.pgsize_bitmap) },
      host,
    )!;
    expect(t.roots).toEqual([root]);
    const regs = t.registers();
    if (cfg.stage === 1) {
      const tcr = c.registers.tcr as Record<string, number>;
      expect(regs.ttbr).toBe(c.registers.ttbr);
      for (const k of ['ips', 'tg', 'sh', 'orgn', 'irgn', 'tsz']) expect(Number(regs[`tcr.${k}`]), k).toBe(tcr[k]);
      expect(regs.mair).toBe(c.registers.mair);
    } else {
      const vtcr = c.registers.vtcr as Record<string, number>;
      expect(regs.vttbr).toBe(c.registers.vttbr);
      for (const k of ['ps', 'tg', 'sh', 'orgn', 'irgn', 'sl', 'tsz']) expect(Number(regs[`vtcr.${k}`]), k).toBe(vtcr[k]);
    }
    for (const op of c.ops) {
      const before = { allocs: host.rec.allocs.length, frees: host.rec.frees.length, add: host.rec.addPage.length, walk: host.rec.flushWalk.length, warns: host.rec.warns.length };
      if (op.op === 'map_pages') {
        const r = t.mapPages(hx(op.iova), hx(op.paddr!), hx(op.pgsize), op.pgcount, op.prot!);
        expect(r.ret, `op ${op.op_index}`).toBe(op.ret);
        expect(r.mapped, `op ${op.op_index}`).toBe(hx(op.mapped!));
      } else if (op.op === 'unmap_pages') {
        expect(t.unmapPages(hx(op.iova), hx(op.pgsize), op.pgcount), `op ${op.op_index}`).toBe(hx(op.unmapped!));
      } else {
        throw new Error(`op ${op.op} not expected in LPAE cases`);
      }
      expect(host.rec.allocs.length - before.allocs, `allocs of op ${op.op_index}`).toBe(op.table_allocs);
      expect(host.rec.frees.length - before.frees, `frees of op ${op.op_index}`).toBe(op.table_frees);
      expect(host.rec.addPage.length - before.add, `tlb_add_page of op ${op.op_index}`).toBe(op.tlb_add_page);
      expect(host.rec.flushWalk.length - before.walk, `tlb_flush_walk of op ${op.op_index}`).toBe(op.tlb_flush_walk);
      const kw = c.kernel_messages.filter((m) => m.op === op.op_index && m.kind === 'WARN').map((m) => ({ file: m.file, line: m.line, cond: m.cond }));
      expect(host.rec.warns.slice(before.warns), `WARNs of op ${op.op_index}`).toEqual(kw);
      for (const p of c.probes.filter((q) => !q.final && q.after_op === op.op_index)) expect(t.iovaToPhys(hx(p.iova)), p.iova).toBe(hx(p.phys));
    }
    // Every table page we built equals the core's bytes, and every core page of the table region is one we built.
    const built = new Set<number>();
    for (const a of host.rec.allocs) {
      for (let off = 0; off < Math.max(a.size, 4096); off += 4096) built.add(a.pa + off);
    }
    const [tb, ts] = [hx(tables.phys), hx(tables.size)];
    for (const seg of dump.segments()) {
      for (let pa = seg.phys; pa < seg.phys + seg.size; pa += 4096) if (pa >= tb && pa < tb + ts) expect(built.has(pa), `core page ${pa.toString(16)}`).toBe(true);
    }
    let words = 0;
    for (const pa of built) {
      const core = dump.readBytes(pa, 4096);
      const ours = mem.readBytes(pa, 4096)!;
      if (core === null) {
        expect(ours.every((b) => b === 0), `page ${pa.toString(16)} absent from core but non-zero here`).toBe(true);
        continue;
      }
      expect(Buffer.from(ours).equals(Buffer.from(core)), `table page ${pa.toString(16)}`).toBe(true);
      words += 512;
    }
    expect(words).toBeGreaterThan(0);
    // iova_to_phys of every probe in the final state, outside-ias aliases included (the kernel masks them).
    for (const p of c.probes.filter((q) => q.final)) expect(t.iovaToPhys(hx(p.iova)), p.iova).toBe(hx(p.phys));
    expect(host.rec.allocs.length).toBe(c.stats.page_allocs);
    expect(host.rec.addPage.length).toBe(c.stats.tlb_add_page);
  });

  it('enumerates the core into the mapped runs the calls made', () => {
    const r = fmt.enumerate(dump, { roots: [root], cfg });
    expect(r.problems).toEqual([]);
    // Every successful final mapped probe lies in exactly one run that gives the kernel's answer.
    for (const p of c.probes.filter((q) => q.final && !q.outside_ias)) {
      const iova = hx(p.iova);
      const run = r.mappings.find((m) => iova >= m.iova && iova < m.iova + m.size);
      if (hx(p.phys) === 0) expect(run, p.iova).toBeUndefined();
      else expect(run && run.phys + (iova - run.iova), p.iova).toBe(hx(p.phys));
    }
  });
});
