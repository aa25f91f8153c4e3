/**
 * The Apple DART driver (drivers/iommu/apple-dart.c, 6.12) for the T8020/T6000 register layouts:
 * PARAMS1/PARAMS2 read at probe, reset, def_domain_type, domain finalize, per-stream TTBR/TCR
 * programming, stream-select TLB invalidation and the fault interrupt.
 *
 * What happens when the DART's page is larger than the CPU's (seed 003) is one preset field
 * (`dartLargePage`), read at exactly the places where the kernels differ:
 * - 'force-bypass' (6.12): def_domain_type asks for IDENTITY (apple-dart.c:950-951) and finalize refuses
 *   any paging domain (apple-dart.c:583-584);
 * - 'paging-bug-on' (the 2021 v2 patch): neither rule exists, so the device gets a DMA domain and
 *   dma-iommu's init_iova_domain meets BUG_ON(granule > PAGE_SIZE) (iova.c:46);
 * - 'large-granule': neither rule either, and dma-iommu has been taught granules above PAGE_SIZE;
 * - 'fake-bypass' (Arnd's reply): 6.12's rules, but an IDENTITY attach that cannot use the hardware
 *   bypass programs one static table mapping the whole input range onto the start of RAM, and gives the
 *   device a DMA window of that size (memory beyond it goes through swiotlb).
 * Nothing here knows which board or scenario runs: the page size comes from PARAMS1, bypass support
 * from PARAMS2, the rest from the compatible's apple_dart_hw row.
 */
import { hex } from '../../addr.js';
import type { PageTable } from '../../formats/types.js';
import { IommuDomain, type IommuClientDevice, type IommuCore, type IommuDevice, type IommuOps, type DomainType, type IotlbGather, EINVAL, ENODEV, ENOMEM } from '../iommu/core.js';
import { pollTimeout, type KDevice, type KernelApi, type IrqReturn } from '../kapi.js';
import type { DartLargePagePolicy } from '../presets.js';
import { allocIoPgtableOps } from './io-pgtable.js';

/** struct apple_dart_hw as data (apple-dart.c:1203-1280), T8020-style register layouts. */
export interface DartHw {
  name: string;
  format: 'apple-dart' | 'apple-dart2';
  oas: number;
  maxSidCount: number;
  tcrEnabled: number;
  tcrDisabled: number;
  /** 0 for the t8103 USB4 DART: its row has no bypass value (apple-dart.c:1229-1252, .tcr_bypass = 0 at 1246). */
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
/** DART_T8020_TCR_BYPASS_DAPF | DART_T8020_TCR_BYPASS_DART (apple-dart.c:80-81). */
const BYPASS = (1 << 12) | (1 << 8);

export const DART_MATCH: Record<string, DartHw> = {
  'apple,t8103-dart': { ...T8020_BASE, name: 't8020', format: 'apple-dart', oas: 36, ttbr: 0x200, tcrBypass: BYPASS },
  'apple,t8103-usb4-dart': { ...T8020_BASE, name: 't8020-usb4', format: 'apple-dart', oas: 36, ttbr: 0x400, tcrBypass: 0, maxSidCount: 64 },
  'apple,t6000-dart': { ...T8020_BASE, name: 't6000', format: 'apple-dart2', oas: 42, ttbr: 0x200, tcrBypass: BYPASS },
};

const PARAMS1 = 0x00;
const PARAMS2 = 0x04;
const PARAMS1_PAGE_SHIFT_LO = 24;
const PARAMS2_BYPASS_SUPPORT = 1;
const STREAM_COMMAND = 0x20;
const STREAM_COMMAND_BUSY = 1 << 2;
const STREAM_COMMAND_INVALIDATE = 1 << 20;
const STREAM_SELECT = 0x34;
const ERROR_FLAG = 0x80000000;
const ERROR_ADDR_LO = 0x50;
const ERROR_ADDR_HI = 0x54;
/** DART_MAX_STREAMS (apple-dart.c:36). */
const MAX_STREAMS = 256;
/** DART_STREAM_COMMAND_BUSY_TIMEOUT, µs (apple-dart.c:71). */
const BUSY_TIMEOUT_US = 100;
const DRIVER = 'apple-dart';
const IOMMU_READ = 1;
const IOMMU_WRITE = 2;

export interface AppleDart {
  dev: KDevice;
  regs: number;
  hw: DartHw;
  irq: number;
  pgsize: number;
  supportsBypass: boolean;
  numStreams: number;
  ias: number;
  oas: number;
  iommuDevice: IommuDevice;
}

/** apple_dart_master_cfg reduced to one stream map (one DART per master in the boards we model). */
interface DartMasterCfg {
  dart: AppleDart;
  sids: number[];
}

interface DartDomain {
  iop: PageTable | null;
  masters: DartMasterCfg[];
}

/** The one static table a 'fake-bypass' kernel shares between all DARTs of a format and page size. */
interface StaticTable {
  iop: PageTable;
  iovaSize: number;
  phys: number;
}

export class AppleDartDriver {
  readonly darts: AppleDart[] = [];
  readonly ops: IommuOps;
  private readonly identity: IommuDomain;
  private readonly blocked: IommuDomain;
  private readonly staticTables = new Map<string, StaticTable>();

  constructor(
    readonly k: KernelApi,
    readonly core: IommuCore,
    readonly policy: DartLargePagePolicy,
  ) {
    this.ops = {
      name: 'apple-dart',
      // "Restricted during dart probe": each domain takes its DART's page size at finalize.
      pgsizeBitmap: 0,
      domainAllocPaging: (dev) => this.domainAllocPaging(dev),
      defDomainType: (dev) => this.defDomainType(dev),
      probeDevice: (dev) => (dev.iommuPriv ? 0 : -ENODEV),
      releaseDevice: (dev) => {
        dev.iommuPriv = undefined;
      },
      ofXlate: (dev, iommu, ids) => this.ofXlate(dev, iommu, ids),
    };
    // Static domains, as 6.12's apple_dart_identity_domain / apple_dart_blocked_domain (apple-dart.c:697-725).
    this.identity = new IommuDomain('identity', { attachDev: (_d, dev) => this.attachIdentity(dev) }, this.ops);
    this.blocked = new IommuDomain('blocked', { attachDev: (_d, dev) => this.attachBlocked(dev) }, this.ops);
    this.ops.identityDomain = this.identity;
    this.ops.blockedDomain = this.blocked;
  }

  /** Whether this kernel keeps 6.12's two rules for DARTs whose page exceeds PAGE_SIZE. */
  private get refusesLargePages(): boolean {
    return this.policy === 'force-bypass' || this.policy === 'fake-bypass';
  }

  private r(d: { regs: number }, off: number): number {
    return this.k.readl(d.regs + off);
  }
  private w(d: { regs: number }, off: number, v: number): void {
    this.k.writel(d.regs + off, v >>> 0);
  }

  /** apple_dart_probe (apple-dart.c:1086-1180), T8020/T6000 layouts. */
  probe(dev: KDevice, compatible: string[], regs: number, irqs: number[]): number {
    const hw = compatible.map((c) => DART_MATCH[c]).find((h) => h);
    if (!hw) return -ENODEV;
    if (irqs.length === 0) return -ENODEV; // platform_get_irq(pdev, 0) < 0
    const params1 = this.r({ regs }, PARAMS1);
    const params2 = this.r({ regs }, PARAMS2);
    const dart: AppleDart = {
      dev,
      regs,
      hw,
      irq: irqs[0],
      pgsize: 2 ** ((params1 >>> PARAMS1_PAGE_SHIFT_LO) & 0xf),
      // Bypass support is what PARAMS2 says, nothing else (apple-dart.c:1127): a row without a bypass
      // TCR value (the USB4 DART) relies on the hardware reporting no support.
      supportsBypass: (params2 & PARAMS2_BYPASS_SUPPORT) !== 0,
      numStreams: hw.maxSidCount,
      ias: 32,
      oas: hw.oas,
      iommuDevice: undefined as unknown as IommuDevice,
    };
    if (dart.numStreams > MAX_STREAMS) {
      this.k.tracer.devPrintk('err', DRIVER, dev.name, `Too many streams (${dart.numStreams} > ${MAX_STREAMS})`);
      return -EINVAL;
    }
    dart.iommuDevice = { name: dev.name, ops: this.ops, priv: dart };
    const ret = this.reset(dart);
    if (ret) return ret;
    this.k.requestIrq(dart.irq, 'apple-dart fault handler', () => this.irqHandler(dart));
    this.darts.push(dart);
    // 6.12 prints pgsize > PAGE_SIZE; a kernel without the forced-bypass rule forces nothing.
    const forced = this.refusesLargePages && dart.pgsize > this.k.pageSize ? 1 : 0;
    this.k.tracer.emit('driver', 'dart_probe', { dev: dev.name, params1, params2, pgsize: dart.pgsize, pageSize: this.k.pageSize, supportsBypass: dart.supportsBypass, forced: !!forced });
    this.k.tracer.devPrintk(
      'info',
      DRIVER,
      dev.name,
      `DART [pagesize ${dart.pgsize.toString(16)}, ${dart.numStreams} streams, bypass support: ${dart.supportsBypass ? 1 : 0}, bypass forced: ${forced}] initialized`,
    );
    return 0;
  }

  private ttbrReg(d: AppleDart, sid: number, idx: number): number {
    return d.hw.ttbr + 4 * (d.hw.ttbrCount * sid + idx);
  }

  /** apple_dart_hw_reset (apple-dart.c:453-483). */
  private reset(d: AppleDart): number {
    const config = this.r(d, d.hw.lock);
    if (config & d.hw.lockBit) {
      this.k.tracer.devPrintk('err', DRIVER, d.dev.name, `DART is locked down until reboot: ${(config >>> 0).toString(16).padStart(8, '0')}`);
      return -EINVAL;
    }
    const all = Array.from({ length: d.numStreams }, (_, i) => i);
    for (const sid of all) this.w(d, d.hw.tcr + 4 * sid, d.hw.tcrDisabled);
    for (let i = 0; i < d.hw.ttbrCount; i++) for (const sid of all) this.w(d, this.ttbrReg(d, sid, i), 0);
    // TCRs isolate the streams, so every stream is enabled globally.
    for (let i = 0; i < Math.ceil(d.numStreams / 32); i++) this.w(d, d.hw.enableStreams + 4 * i, 0xffffffff);
    // Clear a stale error before the interrupt is requested.
    this.w(d, d.hw.error, this.r(d, d.hw.error));
    return this.invalidate(d, all);
  }

  /** apple_dart_t8020_hw_stream_command(INVALIDATE) (apple-dart.c:370-398). */
  private invalidate(d: AppleDart, sids: number[]): number {
    const words = new Array<number>(Math.ceil(d.numStreams / 32)).fill(0);
    for (const s of sids) words[s >> 5] = (words[s >> 5] | (1 << (s & 31))) >>> 0;
    words.forEach((wv, i) => this.w(d, STREAM_SELECT + 4 * i, wv));
    this.w(d, STREAM_COMMAND, STREAM_COMMAND_INVALIDATE);
    const ret = pollTimeout(this.k, () => (this.r(d, STREAM_COMMAND) & STREAM_COMMAND_BUSY) === 0, 1, BUSY_TIMEOUT_US);
    if (ret) {
      // sidmap[0] is an unsigned long: the first 64 streams.
      const first64 = (words[1] ?? 0) * 2 ** 32 + (words[0] ?? 0);
      this.k.tracer.devPrintk('err', DRIVER, d.dev.name, `busy bit did not clear after command ${STREAM_COMMAND_INVALIDATE.toString(16)} for streams ${first64.toString(16)}`);
      this.k.tracer.emit('driver', 'dart_tlb_timeout', { dev: d.dev.name, streams: sids, failure: 'timeout', message: `${d.dev.name}: TLB invalidation did not complete` });
    }
    return ret;
  }

  /** apple_dart_of_xlate (apple-dart.c:784-830): a master's DARTs must agree on bypass and page size. */
  private ofXlate(dev: IommuClientDevice, iommu: IommuDevice, ids: number[]): number {
    const dart = iommu.priv as AppleDart;
    if (ids.length !== 1) return -EINVAL;
    const prev = dev.iommuPriv as DartMasterCfg | undefined;
    if (prev && (prev.dart.supportsBypass !== dart.supportsBypass || prev.dart.pgsize !== dart.pgsize)) return -EINVAL;
    const cfg: DartMasterCfg = prev ?? { dart, sids: [] };
    if (!cfg.sids.includes(ids[0])) cfg.sids.push(ids[0]);
    dev.iommuPriv = cfg;
    dev.iommuFwspec = { iommu, ids: cfg.sids };
    return 0;
  }

  /** apple_dart_def_domain_type (apple-dart.c:946-956). */
  private defDomainType(dev: IommuClientDevice): DomainType | 0 {
    const cfg = dev.iommuPriv as DartMasterCfg;
    if (this.refusesLargePages && cfg.dart.pgsize > this.k.pageSize) return 'identity';
    if (!cfg.dart.supportsBypass) return 'dma';
    return 0;
  }

  /** apple_dart_domain_alloc_paging (apple-dart.c:751-772): with a device, finalize at once. */
  private domainAllocPaging(dev: IommuClientDevice): IommuDomain | null {
    const d = new IommuDomain('unmanaged', this.domainOps, this.ops);
    d.priv = { iop: null, masters: [] } satisfies DartDomain;
    const cfg = dev.iommuPriv as DartMasterCfg | undefined;
    if (cfg && this.finalize(d, cfg)) return null; // ERR_PTR: the core sees no domain
    return d;
  }

  /** apple_dart_finalize_domain (apple-dart.c:575-625). */
  private finalize(dom: IommuDomain, cfg: DartMasterCfg): number {
    const dd = dom.priv as DartDomain;
    const dart = cfg.dart;
    if (this.refusesLargePages && dart.pgsize > this.k.pageSize) return -EINVAL;
    if (dd.iop) return 0;
    const iop = this.allocTable(dart);
    if (!iop) return -ENOMEM;
    dd.iop = iop;
    dom.pgsizeBitmap = dart.pgsize;
    dom.geometry = { start: 0, end: 2 ** dart.ias - 1, forceAperture: true };
    return 0;
  }

  /**
   * alloc_io_pgtable_ops(APPLE_DART[2]) with a coherent walker. Tables are one DART page each, taken
   * as iommu_alloc_pages(gfp, get_order(granule)) (io-pgtable-dart.c:110-116): a 16 KiB table on a
   * 4K kernel is an order-2 block, never a single 4 KiB page.
   */
  private allocTable(dart: AppleDart): PageTable | null {
    const k = this.k;
    const order = (size: number): number => Math.max(0, Math.ceil(Math.log2(size / k.pageSize)));
    const host = k.iommuAllocPages
      ? {
          allocTable: (size: number) => k.iommuAllocPages!(k.gfp('GFP_KERNEL'), order(size), `dart io-pgtable table (${size} bytes, order ${order(size)})`),
          freeTable: (pa: number, size: number) => k.iommuFreePages?.(pa, order(size)),
        }
      : {};
    return allocIoPgtableOps(
      k,
      dart.hw.format,
      { pgsizeBitmap: dart.pgsize, ias: dart.ias, oas: dart.oas, coherentWalk: true },
      { iommuDev: dart.dev, prefix: 'dart io-pgtable: ', checkDmaIsPhys: false, checkWhere: '' },
      host,
    );
  }

  private readonly domainOps = {
    attachDev: (d: IommuDomain, dev: IommuClientDevice) => this.attachPaging(d, dev),
    mapPages: (d: IommuDomain, iova: number, pa: number, pgsize: number, count: number, prot: number) => {
      const dd = d.priv as DartDomain;
      return dd.iop ? dd.iop.mapPages(iova, pa, pgsize, count, prot) : { ret: -ENODEV, mapped: 0 };
    },
    unmapPages: (d: IommuDomain, iova: number, pgsize: number, count: number, gather: IotlbGather) => {
      const dd = d.priv as DartDomain;
      return dd.iop ? dd.iop.unmapPages(iova, pgsize, count, gather) : 0;
    },
    iovaToPhys: (d: IommuDomain, iova: number) => (d.priv as DartDomain).iop?.iovaToPhys(iova) ?? 0,
    // flush_iotlb_all, iotlb_sync and iotlb_sync_map all invalidate every stream of the domain
    // (apple-dart.c:485-517).
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

  /** apple_dart_setup_translation (apple-dart.c:557-573): TTBRs, clear the rest, TCR translate, invalidate. */
  private setupTranslation(iop: PageTable, m: DartMasterCfg): void {
    const d = m.dart;
    const roots = iop.roots;
    for (let i = 0; i < roots.length; i++) {
      if (roots[i] % 2 ** d.hw.ttbrShift) this.k.warn('drivers/iommu/apple-dart.c', 343, 'apple_dart_hw_set_ttbr');
      const v = d.hw.ttbrValid + Math.floor(roots[i] / 2 ** d.hw.ttbrShift) * 2 ** d.hw.ttbrAddrFieldShift;
      for (const sid of m.sids) this.w(d, this.ttbrReg(d, sid, i), v);
    }
    for (let i = roots.length; i < d.hw.ttbrCount; i++) for (const sid of m.sids) this.w(d, this.ttbrReg(d, sid, i), 0);
    for (const sid of m.sids) this.w(d, d.hw.tcr + 4 * sid, d.hw.tcrEnabled);
    this.invalidate(d, m.sids);
    this.k.tracer.emit('driver', 'dart_translate', { dev: d.dev.name, sids: m.sids, roots });
  }

  /** apple_dart_attach_dev_paging (apple-dart.c:661-680). */
  private attachPaging(dom: IommuDomain, dev: IommuClientDevice): number {
    const cfg = dev.iommuPriv as DartMasterCfg;
    const ret = this.finalize(dom, cfg);
    if (ret) return ret;
    const dd = dom.priv as DartDomain;
    if (dd.masters.length && dd.masters[0].dart !== cfg.dart) return -EINVAL; // apple_dart_mod_streams
    if (!dd.masters.includes(cfg)) dd.masters.push(cfg);
    this.setupTranslation(dd.iop!, cfg);
    return 0;
  }

  /** apple_dart_attach_dev_identity (apple-dart.c:682-695), or the static table of a fake bypass. */
  private attachIdentity(dev: IommuClientDevice): number {
    const cfg = dev.iommuPriv as DartMasterCfg;
    const d = cfg.dart;
    if (this.policy === 'fake-bypass' && (d.pgsize > this.k.pageSize || !d.supportsBypass)) return this.attachFakeBypass(dev, cfg);
    if (!d.supportsBypass) {
      this.k.tracer.emit('driver', 'dart_no_bypass', { dev: dev.name, dart: d.dev.name, sids: cfg.sids, ret: -EINVAL });
      return -EINVAL;
    }
    for (const sid of cfg.sids) this.w(d, d.hw.tcr + 4 * sid, d.hw.tcrBypass);
    this.k.tracer.emit('driver', 'dart_bypass', { dev: dev.name, dart: d.dev.name, sids: cfg.sids, tcr: d.hw.tcrBypass });
    return 0;
  }

  /** apple_dart_attach_dev_blocked (apple-dart.c:706-716). */
  private attachBlocked(dev: IommuClientDevice): number {
    const cfg = dev.iommuPriv as DartMasterCfg;
    for (const sid of cfg.sids) this.w(cfg.dart, cfg.dart.hw.tcr + 4 * sid, cfg.dart.hw.tcrDisabled);
    return 0;
  }

  /**
   * Seed 003, Arnd's "fake bypass": the DART cannot (or, with pages larger than PAGE_SIZE, may not)
   * bypass, so one static table maps the whole input range, IOVA [0, 2^ias), onto RAM from its first
   * byte, and the device is told that it sees RAM through that window (a dma-range offset and a bus
   * limit). dma-direct then hands out bus addresses inside the window and bounces anything beyond it
   * through swiotlb — which only works when the swiotlb pool itself lies inside the window.
   */
  private attachFakeBypass(dev: IommuClientDevice, cfg: DartMasterCfg): number {
    const d = cfg.dart;
    const st = this.staticTable(d);
    if (!st) return -ENOMEM;
    this.setupTranslation(st.iop, cfg);
    this.k.setDmaWindow(dev as unknown as KDevice, st.phys, st.iovaSize);
    this.k.tracer.emit('driver', 'dart_fake_bypass', { dev: dev.name, dart: d.dev.name, iova: 0, phys: st.phys, size: st.iovaSize, roots: st.iop.roots });
    return 0;
  }

  private staticTable(d: AppleDart): StaticTable | null {
    const key = `${d.hw.format}/${d.pgsize}/${d.ias}`;
    const have = this.staticTables.get(key);
    if (have) return have;
    const iop = this.allocTable(d);
    if (!iop) return null;
    const phys = this.k.ramBase();
    const iovaSize = 2 ** d.ias;
    // map_pages fills at most one L2 table per call; loop as __iommu_map does. The 2^ias / pgsize PTE
    // writes (262144 for 4 GiB of 16 KiB pages) are summed up by one event instead of one each.
    let done = 0;
    let ret = 0;
    const tracer = this.k.tracer;
    const wasRecording = tracer.recording;
    tracer.recording = false;
    try {
      while (done < iovaSize) {
        const r = iop.mapPages(done, phys + done, d.pgsize, (iovaSize - done) / d.pgsize, IOMMU_READ | IOMMU_WRITE);
        if (r.ret || r.mapped === 0) {
          ret = r.ret || -ENOMEM;
          break;
        }
        done += r.mapped;
      }
    } finally {
      tracer.recording = wasRecording;
    }
    tracer.emit('driver', 'dart_static_table', { dart: d.dev.name, roots: iop.roots, iova: 0, phys, size: iovaSize, mapped: done, pgsize: d.pgsize, ptes: done / d.pgsize, ret });
    if (ret) {
      iop.free();
      return null;
    }
    const st = { iop, iovaSize, phys };
    this.staticTables.set(key, st);
    // The shared identity domain shows the static table to walkers (a `walk` of the live table).
    this.identity.priv = { iop, masters: [] } satisfies DartDomain;
    return st;
  }

  /** apple_dart_t8020_irq (apple-dart.c:1007-1045). */
  irqHandler(d: AppleDart): IrqReturn {
    const error = this.r(d, d.hw.error);
    const code = error & 0xfff;
    const addr = this.r(d, ERROR_ADDR_LO) + this.r(d, ERROR_ADDR_HI) * 2 ** 32;
    const stream = (error >>> 24) & 0xf;
    if (!(error & ERROR_FLAG)) return 'none';
    // exact match: a code with two bits set is "unknown"
    const names: Record<number, string> = { 0x10: 'READ FAULT', 0x8: 'WRITE FAULT', 0x4: 'NO PTE FOR IOVA', 0x2: 'NO PMD FOR IOVA', 0x1: 'NO TTBR FOR IOVA' };
    const name = names[code] ?? 'unknown';
    this.k.tracer.devPrintk('err', DRIVER, d.dev.name, `translation fault: status:0x${(error >>> 0).toString(16)} stream:${stream} code:0x${code.toString(16)} (${name}) at ${hex(addr)}`);
    this.k.tracer.emit('driver', 'dart_fault', { dev: d.dev.name, stream, code, name, addr });
    this.w(d, d.hw.error, error);
    return 'handled';
  }
}
