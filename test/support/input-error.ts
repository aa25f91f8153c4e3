/** A user-input failure must be an InputError (one line for the CLI to print), not any other throw. */
import { expect } from 'vitest';
import { InputError } from '../../src/addr.js';

/** Run `fn`, expect it to throw an InputError whose message matches `re`, and return that error. */
export function expectInputError(fn: () => unknown, re: RegExp): InputError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InputError);
  expect((err as Error).message).toMatch(re);
  return err as InputError;
}
