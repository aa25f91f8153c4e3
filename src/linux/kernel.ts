/**
 * One booted kernel on one board: the glue that builds the layers in the order arm64 boots them and
 * implements KernelApi for the drivers.
 *
 *   memblock reservations (memmap, CMA) -> swiotlb pool (memblock_alloc_low) -> buddy allocator (with
 *   the boot history) -> dma-direct -> IOMMU core -> the hardware (MMIO bus, IRQ lines, IOMMU models,
 *   bus masters) -> IOMMU drivers probed in device-tree order -> masters configured (of_dma_configure,
 *   iommu_probe_device, iommu_setup_dma_ops).
 *
 * The drivers reach memory only as the CPU (cpuRead32/cpuWrite32 through the linear map) and the
 * hardware only through readl/writel; the hardware reaches memory only through its own bus views.
 */
import type { Board, BoardIommu, BoardMaster } from '../board/types.js';
import { chooseIommuHw, createIommuHw, registerWindows, type IommuHw } from '../hw/catalog.js';
import { IrqController } from '../hw/irq.js';
import { DmaMaster, type TransferResult } from '../hw/master.js';
import { MmioBus } from '../hw/mmio-bus.js';
import { IpmmuVmsa } from '../hw/ipmmu.js';
import type { BeyondWidth } from '../mem/device-view.js';
import { ACCESS_FAULT, type PhysMem } from '../mem/phys-mem.js';
import type { Tracer } from '../trace/events.js';
import { Device, dmaSetMaskAndCoherent } from './device.js';
import { CmaArea } from './mm/cma.js';
import { DirectDma } from './dma/direct.js';
import { DmaIovaCookie } from './dma/dma-iommu-iova.js';
import { FlushQueue } from './dma/flush-queue.js';
import { finaliseSg, layoutSg, mapRuns, type SgEntry } from './dma/dma-iommu-sg.js';
import { allocPagesForRemap, type PageChunk } from './dma/dma-iommu-alloc.js';
import { IovaBug } from './dma/iova.js';
import { hashedPointer, IrqDesc, SPURIOUS_WINDOW, type IrqAction } from './irq-desc.js';
import { KLog } from './dma/kmsg.js';
import { Swiotlb, type DmaDir } from './dma/swiotlb.js';
import { dmaBitMask, DMA_MAPPING_ERROR } from './dma/u64.js';
import { AppleDartDriver } from './drivers/apple-dart.js';
import { IpmmuDriver } from './drivers/ipmmu-vmsa.js';
import { RockchipIommuDriver } from './drivers/rockchip-iommu.js';
import { deviceIommuCapable, IommuCore, iommuCmdlineFrom, isPaging, newGather, type IommuClientDevice, type IommuDevice, type IommuDomain } from './iommu/core.js';
import { KernelCrash, type DmaDirection, type IrqReturn, type KDevice, type KernelApi } from './kapi.js';
import * as GFP from './mm/gfp.js';
import { arm64BootMemblock } from './mm/memblock.js';
import { PageAllocator, DEFAULT_BOOT_HISTORY, getOrder } from './mm/page-alloc.js';
import { computeZones, type ZoneLayout } from './mm/zones.js';
import type { KernelPreset } from './presets.js';

/** A Linux device: the DMA layer's struct device plus what the IOMMU core keeps on it. */
export type LinuxDevice = Device & IommuClientDevice & { board?: BoardIommu | BoardMaster; kind: 'iommu' | 'master' };

export interface KernelOptions {
  board: Board;
  mem: PhysMem;
  tracer: Tracer;
  preset: KernelPreset;
  /** Kernel command line (key -> value). */
  cmdline: ReadonlyMap<string, string>;
  pageSize: number;
  /** Boot-history seed. */
  seed: number;
  /** Other allocations replayed at boot (default: DEFAULT_BOOT_HISTORY's count). */
  bootAllocations?: number;
  /** Hardware behaviour the silicon does not document (seed 000 reports both). */
  rockchipBeyondDteBase?: BeyondWidth;
  cpus?: number;
}

/** Driver names as the kernel prints them for masters we know (dev_driver_string). */
const MASTER_DRIVERS: Record<string, string> = {
  'renesas,rcar-gen3-sata': 'sata_rcar',
  'renesas,sata-r8a7795': 'sata_rcar',
  'rockchip,rk3568-rknpu': 'RKNPU',
  'rockchip,rk3568-vop': 'rockchip-vop2',
};

function driverNameOf(compatible: string[]): string {
  for (const c of compatible) if (MASTER_DRIVERS[c]) return MASTER_DRIVERS[c];
  const c = compatible[0] ?? 'device';
  return c.includes(',') ? c.split(',')[1] : c;
}

/**
 * Interrupt handlers of the drivers we model, by driver name: the symbol the "handlers:" list prints and
 * whether request_irq asked for IRQF_SHARED (rockchip-iommu.c:1306-1307, ipmmu-vmsa.c:1071 (flags 0),
 * apple-dart.c:1157; rockchip_drm_vop2.c:3305 — the VOP2 line is shared with its IOMMU).
 */
const IRQ_HANDLERS: Record<string, { symbol: string; shared: boolean }> = {
  rk_iommu: { symbol: 'rk_iommu_irq', shared: true },
  'ipmmu-vmsa': { symbol: 'ipmmu_irq', shared: false },
  'apple-dart fault handler': { symbol: 'apple_dart_irq', shared: true },
  'rockchip-vop2': { symbol: 'vop2_isr', shared: true },
};

const IOMMU_DRIVER_NAME: Record<string, string> = { 'rockchip-iommu': 'rk_iommu', 'ipmmu-vmsa': 'ipmmu-vmsa', 'apple-dart': 'apple-dart' };

function toDmaDir(d: DmaDirection): DmaDir {
  return d === 'to-device' ? 'DMA_TO_DEVICE' : d === 'from-device' ? 'DMA_FROM_DEVICE' : d === 'none' ? 'DMA_NONE' : 'DMA_BIDIRECTIONAL';
}

/** A streaming mapping made through dma-iommu, remembered for unmap. */
interface IommuMapping {
  iova: number;
  size: number;
  phys: number;
}

export class Kernel implements KernelApi {
  readonly tracer: Tracer;
  readonly clock;
  readonly release: string;
  readonly pageSize: number;
  readonly board: Board;
  readonly mem: PhysMem;
  readonly preset: KernelPreset;
  readonly klog: KLog;
  readonly zones: ZoneLayout;
  readonly swiotlb: Swiotlb | null;
  readonly pages: PageAllocator;
  readonly direct: DirectDma;
  readonly cma: CmaArea | null;
  readonly core: IommuCore;
  readonly bus: MmioBus;
  readonly irq: IrqController;
  readonly hw = new Map<string, IommuHw>();
  readonly devices = new Map<string, LinuxDevice>();
  readonly masters = new Map<string, DmaMaster>();
  readonly rockchip: RockchipIommuDriver;
  readonly ipmmu: IpmmuDriver;
  readonly dart: AppleDartDriver;
  /** Registered IOMMU instances by device name. */
  readonly iommuDevices = new Map<string, IommuDevice>();
  private readonly iommuMappings = new Map<string, IommuMapping[]>();
  /** Power state of each power domain by name (all on at boot). */
  readonly powerDomains = new Map<string, boolean>();
  /** IRQ numbers a driver requests, when a scenario injects a wrong one (device -> irq). */
  readonly irqOverride = new Map<string, number>();
  /** dma-iommu flush queues of the DMA-FQ domains (cookie->fq_domain set). */
  readonly flushQueues = new Map<IommuDomain, FlushQueue>();
  /** The generic IRQ layer's descriptors (one per requested line, with its actions). */
  readonly irqDescs = new Map<number, IrqDesc>();
  probed = false;

  constructor(readonly opts: KernelOptions) {
    const { board, mem, tracer, preset } = opts;
    this.board = board;
    this.mem = mem;
    this.tracer = tracer;
    this.clock = tracer.clock;
    this.preset = preset;
    this.release = preset.name;
    this.pageSize = opts.pageSize;
    this.klog = new KLog(tracer);
    this.tracer.printk('info', `Linux version ${preset.uname} (iommu-lab model of ${preset.name})`);
    this.tracer.printk('info', `Machine model: ${board.model}`);
    this.tracer.printk('info', `Kernel command line: ${[...opts.cmdline].map(([k, v]) => (v ? `${k}=${v}` : k)).join(' ')}`);

    // Zones and the early reservations that decide which RAM the buddy allocator gets.
    this.zones = computeZones({ ram: board.ram, dtDmaLimit: board.zoneDmaLimit, pageSize: opts.pageSize });
    const cmaBytes = parseCma(opts.cmdline.get('cma'));
    const memblock = arm64BootMemblock(board.ram, { dtDmaLimit: board.zoneDmaLimit, cmaBytes, pageSize: opts.pageSize });
    const dramEnd = this.zones.dramEnd;
    // max_pfn > PFN_DOWN(arm64_dma_phys_limit) (arch/arm64/mm/init.c:366-381), pfns of PAGE_SIZE.
    const addressingLimit = Math.floor(dramEnd / opts.pageSize) > Math.floor(this.zones.arm64DmaPhysLimit / opts.pageSize);
    this.swiotlb = Swiotlb.boot({
      mem,
      pageSize: opts.pageSize,
      cpus: opts.cpus ?? 4,
      param: opts.cmdline.get('swiotlb') ?? null,
      addressingLimit,
      arm64DmaPhysLimit: this.zones.arm64DmaPhysLimit,
      kmallocBounceRamBytes: mem.totalRam,
      reserved: memblock.reserved,
      tracer,
      klog: this.klog,
    });
    if (this.swiotlb) memblock.reserve(this.swiotlb.start, this.swiotlb.end - this.swiotlb.start, 'swiotlb');
    this.pages = new PageAllocator({
      banks: board.ram,
      reserved: memblock.reserved,
      zones: this.zones,
      tracer,
      mem,
      bootHistory: { ...DEFAULT_BOOT_HISTORY, seed: opts.seed, allocations: opts.bootAllocations ?? DEFAULT_BOOT_HISTORY.allocations },
      nrCpus: opts.cpus ?? 4,
      pageSize: opts.pageSize,
    });
    // The default CMA area (cma=): reserved by memblock above, handed to dma_alloc_contiguous.
    const cmaRange = memblock.reserved.find((r) => r.name === 'cma');
    this.cma = cmaRange ? new CmaArea(cmaRange.base, cmaRange.size, opts.pageSize) : null;
    if (this.cma) this.tracer.printk('info', `cma: Reserved ${Math.floor(cmaRange!.size / 2 ** 20)} MiB at ${'0x' + cmaRange!.base.toString(16).padStart(16, '0')} on node -1`);
    this.direct = new DirectDma({
      cma: this.cma,
      mem,
      pageSize: opts.pageSize,
      swiotlb: this.swiotlb,
      pages: this.pages,
      zoneDmaLimit: this.zones.zoneDmaLimit ?? dmaBitMask(32),
      capableRule: preset.dmaCapableRule,
      tracer,
      klog: this.klog,
    });
    // iommu.passthrough / iommu.strict go through kstrtobool as the early_params do (iommu.c:681-707).
    this.core = new IommuCore(tracer, iommuCmdlineFrom(opts.cmdline, tracer), preset.coreAttachFailure);

    // Hardware.
    this.bus = new MmioBus(tracer);
    // The controller only delivers; deciding that a line is stuck is note_interrupt's job (irq-desc.ts).
    // Its own safety net sits well above the kernel's 100 000-delivery window.
    this.irq = new IrqController(this.clock, tracer, { stormThreshold: 4 * SPURIOUS_WINDOW, traceDeliveries: 'first-of-run' });
    this.buildHardware(opts.rockchipBeyondDteBase);
    this.rockchip = new RockchipIommuDriver(this, this.core, preset.rockchipMatch, preset.rockchipOpsScope, preset.rockchipStallAcksStaleFault);
    this.ipmmu = new IpmmuDriver(this, this.core, preset.ipmmuFree, preset.ipmmuAllowlist);
    this.dart = new AppleDartDriver(this, this.core, preset.dartLargePage);
  }

  // ---- hardware --------------------------------------------------------------------------------

  private buildHardware(beyond: BeyondWidth | undefined): void {
    const iommus = this.board.iommus.filter((i) => i.enabled);
    // IPMMU roots first: a leaf model needs its root.
    const ordered = [...iommus].sort((a, b) => Number(isIpmmuLeaf(a)) - Number(isIpmmuLeaf(b)));
    let ipmmuRoot: IpmmuVmsa | undefined;
    for (const bi of ordered) {
      const choice = chooseIommuHw(bi.compatible, bi.hwVersion, beyond ? { rockchipBeyondDteBase: beyond } : {});
      if (!choice) continue;
      const hw = createIommuHw(
        { name: bi.name, choice, windows: bi.reg.length, irqs: bi.interrupts, ...(choice.family === 'ipmmu-vmsa' && isIpmmuLeaf(bi) ? { ipmmuRoot } : {}) },
        { mem: this.mem, clock: this.clock, tracer: this.tracer, irq: this.irq },
      );
      if (hw instanceof IpmmuVmsa && !isIpmmuLeaf(bi)) ipmmuRoot = hw;
      this.hw.set(bi.name, hw);
      registerWindows(hw).forEach((win, i) => {
        const r = bi.reg[i];
        if (r) this.bus.map(r.base, Math.max(r.size, win.windowSize), win, `${bi.name}[${i}]`);
      });
      const dev = this.makeDevice(bi.name, IOMMU_DRIVER_NAME[choice.family] ?? choice.family, 'iommu', bi);
      this.tracer.emit('hw', 'iommu_model', { dev: bi.name, family: choice.family, variant: choice.variant, reason: choice.reason });
      void dev;
    }
    for (const bm of this.board.masters.filter((m) => m.enabled)) {
      const spec = bm.iommus[0];
      const hw = spec ? this.hw.get(spec.iommu) : undefined;
      const master = new DmaMaster({
        name: bm.name,
        mem: this.mem,
        busBits: bm.dmaBits ?? 40,
        ...(hw ? { iommu: hw } : {}),
        stream: spec?.ids[0] ?? 0,
        localSize: 4 * 1024 * 1024,
        tracer: this.tracer,
        // The master's completion interrupt on its own DT line, for masters whose driver we model (it
        // acknowledges the interrupt); a PCI host bridge's lines are not its functions'.
        ...(bm.interrupts?.length && !bm.iommuMap && IRQ_HANDLERS[driverNameOf(bm.compatible)] ? { irq: { controller: this.irq, line: bm.interrupts[0] } } : {}),
      });
      this.masters.set(bm.name, master);
      this.makeDevice(bm.name, driverNameOf(bm.compatible), 'master', bm);
    }
  }

  private makeDevice(name: string, driverName: string, kind: 'iommu' | 'master', b: BoardIommu | BoardMaster): LinuxDevice {
    const dev = new Device(name, driverName) as LinuxDevice;
    // arch_setup_dma_ops(dev, coherent) from of_dma_configure: arm64 devices are non-coherent unless the
    // DT says dma-coherent (masters; IOMMU nodes are treated alike: none of the modelled ones has it).
    dev.dmaCoherent = kind === 'master' ? (b as BoardMaster).dmaCoherent ?? false : false;
    dev.kind = kind;
    dev.board = b;
    dev.tracer = this.tracer;
    dev.dmaIoTlbMem = this.swiotlb;
    dev.dmaGlobals = { pageSize: this.pageSize, maxPfn: Math.floor(this.zones.dramEnd / this.pageSize), zoneDmaLimit: this.zones.zoneDmaLimit ?? dmaBitMask(32) };
    // of_dma_configure_id: dma-ranges give a range map and a bus limit; without them 6.12 sets no bus
    // limit, while 4.20-rc1 derived a 32-bit bus mask from the default coherent mask.
    const ranges = b.dmaRanges;
    if (ranges && ranges.length) {
      dev.dmaRangeMap = ranges.map((r) => ({ cpuStart: r.cpu, dmaStart: r.bus, size: r.size }));
      const end = Math.max(...ranges.map((r) => r.bus + r.size));
      dev.busDmaLimit = end - 1;
    } else if (this.preset.busLimitWithoutDmaRanges === 'from-default-coherent-mask') {
      dev.busDmaLimit = dmaBitMask(32);
    }
    this.devices.set(name, dev);
    return dev;
  }

  device(name: string): LinuxDevice | undefined {
    return this.devices.get(name);
  }

  hwOf(name: string): IommuHw | undefined {
    return this.hw.get(name);
  }

  // ---- probe -----------------------------------------------------------------------------------

  /** Probe every IOMMU driver (device-tree order, IPMMU root first), then configure every master. */
  probeAll(): void {
    if (this.probed) return;
    this.probed = true;
    const iommus = this.board.iommus.filter((i) => i.enabled && this.hw.has(i.name));
    const ordered = [...iommus].sort((a, b) => Number(isIpmmuLeaf(a)) - Number(isIpmmuLeaf(b)));
    for (const bi of ordered) this.probeIommu(bi);
    for (const bm of this.board.masters.filter((m) => m.enabled)) this.probeMaster(bm);
    this.deliverIrqs();
  }

  probeIommu(bi: BoardIommu): number {
    const dev = this.devices.get(bi.name)!;
    const irqs = bi.interrupts.map((n) => this.irqOverride.get(bi.name) ?? n);
    const bases = bi.reg.map((r) => r.base);
    let ret = -19;
    const fam = chooseIommuHw(bi.compatible, bi.hwVersion)?.family;
    let iommuDev: IommuDevice | undefined;
    if (fam === 'rockchip-iommu') {
      ret = this.rockchip.probe(dev, bi.compatible, bases, irqs, 'rockchip,disable-mmu-reset' in bi.props, () => this.isPowered(dev));
      iommuDev = this.rockchip.iommus.find((i) => i.dev === dev)?.iommuDevice;
    } else if (fam === 'ipmmu-vmsa') {
      ret = this.ipmmu.probe(dev, bi.compatible, bases[0], irqs, isIpmmuLeaf(bi));
      iommuDev = this.ipmmu.mmus.find((m) => m.dev === dev)?.iommuDevice;
    } else if (fam === 'apple-dart') {
      ret = this.dart.probe(dev, bi.compatible, bases[0], irqs);
      iommuDev = this.dart.darts.find((d) => d.dev === dev)?.iommuDevice;
    }
    if (ret === 0 && iommuDev) this.iommuDevices.set(bi.name, iommuDev);
    else if (ret === -19 || ret === -6) {
      // really_probe (drivers/base/dd.c:648-652): -ENODEV/-ENXIO "rejects match" at dev_dbg only — the
      // device is simply left without a driver (as when no compatible of the node is in the driver's
      // match table at all), and its masters use dma-direct. Not a probe failure.
      this.tracer.emit('driver', 'probe_rejected', { dev: dev.name, ret, message: `probe with driver ${dev.driverName} rejects match ${ret}` });
    } else {
      this.tracer.devPrintk('err', dev.driverName, dev.name, `probe with driver ${dev.driverName} failed with error ${ret}`);
      this.tracer.emit('driver', 'probe_failed', { dev: dev.name, ret, failure: 'probe-failed', message: `${dev.name}: probe failed (${ret})` });
    }
    this.tracer.emit('driver', 'iommu_probe', { dev: bi.name, ret, family: fam });
    return ret;
  }

  /** of_dma_configure for a master: masks, IOMMU probe, DMA ops. */
  probeMaster(bm: BoardMaster): void {
    const dev = this.devices.get(bm.name)!;
    for (const spec of bm.iommus) {
      const iommu = this.iommuDevices.get(spec.iommu);
      if (!iommu) continue; // IOMMU absent or failed: the master uses dma-direct
      const ret = this.core.probeDevice(dev, iommu, spec.ids);
      if (ret) {
        this.tracer.emit('iommu', 'master_without_iommu', { dev: dev.name, ret });
        break;
      }
      const group = dev.iommuGroup!;
      const dom = group.defaultDomain;
      if (dom && isPaging(dom.type) && (dom.type === 'dma' || dom.type === 'dma-fq')) this.setupDmaOps(dev, dom);
      break;
    }
    // The master's own driver sets the mask its hardware can drive.
    if (bm.dmaBits) dmaSetMaskAndCoherent(dev, dmaBitMask(bm.dmaBits));
    this.requestMasterIrq(bm, dev);
  }

  /**
   * The master's driver requests its own line. Its handler reads the device's own interrupt status:
   * it acknowledges and says IRQ_HANDLED for its completion interrupt, and IRQ_NONE for anything else
   * on a shared line (vop2_isr, rockchip_drm_vop2.c:2664-2677: "The irq is shared with the iommu").
   */
  private requestMasterIrq(bm: BoardMaster, dev: LinuxDevice): void {
    const m = this.masters.get(bm.name);
    const line = bm.interrupts?.[0];
    if (!m || line === undefined || bm.iommuMap) return;
    const known = IRQ_HANDLERS[dev.driverName];
    if (!known) return; // a driver we do not model (e.g. the vendor RKNPU) requests nothing here
    const handler = (): IrqReturn => {
      if (!m.interruptPending) return 'none';
      m.ackInterrupt();
      return 'handled';
    };
    const ret = this.requestIrq(line, dev.name, handler, known);
    if (ret) this.tracer.devPrintk('err', dev.driverName, dev.name, `failed to request irq ${line}: ${ret}`);
  }

  /** iommu_setup_dma_ops + iommu_dma_init_domain: the IOVA allocator of the domain. */
  private setupDmaOps(dev: LinuxDevice, dom: IommuDomain): void {
    if (!dom.dmaCookie) {
      const granule = lowest(dom.pgsizeBitmap);
      if (granule > this.pageSize && this.preset.dartLargePage !== 'large-granule') {
        // init_iova_domain: BUG_ON(granule > PAGE_SIZE) (drivers/iommu/iova.c:46)
        this.bug('drivers/iommu/iova.c', 46, 'init_iova_domain', ['init_iova_domain', 'iommu_dma_init_domain', 'iommu_setup_dma_ops', 'iommu_probe_device', 'of_iommu_configure', 'of_dma_configure_id', 'really_probe']);
      }
      if (granule > this.pageSize) this.warn('drivers/iommu/iova.c', 46, 'init_iova_domain');
      try {
        dom.dmaCookie = DmaIovaCookie.create(
          { pgsizeBitmap: dom.pgsizeBitmap, apertureStart: dom.geometry.start, apertureEnd: dom.geometry.end || dmaBitMask(32), forceAperture: dom.geometry.forceAperture },
          Math.max(this.pageSize, granule),
          this.tracer,
        );
      } catch (e) {
        if (e instanceof IovaBug) this.bug('drivers/iommu/iova.c', 46, 'init_iova_domain', ['init_iova_domain', 'iommu_dma_init_domain']);
        throw e;
      }
      // iommu_dma_init_domain (dma-iommu.c:721-724): a DMA-FQ domain keeps its flush queue only if the
      // IOMMU advertises IOMMU_CAP_DEFERRED_FLUSH; otherwise it silently becomes a strict DMA domain —
      // although "DMA domain TLB invalidation policy: lazy mode" was printed at boot.
      if (dom.type === 'dma-fq') {
        const capable = deviceIommuCapable(dev, 'deferred-flush');
        if (capable) this.initFlushQueue(dom);
        else dom.type = 'dma';
        this.tracer.emit('iommu', capable ? 'dma_fq_init' : 'dma_fq_fallback', {
          dev: dev.name,
          iommu: dev.iommuFwspec?.iommu.name,
          type: dom.type,
          reason: capable ? 'IOMMU_CAP_DEFERRED_FLUSH' : `${dev.iommuFwspec?.iommu.ops.name ?? 'the driver'} does not advertise IOMMU_CAP_DEFERRED_FLUSH: strict invalidation`,
        });
      }
    }
    dev.dmaIommu = true;
  }

  /** iommu_dma_init_fq (dma-iommu.c:366-394): per-CPU rings and the timer; the domain's unmaps queue from now on. */
  private initFlushQueue(dom: IommuDomain): void {
    if (this.flushQueues.has(dom)) return;
    const cookie = dom.dmaCookie as DmaIovaCookie;
    const granule = cookie.iovad.granule;
    const fq = new FlushQueue(
      {
        flushIotlbAll: () => {
          // fq_flush_iotlb calls ops->flush_iotlb_all unconditionally (dma-iommu.c:181-186): a driver
          // without one (rockchip-iommu) jumps to address 0 from the timer.
          if (!dom.ops.flushIotlbAll)
            this.oops(0, '0x0', ['0x0', 'fq_flush_timeout+0x0/0x0', 'call_timer_fn+0x0/0x0', '__run_timers+0x0/0x0', 'run_timer_softirq+0x0/0x0', 'handle_softirqs+0x0/0x0']);
          dom.ops.flushIotlbAll(dom);
        },
        freeIova: (pfn, pages) => void cookie.freeIova(pfn * granule, pages * granule),
        trace: (type, data) => this.tracer.emit('dma', type, data),
      },
      this.opts.cpus ?? 4,
    );
    this.flushQueues.set(dom, fq);
  }

  /**
   * Writing the group's sysfs `type` (iommu_group_store_type, iommu.c:3047-3100). Only DMA -> DMA-FQ
   * works with a driver bound: it brings up the flush queue on the live domain WITHOUT asking the IOMMU
   * for IOMMU_CAP_DEFERRED_FLUSH (iommu.c:3072-3079). Every other change needs the group's drivers
   * unbound, and the masters here are bound: -EPERM.
   */
  groupStoreType(dev: LinuxDevice, req: 'identity' | 'DMA' | 'DMA-FQ' | 'auto'): number {
    const group = dev.iommuGroup;
    if (!group?.defaultDomain) return -22;
    const dom = group.defaultDomain;
    let ret = -1;
    if (req === 'DMA-FQ' && dom.type === 'dma' && dom.dmaCookie) {
      this.initFlushQueue(dom);
      dom.type = 'dma-fq';
      ret = 0;
    }
    this.tracer.emit('iommu', 'group_store_type', { dev: dev.name, group: group.id, req, type: dom.type, ret });
    return ret;
  }

  /** Kernel timers whose time has come (the flush queues' fq_timer). */
  runTimers(): void {
    for (const fq of this.flushQueues.values()) fq.expire(this.clock.ns);
  }

  // ---- KernelApi ---------------------------------------------------------------------------------

  cpuRead32(pa: number, why: string): number {
    const v = this.mem.read32(pa);
    if (v === ACCESS_FAULT) this.pagingRequest(pa, why);
    return v;
  }

  cpuWrite32(pa: number, value: number, why: string): void {
    if (!this.mem.write32(pa, value)) this.pagingRequest(pa, why);
    this.tracer.emit('cpu', 'write32', { pa, value: value >>> 0, why });
  }

  private pagingRequest(pa: number, why: string): never {
    // A linear-map address with no RAM behind it: the kernel takes a translation fault.
    return this.oopsAt(`Unable to handle kernel paging request at virtual address ${linearVa(pa)}`, pa, `${why} access`, []);
  }

  iommuAllocPage(gfp: number, why: string): number | null {
    const pa = this.pages.iommuAllocPage(gfp);
    const zone = pa === null ? 'none' : this.zoneName(pa);
    this.tracer.emit('mm', 'iommu_alloc_page', { why, gfp, gfpText: GFP.formatGfpMode(gfp), phys: pa, zone, above4G: pa !== null && pa >= 2 ** 32 });
    if (pa === null) this.tracer.emit('mm', 'alloc_failed', { why, failure: 'alloc-failed', message: `${why}: page allocation failed` });
    return pa;
  }

  zoneName(pa: number): string {
    for (const z of this.zones.zones) if (pa >= z.start && pa < z.end) return z.name;
    return 'none';
  }

  iommuFreePage(pa: number): void {
    this.pages.iommuFreePage(pa);
    this.tracer.emit('mm', 'iommu_free_page', { phys: pa, inSwiotlbPool: !!this.swiotlb?.contains(pa) });
  }

  iommuAllocPages(gfp: number, order: number, why: string): number | null {
    const pa = this.pages.iommuAllocPages(gfp, order);
    const zone = pa === null ? 'none' : this.zoneName(pa);
    this.tracer.emit('mm', 'iommu_alloc_page', { why, gfp, gfpText: GFP.formatGfpMode(gfp), order, phys: pa, zone, above4G: pa !== null && pa >= 2 ** 32 });
    if (pa === null) this.tracer.emit('mm', 'alloc_failed', { why, failure: 'alloc-failed', message: `${why}: page allocation failed` });
    return pa;
  }

  iommuFreePages(pa: number, order: number): void {
    this.pages.iommuFreePages(pa, order);
    this.tracer.emit('mm', 'iommu_free_page', { phys: pa, order, inSwiotlbPool: !!this.swiotlb?.contains(pa) });
  }

  gfp(name: string): number {
    const v = (GFP as Record<string, unknown>)[name];
    if (typeof v !== 'number') throw new Error(`unknown gfp flag ${name}`);
    return v;
  }

  dmaMapSingle(kdev: KDevice, pa: number, size: number, dir: DmaDirection): number {
    const dev = kdev as LinuxDevice;
    if (dev.dmaIommu) return this.iommuDmaMapPage(dev, pa, size, dir);
    return this.direct.mapPage(dev, pa, size, toDmaDir(dir)).dma;
  }

  dmaUnmapSingle(kdev: KDevice, dma: number, size: number, dir: DmaDirection): void {
    const dev = kdev as LinuxDevice;
    if (dev.dmaIommu) return this.iommuDmaUnmapPage(dev, dma, size, dir);
    this.direct.unmapPage(dev, dma, size, toDmaDir(dir));
  }

  dmaSyncSingleForDevice(kdev: KDevice, dma: number, size: number, dir: DmaDirection): void {
    const dev = kdev as LinuxDevice;
    if (dev.dmaIommu) return this.iommuDmaSync(dev, dma, size, dir, 'device');
    this.direct.syncSingleForDevice(dev, dma, size, toDmaDir(dir));
  }

  dmaSyncSingleForCpu(kdev: KDevice, dma: number, size: number, dir: DmaDirection): void {
    const dev = kdev as LinuxDevice;
    if (dev.dmaIommu) return this.iommuDmaSync(dev, dma, size, dir, 'cpu');
    this.direct.syncSingleForCpu(dev, dma, size, toDmaDir(dir));
  }

  dmaSetMaskAndCoherent(kdev: KDevice, bits: number): number {
    return dmaSetMaskAndCoherent(kdev as LinuxDevice, dmaBitMask(bits));
  }

  readl(addr: number): number {
    return this.bus.readl(addr);
  }

  writel(addr: number, value: number): void {
    this.bus.writel(addr, value);
  }

  /**
   * request_irq: add an action to the line's descriptor (sharing only if every action asked for
   * IRQF_SHARED); the first action connects the line, which enables it at the controller.
   */
  requestIrq(irq: number, name: string, handler: () => IrqReturn, opts?: { shared?: boolean; symbol?: string }): number {
    const known = IRQ_HANDLERS[this.devices.get(name)?.driverName ?? name] ?? IRQ_HANDLERS[name];
    const action: IrqAction = { name, handler, symbol: opts?.symbol ?? known?.symbol ?? 'irq_handler', shared: opts?.shared ?? known?.shared ?? true };
    let desc = this.irqDescs.get(irq);
    const fresh = !desc;
    desc ??= new IrqDesc(irq);
    const ret = desc.add(action);
    if (ret) {
      // __setup_irq's mismatch report (kernel/irq/manage.c): one side did not ask for IRQF_SHARED.
      this.tracer.printk('err', `genirq: Flags mismatch irq ${irq}. ${action.shared ? '00000080' : '00000000'} (${name}) vs. ${desc.actions[0].shared ? '00000080' : '00000000'} (${desc.actions[0].name})`);
      return ret;
    }
    if (fresh) {
      this.irqDescs.set(irq, desc);
      const d = desc;
      this.irq.connect(irq, () => this.handleIrq(d), 'genirq');
    }
    this.tracer.emit('kernel', 'request_irq', { irq, name, symbol: action.symbol, shared: action.shared });
    return 0;
  }

  /** The flow handler of one delivery: run the actions, then note_interrupt; a stuck line is disabled. */
  private handleIrq(desc: IrqDesc): IrqReturn {
    const ret = desc.run();
    if (desc.note(ret, this.clock.ns)) {
      // __report_bad_irq (kernel/irq/spurious.c:192-222), then "Disabling IRQ #%d" and irq_disable (423-425).
      const n = desc.irq;
      this.tracer.printk('err', `irq ${n}: nobody cared (try booting with the "irqpoll" option)`);
      this.tracer.printk('warn', `CPU: 0 PID: 0 Comm: swapper/0 Not tainted ${this.preset.uname} #1`);
      this.tracer.printk('warn', `Hardware name: ${this.board.model} (DT)`);
      this.tracer.printk('warn', 'Call trace:');
      for (const f of ['dump_stack_lvl', '__report_bad_irq', 'note_interrupt', 'handle_irq_event', 'handle_fasteoi_irq', 'generic_handle_domain_irq', 'gic_handle_irq']) this.tracer.printk('warn', ` ${f}+0x0/0x0`);
      this.tracer.printk('err', 'handlers:');
      for (const a of desc.actions) this.tracer.printk('err', `[<${hashedPointer(a.symbol)}>] ${a.symbol}`);
      this.tracer.printk('emerg', `Disabling IRQ #${n}`);
      this.irq.disable(n);
      // The causal chain (--explain): who holds the line, where its driver's handler went instead,
      // which handlers sit on the line.
      const asserting = this.irq.assertedBy(n);
      const causes: number[] = [];
      const lastRaise = new Map<string, number>();
      for (const e of this.tracer.events) {
        const d = e.data;
        if (e.layer === 'scenario' && e.type === 'wrong_irq' && asserting.includes(String(d.device))) causes.push(e.seq);
        else if (e.layer === 'kernel' && e.type === 'request_irq' && (d.irq === n || asserting.includes(String(d.name)))) causes.push(e.seq);
        else if (e.layer === 'hw' && e.type === 'irq_raise' && d.irq === n && asserting.includes(String(d.source))) lastRaise.set(String(d.source), e.seq);
      }
      causes.push(...lastRaise.values());
      causes.sort((a, b) => a - b);
      this.tracer.emit('kernel', 'irq_storm', {
        causes,
        irq: n,
        deliveries: desc.deliveries,
        unhandled: desc.unhandledTotal,
        assertedBy: this.irq.assertedBy(n),
        handlers: desc.actions.map((a) => a.symbol),
        failure: 'irq-storm',
        message: `IRQ ${n} stayed asserted (${this.irq.assertedBy(n).join(', ') || 'unknown source'}) and no handler claimed it: disabled after ${desc.deliveries} deliveries`,
      });
    }
    return ret;
  }

  sleepUs(us: number): void {
    this.clock.advance(us * 1000);
  }

  warn(file: string, line: number, fn: string): void {
    this.tracer.printk('warn', `WARNING: CPU: 0 PID: 1 at ${file}:${line} ${fn}+0x0/0x0`);
    this.tracer.emit('kernel', 'warn', { file, line, fn, failure: 'warn', message: `WARN_ON in ${fn} (${file}:${line})` });
  }

  oops(addr: number, pcSymbol: string, callTrace: string[]): never {
    const text = addr < 4096 ? `Unable to handle kernel NULL pointer dereference at virtual address ${addr.toString(16).padStart(16, '0')}` : `Unable to handle kernel paging request at virtual address ${addr.toString(16).padStart(16, '0')}`;
    return this.oopsAt(text, addr, pcSymbol, callTrace);
  }

  private oopsAt(first: string, addr: number, pc: string, callTrace: string[]): never {
    const lines = [
      first,
      'Mem abort info:',
      '  ESR = 0x96000004',
      'Internal error: Oops: 96000004 [#1] PREEMPT SMP',
      `CPU: 0 PID: 1 Comm: swapper/0 Not tainted ${this.preset.uname} #1`,
      `Hardware name: ${this.board.model} (DT)`,
      `pc : ${pc}`,
      'Call trace:',
      ...callTrace.map((f) => ` ${f}`),
      '---[ end trace 0000000000000000 ]---',
    ];
    for (const l of lines) this.tracer.printk('emerg', l);
    this.tracer.emit('kernel', 'oops', { addr, pc, failure: 'oops', message: first });
    throw new KernelCrash('oops', lines);
  }

  bug(file: string, line: number, fn: string, callTrace: string[]): never {
    const lines = [
      `kernel BUG at ${file}:${line}!`,
      'Internal error: Oops - BUG: 00000000f2000800 [#1] PREEMPT SMP',
      `CPU: 0 PID: 1 Comm: swapper/0 Not tainted ${this.preset.uname} #1`,
      `Hardware name: ${this.board.model} (DT)`,
      `pc : ${fn}+0x0/0x0`,
      'Call trace:',
      ...callTrace.map((f) => ` ${f}`),
      '---[ end trace 0000000000000000 ]---',
    ];
    for (const l of lines) this.tracer.printk('emerg', l);
    this.tracer.emit('kernel', 'bug', { file, line, fn, failure: 'bug', message: `kernel BUG at ${file}:${line}` });
    throw new KernelCrash('bug', lines);
  }

  isPowered(kdev: KDevice): boolean {
    const pd = (this.devices.get(kdev.name)?.board as BoardIommu | undefined)?.powerDomain;
    return pd === undefined ? true : this.powerDomains.get(pd) ?? true;
  }

  ramBase(): number {
    return this.board.ram[0].base;
  }

  setDmaWindow(kdev: KDevice, cpuBase: number, size: number): void {
    const dev = kdev as LinuxDevice;
    dev.dmaRangeMap = [{ cpuStart: cpuBase, dmaStart: 0, size }];
    dev.busDmaLimit = size - 1;
    this.tracer.emit('dma', 'dma_window', { dev: dev.name, cpuBase, size });
  }

  // ---- power and fault injection -----------------------------------------------------------------

  setPower(domain: string, on: boolean): void {
    this.powerDomains.set(domain, on);
    for (const bi of this.board.iommus) {
      if (bi.powerDomain !== domain) continue;
      const hw = this.hw.get(bi.name) as { setPower?(on: boolean): void; powered?: boolean } | undefined;
      if (hw?.setPower) hw.setPower(on);
      else if (hw && 'powered' in hw) hw.powered = on;
    }
    this.tracer.emit('hw', 'power', { domain, on });
    // Runtime resume of a Rockchip IOMMU re-enables it for its domain (rk_iommu_resume).
    if (on) for (const r of this.rockchip.iommus) if (this.isPowered(r.dev) && this.devices.get(r.dev.name)?.board?.powerDomain === domain) this.rockchip.resume(r);
  }

  // ---- DMA API through dma-iommu ---------------------------------------------------------------

  private domainOf(dev: LinuxDevice): IommuDomain {
    return dev.iommuGroup!.domain!;
  }

  private protOf(dir: DmaDirection, coherent: boolean): number {
    const rw = dir === 'to-device' ? 1 : dir === 'from-device' ? 2 : 3;
    return rw | (coherent ? 4 : 0);
  }

  /**
   * iommu_dma_map_page (dma-iommu.c:1163-1221): a small kmalloc buffer of a non-coherent device that is
   * not granule-aligned (dev_use_swiotlb + iova_offset) is first bounced through swiotlb, aligned to the
   * IOVA granule; then the slot (or the buffer) is mapped through the IOMMU.
   */
  iommuDmaMapPage(dev: LinuxDevice, phys: number, size: number, dir: DmaDirection): number {
    const granule = lowest(this.domainOf(dev).pgsizeBitmap);
    const d = toDmaDir(dir);
    let pa = phys;
    if (this.direct.kmallocNeedsBounce(dev, size, d) && (phys % granule !== 0 || size % granule !== 0)) {
      if (!this.swiotlb) {
        dev.printk('warn', 'DMA bounce buffers are inactive, unable to map unaligned transaction.');
        return DMA_MAPPING_ERROR;
      }
      this.tracer.emit('swiotlb', 'swiotlb_bounced', { dev: dev.name, dma: phys, size, via: 'dma-iommu' });
      const r = this.swiotlb.mapSingle(dev, phys, size, granule - 1, d, 0);
      if (!r) return DMA_MAPPING_ERROR;
      pa = r.tlbAddr;
    }
    const iova = this.iommuDmaMap(dev, pa, size, dir);
    if (iova === DMA_MAPPING_ERROR && pa !== phys) this.swiotlb!.unmapSingle(dev, pa, size, d, 0);
    return iova;
  }

  /** iommu_dma_unmap_page: unmap, then release the bounce slot if the IOVA pointed at one. */
  iommuDmaUnmapPage(dev: LinuxDevice, dma: number, size: number, dir: DmaDirection): void {
    const phys = this.core.iovaToPhys(this.domainOf(dev), dma);
    this.iommuDmaUnmap(dev, dma, size);
    if (phys && this.swiotlb?.contains(phys)) this.swiotlb.unmapSingle(dev, phys, size, toDmaDir(dir), 0);
  }

  /** iommu_dma_sync_single_for_{cpu,device}: only a bounced buffer has anything to copy. */
  private iommuDmaSync(dev: LinuxDevice, dma: number, size: number, dir: DmaDirection, to: 'cpu' | 'device'): void {
    if (dev.dmaCoherent && !this.direct.kmallocNeedsBounce(dev, size, toDmaDir(dir))) return;
    const phys = this.core.iovaToPhys(this.domainOf(dev), dma);
    if (!phys || !this.swiotlb?.contains(phys)) return;
    if (to === 'cpu') this.swiotlb.syncSingleForCpu(dev, phys, size, toDmaDir(dir));
    else this.swiotlb.syncSingleForDevice(dev, phys, size, toDmaDir(dir));
  }

  /** iommu_dma_map_page + __iommu_dma_map. */
  iommuDmaMap(dev: LinuxDevice, phys: number, size: number, dir: DmaDirection, mask?: number): number {
    const dom = this.domainOf(dev);
    const cookie = dom.dmaCookie as DmaIovaCookie;
    const granule = lowest(dom.pgsizeBitmap);
    const off = phys % granule;
    const len = Math.ceil((size + off) / granule) * granule;
    const dmaMask = mask ?? dev.dmaMask ?? dmaBitMask(32);
    const r = cookie.allocIova({ name: dev.name, driverName: dev.driverName, busDmaLimit: dev.busDmaLimit, pci32BitWorkaround: false }, len, dmaMask, (t) => dev.printk('notice', t));
    if (!r.iova) {
      this.tracer.emit('dma', 'iova_alloc_failed', { dev: dev.name, size: len, failure: 'map-failed', message: `no IOVA space for ${len} bytes` });
      return DMA_MAPPING_ERROR;
    }
    const ret = this.core.map(dom, r.iova, phys - off, len, this.protOf(dir, dev.dmaCoherent), GFP.GFP_ATOMIC);
    if (ret) {
      cookie.freeIova(r.iova, len);
      this.tracer.emit('dma', 'iommu_map_failed', { dev: dev.name, iova: r.iova, ret, failure: 'map-failed', message: `iommu_map returned ${ret}` });
      return DMA_MAPPING_ERROR;
    }
    const list = this.iommuMappings.get(dev.name) ?? [];
    list.push({ iova: r.iova, size: len, phys: phys - off });
    this.iommuMappings.set(dev.name, list);
    this.tracer.emit('dma', 'iommu_dma_map', { dev: dev.name, phys, size, iova: r.iova + off, granule, mappedPhys: phys - off, mappedSize: len, exposes: len - size });
    return r.iova + off;
  }

  iommuDmaUnmap(dev: LinuxDevice, dma: number, size: number): void {
    const dom = this.domainOf(dev);
    const cookie = dom.dmaCookie as DmaIovaCookie;
    const granule = lowest(dom.pgsizeBitmap);
    const off = dma % granule;
    const iova = dma - off;
    const len = Math.ceil((size + off) / granule) * granule;
    const phys = this.core.iovaToPhys(dom, iova);
    if (!phys) this.warn('drivers/iommu/dma-iommu.c', 1234, 'iommu_dma_unmap_page');
    // __iommu_dma_unmap (dma-iommu.c:825-846): with a flush queue the gather is "queued": the PTEs go,
    // the IOTLB is not synced, and the IOVA waits in the queue for the next full flush.
    const fq = this.flushQueues.get(dom);
    const gather = newGather();
    gather.queued = !!fq;
    const n = this.core.unmapFast(dom, iova, len, gather);
    if (n !== len) this.warn('drivers/iommu/dma-iommu.c', 838, '__iommu_dma_unmap');
    if (!gather.queued) dom.ops.iotlbSync?.(dom, gather);
    if (fq) fq.queue(Math.floor(iova / granule), len / granule, 0, this.clock.ns);
    else cookie.freeIova(iova, len);
    this.tracer.emit('dma', 'iommu_dma_unmap', { dev: dev.name, iova, size: len, lazy: !!fq });
    const list = this.iommuMappings.get(dev.name) ?? [];
    const i = list.findIndex((m) => m.iova === iova);
    if (i >= 0) list.splice(i, 1);
  }

  /**
   * dma_alloc_coherent. dma_alloc_attrs drops the zone modifiers and lets the implementation choose
   * (kernel/dma/mapping.c:615). dma-direct picks a zone from the coherent mask. dma-iommu
   * (iommu_dma_alloc, dma-iommu.c:1653-1688) adds __GFP_ZERO and, for a blocking gfp, takes the remap
   * path: pages in blocks of the orders the IOMMU maps with one PTE, not necessarily contiguous, one
   * IOVA range under the coherent mask, iommu_map_sg, then a vmap for the CPU. An atomic gfp gets one
   * contiguous block mapped with __iommu_dma_map (the atomic pool of non-coherent devices is not
   * modelled). `cpu` is the physical address of the first block (the vmap address is not modelled);
   * `chunks` lists every block of a remapped buffer.
   */
  dmaAllocCoherent(dev: LinuxDevice, size: number, gfpIn: number): { cpu: number | null; dma: number; chunks?: PageChunk[] } {
    const attrsGfp = gfpIn & ~(GFP.__GFP_DMA | GFP.__GFP_DMA32 | GFP.__GFP_HIGHMEM);
    if (!dev.dmaIommu) {
      const r = this.direct.alloc(dev, size, attrsGfp);
      return { cpu: r.cpuPhys, dma: r.dma };
    }
    const gfp = attrsGfp | GFP.__GFP_ZERO;
    const failed = (why: string) => {
      this.tracer.emit('dma', 'coherent_alloc_failed', { dev: dev.name, size, failure: 'alloc-failed', message: `dma_alloc_coherent: ${why}` });
      return { cpu: null, dma: DMA_MAPPING_ERROR };
    };
    const coherentMask = dev.coherentDmaMask ?? dmaBitMask(32);
    if (!(gfp & GFP.__GFP_DIRECT_RECLAIM)) {
      // iommu_dma_alloc_pages (dma-iommu.c:1616-1651): one block of get_order(PAGE_ALIGN(size)).
      const pa = this.pages.allocPages(gfp, getOrder(Math.ceil(size / this.pageSize) * this.pageSize, this.pageSize));
      if (pa === null) return failed('no pages');
      const dma = this.iommuDmaMap(dev, pa, size, 'bidirectional', coherentMask);
      if (dma === DMA_MAPPING_ERROR) {
        this.pages.freePages(pa, getOrder(Math.ceil(size / this.pageSize) * this.pageSize, this.pageSize));
        return failed('mapping failed');
      }
      return { cpu: pa, dma };
    }
    // __iommu_dma_alloc_noncontiguous (dma-iommu.c:942-1014)
    const dom = this.domainOf(dev);
    const cookie = dom.dmaCookie as DmaIovaCookie;
    const granule = cookie.iovad.granule;
    // min_size below PAGE_SIZE: whole CPU pages are allocated (the IOMMU may map less of the last);
    // otherwise the size grows to whole IOMMU pages. (min_size matters further only for
    // DMA_ATTR_ALLOC_SINGLE_PAGES, not modelled.)
    let allocSizes = dom.pgsizeBitmap;
    const minSize = lowest(allocSizes);
    let len = size;
    if (minSize < this.pageSize) allocSizes = orBits(allocSizes, this.pageSize);
    else len = Math.ceil(len / minSize) * minSize;
    const count = Math.ceil(len / this.pageSize);
    const chunks = allocPagesForRemap(
      count,
      Math.floor(allocSizes / this.pageSize) % 2 ** 31,
      gfp,
      this.pages.maxOrder,
      (g, order) => this.pages.allocPages(g, order),
      (c) => void this.pages.freePages(c.pa, c.order),
    );
    if (!chunks) return failed('no pages');
    len = Math.ceil(len / granule) * granule;
    const r = cookie.allocIova({ name: dev.name, driverName: dev.driverName, busDmaLimit: dev.busDmaLimit, pci32BitWorkaround: false }, len, coherentMask, (t) => dev.printk('notice', t));
    const freeChunks = () => chunks.forEach((c) => this.pages.freePages(c.pa, c.order));
    if (!r.iova) {
      freeChunks();
      return failed('no IOVA space');
    }
    // sg_alloc_table_from_pages over `len` bytes, merged where the blocks touch (as iommu_map_sg would).
    const runs: { phys: number; length: number }[] = [];
    let left = len;
    for (const c of chunks) {
      const n = Math.min(left, this.pageSize * 2 ** c.order);
      if (n <= 0) break;
      const last = runs[runs.length - 1];
      if (last && last.phys + last.length === c.pa) last.length += n;
      else runs.push({ phys: c.pa, length: n });
      left -= n;
    }
    const mapGfp = gfp & ~(GFP.__GFP_DMA | GFP.__GFP_DMA32 | GFP.__GFP_HIGHMEM | GFP.__GFP_COMP);
    const mapped = this.core.mapSg(dom, r.iova, runs, this.protOf('bidirectional', dev.dmaCoherent), mapGfp);
    if (mapped < len) {
      cookie.freeIova(r.iova, len);
      freeChunks();
      return failed(`iommu_map_sg returned ${mapped}`);
    }
    const list = this.iommuMappings.get(dev.name) ?? [];
    list.push({ iova: r.iova, size: len, phys: chunks[0].pa });
    this.iommuMappings.set(dev.name, list);
    this.tracer.emit('dma', 'iommu_dma_alloc_remap', { dev: dev.name, size, iova: r.iova, iovaLen: len, chunks, runs });
    return { cpu: chunks[0].pa, dma: r.iova, chunks };
  }

  /** dma_free_coherent: unmap (dma-iommu), then give the pages back block by block. */
  dmaFreeCoherent(dev: LinuxDevice, size: number, cpu: number, dma: number, chunks?: readonly PageChunk[]): void {
    if (!dev.dmaIommu) {
      // dma_free_contiguous: a CMA block goes back to the area, anything else to the buddy allocator.
      if (this.cma?.contains(cpu)) this.cma.release(cpu, Math.ceil(size / this.pageSize));
      else this.pages.freePages(cpu, getOrder(size, this.pageSize));
      return;
    }
    this.iommuDmaUnmap(dev, dma, size);
    // The kernel split the blocks into pages and frees them one by one (split_page is not modelled:
    // each block goes back with its order, which leaves the buddy lists the same once all are free).
    if (chunks) for (const c of chunks) this.pages.freePages(c.pa, c.order);
    else this.pages.freePages(cpu, getOrder(Math.ceil(size / this.pageSize) * this.pageSize, this.pageSize));
  }

  // ---- scatterlists --------------------------------------------------------------------------------

  /**
   * dma_map_sg: through dma-iommu (one IOVA range for the whole list, iommu_dma_map_sg) or dma-direct
   * (each segment on its own, dma_direct_map_sg). Returns the DMA segments (nents = their count), or
   * null where dma_map_sg returns 0. `maxSegSize` / `segBoundaryMask` stand for the device's dma_parms
   * (64 KiB and ULONG_MAX without them).
   */
  dmaMapSg(dev: LinuxDevice, sg: readonly SgEntry[], dir: DmaDirection, opts: { maxSegSize?: number; segBoundaryMask?: number } = {}): { segs: { dma: number; length: number }[]; iova?: number; iovaLen?: number } | null {
    if (!dev.dmaIommu) {
      const r = this.direct.mapSg(dev, sg.map((e) => ({ phys: e.phys, length: e.length })), toDmaDir(dir));
      if (r.nents <= 0) {
        this.tracer.emit('dma', 'dma_map_sg_failed', { dev: dev.name, nents: sg.length, failure: 'map-failed', message: `dma_map_sg(${dev.name}, ${sg.length} entries) failed` });
        return null;
      }
      const segs = sg.map((e, i) => ({ dma: r.dma[i], length: e.length }));
      this.tracer.emit('dma', 'dma_map_sg', { dev: dev.name, via: 'dma-direct', nents: segs.length, segs });
      return { segs };
    }
    const dom = this.domainOf(dev);
    const cookie = dom.dmaCookie as DmaIovaCookie;
    const granule = cookie.iovad.granule;
    // The device's segment boundary (dma_get_seg_boundary): all-ones 64-bit (ULONG_MAX, no padding) unless set.
    const segMask = opts.segBoundaryMask ?? (dev.segBoundaryMask < 2 ** 52 ? dev.segBoundaryMask : undefined);
    const layout = layoutSg(sg, granule, segMask);
    if (!layout.iovaLen) return { segs: [] };
    const dmaMask = dev.dmaMask ?? dmaBitMask(32);
    const r = cookie.allocIova({ name: dev.name, driverName: dev.driverName, busDmaLimit: dev.busDmaLimit, pci32BitWorkaround: false }, layout.iovaLen, dmaMask, (t) => dev.printk('notice', t));
    if (!r.iova) {
      this.tracer.emit('dma', 'iova_alloc_failed', { dev: dev.name, size: layout.iovaLen, failure: 'map-failed', message: `no IOVA space for a ${layout.iovaLen}-byte scatterlist` });
      return null;
    }
    const runs = mapRuns(layout);
    const mapped = this.core.mapSg(dom, r.iova, runs, this.protOf(dir, dev.dmaCoherent), GFP.GFP_ATOMIC);
    if (mapped < layout.iovaLen) {
      cookie.freeIova(r.iova, layout.iovaLen);
      this.tracer.emit('dma', 'iommu_map_failed', { dev: dev.name, iova: r.iova, ret: mapped, failure: 'map-failed', message: `iommu_map_sg returned ${mapped}` });
      return null;
    }
    const list = this.iommuMappings.get(dev.name) ?? [];
    list.push({ iova: r.iova, size: layout.iovaLen, phys: runs[0].phys });
    this.iommuMappings.set(dev.name, list);
    const segs = finaliseSg(layout, r.iova, opts.maxSegSize, segMask);
    this.tracer.emit('dma', 'dma_map_sg', { dev: dev.name, via: 'dma-iommu', iova: r.iova, iovaLen: layout.iovaLen, runs, nents: segs.length, segs });
    return { segs, iova: r.iova, iovaLen: layout.iovaLen };
  }

  /**
   * dma_unmap_sg. dma-iommu unmaps the one range from the first DMA segment to the end of the last
   * (iommu_dma_unmap_sg, dma-iommu.c:1511-1560); dma-direct unmaps each entry of the original list.
   */
  dmaUnmapSg(dev: LinuxDevice, sg: readonly SgEntry[], segs: readonly { dma: number; length: number }[], dir: DmaDirection): void {
    if (!dev.dmaIommu) {
      sg.forEach((e, i) => this.direct.unmapPage(dev, segs[i].dma, e.length, toDmaDir(dir)));
      return;
    }
    if (!segs.length) return;
    const start = segs[0].dma;
    const end = segs[segs.length - 1].dma + segs[segs.length - 1].length;
    this.iommuDmaUnmap(dev, start, end - start);
  }

  // ---- device DMA --------------------------------------------------------------------------------

  /** A master moves bytes: reads memory into its buffer ('read') or writes its buffer out ('write'). */
  deviceTransfer(master: string, access: 'read' | 'write', addr: number, len: number): TransferResult {
    const m = this.masters.get(master);
    if (!m) throw new Error(`no bus master ${master}`);
    this.runTimers();
    const res = access === 'read' ? m.read(addr, len) : m.write(addr, len);
    this.tracer.emit('master', 'transfer', { master, access, addr, len, status: res.status, done: res.done, stoppedAt: res.stoppedAt, pages: res.pages.slice(0, 8), detail: res.detail });
    this.deliverIrqs();
    return res;
  }

  /** Let the CPU take pending interrupts (after each step and each device transfer). */
  deliverIrqs(): void {
    this.runTimers();
    const r = this.irq.deliver();
    // Past the controller's safety net: a handler keeps claiming a line that never drops. The kernel
    // would spin in the handler for ever (a hard lockup); the run records it and masks the line.
    for (const n of r.storms) {
      this.tracer.printk('emerg', `irq ${n}: still asserted after ${4 * SPURIOUS_WINDOW} handled deliveries (the CPU would never leave the handler)`);
      this.tracer.emit('kernel', 'irq_storm', { irq: n, failure: 'irq-storm', message: `IRQ ${n} kept firing although its handler claimed it` });
    }
  }

}

function isIpmmuLeaf(bi: BoardIommu): boolean {
  return 'renesas,ipmmu-main' in bi.props;
}

function lowest(bitmap: number): number {
  let b = 1;
  while (b <= bitmap && Math.floor(bitmap / b) % 2 === 0) b *= 2;
  return b;
}

function orBits(a: number, b: number): number {
  const hi = ((Math.floor(a / 2 ** 32) | Math.floor(b / 2 ** 32)) >>> 0) * 2 ** 32;
  return hi + ((a | b) >>> 0);
}

function linearVa(pa: number): string {
  // arm64 48-bit VA linear map: PAGE_OFFSET 0xffff000000000000 plus the physical offset (memstart 0).
  const lo = pa.toString(16).padStart(12, '0');
  return `ffff${lo}`;
}

function parseCma(v: string | undefined): number {
  if (!v) return 0;
  const m = /^(\d+)([KMG]?)$/i.exec(v);
  if (!m) return 0;
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * mult;
}

export { KernelCrash };
