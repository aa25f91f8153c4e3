/**
 * The runner: builds a World, runs each step through the handler registered for its `op`, and decides
 * the outcome from what the layers recorded — the first fatal failure (Oops, BUG), else the first other
 * failure, else "warn" if only warnings, else "ok". It never looks at the scenario's name or title.
 *
 * Layers plug in with `registerStep(kind, handler)`: the allocator, the DMA stack, the drivers and the
 * hardware each register the ops they implement (from a module in src/scenario/steps/, which imports
 * the layer, so imports keep pointing downwards).
 */
import { InputError } from '../addr.js';
import { formatTimestamp, type TraceEvent } from '../trace/events.js';
import { ScenarioError, ScenarioPathError, StepSkipped } from './errors.js';
import type { LoadedScenario } from './loader.js';
import type { PathSeg } from './overrides.js';
import { FATAL_OUTCOMES, type Outcome, type Scenario, type StepKind, type StepOf } from './schema.js';
import { compareBytes, dataBytes, describeData, describeDiff } from './data.js';
import { failuresOf, getWorldFactory, type Check, type FailureRecord, type World, type WorldFactory } from './world.js';

export interface StepContext {
  /** Index of the step in `steps`. */
  index: number;
  /** Path of the step in the scenario (["steps", 3]); `path("size")` → ["steps", 3, "size"]. */
  path(...rest: PathSeg[]): PathSeg[];
  /** An error about one field of this step, reported at its file:line:col. */
  error(field: PathSeg | undefined, message: string): ScenarioPathError;
}

export type StepHandler<K extends StepKind = StepKind> = (world: World, step: StepOf<K>, ctx: StepContext) => void;

interface Registered {
  handler: StepHandler;
  layer: string;
}

const registry = new Map<StepKind, Registered>();

export interface RegisterOptions {
  /** Which layer provides it (shown by `list --steps` and in errors). */
  layer?: string;
  /** Replace an existing handler (a full layer taking over from the minimal one). */
  replace?: boolean;
}

export function registerStep<K extends StepKind>(kind: K, handler: StepHandler<K>, opts: RegisterOptions = {}): void {
  const existing = registry.get(kind);
  if (existing && !opts.replace)
    throw new Error(`step '${kind}' already has a handler from layer '${existing.layer}' (pass { replace: true })`);
  registry.set(kind, { handler: handler as unknown as StepHandler, layer: opts.layer ?? 'unknown' });
}

export function unregisterStep(kind: StepKind): void {
  registry.delete(kind);
}

export function stepHandler(kind: StepKind): { handler: StepHandler; layer: string } | undefined {
  return registry.get(kind);
}

export function registeredSteps(): { kind: StepKind; layer: string }[] {
  return [...registry.entries()].map(([kind, r]) => ({ kind, layer: r.layer })).sort((a, b) => (a.kind < b.kind ? -1 : 1));
}

/**
 * A modelled crash may reach the runner as an exception (a layer that unwinds on Oops/BUG the way the
 * kernel does). The kernel glue installs an adapter that recognises it and records it as a failure
 * (`world.fail(...)`); it returns true when it did. Anything no adapter claims is a bug of ours.
 */
export type CrashAdapter = (err: unknown, world: World) => boolean;
const crashAdapters: CrashAdapter[] = [];

export function registerCrashAdapter(a: CrashAdapter): void {
  if (!crashAdapters.includes(a)) crashAdapters.push(a);
}

// ---- results --------------------------------------------------------------------------------------

export interface RunResult {
  file: string;
  name: string;
  title: string;
  outcome: Outcome;
  expectedOutcome: Outcome;
  /** True when every expectation held. */
  ok: boolean;
  /** The failure that decided the outcome, when not ok/warn-free. */
  decisive?: FailureRecord;
  failures: FailureRecord[];
  /** dmesg-formatted kernel log. */
  log: string[];
  /** Expectations: outcome, log lines, final data. */
  checks: Check[];
  /** Data checks the steps made. */
  observations: Check[];
  /** What steps showed besides the log (walks, register reads). */
  output: string[];
  events: TraceEvent[];
  /** Steps not run because the kernel died before them. */
  skippedSteps: number;
}

/**
 * The outcome from the recorded failures: a fatal one (the kernel is dead, whatever came before) wins;
 * else the first failure in time; warnings only count when nothing failed.
 */
export function decideOutcome(failures: readonly FailureRecord[]): { outcome: Outcome; decisive?: FailureRecord } {
  const fatal = failures.find((f) => FATAL_OUTCOMES.includes(f.kind));
  if (fatal) return { outcome: fatal.kind, decisive: fatal };
  const first = failures.find((f) => f.kind !== 'warn' && f.kind !== 'ok');
  if (first) return { outcome: first.kind, decisive: first };
  const warn = failures.find((f) => f.kind === 'warn');
  if (warn) return { outcome: 'warn', decisive: warn };
  return { outcome: 'ok' };
}

/** A log pattern: "/re/flags" is a regular expression, anything else a substring. */
export function logMatcher(pattern: string): (line: string) => boolean {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(pattern);
  if (m) {
    let re: RegExp;
    try {
      re = new RegExp(m[1], m[2]);
    } catch (err) {
      throw new InputError(`bad regular expression ${pattern}: ${(err as Error).message}`);
    }
    return (line) => re.test(line);
  }
  return (line) => line.includes(pattern);
}

export interface RunOptions {
  /** A factory other than the installed one (tests). */
  factory?: WorldFactory;
}

/** Turn an error thrown while building or running into a located ScenarioError (input) or rethrow (bug). */
function locateError(err: unknown, loaded: LoadedScenario, fallback: PathSeg[]): never {
  if (err instanceof ScenarioError) throw err;
  if (err instanceof ScenarioPathError || err instanceof InputError) {
    const path = err instanceof ScenarioPathError ? err.path : fallback;
    const location = loaded.locate(path);
    const m = /^(.*?):(\d+):(\d+)$/.exec(location);
    throw new ScenarioError([
      { location, message: err.message, line: m ? Number(m[2]) : 0, col: m ? Number(m[3]) : 0 },
    ]);
  }
  throw err;
}

export function runScenario(loaded: LoadedScenario, opts: RunOptions = {}): RunResult {
  const sc: Scenario = loaded.scenario;
  const factory = opts.factory ?? getWorldFactory();
  let world: World;
  try {
    world = factory(sc, { file: loaded.file, baseDir: loaded.baseDir });
  } catch (err) {
    locateError(err, loaded, ['board']);
  }
  const tracer = world.tracer;

  let skipped = 0;
  for (let i = 0; i < sc.steps.length; i++) {
    const step = sc.steps[i];
    if (world.halted) {
      skipped = sc.steps.length - i;
      tracer.emit('scenario', 'steps_skipped', { from: i, count: skipped, reason: 'the kernel died' });
      break;
    }
    const reg = registry.get(step.op);
    const base: PathSeg[] = ['steps', i];
    if (!reg)
      locateError(
        new ScenarioPathError(
          [...base, 'op'],
          `no layer of this build implements step '${step.op}' yet (implemented: ${registeredSteps().map((r) => r.kind).join(', ') || 'none'})`,
        ),
        loaded,
        base,
      );
    const ctx: StepContext = {
      index: i,
      path: (...rest) => [...base, ...rest],
      error: (field, message) => new ScenarioPathError(field === undefined ? base : [...base, field], message),
    };
    const before = tracer.events.length;
    tracer.emit('scenario', 'step', { index: i, op: step.op, ...(step.note ? { note: step.note } : {}) });
    let skippedHere: StepSkipped | undefined;
    try {
      reg.handler(world, step, ctx);
    } catch (err) {
      if (err instanceof StepSkipped) skippedHere = err;
      else if (crashAdapters.some((a) => a(err, world))) world.halted = true;
      else locateError(err, loaded, base);
    }
    // A step that failed (or was skipped) without producing its result: later uses of the name skip
    // too, as a driver that checks the error never touches the handle.
    const as = (step as { as?: unknown }).as;
    if (typeof as === 'string' && !world.vars.has(as) && (skippedHere || failuresOf(tracer, before).some((f) => f.kind !== 'warn')))
      world.failedNames.set(as, skippedHere ? skippedHere.failedStep : i);
    if (skippedHere) {
      tracer.emit('scenario', 'step_skipped', { index: i, op: step.op, name: skippedHere.missing, failedStep: skippedHere.failedStep });
      world.say(`step ${i} (${step.op}) skipped: ${skippedHere.message}`);
    }
    // A layer may have recorded a fatal failure through its tracer alone.
    if (failuresOf(tracer, before).some((f) => FATAL_OUTCOMES.includes(f.kind))) world.halted = true;
  }

  const failures = failuresOf(tracer);
  const { outcome, decisive } = decideOutcome(failures);
  const exp = sc.expect ?? {};
  const expectedOutcome: Outcome = exp.outcome ?? 'ok';
  const texts = tracer.log.map((l) => l.text);
  const checks: Check[] = [];
  checks.push({
    what: 'outcome',
    ok: outcome === expectedOutcome,
    expected: expectedOutcome,
    actual: decisive ? `${outcome} (${decisive.message})` : outcome,
  });
  const matcher = (p: string, j: number, key: string) => {
    try {
      return logMatcher(p);
    } catch (err) {
      locateError(err, loaded, ['expect', key, j]);
    }
  };
  (exp.log ?? []).forEach((p, j) => {
    const m = matcher(p, j, 'log');
    const hit = texts.find(m);
    checks.push({ what: `log has ${p}`, ok: hit !== undefined, expected: p, actual: hit ?? '(no such line)' });
  });
  (exp.no_log ?? []).forEach((p, j) => {
    const m = matcher(p, j, 'no_log');
    const hit = texts.find(m);
    checks.push({ what: `log lacks ${p}`, ok: hit === undefined, expected: `no line matching ${p}`, actual: hit ?? '(none)' });
  });
  (exp.data ?? []).forEach((d, j) => {
    const path: PathSeg[] = ['expect', 'data', j];
    try {
      const addr = world.resolveAddr(d.addr, [...path, 'addr'], ['phys']);
      const size = world.resolveSize(d.size, [...path, 'size']);
      const want = dataBytes(d.equals, size);
      const got = world.mem.readBytes(addr, size);
      const diff = got ? compareBytes(want, got) : undefined;
      checks.push({
        what: `memory at ${'0x' + addr.toString(16)}${d.note ? ` (${d.note})` : ''}`,
        ok: !!got && !diff,
        expected: describeData(d.equals, size),
        actual: got ? describeDiff(diff, addr) : 'not RAM (a hole)',
      });
    } catch (err) {
      if (err instanceof StepSkipped)
        checks.push({ what: `memory at ${String(d.addr)}${d.note ? ` (${d.note})` : ''}`, ok: false, expected: String(d.equals), actual: `not available: ${err.message}` });
      else locateError(err, loaded, path);
    }
  });

  const result: RunResult = {
    file: loaded.file,
    name: loaded.name,
    title: sc.title,
    outcome,
    expectedOutcome,
    ok: checks.every((c) => c.ok),
    decisive,
    failures,
    log: tracer.log.map((l) => `${formatTimestamp(l.time)} ${l.text}`),
    checks,
    observations: world.observations,
    output: world.output,
    events: tracer.events,
    skippedSteps: skipped,
  };
  // The result holds no reference to the world's memory: its storage goes to the next run.
  world.mem.release();
  return result;
}
