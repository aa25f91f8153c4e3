/**
 * The format registry: name -> format, as the kernel's io_pgtable_init_table is indexed by format id.
 * Format modules export their PageTableFormat objects and never import this file (no import cycles);
 * each is listed here once.
 */
import { InputError } from '../addr.js';
import type { PageTableFormat } from './types.js';
import { lpaeFormats } from './lpae.js';
import { rockchipFormats } from './rockchip.js';
import { dartFormats } from './dart.js';

const ALL: PageTableFormat[] = [
  // format modules are added here, e.g. ...lpaeFormats,
  ...lpaeFormats,
  ...rockchipFormats,
  ...dartFormats,
];

const byName = new Map<string, PageTableFormat>(ALL.map((f) => [f.name, f]));

export function formatNames(): string[] {
  return [...byName.keys()];
}

export function getFormat(name: string): PageTableFormat {
  const f = byName.get(name);
  if (!f) throw new InputError(`unknown format '${name}' (known: ${formatNames().join(', ') || 'none yet'})`);
  return f;
}

export function allFormats(): readonly PageTableFormat[] {
  return ALL;
}
