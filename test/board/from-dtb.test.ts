/**
 * Board topology from the real .dtb files. Expected facts are read from the kernel's .dts sources:
 * arch/arm64/boot/dts/rockchip/rk356x.dtsi, renesas/r8a77951.dtsi + r8a77951-salvator-x.dts,
 * apple/t8103.dtsi + t8103-j274.dts (linux-source-6.12), and device names from the rule of
 * drivers/of/device.c:288-318 of_device_make_bus_id.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/addr.js';
import { Fdt } from '../../src/board/fdt.js';
import { applyAdditions, boardFromFdt, deviceName } from '../../src/board/from-dtb.js';
import { loadBoard, RK3568_NPU_ADDITIONS } from '../../src/board/profiles.js';
import type { Board } from '../../src/board/types.js';

const FIX = new URL('../fixtures/dtb/', import.meta.url);
const path = (name: string): string => new URL(name, FIX).pathname;
const fromFile = (name: string, ram?: string): Board => loadBoard({ dtb: path(name), ...(ram ? { ram } : {}) });

describe('rk3568-rock-3b.dtb', () => {
  const b = fromFile('rk3568-rock-3b.dtb');

  it('has the three mainline rockchip,rk3568-iommu instances (rk356x.dtsi:648,679,786)', () => {
    expect(b.iommus.map((i) => [i.name, i.reg.map((r) => r.base), i.interrupts, i.powerDomain])).toEqual([
      ['fdea0800.iommu', [0xfdea0800], [138], 'RK3568_PD_VPU'],
      ['fdee0800.iommu', [0xfdee0800], [63], 'RK3568_PD_RGA'],
      ['fe043e00.iommu', [0xfe043e00, 0xfe043f00], [148], 'RK3568_PD_VO'],
    ]);
    for (const i of b.iommus) {
      expect(i.compatible).toEqual(['rockchip,rk3568-iommu']);
      expect(i.model).toEqual({ driver: 'rockchip-iommu', variant: 'v2', format: 'rockchip-v2' });
      expect(i.clockNames).toEqual(['aclk', 'iface']);
      expect(i.iommuCells).toBe(0);
      expect(i.enabled).toBe(true); // vop_mmu is "disabled" in the dtsi and enabled by the board
      expect(i.dmaRanges).toBeUndefined();
    }
  });

  it('names masters from their reg, not their unit address (vpu: video-codec@fdea0400, reg 0xfdea0000)', () => {
    expect(b.masters.map((m) => [m.name, m.path, m.iommus])).toEqual([
      ['fdea0000.video-codec', '/video-codec@fdea0400', [{ iommu: 'fdea0800.iommu', ids: [] }]],
      ['fdee0000.video-codec', '/video-codec@fdee0000', [{ iommu: 'fdee0800.iommu', ids: [] }]],
      ['fe040000.vop', '/vop@fe040000', [{ iommu: 'fe043e00.iommu', ids: [] }]],
    ]);
  });

  it('has no RAM until the bootloader (or --ram) fills it in, then uses the family layout', () => {
    expect(b.ram).toEqual([]);
    expect(b.notes.join(' ')).toMatch(/no \/memory node/);
    expect(fromFile('rk3568-rock-3b.dtb', '8G').ram).toEqual([
      { base: 0x20_0000, size: 0xefe0_0000 },
      { base: 0x1_0000_0000, size: 0x1_0000_0000 },
    ]);
    expect(b.zoneDmaLimit).toBeUndefined();
  });

  it('takes the NPU IOMMU and its master as node additions (../shared/dtb/README.md)', () => {
    const withNpu = loadBoard({ dtb: path('rk3568-rock-3b.dtb'), ram: '8G', add: RK3568_NPU_ADDITIONS });
    const npu = withNpu.iommus.find((i) => i.name === 'fde4b000.iommu');
    expect(npu).toMatchObject({
      path: '/iommu@fde4b000',
      compatible: ['rockchip,rk3568-iommu'],
      reg: [{ base: 0xfde4b000, size: 0x40 }],
      interrupts: [151],
      powerDomain: 'RK3568_PD_NPU',
      clockNames: ['aclk', 'iface'],
      clocks: ['clock-controller@fdd20000 40', 'clock-controller@fdd20000 41'],
      iommuCells: 0,
      hwVersion: '1.0',
      enabled: true,
    });
    expect(withNpu.masters.find((m) => m.path === '/npu@fde40000')).toMatchObject({
      name: 'fde40000.npu',
      iommus: [{ iommu: 'fde4b000.iommu', ids: [] }],
      powerDomain: 'RK3568_PD_NPU',
    });
  });
});

describe('r8a77951-salvator-x.dtb', () => {
  const b = fromFile('r8a77951-salvator-x.dtb');

  it('has the memory of r8a77951-salvator-x.dts:16-34 (most of it above 4 GiB)', () => {
    expect(b.ram.map((r) => [r.base, r.size])).toEqual([
      [0x4800_0000, 0x3800_0000],
      [0x5_0000_0000, 0x4000_0000],
      [0x6_0000_0000, 0x4000_0000],
      [0x7_0000_0000, 0x4000_0000],
    ]);
  });

  it('has 17 IPMMUs; only IPMMU-MM has interrupts and no renesas,ipmmu-main (r8a77951.dtsi)', () => {
    expect(b.iommus).toHaveLength(17);
    for (const i of b.iommus) {
      expect(i.compatible).toEqual(['renesas,ipmmu-r8a7795']);
      expect(i.iommuCells).toBe(1);
      expect(i.model?.driver).toBe('ipmmu-vmsa');
      expect(i.model?.format).toBe('arm-32-lpae-s1');
    }
    const withIrq = b.iommus.filter((i) => i.interrupts.length);
    expect(withIrq.map((i) => [i.name, i.interrupts])).toEqual([['e67b0000.iommu', [196, 197]]]);
    expect(b.iommus.filter((i) => !i.ipmmuMain).map((i) => i.name)).toEqual(['e67b0000.iommu']);
    // ipmmu_hc: renesas,ipmmu-main = <&ipmmu_mm 2>
    expect(b.iommus.find((i) => i.name === 'e6570000.iommu')?.ipmmuMain).toEqual({ iommu: 'e67b0000.iommu', index: 2 });
  });

  it('puts SATA behind IPMMU-HC with micro-TLB 2 (r8a77951.dtsi:2754), PCIe via iommu-map', () => {
    const sata = b.masters.find((m) => m.path === '/soc/sata@ee300000');
    expect(sata).toMatchObject({ name: 'ee300000.sata', iommus: [{ iommu: 'e6570000.iommu', ids: [2] }], enabled: true });
    expect(sata?.dmaRanges).toBeUndefined(); // no SoC-level dma-ranges in 6.12
    const pcie = b.masters.find((m) => m.path === '/soc/pcie@fe000000');
    expect(pcie?.iommuMap).toEqual([{ ridBase: 0, iommu: 'e6570000.iommu', iommuBase: 0, length: 1 }]);
    // SYS-DMAC0 with uTLBs 0-15 on ipmmu_ds0 (r8a77951.dtsi dmac0 iommus)
    expect(b.masters.find((m) => m.name === 'e6700000.dma-controller')?.iommus).toEqual([
      { iommu: 'e6740000.iommu', ids: Array.from({ length: 16 }, (_, k) => k) },
    ]);
  });

  it('derives ZONE_DMA limit 0xffffffff from the PCIe dma-ranges (of_dma_get_max_cpu_address)', () => {
    expect(b.zoneDmaLimit).toBe(0xffffffff);
    // both PCIe hosts are enabled (salvator-common.dtsi:646-652), each with dma-ranges <0x42000000 0 0 0 0 1 0>
    const low4g = { dmaRanges: [{ bus: 0, cpu: 0, size: 0x1_0000_0000 }], maxCpuAddress: 0xffffffff };
    expect(b.buses).toEqual([
      { path: '/soc/pcie@fe000000', ...low4g },
      { path: '/soc/pcie@ee800000', ...low4g },
    ]);
  });
});

describe('t8103-j274.dtb', () => {
  const b = fromFile('t8103-j274.dtb');

  it('has four t8103 DARTs with AIC interrupts (t8103.dtsi:359-366, 720-746)', () => {
    expect(b.iommus.map((i) => [i.name, i.reg[0].base, i.interrupts, i.iommuCells, i.enabled])).toEqual([
      ['235004000.iommu', 0x2_3500_4000, [635], 1, true],
      ['681008000.iommu', 0x6_8100_8000, [696], 1, true],
      ['682008000.iommu', 0x6_8200_8000, [699], 1, true],
      ['683008000.iommu', 0x6_8300_8000, [702], 1, true],
    ]);
    expect(b.iommus[0].model).toEqual({ driver: 'apple-dart', variant: 't8103 (DART_T8020)', format: 'apple-dart' });
  });

  it('has the ADMAC on sio_dart stream 2 and PCIe ports on stream 1 of each pcie DART', () => {
    expect(b.masters.find((m) => m.name === '238200000.dma-controller')?.iommus).toEqual([{ iommu: '235004000.iommu', ids: [2] }]);
    const pcie = b.masters.find((m) => m.name === '690000000.pcie');
    expect(pcie?.iommuMap?.map((e) => [e.ridBase, e.iommu, e.iommuBase])).toEqual([
      [0x100, '681008000.iommu', 1],
      [0x200, '682008000.iommu', 1],
      [0x300, '683008000.iommu', 1],
    ]);
    expect(pcie?.iommuMapMask).toBe(0xff00);
  });

  it('has all RAM above 4 GiB from 0x8_0000_0000', () => {
    expect(b.ram).toEqual([{ base: 0x8_0000_0000, size: 0x2_0000_0000, name: 'memory@800000000' }]);
    expect(fromFile('t8103-j274.dtb', '16G').ram).toEqual([{ base: 0x8_0000_0000, size: 0x4_0000_0000 }]);
  });
});

describe('device names and the synthetic tree', () => {
  const fdt = Fdt.parse(new Uint8Array(readFileSync(path('synthetic-bus.dtb'))), 'synthetic-bus.dtb');

  it('follows of_device_make_bus_id: translated address, mask, parents without reg', () => {
    expect(deviceName(fdt, fdt.node('/bus@120000000/iommu@100000')!)).toBe('120100000.iommu');
    // mask = <0x30>: ffs(0x30) - 1 = 4
    expect(deviceName(fdt, fdt.node('/bus@120000000/timer@300000')!)).toBe('120300000.4.timer');
    // /nobus has no ranges and no reg: "nobus:thing@10"
    expect(deviceName(fdt, fdt.node('/nobus/thing@10')!)).toBe('nobus:thing@10');
    // neither nested nor bus@120000000 has a reg: both full names, up to the root
    expect(deviceName(fdt, fdt.node('/bus@120000000/nested')!)).toBe('bus@120000000:nested');
  });

  it('builds the board with bus dma-ranges, merged iommus, reserved memory and chosen', () => {
    const b = boardFromFdt(fdt, { name: 'synthetic', source: 'dtb' });
    expect(b.zoneDmaLimit).toBe(0x7fffffff);
    const smmu = b.iommus[0];
    expect(smmu).toMatchObject({ name: '120100000.iommu', interrupts: [40, 41], dmaRanges: [{ bus: 0, cpu: 0x40000000, size: 0x40000000 }] });
    expect(smmu.model?.driver).toBe('arm-smmu');
    expect(b.masters.map((m) => [m.name, m.iommus])).toEqual([
      ['120200000.dma', [{ iommu: '120100000.iommu', ids: [0x11, 0x12] }]],
      ['120400000.eng', [{ iommu: '120100000.iommu', ids: [0x20] }]],
      ['nobus:thing@10', [{ iommu: '120100000.iommu', ids: [0x30] }]],
    ]);
    expect(b.masters[1].dmaRanges).toEqual([{ bus: 0, cpu: 0x40000000, size: 0x40000000 }]);
    expect(b.reserved).toEqual([
      { name: 'fw@50000000', base: 0x50000000, size: 0x200000, noMap: true, reusable: false, compatible: [] },
      { name: 'linux,cma', size: 0x2000000, noMap: false, reusable: true, compatible: ['shared-dma-pool'] },
    ]);
    expect(b.memReserve).toEqual([{ base: 0x40000000, size: 0x10000 }]);
    expect(b.chosen).toEqual({ bootargs: 'console=ttyS0 iommu.strict=1', stdoutPath: 'serial0:115200n8' });
  });
});

describe('node additions', () => {
  const fresh = (): Fdt => Fdt.parse(new Uint8Array(readFileSync(path('rk3568-rock-3b.dtb'))), 'rk3568-rock-3b.dtb');

  it('override a property of an existing node and delete another', () => {
    const fdt = fresh();
    applyAdditions(fdt, [{ path: '/iommu@fdea0800', props: { compatible: 'rockchip,rk3568-iommu-v1', 'power-domains': null } }]);
    const b = boardFromFdt(fdt, { name: 'x', source: 'dtb' });
    const i = b.iommus.find((x) => x.name === 'fdea0800.iommu')!;
    expect(i.compatible).toEqual(['rockchip,rk3568-iommu-v1']);
    expect(i.powerDomain).toBeUndefined();
    expect(i.model?.variant).toMatch(/v1.0 block/);
  });

  it('give a phandle to a referenced node that had none', () => {
    const fdt = fresh();
    applyAdditions(fdt, [
      { path: '/my-iommu@f0000000', props: { compatible: 'rockchip,iommu', reg: [0, 0xf0000000, 0, 0x100], '#iommu-cells': [0] } },
      { path: '/my-master@f0001000', props: { reg: [0, 0xf0001000, 0, 0x100], iommus: ['&/my-iommu@f0000000'] } },
    ]);
    const b = boardFromFdt(fdt, { name: 'x', source: 'dtb' });
    expect(b.masters.find((m) => m.name === 'f0001000.my-master')?.iommus).toEqual([{ iommu: 'f0000000.my-iommu', ids: [] }]);
  });

  it('count a device under a disabled bus as disabled', () => {
    const fdt = fresh();
    applyAdditions(fdt, [
      { path: '/offbus', props: { compatible: 'simple-bus', '#address-cells': [2], '#size-cells': [2], ranges: true, status: 'disabled' } },
      { path: '/offbus/iommu@f8000000', props: { compatible: 'rockchip,iommu', reg: [0, 0xf8000000, 0, 0x100], '#iommu-cells': [0] } },
    ]);
    const b = boardFromFdt(fdt, { name: 'x', source: 'dtb' });
    expect(b.iommus.find((i) => i.path === '/offbus/iommu@f8000000')).toMatchObject({ name: 'f8000000.iommu', enabled: false });
  });

  it('read renesas,ipmmu-main with (Gen3) and without (Gen4, r8a779f0.dtsi) an index', () => {
    const fdt = Fdt.parse(new Uint8Array(readFileSync(path('r8a77951-salvator-x.dtb'))), 'salvator');
    applyAdditions(fdt, [
      { path: '/soc/iommu@ee480000', props: { compatible: 'renesas,rcar-gen4-ipmmu-vmsa', reg: [0, 0xee480000, 0, 0x20000], 'renesas,ipmmu-main': ['&/soc/iommu@e67b0000'], '#iommu-cells': [1] } },
    ]);
    const b = boardFromFdt(fdt, { name: 'x', source: 'dtb' });
    expect(b.iommus.find((i) => i.name === 'ee480000.iommu')?.ipmmuMain).toEqual({ iommu: 'e67b0000.iommu' });
    expect(b.iommus.find((i) => i.name === 'e6570000.iommu')?.ipmmuMain).toEqual({ iommu: 'e67b0000.iommu', index: 2 });
  });

  it('reject bad additions with one InputError', () => {
    expect(() => applyAdditions(fresh(), [{ path: '/nope/x@1', props: {} }])).toThrow(InputError);
    expect(() => applyAdditions(fresh(), [{ path: '/x@1', props: { iommus: ['&/missing'] } }])).toThrow(/names no node/);
    expect(() => applyAdditions(fresh(), [{ path: '/x@1', props: { reg: [2 ** 33] } }])).toThrow(/not a u32/);
  });
});
