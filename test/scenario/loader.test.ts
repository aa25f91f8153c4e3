import { describe, expect, it } from 'vitest';
import { ScenarioError } from '../../src/scenario/errors.js';
import { loadScenarioText } from '../../src/scenario/loader.js';

/** The error lines a text produces (file name f.yaml). */
function errorsOf(text: string, sets: string[] = []): string[] {
  try {
    loadScenarioText(text, 'f.yaml', { sets });
  } catch (err) {
    if (err instanceof ScenarioError) return err.lines();
    throw err;
  }
  throw new Error('expected a ScenarioError');
}

const GOOD = `title: good
board:
  profile: rk3568
  ram: 8G
kernel: v6.12+rk3568-iommu-v1
cmdline: "iommu.passthrough=0 iommu.strict=1 swiotlb=force"
page_size: 16K
seed: 3
steps:
  - op: alloc_pages
    order: 0
    gfp: GFP_KERNEL | __GFP_ZERO
    as: buf
  - op: dma_map
    dev: fde4b000.iommu
    buf: buf
    size: 4K
    dir: DMA_TO_DEVICE
    as: m
  - op: device_read
    master: npu
    addr: m.dma + 0x10
    size: 16
    expect: fill 0x5a
expect:
  outcome: page-fault
  log: ["Page fault at", "/of type (read|write)/"]
`;

describe('loading scenarios', () => {
  it('accepts a full scenario and keeps every field typed', () => {
    const l = loadScenarioText(GOOD, 'dir/good.yaml');
    expect(l.name).toBe('good');
    expect(l.baseDir).toBe('dir');
    expect(l.scenario.board).toEqual({ profile: 'rk3568', ram: '8G' });
    expect(l.scenario.page_size).toBe('16K');
    expect(l.scenario.steps.map((s) => s.op)).toEqual(['alloc_pages', 'dma_map', 'device_read']);
    expect(l.scenario.expect?.outcome).toBe('page-fault');
  });

  it('locates any field of the parsed file at its YAML node', () => {
    const l = loadScenarioText(GOOD, 'good.yaml');
    // "    addr: m.dma + 0x10" is line 22; the value starts in column 11.
    expect(l.locate(['steps', 2, 'addr'])).toBe('good.yaml:22:11');
    // A field that is absent points at the map that lacks it: the step, whose first key is at 20:5.
    expect(l.locate(['steps', 2, 'nothing'])).toBe('good.yaml:20:5');
  });

  it('reports a bad value deep in a step at that value', () => {
    const text = GOOD.replace('    size: 16\n', '    size: 16Q\n');
    // line 23 "    size: 16Q", value at column 11
    expect(errorsOf(text)).toEqual([
      'f.yaml:23:11: `size` of step 2 (device_read): "16Q" is not a size: a number, or a string such as "4K", "2M", "0x1000"',
    ]);
  });

  it('reports an unknown key at the key, listing the allowed ones', () => {
    const text = GOOD.replace('    dir: DMA_TO_DEVICE\n', '    dir: DMA_TO_DEVICE\n    direction: x\n');
    const lines = errorsOf(text);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^f\.yaml:19:5: unknown key `direction` in step 1 \(dma_map\); allowed: op, note, dev, buf, size, dir, attrs, as$/);
  });

  it('reports an unknown key at the top level too', () => {
    expect(errorsOf(GOOD.replace('seed: 3\n', 'seed: 3\nsede: 4\n'))[0]).toMatch(/^f\.yaml:9:1: unknown key `sede` in the scenario/);
  });

  it('reports a wrong type with what was found', () => {
    const text = GOOD.replace('seed: 3', 'seed: three');
    expect(errorsOf(text)).toEqual(['f.yaml:8:7: `seed`: expected number, got the string "three"']);
    const t2 = GOOD.replace('    order: 0\n', '    order: [0]\n');
    expect(errorsOf(t2)[0]).toMatch(/^f\.yaml:11:12: `order` of step 0 \(alloc_pages\): expected number, got a list$/);
  });

  it('reports a missing required key at the map that lacks it', () => {
    const text = GOOD.replace('    dir: DMA_TO_DEVICE\n', '');
    expect(errorsOf(text)).toEqual(['f.yaml:14:5: step 1 (dma_map) lacks required key `dir`']);
  });

  it('reports an unknown op at its value and a missing op at the step', () => {
    const bad = GOOD.replace('  - op: dma_map\n', '  - op: dma_mapp\n');
    expect(errorsOf(bad)[0]).toMatch(/^f\.yaml:14:9: unknown op "dma_mapp"; one of: probe, attach, /);
    const none = GOOD.replace('  - op: dma_map\n    dev:', '  - dev:');
    expect(errorsOf(none)[0]).toMatch(/^f\.yaml:14:5: step 1 has no `op`; one of: probe/);
  });

  it('reports an enum value that is not allowed', () => {
    expect(errorsOf(GOOD.replace('page_size: 16K', 'page_size: 64K'))).toEqual([
      'f.yaml:7:12: `page_size`: "64K" is not one of "4K", "16K"',
    ]);
    expect(errorsOf(GOOD.replace('outcome: page-fault', 'outcome: crash'))[0]).toMatch(/^f\.yaml:26:12: `expect.outcome`: "crash" is not one of "ok", /);
  });

  it('reports board needing exactly one of profile or dtb', () => {
    expect(errorsOf(GOOD.replace('  profile: rk3568\n', '  profile: rk3568\n  dtb: x.dtb\n'))).toEqual([
      'f.yaml:3:3: `board`: board needs exactly one of `profile` or `dtb`',
    ]);
  });

  it('reports YAML syntax errors with their position', () => {
    const lines = errorsOf('title: x\nboard: { profile: rk3568\nsteps: []\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^f\.yaml:\d+:\d+: YAML: /);
    // A tab used as indentation: at the tab (line 3, column 1).
    expect(errorsOf('title: x\nsteps:\n\t- op: probe\n')).toEqual(['f.yaml:3:1: YAML: Tabs are not allowed as indentation']);
    // "a: b: c": the nested mapping starts at column 4.
    expect(errorsOf('title: b: c\n')[0]).toMatch(/^f\.yaml:1:8: YAML: Nested mappings are not allowed in compact mappings$/);
    // A duplicate key is a YAML error at the second key.
    expect(errorsOf('title: x\ntitle: y\nboard: {profile: a}\nsteps: []\n')[0]).toMatch(/^f\.yaml:2:1: YAML: Map keys must be unique/);
  });

  it('sorts several issues in file order', () => {
    const text = GOOD.replace('seed: 3', 'seed: -1').replace('    size: 16\n', '    size: x\n');
    const lines = errorsOf(text);
    expect(lines.map((l) => l.split(':').slice(0, 2).join(':'))).toEqual(['f.yaml:8', 'f.yaml:23']);
  });

  it('an empty file is one error at 1:1', () => {
    expect(errorsOf('')[0]).toMatch(/^f\.yaml:1:1: /);
  });

  it('names the --set that supplied a bad value instead of a file position', () => {
    expect(errorsOf(GOOD, ['steps.1.size=8Q'])).toEqual([
      '--set steps.1.size: `size` of step 1 (dma_map): "8Q" is not a size: a number, or a string such as "4K", "2M", "0x1000"',
    ]);
    expect(errorsOf(GOOD, ['steps.1.sise=8K'])[0]).toMatch(/^--set steps\.1\.sise: unknown key `sise`/);
    expect(errorsOf(GOOD, ['kernel=linux-6'])[0]).toMatch(/^--set kernel: `kernel`: "linux-6" does not fit \(kernel preset: v6.12 \(default\)/);
  });

  it('applies --set before validation', () => {
    const l = loadScenarioText(GOOD, 'f.yaml', {
      sets: ['board.ram=2G', 'kernel=v4.20-rc1', 'seed=7', 'steps.1.size=8K', 'expect.outcome=ok'],
    });
    expect(l.scenario.board.ram).toBe('2G');
    expect(l.scenario.kernel).toBe('v4.20-rc1');
    expect(l.scenario.seed).toBe(7);
    expect(l.scenario.steps[1]).toMatchObject({ op: 'dma_map', size: '8K' });
    expect(l.scenario.expect?.outcome).toBe('ok');
    expect(l.locate(['steps', 1, 'size'])).toBe('--set steps.1.size');
    expect(l.locate(['steps', 1, 'dev'])).toBe('f.yaml:15:10');
  });
});
