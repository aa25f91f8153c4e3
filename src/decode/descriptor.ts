/**
 * One page-table descriptor in words, through the format's own describeEntry (so `decode` and
 * `walk --explain` never disagree). Without a level, every level the format has is shown: the same
 * 64 bits are a table descriptor at one level and a block at another.
 */
import { InputError, hex } from '../addr.js';
import { getFormat } from '../formats/index.js';
import { describeCd, describeSte, describeStrtabCfg, field64, reg64Hex, type Reg64 } from '../formats/smmuv3.js';
import { protNames, type EntryDescription, type FormatConfig, type ResolvedConfig } from '../formats/types.js';

export interface DescriptorRequest {
  format: string;
  level?: number;
  value: Reg64;
  granule?: number;
  ias?: number;
  oas?: number;
}

export interface DescribedLevel {
  level: number;
  entry: EntryDescription;
}

export interface DescriptorResult {
  format: string;
  value: string;
  cfg: ResolvedConfig;
  levels: DescribedLevel[];
}

/** The levels a format's tables have, in walk order (LPAE: start level..3; the others: 1, 2). */
function levelsOf(cfg: ResolvedConfig): number[] {
  if (typeof cfg.startLevel === 'number') {
    const out: number[] = [];
    for (let l = cfg.startLevel; l <= 3; l++) out.push(l);
    return out;
  }
  return Array.from({ length: cfg.levels }, (_, i) => i + 1);
}

export function describeDescriptor(req: DescriptorRequest): DescriptorResult {
  const fmt = getFormat(req.format);
  const fc: FormatConfig = {};
  if (req.granule !== undefined) fc.granule = req.granule;
  if (req.ias !== undefined) fc.ias = req.ias;
  if (req.oas !== undefined) fc.oas = req.oas;
  const cfg = fmt.resolveConfig(fc);
  if (fmt.entryBytes === 4 && req.value.hi !== 0)
    throw new InputError(`${fmt.name} entries are 32 bits; ${hex(req.value.hi)}${req.value.lo.toString(16).padStart(8, '0')} does not fit`);
  const all = levelsOf(cfg);
  if (req.level !== undefined && !all.includes(req.level))
    throw new InputError(`--level ${req.level}: ${fmt.name} (granule ${cfg.granule / 1024}K, ias ${cfg.ias}) has levels ${all.join(', ')}`);
  const levels = (req.level !== undefined ? [req.level] : all).map((level) => ({ level, entry: fmt.describeEntry(level, req.value.lo, req.value.hi, cfg) }));
  const value = req.value.hi ? '0x' + req.value.hi.toString(16) + req.value.lo.toString(16).padStart(8, '0') : hex(req.value.lo);
  return { format: fmt.name, value, cfg, levels };
}

/** Level names as the kernel's drivers call them. */
function levelName(format: string, level: number): string {
  if (format.startsWith('rockchip')) return level === 1 ? 'level 1 (DTE, directory entry)' : 'level 2 (PTE)';
  if (format.includes('dart')) return level === 1 ? 'level 1 (table entry)' : 'level 2 (PTE)';
  return `level ${level}`;
}

export function descriptorText(r: DescriptorResult): string {
  const out: string[] = [`${r.value} as a ${r.format} descriptor:`];
  for (const { level, entry: d } of r.levels) {
    const what =
      d.kind === 'table'
        ? `a table descriptor → next table at ${d.address === null ? '?' : hex(d.address)}`
        : d.kind === 'page' || d.kind === 'block'
          ? `a ${d.kind} → ${d.address === null ? '?' : hex(d.address)}, ${protNames(d.prot)}`
          : d.kind === 'invalid'
            ? 'invalid (the walk stops: translation fault)'
            : 'not a valid encoding here (the hardware faults)';
    out.push(`  ${levelName(r.format, level)}: ${what}${d.reservedBitsSet ? ' — RESERVED BITS SET' : ''}`);
    for (const [k, v] of d.fields) out.push(`    ${k}: ${v}`);
  }
  return out.join('\n') + '\n';
}

export function descriptorJson(r: DescriptorResult): Record<string, unknown> {
  return {
    format: r.format,
    value: r.value,
    levels: r.levels.map(({ level, entry: d }) => ({
      level,
      valid: d.valid,
      kind: d.kind,
      address: d.address === null ? null : hex(d.address),
      prot: d.prot,
      protNames: protNames(d.prot),
      reservedBitsSet: d.reservedBitsSet,
      fields: d.fields.map(([name, value]) => ({ name, value })),
    })),
  };
}

export const SMMU_STRUCTURES = ['ste', 'cd', 'strtab-base', 'strtab-cfg', 'l1-std', 'l1-cd'] as const;
export type SmmuStructure = (typeof SMMU_STRUCTURES)[number];

/**
 * SMMUv3 structures and registers by hand (words read with devmem, or from a dump): each field in
 * words, with formats/smmuv3.ts's own describers so `walk --explain` says the same.
 */
export function describeSmmuStructure(kind: string, words: Reg64[]): { kind: SmmuStructure; words: string[]; fields: [string, string][] } {
  if (!(SMMU_STRUCTURES as readonly string[]).includes(kind))
    throw new InputError(`--smmu '${kind}' is not one of ${SMMU_STRUCTURES.join(', ')}`);
  const k = kind as SmmuStructure;
  const max = k === 'ste' || k === 'cd' ? 4 : 1;
  if (words.length < 1 || words.length > max)
    throw new InputError(`--smmu ${k} takes ${max === 1 ? 'one value' : `1 to ${max} 64-bit words (word 0 first)`}, got ${words.length}`);
  if (k === 'strtab-cfg' && words[0].hi !== 0) throw new InputError('STRTAB_BASE_CFG is a 32-bit register');
  let fields: [string, string][];
  switch (k) {
    case 'ste':
      fields = describeSte(words);
      break;
    case 'cd':
      fields = describeCd(words);
      break;
    case 'strtab-cfg':
      fields = describeStrtabCfg(words[0].lo).fields;
      break;
    case 'strtab-base':
      fields = [
        ['ADDR (bits 51:6)', hex(field64(words[0], 51, 6) * 64)],
        ['RA (bit 62, read-allocate hint; Linux sets it)', String(field64(words[0], 62, 62))],
      ];
      break;
    case 'l1-std': {
      const span = field64(words[0], 4, 0);
      fields = [
        ['Span (bits 4:0)', `${span}${span === 0 ? ' (invalid: no level-2 table)' : ` (level-2 table of ${2 ** (span - 1)} STEs)`}`],
        ['L2Ptr (bits 51:6)', hex(field64(words[0], 51, 6) * 64)],
      ];
      break;
    }
    case 'l1-cd':
      fields = [
        ['V (bit 0)', String(field64(words[0], 0, 0))],
        ['L2Ptr (bits 51:12)', hex(field64(words[0], 51, 12) * 4096)],
      ];
      break;
  }
  if (words.length < max) fields.push(['note', `words ${words.length}..${max - 1} not given: read as 0`]);
  return { kind: k, words: words.map(reg64Hex), fields };
}
