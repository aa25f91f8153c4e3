/** One test per scenario file: it runs through the whole model and every check of its own `expect:` holds. */
import { expect, it } from 'vitest';
import type { LibraryEntry } from '../../src/scenario/library.js';
import { loadScenarioFile } from '../../src/scenario/loader.js';
import { runScenario } from '../../src/scenario/runner.js';

/** `requireOk`: the run must also report `ok` (RunResult.ok: every expectation held). */
export function itMeetsItsExpectations(files: LibraryEntry[], opts: { requireOk: boolean }): void {
  for (const f of files) {
    it(f.name, () => {
      const r = runScenario(loadScenarioFile(f.file));
      const failed = r.checks.filter((c) => !c.ok).map((c) => `${c.what}: ${c.actual}`);
      expect(failed, r.log.join('\n')).toEqual([]);
      if (opts.requireOk) expect(r.ok).toBe(true);
    });
  }
}
