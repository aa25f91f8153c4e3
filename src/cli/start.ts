/** `iommu-lab start` (= `npm start`): run the whole built-in library, one summary line per scenario. */
import type { Command } from 'commander';
import { builtinScenarioDir, listScenarioFiles } from '../scenario/library.js';
import { toJsonText } from '../scenario/report.js';
import { setupScenarioLayers } from '../scenario/setup.js';
import { EXIT_MISMATCH, EXIT_OK, EXIT_USAGE } from './errors.js';
import type { SetExit } from './commands.js';
import { tryRunFile } from './run.js';

export function registerStart(program: Command, setExit: SetExit): void {
  program
    .command('start')
    .description('the main job: run every built-in scenario and print one line per scenario (name, outcome, pass/FAIL)')
    .option('--dir <dir>', 'run another directory of scenarios instead of the built-in library')
    .option('--json', 'machine-readable: {"scenarios":[{"name","file","outcome","expectedOutcome","ok"}],"passed","failed"}')
    .addHelpText(
      'after',
      `
Examples:
  npm start
  iommu-lab start --dir my-scenarios/

Each line: the scenario's name, the outcome it ended with, and pass or FAIL (with the outcome expected).
Run one with \`iommu-lab run FILE --explain\` to see why. Exit status: 0 when all passed, 1 when any
failed, 2 when a scenario file does not validate (its error is printed as file:line:col: message).`,
    )
    .action((o: { dir?: string; json?: boolean }) => {
      setupScenarioLayers();
      const dir = o.dir ?? builtinScenarioDir();
      const entries = listScenarioFiles(dir);
      const rows: { name: string; file: string; outcome: string; expectedOutcome: string; ok: boolean }[] = [];
      let invalid = false;
      const nw = Math.max(4, ...entries.map((e) => e.name.length));
      for (const e of entries) {
        const r = tryRunFile(e.file, []);
        const row = r
          ? { name: e.name, file: e.file, outcome: r.outcome, expectedOutcome: r.expectedOutcome, ok: r.ok }
          : { name: e.name, file: e.file, outcome: 'invalid', expectedOutcome: '-', ok: false };
        if (!r) invalid = true;
        rows.push(row);
        if (!o.json)
          process.stdout.write(
            `${row.name.padEnd(nw)}  ${row.outcome.padEnd(13)}  ${row.ok ? 'pass' : `FAIL (expected ${row.expectedOutcome})`}\n`,
          );
      }
      const failed = rows.filter((r) => !r.ok).length;
      if (o.json) process.stdout.write(toJsonText({ scenarios: rows, passed: rows.length - failed, failed }));
      else if (!rows.length) process.stdout.write(`no scenarios in ${dir}\n`);
      else process.stdout.write(`${rows.length} scenarios: ${rows.length - failed} passed, ${failed} FAILED\n`);
      setExit(invalid ? EXIT_USAGE : failed ? EXIT_MISMATCH : EXIT_OK);
    });
}
