/**
 * The IOMMU core (drivers/iommu/iommu.c, 6.12) driven through a small recording driver, and once through
 * the Rockchip driver on a booted kernel. Expected values are worked out from the kernel source:
 * iommu_subsys_init's two lines (iommu.c:191-220) and the early params through kstrtobool
 * (iommu.c:681-707, lib/kstrtox.c:348-388, init/main.c:733-734); iommu_pgsize / __iommu_map's splitting
 * and unroll (iommu.c:2391-2540); __iommu_probe_device, iommu_setup_default_domain and
 * iommu_group_alloc_default_domain (iommu.c:513-598, 1604-1640, 2950-3010); iommu_attach_device /
 * iommu_detach_device (iommu.c:2106-2155).
 */
import { describe, expect, it } from 'vitest';
import { SimClock, Tracer } from '../../../src/trace/events.js';
import {
  IommuCore,
  IommuDomain,
  iommuCmdlineFrom,
  kstrtobool,
  type DomainType,
  type IommuClientDevice,
  type IommuDevice,
  type IommuOps,
  type IommuCmdline,
} from '../../../src/linux/iommu/core.js';
import * as GFP from '../../../src/linux/mm/gfp.js';
import { loadBoard } from '../../../src/board/profiles.js';
import { PhysMem } from '../../../src/mem/phys-mem.js';
import { Kernel, type LinuxDevice } from '../../../src/linux/kernel.js';
import { getPreset } from '../../../src/linux/presets.js';

const logOf = (t: Tracer) => t.log.map((l) => l.text);

function core(cmdline: Record<string, string> = {}, attachFailure: 'warn-default-domain' | 'group-add-failed' = 'warn-default-domain') {
  const tracer = new Tracer(new SimClock());
  const c = new IommuCore(tracer, iommuCmdlineFrom(new Map(Object.entries(cmdline)), tracer), attachFailure);
  return { tracer, c };
}

type Call = [string, ...number[]];

/** A driver that records what the core asks of it. */
function fakeDriver(
  c: IommuCore,
  tracer: Tracer,
  opts: {
    bitmap?: number;
    identity?: boolean;
    failPaging?: boolean;
    defType?: DomainType;
    /** map_pages call index (0-based) that fails, and how many bytes it maps before failing. */
    failMapAt?: { call: number; mapped: number };
    failAttach?: boolean;
  } = {},
) {
  const calls: Call[] = [];
  let mapCalls = 0;
  const ops: IommuOps = {
    name: 'fake',
    pgsizeBitmap: opts.bitmap ?? 0x40201000,
    domainAllocPaging: () => {
      if (opts.failPaging) return null;
      const d = new IommuDomain('unmanaged', domainOps, ops);
      calls.push(['alloc_paging']);
      return d;
    },
    probeDevice: () => 0,
    releaseDevice: (dev) => calls.push(['release', dev.name.length]),
    ofXlate: (dev, iommu, ids) => {
      dev.iommuFwspec = { iommu, ids };
      return 0;
    },
    ...(opts.defType ? { defDomainType: () => opts.defType! } : {}),
  };
  const domainOps = {
    attachDev: (d: IommuDomain, dev: IommuClientDevice) => {
      tracer.printk('info', `fake ${dev.name}: attach ${d.type}`);
      calls.push(['attach']);
      return opts.failAttach && d.type !== 'identity' ? -22 : 0;
    },
    mapPages: (_d: IommuDomain, iova: number, pa: number, pgsize: number, count: number) => {
      calls.push(['map', iova, pa, pgsize, count]);
      const f = opts.failMapAt;
      if (f && mapCalls++ === f.call) return { ret: -12, mapped: f.mapped };
      return { ret: 0, mapped: pgsize * count };
    },
    unmapPages: (_d: IommuDomain, iova: number, pgsize: number, count: number) => {
      calls.push(['unmap', iova, pgsize, count]);
      return pgsize * count;
    },
    iotlbSync: () => calls.push(['sync']),
    free: () => calls.push(['free']),
  };
  if (opts.identity) ops.identityDomain = new IommuDomain('identity', { attachDev: domainOps.attachDev }, ops);
  const iommu: IommuDevice = { name: 'fake-iommu', ops, priv: null };
  void c;
  return { ops, iommu, calls };
}

describe('iommu_subsys_init: default domain type and invalidation policy from the command line', () => {
  const cases: [Record<string, string>, DomainType, string[]][] = [
    [{}, 'dma', ['iommu: Default domain type: Translated', 'iommu: DMA domain TLB invalidation policy: strict mode']],
    [{ 'iommu.passthrough': '1' }, 'identity', ['iommu: Default domain type: Passthrough (set via kernel command line)']],
    [{ 'iommu.passthrough': '0' }, 'dma', ['iommu: Default domain type: Translated (set via kernel command line)', 'iommu: DMA domain TLB invalidation policy: strict mode']],
    [{ 'iommu.strict': '0' }, 'dma-fq', ['iommu: Default domain type: Translated', 'iommu: DMA domain TLB invalidation policy: lazy mode (set via kernel command line)']],
    [{ 'iommu.strict': 'on' }, 'dma', ['iommu: Default domain type: Translated', 'iommu: DMA domain TLB invalidation policy: strict mode (set via kernel command line)']],
    [{ 'iommu.passthrough': 'Y', 'iommu.strict': 'n' }, 'identity', ['iommu: Default domain type: Passthrough (set via kernel command line)']],
    [
      { 'iommu.passthrough': 'off', 'iommu.strict': 'false' },
      'dma-fq',
      ['iommu: Default domain type: Translated (set via kernel command line)', 'iommu: DMA domain TLB invalidation policy: lazy mode (set via kernel command line)'],
    ],
    [{ 'iommu.passthrough': 'maybe' }, 'dma', ["Malformed early option 'iommu.passthrough'", 'iommu: Default domain type: Translated', 'iommu: DMA domain TLB invalidation policy: strict mode']],
  ];
  for (const [cmd, type, lines] of cases) {
    it(`${JSON.stringify(cmd)} -> ${type}`, () => {
      const { tracer, c } = core(cmd);
      expect(c.defDomainType).toBe(type);
      expect(logOf(tracer)).toEqual(lines);
    });
  }

  it('kstrtobool looks at the first character, and at the second after o/O', () => {
    expect(['y', 'Y', 't', 'T', '1', 'yes', 'on', 'ON', 'True'].map(kstrtobool)).toEqual(Array(9).fill(true));
    expect(['n', 'N', 'f', 'F', '0', 'no', 'off', 'oFf'].map(kstrtobool)).toEqual(Array(8).fill(false));
    expect(['', 'o', 'ox', '2', 'maybe', ' 1'].map(kstrtobool)).toEqual(Array(6).fill(undefined));
  });

  it('a command line the kernel rejects changes nothing: { } as for no option', () => {
    const cl: IommuCmdline = iommuCmdlineFrom(new Map([['iommu.strict', 'x']]));
    expect(cl).toEqual({});
  });
});

describe('iommu_map: splitting by iommu_pgsize, unroll on failure', () => {
  function domain(opts: Parameters<typeof fakeDriver>[2] = {}) {
    const { tracer, c } = core();
    const f = fakeDriver(c, tracer, opts);
    const dev: IommuClientDevice = { name: 'm0', driverName: 'drv' };
    expect(c.probeDevice(dev, f.iommu, [0])).toBe(0);
    const dom = dev.iommuGroup!.defaultDomain!;
    f.calls.length = 0;
    return { tracer, c, dom, calls: f.calls };
  }

  it('an unaligned 2 MiB + 12 KiB map becomes 4K x1, 2M x1, 4K x2', () => {
    const { c, dom, calls } = domain();
    // iova 0xfff000 / pa 0x80fff000: same offset in a 2M page; 4K up to the 2M boundary, one 2M page,
    // then the 8K tail (iommu.c:2391-2445 worked by hand).
    expect(c.map(dom, 0xfff000, 0x80fff000, 0x203000, 3, GFP.GFP_KERNEL)).toBe(0);
    expect(calls).toEqual([
      ['map', 0xfff000, 0x80fff000, 0x1000, 1],
      ['map', 0x1000000, 0x81000000, 0x200000, 1],
      ['map', 0x1200000, 0x81200000, 0x1000, 2],
    ]);
  });

  it('iova and pa at different offsets in a 2M page never use 2M pages', () => {
    const { c, dom, calls } = domain();
    expect(c.map(dom, 0x200000, 0x80201000, 0x400000, 3, GFP.GFP_KERNEL)).toBe(0);
    expect(calls).toEqual([['map', 0x200000, 0x80201000, 0x1000, 0x400]]);
  });

  it('a failure unmaps exactly what was mapped before it, then syncs once', () => {
    const { c, dom, calls } = domain({ failMapAt: { call: 2, mapped: 0 } });
    expect(c.map(dom, 0xfff000, 0x80fff000, 0x203000, 3, GFP.GFP_KERNEL)).toBe(-12);
    expect(calls.slice(3)).toEqual([['unmap', 0xfff000, 0x1000, 1], ['unmap', 0x1000000, 0x200000, 1], ['sync']]);
  });

  it('bytes a failing map_pages reports as mapped are unmapped too', () => {
    const { c, dom, calls } = domain({ failMapAt: { call: 2, mapped: 0x1000 } });
    expect(c.map(dom, 0xfff000, 0x80fff000, 0x203000, 3, GFP.GFP_KERNEL)).toBe(-12);
    expect(calls.slice(3)).toEqual([['unmap', 0xfff000, 0x1000, 1], ['unmap', 0x1000000, 0x200000, 1], ['unmap', 0x1200000, 0x1000, 1], ['sync']]);
  });

  it('a failure in the first call unmaps nothing but still syncs', () => {
    const { c, dom, calls } = domain({ failMapAt: { call: 0, mapped: 0 } });
    expect(c.map(dom, 0x10000, 0x20000, 0x1000, 3, GFP.GFP_KERNEL)).toBe(-12);
    expect(calls).toEqual([['map', 0x10000, 0x20000, 0x1000, 1], ['sync']]);
  });

  it('unaligned iova/pa/size: pr_err with the kernel format, -EINVAL, nothing mapped', () => {
    const { tracer, c, dom, calls } = domain();
    expect(c.map(dom, 0xfff800, 0x80fff000, 0x1000, 3, GFP.GFP_KERNEL)).toBe(-22);
    expect(logOf(tracer).at(-1)).toBe('iommu: unaligned: iova 0xfff800 pa 0x0000000080fff000 size 0x1000 min_pagesz 0x1000');
    expect(calls).toEqual([]);
  });

  it('zone modifiers in gfp: WARN_ON_ONCE and -EINVAL', () => {
    const { tracer, c, dom, calls } = domain();
    expect(c.map(dom, 0x1000, 0x1000, 0x1000, 3, GFP.GFP_KERNEL | GFP.__GFP_DMA32)).toBe(-22);
    expect(c.map(dom, 0x1000, 0x1000, 0x1000, 3, GFP.GFP_ATOMIC | GFP.__GFP_DMA)).toBe(-22);
    expect(logOf(tracer).filter((l) => l.startsWith('WARNING'))).toEqual(['WARNING: CPU: 0 PID: 1 at drivers/iommu/iommu.c:2519 iommu_map+0x0/0x0']);
    expect(calls).toEqual([]);
  });

  it('an identity domain cannot be mapped and translates 1:1', () => {
    const { tracer, c } = core({ 'iommu.passthrough': '1' });
    const f = fakeDriver(c, tracer, { identity: true });
    const dev: IommuClientDevice = { name: 'm0', driverName: 'drv' };
    expect(c.probeDevice(dev, f.iommu, [0])).toBe(0);
    const dom = dev.iommuGroup!.defaultDomain!;
    expect(dom).toBe(f.ops.identityDomain);
    expect(c.map(dom, 0x1000, 0x1000, 0x1000, 3, GFP.GFP_KERNEL)).toBe(-22);
    expect(c.iovaToPhys(dom, 0x12345678)).toBe(0x12345678);
  });

  it('unmap: the core splits like map and stops when the driver returns 0', () => {
    const { c, dom, calls } = domain();
    expect(c.unmap(dom, 0xfff000, 0x203000)).toBe(0x203000);
    expect(calls).toEqual([
      ['unmap', 0xfff000, 0x1000, 1],
      ['unmap', 0x1000000, 0x200000, 1],
      ['unmap', 0x1200000, 0x1000, 2],
      ['sync'],
    ]);
  });
});

describe('probe, groups and the default domain', () => {
  it('6.12 announces the group before the attach, and a failed first attach WARNs, releases the device, frees the domain and the group id', () => {
    const { tracer, c } = core();
    const f = fakeDriver(c, tracer, { failAttach: true });
    const a: IommuClientDevice = { name: 'dev-a', driverName: 'drv' };
    const b: IommuClientDevice = { name: 'dev-b', driverName: 'drv' };
    const before = tracer.log.length;
    expect(c.probeDevice(a, f.iommu, [1])).toBe(-22);
    expect(logOf(tracer).slice(before)).toEqual([
      'drv dev-a: Adding to iommu group 0',
      'fake dev-a: attach dma',
      'WARNING: CPU: 0 PID: 1 at drivers/iommu/iommu.c:2999 iommu_setup_default_domain+0x0/0x0',
    ]);
    expect(f.calls).toEqual([['alloc_paging'], ['attach'], ['release', 5], ['free']]);
    expect(a.iommuGroup).toBeUndefined();
    expect(c.groups).toEqual([]);
    expect(c.probeDevice(b, f.iommu, [2])).toBe(-22);
    expect(logOf(tracer)).toContain('drv dev-b: Adding to iommu group 0');
  });

  it('4.x (group-add-failed): the default domain is attached before the message, which names the device and the error', () => {
    const { tracer, c } = core({}, 'group-add-failed');
    const f = fakeDriver(c, tracer, { failAttach: true });
    const ok = fakeDriver(c, tracer);
    const a: IommuClientDevice = { name: 'dev-a', driverName: 'drv' };
    const b: IommuClientDevice = { name: 'dev-b', driverName: 'drv' };
    const before = tracer.log.length;
    expect(c.probeDevice(a, f.iommu, [1])).toBe(-22);
    expect(c.probeDevice(b, ok.iommu, [1])).toBe(0);
    expect(logOf(tracer).slice(before)).toEqual([
      'fake dev-a: attach dma',
      'iommu: Failed to add device dev-a to group 0: -22',
      'fake dev-b: attach dma',
      'iommu: Adding device dev-b to group 0',
    ]);
  });

  it('group ids come from an IDA: the lowest free id', () => {
    const { tracer, c } = core();
    const f = fakeDriver(c, tracer);
    const devs = [0, 1, 2].map((i): IommuClientDevice => ({ name: `d${i}`, driverName: 'drv' }));
    for (const d of devs) expect(c.probeDevice(d, f.iommu, [0])).toBe(0);
    expect(devs.map((d) => d.iommuGroup!.id)).toEqual([0, 1, 2]);
    // a device that is already in a group is not probed again (iommu.c:540-542)
    const n = tracer.log.length;
    expect(c.probeDevice(devs[1], f.iommu, [0])).toBe(0);
    expect(tracer.log.length).toBe(n);
  });

  it('passthrough with a driver that has no identity domain falls back to DMA; the group has no name', () => {
    const { tracer, c } = core({ 'iommu.passthrough': '1' });
    const f = fakeDriver(c, tracer);
    const dev: IommuClientDevice = { name: 'm0', driverName: 'drv' };
    expect(c.probeDevice(dev, f.iommu, [0])).toBe(0);
    expect(dev.iommuGroup!.defaultDomain!.type).toBe('dma');
    expect(logOf(tracer)).toContain('iommu: Failed to allocate default IOMMU domain of type 4 for group (null) - Falling back to IOMMU_DOMAIN_DMA');
  });

  it('a DMA default the driver cannot allocate is -EINVAL (no fallback); a driver wish for identity wins over DMA', () => {
    const { tracer, c } = core();
    const bad = fakeDriver(c, tracer, { failPaging: true });
    const dev: IommuClientDevice = { name: 'm0', driverName: 'drv' };
    expect(c.probeDevice(dev, bad.iommu, [0])).toBe(-22);
    expect(logOf(tracer).some((l) => l.includes('Falling back'))).toBe(false);
    const wish = fakeDriver(c, tracer, { identity: true, defType: 'identity' });
    const dev2: IommuClientDevice = { name: 'm1', driverName: 'drv' };
    expect(c.probeDevice(dev2, wish.iommu, [0])).toBe(0);
    expect(dev2.iommuGroup!.defaultDomain).toBe(wish.ops.identityDomain);
  });

  it('iommu_attach_device: -EBUSY over another driver-owned domain, -EINVAL for a foreign domain; detach of the wrong domain WARNs', () => {
    const { tracer, c } = core();
    const f = fakeDriver(c, tracer);
    const other = fakeDriver(c, tracer);
    const dev: IommuClientDevice = { name: 'm0', driverName: 'drv' };
    expect(c.probeDevice(dev, f.iommu, [0])).toBe(0);
    const d1 = c.domainAlloc(dev, 'unmanaged')!;
    const d2 = c.domainAlloc(dev, 'unmanaged')!;
    const foreign = new IommuDomain('unmanaged', { attachDev: () => 0 }, other.ops);
    expect(c.attachDevice(foreign, dev)).toBe(-22);
    expect(c.attachDevice(d1, dev)).toBe(0);
    expect(c.attachDevice(d2, dev)).toBe(-16);
    expect(c.detachDevice(dev, d2)).toBe(-22);
    expect(logOf(tracer).at(-1)).toBe('WARNING: CPU: 0 PID: 1 at drivers/iommu/iommu.c:2149 iommu_detach_device+0x0/0x0');
    expect(dev.iommuGroup!.domain).toBe(d1);
    expect(c.detachDevice(dev, d1)).toBe(0);
    expect(dev.iommuGroup!.domain).toBe(dev.iommuGroup!.defaultDomain);
    expect(c.attachDevice(d2, dev)).toBe(0);
  });
});

describe('on a booted kernel: Rockchip identity domain with iommu.passthrough=1', () => {
  it('the static rk_identity_domain is the default: no MMIO at attach, dma-direct for the master; detaching a paging domain disables', () => {
    const board = loadBoard({ profile: 'rk3568', ram: '8G' });
    const tracer = new Tracer(new SimClock());
    const k = new Kernel({ board, mem: new PhysMem(board.ram), tracer, preset: getPreset('v6.12'), cmdline: new Map([['iommu.passthrough', '1']]), pageSize: 4096, seed: 1 });
    const w: [number, number][] = [];
    const writel = k.bus.writel.bind(k.bus);
    k.bus.writel = (a: number, v: number) => {
      w.push([a, v >>> 0]);
      writel(a, v);
    };
    for (const bi of board.iommus) k.probeIommu(bi);
    w.length = 0;
    k.probeMaster(board.masters.find((m) => m.name === 'fde40000.npu')!);
    const npu = k.device('fde40000.npu') as LinuxDevice;
    expect(npu.iommuGroup!.defaultDomain).toBe(k.rockchip.identityDomain);
    expect(w).toEqual([]);
    expect(npu.dmaIommu).toBeFalsy();
    const log = logOf(tracer);
    expect(log).toContain('iommu: Default domain type: Passthrough (set via kernel command line)');
    expect(log).toContain('RKNPU fde40000.npu: Adding to iommu group 0');
    expect(log.some((l) => l.includes('Falling back'))).toBe(false);
    const d = k.core.domainAlloc(npu, 'unmanaged')!;
    expect(k.core.attachDevice(d, npu)).toBe(0);
    w.length = 0;
    expect(k.core.detachDevice(npu, d)).toBe(0);
    const B = 0xfde4b000;
    // rk_iommu_identity_attach -> rk_iommu_disable (rockchip-iommu.c:924-939)
    expect(w).toEqual([
      [B + 0x08, 2],
      [B + 0x08, 1],
      [B + 0x1c, 0],
      [B + 0x00, 0],
      [B + 0x08, 3],
    ]);
  });
});
