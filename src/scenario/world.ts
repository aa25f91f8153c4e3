/**
 * The World: everything one run builds and every step acts on — board, memory, clock and tracer, the
 * kernel model and the hardware models — plus the names that steps give their results.
 *
 * Who builds it: a WorldFactory. The kernel layer's glue (a module in src/scenario/ that imports
 * board/, linux/ and hw/, keeping imports pointing downwards) installs one with `setWorldFactory`.
 * Until then `createMinimalWorld` gives the board, its memory, a clock and a tracer only: enough for
 * CPU reads and writes, data checks and the framework's tests.
 *
 * How failures are recorded: a modelled failure is a trace event whose `data.failure` is one of the
 * OUTCOMES ("page-fault", "oops", ...). Layers that only hold a Tracer emit such an event themselves,
 * e.g. `tracer.emit('hw', 'page_fault', { iova, failure: 'page-fault' })`; glue code may call
 * `world.fail(...)`. The runner decides the outcome from these events alone.
 */
import { isAbsolute, join } from 'node:path';
import { InputError, hex, parseAddr, parseSize } from '../addr.js';
import { loadBoard, type BoardSpec } from '../board/profiles.js';
import type { Board } from '../board/types.js';
import { getPreset } from '../linux/presets.js';
import { PhysMem } from '../mem/phys-mem.js';
import { SimClock, Tracer } from '../trace/events.js';
import { ScenarioPathError, StepSkipped } from './errors.js';
import type { PathSeg } from './overrides.js';
import { DEFAULT_KERNEL, FATAL_OUTCOMES, OUTCOMES, type Outcome, type Scenario } from './schema.js';

/** One expectation or observation: what was checked, whether it held, and both sides in words. */
export interface Check {
  what: string;
  ok: boolean;
  expected: string;
  actual: string;
}

/**
 * A named result of a step ("as: buf"): numbers by field (phys, dma, iova, virt, size) and a primary
 * field used when a reference names no field. `ref` carries a layer's own object (a domain, a device).
 */
export interface NamedValue {
  kind: string;
  primary: string;
  fields: Record<string, number>;
  ref?: unknown;
}

export interface WorldContext {
  /** The scenario file (for messages). */
  file: string;
  /** Directory that relative paths (dtb) resolve against. */
  baseDir: string;
}

export interface WorldParts {
  scenario: Scenario;
  ctx: WorldContext;
  mem: PhysMem;
  tracer: Tracer;
  board?: Board;
  /** The kernel model (its type belongs to the kernel layer's glue). */
  kernel?: unknown;
  /** The hardware models. */
  hw?: unknown;
}

const OUTCOME_SET = new Set<string>(OUTCOMES);

export class World {
  readonly scenario: Scenario;
  readonly ctx: WorldContext;
  readonly mem: PhysMem;
  readonly tracer: Tracer;
  readonly clock: SimClock;
  readonly board?: Board;
  kernel?: unknown;
  hw?: unknown;
  /** CPU page size in bytes (4096 or 16384). */
  readonly pageSize: number;
  readonly kernelPreset: string;
  /** Kernel command line: key → value ("" for a bare flag). Later duplicates win, as with most params. */
  readonly cmdline: ReadonlyMap<string, string>;
  /** Boot-history seed. */
  readonly seed: number;
  readonly vars = new Map<string, NamedValue>();
  /** Names (`as`) whose step failed without producing them, and that step's index: a later use skips. */
  readonly failedNames = new Map<string, number>();
  /** Data checks made by steps (device_read/cpu_read with `expect`). */
  readonly observations: Check[] = [];
  /**
   * What steps show the user besides the kernel log: a walk of a live table, a register read. Printed
   * after the log (text) and as `output` (JSON).
   */
  readonly output: string[] = [];
  /** Set once a fatal failure (Oops, BUG) happened: later steps do not run. */
  halted = false;

  constructor(parts: WorldParts) {
    this.scenario = parts.scenario;
    this.ctx = parts.ctx;
    this.mem = parts.mem;
    this.tracer = parts.tracer;
    this.clock = parts.tracer.clock;
    this.board = parts.board;
    this.kernel = parts.kernel;
    this.hw = parts.hw;
    this.pageSize = parts.scenario.page_size === '16K' ? 16384 : 4096;
    this.kernelPreset = parts.scenario.kernel ?? DEFAULT_KERNEL;
    this.cmdline = parseCmdline(parts.scenario.cmdline ?? '');
    this.seed = parts.scenario.seed ?? 0;
  }

  /** Show lines to the user (not kernel log), in the order the steps produce them. */
  say(...lines: string[]): void {
    for (const l of lines) this.output.push(l);
  }

  /** Record a modelled failure as a trace event. Fatal kinds halt the run after the current step. */
  fail(layer: string, kind: Outcome, message: string, data: Record<string, unknown> = {}): void {
    this.tracer.emit(layer, 'failure', { ...data, failure: kind, message });
    if (FATAL_OUTCOMES.includes(kind)) this.halted = true;
  }

  /** Record a data check made by a step; a mismatch is a modelled failure (data-mismatch). */
  observe(layer: string, check: Check, data: Record<string, unknown> = {}): void {
    this.observations.push(check);
    this.tracer.emit(layer, 'data_check', { ...data, what: check.what, ok: check.ok, expected: check.expected, actual: check.actual });
    if (!check.ok) this.fail(layer, 'data-mismatch', `${check.what}: ${check.actual}`, data);
  }

  define(name: string, value: NamedValue, path: readonly PathSeg[]): void {
    if (this.vars.has(name))
      throw new ScenarioPathError([...path], `the name '${name}' is already used by an earlier step`);
    this.vars.set(name, value);
    this.failedNames.delete(name);
  }

  lookup(name: string, path: readonly PathSeg[], kinds?: readonly string[]): NamedValue {
    const v = this.vars.get(name);
    const failedAt = this.failedNames.get(name);
    if (!v && failedAt !== undefined) throw new StepSkipped(name, failedAt);
    if (!v) {
      const known = [...this.vars.keys()];
      throw new ScenarioPathError(
        [...path],
        `no earlier step named a result '${name}'` + (known.length ? ` (names so far: ${known.join(', ')})` : ''),
      );
    }
    if (kinds && !kinds.includes(v.kind))
      throw new ScenarioPathError([...path], `'${name}' is a ${v.kind}, expected ${kinds.join(' or ')}`);
    return v;
  }

  /** Forget a name (after a free/unmap), so a later use is reported as an error. */
  undefine(name: string): void {
    this.vars.delete(name);
  }

  /**
   * An address expression: a number, a literal ("0x1_0000_0000", "4G"), or "name[.field] [+-] offset".
   * Without a field, the first of `prefer` the value has, else its primary field.
   */
  resolveAddr(expr: number | string, path: readonly PathSeg[], prefer: readonly string[] = []): number {
    if (typeof expr === 'number') return expr;
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\s*(?:([-+])\s*(.+?))?\s*$/.exec(expr);
    try {
      if (!m || /^(0x|\d)/i.test(expr.trim())) return parseAddr(expr, 'address');
      const v = this.lookup(m[1], path);
      let field = m[2];
      if (!field) field = prefer.find((f) => f in v.fields) ?? v.primary;
      const base = v.fields[field];
      if (base === undefined)
        throw new ScenarioPathError([...path], `'${m[1]}' has no field '${field}' (it has ${Object.keys(v.fields).join(', ')})`);
      if (!m[3]) return base;
      const off = parseSize(m[4], 'offset');
      const r = m[3] === '+' ? base + off : base - off;
      if (r < 0) throw new ScenarioPathError([...path], `'${expr}' is negative`);
      return r;
    } catch (err) {
      if (err instanceof ScenarioPathError) throw err;
      if (err instanceof InputError) throw new ScenarioPathError([...path], err.message);
      throw err;
    }
  }

  /** A size field: a number or "4K". */
  resolveSize(v: number | string, path: readonly PathSeg[]): number {
    if (typeof v === 'number') return v;
    try {
      return parseSize(v);
    } catch (err) {
      if (err instanceof InputError) throw new ScenarioPathError([...path], err.message);
      throw err;
    }
  }

  /** The failures recorded so far, in order. */
  failures(): FailureRecord[] {
    return failuresOf(this.tracer);
  }
}

export interface FailureRecord {
  kind: Outcome;
  seq: number;
  time: number;
  layer: string;
  type: string;
  message: string;
}

export function failuresOf(tracer: Tracer, fromSeq = 0): FailureRecord[] {
  const out: FailureRecord[] = [];
  for (let i = fromSeq; i < tracer.events.length; i++) {
    const e = tracer.events[i];
    const f = e.data.failure;
    if (typeof f === 'string' && OUTCOME_SET.has(f)) {
      const msg = typeof e.data.message === 'string' ? e.data.message : `${e.layer}:${e.type}`;
      out.push({ kind: f as Outcome, seq: e.seq, time: e.time, layer: e.layer, type: e.type, message: msg });
    }
  }
  return out;
}

/** "a=1 b c=\"x y\"" → {a: "1", b: "", c: "x y"}. */
export function parseCmdline(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /([^\s=]+)(?:=("[^"]*"|\S*))?/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    let v = m[2] ?? '';
    if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    out.set(m[1], v);
  }
  return out;
}

export type WorldFactory = (scenario: Scenario, ctx: WorldContext) => World;

/** The scenario's board section as the board layer takes it. Paths are relative to the scenario file. */
export function boardSpecOf(board: Scenario['board'], baseDir: string): BoardSpec {
  const spec: BoardSpec = {};
  if (board.profile !== undefined) spec.profile = board.profile;
  if (board.dtb !== undefined) spec.dtb = isAbsolute(board.dtb) ? board.dtb : join(baseDir, board.dtb);
  const ram = board.ram;
  if (typeof ram === 'number') spec.ram = String(ram);
  else if (typeof ram === 'string') spec.ram = ram.trim();
  else if (Array.isArray(ram))
    spec.ram = ram
      .map((b, i) => {
        const num = (v: number | string, what: string) => {
          try {
            return typeof v === 'number' ? v : parseAddr(v, what);
          } catch (err) {
            if (err instanceof InputError) throw new ScenarioPathError(['board', 'ram', i, what], err.message);
            throw err;
          }
        };
        return `${hex(num(b.base, 'base'))}:${hex(num(b.size, 'size'))}`;
      })
      .join(',');
  if (board.add) spec.add = board.add.map((a) => ({ path: a.path, ...(a.props ? { props: a.props } : {}) }));
  if (board.master_dma_bits) spec.masterDmaBits = { ...board.master_dma_bits };
  return spec;
}

/** Where in the scenario a board-layer error belongs, from the field its message names. */
function boardErrorPath(message: string, board: Scenario['board']): PathSeg[] {
  const add = /^board\.add\[(\d+)\]/.exec(message);
  if (add) return ['board', 'add', Number(add[1])];
  if (/^ram\b/.test(message)) return ['board', 'ram'];
  if (/profile/.test(message) && board.profile !== undefined) return ['board', 'profile'];
  if (board.dtb !== undefined && /dtb|cannot read/.test(message)) return ['board', 'dtb'];
  return ['board'];
}

/** The scenario's kernel preset must be one the kernel layer knows (src/linux/presets.ts). */
export function checkKernelPreset(scenario: Scenario): void {
  const name = scenario.kernel ?? DEFAULT_KERNEL;
  try {
    getPreset(name);
  } catch (err) {
    if (err instanceof InputError) throw new ScenarioPathError(['kernel'], err.message);
    throw err;
  }
}

/** Load the scenario's board; its input errors are placed at the board field they concern. */
export function loadScenarioBoard(scenario: Scenario, ctx: WorldContext): Board {
  const spec = boardSpecOf(scenario.board, ctx.baseDir);
  try {
    const board = loadBoard(spec);
    // Many real trees leave /memory to the bootloader (rk3588, rk3399, Apple): nothing to boot on.
    if (!board.ram.length)
      throw new ScenarioPathError(['board', scenario.board.dtb !== undefined ? 'dtb' : 'profile'], `${board.name} has no RAM: the device tree has no /memory node (the bootloader fills it in); give board.ram, e.g. ram: "0x200000:0xefe00000,0x100000000:4G"`);
    return board;
  } catch (err) {
    if (err instanceof InputError && !(err instanceof ScenarioPathError))
      throw new ScenarioPathError(boardErrorPath(err.message, scenario.board), err.message);
    throw err;
  }
}

/**
 * The world before the kernel layer exists: the board (from its profile or .dtb, RAM laid out as real
 * boards of that size are), its memory, a clock and a tracer. No kernel, no hardware models.
 */
export const createMinimalWorld: WorldFactory = (scenario, ctx) => {
  checkKernelPreset(scenario);
  const board = loadScenarioBoard(scenario, ctx);
  return new World({ scenario, ctx, board, mem: new PhysMem(board.ram), tracer: new Tracer(new SimClock()) });
};

let worldFactory: WorldFactory = createMinimalWorld;

/** Install the factory that builds full worlds (the kernel layer's glue does this once, at import). */
export function setWorldFactory(f: WorldFactory): void {
  worldFactory = f;
}

export function getWorldFactory(): WorldFactory {
  return worldFactory;
}
