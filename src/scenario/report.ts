/** How a run is shown: kernel log, trace, observations, causal chain, outcome and checks; or as JSON. */
import { formatTimestamp, type TraceEvent } from '../trace/events.js';
import { eventText, jsonReplacer } from './event-text.js';
import { explainRun } from './explain.js';
import type { RunResult } from './runner.js';

/** One ftrace-like line: "[    0.000100] layer:type key=value ...". */
export function formatEvent(e: TraceEvent): string {
  return `${formatTimestamp(e.time)} ${eventText(e)}`;
}

export { jsonReplacer };

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
