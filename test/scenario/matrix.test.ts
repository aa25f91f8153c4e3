import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { cartesian, parseVary, renderMatrixTable, runMatrix } from '../../src/scenario/matrix.js';
import { setupScenarioLayers } from '../../src/scenario/setup.js';

setupScenarioLayers();
const OVERWRITTEN = fileURLToPath(new URL('../fixtures/scenario/lib/overwritten.yaml', import.meta.url));

describe('matrix', () => {
  it('parses --vary, accumulating values of a repeated key', () => {
    expect(parseVary(['board.ram=2G,4G', 'kernel=v6.12', 'board.ram=8G'])).toEqual([
      { key: 'board.ram', values: ['2G', '4G', '8G'] },
      { key: 'kernel', values: ['v6.12'] },
    ]);
    expect(() => parseVary([])).toThrow(/at least one --vary/);
    expect(() => parseVary(['ram'])).toThrow(/expected key=v1,v2/);
    expect(() => parseVary(['seed=1,,2'])).toThrow(/an empty value/);
  });

  it('is the cartesian product, first key slowest', () => {
    const c = cartesian([
      { key: 'a', values: ['1', '2'] },
      { key: 'b', values: ['x', 'y', 'z'] },
    ]);
    expect(c).toHaveLength(6);
    expect(c.map((v) => v.a + v.b)).toEqual(['1x', '1y', '1z', '2x', '2y', '2z']);
    expect(cartesian([{ key: 'a', values: ['1'] }, { key: 'b', values: [] }])).toEqual([]);
  });

  it('runs each combination with its overrides, and the outcome follows the data', () => {
    const progress: number[] = [];
    const vary = parseVary(['steps.1.size=0,64', 'board.ram=1G,2G']);
    const rows = runMatrix(OVERWRITTEN, vary, [], (done) => progress.push(done));
    expect(rows.map((r) => [r.values['steps.1.size'], r.values['board.ram'], r.result.outcome])).toEqual([
      ['0', '1G', 'ok'],
      ['0', '2G', 'ok'],
      ['64', '1G', 'data-mismatch'],
      ['64', '2G', 'data-mismatch'],
    ]);
    expect(progress).toEqual([0, 1, 2, 3, 4]);
    const table = renderMatrixTable(vary, rows);
    expect(table.split('\n')[0]).toBe('steps.1.size  board.ram  outcome        expected       result');
    expect(table).toContain('2 of 4 met their expectations');
  });

  it('a value that does not validate names the key', () => {
    expect(() => runMatrix(OVERWRITTEN, parseVary(['steps.1.size=0,8Q']))).toThrow(/--set steps\.1\.size: /);
  });
});
