/**
 * The Rockchip IOMMU driver (drivers/iommu/rockchip-iommu.c, 6.12), following its code paths:
 * one global `rk_ops` chosen by the first probed compatible, one global `dma_dev` (the first IOMMU that
 * registered) through which every table of every domain is DMA-mapped, tables re-derived from the DMA
 * address stored in a DTE (phys_to_virt), rk_table_flush as dma_sync_single_for_device, and the
 * register sequences of enable/disable/force-reset/IRQ.
 *
 * Variants and fixes are rows of data (RkOpsRow): which entry encoders, which DMA mask, which extra gfp
 * flags. A preset maps compatibles to rows, as rk_iommu_dt_ids maps them to ops in the kernel.
 */
import { kHexAlt, kPad } from '../../trace/printf.js';
import { rockchipVariants, type RockchipEntryOps } from '../../formats/rockchip.js';
import { IommuDomain, type IommuClientDevice, type IommuCore, type IommuDevice, type IommuOps, EINVAL, ENOMEM, ENODEV } from '../iommu/core.js';
import { DMA_MAPPING_ERROR, pollTimeout, type KDevice, type KernelApi, type IrqReturn } from '../kapi.js';

/** One row of ops: struct rk_iommu_ops's data members. */
export interface RkOpsRow {
  /** Entry encoders: 'v1' (32-bit) or 'v2' (40-bit packing). */
  entries: 'v1' | 'v2';
  /** dma_bit_mask in bits. */
  dmaBits: number;
  /** gfp_flags by kernel name ('' for 0). */
  gfpFlags: '' | 'GFP_DMA32';
  /** Where the row comes from (commit or proposal). */
  origin: string;
}

// Registers (offsets into one MMU instance), commands, status and IRQ bits: RK:32-70.
const DTE_ADDR = 0x00;
const STATUS = 0x04;
const COMMAND = 0x08;
const PAGE_FAULT_ADDR = 0x0c;
const ZAP_ONE_LINE = 0x10;
const INT_CLEAR = 0x18;
const INT_MASK = 0x1c;
const INT_STATUS = 0x20;
const AUTO_GATING = 0x24;
const ST_PAGING_ENABLED = 1 << 0;
const ST_PAGE_FAULT_ACTIVE = 1 << 1;
const ST_STALL_ACTIVE = 1 << 2;
const ST_PAGE_FAULT_IS_WRITE = 1 << 5;
const CMD_ENABLE_PAGING = 0;
const CMD_DISABLE_PAGING = 1;
const CMD_ENABLE_STALL = 2;
const CMD_DISABLE_STALL = 3;
const CMD_ZAP_CACHE = 4;
const CMD_PAGE_FAULT_DONE = 5;
const CMD_FORCE_RESET = 6;
const IRQ_PAGE_FAULT = 0x01;
const IRQ_BUS_ERROR = 0x02;
const IRQ_MASK = IRQ_PAGE_FAULT | IRQ_BUS_ERROR;
const DTE_ADDR_DUMMY = 0xcafebabe;
const DISABLE_FETCH_DTE_TIME_LIMIT = 0x80000000;
const POLL_PERIOD_US = 100;
const FORCE_RESET_TIMEOUT_US = 100000;
const POLL_TIMEOUT_US = 1000;
const SPAGE_SIZE = 4096;
export const RK_IOMMU_PGSIZE_BITMAP = 0x007ff000;
const DRIVER = 'rk_iommu';

export interface RkIommu {
  dev: KDevice;
  /** The ops row this instance uses (the global rk_ops, or its own with per-device ops). */
  row: RkOpsRow;
  bases: number[];
  irqs: number[];
  resetDisabled: boolean;
  domain: IommuDomain;
  iommuDevice: IommuDevice;
  /** Runtime-PM usage: the master holds the IOMMU active through the device link. */
  powered: () => boolean;
}

interface RkDomain {
  row: RkOpsRow;
  dtPhys: number;
  dtDma: number;
  iommus: RkIommu[];
}

/** The driver instance: the kernel's file-scope globals live here (one per simulated kernel). */
export class RockchipIommuDriver {
  /** The global rk_ops: set by the first probe. */
  rkOps: RkOpsRow | undefined;
  /** The global dma_dev: the first IOMMU that registered. */
  dmaDev: KDevice | undefined;
  readonly iommus: RkIommu[] = [];
  readonly ops: IommuOps;
  readonly identityDomain: IommuDomain;

  constructor(
    readonly k: KernelApi,
    readonly core: IommuCore,
    /** compatible -> ops row, for this kernel preset (rk_iommu_dt_ids). */
    readonly matchTable: Record<string, RkOpsRow>,
    /** One global rk_ops (6.12) or ops per IOMMU device (the per-device-ops patch). */
    readonly opsScope: 'global' | 'per-device' = 'global',
    /** Whether enable_stall first acknowledges a stale PAGE_FAULT_ACTIVE (this Debian tree) or not. */
    readonly stallAcksStaleFault = true,
  ) {
    const identityOps = { attachDev: (d: IommuDomain, dev: IommuClientDevice) => this.identityAttach(d, dev) };
    this.ops = {
      name: 'rockchip-iommu',
      pgsizeBitmap: RK_IOMMU_PGSIZE_BITMAP,
      domainAllocPaging: (dev) => this.domainAllocPaging(dev),
      probeDevice: (dev) => (dev.iommuPriv ? 0 : -ENODEV),
      ofXlate: (dev, iommu) => {
        dev.iommuPriv = iommu.priv;
        dev.iommuFwspec = { iommu, ids: [] };
        return 0;
      },
    } as IommuOps;
    this.identityDomain = new IommuDomain('identity', identityOps, this.ops);
    this.ops.identityDomain = this.identityDomain;
  }


  /** Which compatible of a node this driver binds (first match in the node's list, as of_match does). */
  match(compatible: string[]): RkOpsRow | undefined {
    for (const c of compatible) if (this.matchTable[c]) return this.matchTable[c];
    return undefined;
  }

  /** rk_iommu_probe. Returns 0 or -errno. */
  probe(dev: KDevice, compatible: string[], bases: number[], irqs: number[], resetDisabled: boolean, powered: () => boolean): number {
    const row = this.match(compatible);
    if (!row) return -ENODEV;
    if (!this.rkOps) this.rkOps = row;
    if (this.opsScope === 'global' && this.rkOps !== row) {
      // Different hardware versions on one SoC: the single global rk_ops cannot serve both.
      this.k.warn('drivers/iommu/rockchip-iommu.c', 1229, 'rk_iommu_probe');
      return -EINVAL;
    }
    const iommu: RkIommu = {
      dev,
      row: this.opsScope === 'global' ? this.rkOps : row,
      bases,
      irqs,
      resetDisabled,
      domain: this.identityDomain,
      iommuDevice: undefined as unknown as IommuDevice,
      powered,
    };
    iommu.iommuDevice = { name: dev.name, ops: this.ops, priv: iommu };
    this.iommus.push(iommu);
    if (!this.dmaDev) this.dmaDev = dev;
    for (const irq of irqs) {
      const r = this.k.requestIrq(irq, dev.name, () => this.irq(iommu));
      if (r) return r;
    }
    this.k.dmaSetMaskAndCoherent(dev, iommu.row.dmaBits);
    this.k.tracer.emit('driver', 'rk_probe', { dev: dev.name, entries: row.entries, dmaBits: row.dmaBits, gfp: row.gfpFlags || '0', dmaDev: this.dmaDev.name });
    return 0;
  }

  private gfp(row: RkOpsRow, base: 'GFP_KERNEL' | 'GFP_ATOMIC'): number {
    const extra = row.gfpFlags;
    return this.k.gfp(base) | (extra ? this.k.gfp(extra) : 0);
  }

  private read(base: number, reg: number): number {
    return this.k.readl(base + reg);
  }

  private write(base: number, reg: number, v: number): void {
    this.k.writel(base + reg, v >>> 0);
  }

  private command(iommu: RkIommu, cmd: number): void {
    for (const b of iommu.bases) this.write(b, COMMAND, cmd);
  }

  /**
   * rk_iommu_is_stall_active / rk_iommu_is_paging_enabled: the kernel ANDs the bit of every instance
   * (`active &= ...`, rockchip-iommu.c:377-399), so every STATUS is read even once one is clear.
   */
  private allStatus(iommu: RkIommu, bit: number): boolean {
    let all = true;
    for (const b of iommu.bases) if ((this.read(b, STATUS) & bit) === 0) all = false;
    return all;
  }

  // ---- domain ---------------------------------------------------------------------------------

  private domainAllocPaging(dev: IommuClientDevice): IommuDomain | null {
    if (!this.dmaDev) return null;
    const k = this.k;
    const row = this.opsScope === 'global' ? this.rkOps! : (this.iommuOf(dev)?.row ?? this.rkOps!);
    const dt = k.iommuAllocPage(this.gfp(row, 'GFP_KERNEL'), 'rockchip DT');
    if (dt === null) return null;
    const dtDma = k.dmaMapSingle(this.dmaDev, dt, SPAGE_SIZE, 'to-device');
    if (dtDma === DMA_MAPPING_ERROR) {
      k.tracer.devPrintk('err', this.dmaDev.driverName, this.dmaDev.name, 'DMA map error for DT');
      k.iommuFreePage(dt);
      return null;
    }
    const dom = new IommuDomain('unmanaged', this.domainOps, this.ops);
    dom.pgsizeBitmap = RK_IOMMU_PGSIZE_BITMAP;
    dom.geometry = { start: 0, end: 0xffffffff, forceAperture: true };
    dom.priv = { row, dtPhys: dt, dtDma, iommus: [] } satisfies RkDomain;
    k.tracer.emit('driver', 'rk_dt_alloc', { dtPhys: dt, dtDma, bounced: dtDma !== dt });
    return dom;
  }

  private readonly domainOps = {
    attachDev: (d: IommuDomain, dev: IommuClientDevice) => this.attach(d, dev),
    mapPages: (d: IommuDomain, iova: number, paddr: number, pgsize: number, _count: number, prot: number) => this.map(d, iova, paddr, pgsize, prot),
    unmapPages: (d: IommuDomain, iova: number, pgsize: number) => this.unmap(d, iova, pgsize),
    iovaToPhys: (d: IommuDomain, iova: number) => this.iovaToPhys(d, iova),
    free: (d: IommuDomain) => this.domainFree(d),
  };

  private flush(dma: number, count: number): void {
    // rk_table_flush: make the CPU's table writes visible to the IOMMU through dma_dev.
    this.k.dmaSyncSingleForDevice(this.dmaDev!, dma, count * 4, 'to-device');
  }

  /** rk_dte_get_page_table: returns the CPU (physical) address of the PT, or -ENOMEM. */
  private getPageTable(rd: RkDomain, iova: number): number {
    const k = this.k;
    const enc = rockchipVariants[rd.row.entries];
    const idx = Math.floor(iova / 0x400000) & 0x3ff;
    const dteAddr = rd.dtPhys + idx * 4;
    let dte = k.cpuRead32(dteAddr, 'DTE');
    if (!enc.dteIsValid(dte)) {
      const pt = k.iommuAllocPage(this.gfp(rd.row, 'GFP_ATOMIC'), 'rockchip PT');
      if (pt === null) return -ENOMEM;
      const ptDma = k.dmaMapSingle(this.dmaDev!, pt, SPAGE_SIZE, 'to-device');
      if (ptDma === DMA_MAPPING_ERROR) {
        k.tracer.devPrintk('err', this.dmaDev!.driverName, this.dmaDev!.name, 'DMA mapping error while allocating page table');
        k.iommuFreePage(pt);
        return -ENOMEM;
      }
      dte = enc.mkDte(ptDma);
      k.cpuWrite32(dteAddr, dte, 'DTE');
      k.tracer.emit('driver', 'rk_pt_alloc', { iova, ptPhys: pt, ptDma, dte, dteAddr, bounced: ptDma !== pt });
      this.flush(rd.dtDma + idx * 4, 1);
    }
    // The driver re-derives the CPU pointer from the DMA address held in the DTE (phys_to_virt).
    return enc.ptAddress(dte);
  }

  private map(d: IommuDomain, iova: number, paddr: number, size: number, prot: number): { ret: number; mapped: number } {
    const enc = rockchipVariants[(d.priv as RkDomain).row.entries];
    const rd = d.priv as RkDomain;
    const k = this.k;
    const pt = this.getPageTable(rd, iova);
    if (pt < 0) return { ret: pt, mapped: 0 };
    const dte = k.cpuRead32(rd.dtPhys + (Math.floor(iova / 0x400000) & 0x3ff) * 4, 'DTE');
    const pteIndex = Math.floor(iova / 4096) & 0x3ff;
    const pteAddr = pt + pteIndex * 4;
    const pteDma = enc.ptAddress(dte) + pteIndex * 4;
    const total = size / SPAGE_SIZE;
    let pa = paddr;
    for (let i = 0; i < total; i++) {
      const old = k.cpuRead32(pteAddr + i * 4, 'PTE');
      if (enc.pteIsValid(old)) {
        // Unwind: invalidate what this call wrote, then report the existing mapping.
        this.unmapPtes(enc, pteAddr, pteDma, i);
        const at = iova + i * SPAGE_SIZE;
        k.tracer.printk('err', `iova: ${kPad(at)} already mapped to ${kPad(enc.ptAddress(old))} cannot remap to phys: ${kPad(pa)} prot: ${kHexAlt(prot)}`);
        return { ret: -98, mapped: 0 };
      }
      k.cpuWrite32(pteAddr + i * 4, enc.mkPte(pa, prot), 'PTE');
      pa += SPAGE_SIZE;
    }
    k.tracer.emit('driver', 'rk_map', { iova, paddr, size, prot, pteAddr, pteDma });
    this.flush(pteDma, total);
    this.zapIova(rd, iova, SPAGE_SIZE);
    if (size > SPAGE_SIZE) this.zapIova(rd, iova + size - SPAGE_SIZE, SPAGE_SIZE);
    return { ret: 0, mapped: size };
  }

  private unmapPtes(enc: RockchipEntryOps, pteAddr: number, pteDma: number, max: number): number {
    let n = 0;
    for (; n < max; n++) {
      const pte = this.k.cpuRead32(pteAddr + n * 4, 'PTE');
      if (!enc.pteIsValid(pte)) break;
      this.k.cpuWrite32(pteAddr + n * 4, (pte & ~1) >>> 0, 'PTE');
    }
    this.flush(pteDma, n);
    return n * SPAGE_SIZE;
  }

  private unmap(d: IommuDomain, iova: number, size: number): number {
    const enc = rockchipVariants[(d.priv as RkDomain).row.entries];
    const rd = d.priv as RkDomain;
    const dte = this.k.cpuRead32(rd.dtPhys + (Math.floor(iova / 0x400000) & 0x3ff) * 4, 'DTE');
    if (!enc.dteIsValid(dte)) return 0;
    const ptPhys = enc.ptAddress(dte);
    const idx = Math.floor(iova / 4096) & 0x3ff;
    const n = this.unmapPtes(enc, ptPhys + idx * 4, ptPhys + idx * 4, size / SPAGE_SIZE);
    this.zapIova(rd, iova, n);
    this.k.tracer.emit('driver', 'rk_unmap', { iova, size, unmapped: n });
    return n;
  }

  private iovaToPhys(d: IommuDomain, iova: number): number {
    const enc = rockchipVariants[(d.priv as RkDomain).row.entries];
    const rd = d.priv as RkDomain;
    const dte = this.k.cpuRead32(rd.dtPhys + (Math.floor(iova / 0x400000) & 0x3ff) * 4, 'DTE');
    if (!enc.dteIsValid(dte)) return 0;
    const pte = this.k.cpuRead32(enc.ptAddress(dte) + (Math.floor(iova / 4096) & 0x3ff) * 4, 'PTE');
    if (!enc.pteIsValid(pte)) return 0;
    return enc.ptAddress(pte) + (iova & 0xfff);
  }

  private zapIova(rd: RkDomain, iova: number, size: number): void {
    for (const iommu of rd.iommus) {
      if (!iommu.powered()) continue;
      for (const b of iommu.bases) for (let a = iova; a < iova + size; a += SPAGE_SIZE) this.write(b, ZAP_ONE_LINE, a);
    }
  }

  private domainFree(d: IommuDomain): void {
    const enc = rockchipVariants[(d.priv as RkDomain).row.entries];
    const rd = d.priv as RkDomain;
    const k = this.k;
    if (rd.iommus.length) k.warn('drivers/iommu/rockchip-iommu.c', 1121, 'rk_iommu_domain_free');
    for (let i = 0; i < 1024; i++) {
      const dte = k.cpuRead32(rd.dtPhys + i * 4, 'DTE');
      if (enc.dteIsValid(dte)) {
        const ptPhys = enc.ptAddress(dte);
        k.dmaUnmapSingle(this.dmaDev!, ptPhys, SPAGE_SIZE, 'to-device');
        k.iommuFreePage(ptPhys);
      }
    }
    k.dmaUnmapSingle(this.dmaDev!, rd.dtDma, SPAGE_SIZE, 'to-device');
    k.iommuFreePage(rd.dtPhys);
  }

  // ---- attach / enable ----------------------------------------------------------------------------

  private iommuOf(dev: IommuClientDevice): RkIommu | undefined {
    return dev.iommuPriv as RkIommu | undefined;
  }

  private identityAttach(identity: IommuDomain, dev: IommuClientDevice): number {
    const iommu = this.iommuOf(dev);
    if (!iommu) return -ENODEV;
    if (iommu.domain === identity) return 0;
    const rd = iommu.domain.priv as RkDomain;
    iommu.domain = identity;
    rd.iommus.splice(rd.iommus.indexOf(iommu), 1);
    if (iommu.powered()) this.disable(iommu);
    return 0;
  }

  private attach(d: IommuDomain, dev: IommuClientDevice): number {
    const iommu = this.iommuOf(dev);
    if (!iommu) return 0;
    if (iommu.domain === d) return 0;
    let ret = this.identityAttach(this.identityDomain, dev);
    if (ret) return ret;
    iommu.domain = d;
    (d.priv as RkDomain).iommus.push(iommu);
    if (!iommu.powered()) return 0;
    ret = this.enable(iommu);
    // The WARN_ON wraps the identity attach, which returns 0 here (rockchip-iommu.c:1063-1064): a failed
    // enable falls back to identity without a WARN and the error goes back to the core.
    if (ret && this.identityAttach(this.identityDomain, dev)) this.k.warn('drivers/iommu/rockchip-iommu.c', 1064, 'rk_iommu_attach_device');
    return ret;
  }

  /** Runtime resume: enable the IOMMU for its current domain (rk_iommu_resume). */
  resume(iommu: RkIommu): number {
    if (iommu.domain === this.identityDomain) return 0;
    return this.enable(iommu);
  }

  private enableStall(iommu: RkIommu): number {
    if (this.allStatus(iommu, ST_STALL_ACTIVE)) return 0;
    if (!this.allStatus(iommu, ST_PAGING_ENABLED)) return 0;
    if (this.stallAcksStaleFault)
      for (const b of iommu.bases) if (this.read(b, STATUS) & ST_PAGE_FAULT_ACTIVE) this.write(b, COMMAND, CMD_PAGE_FAULT_DONE);
    return this.commandAndWait(iommu, CMD_ENABLE_STALL, ST_STALL_ACTIVE, true, 'Enable stall');
  }

  private disableStall(iommu: RkIommu): number {
    if (!this.allStatus(iommu, ST_STALL_ACTIVE)) return 0;
    return this.commandAndWait(iommu, CMD_DISABLE_STALL, ST_STALL_ACTIVE, false, 'Disable stall');
  }

  private enablePaging(iommu: RkIommu): number {
    if (this.allStatus(iommu, ST_PAGING_ENABLED)) return 0;
    return this.commandAndWait(iommu, CMD_ENABLE_PAGING, ST_PAGING_ENABLED, true, 'Enable paging');
  }

  private disablePaging(iommu: RkIommu): number {
    if (!this.allStatus(iommu, ST_PAGING_ENABLED)) return 0;
    return this.commandAndWait(iommu, CMD_DISABLE_PAGING, ST_PAGING_ENABLED, false, 'Disable paging');
  }

  /**
   * The common tail of rk_iommu_{enable,disable}_{stall,paging} (rockchip-iommu.c:412-510): send the
   * command to every instance, poll until the STATUS bit is set (or clear) on all of them, and on a
   * timeout print each instance's STATUS.
   */
  private commandAndWait(iommu: RkIommu, cmd: number, bit: number, set: boolean, what: string): number {
    this.command(iommu, cmd);
    const ret = pollTimeout(this.k, () => this.allStatus(iommu, bit) === set, POLL_PERIOD_US, POLL_TIMEOUT_US);
    if (ret) for (const b of iommu.bases) this.err(iommu, `${what} request timed out, status: ${kHexAlt(this.read(b, STATUS), 8)}`);
    return ret;
  }

  private forceReset(iommu: RkIommu): number {
    const enc = rockchipVariants[iommu.row.entries];
    if (iommu.resetDisabled) return 0;
    // The dummy goes through pt_address into a u32: 0xcafeb000 for both entry formats.
    const dummy = enc.ptAddress(DTE_ADDR_DUMMY) >>> 0;
    for (const b of iommu.bases) {
      this.write(b, DTE_ADDR, dummy);
      if (this.read(b, DTE_ADDR) !== dummy) {
        this.err(iommu, 'Error during raw reset. MMU_DTE_ADDR is not functioning');
        return -14;
      }
    }
    this.command(iommu, CMD_FORCE_RESET);
    // rk_iommu_is_reset_done reads every instance's DTE_ADDR (done &= ..., rockchip-iommu.c:401-410).
    const resetDone = (): boolean => {
      let done = true;
      for (const b of iommu.bases) if (this.read(b, DTE_ADDR) !== 0) done = false;
      return done;
    };
    const ret = pollTimeout(this.k, resetDone, FORCE_RESET_TIMEOUT_US, POLL_TIMEOUT_US);
    if (ret) this.err(iommu, 'FORCE_RESET command timed out');
    return ret;
  }

  enable(iommu: RkIommu): number {
    const enc = rockchipVariants[iommu.row.entries];
    const rd = iommu.domain.priv as RkDomain;
    let ret = this.enableStall(iommu);
    // A failed stall request skips straight past disable_stall (goto out_disable_clocks, rockchip-iommu.c:952-954).
    if (ret) return ret;
    ret = this.forceReset(iommu);
    if (!ret) {
      const reg = enc.mkDte(rd.dtDma);
      for (const b of iommu.bases) {
        this.write(b, DTE_ADDR, reg);
        this.write(b, COMMAND, CMD_ZAP_CACHE);
        this.write(b, INT_MASK, IRQ_MASK);
        this.write(b, AUTO_GATING, this.read(b, AUTO_GATING) | DISABLE_FETCH_DTE_TIME_LIMIT);
      }
      this.k.tracer.emit('driver', 'rk_enable', { dev: iommu.dev.name, dteAddrReg: reg, dtDma: rd.dtDma, dtPhys: rd.dtPhys });
      ret = this.enablePaging(iommu);
    }
    this.disableStall(iommu);
    return ret;
  }

  disable(iommu: RkIommu): void {
    this.enableStall(iommu);
    this.disablePaging(iommu);
    for (const b of iommu.bases) {
      this.write(b, INT_MASK, 0);
      this.write(b, DTE_ADDR, 0);
    }
    this.disableStall(iommu);
  }

  // ---- interrupts -------------------------------------------------------------------------------

  private err(iommu: RkIommu, text: string): void {
    this.k.tracer.devPrintk('err', DRIVER, iommu.dev.name, text);
    if (/timed out|not functioning/.test(text))
      this.k.tracer.emit('driver', 'rk_timeout', { dev: iommu.dev.name, failure: 'timeout', message: `${iommu.dev.name}: ${text}` });
  }

  /** log_iova: walks the tables through the CPU linear map from the DTE_ADDR register. */
  private logIova(iommu: RkIommu, base: number, iova: number): void {
    const enc = rockchipVariants[iommu.row.entries];
    const k = this.k;
    const dteIndex = Math.floor(iova / 0x400000) & 0x3ff;
    const pteIndex = Math.floor(iova / 4096) & 0x3ff;
    const pageOffset = iova & 0xfff;
    const mmuDteAddrPhys = enc.ptAddress(this.read(base, DTE_ADDR));
    const dteAddrPhys = mmuDteAddrPhys + 4 * dteIndex;
    const dte = k.cpuRead32(dteAddrPhys, 'log_iova DTE');
    let ptePhys = 0;
    let pte = 0;
    let pagePhys = 0;
    let flags = 0;
    const dteValid = enc.dteIsValid(dte);
    if (dteValid) {
      ptePhys = enc.ptAddress(dte) + pteIndex * 4;
      pte = k.cpuRead32(ptePhys, 'log_iova PTE');
      if (enc.pteIsValid(pte)) {
        pagePhys = enc.ptAddress(pte) + pageOffset;
        flags = pte & 0x1fe;
      }
    }
    this.err(iommu, `iova = ${kPad(iova)}: dte_index: ${kHexAlt(dteIndex, 3)} pte_index: ${kHexAlt(pteIndex, 3)} page_offset: ${kHexAlt(pageOffset, 3)}`);
    this.err(
      iommu,
      `mmu_dte_addr: ${kPad(mmuDteAddrPhys)} dte@${kPad(dteAddrPhys)}: ${kHexAlt(dte, 8)} valid: ${dteValid ? 1 : 0} pte@${kPad(ptePhys)}: ${kHexAlt(pte, 8)} valid: ${enc.pteIsValid(pte) ? 1 : 0} page@${kPad(pagePhys)} flags: ${kHexAlt(flags, 3)}`,
    );
  }

  /** rk_iommu_irq */
  irq(iommu: RkIommu): IrqReturn {
    if (!iommu.powered()) return 'none';
    let ret: IrqReturn = 'none';
    for (const b of iommu.bases) {
      const intStatus = this.read(b, INT_STATUS);
      if (intStatus === 0) continue;
      ret = 'handled';
      const iova = this.read(b, PAGE_FAULT_ADDR);
      if (intStatus & IRQ_PAGE_FAULT) {
        const isWrite = (this.read(b, STATUS) & ST_PAGE_FAULT_IS_WRITE) !== 0;
        this.err(iommu, `Page fault at ${kPad(iova)} of type ${isWrite ? 'write' : 'read'}`);
        this.logIova(iommu, b, iova);
        if (iommu.domain === this.identityDomain) this.err(iommu, 'Page fault while iommu not attached to domain?');
        this.k.tracer.emit('driver', 'rk_page_fault', { dev: iommu.dev.name, iova, write: isWrite });
        this.write(b, COMMAND, CMD_ZAP_CACHE);
        this.write(b, COMMAND, CMD_PAGE_FAULT_DONE);
      }
      if (intStatus & IRQ_BUS_ERROR) {
        this.err(iommu, `BUS_ERROR occurred at ${kPad(iova)}`);
        this.k.tracer.emit('driver', 'rk_bus_error', { dev: iommu.dev.name, iova });
      }
      if (intStatus & ~IRQ_MASK) this.err(iommu, `unexpected int_status: ${kHexAlt(intStatus, 8)}`);
      this.write(b, INT_CLEAR, intStatus);
    }
    return ret;
  }

}

