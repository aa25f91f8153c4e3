/**
 * `iommu-lab run FILE...`: run scenarios and show what the modelled kernel printed, what went wrong and
 * whether the scenario's expectations held. Thin: the loader, runner and report in src/scenario do it.
 */
import type { Command } from 'commander';
import { ScenarioError } from '../scenario/errors.js';
import { loadScenarioFile } from '../scenario/loader.js';
import { renderRunText, runToJson, toJsonText } from '../scenario/report.js';
import { runScenario, type RunResult } from '../scenario/runner.js';
import { OUTCOME_MEANING, OUTCOMES } from '../scenario/schema.js';
import { setupScenarioLayers } from '../scenario/setup.js';
import { EXIT_MISMATCH, EXIT_OK, EXIT_USAGE } from './errors.js';
import type { SetExit } from './commands.js';

export function collectStrings(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Print a scenario's input errors, one `file:line:col: message` line each. Rethrows anything else. */
export function printScenarioError(err: unknown): void {
  if (err instanceof ScenarioError) {
    for (const l of err.lines()) process.stderr.write(`${l}\n`);
    return;
  }
  throw err;
}

/** Load and run one file; a ScenarioError is printed and gives undefined. */
export function tryRunFile(file: string, sets: readonly string[]): RunResult | undefined {
  try {
    return runScenario(loadScenarioFile(file, { sets }));
  } catch (err) {
    printScenarioError(err);
    return undefined;
  }
}

export const OUTCOME_HELP = OUTCOMES.map((o) => `  ${o.padEnd(14)} ${OUTCOME_MEANING[o]}`).join('\n');

export function registerRun(program: Command, setExit: SetExit): void {
  program
    .command('run')
    .description(
      'run scenarios: the kernel log with dmesg timestamps, then the outcome and each expectation checked',
    )
    .argument('<file...>', 'scenario YAML files (see scenarios/README.md for the format)')
    .option('--set <key=value>', 'override a scenario field by dotted path before validation (repeatable)', collectStrings)
    .option('--json', 'one JSON object per run ({"outcome","log","checks","events",...}); an array for several files')
    .option('--trace', 'also print every trace event (allocations, mappings, bounces, MMIO, walks)')
    .option('--explain', 'also print the causal chain that led to the outcome, in words')
    .addHelpText(
      'after',
      `
Examples:
  iommu-lab run scenarios/000-rk3568-npu/npu-8g-dt-above-4g.yaml --explain
  iommu-lab run my.yaml --set board.ram=8G --set kernel=v6.12+rk3568-iommu-v1 --set seed=7
  iommu-lab run my.yaml --set steps.3.size=8K --json

--set values are read as YAML (7 is a number, [a, b] a list, null removes the field), so an override is
validated exactly like the file; an error names the --set that caused it.

Outcomes (the first modelled failure decides; an Oops or BUG always does):
${OUTCOME_HELP}

Exit status: 0 when every expectation of every file held, 1 when one did not, 2 when a file could not
be read or validated (printed as "file:line:col: message").`,
    )
    .action((files: string[], o: { set?: string[]; json?: boolean; trace?: boolean; explain?: boolean }) => {
      setupScenarioLayers();
      const sets = o.set ?? [];
      const results: RunResult[] = [];
      let inputError = false;
      for (const f of files) {
        const r = tryRunFile(f, sets);
        if (r) results.push(r);
        else inputError = true;
      }
      const opts = { trace: !!o.trace, explain: !!o.explain };
      if (o.json) {
        const docs = results.map((r) => runToJson(r, opts));
        if (docs.length) process.stdout.write(toJsonText(files.length === 1 ? docs[0] : docs));
      } else {
        process.stdout.write(results.map((r) => renderRunText(r, opts)).join('\n'));
      }
      setExit(inputError ? EXIT_USAGE : results.every((r) => r.ok) ? EXIT_OK : EXIT_MISMATCH);
    });
}
