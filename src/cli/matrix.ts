/** `iommu-lab matrix FILE --vary key=v1,v2`: one scenario over the cartesian product of field values. */
import type { Command } from 'commander';
import { renderMatrixTable, parseVary, runMatrix } from '../scenario/matrix.js';
import { toJsonText } from '../scenario/report.js';
import { setupScenarioLayers } from '../scenario/setup.js';
import { EXIT_MISMATCH, EXIT_OK, EXIT_USAGE } from './errors.js';
import type { SetExit } from './commands.js';
import { collectStrings, printScenarioError } from './run.js';

/** "[#####---------------] 3/12": runs finished so far, and the one starting now. */
export function progressBar(done: number, total: number, width = 20): string {
  const filled = total ? Math.round((done / total) * width) : width;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done + 1}/${total}`;
}

export function registerMatrix(program: Command, setExit: SetExit): void {
  program
    .command('matrix')
    .description('run one scenario for every combination of the values given with --vary, and tabulate the outcomes')
    .argument('<file>', 'scenario YAML file')
    .option('--vary <key=v1,v2,...>', 'a field (dotted path, as for --set) and the values to try (repeatable)', collectStrings)
    .option('--set <key=value>', 'a fixed override applied to every combination (repeatable)', collectStrings)
    .option('--json', 'machine-readable: {"file","vary":[{"key","values"}],"runs":[{"values","outcome","expectedOutcome","ok"}]}')
    .addHelpText(
      'after',
      `
Examples:
  iommu-lab matrix scenarios/000-rk3568-npu/npu-8g-dt-above-4g.yaml --vary board.ram=2G,4G,8G
  iommu-lab matrix my.yaml --vary kernel=v6.12,v6.12+rk3568-iommu-v1 --vary seed=0,1,2,3 --json

The first --vary changes slowest. A value containing a comma can be given with its own --vary of the same
key (values accumulate). A progress line is shown on stderr when it is a terminal.
Exit status: 0 when every combination met the scenario's expectations, 1 when some did not (a sweep
often exists to find those), 2 for a file or override that does not validate.`,
    )
    .action((file: string, o: { vary?: string[]; set?: string[]; json?: boolean }) => {
      setupScenarioLayers();
      const vary = parseVary(o.vary ?? []);
      const tty = !!process.stderr.isTTY;
      let rows;
      try {
        rows = runMatrix(file, vary, o.set ?? [], (done, total, values) => {
          if (!tty) return;
          const what = Object.entries(values)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ');
          process.stderr.write(done < total ? `\r\x1b[K${progressBar(done, total)} ${what}` : '\r\x1b[K');
        });
      } catch (err) {
        if (tty) process.stderr.write('\r\x1b[K');
        printScenarioError(err);
        setExit(EXIT_USAGE);
        return;
      }
      if (o.json) {
        process.stdout.write(
          toJsonText({
            file,
            vary,
            runs: rows.map((r) => ({
              values: r.values,
              outcome: r.result.outcome,
              expectedOutcome: r.result.expectedOutcome,
              ok: r.result.ok,
              decisive: r.result.decisive?.message ?? null,
            })),
          }),
        );
      } else {
        process.stdout.write(renderMatrixTable(vary, rows));
      }
      setExit(rows.every((r) => r.result.ok) ? EXIT_OK : EXIT_MISMATCH);
    });
}
