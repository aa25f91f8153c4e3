/**
 * `matrix`: run one scenario over the cartesian product of overridden fields, e.g.
 * `--vary board.ram=2G,4G,8G --vary kernel=v6.12,v6.12+rk3568-iommu-v1` → 6 runs. Each combination is
 * applied as `--set` overrides (after any plain `--set`s), so it is validated like the file itself.
 */
import { InputError } from '../addr.js';
import { loadScenarioFile } from './loader.js';
import { parseSet, type Override } from './overrides.js';
import { runScenario, type RunResult } from './runner.js';

export interface Vary {
  key: string;
  values: string[];
}

/** "key=v1,v2,..." → Vary. Repeating a key appends values (for values that contain commas). */
export function parseVary(args: readonly string[]): Vary[] {
  const out: Vary[] = [];
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new InputError(`--vary '${a}': expected key=v1,v2,... e.g. --vary board.ram=2G,8G`);
    const key = a.slice(0, eq).trim();
    const values = a
      .slice(eq + 1)
      .split(',')
      .map((v) => v.trim());
    if (values.some((v) => v === '')) throw new InputError(`--vary ${key}: an empty value in '${a.slice(eq + 1)}'`);
    const existing = out.find((v) => v.key === key);
    if (existing) existing.values.push(...values);
    else out.push({ key, values });
  }
  if (!out.length) throw new InputError('matrix needs at least one --vary key=v1,v2,...');
  return out;
}

/** All combinations, the first key varying slowest (like nested loops in the order given). */
export function cartesian(vary: readonly Vary[]): Record<string, string>[] {
  let combos: Record<string, string>[] = [{}];
  for (const v of vary) {
    const next: Record<string, string>[] = [];
    for (const c of combos) for (const val of v.values) next.push({ ...c, [v.key]: val });
    combos = next;
  }
  return combos;
}

export interface MatrixRow {
  values: Record<string, string>;
  result: RunResult;
}

export function runMatrix(
  file: string,
  vary: readonly Vary[],
  sets: readonly string[] = [],
  progress?: (done: number, total: number, values: Record<string, string>) => void,
): MatrixRow[] {
  const base: Override[] = sets.map(parseSet);
  const combos = cartesian(vary);
  const rows: MatrixRow[] = [];
  combos.forEach((values, i) => {
    progress?.(i, combos.length, values);
    const overrides = [...base, ...Object.entries(values).map(([k, v]) => parseSet(`${k}=${v}`))];
    const loaded = loadScenarioFile(file, { sets: overrides });
    rows.push({ values, result: runScenario(loaded) });
  });
  progress?.(combos.length, combos.length, {});
  return rows;
}

/** A plain-text table: one column per varied key, then outcome, expected, result. */
export function renderMatrixTable(vary: readonly Vary[], rows: readonly MatrixRow[]): string {
  const header = [...vary.map((v) => v.key), 'outcome', 'expected', 'result'];
  const body = rows.map((r) => [
    ...vary.map((v) => r.values[v.key]),
    r.result.outcome,
    r.result.expectedOutcome,
    r.result.ok ? 'pass' : 'FAIL',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  const passed = rows.filter((r) => r.result.ok).length;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line), `${passed} of ${rows.length} met their expectations`].join('\n') + '\n';
}
