/**
 * `iommu-lab walk` on the cores built by the kernel's own io-pgtable / Rockchip code
 * (test/fixtures/dumps, copied from the shared oracle sample): every final probe's translation and
 * every step must be the kernel's.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatNames } from '../../src/formats/index.js';
import { cli } from '../support/cli.js';
import { h } from './walk-helpers.js';

const fx = join(import.meta.dirname, '../fixtures/dumps');

interface Probe {
  iova: string;
  phys: string;
  tag: string;
  final: boolean;
  outside_ias: boolean;
  left_dump: boolean;
  walk: { level: number; table: string; index: number; pte_addr: string; pte: string; kind: string }[];
}

const cases = readdirSync(fx)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(fx, f), 'utf8')));

function baseArgs(c: { core: string; format: string; config: { granule: number; ias: number; oas: number } }): string[] {
  return ['walk', join(fx, c.core), '--format', c.format, '--granule', String(c.config.granule), '--ias', String(c.config.ias), '--oas', String(c.config.oas)];
}

function rootArgs(c: { root: string; registers: Record<string, unknown> }): string[] {
  const ttbrs = c.registers.ttbr;
  if (Array.isArray(ttbrs)) return ttbrs.flatMap((t) => ['--root', String(t)]);
  return ['--root', c.root];
}

describe.each(cases)('oracle case $case ($format)', (c) => {
  const known = formatNames().includes(c.format);
  const probes: Probe[] = c.probes.filter((p: Probe) => p.final);

  it.skipIf(!known)('every final probe translates to the kernel answer, step for step', async () => {
    const args = [...baseArgs(c), ...rootArgs(c), '--json', ...probes.flatMap((p) => ['--iova', p.iova])];
    const r = await cli(args);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.format).toBe(c.format);
    expect(j.translations.length).toBe(probes.length);
    probes.forEach((p, i) => {
      const t = j.translations[i];
      const where = `${c.case} probe ${i} ${p.tag} iova ${p.iova}`;
      expect(t.iova, where).toBe(p.iova);
      const bogus = p.walk.some((s) => s.kind === 'bogus');
      if (p.outside_ias) {
        // The kernel masks IOVA bits above ias; hardware faults (oracle README, "Notes").
        expect(t.phys, where).toBeNull();
        expect(t.fault, where).not.toBeNull();
        return;
      }
      if (bogus || p.left_dump) {
        expect(t.phys, where).toBeNull();
        return;
      }
      expect(t.phys, where).toBe(p.phys === '0x0' ? null : p.phys);
      expect(
        t.steps.map((s: Record<string, unknown>) => [s.level, s.tableAddr, s.index, s.entryAddr, s.entry, s.kind]),
        where,
      ).toEqual(p.walk.map((s) => [s.level, s.table, s.index, s.pte_addr, s.pte, s.kind]));
    });
  });

  it.skipIf(!known)('the mapping list agrees with every final probe of the kernel', async () => {
    const r = await cli([...baseArgs(c), ...rootArgs(c), '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    const runs = j.mappings.map((m: Record<string, string>) => ({ iova: h(m.iova), phys: h(m.phys), size: h(m.size) }));
    for (let i = 1; i < runs.length; i++) expect(runs[i].iova).toBeGreaterThanOrEqual(runs[i - 1].iova + runs[i - 1].size);
    for (const p of probes) {
      if (p.outside_ias || p.left_dump || p.walk.some((s) => s.kind === 'bogus')) continue;
      const iova = h(p.iova);
      const run = runs.find((m: { iova: number; size: number }) => iova >= m.iova && iova < m.iova + m.size);
      if (p.phys === '0x0') expect(run, `${p.tag} ${p.iova} should be unmapped`).toBeUndefined();
      else {
        expect(run, `${p.tag} ${p.iova} should be mapped`).toBeDefined();
        expect(run.phys + (iova - run.iova), `${p.tag} ${p.iova}`).toBe(h(p.phys));
      }
    }
  });
});

describe('base-register decoding through the CLI', () => {
  const rk = cases.find((c) => c.format === 'rockchip-v2');
  it.skipIf(!formatNames().includes('rockchip-v2'))('rockchip-v2: --root-reg DTE_ADDR gives the same walk as --root', async () => {
    const probe = rk.probes.find((p: Probe) => p.final && p.phys !== '0x0' && !p.outside_ias);
    const a = await cli([...baseArgs(rk), '--root-reg', rk.registers.dte_addr, '--iova', probe.iova, '--json']);
    const b = await cli([...baseArgs(rk), '--root', rk.root, '--iova', probe.iova, '--json']);
    expect(a.code).toBe(0);
    expect(JSON.parse(a.out).root).toBe(rk.registers.dte_addr_decoded);
    expect(JSON.parse(a.out).translations).toEqual(JSON.parse(b.out).translations);
    expect(JSON.parse(a.out).translations[0].phys).toBe(probe.phys);
  });

  const dart = cases.find((c) => c.format === 'apple-dart');
  it.skipIf(!formatNames().includes('apple-dart'))('apple-dart: --root-reg t8020 TTBR values (BIT(31) | pa >> 12)', async () => {
    const probe = dart.probes.find((p: Probe) => p.final && p.phys !== '0x0' && !p.outside_ias);
    const regs: string[] = dart.registers.ttbr_reg_t8020_t6000;
    const a = await cli([...baseArgs(dart), ...regs.flatMap((r) => ['--root-reg', r]), '--iova', probe.iova, '--json']);
    expect(a.err).toBe('');
    expect(JSON.parse(a.out).roots).toEqual(dart.registers.ttbr);
    expect(JSON.parse(a.out).translations[0].phys).toBe(probe.phys);
  });
});
