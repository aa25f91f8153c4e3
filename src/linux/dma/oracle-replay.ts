/**
 * Replays `iommu-lab-oracle-dma/1` traces (recorded from the kernel's own iova.c, swiotlb.c and
 * dma-direct code) through our implementation and compares every result.
 *
 * A trace entry is compared field by field: every field the kernel recorded must be present in our
 * answer with the same value (hex strings compared as the kernel printed them). Kernel messages are
 * compared per call, boot messages as a "setup" step, and the final allocator state as a "final" step.
 */
import { replayIova } from './oracle-replay-iova.js';
import { replaySwiotlb } from './oracle-replay-swiotlb.js';
import { replayDirect } from './oracle-replay-direct.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export interface OracleMessage {
  call: number;
  kind: string;
  level?: string;
  device?: string;
  file?: string;
  line?: number;
  cond?: string;
  flags?: string;
  text: string;
}

export interface ReplayStep {
  /** Index in the trace's call list; -1 for setup; calls.length for the final state. */
  index: number;
  call: JsonObject;
  expected: JsonObject;
  ours: JsonObject;
}

export interface ReplayResult {
  kind: string;
  calls: number;
  matched: number;
  first_mismatch: null | { index: number; call: Json; expected: Json; ours: Json };
  steps: ReplayStep[];
}

export class MalformedTrace extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedTrace';
  }
}

export function asObj(v: unknown, what: string): JsonObject {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new MalformedTrace(`${what} is not an object`);
  return v as JsonObject;
}

export function asArr(v: unknown, what: string): Json[] {
  if (!Array.isArray(v)) throw new MalformedTrace(`${what} is not an array`);
  return v as Json[];
}

export function hexField(o: JsonObject, k: string, what: string): string {
  const v = o[k];
  if (typeof v !== 'string' || !/^0x[0-9a-f]+$/i.test(v)) throw new MalformedTrace(`${what}.${k} is not a hex string`);
  return v;
}

export function numField(o: JsonObject, k: string, what: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new MalformedTrace(`${what}.${k} is not a number`);
  return v;
}

export function strField(o: JsonObject, k: string, what: string): string {
  const v = o[k];
  if (typeof v !== 'string') throw new MalformedTrace(`${what}.${k} is not a string`);
  return v;
}

/** Deep equality of JSON values; hex strings compare case-insensitively. */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase();
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => k in b && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** Every field of `expected` must be in `ours` with an equal value (extra fields of ours are ignored). */
export function matchesExpected(expected: JsonObject, ours: JsonObject): boolean {
  for (const k of Object.keys(expected)) if (!jsonEqual(expected[k], ours[k])) return false;
  return true;
}

/** `ours` cut down to the keys the kernel recorded (a key we cannot produce is null, a mismatch). */
export function restrictTo(expected: JsonObject, ours: JsonObject): JsonObject {
  const o: JsonObject = {};
  for (const k of Object.keys(expected)) o[k] = k in ours ? ours[k] : null;
  return o;
}

/** Messages of one call, in the trace's shape (only the fields the trace uses). */
export function messagesOf(all: OracleMessage[], call: number): Json[] {
  return all.filter((m) => m.call === call).map((m) => messageJson(m));
}

export function messageJson(m: OracleMessage): JsonObject {
  const o: JsonObject = { kind: m.kind };
  if (m.level !== undefined) o.level = m.level;
  if (m.device !== undefined) o.device = m.device;
  if (m.file !== undefined) o.file = m.file;
  if (m.line !== undefined) o.line = m.line;
  if (m.cond !== undefined) o.cond = m.cond;
  if (m.flags !== undefined) o.flags = m.flags;
  o.text = m.text;
  return o;
}

export function parseMessages(trace: JsonObject): OracleMessage[] {
  const arr = asArr(trace.kernel_messages ?? [], 'kernel_messages');
  return arr.map((m, i) => {
    const o = asObj(m, `kernel_messages[${i}]`);
    const msg: OracleMessage = { call: numField(o, 'call', `kernel_messages[${i}]`), kind: strField(o, 'kind', `kernel_messages[${i}]`), text: strField(o, 'text', `kernel_messages[${i}]`) };
    if (typeof o.level === 'string') msg.level = o.level;
    if (typeof o.device === 'string') msg.device = o.device;
    if (typeof o.file === 'string') msg.file = o.file;
    if (typeof o.line === 'number') msg.line = o.line;
    if (typeof o.cond === 'string') msg.cond = o.cond;
    if (typeof o.flags === 'string') msg.flags = o.flags;
    return msg;
  });
}

/** What every replay starts from: a step log, the kernel's messages, and the page size the trace ran with. */
export interface ReplayStart {
  log: StepLog;
  expectedMsgs: OracleMessage[];
  pageSize: number;
}

/** Reads `kernel_messages`, then `config.page_size` (the order in which a malformed trace is reported). */
export function startReplay(trace: JsonObject, cfg: JsonObject): ReplayStart {
  const expectedMsgs = parseMessages(trace);
  return { log: new StepLog(), expectedMsgs, pageSize: numField(cfg, 'page_size', 'config') };
}

/** Collects steps and summarises them. */
export class StepLog {
  readonly steps: ReplayStep[] = [];
  add(index: number, call: JsonObject, expected: JsonObject, ours: JsonObject): void {
    this.steps.push({ index, call, expected, ours });
  }
  /**
   * Step -1, before the first call: the state the kernel recorded under `key` (ours cut down to its
   * fields) and the messages printed while setting up (call -1).
   */
  addSetup(fn: string, key: string, expected: JsonObject, ours: JsonObject, expectedMsgs: OracleMessage[], ourMsgs: OracleMessage[]): void {
    this.add(
      -1,
      { fn },
      { [key]: expected, messages: messagesOf(expectedMsgs, -1) },
      { [key]: restrictTo(expected, ours), messages: messagesOf(ourMsgs, -1) },
    );
  }
  result(kind: string, calls: number): ReplayResult {
    let matched = 0;
    let first: ReplayResult['first_mismatch'] = null;
    for (const s of this.steps) {
      if (matchesExpected(s.expected, s.ours)) {
        if (s.index >= 0 && s.index < calls) matched++;
      } else if (!first) {
        first = { index: s.index, call: s.call, expected: s.expected, ours: restrictTo(s.expected, s.ours) };
      }
    }
    return { kind, calls, matched, first_mismatch: first, steps: this.steps };
  }
}

/** Replay a parsed trace. Throws MalformedTrace for a trace that does not follow the schema. */
export function replayOracleTrace(traceIn: unknown): ReplayResult {
  const trace = asObj(traceIn, 'trace');
  if (trace.schema !== 'iommu-lab-oracle-dma/1')
    throw new MalformedTrace(`schema is ${JSON.stringify(trace.schema)}, expected "iommu-lab-oracle-dma/1"`);
  switch (trace.kind) {
    case 'iova':
      return replayIova(trace);
    case 'swiotlb':
      return replaySwiotlb(trace);
    case 'direct':
      return replayDirect(trace);
    default:
      throw new MalformedTrace(`kind is ${JSON.stringify(trace.kind)}, expected "iova", "swiotlb" or "direct"`);
  }
}
