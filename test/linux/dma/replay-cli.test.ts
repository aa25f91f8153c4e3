import { describe, it, expect, vi, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli } from '../../support/cli.js';

const dir = fileURLToPath(new URL('../../fixtures/oracle-dma/', import.meta.url));

afterEach(() => vi.restoreAllMocks());

describe('iommu-lab replay', () => {
  it('reports every call of a kernel trace as matched, exit 0', async () => {
    const r = await cli(['replay', dir + 'iova-4k-size-aligned.json', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toEqual({ kind: 'iova', calls: 88, matched: 88, first_mismatch: null });
  });

  it('finds the first call whose recorded answer differs, exit 1', async () => {
    const t = JSON.parse(readFileSync(dir + 'swiotlb-align.json', 'utf8'));
    t.calls[5].slot_index += 1; // pretend the kernel had picked another slot
    const tmp = join(mkdtempSync(join(tmpdir(), 'replay-')), 'bad.json');
    writeFileSync(tmp, JSON.stringify(t));
    const r = await cli(['replay', tmp, '--json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.first_mismatch.index).toBe(5);
    expect(j.first_mismatch.ours.slot_index).toBe(t.calls[5].slot_index - 1);
    const txt = await cli(['replay', tmp]);
    expect(txt.out).toMatch(/first mismatch at call #5 \(swiotlb_tbl_map_single\)/);
  });

  it('rejects broken JSON with file:line:col, exit 2', async () => {
    const tmp = join(mkdtempSync(join(tmpdir(), 'replay-')), 'broken.json');
    writeFileSync(tmp, '{\n  "schema": "iommu-lab-oracle-dma/1",\n  "kind": }\n');
    const r = await cli(['replay', tmp]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${tmp}:3:`);
    expect(r.err.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('rejects a JSON file of another schema, exit 2', async () => {
    const tmp = join(mkdtempSync(join(tmpdir(), 'replay-')), 'other.json');
    writeFileSync(tmp, JSON.stringify({ schema: 'something-else', kind: 'iova' }));
    const r = await cli(['replay', tmp]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/schema/);
  });
});
