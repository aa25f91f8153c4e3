/**
 * `iommu-lab walk` on the tables of the kernel vectors (test/fixtures/kernel-vectors): each vector's
 * calls are replayed (bit-identical to the kernel's tables: test/formats/kernel-vectors.test.ts), the
 * table pages written out as an ELF core, and the CLI must translate the kernel's probes to the
 * kernel's answers and list mapping runs that contain every probe the kernel found mapped - for every
 * LPAE granule, stage and width, both DART generations and both Rockchip versions (26 table sets),
 * with the roots given as --root.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadsFromPhysMem, writeElfCore } from '../../src/dump/elf-writer.js';
import { hex, hx, loadVector, replayVector, vectorConfig, vectorFiles } from '../formats/kernel-vectors-helpers.js';
import { cli } from '../support/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'iommu-lab-kvec-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Translation {
  iova: string;
  phys: string | null;
  fault: string | null;
}
interface Mapping {
  iova: string;
  phys: string;
  size: string;
}

const vectors = vectorFiles()
  .map(loadVector)
  .filter((v) => v.alloc !== null);

describe.each(vectors.map((v) => [v.name, v] as const))('walk on the tables of %s', (_name, v) => {
  const { iovaOf } = vectorConfig(v);
  const { mem, t } = replayVector(v);
  const core = join(tmp, `${v.name}.core`);
  writeElfCore(core, { loads: loadsFromPhysMem(mem) });
  const granule = hx(v.in.pgsize_bitmap) & -hx(v.in.pgsize_bitmap);
  const args = ['walk', core, '--format', v.format, '--granule', String(granule), '--ias', String(v.in.ias), '--oas', String(v.in.oas), ...t.roots.flatMap((r) => ['--root', hex(r)])];
  // Probes within ias (the kernel's software walk masks what lies above; a hardware walk faults).
  const probes = (v.probes ?? []).map(([i, p]) => [iovaOf(i), hx(p)] as const).filter(([i]) => i < 2 ** v.in.ias);

  it('translates every probe to the kernel answer', async () => {
    const r = await cli([...args, ...probes.flatMap(([i]) => ['--iova', hex(i)]), '--json']);
    expect(r.code, r.err).toBe(0);
    const got = (JSON.parse(r.out) as { translations: Translation[] }).translations;
    expect(got.length).toBe(probes.length);
    probes.forEach(([iova, phys], k) => {
      const tr = got[k];
      expect(tr.iova).toBe(hex(iova));
      if (phys >= 2 ** v.in.oas) expect(tr.fault, tr.iova).toBe('address-size');
      else expect(tr.phys ?? '0x0', tr.iova).toBe(hex(phys));
    });
  });

  // The base register(s) as the kernel set them up: LPAE TTBR/VTTBR and Rockchip DTE_ADDR as the
  // vectors recorded them; DART TTBRs as apple-dart.c:345-346 writes them from the table addresses:
  // valid | (pa >> shift) << field_shift, t8020: BIT(31), 12, 0; t8110: BIT(0), 14, 2 (:85-87, :143-145).
  const regSets: [string, string[], string[]][] = [];
  const lpaeOrRk = v.registers?.ttbr ?? v.registers?.vttbr ?? v.registers?.DTE_ADDR;
  if (lpaeOrRk !== undefined) regSets.push(['register', [lpaeOrRk], []]);
  if (v.format.startsWith('apple-dart')) {
    const pas = (v.roots ?? []).map(hx);
    regSets.push(['t8020 TTBRs', pas.map((pa) => hex(0x8000_0000 + pa / 2 ** 12)), ['--root-reg-encoding', 't8020']]);
    // t8110 takes 16 KiB-aligned tables only (:343 WARNs otherwise): the 16K DART2 vectors.
    if (v.format === 'apple-dart2' && pas.every((pa) => pa % 2 ** 14 === 0))
      regSets.push(['t8110 TTBRs', pas.map((pa) => hex(1 + (pa / 2 ** 14) * 4)), ['--root-reg-encoding', 't8110']]);
  }
  it.each(regSets)('decodes the %s the kernel programmed (--root-reg)', async (_what, regs, extra) => {
    const some = probes.slice(0, 12);
    const byReg = args.filter((_, k) => args[k] !== '--root' && args[k - 1] !== '--root');
    const r = await cli([...byReg, ...regs.flatMap((x) => ['--root-reg', x]), ...extra, ...some.flatMap(([i]) => ['--iova', hex(i)]), '--json']);
    expect(r.code, r.err).toBe(0);
    const got = (JSON.parse(r.out) as { translations: Translation[] }).translations;
    some.forEach(([iova, phys], k) => {
      if (phys < 2 ** v.in.oas) expect(got[k].phys ?? '0x0', hex(iova)).toBe(hex(phys));
    });
  });

  it('lists mapping runs holding every mapped probe at the kernel address', async () => {
    const r = await cli([...args, '--json']);
    expect(r.code, r.err).toBe(0);
    const runs = (JSON.parse(r.out) as { mappings: Mapping[] }).mappings.map((m) => [hx(m.iova), hx(m.phys), hx(m.size)] as const);
    let mapped = 0;
    for (const [iova, phys] of probes) {
      if (phys === 0 || phys >= 2 ** v.in.oas) continue;
      mapped++;
      const run = runs.find(([ri, , rs]) => iova >= ri && iova < ri + rs);
      expect(run, hex(iova)).toBeDefined();
      const [ri, rp] = run!;
      expect(hex(rp + (iova - ri)), hex(iova)).toBe(hex(phys));
    }
    expect(mapped).toBeGreaterThan(10);
  });
});
