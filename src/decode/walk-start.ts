/**
 * Where `iommu-lab walk` starts when the user gives registers rather than a format and a root:
 *
 * - `--smmu-strtab STRTAB_BASE --strtab-cfg STRTAB_BASE_CFG --sid N [--ssid N]`: follow the SMMUv3
 *   stream table to the CD (formats/smmuv3.ts) and walk the table it names with the format, granule,
 *   ias and oas the CD (or the stage-2 STE) gives. A user never computes a root.
 * - `--format auto`: pick the format the base register value's form and the table contents allow;
 *   when more than one fits, say which and stop (exit 2), because guessing would print a confident
 *   walk of the wrong format.
 *
 * The walk command calls `startWalk` once the dump is open; it returns the options to walk with, the
 * lines to print before the walk, extra JSON, or a finished answer when the SMMU structures stop the
 * walk before any table (an abort STE, an invalid CD, a bypass stream).
 */
import { InputError as UsageError, hex } from '../addr.js';
import type { Dump } from '../dump/types.js';
import { allFormats } from '../formats/index.js';
import { resolveSmmuV3Stream, type Reg64, type SmmuResolution, reg64Hex } from '../formats/smmuv3.js';
import type { EnumerateResult, FormatConfig, PageTableFormat, ResolvedConfig } from '../formats/types.js';

export interface StartOptions {
  format?: string;
  root?: number[];
  rootReg?: number[];
  rootRegEncoding?: string;
  granule?: number;
  ias?: number;
  oas?: number;
  /** SMMUv3: start from STRTAB_BASE / STRTAB_BASE_CFG and a StreamID. */
  smmuStrtab?: Reg64;
  strtabCfg?: number;
  sid?: number;
  ssid?: number;
  iova?: number[];
  explain?: boolean;
  suggest?: boolean;
}

export interface StartResult {
  /** Replace these walk options. */
  overrides: { format: string; root?: number[]; rootReg?: number[]; rootRegEncoding?: string; granule?: number; ias?: number; oas?: number };
  /** Lines printed before the walk's own output. */
  notes: string[];
  /** Extra JSON keys for the walk document. */
  json: Record<string, unknown>;
  /** The walk cannot reach a table: this is the whole answer (exit 0: a finding, not a usage error). */
  stop?: { text: string; json: Record<string, unknown> };
}

function smmuJson(r: SmmuResolution): Record<string, unknown> {
  return {
    steps: r.steps.map((s) => ({ what: s.what, addr: s.addr === null ? null : hex(s.addr), words: s.words, fields: Object.fromEntries(s.fields), summary: s.summary })),
    outcome: r.outcome.kind === 'translate' ? { ...r.outcome, root: hex(r.outcome.root) } : r.outcome,
    notes: r.notes,
  };
}

/** The SMMU steps in words: one line each, or every field with --explain. */
export function smmuText(r: SmmuResolution, explain: boolean): string[] {
  const out: string[] = [];
  r.steps.forEach((s, i) => {
    const where = s.addr === null ? '' : ` at ${hex(s.addr)}`;
    out.push(`SMMUv3 ${i + 1}. ${s.what}${where}: ${s.summary}`);
    if (explain) {
      out.push(`   read ${s.words.join(' ')}`);
      for (const [k, v] of s.fields) out.push(`   ${k}: ${v}`);
    }
  });
  for (const n of r.notes) out.push(`SMMUv3 note: ${n}`);
  const o = r.outcome;
  if (o.kind === 'translate')
    out.push(`SMMUv3 → stage ${o.stage} table at ${hex(o.root)}: ${o.format}, granule ${o.granule / 1024}K, ias ${o.ias}, oas ${o.oas}`);
  else if (o.kind === 'bypass') out.push(`SMMUv3 → bypass: ${o.reason}`);
  else out.push(`SMMUv3 → no translation: ${o.reason}`);
  return out;
}

function startSmmu(opts: StartOptions, dump: Dump): StartResult {
  if (opts.strtabCfg === undefined || opts.sid === undefined)
    throw new UsageError('--smmu-strtab needs --strtab-cfg STRTAB_BASE_CFG and --sid N (the StreamID to follow)');
  if (opts.root?.length || opts.rootReg?.length)
    throw new UsageError('--smmu-strtab finds the table itself: do not also give --root or --root-reg');
  for (const [k, v] of [['--granule', opts.granule], ['--ias', opts.ias], ['--oas', opts.oas]] as const)
    if (v !== undefined) throw new UsageError(`${k} comes from the context descriptor with --smmu-strtab; leave it out`);
  const r = resolveSmmuV3Stream(dump, {
    strtabBase: opts.smmuStrtab as Reg64,
    strtabCfg: opts.strtabCfg,
    sid: opts.sid,
    ...(opts.ssid !== undefined ? { ssid: opts.ssid } : {}),
  });
  const text = smmuText(r, !!opts.explain);
  const json = { smmu: smmuJson(r) };
  const o = r.outcome;
  if (o.kind === 'translate') {
    if (opts.format && opts.format !== 'auto' && opts.format !== o.format)
      throw new UsageError(`--format ${opts.format} disagrees with the SMMU's context: it walks ${o.format}; leave --format out`);
    if (o.startLevel !== undefined) {
      // The walker derives its start level from ias (as io-pgtable-arm does); the SMMU uses S2SL0.
      const cfg = allFormats().find((f) => f.name === o.format)?.resolveConfig({ granule: o.granule, ias: o.ias, oas: o.oas });
      if (cfg && cfg.startLevel !== o.startLevel)
        text.push(`SMMUv3 note: S2SL0 names start level ${o.startLevel} but ias ${o.ias} with a ${o.granule / 1024}K granule starts at level ${String(cfg.startLevel)}; the walk below uses ${String(cfg.startLevel)}, the hardware would not agree`);
    }
    return { overrides: { format: o.format, root: [o.root], granule: o.granule, ias: o.ias, oas: o.oas }, notes: text, json };
  }
  // No table to walk: answer in the walk's own JSON shapes.
  const head = { format: null, root: null, roots: [], dump: { path: dump.path, kind: dump.kind }, ...json };
  const lines = [`${dump.path}: ${dump.kind}; SMMUv3 stream table ${reg64Hex(opts.smmuStrtab as Reg64)}, SID ${hex(opts.sid)}${opts.ssid !== undefined ? `, SSID ${opts.ssid}` : ''}`, ...text];
  let docJson: Record<string, unknown>;
  if (opts.iova?.length) {
    const translations = opts.iova.map((iova) =>
      o.kind === 'bypass'
        ? { iova: hex(iova), phys: hex(iova), prot: 3, protNames: 'READ|WRITE', leafSize: '0x0', fault: null, detail: o.reason, steps: [] }
        : { iova: hex(iova), phys: null, prot: 0, protNames: 'NONE', leafSize: '0x0', fault: 'translation', detail: o.reason, steps: [] },
    );
    for (const t of translations) lines.push(`iova ${t.iova} -> ${t.phys === null ? `no translation (${o.reason})` : `phys ${t.phys} (bypass)`}`);
    docJson = { ...head, translations };
  } else {
    lines.push(o.kind === 'bypass' ? 'no tables: every IOVA is its own physical address' : 'no mappings');
    docJson = { ...head, mappings: [], problems: o.kind === 'bypass' ? [] : [{ kind: 'root', addr: '0x0', message: o.reason }] };
  }
  // A transcript that stopped short: the reads the SMMU structures still need, as walk prints them.
  if (dump.kind === 'devmem') {
    const missing = dump.missingReads();
    docJson.missing = missing.map((m) => ({ addr: hex(m.addr), len: m.len }));
    for (const m of missing) lines.push(`missing: read ${hex(m.addr)} (${m.len} bytes)`);
    if (opts.suggest && missing.length) {
      lines.push('next reads to do on the board, then paste the output and run again:');
      for (const m of missing)
        for (let a = m.addr; a < m.addr + m.len; a += 4) lines.push(`  devmem ${hex(a)} 32        # or: io -4 ${hex(a)}`);
    }
  }
  return { overrides: { format: '' }, notes: [], json, stop: { text: lines.join('\n') + '\n', json: docJson } };
}

interface Candidate {
  fmt: PageTableFormat;
  encoding?: string;
  why: string;
}

const BAD_PROBLEMS = new Set(['reserved', 'cycle', 'address-size', 'root', 'outside-dump', 'loop', 'bus']);

/** Which register forms a raw base-register value can be, by format (the bits each driver writes). */
function registerFits(raw: number): { name: string; encoding?: string; why: string }[] {
  const out: { name: string; encoding?: string; why: string }[] = [];
  if (raw >= 2 ** 32) return out;
  const lo = raw >>> 0;
  // DTE_ADDR = rk_ops->mk_dtentries(dt_dma): valid bit 0 set (rockchip-iommu.c:961-962); v1 keeps
  // bits 11:1 zero (rk_mk_dte, :225-228), v2 bits 3:1 zero and packs address bits 39:32 into 11:4 (:230-237).
  if (lo & 1) {
    if ((lo & 0xffe) === 0) out.push({ name: 'rockchip-v1', why: 'DTE_ADDR form: bit 0 set, bits 11:1 clear' });
    if ((lo & 0xe) === 0)
      out.push({ name: 'rockchip-v2', why: (lo & 0xff0) !== 0 ? `DTE_ADDR v2 form: bit 0 set, address bits 39:32 packed in bits 11:4 (${hex((lo >>> 4) & 0xff)})` : 'DTE_ADDR form: bit 0 set, bits 3:1 clear' });
  }
  // DART TTBR: t8020 valid bit 31 + PA >> 12; t8110 valid bit 0 + (PA >> 14) << 2 (apple-dart.c:337-348).
  if (lo & 0x8000_0000) {
    out.push({ name: 'apple-dart', encoding: 't8020', why: 'DART TTBR t8020 form: bit 31 (valid) set' });
    out.push({ name: 'apple-dart2', encoding: 't8020', why: 'DART TTBR t8020 form: bit 31 (valid) set' });
  }
  if ((lo & 3) === 1) {
    out.push({ name: 'apple-dart', encoding: 't8110', why: 'DART TTBR t8110 form: bit 0 (valid) set, bit 1 clear' });
    out.push({ name: 'apple-dart2', encoding: 't8110', why: 'DART TTBR t8110 form: bit 0 (valid) set, bit 1 clear' });
  }
  return out;
}

function mappingsKey(e: EnumerateResult): string {
  return e.mappings.map((m) => `${m.iova}:${m.phys}:${m.size}:${m.prot}`).join(',');
}

function startAuto(opts: StartOptions, dump: Dump): StartResult {
  const regs = opts.rootReg ?? [];
  const roots = opts.root ?? [];
  if (!regs.length && !roots.length)
    throw new UsageError('--format auto needs the base register (--root-reg RAW), a root (--root PHYS), or the SMMUv3 registers (--smmu-strtab)');
  const userCfg: FormatConfig = {};
  if (opts.granule !== undefined) userCfg.granule = opts.granule;
  if (opts.ias !== undefined) userCfg.ias = opts.ias;
  if (opts.oas !== undefined) userCfg.oas = opts.oas;
  const lpaeConfigured = opts.granule !== undefined && opts.ias !== undefined;

  let cands: Candidate[] = [];
  if (regs.length) {
    // Every register value must fit the same (format, encoding).
    const per = regs.map(registerFits);
    for (const f of per[0]) {
      if (opts.rootRegEncoding && f.encoding && f.encoding !== opts.rootRegEncoding) continue;
      if (per.every((list) => list.some((g) => g.name === f.name && g.encoding === f.encoding)))
        cands.push({ fmt: allFormats().find((x) => x.name === f.name) as PageTableFormat, encoding: f.encoding, why: f.why });
    }
  } else {
    for (const fmt of allFormats()) if (fmt.name.startsWith('rockchip') || fmt.name.includes('dart')) cands.push({ fmt, why: 'a table at --root' });
  }
  if (lpaeConfigured)
    for (const fmt of allFormats())
      if (fmt.name.startsWith('arm-') && (roots.length || regs.every((r) => r % 2 === 0))) cands.push({ fmt, why: 'an LPAE TTBR (bit 0, CnP, clear) with the granule and ias given' });
  cands = cands.filter((c) => c.fmt);

  // Contents: the candidate's walker must find mappings and no garbage (reserved bits, tables outside
  // memory, loops, output beyond oas). A transcript holds too little to judge, and probing it would
  // add reads it does not need to the "missing" list, so it is judged by the register alone.
  type Judged = Candidate & { ok: boolean; mappings: number; key: string; reason: string };
  const judged: Judged[] = [];
  for (const c of cands) {
    const fc: FormatConfig = { ...userCfg };
    if (c.encoding) fc.rootRegisterEncoding = c.encoding;
    let cfg: ResolvedConfig;
    let rootList: number[];
    try {
      cfg = c.fmt.resolveConfig(c.fmt.name.startsWith('arm-') ? fc : { ...fc, ...(c.fmt.name.startsWith('rockchip') ? { granule: undefined, ias: undefined } : {}) });
      rootList = regs.length ? regs.flatMap((r) => c.fmt.decodeRootRegister(r, cfg)) : roots;
    } catch (e) {
      judged.push({ ...c, ok: false, mappings: 0, key: '', reason: (e as Error).message });
      continue;
    }
    if (!rootList.every((r) => dump.isBacked(r, c.fmt.entryBytes))) {
      judged.push({ ...c, ok: false, mappings: 0, key: '', reason: `root ${rootList.map(hex).join(', ')} is not in the dump` });
      continue;
    }
    if (dump.kind === 'devmem') {
      judged.push({ ...c, ok: true, mappings: 0, key: '', reason: c.why });
      continue;
    }
    const e = c.fmt.enumerate(dump, { roots: rootList, cfg });
    // A page a dump left out of a table it otherwise holds says nothing against this reading of it.
    const bad = e.problems.filter((q) => BAD_PROBLEMS.has(q.kind) && !q.partial);
    judged.push({
      ...c,
      ok: bad.length === 0 && e.mappings.length > 0,
      mappings: e.mappings.length,
      key: mappingsKey(e),
      reason: bad.length ? `${bad.length} problem(s), e.g. ${bad[0].message}` : e.mappings.length === 0 ? 'the table holds no mappings' : `${e.mappings.length} clean run(s)`,
    });
  }
  const label = (c: Candidate) => `${c.fmt.name}${c.encoding ? ` (${c.encoding} TTBR)` : ''}`;
  const fit = judged.filter((j) => j.ok);
  const lpaeHint = lpaeConfigured ? '' : ' (LPAE formats are not guessed without --granule and --ias; the SMMUv3 registers, --smmu-strtab, give them)';
  if (fit.length === 1) {
    const c = fit[0];
    const notes = [`--format auto: ${label(c)}: ${c.why}; ${c.reason}${judged.length > 1 ? `; ruled out: ${judged.filter((j) => j !== c).map((j) => `${label(j)} (${j.reason})`).join('; ')}` : ''}`];
    return {
      overrides: { format: c.fmt.name, ...(c.encoding ? { rootRegEncoding: c.encoding } : {}) },
      notes,
      json: { auto: { chosen: c.fmt.name, encoding: c.encoding ?? null, why: c.why, candidates: judged.map((j) => ({ format: j.fmt.name, encoding: j.encoding ?? null, fits: j.ok, reason: j.reason })) } },
    };
  }
  if (fit.length === 0) {
    const tried = judged.length ? judged.map((j) => `${label(j)}: ${j.reason}`).join('; ') : 'no format writes a base register of this form';
    throw new UsageError(`--format auto: no format fits${lpaeHint}: ${tried}`);
  }
  const same = fit.every((j) => j.key === fit[0].key) && dump.kind !== 'devmem';
  throw new UsageError(
    `--format auto: ${fit.length} formats fit (${fit.map(label).join(', ')})${same ? `, and they give the same ${fit[0].mappings} run(s) here` : ''}; choose one with --format${fit.some((j) => j.encoding) ? ' (and --root-reg-encoding for DART)' : ''}`,
  );
}

/** null when the walk starts from --format and --root/--root-reg as before. */
export function startWalk(opts: StartOptions, dump: Dump): StartResult | null {
  if (opts.smmuStrtab !== undefined) return startSmmu(opts, dump);
  if (opts.strtabCfg !== undefined || opts.sid !== undefined || opts.ssid !== undefined)
    throw new UsageError('--strtab-cfg, --sid and --ssid go with --smmu-strtab STRTAB_BASE');
  if (opts.format === 'auto') return startAuto(opts, dump);
  return null;
}
