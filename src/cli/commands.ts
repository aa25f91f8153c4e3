/** Every subcommand registers itself here; each lives in its own file. */
import type { Command } from 'commander';

export type SetExit = (code: number) => void;

export function registerCommands(program: Command, setExit: SetExit): void {
  program
    .command('start')
    .description('the main job: run the built-in scenario library and print one line per scenario')
    .action(() => {
      process.stdout.write('iommu-lab: nothing to run yet\n');
      setExit(0);
    });
}
