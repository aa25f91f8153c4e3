import { describe, expect, it } from 'vitest';
import { applyOverrides, overrideFor, parseSet } from '../../src/scenario/overrides.js';

const base = {
  title: 't',
  board: { profile: 'rk3568', ram: '4G' },
  steps: [{ op: 'probe' }, { op: 'cpu_write', addr: 0, size: '4K', data: 'zero' }],
};

describe('--set', () => {
  it('parses key paths and YAML values', () => {
    expect(parseSet('board.ram=8G')).toMatchObject({ key: 'board.ram', path: ['board', 'ram'], value: '8G' });
    expect(parseSet('seed=7').value).toBe(7);
    expect(parseSet('steps.1.size=8K').path).toEqual(['steps', 1, 'size']);
    expect(parseSet('kernel=v6.12+rk3568-iommu-v1').value).toBe('v6.12+rk3568-iommu-v1');
    // Only the first '=' separates: a command line keeps its own.
    expect(parseSet('cmdline=iommu.strict=1 swiotlb=force').value).toBe('iommu.strict=1 swiotlb=force');
    expect(parseSet('expect.log=[a, "b c"]').value).toEqual(['a', 'b c']);
    expect(parseSet('x=0x1000').value).toBe(4096);
    expect(parseSet('x=').value).toBe('');
  });

  it('rejects malformed arguments, naming them', () => {
    expect(() => parseSet('board.ram')).toThrow(/--set 'board.ram': expected key=value/);
    expect(() => parseSet('=3')).toThrow(/expected key=value/);
    expect(() => parseSet('a..b=1')).toThrow(/--set a..b: empty path segment/);
  });

  it('overrides deep fields without touching the original', () => {
    const out = applyOverrides(base, [parseSet('board.ram=8G'), parseSet('steps.1.size=8K'), parseSet('seed=7')]) as typeof base & {
      seed: number;
    };
    expect(out.board.ram).toBe('8G');
    expect(out.steps[1].size).toBe('8K');
    expect(out.seed).toBe(7);
    expect(base.board.ram).toBe('4G');
    expect(base.steps[1].size).toBe('4K');
  });

  it('creates missing maps, appends at the end of a list, and removes with null', () => {
    const out = applyOverrides(base, [
      parseSet('expect.outcome=oops'),
      parseSet('steps.2={op: sleep, time: 1ms}'),
      parseSet('board.ram=null'),
    ]) as Record<string, unknown>;
    expect(out.expect).toEqual({ outcome: 'oops' });
    expect((out.steps as unknown[])[2]).toEqual({ op: 'sleep', time: '1ms' });
    expect(out.board).toEqual({ profile: 'rk3568' });
  });

  it('applies in order: a later --set wins', () => {
    const out = applyOverrides(base, [parseSet('seed=1'), parseSet('seed=2')]) as { seed: number };
    expect(out.seed).toBe(2);
  });

  it('names the key when a path cannot be followed', () => {
    expect(() => applyOverrides(base, [parseSet('steps.5.size=8K')])).toThrow('--set steps.5.size: steps has 2 items (0..1), no item 5');
    expect(() => applyOverrides(base, [parseSet('title.x=1')])).toThrow(/--set title.x: title is a string \("t"\), not a map or list/);
    expect(() => applyOverrides(base, [parseSet('steps.first.size=1')])).toThrow(/--set steps.first.size: steps is a list: index it with a number/);
  });

  it('finds the override that supplied a path (longest prefix)', () => {
    const o = [parseSet('steps.1={op: probe}'), parseSet('steps.1.device=x')];
    expect(overrideFor(['steps', 1, 'device'], o)?.key).toBe('steps.1.device');
    expect(overrideFor(['steps', 1, 'op'], o)?.key).toBe('steps.1');
    expect(overrideFor(['steps', 0, 'op'], o)).toBeUndefined();
  });
});
