/**
 * The Apple DART driver (drivers/iommu/apple-dart.c, 6.12) for the T8020/T6000 register layouts:
 * PARAMS1/PARAMS2 read at probe, reset, per-stream TCR/TTBR programming, stream-select TLB
 * invalidation, the fault handler, and what happens when the DART's page is larger than the CPU's.
 * That last decision is a preset row (seed 003's options), never a test of which board runs.
 */
import { hex } from '../../addr.js';
import type { PageTable } from '../../formats/types.js';
import { IommuDomain, type IommuClientDevice, type IommuCore, type IommuDevice, type IommuOps, EINVAL, ENODEV, ENOMEM } from '../iommu/core.js';
import { pollTimeout, type KDevice, type KernelApi, type IrqReturn } from '../kapi.js';
import type { DartLargePagePolicy } from '../presets.js';
import { allocIoPgtableOps } from './io-pgtable.js';

/** struct apple_dart_hw as data (apple-dart.c:1203-1351). */
export interface DartHw {
  name: string;
  format: 'apple-dart' | 'apple-dart2';
  oas: number;
  maxSidCount: number;
  tcrEnabled: number;
  tcrDisabled: number;
  tcrBypass: number;
  ttbr: number;
  ttbrValid: number;
  ttbrAddrFieldShift: number;
  ttbrShift: number;
  ttbrCount: number;
  tcr: number;
  lock: number;
  lockBit: number;
  error: number;
  enableStreams: number;
}

const T8020_BASE: Omit<DartHw, 'name' | 'format' | 'oas' | 'ttbr' | 'tcrBypass'> = {
  maxSidCount: 16,
  tcrEnabled: 1 << 7,
  tcrDisabled: 0,
  ttbrValid: 0x80000000,
  ttbrAddrFieldShift: 0,
  ttbrShift: 12,
  ttbrCount: 4,
  tcr: 0x100,
  lock: 0x60,
  lockBit: 1 << 15,
  error: 0x40,
  enableStreams: 0xfc,
};
const BYPASS = (1 << 12) | (1 << 8);

export const DART_MATCH: Record<string, DartHw> = {
  'apple,t8103-dart': { ...T8020_BASE, name: 't8020', format: 'apple-dart', oas: 36, ttbr: 0x200, tcrBypass: BYPASS },
  'apple,t8103-usb4-dart': { ...T8020_BASE, name: 't8020-usb4', format: 'apple-dart', oas: 36, ttbr: 0x400, tcrBypass: 0, maxSidCount: 64 },
  'apple,t6000-dart': { ...T8020_BASE, name: 't6000', format: 'apple-dart2', oas: 42, ttbr: 0x200, tcrBypass: BYPASS },
};

const PARAMS1 = 0x00;
const PARAMS2 = 0x04;
const STREAM_COMMAND = 0x20;
const STREAM_COMMAND_BUSY = 1 << 2;
const STREAM_COMMAND_INVALIDATE = 1 << 20;
const STREAM_SELECT = 0x34;
const ERROR_ADDR_LO = 0x50;
const ERROR_ADDR_HI = 0x54;
const DRIVER = 'apple-dart';

export interface AppleDart {
  dev: KDevice;
  regs: number;
  hw: DartHw;
  pgsize: number;
  supportsBypass: boolean;
  numStreams: number;
  ias: number;
  iommuDevice: IommuDevice;
}

interface DartMasterCfg {
  dart: AppleDart;
  sids: number[];
}

interface DartDomain {
  iop: PageTable | null;
  masters: DartMasterCfg[];
  /** A static "fake bypass" table (seed 003 option 2). */
  fakeBypass: boolean;
}

export class AppleDartDriver {
  readonly darts: AppleDart[] = [];
  readonly ops: IommuOps;
  private readonly identity: IommuDomain;

  constructor(
    readonly k: KernelApi,
    readonly core: IommuCore,
    readonly policy: DartLargePagePolicy,
  ) {
    this.ops = {
      name: 'apple-dart',
      pgsizeBitmap: 0,
      domainAllocPaging: (dev) => this.domainAllocPaging(dev),
      domainAllocIdentity: () => this.identity,
      defDomainType: (dev) => this.defDomainType(dev),
      probeDevice: (dev) => (dev.iommuPriv ? 0 : -ENODEV),
      ofXlate: (dev, iommu, ids) => this.ofXlate(dev, iommu, ids),
    };
    this.identity = new IommuDomain('identity', { attachDev: (_d, dev) => this.attachIdentity(dev) }, this.ops);
  }

  private r(d: AppleDart, off: number): number {
    return this.k.readl(d.regs + off);
  }
  private w(d: AppleDart, off: number, v: number): void {
    this.k.writel(d.regs + off, v >>> 0);
  }

  /** apple_dart_probe (T8020/T6000 layouts). */
  probe(dev: KDevice, compatible: string[], regs: number, irqs: number[]): number {
    const hw = compatible.map((c) => DART_MATCH[c]).find((h) => h);
    if (!hw) return -ENODEV;
    const p1 = this.r({ regs } as AppleDart, PARAMS1);
    const p2 = this.r({ regs } as AppleDart, PARAMS2);
    const dart: AppleDart = {
      dev,
      regs,
      hw,
      pgsize: 2 ** ((p1 >>> 24) & 0xf),
      supportsBypass: (p2 & 1) !== 0 && hw.tcrBypass !== 0,
      numStreams: hw.maxSidCount,
      ias: 32,
      iommuDevice: undefined as unknown as IommuDevice,
    };
    dart.iommuDevice = { name: dev.name, ops: this.ops, priv: dart };
    const ret = this.reset(dart);
    if (ret) return ret;
    for (const irq of irqs) this.k.requestIrq(irq, 'apple-dart fault handler', () => this.irq(dart));
    this.darts.push(dart);
    const forced = dart.pgsize > this.k.pageSize ? 1 : 0;
    this.k.tracer.devPrintk('info', DRIVER, dev.name, `DART [pagesize ${dart.pgsize.toString(16)}, ${dart.numStreams} streams, bypass support: ${dart.supportsBypass ? 1 : 0}, bypass forced: ${forced}] initialized`);
    return 0;
  }

  private reset(d: AppleDart): number {
    const config = this.r(d, d.hw.lock);
    if (config & d.hw.lockBit) {
      this.k.tracer.devPrintk('err', DRIVER, d.dev.name, `DART is locked down until reboot: ${config.toString(16).padStart(8, '0')}`);
      return -EINVAL;
    }
    const all = Array.from({ length: d.numStreams }, (_, i) => i);
    for (const sid of all) {
      this.w(d, d.hw.tcr + 4 * sid, d.hw.tcrDisabled);
      for (let i = 0; i < d.hw.ttbrCount; i++) this.w(d, d.hw.ttbr + 4 * (d.hw.ttbrCount * sid + i), 0);
    }
    for (let i = 0; i < Math.ceil(d.numStreams / 32); i++) this.w(d, d.hw.enableStreams + 4 * i, 0xffffffff);
    this.w(d, d.hw.error, this.r(d, d.hw.error));
    return this.invalidate(d, all);
  }

  private invalidate(d: AppleDart, sids: number[]): number {
    const words = new Array(Math.ceil(d.numStreams / 32)).fill(0);
    for (const s of sids) words[s >> 5] = (words[s >> 5] | (1 << (s & 31))) >>> 0;
    words.forEach((wv, i) => this.w(d, STREAM_SELECT + 4 * i, wv));
    this.w(d, STREAM_COMMAND, STREAM_COMMAND_INVALIDATE);
    const ret = pollTimeout(this.k, () => (this.r(d, STREAM_COMMAND) & STREAM_COMMAND_BUSY) === 0, 1, 100);
    if (ret) this.k.tracer.devPrintk('err', DRIVER, d.dev.name, `busy bit did not clear after command ${STREAM_COMMAND_INVALIDATE.toString(16)} for streams ${words[0].toString(16)}`);
    return ret;
  }

  private ofXlate(dev: IommuClientDevice, iommu: IommuDevice, ids: number[]): number {
    const dart = iommu.priv as AppleDart;
    const prev = dev.iommuPriv as DartMasterCfg | undefined;
    if (prev && (prev.dart.supportsBypass !== dart.supportsBypass || prev.dart.pgsize !== dart.pgsize)) return -EINVAL;
    const cfg: DartMasterCfg = prev ?? { dart, sids: [] };
    cfg.sids.push(...ids);
    dev.iommuPriv = cfg;
    dev.iommuFwspec = { iommu, ids: cfg.sids };
    return 0;
  }

  /** apple_dart_def_domain_type plus the large-page policy of the preset. */
  private defDomainType(dev: IommuClientDevice): 'identity' | 'dma' | 0 {
    const cfg = dev.iommuPriv as DartMasterCfg;
    if (cfg.dart.pgsize > this.k.pageSize && (this.policy === 'force-bypass' || this.policy === 'fake-bypass')) return 'identity';
    if (!cfg.dart.supportsBypass) return 'dma';
    return 0;
  }

  private domainAllocPaging(_dev: IommuClientDevice): IommuDomain | null {
    const d = new IommuDomain('unmanaged', this.domainOps, this.ops);
    d.priv = { iop: null, masters: [], fakeBypass: false } satisfies DartDomain;
    const cfg = _dev.iommuPriv as DartMasterCfg | undefined;
    if (cfg) {
      // In 6.12 domain_alloc_paging with a device finalizes at once: a too-large page refuses here.
      if (this.finalize(d, cfg)) return null;
    }
    return d;
  }

  private finalize(dom: IommuDomain, cfg: DartMasterCfg): number {
    const dd = dom.priv as DartDomain;
    const dart = cfg.dart;
    if (dart.pgsize > this.k.pageSize && this.policy === 'force-bypass') return -EINVAL;
    if (dd.iop) return 0;
    const iop = allocIoPgtableOps(this.k, dart.hw.format, { pgsizeBitmap: dart.pgsize, ias: dart.ias, oas: dart.hw.oas, coherentWalk: true }, { iommuDev: dart.dev, prefix: 'dart io-pgtable: ', checkDmaIsPhys: false, checkWhere: '' });
    if (!iop) return -ENOMEM;
    dd.iop = iop;
    dom.pgsizeBitmap = dart.pgsize;
    dom.geometry = { start: 0, end: 2 ** dart.ias - 1, forceAperture: true };
    return 0;
  }

  private readonly domainOps = {
    attachDev: (d: IommuDomain, dev: IommuClientDevice) => this.attachPaging(d, dev),
    mapPages: (d: IommuDomain, iova: number, pa: number, pgsize: number, count: number, prot: number) => {
      const dd = d.priv as DartDomain;
      return dd.iop ? dd.iop.mapPages(iova, pa, pgsize, count, prot) : { ret: -ENODEV, mapped: 0 };
    },
    unmapPages: (d: IommuDomain, iova: number, pgsize: number, count: number) => {
      const dd = d.priv as DartDomain;
      return dd.iop ? dd.iop.unmapPages(iova, pgsize, count) : 0;
    },
    iovaToPhys: (d: IommuDomain, iova: number) => (d.priv as DartDomain).iop?.iovaToPhys(iova) ?? 0,
    flushIotlbAll: (d: IommuDomain) => this.flushDomain(d),
    iotlbSync: (d: IommuDomain) => this.flushDomain(d),
    iotlbSyncMap: (d: IommuDomain) => {
      this.flushDomain(d);
      return 0;
    },
    free: (d: IommuDomain) => (d.priv as DartDomain).iop?.free(),
  };

  private flushDomain(d: IommuDomain): void {
    for (const m of (d.priv as DartDomain).masters) this.invalidate(m.dart, m.sids);
  }

  private setupTranslation(dd: DartDomain, m: DartMasterCfg): void {
    const d = m.dart;
    const roots = dd.iop!.roots;
    for (const sid of m.sids) {
      for (let i = 0; i < d.hw.ttbrCount; i++) {
        const reg = d.hw.ttbr + 4 * (d.hw.ttbrCount * sid + i);
        if (i < roots.length) {
          if (roots[i] % 2 ** d.hw.ttbrShift) this.k.warn('drivers/iommu/apple-dart.c', 343, 'apple_dart_hw_set_ttbr');
          this.w(d, reg, (d.hw.ttbrValid | (Math.floor(roots[i] / 2 ** d.hw.ttbrShift) * 2 ** d.hw.ttbrAddrFieldShift)) >>> 0);
        } else this.w(d, reg, 0);
      }
      this.w(d, d.hw.tcr + 4 * sid, d.hw.tcrEnabled);
    }
    this.invalidate(d, m.sids);
  }

  private attachPaging(dom: IommuDomain, dev: IommuClientDevice): number {
    const cfg = dev.iommuPriv as DartMasterCfg;
    const ret = this.finalize(dom, cfg);
    if (ret) return ret;
    const dd = dom.priv as DartDomain;
    if (!dd.masters.includes(cfg)) dd.masters.push(cfg);
    this.setupTranslation(dd, cfg);
    return 0;
  }

  private attachIdentity(dev: IommuClientDevice): number {
    const cfg = dev.iommuPriv as DartMasterCfg;
    const d = cfg.dart;
    if (d.pgsize > this.k.pageSize && this.policy === 'fake-bypass') return this.attachFakeBypass(dev, cfg);
    if (!d.supportsBypass) return -EINVAL;
    for (const sid of cfg.sids) this.w(d, d.hw.tcr + 4 * sid, d.hw.tcrBypass);
    return 0;
  }

  /**
   * Seed 003 option 2: no real bypass on a 4K kernel, so program a static table that maps the whole
   * input range (2^ias bytes of IOVA) onto the start of RAM, and tell the DMA layer that the device sees
   * RAM through that window (a dma-range offset and a bus limit): memory beyond it is bounced by swiotlb.
   */
  private attachFakeBypass(dev: IommuClientDevice, cfg: DartMasterCfg): number {
    const d = cfg.dart;
    const dom = new IommuDomain('unmanaged', this.domainOps, this.ops);
    dom.priv = { iop: null, masters: [], fakeBypass: true } satisfies DartDomain;
    const saved = this.policy;
    const ret = this.finalizeIgnoringPolicy(dom, cfg);
    if (ret) return ret;
    const ramBase = this.k.ramBase();
    const window = 2 ** d.ias;
    const mapRet = this.core.map(dom, 0, ramBase, window, 3, this.k.gfp('GFP_KERNEL'));
    if (mapRet) return mapRet;
    (dom.priv as DartDomain).masters.push(cfg);
    this.setupTranslation(dom.priv as DartDomain, cfg);
    this.k.setDmaWindow(dev, ramBase, window);
    this.k.tracer.emit('driver', 'dart_fake_bypass', { dev: dev.name, iova: 0, phys: ramBase, size: window, policy: saved });
    return 0;
  }

  private finalizeIgnoringPolicy(dom: IommuDomain, cfg: DartMasterCfg): number {
    const dd = dom.priv as DartDomain;
    const dart = cfg.dart;
    const iop = allocIoPgtableOps(this.k, dart.hw.format, { pgsizeBitmap: dart.pgsize, ias: dart.ias, oas: dart.hw.oas, coherentWalk: true }, { iommuDev: dart.dev, prefix: 'dart io-pgtable: ', checkDmaIsPhys: false, checkWhere: '' });
    if (!iop) return -ENOMEM;
    dd.iop = iop;
    dom.pgsizeBitmap = dart.pgsize;
    dom.type = 'unmanaged';
    return 0;
  }

  /** apple_dart_t8020_irq */
  irq(d: AppleDart): IrqReturn {
    const error = this.r(d, d.hw.error);
    if (!(error & 0x80000000)) return 'none';
    const stream = (error >>> 24) & 0xf;
    const code = error & 0xfff;
    const addr = this.r(d, ERROR_ADDR_LO) + this.r(d, ERROR_ADDR_HI) * 2 ** 32;
    const names: Record<number, string> = { 0x10: 'READ FAULT', 0x8: 'WRITE FAULT', 0x4: 'NO PTE FOR IOVA', 0x2: 'NO PMD FOR IOVA', 0x1: 'NO TTBR FOR IOVA' };
    const name = names[code] ?? 'unknown';
    this.k.tracer.devPrintk('err', DRIVER, d.dev.name, `translation fault: status:0x${error.toString(16)} stream:${stream} code:0x${code.toString(16)} (${name}) at ${hex(addr)}`);
    this.k.tracer.emit('driver', 'dart_fault', { dev: d.dev.name, stream, code, addr });
    this.w(d, d.hw.error, error);
    return 'handled';
  }
}
