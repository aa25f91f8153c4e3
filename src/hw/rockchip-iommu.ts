/**
 * Rockchip IOMMU (the block behind drivers/iommu/rockchip-iommu.c), modelled at its register boundary.
 *
 * One IOMMU device may have several MMU instances ("bases[]" in the driver, one `reg` window each,
 * e.g. a VOP with two AXI ports); each instance has its own register file, IOTLB and table walker, and
 * serves the master port with the same index. The driver therefore has to program every window: an
 * instance left alone keeps passing its port's traffic through untranslated.
 *
 * Register semantics are those the 6.12 driver relies on (rockchip-iommu.c):
 * - STATUS bits move as the driver's polls expect: PAGING_ENABLED after ENABLE_PAGING, STALL_ACTIVE
 *   after ENABLE_STALL — but only while paging is on (the driver skips stalling a block whose paging is
 *   off, rockchip-iommu.c:420-422) and not while a page fault is pending (a faulting bank ignores the
 *   stall request, rockchip-iommu.c:424-435; the guide's "enable stall fails after an unhandled page
 *   fault", seeds/001 problem 2).
 * - FORCE_RESET returns every register to its reset value, so DTE_ADDR reads 0 afterwards, which is
 *   what rk_iommu_is_reset_done polls for (rockchip-iommu.c:400-410). Before resetting, the driver
 *   checks that DTE_ADDR is writable by writing pt_address(0xCAFEBABE) = 0xCAFEB000 and reading it
 *   back (rockchip-iommu.c:523-533): the bits that survive are `dteAddrWritable`.
 * - A page fault latches the IOVA in PAGE_FAULT_ADDR, sets PAGE_FAULT_ACTIVE (+ PAGE_FAULT_IS_WRITE for
 *   writes), raises INT_RAWSTAT bit 0, and holds the transaction in the replay buffer until
 *   PAGE_FAULT_DONE; meanwhile the instance translates nothing (the master stalls).
 * - A read error of the table walker raises INT_RAWSTAT bit 1 (BUS_ERROR, "bus read error",
 *   rockchip-iommu.c:69), with the IOVA in PAGE_FAULT_ADDR (the handler prints it from there, :648).
 * - INT_STATUS = INT_RAWSTAT & INT_MASK; the interrupt output is INT_STATUS != 0 (level).
 * - Two caches, both emptied only by software: a leaf IOTLB (IOVA page -> physical page) and the
 *   walker's cache of DT/PT lines (see TableLineCache). ZAP_ONE_LINE drops an IOVA's translation and
 *   the lines holding its DTE and PTE; ZAP_CACHE drops everything.
 * - Paging disabled = addresses pass through untranslated (the identity domain just disables the
 *   IOMMU, rockchip-iommu.c:981-1015, and the master keeps working with physical addresses).
 *
 * Variants are data (ROCKCHIP_IOMMU_VARIANTS): entry format, how wide the walker's bus is, how many
 * bits the directory-table base may have and what happens beyond them (the RK3568 "v1.0" block of seed
 * 000 cannot use a DT above 4 GiB; whether it then truncates or raises a bus error is not known, so
 * both are offered), which DTE_ADDR bits hold a value.
 */
import { hex, hi32 } from '../addr.js';
import { DeviceView, type BeyondWidth } from '../mem/device-view.js';
import type { MemReader } from '../mem/phys-mem.js';
import { ACCESS_FAULT } from '../mem/phys-mem.js';
import { getFormat } from '../formats/index.js';
import type { PageTableFormat, ResolvedConfig, WalkResult } from '../formats/types.js';
import { IOMMU_READ, IOMMU_WRITE } from '../formats/types.js';
import type { SimClock, Tracer } from '../trace/events.js';
import { SimClock as Clock } from '../trace/events.js';
import { Iotlb, type ReplacementPolicy } from './iotlb.js';
import type { IrqSource } from './irq.js';
import { DEFAULT_TIMING, RegisterFile, type IommuBlockOptions, type MmioTiming, type PoweredOffAccess, type RegDef } from './mmio.js';
import type { AccessKind, Translation, TranslationPort } from './port.js';
import { switchPower } from './power.js';

// Register offsets (rockchip-iommu.c:32-41).
export const RK_MMU_DTE_ADDR = 0x00;
export const RK_MMU_STATUS = 0x04;
export const RK_MMU_COMMAND = 0x08;
export const RK_MMU_PAGE_FAULT_ADDR = 0x0c;
export const RK_MMU_ZAP_ONE_LINE = 0x10;
export const RK_MMU_INT_RAWSTAT = 0x14;
export const RK_MMU_INT_CLEAR = 0x18;
export const RK_MMU_INT_MASK = 0x1c;
export const RK_MMU_INT_STATUS = 0x20;
export const RK_MMU_AUTO_GATING = 0x24;

// STATUS bits (rockchip-iommu.c:50-56).
export const RK_STATUS_PAGING_ENABLED = 1 << 0;
export const RK_STATUS_PAGE_FAULT_ACTIVE = 1 << 1;
export const RK_STATUS_STALL_ACTIVE = 1 << 2;
export const RK_STATUS_IDLE = 1 << 3;
export const RK_STATUS_REPLAY_BUFFER_EMPTY = 1 << 4;
export const RK_STATUS_PAGE_FAULT_IS_WRITE = 1 << 5;
export const RK_STATUS_STALL_NOT_ACTIVE = 0x8000_0000;

// COMMAND values (rockchip-iommu.c:59-65).
export const RK_CMD_ENABLE_PAGING = 0;
export const RK_CMD_DISABLE_PAGING = 1;
export const RK_CMD_ENABLE_STALL = 2;
export const RK_CMD_DISABLE_STALL = 3;
export const RK_CMD_ZAP_CACHE = 4;
export const RK_CMD_PAGE_FAULT_DONE = 5;
export const RK_CMD_FORCE_RESET = 6;

// Interrupt bits (rockchip-iommu.c:68-70).
export const RK_IRQ_PAGE_FAULT = 0x01;
export const RK_IRQ_BUS_ERROR = 0x02;

export interface RockchipIommuVariant {
  name: string;
  description: string;
  /** Page-table format the walker reads (src/formats registry name). */
  entryFormat: 'rockchip-v1' | 'rockchip-v2';
  /** Address bits of the bus the walker (and translated traffic) uses. */
  walkerBusBits: number;
  /** Address bits the directory-table base may have. */
  dteBaseMaxBits: number;
  /** What a DT base beyond dteBaseMaxBits does: raise BUS_ERROR, or drop the high bits and read the alias. */
  beyondDteBase: BeyondWidth;
  /** DTE_ADDR bits that hold a written value (the rest read 0). */
  dteAddrWritable: number;
  /** AUTO_GATING value after reset. */
  autoGatingReset: number;
  iotlb: { entries: number; policy: ReplacementPolicy };
  /**
   * The walker's cache of table lines (DTEs and PTEs, valid or not). The driver's remark at
   * rockchip-iommu.c:812-818 ("evict from iotlb any previously mapped cachelines holding stale values
   * for its dte and pte") says the block caches table cachelines and that ZAP_ONE_LINE evicts the
   * lines holding an IOVA's DTE and PTE. Line size and count are not documented: parameters.
   * lines = 0 disables it.
   */
  tableCache: { lines: number; lineBytes: number };
  /** Simulated time from a paging/stall command to STATUS showing it. */
  commandLatencyNs: number;
  /** Simulated time from FORCE_RESET to the registers reading their reset values. */
  forceResetLatencyNs: number;
}

const COMMON = {
  autoGatingReset: 0,
  iotlb: { entries: 32, policy: 'lru' as ReplacementPolicy },
  tableCache: { lines: 16, lineBytes: 64 },
  commandLatencyNs: 0,
  forceResetLatencyNs: 0,
};

/**
 * The variants. The driver only distinguishes v1 and v2 entry encodings (rockchip-iommu.c:1365-1389);
 * the RK3568 v1.0 block is a hardware fact from seeds/000 (Rockchip: "v1.0 does not support placing the
 * first-level page table above 4 GB", while it maps 40-bit pages). Which DTE_ADDR bits are writable is
 * not in the source; we let v1 keep the address bits 31:12 (all the v1 encoding has) and v2 bits 31:4
 * (address 31:12 plus the packed bits 39:32) — both pass the driver's 0xCAFEB000 read-back check.
 */
export const ROCKCHIP_IOMMU_VARIANTS: Record<string, RockchipIommuVariant> = {
  v1: {
    ...COMMON,
    name: 'v1',
    description: 'rockchip,iommu: 32-bit entries, 32-bit walker (RK3288/RK3399 generation)',
    entryFormat: 'rockchip-v1',
    walkerBusBits: 32,
    dteBaseMaxBits: 32,
    beyondDteBase: 'truncate',
    dteAddrWritable: 0xfffff000,
  },
  v2: {
    ...COMMON,
    name: 'v2',
    description: 'rockchip,rk3568-iommu v2.0 block (VOP2, RK3588): 40-bit packed entries, 40-bit walker',
    entryFormat: 'rockchip-v2',
    walkerBusBits: 40,
    dteBaseMaxBits: 40,
    beyondDteBase: 'bus-error',
    dteAddrWritable: 0xfffffff0,
  },
  'rk3568-v1.0-bus-error': {
    ...COMMON,
    name: 'rk3568-v1.0-bus-error',
    description: 'RK3568 v1.0 block (NPU, ISP/VICAP): v2 entries, DT base must be below 4 GiB; beyond it the DT fetch is a bus error',
    entryFormat: 'rockchip-v2',
    walkerBusBits: 40,
    dteBaseMaxBits: 32,
    beyondDteBase: 'bus-error',
    dteAddrWritable: 0xfffffff0,
  },
  'rk3568-v1.0-truncate': {
    ...COMMON,
    name: 'rk3568-v1.0-truncate',
    description: 'RK3568 v1.0 block (NPU, ISP/VICAP): v2 entries, DT base must be below 4 GiB; beyond it the high bits are dropped',
    entryFormat: 'rockchip-v2',
    walkerBusBits: 40,
    dteBaseMaxBits: 32,
    beyondDteBase: 'truncate',
    dteAddrWritable: 0xfffffff0,
  },
};

export function rockchipVariant(name: string, overrides: Partial<RockchipIommuVariant> = {}): RockchipIommuVariant {
  const v = ROCKCHIP_IOMMU_VARIANTS[name];
  if (!v) throw new Error(`unknown Rockchip IOMMU variant '${name}' (known: ${Object.keys(ROCKCHIP_IOMMU_VARIANTS).join(', ')})`);
  return {
    ...v,
    ...overrides,
    iotlb: { ...v.iotlb, ...(overrides.iotlb ?? {}) },
    tableCache: { ...v.tableCache, ...(overrides.tableCache ?? {}) },
  };
}

function regDefs(v: RockchipIommuVariant): RegDef[] {
  return [
    { name: 'DTE_ADDR', offset: RK_MMU_DTE_ADDR, access: 'rw', reset: 0, writable: v.dteAddrWritable, doc: 'directory table base (an encoded DTE)' },
    { name: 'STATUS', offset: RK_MMU_STATUS, access: 'ro', reset: 0, doc: 'paging/stall/fault/idle state' },
    { name: 'COMMAND', offset: RK_MMU_COMMAND, access: 'wo', reset: 0, doc: 'command number' },
    { name: 'PAGE_FAULT_ADDR', offset: RK_MMU_PAGE_FAULT_ADDR, access: 'ro', reset: 0, doc: 'IOVA of the last fault' },
    { name: 'ZAP_ONE_LINE', offset: RK_MMU_ZAP_ONE_LINE, access: 'wo', reset: 0, doc: 'invalidate the IOTLB entry of an IOVA' },
    { name: 'INT_RAWSTAT', offset: RK_MMU_INT_RAWSTAT, access: 'ro', reset: 0, doc: 'interrupt status before masking' },
    { name: 'INT_CLEAR', offset: RK_MMU_INT_CLEAR, access: 'wo', reset: 0, doc: 'write 1s to acknowledge' },
    { name: 'INT_MASK', offset: RK_MMU_INT_MASK, access: 'rw', reset: 0, writable: RK_IRQ_PAGE_FAULT | RK_IRQ_BUS_ERROR, doc: 'interrupt enable' },
    { name: 'INT_STATUS', offset: RK_MMU_INT_STATUS, access: 'ro', reset: 0, doc: 'INT_RAWSTAT & INT_MASK' },
    { name: 'AUTO_GATING', offset: RK_MMU_AUTO_GATING, access: 'rw', reset: v.autoGatingReset, doc: 'clock gating; bit 31 disables the DTE fetch time limit' },
  ];
}

interface Pending {
  due: number;
  what: string;
  apply: () => void;
}

/**
 * The walker's cache of table lines: whole `lineBytes` lines of the DT or a PT, fetched through the
 * walker's bus on a miss and served from the cache afterwards, whatever memory holds by then. Invalid
 * entries are cached like valid ones, which is why a freshly written PTE next to a recently used one
 * stays invisible until its line is zapped.
 */
export class TableLineCache implements MemReader {
  private readonly lines = new Map<number, Uint32Array>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly bus: DeviceView,
    readonly lineBytes: number,
    readonly capacity: number,
  ) {}

  read32(addr: number): number {
    if (this.capacity === 0 || addr % 4 !== 0) return this.bus.read32(addr);
    const ln = Math.floor(addr / this.lineBytes);
    const base = ln * this.lineBytes;
    let line = this.lines.get(ln);
    if (line) {
      this.hits++;
      this.lines.delete(ln);
      this.lines.set(ln, line);
    } else {
      this.misses++;
      line = new Uint32Array(this.lineBytes / 4);
      for (let i = 0; i < line.length; i++) {
        const v = this.bus.read32(base + 4 * i);
        // a line that cannot be fetched whole is not cached; the access itself decides the outcome
        if (v === ACCESS_FAULT) return this.bus.read32(addr);
        line[i] = v;
      }
      if (this.lines.size >= this.capacity) this.lines.delete(this.lines.keys().next().value as number);
      this.lines.set(ln, line);
    }
    return line[(addr - base) / 4];
  }

  /** The cached word at addr, or undefined when its line is not cached. */
  peek(addr: number): number | undefined {
    const ln = Math.floor(addr / this.lineBytes);
    const line = this.lines.get(ln);
    return line ? line[(addr - ln * this.lineBytes) / 4] : undefined;
  }

  evict(addr: number): boolean {
    return this.lines.delete(Math.floor(addr / this.lineBytes));
  }

  clear(): void {
    this.lines.clear();
  }

  get size(): number {
    return this.lines.size;
  }

  isBacked(addr: number, len: number): boolean {
    return this.bus.isBacked(addr, len);
  }
}

/** One MMU instance: one register window, one IOTLB, one walker. */
export class RockchipMmuInstance extends RegisterFile {
  pagingEnabled = false;
  stallActive = false;
  pageFaultActive = false;
  pageFaultIsWrite = false;
  readonly tlb: Iotlb;
  readonly tableCache: TableLineCache;
  /** The last table walk this instance made (for --explain). */
  lastWalk: WalkResult | undefined;
  private pending: Pending[] = [];

  constructor(
    readonly owner: RockchipIommu,
    readonly index: number,
    name: string,
    clock: SimClock,
    tracer: Tracer | undefined,
    poweredOffAccess: PoweredOffAccess,
    timing: MmioTiming,
  ) {
    super(name, regDefs(owner.variant), 0x40, clock, tracer, poweredOffAccess, timing); // reg size in rk356x.dtsi
    this.tlb = new Iotlb({ ...owner.variant.iotlb, pageSize: 4096 });
    const tc = owner.variant.tableCache;
    this.tableCache = new TableLineCache(owner.bus, tc.lineBytes, tc.lines);
  }

  /** Every register to its reset value and all internal state cleared (FORCE_RESET, master reset, power-on). */
  hardReset(): void {
    this.resetRegisters();
    this.pagingEnabled = false;
    this.stallActive = false;
    this.pageFaultActive = false;
    this.pageFaultIsWrite = false;
    this.pending = [];
    this.tlb.invalidateAll();
    this.tableCache.clear();
    this.owner.updateIrq();
  }

  get status(): number {
    let s = 0;
    if (this.pagingEnabled) s |= RK_STATUS_PAGING_ENABLED;
    if (this.pageFaultActive) s |= RK_STATUS_PAGE_FAULT_ACTIVE;
    if (this.pageFaultActive && this.pageFaultIsWrite) s |= RK_STATUS_PAGE_FAULT_IS_WRITE;
    if (this.stallActive) s |= RK_STATUS_STALL_ACTIVE;
    else s |= RK_STATUS_STALL_NOT_ACTIVE;
    // Transactions are modelled as completing (or being parked) at once, so nothing is ever in
    // flight: IDLE is always set, even with a fault pending (as the firmware-left bank described at
    // rockchip-iommu.c:425-428 shows). The parked faulting transaction occupies the replay buffer.
    s |= RK_STATUS_IDLE;
    if (!this.pageFaultActive) s |= RK_STATUS_REPLAY_BUFFER_EMPTY;
    return s >>> 0;
  }

  get intRawstat(): number {
    return this.get('INT_RAWSTAT');
  }

  get intStatus(): number {
    return (this.get('INT_RAWSTAT') & this.get('INT_MASK')) >>> 0;
  }

  get dteAddr(): number {
    return this.get('DTE_ADDR');
  }

  protected override settle(): void {
    if (this.pending.length === 0) return;
    const now = this.clock.ns;
    const due = this.pending.filter((p) => p.due <= now);
    if (due.length === 0) return;
    this.pending = this.pending.filter((p) => p.due > now);
    for (const p of due) p.apply();
  }

  private later(latency: number, what: string, apply: () => void): void {
    if (latency <= 0) apply();
    else this.pending.push({ due: this.clock.ns + latency, what, apply });
  }

  protected override onRead(reg: RegDef, stored: number): number {
    switch (reg.name) {
      case 'STATUS':
        return this.status;
      case 'INT_STATUS':
        return this.intStatus;
      case 'COMMAND':
      case 'ZAP_ONE_LINE':
      case 'INT_CLEAR':
        return 0;
      default:
        return stored;
    }
  }

  protected override onWrite(reg: RegDef, written: number, next: number): number {
    switch (reg.name) {
      case 'COMMAND':
        this.command(written);
        return 0;
      case 'ZAP_ONE_LINE':
        this.zapLine(written);
        return 0;
      case 'INT_CLEAR':
        this.set('INT_RAWSTAT', this.get('INT_RAWSTAT') & ~written);
        this.owner.updateIrq();
        return 0;
      default:
        return next;
    }
  }

  protected override afterWrite(reg: RegDef): void {
    if (reg.name === 'INT_MASK') this.owner.updateIrq();
  }

  private command(cmd: number): void {
    const v = this.owner.variant;
    const trace = (result: string) =>
      this.tracer?.emit('hw', 'rk_iommu_command', { device: this.deviceName, command: cmd, result });
    switch (cmd) {
      case RK_CMD_ENABLE_PAGING:
        trace('ok');
        this.later(v.commandLatencyNs, 'enable paging', () => (this.pagingEnabled = true));
        break;
      case RK_CMD_DISABLE_PAGING:
        trace('ok');
        this.later(v.commandLatencyNs, 'disable paging', () => (this.pagingEnabled = false));
        break;
      case RK_CMD_ENABLE_STALL:
        // A bank with a pending fault, or with paging off, never reaches STALL_ACTIVE.
        if (this.pageFaultActive) trace('ignored: page fault active');
        else if (!this.pagingEnabled) trace('ignored: paging disabled');
        else {
          trace('ok');
          this.later(v.commandLatencyNs, 'enable stall', () => {
            if (!this.pageFaultActive && this.pagingEnabled) this.stallActive = true;
          });
        }
        break;
      case RK_CMD_DISABLE_STALL:
        trace('ok');
        this.later(v.commandLatencyNs, 'disable stall', () => (this.stallActive = false));
        break;
      case RK_CMD_ZAP_CACHE:
        this.tableCache.clear();
        trace(`ok: ${this.tlb.invalidateAll()} entries`);
        break;
      case RK_CMD_PAGE_FAULT_DONE:
        // The parked transaction is dropped; the master has already seen its transfer fail.
        trace(this.pageFaultActive ? 'ok' : 'no fault pending');
        this.pageFaultActive = false;
        this.pageFaultIsWrite = false;
        break;
      case RK_CMD_FORCE_RESET:
        trace('ok');
        this.later(v.forceResetLatencyNs, 'force reset', () => this.hardReset());
        break;
      default:
        trace('unknown command');
        this.tracer?.emit('hw', 'mmio_bad_value', { device: this.deviceName, reg: 'COMMAND', value: cmd });
    }
  }

  /** ZAP_ONE_LINE: the IOVA's translation and the cached lines holding its DTE and PTE. */
  private zapLine(iova: number): void {
    this.tlb.invalidatePage(0, iova);
    const dtBase = this.owner.walkRoot(this);
    if (dtBase === null) return;
    const dteAddr = dtBase + Math.floor((iova >>> 0) / 0x40_0000) * 4;
    const dte = this.tableCache.peek(dteAddr);
    if (dte !== undefined) {
      const pt = this.owner.entryAddress(dte);
      if (pt !== null) this.tableCache.evict(pt + (((iova >>> 12) & 0x3ff) * 4));
    }
    this.tableCache.evict(dteAddr);
  }

  /** Latch a page fault (rockchip-iommu.c:603-630 reads it back this way). */
  raisePageFault(iova: number, write: boolean): void {
    this.set('PAGE_FAULT_ADDR', iova);
    this.pageFaultActive = true;
    this.pageFaultIsWrite = write;
    this.set('INT_RAWSTAT', this.get('INT_RAWSTAT') | RK_IRQ_PAGE_FAULT);
    this.tracer?.emit('hw', 'page_fault', { device: this.deviceName, iova, write });
    this.owner.updateIrq();
  }

  raiseBusError(iova: number, addr: number): void {
    this.set('PAGE_FAULT_ADDR', iova);
    this.set('INT_RAWSTAT', this.get('INT_RAWSTAT') | RK_IRQ_BUS_ERROR);
    this.tracer?.emit('hw', 'bus_error', { device: this.deviceName, iova, addr });
    this.owner.updateIrq();
  }
}

export interface RockchipIommuOptions extends IommuBlockOptions {
  variant: RockchipIommuVariant;
  /** Number of MMU instances (reg windows). Default 1. */
  instances?: number;
  /** Interrupt numbers (GIC SPI). Instance i drives irqs[min(i, irqs.length-1)]. */
  irqs?: number[];
}

export class RockchipIommu implements TranslationPort {
  readonly name: string;
  readonly variant: RockchipIommuVariant;
  readonly instances: RockchipMmuInstance[];
  readonly clock: SimClock;
  readonly tracer: Tracer | undefined;
  /** The walker's (and translated traffic's) view of memory. */
  readonly bus: DeviceView;
  /** How the directory-table base reaches memory: at most dteBaseMaxBits address lines. */
  private readonly dteBaseBus: DeviceView;
  private readonly irqSources: IrqSource[];
  private format: PageTableFormat | undefined;
  private formatCfg: ResolvedConfig | undefined;
  powered = true;

  constructor(opts: RockchipIommuOptions) {
    this.name = opts.name;
    this.variant = opts.variant;
    this.clock = opts.clock ?? new Clock();
    this.tracer = opts.tracer;
    this.bus = new DeviceView(opts.mem, this.variant.walkerBusBits, 'bus-error');
    this.dteBaseBus = new DeviceView(opts.mem, this.variant.dteBaseMaxBits, this.variant.beyondDteBase);
    this.irqSources = opts.irq ? (opts.irqs ?? []).map((n) => opts.irq!.source(n, this.name)) : [];
    const n = opts.instances ?? 1;
    this.instances = [];
    for (let i = 0; i < n; i++) {
      this.instances.push(
        new RockchipMmuInstance(
          this,
          i,
          n > 1 ? `${this.name}[${i}]` : this.name,
          this.clock,
          this.tracer,
          opts.poweredOffAccess ?? 'read-zero',
          opts.timing ?? DEFAULT_TIMING,
        ),
      );
    }
  }

  /** The register window of instance i (the driver's bases[i]). */
  window(i = 0): RockchipMmuInstance {
    const w = this.instances[i];
    if (!w) throw new Error(`${this.name}: no MMU instance ${i}`);
    return w;
  }

  /** Recompute the interrupt outputs (level = some instance's INT_STATUS != 0 while powered). */
  updateIrq(): void {
    if (!this.instances || this.irqSources.length === 0) return;
    const levels = this.irqSources.map(() => false);
    this.instances.forEach((inst, i) => {
      if (this.powered && inst.intStatus !== 0) levels[Math.min(i, levels.length - 1)] = true;
    });
    this.irqSources.forEach((s, j) => s.set(levels[j]));
  }

  /** Switch the power domain. Off: registers unreachable; on again: every register at its reset value. */
  setPower(on: boolean): void {
    switchPower(
      this,
      on,
      this.tracer,
      () => {
        for (const inst of this.instances) {
          inst.powered = true;
          inst.hardReset();
        }
      },
      () => {
        for (const inst of this.instances) inst.powered = false;
      },
    );
  }

  /**
   * The master's IP reset also resets the IOMMU inside it (the guide's problem 6, "master resets the
   * whole IP"): every register of every instance returns to its reset value behind the driver's back.
   */
  masterReset(): void {
    this.tracer?.emit('hw', 'master_reset', { device: this.name });
    for (const inst of this.instances) inst.hardReset();
  }

  private fmt(): { fmt: PageTableFormat; cfg: ResolvedConfig } {
    if (!this.format || !this.formatCfg) {
      this.format = getFormat(this.variant.entryFormat);
      this.formatCfg = this.format.resolveConfig({});
    }
    return { fmt: this.format, cfg: this.formatCfg };
  }

  /** The DT base the walker would fetch from for an instance (after the DT-base bus), or null if unreachable. */
  walkRoot(inst: RockchipMmuInstance): number | null {
    const { fmt, cfg } = this.fmt();
    const wanted = fmt.decodeRootRegister(inst.dteAddr, cfg)[0];
    const a = this.dteBaseBus.route(wanted);
    return a === ACCESS_FAULT ? null : a;
  }

  /** The table or page address a valid DTE/PTE names, in this block's entry format. */
  entryAddress(entry: number): number | null {
    const { fmt, cfg } = this.fmt();
    const d = fmt.describeEntry(1, entry >>> 0, 0, cfg);
    return d.valid ? d.address : null;
  }

  /** The DT base the walker will use, decoded from DTE_ADDR as the entry format encodes it. */
  dtBaseOf(instance = 0): number {
    const { fmt, cfg } = this.fmt();
    return fmt.decodeRootRegister(this.window(instance).dteAddr, cfg)[0];
  }

  translate(port: number, iova: number, access: AccessKind): Translation {
    const inst = this.instances[port];
    const write = access === 'write';
    if (!inst) return { status: 'bus-error', phys: 0, span: 0, bus: undefined, detail: `${this.name} has no port ${port}` };
    if (!this.powered) return { status: 'bus-error', phys: 0, span: 0, bus: undefined, detail: `${this.name} is powered off` };
    // Only 32 IOVA bits exist on this block (rockchip-iommu.c:316-336).
    const va = iova >>> 0;
    const span = 4096 - (va & 0xfff);
    if (!inst.pagingEnabled) return { status: 'ok', phys: iova, span, bus: this.bus, via: 'bypass' };
    if (inst.pageFaultActive || inst.stallActive)
      return {
        status: 'stall',
        phys: 0,
        span: 0,
        bus: undefined,
        detail: inst.pageFaultActive ? 'a page fault is pending (replay buffer full)' : 'stall active',
      };

    const hit = inst.tlb.lookup(0, va);
    if (hit) {
      if (!permits(hit.prot, write)) return this.pageFault(inst, va, write, 'IOTLB entry forbids the access');
      return { status: 'ok', phys: hit.phys + (va & 0xfff), span, bus: this.bus, via: 'tlb' };
    }

    const { fmt, cfg } = this.fmt();
    const wanted = fmt.decodeRootRegister(inst.dteAddr, cfg)[0];
    const dtBase = this.dteBaseBus.route(wanted);
    if (dtBase === ACCESS_FAULT) {
      inst.raiseBusError(va, wanted);
      return { status: 'bus-error', phys: 0, span: 0, bus: undefined, detail: `DT base ${hex(wanted)} beyond ${this.variant.dteBaseMaxBits}-bit reach` };
    }
    if (dtBase !== wanted)
      this.tracer?.emit('hw', 'dte_base_truncated', { device: inst.deviceName, wanted, used: dtBase, hi: hi32(wanted) });

    const r = fmt.walk(inst.tableCache, { roots: [dtBase], cfg }, va);
    inst.lastWalk = r;
    this.tracer?.emit('hw', 'walk', { device: inst.deviceName, iova: va, phys: r.phys, fault: r.fault, steps: r.steps.length });
    if (r.fault === 'bus') {
      const last = r.steps[r.steps.length - 1];
      inst.raiseBusError(va, last ? last.entryAddr : dtBase);
      return { status: 'bus-error', phys: 0, span: 0, bus: undefined, detail: r.detail ?? 'table walk read error' };
    }
    if (r.fault !== null || r.phys === null) return this.pageFault(inst, va, write, r.detail ?? `walk: ${r.fault}`);
    if (!permits(r.prot, write)) return this.pageFault(inst, va, write, `PTE does not allow ${access}`);
    inst.tlb.insert(0, va, r.phys, r.prot);
    return { status: 'ok', phys: r.phys, span, bus: this.bus, via: 'walk' };
  }

  private pageFault(inst: RockchipMmuInstance, iova: number, write: boolean, detail: string): Translation {
    inst.raisePageFault(iova, write);
    return { status: 'fault', phys: 0, span: 0, bus: undefined, detail };
  }
}

function permits(prot: number, write: boolean): boolean {
  return write ? (prot & IOMMU_WRITE) !== 0 : (prot & IOMMU_READ) !== 0;
}
