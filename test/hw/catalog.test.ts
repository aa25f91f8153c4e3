import { describe, expect, it } from 'vitest';
import { PhysMem } from '../../src/mem/phys-mem.js';
import { SimClock, Tracer } from '../../src/trace/events.js';
import { IrqController } from '../../src/hw/irq.js';
import { MmioBus } from '../../src/hw/mmio-bus.js';
import { chooseIommuHw, createIommuHw, registerWindows } from '../../src/hw/catalog.js';
import { RockchipIommu } from '../../src/hw/rockchip-iommu.js';
import { IpmmuVmsa } from '../../src/hw/ipmmu.js';
import { AppleDart } from '../../src/hw/apple-dart.js';
import { DmaMaster } from '../../src/hw/master.js';

describe('hardware catalog', () => {
  it('chooses by compatible, refined by the IP version the board knows', () => {
    expect(chooseIommuHw(['rockchip,iommu'])?.variant).toBe('v1');
    expect(chooseIommuHw(['rockchip,rk3568-iommu'])?.variant).toBe('v2');
    expect(chooseIommuHw(['rockchip,rk3588-iommu', 'rockchip,rk3568-iommu'])?.variant).toBe('v2');
    expect(chooseIommuHw(['rockchip,rk3568-iommu'], '1.0')?.variant).toBe('rk3568-v1.0-truncate');
    expect(chooseIommuHw(['rockchip,rk3568-iommu'], '1.0', { rockchipBeyondDteBase: 'bus-error' })?.variant).toBe('rk3568-v1.0-bus-error');
    expect(chooseIommuHw(['renesas,ipmmu-r8a7795', 'renesas,ipmmu-vmsa'])?.variant).toBe('rcar-gen3');
    expect(chooseIommuHw(['renesas,ipmmu-vmsa'])?.variant).toBe('rcar-gen2');
    expect(chooseIommuHw(['apple,t8103-dart'])).toMatchObject({ family: 'apple-dart', variant: 'apple,t8103-dart' });
    expect(chooseIommuHw(['arm,mmu-500'])).toBeUndefined();
  });

  it('builds models that a kernel reaches through physical MMIO addresses', () => {
    const clock = new SimClock();
    const tracer = new Tracer(clock);
    const irq = new IrqController(clock, tracer);
    const mem = new PhysMem([{ base: 0, size: 2 ** 31 }]);
    const env = { mem, clock, tracer, irq };
    const bus = new MmioBus(tracer);

    const vop = createIommuHw({ name: 'fe043e00.iommu', choice: chooseIommuHw(['rockchip,rk3568-iommu'])!, windows: 2, irqs: [180] }, env);
    expect(vop).toBeInstanceOf(RockchipIommu);
    registerWindows(vop).forEach((w, i) => bus.map(0xfe043e00 + 0x100 * i, 0x100, w, `${(vop as RockchipIommu).name}[${i}]`));
    bus.writel(0xfe043f00, 0xcafeb000);
    expect((vop as RockchipIommu).window(1).dteAddr).toBe(0xcafeb000);
    expect((vop as RockchipIommu).window(0).dteAddr).toBe(0);
    expect(bus.readl(0xfe043f00)).toBe(0xcafeb000);
    expect(bus.resolve(0xfe043f08)).toEqual({ name: 'fe043e00.iommu[1]', offset: 8 });
    // nothing there: traced, reads 0
    expect(bus.readl(0xfe044000)).toBe(0);
    expect(bus.unmappedAccesses).toBe(1);
    expect(tracer.events.some((e) => e.type === 'mmio_unmapped' && e.data.addr === 0xfe044000)).toBe(true);
    expect(() => bus.map(0xfe043e80, 0x100, (vop as RockchipIommu).window(0), 'overlap')).toThrow(/overlaps/);

    const mm = createIommuHw({ name: 'e67b0000.iommu', choice: chooseIommuHw(['renesas,ipmmu-r8a7795'])!, windows: 1, irqs: [210, 211] }, env) as IpmmuVmsa;
    const hc = createIommuHw({ name: 'e6570000.iommu', choice: chooseIommuHw(['renesas,ipmmu-r8a7795'])!, windows: 1, irqs: [], ipmmuRoot: mm }, env) as IpmmuVmsa;
    expect(hc.root).toBe(mm);
    const dart = createIommuHw({ name: '382f00000.iommu', choice: chooseIommuHw(['apple,t8103-dart'])!, windows: 1, irqs: [781] }, env);
    expect(dart).toBeInstanceOf(AppleDart);

    // a master behind the VOP's second port goes through instance 1
    const m = new DmaMaster({ name: 'vop', mem, busBits: 32, iommu: vop as RockchipIommu, stream: 1 });
    expect(m.read(0x1000, 4).pages[0].via).toBe('bypass');
  });
});
