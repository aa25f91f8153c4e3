/**
 * Read a scenario: YAML (keeping node positions) → `--set` overrides → zod validation → a typed scenario
 * that still knows where each of its fields came from, so any later error (from the schema, the world
 * factory or a step handler) points at `file:line:col`, or at the `--set` that supplied the value.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, extname } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair } from 'yaml';
import type { z } from 'zod';
import { InputError } from '../addr.js';
import { ScenarioError, type ScenarioIssue } from './errors.js';
import { applyOverrides, overrideFor, parseSet, type Override, type PathSeg } from './overrides.js';
import { Scenario, STEP_KINDS } from './schema.js';

export interface LoadedScenario {
  /** The file as given (used in every location). */
  file: string;
  /** Short name: the file name without extension. */
  name: string;
  /** Directory that relative paths in the scenario (dtb) are relative to. */
  baseDir: string;
  scenario: Scenario;
  overrides: readonly Override[];
  /** "file:line:col" of the YAML node at `path` (or of its nearest ancestor present), or "--set key". */
  locate(path: readonly PathSeg[]): string;
}

export interface LoadOptions {
  /** `--set` arguments, as strings ("board.ram=8G") or parsed. */
  sets?: readonly (string | Override)[];
}

export function loadScenarioFile(file: string, opts: LoadOptions = {}): LoadedScenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new InputError(code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String(err), file);
  }
  return loadScenarioText(text, file, opts);
}

export function loadScenarioText(text: string, file: string, opts: LoadOptions = {}): LoadedScenario {
  const overrides = (opts.sets ?? []).map((s) => (typeof s === 'string' ? parseSet(s) : s));
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const p = lc.linePos(offset);
    return { line: p.line, col: p.col };
  };
  if (doc.errors.length) {
    throw new ScenarioError(
      doc.errors.map((e) => {
        const { line, col } = at(e.pos[0]);
        return { location: `${file}:${line}:${col}`, message: `YAML: ${firstLine(e.message)}`, line, col };
      }),
    );
  }
  const raw = doc.toJS({ maxAliasCount: 1000 });
  const data = applyOverrides(raw, overrides);

  const locateNode = (path: readonly PathSeg[], key?: string) => {
    const n = findNode(doc, path, key);
    const pos = n ? at(n.offset) : { line: 1, col: 1 };
    return { location: `${file}:${pos.line}:${pos.col}`, ...pos };
  };
  const locate = (path: readonly PathSeg[]): string => {
    const o = overrideFor(path, overrides);
    return o ? `--set ${o.key}` : locateNode(path).location;
  };

  const parsed = Scenario.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    const issues: ScenarioIssue[] = [];
    for (const iss of parsed.error.issues) {
      for (const one of explainIssue(iss, data)) {
        const o = overrideFor(one.key === undefined ? one.path : [...one.path, one.key], overrides);
        if (o) {
          issues.push({ location: `--set ${o.key}`, message: one.message, line: 0, col: 0 });
        } else {
          const loc = locateNode(one.path, one.key);
          issues.push({ location: loc.location, message: one.message, line: loc.line, col: loc.col });
        }
      }
    }
    issues.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new ScenarioError(issues);
  }
  return {
    file,
    name: basename(file, extname(file)),
    baseDir: dirname(file),
    scenario: parsed.data,
    overrides,
    locate,
  };
}

function firstLine(s: string): string {
  return s.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
}

// ---- from a path to a YAML node -------------------------------------------------------------------

function keyText(p: Pair): string | undefined {
  const k = p.key as unknown;
  if (isScalar(k)) return String(k.value);
  if (k === null || k === undefined) return undefined;
  return String(k);
}

/**
 * The offset of the node at `path`; with `key`, of that key inside the map at `path`. When the path runs
 * out of the document (a missing key), the deepest node present: the map that lacks the key.
 */
function findNode(doc: Document, path: readonly PathSeg[], key?: string): { offset: number } | undefined {
  let node: unknown = doc.contents;
  let lastGood: Node | undefined = isNodeWithRange(node) ? node : undefined;
  let lastKey: Node | undefined;
  const segs = key === undefined ? path : [...path, key];
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    const wantKeyNode = key !== undefined && i === segs.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => keyText(p) === String(seg));
      if (!pair) break;
      if (wantKeyNode && isNodeWithRange(pair.key)) return { offset: pair.key.range![0] };
      lastKey = isNodeWithRange(pair.key) ? pair.key : undefined;
      node = pair.value;
      // `size:` with no value: point at the key.
      if (!isNodeWithRange(node) || (isScalar(node) && node.value === null && node.range![0] === node.range![1])) {
        if (lastKey) lastGood = lastKey;
        node = undefined;
        if (i === segs.length - 1) break;
        continue;
      }
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (!isNodeWithRange(node)) break;
    } else {
      break;
    }
    lastGood = node as Node;
  }
  return lastGood?.range ? { offset: lastGood.range[0] } : undefined;
}

function isNodeWithRange(n: unknown): n is Node {
  return !!n && typeof n === 'object' && Array.isArray((n as Node).range);
}

// ---- from a zod issue to a message a person can act on ---------------------------------------------

interface Explained {
  path: PathSeg[];
  /** Point at this key (of the map at `path`) rather than at the map. */
  key?: string;
  message: string;
}

function getAt(data: unknown, path: readonly PathSeg[]): unknown {
  let cur = data;
  for (const s of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[String(s)];
  }
  return cur;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return String(v);
}

function kindOf(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return `${typeof v === 'number' ? 'the number' : 'the ' + typeof v} ${String(v)}`;
}

function where(path: readonly PathSeg[], data: unknown): string {
  if (path.length === 0) return 'the scenario';
  if (path[0] === 'steps' && typeof path[1] === 'number') {
    const op = (getAt(data, path.slice(0, 2)) as { op?: unknown } | undefined)?.op;
    const stepName = `step ${path[1]}${typeof op === 'string' ? ` (${op})` : ''}`;
    return path.length === 2 ? stepName : `\`${path.slice(2).join('.')}\` of ${stepName}`;
  }
  return `\`${path.join('.')}\``;
}

function explainIssue(iss: z.core.$ZodIssue, data: unknown): Explained[] {
  const path = iss.path.map((p) => (typeof p === 'symbol' ? String(p) : p)) as PathSeg[];
  const value = getAt(data, path);
  const fullDesc = describeAt(path, data);
  // Descriptions of value kinds read "a size: ...", "an address: ..."; others describe a field's purpose.
  const desc = fullDesc && /^an? /.test(fullDesc) ? fullDesc : undefined;
  const parentPath = path.slice(0, -1);
  const parent = getAt(data, parentPath);
  if (
    value === undefined &&
    path.length > 0 &&
    iss.code !== 'unrecognized_keys' &&
    iss.code !== 'custom' &&
    parent !== null &&
    typeof parent === 'object' &&
    !Array.isArray(parent)
  ) {
    const key = String(path[path.length - 1]);
    if (!(iss.code === 'invalid_union' && key === 'op'))
      return [{ path: parentPath, message: `${where(parentPath, data)} lacks required key \`${key}\`` }];
  }
  switch (iss.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeysAt(path, data);
      return iss.keys.map((k) => ({
        path,
        key: k,
        message:
          `unknown key \`${k}\` in ${where(path, data)}` +
          (allowed.length ? `; allowed: ${allowed.join(', ')}` : ''),
      }));
    }
    case 'invalid_union': {
      if ((iss as { note?: string }).note === 'No matching discriminator') {
        const op = getAt(data, path);
        if (op === undefined)
          return [{ path: parentPath, message: `${where(parentPath, data)} has no \`op\`; one of: ${STEP_KINDS.join(', ')}` }];
        return [{ path, message: `unknown op ${show(op)}; one of: ${STEP_KINDS.join(', ')}` }];
      }
      return [{ path, message: `${where(path, data)}: expected ${desc ?? 'another kind of value'}, got ${kindOf(value)}` }];
    }
    case 'invalid_type': {
      const expected = desc ?? iss.expected;
      return [{ path, message: `${where(path, data)}: expected ${expected}, got ${kindOf(value)}` }];
    }
    case 'invalid_format':
      if (desc) return [{ path, message: `${where(path, data)}: ${show(value)} is not ${desc}` }];
      return [{ path, message: `${where(path, data)}: ${show(value)} does not fit${fullDesc ? ` (${fullDesc})` : ''}` }];
    case 'invalid_value':
      return [
        {
          path,
          message: `${where(path, data)}: ${show(value)} is not one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}`,
        },
      ];
    case 'too_small':
    case 'too_big': {
      const bound = iss.code === 'too_small' ? 'at least' : 'at most';
      const what = Array.isArray(value) ? 'items' : typeof value === 'string' ? 'characters' : '';
      return [{ path, message: `${where(path, data)}: ${show(value)} is out of range (${bound} ${String(iss.code === 'too_small' ? iss.minimum : iss.maximum)}${what ? ' ' + what : ''})` }];
    }
    default:
      return [{ path, message: `${where(path, data)}: ${iss.message}` }];
  }
}

// ---- walking the zod schema alongside the data (for allowed keys and descriptions) ------------------

type AnySchema = z.core.$ZodType & { description?: string };

function defOf(s: AnySchema): Record<string, unknown> & { type: string } {
  return (s as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
}

/** Strip optional/default/nullable wrappers, noting the first description met. */
function unwrap(s: AnySchema): { schema: AnySchema; description?: string } {
  let description = s.description;
  let cur = s;
  for (;;) {
    const d = defOf(cur);
    if ((d.type === 'optional' || d.type === 'default' || d.type === 'nullable') && d.innerType) {
      cur = d.innerType as AnySchema;
      description ??= cur.description;
    } else if (d.type === 'pipe' && d.in) {
      cur = d.in as AnySchema;
      description ??= cur.description;
    } else return { schema: cur, description };
  }
}

function schemaAt(path: readonly PathSeg[], data: unknown): { schema: AnySchema; description?: string } | undefined {
  let cur = unwrap(Scenario as unknown as AnySchema);
  for (let i = 0; i < path.length; i++) {
    cur = pickUnionOption(cur, getAt(data, path.slice(0, i)));
    const d = defOf(cur.schema);
    const seg = path[i];
    let next: AnySchema | undefined;
    if (d.type === 'object') next = (d.shape as Record<string, AnySchema>)[String(seg)];
    else if (d.type === 'array') next = d.element as AnySchema;
    else if (d.type === 'record') next = d.valueType as AnySchema;
    if (!next) return undefined;
    cur = unwrap(next);
  }
  return pickUnionOption(cur, getAt(data, path));
}

/** For a discriminated union, the option the data's discriminator selects (else the union itself). */
function pickUnionOption(s: { schema: AnySchema; description?: string }, value: unknown) {
  const d = defOf(s.schema);
  if (d.type !== 'union' || typeof d.discriminator !== 'string') return s;
  const disc = (value as Record<string, unknown> | undefined)?.[d.discriminator];
  for (const opt of d.options as AnySchema[]) {
    const od = defOf(unwrap(opt).schema);
    const lit = (od.shape as Record<string, AnySchema> | undefined)?.[d.discriminator];
    if (lit && (defOf(lit).values as unknown[] | undefined)?.includes(disc)) {
      const u = unwrap(opt);
      return { schema: u.schema, description: s.description ?? u.description };
    }
  }
  return s;
}

function describeAt(path: readonly PathSeg[], data: unknown): string | undefined {
  return schemaAt(path, data)?.description;
}

function allowedKeysAt(path: readonly PathSeg[], data: unknown): string[] {
  const s = schemaAt(path, data);
  if (!s) return [];
  const d = defOf(s.schema);
  return d.type === 'object' ? Object.keys(d.shape as object) : [];
}
