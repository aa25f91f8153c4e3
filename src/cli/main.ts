#!/usr/bin/env node
/** iommu-lab command line: thin wrappers that parse, call the library and print. */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { reportError, EXIT_USAGE } from './errors.js';
import { registerCommands } from './commands.js';

function pkgVersion(): string {
  try {
    const url = new URL('../../package.json', import.meta.url);
    const alt = new URL('../../../package.json', import.meta.url);
    for (const u of [url, alt]) {
      try {
        const p = JSON.parse(readFileSync(u, 'utf8')) as { name?: string; version?: string };
        if (p.name === 'iommu-lab' && p.version) return p.version;
      } catch {
        // try the next location (src/ vs dist/src/)
      }
    }
  } catch {
    // fall through
  }
  return '0.0.0';
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('iommu-lab')
    .description(
      'Simulate SoC IOMMUs and the Linux DMA-mapping stack, bit-exact where it touches hardware formats,\n' +
        'and read real IOMMU page tables out of memory dumps.',
    )
    .version(pkgVersion(), '-V, --version')
    .addHelpText(
      'after',
      `
Start here:
  iommu-lab start                                     run every built-in scenario (what npm start does)
  iommu-lab list                                      the built-in scenarios and their expected outcomes
  iommu-lab run scenarios/000-rk3568-npu/npu-8g-swiotlb-force-bounce.yaml --explain
  iommu-lab board rk3568 --ram 4G                     RAM banks, zones, IOMMUs and masters of a board
  iommu-lab walk examples/rockchip-v2-above-4g.core --format rockchip-v2 --root-reg 0xf1 --explain

Exit codes: 0 ok, 1 ran but did not match (expectations, replay), 2 usage or input error, 70 a bug of ours.`,
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
