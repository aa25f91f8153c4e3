/**
 * Built-in profiles: built from the same real .dtb files as the fixtures (checked byte for byte), RAM
 * laid out per ../shared/reference/board-memory-maps.md, the RK3568 NPU IOMMU added from data.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/addr.js';
import { DTB_BLOBS } from '../../src/board/dtb-blobs.js';
import { ADDITION_SETS, loadBoard, profileDtb, profileNames } from '../../src/board/profiles.js';

const FIX = new URL('../fixtures/dtb/', import.meta.url);
const M = 1024 ** 2;
const G = 1024 ** 3;

describe('embedded blobs', () => {
  it('are byte for byte the fixtures', () => {
    for (const key of Object.keys(DTB_BLOBS)) {
      const fixture = new Uint8Array(readFileSync(new URL(`${key}.dtb`, FIX)));
      const embedded = profileDtb(key);
      expect(Buffer.compare(Buffer.from(embedded), Buffer.from(fixture))).toBe(0);
      expect(createHash('sha256').update(embedded).digest('hex')).toBe(DTB_BLOBS[key].sha256);
    }
  });
});

describe('rk3568 profile', () => {
  it('lays RAM out per size as real boards do (board-memory-maps.md)', () => {
    const ram = (size: string): [number, number][] => loadBoard({ profile: 'rk3568', ram: size }).ram.map((r) => [r.base, r.size]);
    expect(ram('1G')).toEqual([[0x20_0000, G - 2 * M]]);
    expect(ram('2G')).toEqual([[0x20_0000, 0x8000_0000 - 0x20_0000]]);
    // 4 GiB: 256 MiB at 0x1_F000_0000, not at 0x1_0000_0000
    expect(ram('4G')).toEqual([
      [0x20_0000, 0xf000_0000 - 0x20_0000],
      [0x1_f000_0000, 256 * M],
    ]);
    expect(ram('8G')).toEqual([
      [0x20_0000, 0xf000_0000 - 0x20_0000],
      [0x1_0000_0000, 4 * G],
    ]);
    expect(ram('2G/optee')).toEqual([
      [0x20_0000, 0x0840_0000 - 0x20_0000],
      [0x0940_0000, 0x8000_0000 - 0x0940_0000],
    ]);
    expect(ram('0x200000:0xefe00000,0x100000000:2G')).toEqual([
      [0x20_0000, 0xefe0_0000],
      [0x1_0000_0000, 2 * G],
    ]);
  });

  it('has the NPU IOMMU (v1.0 block, SPI 151, PD_NPU) with npu@fde40000 behind it, plus VDPU/VEPU/VOP2', () => {
    const b = loadBoard({ profile: 'rk3568' });
    expect(b.source).toBe('profile');
    expect(b.iommus.map((i) => i.name).sort()).toEqual(['fde4b000.iommu', 'fdea0800.iommu', 'fdee0800.iommu', 'fe043e00.iommu']);
    const npu = b.iommus.find((i) => i.name === 'fde4b000.iommu')!;
    expect([npu.reg, npu.interrupts, npu.powerDomain, npu.hwVersion]).toEqual([[{ base: 0xfde4b000, size: 0x40 }], [151], 'RK3568_PD_NPU', '1.0']);
    expect(b.iommus.find((i) => i.name === 'fe043e00.iommu')?.hwVersion).toBe('2.0');
    expect(b.masters.find((m) => m.iommus.some((e) => e.iommu === 'fde4b000.iommu'))?.path).toBe('/npu@fde40000');
    expect(b.notes.join('\n')).toMatch(/absent from every mainline DT/);
  });

  it('accepts extra node additions on top of the profile', () => {
    const b = loadBoard({ profile: 'rk3568', ram: '2G', add: [{ path: '/iommu@fde4b000', props: { compatible: 'rockchip,rk3568-iommu-v1' } }] });
    expect(b.iommus.find((i) => i.name === 'fde4b000.iommu')?.compatible).toEqual(['rockchip,rk3568-iommu-v1']);
  });
});

describe('profile and .dtb agree', () => {
  it('rk3568 profile = rk3568-rock-3b.dtb + the rk3568-npu addition set, for every RAM size', () => {
    for (const ram of ['1G', '2G', '4G', '8G']) {
      const p = loadBoard({ profile: 'rk3568', ram });
      const d = loadBoard({ dtb: new URL('rk3568-rock-3b.dtb', FIX).pathname, ram, add: ADDITION_SETS['rk3568-npu'].additions });
      expect(d.ram).toEqual(p.ram);
      expect(d.iommus).toEqual(p.iommus);
      expect(d.masters).toEqual(p.masters);
      expect(d.zoneDmaLimit).toEqual(p.zoneDmaLimit);
    }
  });

  it('salvator-x and t8103 profiles = their .dtb files', () => {
    for (const [profile, file] of [
      ['r8a7795-salvator-x', 'r8a77951-salvator-x.dtb'],
      ['t8103', 't8103-j274.dtb'],
    ]) {
      const p = loadBoard({ profile });
      const d = loadBoard({ dtb: new URL(file, FIX).pathname });
      expect({ ...d, name: p.name, source: p.source, notes: p.notes }).toEqual(p);
    }
  });
});

describe('other profiles', () => {
  it('salvator-x: the DT memory, SATA behind e6570000.iommu', () => {
    const b = loadBoard({ profile: 'r8a7795-salvator-x' });
    expect(b.ram.reduce((s, r) => s + r.size, 0)).toBe(0x3800_0000 + 3 * G);
    expect(b.masters.find((m) => m.name === 'ee300000.sata')?.iommus).toEqual([{ iommu: 'e6570000.iommu', ids: [2] }]);
    expect(b.zoneDmaLimit).toBe(0xffffffff);
  });

  it('t8103: RAM from 0x8_0000_0000, overridable to 16G', () => {
    expect(loadBoard({ profile: 't8103', ram: '16G' }).ram).toEqual([{ base: 0x8_0000_0000, size: 16 * G }]);
    expect(loadBoard({ profile: 'm1' }).name).toBe('t8103');
  });

  it('lists its profiles and rejects unknown names, bad sizes, missing files', () => {
    expect(profileNames()).toEqual(['rk3568', 'r8a7795-salvator-x', 't8103']);
    expect(() => loadBoard({ profile: 'rk9999' })).toThrow(InputError);
    expect(() => loadBoard({ profile: 'rk3568', ram: '3G' })).toThrow(/rk356x boards come with 1G, 2G, 2G\/optee, 4G, 4G\/no-high-alias, 8G/);
    expect(() => loadBoard({ profile: 'r8a7795-salvator-x', ram: '8G' })).toThrow(InputError);
    expect(() => loadBoard({ dtb: '/nonexistent/x.dtb' })).toThrow(/cannot read \/nonexistent\/x.dtb: ENOENT/);
    expect(() => loadBoard({})).toThrow(InputError);
    expect(() => loadBoard({ profile: 'rk3568', ram: '0x1000:4K,0x1000:4K' })).toThrow(/overlap/);
  });
});
