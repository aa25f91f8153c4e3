import { InputError } from '../addr.js';

/** Exit codes scripts can rely on. */
export const EXIT_OK = 0;
/** A run whose outcome or checks did not match (a scenario failed its expectations, replay mismatched). */
export const EXIT_MISMATCH = 1;
/** Bad usage or bad input (a file that cannot be read or parsed, a wrong option). */
export const EXIT_USAGE = 2;

export class UsageError extends InputError {}

/** Print a user mistake as one line and return the exit code; rethrow anything else (a bug). */
export function reportError(err: unknown, stderr: (s: string) => void): number {
  if (err instanceof InputError) {
    stderr(`iommu-lab: error: ${err.message}\n`);
    return EXIT_USAGE;
  }
  const code = (err as { code?: string })?.code;
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
    stderr(`iommu-lab: error: ${(err as Error).message}\n`);
    return EXIT_USAGE;
  }
  throw err;
}
