/** The built-in scenario library: every *.yaml / *.yml under `scenarios/` of the package, sorted. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's `scenarios/` directory, found from this module's location (src/ or dist/src/). */
export function builtinScenarioDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'iommu-lab') return join(dir, 'scenarios');
      } catch {
        // not ours; keep looking upwards
      }
    }
    dir = dirname(dir);
  }
  return join(process.cwd(), 'scenarios');
}

export interface LibraryEntry {
  /** Path relative to the library directory without extension, with '/' separators ("000/npu-8g"). */
  name: string;
  file: string;
}

/** Scenario files under `dir`, recursively, in name order. A missing directory is an empty library. */
export function listScenarioFiles(dir: string = builtinScenarioDir()): LibraryEntry[] {
  const out: LibraryEntry[] = [];
  const visit = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) visit(p);
      else if (/\.ya?ml$/.test(n)) out.push({ name: relative(dir, p).split(sep).join('/').replace(/\.ya?ml$/, ''), file: p });
    }
  };
  visit(dir);
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
