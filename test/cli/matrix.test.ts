import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';

const OVERWRITTEN = join(fileURLToPath(new URL('../fixtures/scenario/lib/', import.meta.url)), 'overwritten.yaml');

describe('iommu-lab matrix', () => {
  it('prints a table of the product; exit 1 when some combination misses its expectations', async () => {
    const r = await cli(['matrix', OVERWRITTEN, '--vary', 'steps.1.size=0,64', '--vary', 'steps.1.data=zero,word 0xdeadbeef']);
    expect(r.code).toBe(1);
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(2 + 4 + 1);
    expect(lines[2]).toMatch(/^0 +zero +ok +data-mismatch +FAIL$/);
    // Writing the same words over them changes nothing: the check passes, the outcome is ok.
    expect(lines[5]).toMatch(/^64 +word 0xdeadbeef +ok +data-mismatch +FAIL$/);
    expect(lines[4]).toMatch(/^64 +zero +data-mismatch +data-mismatch +pass$/);
    expect(r.err).toBe(''); // not a terminal: no progress line
  });

  it('--json, exit 0 when all combinations pass', async () => {
    const r = await cli(['matrix', OVERWRITTEN, '--vary', 'board.ram=1G,2G', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.vary).toEqual([{ key: 'board.ram', values: ['1G', '2G'] }]);
    expect(j.runs.map((x: { values: Record<string, string>; ok: boolean }) => [x.values['board.ram'], x.ok])).toEqual([
      ['1G', true],
      ['2G', true],
    ]);
  });

  it('exit 2 without --vary or with a value that does not validate', async () => {
    expect((await cli(['matrix', OVERWRITTEN])).code).toBe(2);
    const r = await cli(['matrix', OVERWRITTEN, '--vary', 'page_size=4K,64K']);
    expect(r.code).toBe(2);
    expect(r.err).toBe('--set page_size: `page_size`: "64K" is not one of "4K", "16K"\n');
  });
});

describe('matrix progress', () => {
  it('shows a progress line on stderr when it is a terminal, and clears it', async () => {
    const had = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    try {
      const r = await cli(['matrix', OVERWRITTEN, '--vary', 'board.ram=1G,2G']);
      expect(r.code).toBe(0);
      expect(r.err).toBe(
        '\r\x1b[K[--------------------] 1/2 board.ram=1G\r\x1b[K[##########----------] 2/2 board.ram=2G\r\x1b[K',
      );
    } finally {
      if (had) Object.defineProperty(process.stderr, 'isTTY', had);
      else delete (process.stderr as { isTTY?: boolean }).isTTY;
    }
  });
});
