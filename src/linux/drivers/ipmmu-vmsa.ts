/**
 * The Renesas IPMMU-VMSA driver (drivers/iommu/ipmmu-vmsa.c, 6.12 and the 4.20-era error path):
 * lazy context initialisation at first attach through io-pgtable-arm (ARM_32_LPAE_S1, tables DMA-mapped
 * with the *root* IPMMU's device and checked dma == phys), context registers, uTLB enables, and the
 * domain free path with or without the NULL guard on domain->mmu (a preset row).
 */
import { hi32, lo32 } from '../../addr.js';
import type { PageTable } from '../../formats/types.js';
import { IommuDomain, type IommuClientDevice, type IommuCore, type IommuDevice, type IommuOps, type IotlbGather, ENODEV, EINVAL, EBUSY } from '../iommu/core.js';
import { pollTimeout, type KDevice, type KernelApi, type IrqReturn } from '../kapi.js';
import { allocIoPgtableOps } from './io-pgtable.js';

export interface IpmmuFeatures {
  useNsAliasOffset: boolean;
  hasCacheLeafNodes: boolean;
  numberOfContexts: number;
  numUtlbs: number;
  setupImbuscr: boolean;
  twobitImttbcrSl0: boolean;
  reservedContext: boolean;
  cacheSnoop: boolean;
  ctxOffsetBase: number;
  ctxOffsetStride: number;
  utlbOffsetBase: number;
}

// ipmmu_features_* (ipmmu-vmsa.c:913-953)
const GEN2: IpmmuFeatures = {
  useNsAliasOffset: true,
  hasCacheLeafNodes: false,
  numberOfContexts: 1,
  numUtlbs: 32,
  setupImbuscr: true,
  twobitImttbcrSl0: false,
  reservedContext: false,
  cacheSnoop: true,
  ctxOffsetBase: 0,
  ctxOffsetStride: 0x40,
  utlbOffsetBase: 0,
};
const GEN3: IpmmuFeatures = { ...GEN2, useNsAliasOffset: false, hasCacheLeafNodes: true, numberOfContexts: 8, numUtlbs: 48, setupImbuscr: false, twobitImttbcrSl0: true, reservedContext: true, cacheSnoop: false };
const GEN4: IpmmuFeatures = { ...GEN3, numberOfContexts: 16, numUtlbs: 64, ctxOffsetBase: 0x10000, ctxOffsetStride: 0x1040, utlbOffsetBase: 0x3000 };

/** ipmmu_of_ids: compatible -> features. */
export const IPMMU_MATCH: Record<string, IpmmuFeatures> = {
  'renesas,ipmmu-vmsa': GEN2,
  ...Object.fromEntries(
    ['r8a774a1', 'r8a774b1', 'r8a774c0', 'r8a774e1', 'r8a7795', 'r8a7796', 'r8a77961', 'r8a77965', 'r8a77970', 'r8a77980', 'r8a77990', 'r8a77995'].map((s) => [`renesas,ipmmu-${s}`, GEN3]),
  ),
  'renesas,ipmmu-r8a779a0': GEN4,
  'renesas,rcar-gen4-ipmmu-vmsa': GEN4,
};

/**
 * soc_denylist (ipmmu-vmsa.c:734-739): SoCs whose IPMMU may not be used at all, even by PCI devices.
 * The kernel matches soc_id and revision read from the PRR at run time; the device tree tells the SoC
 * (by the IPMMU compatible) but not the revision, so r8a7795 ES2.x (also deny-listed) cannot be told
 * from ES3.x here and is treated as allowed.
 */
export const IPMMU_SOC_DENYLIST = ['renesas,ipmmu-r8a774a1', 'renesas,ipmmu-r8a7796'];

/** How the domain free path treats a domain whose context never initialised (preset data). */
export interface IpmmuFreePolicy {
  /** 'destroy_context': 6.12 returns early in destroy_context; 'domain_free': Geert's 2018 guard;
   *  'none': 4.20-rc1 dereferences domain->mmu->root. */
  nullGuard: 'destroy_context' | 'domain_free' | 'none';
  /** offsetof(struct ipmmu_vmsa_device, root) in that kernel's layout (the faulting address). */
  rootOffset: number;
}

const IM_NS_ALIAS_OFFSET = 0x800;
const IMCTR = 0x0000;
const IMCTR_INTEN = 1 << 2;
const IMCTR_FLUSH = 1 << 1;
const IMCTR_MMUEN = 1 << 0;
const IMTTBCR = 0x0008;
const IMTTBCR_EAE = 0x80000000;
const IMTTBCR_SH0_INNER_SHAREABLE = 3 << 12;
const IMTTBCR_ORGN0_WB_WA = 1 << 10;
const IMTTBCR_IRGN0_WB_WA = 1 << 8;
const IMTTBCR_SL0_TWOBIT_LVL_1 = 2 << 6;
const IMTTBCR_SL0_LVL_1 = 1 << 4;
const IMBUSCR = 0x000c;
const IMTTLBR0 = 0x0010;
const IMTTUBR0 = 0x0014;
const IMSTR = 0x0020;
const IMSTR_MHIT = 1 << 4;
const IMSTR_ABORT = 1 << 2;
const IMSTR_PF = 1 << 1;
const IMSTR_TF = 1 << 0;
const IMMAIR0 = 0x0028;
const IMELAR = 0x0030;
const IMEUAR = 0x0034;
const DRIVER = 'ipmmu-vmsa';

function imuctr(n: number): number {
  return n < 32 ? 0x300 + 16 * n : 0x600 + 16 * (n - 32);
}
function imuasid(n: number): number {
  return n < 32 ? 0x308 + 16 * n : 0x608 + 16 * (n - 32);
}

export interface IpmmuDevice {
  dev: KDevice;
  /** The compatible that matched (names the SoC). */
  compatible: string;
  base: number;
  features: IpmmuFeatures;
  root: IpmmuDevice | undefined;
  ctx: boolean[];
  domains: (IpmmuDomain | undefined)[];
  iommuDevice: IommuDevice;
}

interface IpmmuDomain {
  mmu: IpmmuDevice | null;
  contextId: number;
  iop: PageTable | null;
  cfg: { ttbr: number; mair: number };
}

export class IpmmuDriver {
  readonly mmus: IpmmuDevice[] = [];
  readonly ops: IommuOps;
  /** ipmmu_iommu_identity_domain: attaching it turns the device's uTLBs off (ipmmu-vmsa.c:638-661). */
  readonly identityDomain: IommuDomain;

  constructor(
    readonly k: KernelApi,
    readonly core: IommuCore,
    readonly freePolicy: IpmmuFreePolicy,
    /** ipmmu_device_is_allowed: 'all', or the opted-in device names (PCI devices always pass). */
    readonly allowlist: 'all' | string[] = 'all',
  ) {
    this.ops = {
      name: 'ipmmu-vmsa',
      pgsizeBitmap: 0x40201000,
      domainAllocPaging: () => {
        const d = new IommuDomain('unmanaged', this.domainOps, this.ops);
        d.priv = { mmu: null, contextId: -1, iop: null, cfg: { ttbr: 0, mair: 0 } } satisfies IpmmuDomain;
        return d;
      },
      probeDevice: (dev) => (dev.iommuPriv ? 0 : -ENODEV),
      releaseDevice: (dev) => this.releaseDevice(dev),
      ofXlate: (dev, iommu, ids) => {
        // R-Car Gen3/Gen4 and RZ/G2 need an opt-in per device (ipmmu_of_xlate -> ipmmu_device_is_allowed,
        // ipmmu-vmsa.c:748-775): deny-listed SoCs never, then PCI devices, then the allowlist.
        const mmu = iommu.priv as IpmmuDevice;
        if (mmu.features.hasCacheLeafNodes && this.allowlist !== 'all') {
          if (IPMMU_SOC_DENYLIST.includes(mmu.compatible)) return -ENODEV;
          if (!dev.isPci && !this.allowlist.includes(dev.name)) return -ENODEV;
        }
        dev.iommuPriv = iommu.priv;
        dev.iommuFwspec = { iommu, ids };
        return 0;
      },
    };
    this.identityDomain = new IommuDomain('identity', { attachDev: (_d, dev) => this.identityAttach(dev) }, this.ops);
    this.ops.identityDomain = this.identityDomain;
  }

  /** ipmmu_iommu_identity_attach: disable the uTLBs of the device's current paging domain, if any. */
  private identityAttach(dev: IommuClientDevice): number {
    const cur = dev.iommuGroup?.domain;
    if (!cur || cur === this.identityDomain) return 0;
    const d = cur.priv as IpmmuDomain;
    for (const utlb of dev.iommuFwspec?.ids ?? []) this.utlbWrite(d.mmu!, utlb, 0);
    return 0;
  }

  /** ipmmu_release_device: every uTLB of the device off, whatever domain it had (ipmmu-vmsa.c:859-871). */
  private releaseDevice(dev: IommuClientDevice): void {
    const mmu = dev.iommuPriv as IpmmuDevice | undefined;
    if (!mmu) return;
    for (const utlb of dev.iommuFwspec?.ids ?? []) this.utlbWrite(mmu, utlb, 0);
  }

  private utlbWrite(mmu: IpmmuDevice, utlb: number, v: number): void {
    this.k.writel(mmu.base + mmu.features.utlbOffsetBase + imuctr(utlb), v >>> 0);
  }

  /** ipmmu_probe (without deferral: callers probe the root first, as deferred probing ends up doing). */
  probe(dev: KDevice, compatible: string[], base: number, irqs: number[], isLeafProp: boolean): number {
    const matched = compatible.find((c) => IPMMU_MATCH[c]);
    if (!matched) return -ENODEV;
    const features = IPMMU_MATCH[matched];
    this.k.dmaSetMaskAndCoherent(dev, 40);
    const mmu: IpmmuDevice = {
      dev,
      compatible: matched,
      base: features.useNsAliasOffset ? base + IM_NS_ALIAS_OFFSET : base,
      features,
      root: undefined,
      // num_ctx = min(IPMMU_CTX_MAX, number_of_contexts) (ipmmu-vmsa.c:1047)
      ctx: new Array(Math.min(16, features.numberOfContexts)).fill(false),
      domains: new Array(Math.min(16, features.numberOfContexts)).fill(undefined),
      iommuDevice: undefined as unknown as IommuDevice,
    };
    if (!features.hasCacheLeafNodes || !isLeafProp) mmu.root = mmu;
    else mmu.root = this.mmus.find((m) => m.root === m);
    if (!mmu.root) return -517; // -EPROBE_DEFER
    mmu.iommuDevice = { name: dev.name, ops: this.ops, priv: mmu };
    if (mmu.root === mmu) {
      // A root takes its first interrupt only (platform_get_irq(pdev, 0)), then ipmmu_device_reset
      // disables every context; Gen3/Gen4 reserve context 0 (ipmmu-vmsa.c:1066-1083).
      if (irqs.length === 0) return -6; // platform_get_irq: -ENXIO
      const r = this.k.requestIrq(irqs[0], dev.name, () => this.irq(mmu));
      if (r < 0) {
        this.k.tracer.devPrintk('err', DRIVER, dev.name, `failed to request IRQ ${irqs[0]}`);
        return r;
      }
      for (let i = 0; i < mmu.ctx.length; i++) this.ctxWrite(mmu, i, IMCTR, 0);
      if (features.reservedContext) {
        this.k.tracer.devPrintk('info', DRIVER, dev.name, 'IPMMU context 0 is reserved');
        mmu.ctx[0] = true;
      }
    }
    this.mmus.push(mmu);
    return 0;
  }

  private ctxReg(mmu: IpmmuDevice, ctx: number, reg: number): number {
    let base = mmu.features.ctxOffsetBase;
    if (ctx > 7) base += 0x800 - 8 * 0x40;
    return mmu.base + base + ctx * mmu.features.ctxOffsetStride + reg;
  }
  private ctxWrite(mmu: IpmmuDevice, ctx: number, reg: number, v: number): void {
    this.k.writel(this.ctxReg(mmu, ctx, reg), v >>> 0);
  }
  private ctxRead(mmu: IpmmuDevice, ctx: number, reg: number): number {
    return this.k.readl(this.ctxReg(mmu, ctx, reg));
  }
  private writeRoot(d: IpmmuDomain, reg: number, v: number): void {
    this.ctxWrite(d.mmu!.root!, d.contextId, reg, v);
  }
  private writeAll(d: IpmmuDomain, reg: number, v: number): void {
    if (d.mmu !== d.mmu!.root) this.ctxWrite(d.mmu!, d.contextId, reg, v);
    this.writeRoot(d, reg, v);
  }

  private tlbSync(d: IpmmuDomain): void {
    const ret = pollTimeout(this.k, () => (this.ctxRead(d.mmu!.root!, d.contextId, IMCTR) & IMCTR_FLUSH) === 0, 1, 100);
    if (ret) this.k.tracer.devPrintk('err', DRIVER, d.mmu!.dev.name, 'TLB sync timed out -- MMU may be deadlocked');
  }

  private tlbFlushAll(d: IpmmuDomain): void {
    if (!d.mmu) return;
    const reg = this.ctxRead(d.mmu.root!, d.contextId, IMCTR);
    this.writeAll(d, IMCTR, reg | IMCTR_FLUSH);
    this.tlbSync(d);
  }

  private readonly domainOps = {
    attachDev: (io: IommuDomain, dev: IommuClientDevice) => this.attach(io, dev),
    mapPages: (io: IommuDomain, iova: number, pa: number, pgsize: number, count: number, prot: number) => {
      const d = io.priv as IpmmuDomain;
      if (!d.iop) return { ret: -ENODEV, mapped: 0 };
      return d.iop.mapPages(iova, pa, pgsize, count, prot);
    },
    unmapPages: (io: IommuDomain, iova: number, pgsize: number, count: number, gather: IotlbGather) => {
      const d = io.priv as IpmmuDomain;
      return d.iop ? d.iop.unmapPages(iova, pgsize, count, gather) : 0;
    },
    iovaToPhys: (io: IommuDomain, iova: number) => {
      const d = io.priv as IpmmuDomain;
      return d.iop ? d.iop.iovaToPhys(iova) : 0;
    },
    flushIotlbAll: (io: IommuDomain) => this.tlbFlushAll(io.priv as IpmmuDomain),
    iotlbSync: (io: IommuDomain) => this.tlbFlushAll(io.priv as IpmmuDomain),
    free: (io: IommuDomain) => this.domainFree(io),
  };

  private initContext(d: IpmmuDomain, io: IommuDomain): number {
    const root = d.mmu!.root!;
    io.geometry = { start: 0, end: 0xffffffff, forceAperture: true };
    // ipmmu_domain_allocate_context: first free context on the root.
    const id = root.ctx.indexOf(false);
    if (id < 0) return -EBUSY;
    root.ctx[id] = true;
    root.domains[id] = d;
    d.contextId = id;
    const iop = allocIoPgtableOps(
      this.k,
      'arm-32-lpae-s1',
      { quirks: ['ARM_NS'], pgsizeBitmap: 0x40201000, ias: 32, oas: 40, coherentWalk: false },
      { iommuDev: root.dev, prefix: 'arm-lpae io-pgtable: ', checkDmaIsPhys: true, checkWhere: 'drivers/iommu/io-pgtable-arm.c:249' },
      {
        tlbFlushAll: () => this.tlbFlushAll(d),
        tlbFlushWalk: () => this.tlbFlushAll(d),
        tlbAddPage: () => undefined,
      },
    );
    if (!iop) {
      root.ctx[id] = false;
      root.domains[id] = undefined;
      return -EINVAL;
    }
    d.iop = iop;
    const regs = iop.registers();
    const ttbr = Number(regs.ttbr ?? regs.TTBR ?? iop.roots[0]);
    const mair = Number(regs.mair0 ?? 0xf404ff44);
    d.cfg = { ttbr, mair };
    // ipmmu_domain_setup_context
    this.writeRoot(d, IMTTLBR0, lo32(ttbr));
    this.writeRoot(d, IMTTUBR0, hi32(ttbr));
    let tmp = d.mmu!.features.twobitImttbcrSl0 ? IMTTBCR_SL0_TWOBIT_LVL_1 : IMTTBCR_SL0_LVL_1;
    if (d.mmu!.features.cacheSnoop) tmp |= IMTTBCR_SH0_INNER_SHAREABLE | IMTTBCR_ORGN0_WB_WA | IMTTBCR_IRGN0_WB_WA;
    this.writeRoot(d, IMTTBCR, IMTTBCR_EAE | tmp);
    this.writeRoot(d, IMMAIR0, lo32(mair));
    if (d.mmu!.features.setupImbuscr) this.writeRoot(d, IMBUSCR, this.ctxRead(root, id, IMBUSCR) & ~0x7);
    this.writeRoot(d, IMSTR, this.ctxRead(root, id, IMSTR));
    this.writeAll(d, IMCTR, IMCTR_INTEN | IMCTR_FLUSH | IMCTR_MMUEN);
    return 0;
  }

  private attach(io: IommuDomain, dev: IommuClientDevice): number {
    const mmu = dev.iommuPriv as IpmmuDevice | undefined;
    const d = io.priv as IpmmuDomain;
    if (!mmu) {
      this.k.tracer.devPrintk('err', dev.driverName, dev.name, 'Cannot attach to IPMMU');
      return -6;
    }
    let ret = 0;
    if (!d.mmu) {
      d.mmu = mmu;
      ret = this.initContext(d, io);
      if (ret < 0) {
        this.k.tracer.devPrintk('err', dev.driverName, dev.name, 'Unable to initialize IPMMU context');
        d.mmu = null;
      } else {
        this.k.tracer.devPrintk('info', dev.driverName, dev.name, `Using IPMMU context ${d.contextId}`);
      }
    } else if (d.mmu !== mmu) {
      ret = -EINVAL;
    } else {
      this.k.tracer.devPrintk('info', dev.driverName, dev.name, `Reusing IPMMU context ${d.contextId}`);
    }
    if (ret < 0) return ret;
    for (const utlb of dev.iommuFwspec?.ids ?? []) {
      this.k.writel(mmu.base + mmu.features.utlbOffsetBase + imuasid(utlb), 0);
      this.k.writel(mmu.base + mmu.features.utlbOffsetBase + imuctr(utlb), ((d.contextId << 4) | 2 | 1) >>> 0);
    }
    return 0;
  }

  private domainFree(io: IommuDomain): void {
    const d = io.priv as IpmmuDomain;
    const policy = this.freePolicy.nullGuard;
    if (!d.mmu) {
      if (policy === 'none') {
        // ipmmu_domain_destroy_context reads domain->mmu->root with domain->mmu == NULL.
        this.k.oops(this.freePolicy.rootOffset, 'ipmmu_domain_free+0x1c/0xa0', ['ipmmu_domain_free', 'iommu_group_release', 'iommu_group_get_for_dev', 'ipmmu_add_device', 'of_iommu_configure', 'of_dma_configure', 'really_probe']);
      }
      // 'domain_free' (guard before destroy_context) and 'destroy_context' (6.12) both skip it.
    } else {
      this.writeAll(d, IMCTR, IMCTR_FLUSH);
      this.tlbSync(d);
      d.mmu.root!.ctx[d.contextId] = false;
      d.mmu.root!.domains[d.contextId] = undefined;
    }
    d.iop?.free();
  }

  /** ipmmu_irq: for each context with a domain, latch and report faults. */
  irq(root: IpmmuDevice): IrqReturn {
    let ret: IrqReturn = 'none';
    for (let i = 0; i < root.ctx.length; i++) {
      const d = root.domains[i];
      if (!d) continue;
      const status = this.ctxRead(root, i, IMSTR);
      if (!(status & (IMSTR_MHIT | IMSTR_ABORT | IMSTR_PF | IMSTR_TF))) continue;
      const iova = this.ctxRead(root, i, IMELAR) + this.ctxRead(root, i, IMEUAR) * 2 ** 32;
      this.ctxWrite(root, i, IMSTR, 0);
      // Messages name domain->mmu, the IPMMU the master sits behind (a leaf on Gen3), not the root.
      const dev = d.mmu?.dev ?? root.dev;
      if (status & IMSTR_MHIT) this.k.tracer.devPrintk('err', DRIVER, dev.name, `Multiple TLB hits @0x${iova.toString(16)}`);
      if (status & IMSTR_ABORT) this.k.tracer.devPrintk('err', DRIVER, dev.name, `Page Table Walk Abort @0x${iova.toString(16)}`);
      // Only page and translation faults make the context's interrupt "handled" (ipmmu-vmsa.c:518-519).
      if (!(status & (IMSTR_PF | IMSTR_TF))) continue;
      // report_iommu_fault finds no handler: the "Unhandled fault" line follows.
      this.k.tracer.devPrintk('err', DRIVER, dev.name, `Unhandled fault: status 0x${(status >>> 0).toString(16).padStart(8, '0')} iova 0x${iova.toString(16)}`);
      this.k.tracer.emit('driver', 'ipmmu_fault', { dev: dev.name, iova, status });
      ret = 'handled';
    }
    return ret;
  }
}
