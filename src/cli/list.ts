/** `iommu-lab list`: the built-in scenarios, with their title and expected outcome. */
import type { Command } from 'commander';
import { ScenarioError } from '../scenario/errors.js';
import { builtinScenarioDir, listScenarioFiles } from '../scenario/library.js';
import { loadScenarioFile } from '../scenario/loader.js';
import { toJsonText } from '../scenario/report.js';
import { registeredSteps } from '../scenario/runner.js';
import { STEP_KINDS } from '../scenario/schema.js';
import { setupScenarioLayers } from '../scenario/setup.js';
import { EXIT_OK, EXIT_USAGE } from './errors.js';
import type { SetExit } from './commands.js';

export function registerList(program: Command, setExit: SetExit): void {
  program
    .command('list')
    .description('list the built-in scenarios (scenarios/ of the package) with their title and expected outcome')
    .option('--dir <dir>', 'list another directory of scenarios instead')
    .option('--steps', 'list the step kinds of the format instead, and which layer implements each')
    .option('--json', 'machine-readable: [{"name","file","title","outcome","tags"}]')
    .addHelpText(
      'after',
      `
Examples:
  iommu-lab list
  iommu-lab run $(iommu-lab list --json | jq -r '.[0].file')
  iommu-lab list --steps

A file that does not validate is listed with its error on stderr, and the exit status is 2.`,
    )
    .action((o: { dir?: string; steps?: boolean; json?: boolean }) => {
      setupScenarioLayers();
      if (o.steps) {
        const impl = new Map(registeredSteps().map((r) => [r.kind, r.layer]));
        const rows = STEP_KINDS.map((k) => ({ op: k, layer: impl.get(k) ?? null }));
        if (o.json) process.stdout.write(toJsonText(rows));
        else for (const r of rows) process.stdout.write(`${r.op.padEnd(20)} ${r.layer ?? '(not implemented yet)'}\n`);
        setExit(EXIT_OK);
        return;
      }
      const dir = o.dir ?? builtinScenarioDir();
      const entries = listScenarioFiles(dir);
      const rows: { name: string; file: string; title: string; outcome: string; tags: string[] }[] = [];
      let bad = false;
      for (const e of entries) {
        try {
          const s = loadScenarioFile(e.file).scenario;
          rows.push({ name: e.name, file: e.file, title: s.title, outcome: s.expect?.outcome ?? 'ok', tags: s.tags ?? [] });
        } catch (err) {
          if (!(err instanceof ScenarioError)) throw err;
          for (const l of err.lines()) process.stderr.write(`${l}\n`);
          rows.push({ name: e.name, file: e.file, title: '(invalid: see error above)', outcome: 'invalid', tags: [] });
          bad = true;
        }
      }
      if (o.json) process.stdout.write(toJsonText(rows));
      else if (!rows.length) process.stdout.write(`no scenarios in ${dir}\n`);
      else {
        const nw = Math.max(4, ...rows.map((r) => r.name.length));
        const ow = Math.max(7, ...rows.map((r) => r.outcome.length));
        process.stdout.write(`${'name'.padEnd(nw)}  ${'outcome'.padEnd(ow)}  title\n`);
        for (const r of rows) process.stdout.write(`${r.name.padEnd(nw)}  ${r.outcome.padEnd(ow)}  ${r.title}\n`);
      }
      setExit(bad ? EXIT_USAGE : EXIT_OK);
    });
}
