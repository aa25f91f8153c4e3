/**
 * `iommu-lab walk DUMP`: every IOMMU mapping held in a memory dump, or the full story of one IOVA's
 * translation, from the value of the IOMMU's base register (or the table's physical address).
 *
 * The command is thin: the dump readers (src/dump/) make the file look like physical memory, the
 * format's own walker (src/formats/) does the walking and reports garbage as problems; this file
 * parses options, adds what only the dump knows (is the root even in the dump? which reads are
 * missing from a transcript?) and prints.
 */
import type { Command } from 'commander';
import { hex, parseAddr, parseSize } from '../addr.js';
import { openDump, vmcoreInfo } from '../dump/index.js';
import type { Dump, MissingRead, OpenDumpOptions } from '../dump/types.js';
import { formatNames, getFormat } from '../formats/index.js';
import {
  protNames,
  type EnumerateResult,
  type FormatConfig,
  type PageTableFormat,
  type ResolvedConfig,
  type WalkProblem,
  type WalkResult,
  type WalkStep,
} from '../formats/types.js';
import { EXIT_OK, UsageError } from './errors.js';
import type { SetExit } from './commands.js';
import { startWalk, type StartOptions } from '../decode/walk-start.js';
import { parseReg64, type Reg64 } from '../formats/smmuv3.js';

/** Where to start (format and root, or SMMUv3 registers: src/decode/walk-start.ts), the dump, and what to print. */
export interface WalkOptions extends StartOptions {
  format: string;
  base?: number;
  dumpType?: OpenDumpOptions['type'];
  json?: boolean;
}

/** What a walk produced: the JSON document, the text for humans, and the exit code. */
export interface WalkOutput {
  json: Record<string, unknown>;
  text: string;
  exitCode: number;
}

/** A 64-bit descriptor held as halves, printed kernel-style (`%#llx`) without losing bits above 2^53. */
export function hexHiLo(hi: number, lo: number): string {
  if (hi >>> 0 === 0) return '0x' + (lo >>> 0).toString(16);
  return '0x' + (hi >>> 0).toString(16) + (lo >>> 0).toString(16).padStart(8, '0');
}

/** Register values: hex or decimal, up to 53 bits (the number type). */
export function parseRegister(text: string): number {
  const t = text.trim().replace(/_/g, '');
  const m = /^(0x[0-9a-f]{1,16}|[0-9]+)$/i.exec(t);
  if (!m) throw new UsageError(`--root-reg '${text}' is not a number (e.g. 0xf1 or 0x80000000)`);
  const v = /^0x/i.test(t) ? parseInt(t.slice(2), 16) : parseInt(t, 10);
  if (!Number.isSafeInteger(v))
    throw new UsageError(
      `--root-reg '${text}' is 2^53 or more; mask off the bits the walker ignores (e.g. an ASID in bits 63:48)`,
    );
  return v;
}

function parseBits(text: string, what: string): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${what} '${text}' is not a number of bits`);
  const n = parseInt(text, 10);
  if (n < 1 || n > 52) throw new UsageError(`${what} ${n} is outside 1..52`);
  return n;
}

interface Prepared {
  fmt: PageTableFormat;
  cfg: ResolvedConfig;
  roots: number[];
  rootNote: string[];
}

function prepare(opts: WalkOptions, lookup: (name: string) => PageTableFormat): Prepared {
  const fmt = lookup(opts.format);
  const fc: FormatConfig = {};
  if (opts.granule !== undefined) fc.granule = opts.granule;
  if (opts.ias !== undefined) fc.ias = opts.ias;
  if (opts.oas !== undefined) fc.oas = opts.oas;
  if (opts.rootRegEncoding !== undefined) fc.rootRegisterEncoding = opts.rootRegEncoding;
  const cfg = fmt.resolveConfig(fc);
  const haveRoot = (opts.root?.length ?? 0) > 0;
  const haveReg = (opts.rootReg?.length ?? 0) > 0;
  if (haveRoot === haveReg)
    throw new UsageError(
      haveRoot
        ? 'give either --root (table addresses) or --root-reg (register values), not both'
        : 'give the top-level table: --root PHYS (its physical address) or --root-reg RAW (the base register value)',
    );
  const rootNote: string[] = [];
  let roots: number[];
  if (haveRoot) roots = opts.root as number[];
  else {
    roots = [];
    for (const raw of opts.rootReg as number[]) {
      const decoded = fmt.decodeRootRegister(raw, cfg);
      rootNote.push(`base register ${hex(raw)} decodes to ${decoded.map(hex).join(', ')} (${fmt.name})`);
      roots.push(...decoded);
    }
  }
  return { fmt, cfg, roots, rootNote };
}

/**
 * A table listed with the default granule that holds nothing, and no problem either, is often a
 * table of another granule read wrongly (a 16K table's entries sit where a 4K walk never looks): say
 * which other granules the format takes would list mappings from the same root, without problems.
 */
function otherGranules(p: Prepared, dump: Dump, opts: WalkOptions, lookup: (name: string) => PageTableFormat): string[] {
  const hints: string[] = [];
  for (const g of [4096, 16384, 65536]) {
    if (g === p.cfg.granule) continue;
    let q: Prepared;
    try {
      q = prepare({ ...opts, granule: g }, lookup);
    } catch {
      continue; // a granule this format does not have
    }
    const en = q.fmt.enumerate(dump, { roots: q.roots, cfg: q.cfg });
    if (en.mappings.length && !en.problems.length)
      hints.push(
        `read with granule ${g / 1024}K (--granule ${g / 1024}K) the same root lists ${en.mappings.length} run(s) without problems; ` +
          `this walk used ${p.cfg.granule / 1024}K, the format's default`,
      );
  }
  return hints;
}

/** Problems the dump alone can see: a root that is not in the dump at all. */
function rootProblems(p: Prepared, dump: Dump, already: WalkProblem[]): WalkProblem[] {
  const out: WalkProblem[] = [];
  p.roots.forEach((r, i) => {
    if (dump.isBacked(r, p.fmt.entryBytes)) return;
    if (already.some((q) => q.kind === 'root' && q.addr === r)) return;
    out.push({
      kind: 'root',
      addr: r,
      message: `root table${p.roots.length > 1 ? ` ${i}` : ''} at ${hex(r)} is not in the dump: ${dump.whyNotBacked(r, p.fmt.entryBytes)}`,
    });
  });
  return out;
}

function problemJson(q: WalkProblem): Record<string, unknown> {
  const o: Record<string, unknown> = { kind: q.kind, addr: hex(q.addr) };
  if (q.level !== undefined) o.level = q.level;
  if (q.partial) o.partial = true;
  o.message = q.message;
  return o;
}

function stepJson(s: WalkStep): Record<string, unknown> {
  return {
    level: s.level,
    tableAddr: hex(s.tableAddr),
    index: s.index,
    entryAddr: hex(s.entryAddr),
    entry: hexHiLo(s.entryHi, s.entryLo),
    kind: s.kind,
  };
}

/**
 * A walk over a dump: a read that nothing answered is a byte the dump does not hold - a page it left
 * out (makedumpfile drops zero pages, a transcript lacks the read) or no RAM there at all; the dump
 * cannot tell which, so the fault is 'outside-dump' with the dump's own reason, not a bus fault.
 */
function onDump(r: WalkResult, dump: Dump): WalkResult {
  if (r.fault !== 'bus' || !r.faultRead) return r;
  return { ...r, fault: 'outside-dump', detail: `${r.faultRead.what}: not in the dump (${dump.whyNotBacked(r.faultRead.addr, 4)})` };
}

function translationJson(r: WalkResult): Record<string, unknown> {
  const o: Record<string, unknown> = {
    iova: hex(r.iova),
    phys: r.phys === null ? null : hex(r.phys),
    prot: r.prot,
    protNames: protNames(r.prot),
    leafSize: hex(r.leafSize),
    fault: r.fault,
  };
  if (r.detail) o.detail = r.detail;
  if (r.notes && r.notes.length) o.notes = r.notes;
  o.steps = r.steps.map(stepJson);
  return o;
}

/** Align columns: every row the same number of cells, left-aligned, two spaces apart. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ')).join('\n') + '\n';
}

function log2(n: number): number {
  return Math.round(Math.log2(n));
}

/**
 * The IOVA bits each level indexes, from the resolved config alone (no format knowledge): the leaf
 * level indexes the bits just above the granule offset, each level up `bitsPerLevel` more, the top
 * level everything up to ias (concatenated stage-2 roots index more than one level's worth) less any
 * bits that choose among several top-level tables (DART's TTBR select, `tblBits`). The walk's first
 * step is at the start level, so the last level is start + levels - 1.
 */
function indexBits(cfg: ResolvedConfig, entryBytes: number, startLevel: number, level: number, isTop: boolean): [number, number] {
  const g = log2(cfg.granule);
  const num = (...keys: string[]) => {
    for (const k of keys) if (typeof cfg[k] === 'number') return cfg[k] as number;
    return undefined;
  };
  const bpl = num('bitsPerLevel', 'bits_per_level') ?? g - log2(entryBytes);
  const last = startLevel + cfg.levels - 1;
  const lo = g + (last - level) * bpl;
  const hi = isTop ? cfg.ias - 1 - (num('tblBits', 'tbl_bits') ?? 0) : lo + bpl - 1;
  return [hi, lo];
}

function bitsOf(iova: number, hi: number, lo: number): number {
  return Math.floor(iova / 2 ** lo) % 2 ** (hi - lo + 1);
}

/** The steps in words, in the order of the Rockchip guide's manual procedure (seeds/001 step 7). */
function explain(p: Prepared, r: WalkResult, dump: Dump): string {
  const { fmt, cfg } = p;
  const lines: string[] = [];
  lines.push(`IOVA ${hex(r.iova)} through ${fmt.name} (granule ${hex(cfg.granule)}, ias ${cfg.ias}, oas ${cfg.oas}, ${cfg.levels} levels):`);
  let letter = 0;
  const say = (s: string) => lines.push(`  ${String.fromCharCode(97 + (letter++ % 26))}. ${s}`);
  r.steps.forEach((s, i) => {
    const top = i === 0;
    const [hi, lo] = indexBits(cfg, fmt.entryBytes, r.steps[0].level, s.level, top);
    const name = `level ${s.level}`;
    say(`${name} table at ${hex(s.tableAddr)}${top ? ' (the root)' : ''}`);
    if (hi >= lo && bitsOf(r.iova, hi, lo) === s.index) {
      const mask = 2 ** (hi - lo + 1) - 1;
      say(`index = IOVA bits ${hi}:${lo} = (${hex(r.iova)} >> ${lo}) & ${hex(mask)} = ${s.index}`);
    } else say(`index = ${s.index}`);
    say(`entry address = ${hex(s.tableAddr)} + ${s.index} * ${fmt.entryBytes} = ${hex(s.entryAddr)}`);
    const d = fmt.describeEntry(s.level, s.entryLo, s.entryHi, cfg);
    const fields = d.fields.map(([k, v]) => `${k} ${v}`).join(', ');
    const raw = hexHiLo(s.entryHi, s.entryLo);
    let what: string;
    switch (s.kind) {
      case 'table':
        what = `a table descriptor: the next table is at ${d.address === null ? '?' : hex(d.address)}`;
        break;
      case 'block':
      case 'page':
        what = `a ${s.kind} descriptor: output address ${d.address === null ? '?' : hex(d.address)}, ${protNames(d.prot)}`;
        break;
      case 'invalid':
        what = 'invalid: the walk stops here (translation fault)';
        break;
      default:
        what = 'neither a valid table nor a leaf (hardware faults here)';
    }
    say(`read ${raw} at ${hex(s.entryAddr)}: ${what}${fields ? ` [${fields}]` : ''}${d.reservedBitsSet ? ' (reserved bits set)' : ''}`);
  });
  if (r.phys !== null && r.leafSize > 0) {
    const off = r.iova % r.leafSize;
    const offBits = log2(r.leafSize) - 1;
    const base = r.phys - off;
    say(`offset in the ${hex(r.leafSize)}-byte ${r.leafSize === cfg.granule ? 'page' : 'block'} = IOVA bits ${offBits}:0 = ${hex(off)}`);
    say(`physical address = ${hex(base)} + ${hex(off)} = ${hex(r.phys)} (${protNames(r.prot)})`);
  } else {
    say(`no translation: ${r.fault ?? 'fault'}${r.detail ? ` — ${r.detail}` : ''}`);
  }
  for (const n of r.notes ?? []) lines.push(`  note: ${n}`);
  const miss = dump.kind === 'devmem' ? dump.missingReads() : [];
  for (const m of miss) lines.push(`  missing: read ${hex(m.addr)} (${m.len} bytes)`);
  return lines.join('\n') + '\n';
}

function missingJson(m: MissingRead[]): Record<string, unknown>[] {
  return m.map((x) => ({ addr: hex(x.addr), len: x.len }));
}

/**
 * The commands to type on the board for reads a transcript lacks: one word with busybox devmem (or
 * Rockchip io), a longer run with `io -4 -l` or busybox `hexdump -C` of /dev/mem, whose output the
 * transcript reader accepts as it is.
 */
export function suggestReads(missing: MissingRead[]): string {
  if (missing.length === 0) return 'nothing more to read: the transcript holds every word this walk needs\n';
  const lines = ['next reads to do on the board (either command), then paste the output and run again:'];
  for (const m of missing) {
    if (m.len <= 4) lines.push(`  devmem ${hex(m.addr)} 32        # or: io -4 ${hex(m.addr)}`);
    else lines.push(`  io -4 -l ${hex(m.len)} ${hex(m.addr)}        # or: hexdump -C -s ${hex(m.addr)} -n ${m.len} /dev/mem`);
  }
  return lines.join('\n') + '\n';
}

export function runWalk(
  dumpPath: string,
  opts: WalkOptions,
  lookup: (name: string) => PageTableFormat = getFormat,
): WalkOutput {
  const dopts: OpenDumpOptions = {};
  if (opts.base !== undefined) dopts.base = opts.base;
  if (opts.dumpType) dopts.type = opts.dumpType;
  // The dump first: a file that cannot be read is the user's first problem whatever the format.
  const dump = openDump(dumpPath, dopts);
  try {
    const start = startWalk(opts, dump);
    if (start?.stop) return { json: start.stop.json, text: start.stop.text, exitCode: EXIT_OK };
    const p = prepare(start ? { ...opts, ...start.overrides } : opts, lookup);
    if (start) p.rootNote.unshift(...start.notes);
    const params = { roots: p.roots, cfg: p.cfg };
    // The dumped kernel's release, where the dump carries its VMCOREINFO (a kdump vmcore or kdump file).
    const release = vmcoreInfo(dump)?.get('OSRELEASE');
    const head = {
      format: p.fmt.name,
      root: hex(p.roots[0]),
      roots: p.roots.map(hex),
      dump: { path: dumpPath, kind: dump.kind, ...(release ? { osrelease: release } : {}) },
      ...(start?.json ?? {}),
    };
    const out: string[] = [];
    out.push(
      `${dumpPath}: ${dump.kind}${release ? ` of Linux ${release}` : ''}, ${dump.segments().length} run(s); ${p.fmt.name}, root ${p.roots.map(hex).join(', ')}\n`,
    );
    for (const n of p.rootNote) out.push(`${n}\n`);

    if (opts.iova && opts.iova.length) {
      const results = opts.iova.map((v) => onDump(p.fmt.walk(dump, params, v), dump));
      const json: Record<string, unknown> = { ...head, translations: results.map(translationJson) };
      const missing = dump.kind === 'devmem' ? dump.missingReads() : [];
      if (dump.kind === 'devmem') json.missing = missingJson(missing);
      for (const r of results) {
        if (opts.explain) {
          out.push(explain(p, r, dump));
          continue;
        }
        const res =
          r.phys === null
            ? `no translation (${r.fault ?? 'fault'}${r.detail ? `: ${r.detail}` : ''})`
            : `phys ${hex(r.phys)} (${hex(r.leafSize)} ${r.steps.at(-1)?.kind ?? 'leaf'}, ${protNames(r.prot)})`;
        out.push(`iova ${hex(r.iova)} -> ${res}\n`);
        out.push(
          table([
            ['  LEVEL', 'TABLE', 'INDEX', 'ENTRY ADDR', 'ENTRY', 'KIND'],
            ...r.steps.map((s) => [
              `  ${s.level}`,
              hex(s.tableAddr),
              String(s.index),
              hex(s.entryAddr),
              hexHiLo(s.entryHi, s.entryLo),
              s.kind,
            ]),
          ]),
        );
        for (const n of r.notes ?? []) out.push(`  note: ${n}\n`);
      }
      if (!opts.explain) for (const m of missing) out.push(`missing: read ${hex(m.addr)} (${m.len} bytes)\n`);
      if (opts.suggest) out.push(suggestReads(missing));
      return { json, text: out.join(''), exitCode: EXIT_OK };
    }

    const en: EnumerateResult = p.fmt.enumerate(dump, params);
    const problems = [...rootProblems(p, dump, en.problems), ...en.problems];
    const json: Record<string, unknown> = {
      ...head,
      mappings: en.mappings.map((m) => ({
        iova: hex(m.iova),
        phys: hex(m.phys),
        size: hex(m.size),
        prot: m.prot,
        protNames: protNames(m.prot),
      })),
      problems: problems.map(problemJson),
    };
    const missing = dump.kind === 'devmem' ? dump.missingReads() : [];
    if (dump.kind === 'devmem') json.missing = missingJson(missing);
    // Not on a devmem transcript: its reads are typed by hand, and --suggest lists only this walk's.
    const hints =
      en.mappings.length === 0 && !problems.length && opts.granule === undefined && !start && dump.kind !== 'devmem'
        ? otherGranules(p, dump, opts, lookup)
        : [];
    if (hints.length) json.hints = hints;
    if (en.mappings.length === 0) out.push('no mappings\n');
    else {
      const total = en.mappings.reduce((s, m) => s + m.size, 0);
      out.push(
        table([
          ['IOVA', 'PHYS', 'SIZE', 'PROT'],
          ...en.mappings.map((m) => [hex(m.iova), hex(m.phys), hex(m.size), protNames(m.prot)]),
        ]),
      );
      out.push(`${en.mappings.length} run(s), ${hex(total)} bytes mapped\n`);
    }
    for (const h of hints) out.push(`hint: ${h}\n`);
    if (problems.length) {
      out.push(`problems (${problems.length}):\n`);
      out.push(
        table(problems.map((q) => [`  ${q.kind}`, hex(q.addr), q.level === undefined ? '' : `level ${q.level}`, q.message])),
      );
    }
    for (const m of missing) out.push(`missing: read ${hex(m.addr)} (${m.len} bytes)\n`);
    if (opts.suggest) out.push(suggestReads(missing));
    return { json, text: out.join(''), exitCode: EXIT_OK };
  } finally {
    dump.close();
  }
}

const collect = <T>(parse: (s: string) => T) => (value: string, prev: T[] | undefined): T[] => [...(prev ?? []), parse(value)];

export function registerWalk(program: Command, setExit: SetExit): void {
  program
    .command('walk')
    .description(
      'list every IOMMU mapping in a memory dump, or explain how one IOVA translates, starting from the\n' +
        'top-level table (--root) or the IOMMU base register value (--root-reg)',
    )
    .argument('<dump>', 'ELF core (kdump vmcore, QEMU dump-guest-memory), kdump-compressed file (also flattened: makedumpfile -F, QEMU dump-guest-memory -z), devmem transcript, or raw image (with --base)')
    .option('--format <name>', `page-table format: ${formatNames().join(', ') || 'see the registry'}, or auto (chosen from the register's form and the table's contents)`)
    .option('--root <phys>', 'physical address of the top-level table (repeat, in order, for DART TTBRs)', collect((s) => parseAddr(s, '--root')))
    .option('--root-reg <raw>', 'raw base-register value (Rockchip DTE_ADDR, LPAE TTBR, DART TTBR), decoded by the format', collect(parseRegister))
    .option('--root-reg-encoding <name>', 'how the IOMMU block encodes --root-reg where it differs (e.g. DART t8110)')
    .option('--smmu-strtab <raw>', 'SMMUv3 STRTAB_BASE register value (64-bit): follow stream table, STE and CD to the page table', (s) => parseReg64(s, '--smmu-strtab'))
    .option('--strtab-cfg <raw>', 'SMMUv3 STRTAB_BASE_CFG register value', (s) => parseAddr(s, '--strtab-cfg'))
    .option('--sid <n>', 'SMMUv3 StreamID to follow', (s) => parseAddr(s, '--sid'))
    .option('--ssid <n>', 'SMMUv3 SubstreamID (PASID), when the STE has substreams', (s) => parseAddr(s, '--ssid'))
    .option('--granule <size>', 'granule (4K, 16K, 64K) where the format has a choice', (s) => parseSize(s, '--granule'))
    .option('--ias <bits>', 'input (IOVA) address bits', (s) => parseBits(s, '--ias'))
    .option('--oas <bits>', 'output (physical) address bits', (s) => parseBits(s, '--oas'))
    .option('--base <phys>', 'physical address of the first byte of a raw image', (s) => parseAddr(s, '--base'))
    .option('--dump-type <type>', 'force the dump reader: elf, raw, kdump, devmem (default: sniffed)', (s) => {
      if (!['elf', 'raw', 'kdump', 'devmem'].includes(s)) throw new UsageError(`--dump-type '${s}' is not one of elf, raw, kdump, devmem`);
      return s as OpenDumpOptions['type'];
    })
    .option('--iova <addr>', 'translate this IOVA and show every step (repeatable)', collect((s) => parseAddr(s, '--iova')))
    .option('--explain', 'with --iova: the steps in words, as the manual dump procedure does them')
    .option('--suggest', 'for a devmem transcript: print the next reads to type on the board')
    .option('--json', 'machine-readable output (addresses as hex strings)')
    .addHelpText(
      'after',
      `
Examples:
  iommu-lab walk examples/rockchip-v2-above-4g.core --format rockchip-v2 --root-reg 0xf1
  iommu-lab walk examples/rockchip-v2-above-4g.core --format rockchip-v2 --root-reg 0xf1 --iova 0x1000 --explain
  iommu-lab walk vmcore --format arm-64-lpae-s1 --granule 4K --ias 48 --oas 48 --root 0x4000f000 --json
  iommu-lab walk board.txt --format rockchip-v1 --root-reg 0x2a0d0001 --iova 0x1000 --suggest
  iommu-lab walk vmcore --smmu-strtab 0x4000000081240000 --strtab-cfg 0x10210 --sid 0x300 --iova 0xffff0000 --explain
  iommu-lab walk vmcore --format auto --root-reg 0x2a0d0101

Without --iova: every mapping, merged into runs where IOVA, physical address and permissions are
contiguous, and the problems found (entries pointing outside the dump, tables that loop, reserved bits,
output beyond oas). With --iova: each level's table, index, entry address, entry value and kind.
A devmem transcript (lines of "devmem ADDR 32" + value, "fde4b000:  000010f1" from io -4, or hexdump -C)
is walked as far as its reads go; what it lacks is printed as "missing: read 0x… (4 bytes)".
SMMUv3: give the STRTAB_BASE and STRTAB_BASE_CFG register values and a StreamID (--sid; --ssid for a
substream); the stream table (linear or 2-level), STE and CD give format, granule, ias, oas and TTB0
(--explain shows each structure's fields; an abort/bypass/invalid STE or an invalid CD is the answer).
--format auto chooses the format from the base register's form (Rockchip DTE_ADDR, DART TTBR) and the
table's contents; when several fit it lists them and exits 2. JSON then has "smmu" or "auto" too.
JSON: {"format","root","roots","mappings":[{"iova","phys","size","prot","protNames"}],"problems":[...]}
or {"format","root","roots","translations":[{"iova","phys","prot","fault","steps":[{"level","tableAddr",
"index","entryAddr","entry","kind"}]}]}; "fault" is null or one of translation, permission, address-size,
outside-ias, reserved, loop, bus, outside-dump (the dump lacks bytes the walk needs: a page it left out,
or no RAM there). A listing that finds nothing with the default granule says, as "hint" lines (JSON
"hints"), which --granule would list mappings from the same root. Exit 0 when the walk ran (problems
are findings), 2 for bad options or an unreadable dump.`,
    )
    .action((dump: string, o: Record<string, unknown>) => {
      const opts: WalkOptions = {
        format: o.format as string,
        root: o.root as number[] | undefined,
        rootReg: o.rootReg as number[] | undefined,
        rootRegEncoding: o.rootRegEncoding as string | undefined,
        granule: o.granule as number | undefined,
        ias: o.ias as number | undefined,
        oas: o.oas as number | undefined,
        base: o.base as number | undefined,
        dumpType: o.dumpType as OpenDumpOptions['type'],
        iova: o.iova as number[] | undefined,
        explain: !!o.explain,
        suggest: !!o.suggest,
        json: !!o.json,
        smmuStrtab: o.smmuStrtab as Reg64 | undefined,
        strtabCfg: o.strtabCfg as number | undefined,
        sid: o.sid as number | undefined,
        ssid: o.ssid as number | undefined,
      };
      if (!opts.format && !opts.smmuStrtab) throw new UsageError('give --format F (see --help), --format auto, or the SMMUv3 registers (--smmu-strtab)');
      if (opts.explain && !opts.iova?.length) throw new UsageError('--explain needs --iova ADDR (the IOVA to explain)');
      const r = runWalk(dump, opts);
      process.stdout.write(opts.json ? JSON.stringify(r.json, null, 2) + '\n' : r.text);
      setExit(r.exitCode);
    });
}

