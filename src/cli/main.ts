#!/usr/bin/env node
/** iommu-lab command line: thin wrappers that parse, call the library and print. */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { reportError, EXIT_USAGE } from './errors.js';
import { registerCommands } from './commands.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('iommu-lab')
    .description(
      'Simulate SoC IOMMUs and the Linux DMA-mapping stack, bit-exact where it touches hardware formats,\n' +
        'and read real IOMMU page tables out of memory dumps.',
    )
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');
  let exitCode = 0;
  registerCommands(program, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return 0;
      return EXIT_USAGE;
    }
    return reportError(err, (s) => process.stderr.write(s));
  }
}

function invokedDirectly(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

const isMain = invokedDirectly();
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`iommu-lab: internal error (a bug in iommu-lab, please report): ${(err as Error)?.stack ?? err}\n`);
      process.exitCode = 70;
    },
  );
}
