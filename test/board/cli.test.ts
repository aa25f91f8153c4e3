/** `iommu-lab board` through main(): text, JSON, exit codes. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cli } from '../support/cli.js';

const FIX = new URL('../fixtures/dtb/', import.meta.url);

afterEach(() => vi.restoreAllMocks());

describe('iommu-lab board', () => {
  it('prints RAM, zones, IOMMUs and masters of a profile', async () => {
    const r = await cli(['board', 'rk3568', '--ram', '4G']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('  [mem 0x00000001f0000000-0x00000001ffffffff]  256M');
    expect(r.out).toContain('  DMA32    empty');
    expect(r.out).toContain('  Normal   [mem 0x0000000100000000-0x00000001ffffffff]');
    expect(r.out).toMatch(/fde4b000\.iommu {2}rockchip,rk3568-iommu -> rockchip-iommu v2/);
    expect(r.out).toMatch(/base 0xfde4b000 \(0x40\) {2}irq SPI 151 {2}power RK3568_PD_NPU/);
    expect(r.out).toMatch(/master fde40000\.npu {2}\/npu@fde40000/);
  });

  it('reads a .dtb file and gives JSON with hex addresses', async () => {
    const r = await cli(['board', new URL('r8a77951-salvator-x.dtb', FIX).pathname, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.source).toBe('dtb');
    expect(j.ram[0]).toEqual({ base: '0x48000000', size: '0x38000000' });
    expect(j.zones.ranges.map((z: { name: string; empty: boolean }) => [z.name, z.empty])).toEqual([
      ['DMA', false],
      ['DMA32', true],
      ['Normal', false],
    ]);
    const hc = j.iommus.find((i: { name: string }) => i.name === 'e6570000.iommu');
    expect(hc.masters).toContain('ee300000.sata');
    expect(hc.model.driver).toBe('ipmmu-vmsa');
  });

  it('adds nodes from a YAML file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-board-'));
    const add = join(dir, 'add.yaml');
    writeFileSync(
      add,
      [
        '- path: /iommu@fde4b000',
        '  props:',
        '    compatible: rockchip,rk3568-iommu',
        '    reg: [0, 0xfde4b000, 0, 0x40]',
        "    '#iommu-cells': [0]",
        '- path: /npu@fde40000',
        '  props:',
        '    reg: [0, 0xfde40000, 0, 0x10000]',
        "    iommus: ['&/iommu@fde4b000']",
      ].join('\n'),
    );
    const r = await cli(['board', new URL('rk3568-rock-3b.dtb', FIX).pathname, '--ram', '8G', '--add', add, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.iommus.find((i: { name: string }) => i.name === 'fde4b000.iommu').masters).toEqual(['fde40000.npu']);
  });

  it('applies a named addition set to a .dtb', async () => {
    const r = await cli(['board', new URL('rk3568-rock-3b.dtb', FIX).pathname, '--ram', '8G', '--add', 'rk3568-npu']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/fde4b000\.iommu .*\n.*IP v1\.0\n +master fde40000\.npu/);
    expect(r.out).toContain('  Normal   [mem 0x0000000100000000-0x00000001ffffffff]');
  });

  it('exits 2 with one line for bad input', async () => {
    for (const args of [['board', 'nosuchboard'], ['board', 'rk3568', '--ram', 'lots'], ['board', '/nonexistent.dtb']]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(/^iommu-lab: error: /);
    }
    const bad = join(mkdtempSync(join(tmpdir(), 'iommu-lab-board-')), 'bad.dtb');
    writeFileSync(bad, Buffer.from('not a device tree at all, just text padding it out'));
    const r = await cli(['board', bad]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad\.dtb: offset 0x0: bad magic/);
  });
});
