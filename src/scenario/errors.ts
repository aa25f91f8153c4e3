/** Errors of the scenario layer: every one names where in the input it comes from. */
import { InputError } from '../addr.js';
import type { PathSeg } from './overrides.js';

/** One problem with a scenario, at `location` ("file:line:col" or "--set key"). */
export interface ScenarioIssue {
  location: string;
  message: string;
  /** For sorting: line and column (0 when the issue comes from a --set). */
  line: number;
  col: number;
}

/**
 * A scenario that cannot run as written. `message` is the first issue as one line
 * ("file:line:col: message"); `issues` holds all of them, in file order.
 */
export class ScenarioError extends InputError {
  constructor(readonly issues: ScenarioIssue[]) {
    const first = issues[0];
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super(first ? `${first.message}${more}` : 'invalid scenario', first?.location);
    this.name = 'ScenarioError';
  }

  /** Every issue as one line each, `file:line:col: message`. */
  lines(): string[] {
    return this.issues.map((i) => `${i.location}: ${i.message}`);
  }
}

/**
 * Thrown by a world factory or a step handler about a scenario field that is well-formed but cannot be
 * honoured (an unknown board profile, a buffer name never defined, a device the board lacks). `path` is
 * the field's path in the scenario (["board", "profile"], ["steps", 3, "buf"]); the runner turns it into
 * file:line:col.
 */
export class ScenarioPathError extends InputError {
  constructor(
    readonly path: PathSeg[],
    message: string,
  ) {
    super(message);
    this.name = 'ScenarioPathError';
  }
}

/**
 * A step (or an end-of-run data expectation) that needs a result an earlier step failed to produce: a
 * driver checks dma_mapping_error()/NULL and never uses the handle, so the run goes on without this step
 * and the earlier failure decides the outcome. Not an input error: the scenario is fine as written.
 */
export class StepSkipped extends Error {
  constructor(
    readonly missing: string,
    readonly failedStep: number,
  ) {
    super(`'${missing}' was not produced: step ${failedStep} failed`);
    this.name = 'StepSkipped';
  }
}
