/** Every subcommand registers itself here; each lives in its own file. */
import type { Command } from 'commander';
import { registerWalk } from './walk.js';
import { registerRun } from './run.js';
import { registerMatrix } from './matrix.js';
import { registerList } from './list.js';
import { registerStart } from './start.js';
import { registerBoard } from './board.js';
import { registerReplay } from './replay.js';
import { registerDecode } from './decode.js';

export type SetExit = (code: number) => void;

export function registerCommands(program: Command, setExit: SetExit): void {
  registerWalk(program, setExit);
  registerRun(program, setExit);
  registerMatrix(program, setExit);
  registerList(program, setExit);
  registerStart(program, setExit);
  registerBoard(program, setExit);
  registerReplay(program, setExit);
  registerDecode(program, setExit);
}
