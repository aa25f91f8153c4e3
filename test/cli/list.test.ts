import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';

const LIB = fileURLToPath(new URL('../fixtures/scenario/lib/', import.meta.url));

describe('iommu-lab list', () => {
  it('lists scenarios with their expected outcome and title', async () => {
    const r = await cli(['list', '--dir', LIB]);
    expect(r.code).toBe(0);
    expect(r.out.split('\n').slice(0, 3)).toEqual([
      'name           outcome        title',
      'cpu-roundtrip  ok             the CPU reads back what it wrote',
      'overwritten    data-mismatch  a later write overwrites data, and the read-back check catches it',
    ]);
    const j = JSON.parse((await cli(['list', '--dir', LIB, '--json'])).out);
    expect(j.map((x: { name: string }) => x.name)).toEqual(['cpu-roundtrip', 'overwritten']);
  });

  it('the built-in library lists without error', async () => {
    const r = await cli(['list']);
    expect(r.code).toBe(0);
  });

  it('--steps shows which layer implements each op', async () => {
    const r = await cli(['list', '--steps']);
    expect(r.out).toMatch(/^cpu_write +core$/m);
  });

  it('an invalid file is reported with its location; exit 2', async () => {
    const d = mkdtempSync(join(tmpdir(), 'iommu-lab-list-'));
    writeFileSync(join(d, 'a.yaml'), 'title: a\nboard: {profile: x}\nsteps: []\nexpect: {outcome: fine}\n');
    const r = await cli(['list', '--dir', d]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`${join(d, 'a.yaml')}:4:19: \`expect.outcome\`: "fine" is not one of "ok", "warn", "page-fault", "bus-error", "data-mismatch", "probe-failed", "attach-failed", "map-failed", "alloc-failed", "timeout", "irq-storm", "oops", "bug"\n`);
  });
});

describe('iommu-lab start', () => {
  it('one line per scenario; exit 0 when all pass', async () => {
    const r = await cli(['start', '--dir', LIB]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      'cpu-roundtrip  ok             pass\n' + 'overwritten    data-mismatch  pass\n' + '2 scenarios: 2 passed, 0 FAILED\n',
    );
  });

  it('exit 1 when one fails', async () => {
    const d = mkdtempSync(join(tmpdir(), 'iommu-lab-start-'));
    writeFileSync(join(d, 'x.yaml'), 'title: x\nboard: {profile: rk3568}\nsteps: [{op: cpu_write, addr: 0x200000, size: 4, data: zero}]\nexpect: {outcome: oops}\n');
    const r = await cli(['start', '--dir', d]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('x     ok             FAIL (expected oops)\n');
  });
});

describe('iommu-lab start --json', () => {
  it('gives every scenario with its outcome and the totals', async () => {
    const r = await cli(['start', '--dir', LIB, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.passed).toBe(2);
    expect(j.failed).toBe(0);
    expect(j.scenarios.map((s: { name: string; outcome: string }) => [s.name, s.outcome])).toEqual([
      ['cpu-roundtrip', 'ok'],
      ['overwritten', 'data-mismatch'],
    ]);
  });

  it('an empty library says so and passes', async () => {
    const d = mkdtempSync(join(tmpdir(), 'iommu-lab-empty-'));
    const r = await cli(['start', '--dir', d]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`no scenarios in ${d}\n`);
  });
});
