/**
 * `--explain`: the causal chain of a run in words, built from the trace events.
 *
 * Layers contribute sentences: `registerExplainer('swiotlb:swiotlb_bounced', (e) => ...)` (key
 * "layer:type", or just "type" for any layer). An event without an explainer is left out of the chain,
 * so each layer chooses what a reader needs: which allocation landed where, which mapping bounced, which
 * write was overwritten, which walk failed.
 *
 * Which events form the chain: when the decisive failure (or an event it names) carries `cause` (a seq)
 * or `causes` (seqs), the chain is exactly those events, followed transitively; otherwise it is every
 * explained event up to the decisive failure.
 */
import { hex } from '../addr.js';
import { formatTimestamp, type TraceEvent } from '../trace/events.js';
import { eventText } from './event-text.js';
import type { RunResult } from './runner.js';

export interface ExplainContext {
  events: readonly TraceEvent[];
  bySeq(seq: number): TraceEvent | undefined;
  hex: (n: number) => string;
}

export type Explainer = (ev: TraceEvent, ctx: ExplainContext) => string | undefined;

const explainers = new Map<string, Explainer>();

export function registerExplainer(key: string, fn: Explainer, opts: { replace?: boolean } = {}): void {
  if (explainers.has(key) && !opts.replace) throw new Error(`an explainer for '${key}' is already registered`);
  explainers.set(key, fn);
}

function explainerFor(e: TraceEvent): Explainer | undefined {
  const own = explainers.get(`${e.layer}:${e.type}`) ?? explainers.get(e.type);
  if (own) return own;
  // A layer's own failure event (type "page_fault", "oops", ...) reads like any recorded failure.
  if (typeof e.data.failure === 'string') return explainers.get('failure');
  return undefined;
}

function causesOf(e: TraceEvent): number[] {
  const out: number[] = [];
  const c = e.data.cause;
  const cs = e.data.causes;
  if (typeof c === 'number') out.push(c);
  if (Array.isArray(cs)) for (const x of cs) if (typeof x === 'number') out.push(x);
  return out;
}

// The framework's own sentences; layers add theirs.
registerExplainer('scenario:step', (e) => {
  const note = typeof e.data.note === 'string' ? ` — ${e.data.note}` : '';
  return `step ${String(e.data.index)}: ${String(e.data.op)}${note}`;
});
registerExplainer('failure', (e) => `${String(e.data.failure).toUpperCase()}: ${String(e.data.message)}`);
// A failed data check is told by its failure event (which follows it); a passed one is not news.
registerExplainer('data_check', () => undefined);
registerExplainer('scenario:steps_skipped', (e) => `the remaining ${String(e.data.count)} step(s) did not run: ${String(e.data.reason)}`);
registerExplainer('cpu:cpu_write', (e) =>
  `the CPU wrote ${String(e.data.data)} to ${hex(Number(e.data.addr))}..${hex(Number(e.data.addr) + Number(e.data.size))}`,
);

/** The chain as lines, each "[timestamp] sentence"; step headers are kept only above events shown. */
export function explainRun(r: Pick<RunResult, 'events' | 'decisive' | 'outcome'>): string[] {
  const events = r.events;
  const ctx: ExplainContext = { events, bySeq: (s) => events[s], hex };
  const limit = r.decisive ? r.decisive.seq : events.length - 1;

  let chosen: Set<number>;
  const decisiveEv = r.decisive ? events[r.decisive.seq] : undefined;
  if (decisiveEv && causesOf(decisiveEv).length) {
    chosen = new Set([decisiveEv.seq]);
    const todo = causesOf(decisiveEv);
    while (todo.length) {
      const s = todo.pop()!;
      if (chosen.has(s) || !events[s]) continue;
      chosen.add(s);
      todo.push(...causesOf(events[s]));
    }
  } else {
    chosen = new Set();
    for (const e of events) {
      if (e.seq > limit) break;
      if (e.layer === 'scenario' && e.type === 'step') continue;
      if (e.seq === decisiveEv?.seq || (explainerFor(e) && e.type !== 'failure')) chosen.add(e.seq);
    }
    // Warnings and earlier failures that did not decide still belong to the story.
    for (const e of events) if (e.seq <= limit && e.type === 'failure') chosen.add(e.seq);
  }

  const lines: string[] = [];
  let pendingStep: TraceEvent | undefined;
  for (const e of events) {
    if (e.layer === 'scenario' && e.type === 'step') {
      pendingStep = e;
      continue;
    }
    if (!chosen.has(e.seq)) continue;
    const ex = explainerFor(e);
    // An event named as a cause but without an explainer is still shown, with its raw fields.
    const text = ex ? ex(e, ctx) : eventText(e);
    if (text === undefined) continue;
    if (pendingStep) {
      lines.push(explainerFor(pendingStep)!(pendingStep, ctx)!);
      pendingStep = undefined;
    }
    lines.push(`  ${formatTimestamp(e.time)} ${text}`);
  }
  if (!lines.length) lines.push(r.outcome === 'ok' ? 'nothing went wrong: no failure was recorded' : 'no events explain this outcome');
  return lines;
}
