/**
 * `iommu-lab decode`: one descriptor in words (`--format F [--level N] VALUE`), or the kernel's own
 * IOMMU fault reports pasted from dmesg (`--log FILE|-`, or the text as arguments), each field
 * explained. Thin: src/decode/ does the work.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InputError, hex, parseSize } from '../addr.js';
import { SMMU_STRUCTURES, describeDescriptor, describeSmmuStructure, descriptorJson, descriptorText } from '../decode/descriptor.js';
import { parseFaultLog, type FaultLogResult } from '../decode/fault-log.js';
import { parseReg64 } from '../formats/smmuv3.js';
import { formatNames } from '../formats/index.js';
import { EXIT_OK, UsageError } from './errors.js';
import type { SetExit } from './commands.js';

function parseLevel(s: string): number {
  if (!/^\d$/.test(s.trim())) throw new UsageError(`--level '${s}' is not a level number (0..3 for LPAE, 1..2 for Rockchip and DART)`);
  return parseInt(s, 10);
}

function parseBitsOpt(s: string, what: string): number {
  if (!/^\d+$/.test(s.trim())) throw new UsageError(`${what} '${s}' is not a number of bits`);
  return parseInt(s, 10);
}

export function faultLogText(r: FaultLogResult): string {
  const out: string[] = [];
  for (const l of r.lines) {
    const head = `line ${l.line}: ${l.kind === 'unrecognised' ? 'unrecognised' : l.kind}${l.device ? ` (${l.device})` : ''}${l.time !== undefined ? ` at ${l.time.toFixed(6)} s` : ''}`;
    out.push(head);
    if (l.kind === 'unrecognised') {
      out.push(`  ${l.text.trim()}`);
      continue;
    }
    const f = Object.entries(l.fields).map(([k, v]) => `${k}=${typeof v === 'number' ? (k.endsWith('index') || k === 'page_offset' ? hex(v) : String(v)) : v}`);
    if (f.length) out.push(`  ${f.join(' ')}`);
    for (const e of l.explain) out.push(`  - ${e}`);
  }
  out.push(`${r.recognised} line(s) recognised, ${r.unrecognised} unrecognised`);
  return out.join('\n') + '\n';
}

function readLog(src: string): string {
  if (src === '-') return readFileSync(0, 'latin1');
  return readFileSync(src, 'latin1');
}

export function registerDecode(program: Command, setExit: SetExit): void {
  program
    .command('decode')
    .description('explain one page-table descriptor (--format F VALUE), or kernel IOMMU fault lines pasted from dmesg (--log FILE, or the text)')
    .argument('[text...]', 'the descriptor value (with --format), or fault-report text')
    .option('--format <name>', `descriptor format: ${formatNames().join(', ')}`)
    .option('--level <n>', 'table level of the descriptor (default: every level the format has)', parseLevel)
    .option('--granule <size>', 'LPAE/DART granule (4K, 16K, 64K)', (s) => parseSize(s, '--granule'))
    .option('--ias <bits>', 'input address bits (decides LPAE levels)', (s) => parseBitsOpt(s, '--ias'))
    .option('--oas <bits>', 'output address bits', (s) => parseBitsOpt(s, '--oas'))
    .option('--smmu <structure>', `an SMMUv3 structure or register given as 64-bit words: ${SMMU_STRUCTURES.join(', ')}`)
    .option('--log <file>', "a dmesg excerpt to explain ('-' for standard input)")
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
Examples:
  iommu-lab decode --format rockchip-v2 --level 2 0x12345f07
  iommu-lab decode --format arm-64-lpae-s1 --level 3 0x40000812345f47
  iommu-lab decode --smmu ste 0x100000008030000b 0xd6
  dmesg | grep -i iommu | iommu-lab decode --log -
  iommu-lab decode 'rk_iommu fde4b000.iommu: BUS_ERROR occurred at 0x0000000000100000'

Recognised kernel lines (Linux 6.12 format strings): Rockchip "Page fault at …", "iova = …: dte_index: …",
"mmu_dte_addr: … dte@…", "BUS_ERROR occurred at …", "unexpected int_status: …"; Renesas IPMMU "Unhandled
fault: status … iova …", "Page Table Walk Abort @…", "Multiple TLB hits @…"; Apple DART "translation fault:
status:… stream:… code:… (…) at …"; arm-smmu "Unhandled context fault: …", "FSR = …", "FSYNR0 = …";
arm-smmu-v3 "event 0x10 received:" with its four 0x%016llx words (SID, SSID, read/write, IOVA).
dmesg timestamps, syslog prefixes and device prefixes are accepted; other lines are listed as unrecognised.
JSON: {"format","value","levels":[{"level","valid","kind","address","prot","reservedBitsSet","fields"}]} or
{"lines":[{"line","kind","device","time","fields","explain"}],"recognised","unrecognised"}.
Exit 0 when something was decoded, 2 for bad input (no recognisable line, a bad value).`,
    )
    .action((text: string[], o: Record<string, unknown>) => {
      const json = !!o.json;
      if (o.smmu !== undefined) {
        if (o.format !== undefined || o.log !== undefined) throw new UsageError('--smmu decodes SMMUv3 words on its own: leave out --format and --log');
        const words = text.map((t, i) => parseReg64(t, `word ${i}`));
        const r = describeSmmuStructure(o.smmu as string, words);
        if (json) process.stdout.write(JSON.stringify({ smmu: r.kind, words: r.words, fields: r.fields.map(([name, value]) => ({ name, value })) }, null, 2) + '\n');
        else process.stdout.write([`SMMUv3 ${r.kind} ${r.words.join(' ')}:`, ...r.fields.map(([k, v]) => `  ${k}: ${v}`)].join('\n') + '\n');
        setExit(EXIT_OK);
        return;
      }
      if (o.format !== undefined) {
        if (o.log !== undefined) throw new UsageError('give either --format F VALUE (a descriptor) or --log FILE (fault lines), not both');
        if (text.length !== 1) throw new UsageError(`--format needs exactly one descriptor VALUE (got ${text.length})`);
        const value = parseReg64(text[0], 'descriptor value');
        const r = describeDescriptor({
          format: o.format as string,
          value,
          ...(o.level !== undefined ? { level: o.level as number } : {}),
          ...(o.granule !== undefined ? { granule: o.granule as number } : {}),
          ...(o.ias !== undefined ? { ias: o.ias as number } : {}),
          ...(o.oas !== undefined ? { oas: o.oas as number } : {}),
        });
        process.stdout.write(json ? JSON.stringify(descriptorJson(r), null, 2) + '\n' : descriptorText(r));
        setExit(EXIT_OK);
        return;
      }
      for (const k of ['level', 'granule', 'ias', 'oas'] as const)
        if (o[k] !== undefined) throw new UsageError(`--${k} goes with --format (a descriptor)`);
      let input: string;
      let where: string;
      if (o.log !== undefined) {
        if (text.length) throw new UsageError('give the fault text either with --log FILE or as arguments, not both');
        where = o.log === '-' ? 'standard input' : (o.log as string);
        input = readLog(o.log as string);
      } else {
        if (!text.length) throw new UsageError('nothing to decode: give --format F VALUE, --log FILE, or the fault line as text (see --help)');
        where = 'the arguments';
        input = text.join(' ');
      }
      const r = parseFaultLog(input);
      if (r.recognised === 0) {
        const first = r.lines[0]?.text.trim();
        throw new InputError(
          `no kernel IOMMU fault line recognised in ${where} (${r.lines.length} non-empty line(s)${first ? `, first: '${first.slice(0, 80)}'` : ''}); see decode --help for the forms`,
        );
      }
      process.stdout.write(json ? JSON.stringify(r, null, 2) + '\n' : faultLogText(r));
      setExit(EXIT_OK);
    });
}
