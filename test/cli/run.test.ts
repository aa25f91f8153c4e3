import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cli } from '../support/cli.js';
import { listScenarioFiles } from '../../src/scenario/library.js';

const LIB = fileURLToPath(new URL('../fixtures/scenario/lib/', import.meta.url));
const ROUNDTRIP = join(LIB, 'cpu-roundtrip.yaml');
const OVERWRITTEN = join(LIB, 'overwritten.yaml');


function tmpFile(name: string, text: string): string {
  const d = mkdtempSync(join(tmpdir(), 'iommu-lab-run-'));
  const f = join(d, name);
  writeFileSync(f, text);
  return f;
}

afterEach(() => vi.restoreAllMocks());

describe('iommu-lab run', () => {
  it('exit 0 when the expectations hold, with the outcome and PASS', async () => {
    const r = await cli(['run', ROUNDTRIP]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('-- outcome: ok\n');
    expect(r.out).toMatch(/PASS\n$/);
    expect(r.err).toBe('');
  });

  it('exit 1 when an expectation fails (here: --set changes what the scenario does)', async () => {
    const r = await cli(['run', OVERWRITTEN, '--set', 'steps.1.size=0']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('FAIL  outcome: expected data-mismatch; got ok');
  });

  it('exit 2 with one file:line:col line for an invalid scenario', async () => {
    const f = tmpFile('bad.yaml', 'title: bad\nboard: {profile: rk3568}\nsteps:\n  - op: cpu_write\n    addr: 0\n    size: 4K\n    data: fill 0x1ff\n');
    const r = await cli(['run', f]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toBe(`${f}:7:11: \`data\` of step 0 (cpu_write): "fill 0x1ff" is not a data phrase: "zero", "inc", "fill 0xa5", "word 0xdeadbeef", "hex de ad be ef", "random 7"\n`);
  });

  it('exit 2 for a bad --set, naming the key, and for a missing file', async () => {
    const r = await cli(['run', ROUNDTRIP, '--set', 'steps.9.size=1']);
    expect(r.code).toBe(2);
    expect(r.err).toBe('iommu-lab: error: --set steps.9.size: steps has 2 items (0..1), no item 9\n');
    const m = await cli(['run', join(LIB, 'nope.yaml')]);
    expect(m.code).toBe(2);
    expect(m.err).toMatch(/nope\.yaml: no such file\n$/);
  });

  it('several files: exit is the worst, and the valid ones still run', async () => {
    const bad = tmpFile('bad.yaml', 'title: [\n');
    const r = await cli(['run', ROUNDTRIP, bad]);
    expect(r.code).toBe(2);
    expect(r.out).toContain('PASS');
    expect(r.err).toMatch(/bad\.yaml:\d+:\d+: YAML: /);
  });

  it('--json gives {outcome, log, checks, events}', async () => {
    const r = await cli(['run', OVERWRITTEN, '--json', '--explain']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.outcome).toBe('data-mismatch');
    expect(Array.isArray(j.log)).toBe(true);
    expect(j.checks[0]).toEqual({ what: 'outcome', ok: true, expected: 'data-mismatch', actual: expect.stringMatching(/^data-mismatch \(/) });
    expect(j.events.length).toBeGreaterThan(3);
    expect(j.explain.join('\n')).toContain('an overlapping write');
    const two = JSON.parse((await cli(['run', OVERWRITTEN, ROUNDTRIP, '--json'])).out);
    expect(two.map((x: { outcome: string }) => x.outcome)).toEqual(['data-mismatch', 'ok']);
  });

  it('--trace prints the events ftrace-style', async () => {
    const r = await cli(['run', ROUNDTRIP, '--trace']);
    expect(r.out).toContain('[    0.000000] cpu:cpu_write addr=0x10000000 size=0x1000 data="fill 0xa5" ok=true');
  });

  it('is deterministic: two runs print the same bytes', async () => {
    const a = await cli(['run', OVERWRITTEN, ROUNDTRIP, '--trace', '--explain']);
    const b = await cli(['run', OVERWRITTEN, ROUNDTRIP, '--trace', '--explain']);
    expect(a.out).toBe(b.out);
    const ja = await cli(['run', OVERWRITTEN, '--json']);
    const jb = await cli(['run', OVERWRITTEN, '--json']);
    expect(ja.out).toBe(jb.out);
  });

  it('is deterministic on every built-in scenario: two runs, identical JSON with all events', async () => {
    for (const e of listScenarioFiles()) {
      const twice = async () => {
        try {
          return [await cli(['run', e.file, '--json', '--explain']), await cli(['run', e.file, '--json', '--explain'])];
        } catch (err) {
          throw new Error(`scenarios/${e.name}: internal error: ${(err as Error).stack}`, { cause: err });
        }
      };
      const [a, b] = await twice();
      expect(a.out.length, e.name).toBeGreaterThan(0);
      expect(a.out === b.out, `${e.name}: two runs differ`).toBe(true);
    }
  });
});
