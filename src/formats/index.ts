/** The format registry: name -> format, as the kernel's io_pgtable_init_table is indexed by format id. */
import { InputError } from '../addr.js';
import type { PageTableFormat } from './types.js';

const formats = new Map<string, PageTableFormat>();

export function registerFormat(f: PageTableFormat): void {
  if (formats.has(f.name)) throw new Error(`format ${f.name} registered twice`);
  formats.set(f.name, f);
}

export function formatNames(): string[] {
  return [...formats.keys()];
}

export function getFormat(name: string): PageTableFormat {
  const f = formats.get(name);
  if (!f) throw new InputError(`unknown format '${name}' (known: ${formatNames().join(', ')})`);
  return f;
}
