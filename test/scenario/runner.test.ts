import { afterEach, describe, expect, it } from 'vitest';
import { InputError } from '../../src/addr.js';
import { ScenarioError, ScenarioPathError } from '../../src/scenario/errors.js';
import { explainRun, registerExplainer } from '../../src/scenario/explain.js';
import { loadScenarioText } from '../../src/scenario/loader.js';
import { renderRunText, runToJson, toJsonText } from '../../src/scenario/report.js';
import {
  decideOutcome,
  registerCrashAdapter,
  registerStep,
  runScenario,
  stepHandler,
  unregisterStep,
  type StepHandler,
} from '../../src/scenario/runner.js';
import type { StepKind } from '../../src/scenario/schema.js';
import { setupScenarioLayers } from '../../src/scenario/setup.js';
import { createMinimalWorld, type FailureRecord } from '../../src/scenario/world.js';

setupScenarioLayers();

// Toy handlers replace whatever a layer registered for the kind, and the layer's comes back afterwards,
// so these tests hold whichever layers this build wires in.
const saved: { kind: StepKind; prev: ReturnType<typeof stepHandler> }[] = [];
function toy<K extends StepKind>(kind: K, h: StepHandler<K>): void {
  saved.push({ kind, prev: stepHandler(kind) });
  registerStep(kind, h, { layer: 'toy', replace: true });
}
function without(kind: StepKind): void {
  saved.push({ kind, prev: stepHandler(kind) });
  unregisterStep(kind);
}
afterEach(() => {
  while (saved.length) {
    const { kind, prev } = saved.pop()!;
    if (prev) registerStep(kind, prev.handler, { layer: prev.layer, replace: true });
    else unregisterStep(kind);
  }
});

const HEAD = 'title: toy\nboard: { profile: rk3568, ram: 2G }\n';

/** Runs in the framework's own world (board, memory, tracer), whatever factory the build installs. */
function run(text: string) {
  return runScenario(loadScenarioText(text, 'toy.yaml'), { factory: createMinimalWorld });
}

/** A toy fault injector: `power_off` with device = an outcome kind records that failure. */
function injector(calls: string[] = []) {
  toy('power_off', (w, s) => {
    calls.push(s.device);
    w.tracer.clock.advance(1500);
    w.tracer.printk('err', `toy: injected ${s.device}`);
    w.fail('toy', s.device as never, `injected ${s.device}`);
  });
}

describe('step registry', () => {
  it('runs a registered toy step, with its log lines dmesg-formatted', () => {
    toy('probe', (w, s) => {
      w.tracer.clock.advance(1_234_567_000);
      w.tracer.devPrintk('err', 'toy', s.device ?? 'all', 'probe of toy failed with error -22');
      w.fail('driver', 'probe-failed', 'toy probe failed');
    });
    const r = run(HEAD + 'steps:\n  - op: probe\n    device: t0\nexpect:\n  outcome: probe-failed\n  log: ["probe of toy failed", "/error -\\\\d+$/"]\n  no_log: [Oops]\n');
    expect(r.log).toEqual(['[    1.234567] toy t0: probe of toy failed with error -22']);
    expect(r.outcome).toBe('probe-failed');
    expect(r.checks.map((c) => [c.what, c.ok])).toEqual([
      ['outcome', true],
      ['log has probe of toy failed', true],
      ['log has /error -\\d+$/', true],
      ['log lacks Oops', true],
    ]);
    expect(r.ok).toBe(true);
  });

  it('refuses a second handler for the same kind unless told to replace it', () => {
    toy('probe', () => {});
    saved.push({ kind: 'probe', prev: stepHandler('probe') });
    expect(() => registerStep('probe', () => {})).toThrow(/already has a handler from layer 'toy'/);
    registerStep('probe', (w) => w.tracer.printk('info', 'replaced'), { replace: true });
    expect(run(HEAD + 'steps: [{op: probe}]\n').log).toEqual(['[    0.000000] replaced']);
  });

  it('a step no layer implements is an input error at its op', () => {
    without('attach');
    expect(() => run(HEAD + 'steps:\n  - op: attach\n    master: x\n')).toThrow(ScenarioError);
    try {
      run(HEAD + 'steps:\n  - op: attach\n    master: x\n');
    } catch (err) {
      expect((err as ScenarioError).lines()[0]).toMatch(/^toy\.yaml:4:9: no layer of this build implements step 'attach' yet/);
    }
  });

  it('errors from a handler point at the field or the step', () => {
    toy('dma_map', (_w, _s, ctx) => {
      throw ctx.error('size', 'size 0x3 is not a multiple of anything sensible');
    });
    toy('probe', () => {
      throw new InputError('a plain input error');
    });
    const text = HEAD + 'steps:\n  - op: probe\n  - op: dma_map\n    dev: d\n    buf: 0x1000\n    size: 3\n    dir: to-device\n    as: m\n';
    const lines = (() => {
      try {
        run(text.replace('  - op: probe\n', ''));
      } catch (err) {
        return (err as ScenarioError).lines();
      }
    })();
    expect(lines).toEqual(['toy.yaml:7:11: size 0x3 is not a multiple of anything sensible']);
    expect(() => run(text)).toThrow(/: a plain input error$/);
    try {
      run(text);
    } catch (err) {
      expect((err as ScenarioError).lines()).toEqual(['toy.yaml:4:5: a plain input error']);
    }
  });

  it('a name used before it is defined is located at the reference', () => {
    const text = HEAD + 'steps:\n  - op: cpu_write\n    addr: buf.phys + 0x10\n    size: 4\n    data: zero\n';
    try {
      run(text);
      expect.unreachable();
    } catch (err) {
      expect((err as ScenarioError).lines()).toEqual(["toy.yaml:5:11: no earlier step named a result 'buf'"]);
    }
  });

  it('a world factory error about a field is located there', () => {
    const loaded = loadScenarioText('title: toy\nboard: { profile: none, ram: 2G }\nsteps: []\n', 'toy.yaml');
    const factory = () => {
      throw new ScenarioPathError(['board', 'profile'], "unknown board profile 'none'");
    };
    expect(() => runScenario(loaded, { factory })).toThrow(ScenarioError);
    try {
      runScenario(loaded, { factory });
    } catch (err) {
      expect((err as ScenarioError).lines()).toEqual(["toy.yaml:2:19: unknown board profile 'none'"]);
    }
  });

  it('a bug in a handler stays an exception (not an input error)', () => {
    toy('probe', () => {
      throw new TypeError('oops, ours');
    });
    expect(() => run(HEAD + 'steps: [{op: probe}]\n')).toThrow(TypeError);
  });
});

describe('outcome', () => {
  const steps = (kinds: string[]) => HEAD + 'steps:\n' + kinds.map((k) => `  - op: power_off\n    device: ${k}\n`).join('');

  it('is ok when nothing failed, warn when only warnings', () => {
    injector();
    expect(run(HEAD + 'steps: []\n').outcome).toBe('ok');
    expect(run(steps(['warn', 'warn'])).outcome).toBe('warn');
  });

  it('is the first failure, not the last, and not a warning before it', () => {
    injector();
    const r = run(steps(['warn', 'page-fault', 'bus-error']));
    expect(r.outcome).toBe('page-fault');
    expect(r.decisive?.message).toBe('injected page-fault');
    expect(r.failures.map((f) => f.kind)).toEqual(['warn', 'page-fault', 'bus-error']);
  });

  it('an Oops decides even after another failure, and stops the run', () => {
    const calls: string[] = [];
    injector(calls);
    const r = run(steps(['probe-failed', 'oops', 'page-fault', 'warn']));
    expect(r.outcome).toBe('oops');
    expect(calls).toEqual(['probe-failed', 'oops']);
    expect(r.skippedSteps).toBe(2);
    expect(renderRunText(r)).toContain('2 step(s) not run: the kernel died');
  });

  it('a fatal failure recorded by a layer through its tracer alone also halts', () => {
    let after = 0;
    toy('probe', (w) => w.tracer.emit('hw', 'bug_on', { failure: 'bug', message: 'BUG at iova.c:46' }));
    toy('detach', () => {
      after++;
    });
    const r = run(HEAD + 'steps: [{op: probe}, {op: detach, master: m}]\n');
    expect(r.outcome).toBe('bug');
    expect(after).toBe(0);
  });

  it('a crash thrown by a layer is turned into a failure by a crash adapter', () => {
    class ToyCrash extends Error {}
    registerCrashAdapter((err, w) => {
      if (!(err instanceof ToyCrash)) return false;
      w.tracer.printk('emerg', 'Unable to handle kernel NULL pointer dereference at virtual address 0000000000000038');
      w.fail('kernel', 'oops', err.message);
      return true;
    });
    toy('domain_free', () => {
      throw new ToyCrash('NULL dereference in ipmmu_domain_free');
    });
    const r = run(HEAD + 'steps: [{op: domain_free, domain: d}, {op: sleep, time: 1us}]\nexpect: {outcome: oops}\n');
    expect(r.outcome).toBe('oops');
    expect(r.ok).toBe(true);
    expect(r.skippedSteps).toBe(1);
  });

  it('decideOutcome ignores anything but the recorded kinds and order', () => {
    const f = (kind: FailureRecord['kind'], seq: number): FailureRecord => ({ kind, seq, time: 0, layer: 'x', type: 'y', message: kind });
    expect(decideOutcome([]).outcome).toBe('ok');
    expect(decideOutcome([f('warn', 0), f('timeout', 1), f('map-failed', 2)]).outcome).toBe('timeout');
    expect(decideOutcome([f('data-mismatch', 0), f('bug', 1)]).outcome).toBe('bug');
  });

  it('an unexpected outcome makes the run fail its expectations', () => {
    injector();
    const r = run(steps(['bus-error']) + 'expect: {outcome: ok}\n');
    expect(r.ok).toBe(false);
    expect(r.checks[0]).toEqual({ what: 'outcome', ok: false, expected: 'ok', actual: 'bus-error (injected bus-error)' });
    expect(renderRunText(r)).toMatch(/FAIL \(1 of 1 expectations not met\)\n$/);
  });
});

describe('data checks', () => {
  it('a step check that fails is a data-mismatch; expect.data checks the final memory', () => {
    const r = run(
      HEAD +
        `steps:
  - { op: cpu_write, addr: 0x1000_0000, size: 8, data: word 0x11223344 }
  - { op: cpu_read, addr: 0x1000_0000, size: 8, expect: "hex 44 33 22 11" }
  - { op: cpu_read, addr: 0x1000_0000, size: 8, expect: fill 0x11 }
expect:
  outcome: data-mismatch
  data:
    - { addr: 0x1000_0000, size: 4, equals: hex 44332211 }
    - { addr: 0x1000_0004, size: 4, equals: zero }
`,
    );
    expect(r.observations.map((o) => o.ok)).toEqual([true, false]);
    expect(r.observations[1].actual).toBe('6 bytes differ; first at 0x10000000: expected 0x11, found 0x44');
    expect(r.outcome).toBe('data-mismatch');
    expect(r.checks.map((c) => c.ok)).toEqual([true, true, false]);
    expect(r.checks[2].actual).toBe('4 bytes differ; first at 0x10000004: expected 0x00, found 0x44');
  });

  it('a CPU access outside RAM is an input error at the address', () => {
    try {
      run(HEAD + 'steps:\n  - { op: cpu_write, addr: 0xf000_0000, size: 4, data: zero }\n');
      expect.unreachable();
    } catch (err) {
      expect((err as ScenarioError).lines()).toEqual(['toy.yaml:4:28: 0xf0000000..0xf0000004 is not RAM on this board']);
    }
  });
});

describe('minimal world', () => {
  it('has the board, RAM as asked, the command line parsed, and defaults', () => {
    const loaded = loadScenarioText(
      'title: t\nboard: {profile: rk3568, ram: [{base: 0x20_0000, size: 1G}, {base: 0x1_0000_0000, size: 1G}]}\ncmdline: "iommu.strict=1 swiotlb=force quiet"\nsteps: []\n',
      'w.yaml',
    );
    const w = createMinimalWorld(loaded.scenario, { file: 'w.yaml', baseDir: '.' });
    expect(w.board?.name).toBe('rk3568');
    expect(w.mem.banks.map((b) => [b.base, b.size])).toEqual([
      [0x20_0000, 0x4000_0000],
      [0x1_0000_0000, 0x4000_0000],
    ]);
    expect([...w.cmdline]).toEqual([
      ['iommu.strict', '1'],
      ['swiotlb', 'force'],
      ['quiet', ''],
    ]);
    expect(w.kernelPreset).toBe('v6.12');
    expect(w.pageSize).toBe(4096);
    expect(w.seed).toBe(0);
  });
});

describe('explain', () => {
  it('follows cause links from the decisive failure when there are some', () => {
    registerExplainer('toy:alloc', (e) => `table page allocated at ${e.data.pa as number}`, { replace: true });
    registerExplainer('toy:noise', () => 'unrelated noise', { replace: true });
    toy('probe', (w) => {
      w.tracer.emit('toy', 'alloc', { pa: 7 });
      w.tracer.emit('toy', 'noise', {});
      w.fail('toy', 'bus-error', 'walker could not reach the table', { cause: 0 + w.tracer.events.length - 2 });
    });
    const r = run(HEAD + 'steps: [{op: probe, note: probe the toy}]\n');
    const lines = explainRun(r);
    expect(lines).toEqual([
      'step 0: probe — probe the toy',
      '  [    0.000000] table page allocated at 7',
      '  [    0.000000] BUS-ERROR: walker could not reach the table',
    ]);
  });

  it('without links, tells every explained event up to the decisive failure', () => {
    registerExplainer('toy:noise', () => 'unrelated noise', { replace: true });
    toy('probe', (w) => {
      w.tracer.emit('toy', 'noise', {});
      w.fail('toy', 'page-fault', 'fault at 0x1000');
      w.tracer.emit('toy', 'noise', {});
    });
    expect(explainRun(run(HEAD + 'steps: [{op: probe}]\n'))).toEqual([
      'step 0: probe',
      '  [    0.000000] unrelated noise',
      '  [    0.000000] PAGE-FAULT: fault at 0x1000',
    ]);
  });
});

describe('determinism', () => {
  it('two runs of the same scenario give identical bytes (text and JSON)', () => {
    injector();
    const text = HEAD + 'seed: 5\nsteps:\n  - { op: cpu_write, addr: 0x100_0000, size: 64, data: random 5 }\n  - { op: power_off, device: warn }\n  - { op: cpu_read, addr: 0x100_0000, size: 64, expect: random 5 }\n';
    const a = run(text);
    const b = run(text);
    expect(toJsonText(runToJson(a, { explain: true }))).toBe(toJsonText(runToJson(b, { explain: true })));
    expect(renderRunText(a, { trace: true, explain: true })).toBe(renderRunText(b, { trace: true, explain: true }));
  });
});

describe('board errors', () => {
  const linesOf = (text: string) => {
    try {
      run(text);
    } catch (err) {
      if (err instanceof ScenarioError) return err.lines();
      throw err;
    }
    throw new Error('expected an error');
  };
  it('an unknown profile is reported at the profile', () => {
    expect(linesOf('title: t\nboard:\n  profile: rk9999\nsteps: []\n')[0]).toMatch(/^toy\.yaml:3:12: unknown board profile 'rk9999' \(built in: rk3568, /);
  });
  it('a RAM size the board family never had is reported at ram', () => {
    expect(linesOf('title: t\nboard:\n  profile: rk3568\n  ram: 3G\nsteps: []\n')[0]).toMatch(/^toy\.yaml:4:8: ram '3G': rk356x boards come with /);
  });
  it('a missing .dtb is reported at dtb, relative to the scenario file', () => {
    expect(linesOf('title: t\nboard:\n  dtb: nope.dtb\nsteps: []\n')[0]).toMatch(/^toy\.yaml:3:8: cannot read nope\.dtb: ENOENT/);
  });
});

describe('step output', () => {
  it('lines a step shows are printed after the log and returned as output', () => {
    toy('walk', (w, s) => w.say(`walk of ${s.device}: nothing mapped`));
    const r = run(HEAD + 'steps: [{op: walk, device: fde4b000.iommu}]\n');
    expect(r.output).toEqual(['walk of fde4b000.iommu: nothing mapped']);
    expect(renderRunText(r)).toContain('-- output\nwalk of fde4b000.iommu: nothing mapped\n');
    expect(runToJson(r).output).toEqual(['walk of fde4b000.iommu: nothing mapped']);
  });
});

describe('kernel presets', () => {
  it('an unknown preset is reported at `kernel`, a known one is accepted', () => {
    try {
      run(HEAD + 'kernel: v6.13\nsteps: []\n');
      expect.unreachable();
    } catch (err) {
      expect((err as ScenarioError).lines()[0]).toMatch(/^toy\.yaml:3:9: unknown kernel preset 'v6\.13' \(known: v6\.12, /);
    }
    expect(run(HEAD + 'kernel: v4.20-rc1\nsteps: []\n').outcome).toBe('ok');
  });

  it('a bad regular expression in expect.log is an input error at the pattern', () => {
    try {
      run(HEAD + 'steps: []\nexpect:\n  log: ["/(unclosed/"]\n');
      expect.unreachable();
    } catch (err) {
      expect((err as ScenarioError).lines()[0]).toMatch(/^toy\.yaml:5:9: bad regular expression \/\(unclosed\/: /);
    }
  });
});

describe('explain of a layer failure event', () => {
  it('an event carrying `failure` without its own explainer reads as a failure', () => {
    toy('probe', (w) => w.tracer.emit('kernel', 'oops_event', { failure: 'oops', message: 'Unable to handle kernel NULL pointer dereference' }));
    expect(explainRun(run(HEAD + 'steps: [{op: probe}]\n'))).toEqual([
      'step 0: probe',
      '  [    0.000000] OOPS: Unable to handle kernel NULL pointer dereference',
    ]);
  });
});
