/** Every subcommand registers itself here; each lives in its own file. */
import type { Command } from 'commander';
import { registerWalk } from './walk.js';

export type SetExit = (code: number) => void;

export function registerCommands(program: Command, setExit: SetExit): void {
  registerWalk(program, setExit);
  program
    .command('start')
    .description('the main job: run the built-in scenario library and print one line per scenario')
    .action(() => {
      process.stdout.write('iommu-lab: nothing to run yet\n');
      setExit(0);
    });
}
