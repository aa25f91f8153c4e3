/**
 * One page-table descriptor in words, through the format's own describeEntry (so `decode` and
 * `walk --explain` never disagree). Without a level, every level the format has is shown: the same
 * 64 bits are a table descriptor at one level and a block at another.
 */
import { InputError, hex } from '../addr.js';
import { getFormat } from '../formats/index.js';
import type { Reg64 } from '../formats/smmuv3.js';
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
