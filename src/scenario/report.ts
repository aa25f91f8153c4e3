/** How a run is shown: kernel log, trace, observations, causal chain, outcome and checks; or as JSON. */
import { formatTimestamp, type TraceEvent } from '../trace/events.js';
import { explainRun } from './explain.js';
import type { RunResult } from './runner.js';

const HEX_KEY = /addr|iova|phys|dma|pa$|base|pfn|mask|va$|pte|dte|entry|value|val$|reg|status|offset|size|limit|end$|start|slot/i;

function fieldText(k: string, v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 10 && HEX_KEY.test(k) ? '0x' + v.toString(16) : String(v);
  if (typeof v === 'string') return /^[\w.:/+-]+$/.test(v) ? v : JSON.stringify(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return JSON.stringify(v, jsonReplacer);
}

/** One ftrace-like line: "[    0.000100] layer:type key=value ...". */
export function formatEvent(e: TraceEvent): string {
  const fields = Object.entries(e.data)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${fieldText(k, v)}`)
    .join(' ');
  return `${formatTimestamp(e.time)} ${e.layer}:${e.type}${fields ? ' ' + fields : ''}`;
}

/** JSON.stringify replacer: byte arrays as hex strings, nothing JSON cannot hold. */
export function jsonReplacer(_k: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (typeof v === 'bigint') return '0x' + v.toString(16);
  if (v instanceof Map) return Object.fromEntries(v);
  return v;
}

export interface ReportOptions {
  trace?: boolean;
  explain?: boolean;
}

export function renderRunText(r: RunResult, opts: ReportOptions = {}): string {
  const out: string[] = [];
  out.push(`== ${r.file}: ${r.title}`);
  out.push(...r.log);
  if (r.output.length) {
    out.push('-- output');
    out.push(...r.output);
  }
  if (opts.trace) {
    out.push('-- trace');
    for (const e of r.events) out.push(formatEvent(e));
  }
  if (r.observations.length) {
    out.push('-- observed');
    for (const c of r.observations)
      out.push(`  ${c.ok ? 'match   ' : 'MISMATCH'}  ${c.what}: ${c.expected}${c.ok ? '' : `; ${c.actual}`}`);
  }
  if (opts.explain) {
    out.push('-- why');
    out.push(...explainRun(r));
  }
  out.push(`-- outcome: ${r.outcome}${r.decisive ? ` (${r.decisive.message})` : ''}`);
  if (r.skippedSteps) out.push(`   ${r.skippedSteps} step(s) not run: the kernel died`);
  for (const c of r.checks) {
    const detail = c.ok ? c.expected : `expected ${c.expected}; got ${c.actual}`;
    out.push(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.what}${c.what === 'outcome' || !c.ok ? `: ${detail}` : ''}`);
  }
  const failed = r.checks.filter((c) => !c.ok).length;
  out.push(failed ? `FAIL (${failed} of ${r.checks.length} expectations not met)` : 'PASS');
  return out.join('\n') + '\n';
}

export function runToJson(r: RunResult, opts: ReportOptions = {}): Record<string, unknown> {
  return {
    file: r.file,
    name: r.name,
    title: r.title,
    outcome: r.outcome,
    expectedOutcome: r.expectedOutcome,
    ok: r.ok,
    decisive: r.decisive ?? null,
    log: r.log,
    checks: r.checks,
    observations: r.observations,
    output: r.output,
    failures: r.failures,
    ...(opts.explain ? { explain: explainRun(r) } : {}),
    events: r.events,
  };
}

export function toJsonText(v: unknown): string {
  return JSON.stringify(v, jsonReplacer, 2) + '\n';
}
