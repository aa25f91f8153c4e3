/**
 * `--set key=value`: override any scenario field by dotted path before validation, so an overridden value
 * is checked exactly like one written in the file (and an error names the `--set` that caused it).
 *
 *   board.ram=8G   kernel=v6.12+rk3568-iommu-v1   seed=7   steps.3.size=8K   expect.log=[a, "b c"]
 *
 * The value is read as a YAML flow value (7 is a number, [a, b] a list, "x" a string, null removes the
 * field); a value YAML cannot read is taken as a plain string.
 */
import { parse as parseYaml } from 'yaml';
import { InputError } from '../addr.js';

export type PathSeg = string | number;

export interface Override {
  /** The key as the user wrote it ("steps.3.size"). */
  key: string;
  path: PathSeg[];
  value: unknown;
  /** The whole argument as given, for messages. */
  text: string;
}

export function parseSet(arg: string): Override {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new InputError(`--set '${arg}': expected key=value, e.g. --set board.ram=8G`);
  const key = arg.slice(0, eq).trim();
  const raw = arg.slice(eq + 1);
  const segs = key.split('.');
  if (segs.some((s) => s === '')) throw new InputError(`--set ${key}: empty path segment in the key`);
  const path: PathSeg[] = segs.map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  return { key, path, value: parseValue(raw), text: arg };
}

function parseValue(raw: string): unknown {
  if (raw.trim() === '') return '';
  try {
    return parseYaml(raw);
  } catch {
    return raw;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return `a ${typeof v} (${JSON.stringify(v)})`;
}

/** Apply overrides in order to a deep copy of `doc`. Errors name the key. */
export function applyOverrides(doc: unknown, overrides: readonly Override[]): unknown {
  let root: unknown = structuredClone(doc ?? {});
  for (const o of overrides) root = applyOne(root, o);
  return root;
}

function applyOne(root: unknown, o: Override): unknown {
  const fail = (msg: string): never => {
    throw new InputError(msg, `--set ${o.key}`);
  };
  if (root === null || typeof root !== 'object') fail('the scenario is not a map');
  let cur = root as Record<string, unknown> | unknown[];
  const walked: string[] = [];
  for (let i = 0; i < o.path.length; i++) {
    const seg = o.path[i];
    const last = i === o.path.length - 1;
    const here = walked.length ? walked.join('.') : 'the scenario';
    if (Array.isArray(cur)) {
      if (typeof seg !== 'number') fail(`${here} is a list: index it with a number, not '${seg}'`);
      const idx = seg as number;
      if (idx > cur.length || (idx === cur.length && !last))
        fail(`${here} has ${cur.length} item${cur.length === 1 ? '' : 's'} (0..${cur.length - 1}), no item ${idx}`);
      if (last) {
        if (o.value === null) cur.splice(idx, 1);
        else cur[idx] = o.value;
        return root;
      }
      const next = cur[idx];
      if (next === null || typeof next !== 'object') fail(`${here}.${idx} is ${describe(next)}, not a map or list`);
      cur = next as Record<string, unknown>;
    } else {
      const k = String(seg);
      if (last) {
        if (o.value === null) delete cur[k];
        else cur[k] = o.value;
        return root;
      }
      let next = cur[k];
      if (next === undefined || next === null) {
        next = typeof o.path[i + 1] === 'number' ? [] : {};
        cur[k] = next;
      } else if (typeof next !== 'object') {
        fail(`${walked.concat(k).join('.')} is ${describe(next)}, not a map or list`);
      }
      cur = next as Record<string, unknown>;
    }
    walked.push(String(seg));
  }
  return root;
}

/** The override whose path is the longest prefix of `path`, if any (the one that set this value). */
export function overrideFor(path: readonly PathSeg[], overrides: readonly Override[]): Override | undefined {
  let best: Override | undefined;
  for (const o of overrides) {
    if (o.path.length > path.length) continue;
    if (o.path.every((s, i) => String(s) === String(path[i])) && (!best || o.path.length >= best.path.length))
      best = o;
  }
  return best;
}
