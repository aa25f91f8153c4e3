/**
 * Renesas IPMMU-VMSA, modelled at the registers drivers/iommu/ipmmu-vmsa.c (6.12) programs.
 *
 * Topology as on R-Car Gen3: a root ("main", e.g. ipmmu_mm) holds the translation contexts and raises
 * the interrupt; cache ("leaf") IPMMUs in front of masters (ipmmu_hc for SATA, ...) hold the micro-TLB
 * registers that bind a master's uTLB to a context (IMUCTR.TTSEL) and switch translation on for it
 * (IMUCTR.MMUEN). The driver writes the context registers of the root and IMCTR of both
 * (ipmmu_ctx_write_all, ipmmu-vmsa.c:203-210).
 *
 * Per context: IMCTR (INTEN, FLUSH, MMUEN), IMTTBCR (EAE: long descriptors), IMTTLBR0/IMTTUBR0 (the
 * TTBR of an ARM 32-bit LPAE stage-1 table: ias 32, oas 40, ipmmu-vmsa.c:417-440), IMMAIR0, IMSTR
 * (fault status: MHIT, ABORT, PF, TF) with IMELAR/IMEUAR (fault address).
 * Behaviour the driver relies on:
 * - IMCTR.FLUSH invalidates the context's TLB and reads back 1 until done (ipmmu_tlb_sync polls it,
 *   ipmmu-vmsa.c:254-263);
 * - IMSTR is cleared by writing 0 ("unlike traditional ... this status register seems to require 0",
 *   ipmmu-vmsa.c:500-505): a written 0 bit clears, a 1 leaves the bit alone. Clearing it also clears the
 *   address registers ("must be read before, otherwise its value will be 0"). Note that
 *   ipmmu_domain_setup_context "clears" IMSTR by writing back what it read, which under these
 *   semantics clears nothing; we model the IRQ handler's comment, which describes the hardware.
 * - a uTLB without MMUEN, or a context without MMUEN, passes addresses through untranslated.
 * Register layout per generation is data (IPMMU_FEATURES, from the driver's ipmmu_features tables,
 * ipmmu-vmsa.c:913-953).
 */
import { hex, hi32, join64, lo32 } from '../addr.js';
import { DeviceView } from '../mem/device-view.js';
import { getFormat } from '../formats/index.js';
import { IOMMU_READ, IOMMU_WRITE, type FaultKind, type PageTableFormat, type ResolvedConfig, type WalkResult } from '../formats/types.js';
import { SimClock } from '../trace/events.js';
import { Iotlb, type ReplacementPolicy } from './iotlb.js';
import type { IrqSource } from './irq.js';
import { DEFAULT_TIMING, RegisterFile, type IommuBlockOptions, type RegDef } from './mmio.js';
import type { AccessKind, Translation, TranslationPort } from './port.js';
import { switchPower } from './power.js';

// Context register offsets within a context (ipmmu-vmsa.c:97-134).
export const IMCTR = 0x00;
export const IMTTBCR = 0x08;
export const IMBUSCR = 0x0c;
export const IMTTLBR0 = 0x10;
export const IMTTUBR0 = 0x14;
export const IMSTR = 0x20;
export const IMMAIR0 = 0x28;
export const IMELAR = 0x30;
export const IMEUAR = 0x34;

export const IMCTR_INTEN = 1 << 2;
export const IMCTR_FLUSH = 1 << 1;
export const IMCTR_MMUEN = 1 << 0;
export const IMTTBCR_EAE = 0x8000_0000;
export const IMSTR_MHIT = 1 << 4;
export const IMSTR_ABORT = 1 << 2;
export const IMSTR_PF = 1 << 1;
export const IMSTR_TF = 1 << 0;
const IMSTR_ERR = IMSTR_MHIT | IMSTR_ABORT | IMSTR_PF | IMSTR_TF;
export const IMUCTR_FLUSH = 1 << 1;
export const IMUCTR_MMUEN = 1 << 0;

/** IMUCTR(n) / IMUASID(n) offsets before utlbOffsetBase (ipmmu-vmsa.c:125-133). */
export function imuctrOffset(n: number): number {
  return n < 32 ? 0x300 + n * 16 : 0x600 + (n - 32) * 16;
}
export function imuasidOffset(n: number): number {
  return imuctrOffset(n) + 8;
}

export interface IpmmuFeatures {
  name: string;
  numberOfContexts: number;
  numUtlbs: number;
  ctxOffsetBase: number;
  ctxOffsetStride: number;
  utlbOffsetBase: number;
  /** Gen2: the driver uses the register file through its non-secure alias at +0x800. */
  nsAliasOffset: number | null;
  hasImbuscr: boolean;
  /** Output / walker address width. */
  walkerBusBits: number;
  iotlb: { entries: number; policy: ReplacementPolicy };
  /** Simulated time from setting IMCTR.FLUSH to the bit reading 0 again. */
  flushLatencyNs: number;
  windowSize: number;
}

const COMMON = { walkerBusBits: 40, iotlb: { entries: 64, policy: 'lru' as ReplacementPolicy }, flushLatencyNs: 0 };

export const IPMMU_FEATURES: Record<string, IpmmuFeatures> = {
  'rcar-gen2': {
    ...COMMON,
    name: 'rcar-gen2',
    numberOfContexts: 1,
    numUtlbs: 32,
    ctxOffsetBase: 0,
    ctxOffsetStride: 0x40,
    utlbOffsetBase: 0,
    nsAliasOffset: 0x800,
    hasImbuscr: true,
    windowSize: 0x1000,
  },
  'rcar-gen3': {
    ...COMMON,
    name: 'rcar-gen3',
    numberOfContexts: 8,
    numUtlbs: 48,
    ctxOffsetBase: 0,
    ctxOffsetStride: 0x40,
    utlbOffsetBase: 0,
    nsAliasOffset: null,
    hasImbuscr: false,
    windowSize: 0x1000,
  },
  'rcar-gen4': {
    ...COMMON,
    name: 'rcar-gen4',
    numberOfContexts: 16,
    numUtlbs: 64,
    ctxOffsetBase: 0x10000,
    ctxOffsetStride: 0x1040,
    utlbOffsetBase: 0x3000,
    nsAliasOffset: null,
    hasImbuscr: false,
    windowSize: 0x40000,
  },
};

export function ipmmuFeatures(name: string, overrides: Partial<IpmmuFeatures> = {}): IpmmuFeatures {
  const f = IPMMU_FEATURES[name];
  if (!f) throw new Error(`unknown IPMMU generation '${name}' (known: ${Object.keys(IPMMU_FEATURES).join(', ')})`);
  return { ...f, ...overrides, iotlb: { ...f.iotlb, ...(overrides.iotlb ?? {}) } };
}

/** Window offset of a context register (ipmmu_ctx_reg, ipmmu-vmsa.c:188-197). */
export function ipmmuCtxReg(f: IpmmuFeatures, ctx: number, reg: number): number {
  let base = f.ctxOffsetBase;
  if (ctx > 7) base += 0x800 - 8 * 0x40;
  return (f.nsAliasOffset ?? 0) + base + ctx * f.ctxOffsetStride + reg;
}

export function ipmmuUtlbReg(f: IpmmuFeatures, reg: number): number {
  return (f.nsAliasOffset ?? 0) + f.utlbOffsetBase + reg;
}

function regDefs(f: IpmmuFeatures): RegDef[] {
  const regs: RegDef[] = [];
  for (let c = 0; c < f.numberOfContexts; c++) {
    const at = (r: number) => ipmmuCtxReg(f, c, r);
    regs.push(
      { name: `IMCTR.${c}`, offset: at(IMCTR), access: 'rw', reset: 0, writable: IMCTR_INTEN | IMCTR_FLUSH | IMCTR_MMUEN },
      { name: `IMTTBCR.${c}`, offset: at(IMTTBCR), access: 'rw', reset: 0 },
      { name: `IMTTLBR0.${c}`, offset: at(IMTTLBR0), access: 'rw', reset: 0 },
      { name: `IMTTUBR0.${c}`, offset: at(IMTTUBR0), access: 'rw', reset: 0, writable: 0xff },
      { name: `IMSTR.${c}`, offset: at(IMSTR), access: 'rw', reset: 0 },
      { name: `IMMAIR0.${c}`, offset: at(IMMAIR0), access: 'rw', reset: 0 },
      { name: `IMELAR.${c}`, offset: at(IMELAR), access: 'ro', reset: 0 },
      { name: `IMEUAR.${c}`, offset: at(IMEUAR), access: 'ro', reset: 0 },
    );
    if (f.hasImbuscr) regs.push({ name: `IMBUSCR.${c}`, offset: at(IMBUSCR), access: 'rw', reset: 0, writable: 0x7 });
  }
  for (let u = 0; u < f.numUtlbs; u++) {
    regs.push(
      { name: `IMUCTR.${u}`, offset: ipmmuUtlbReg(f, imuctrOffset(u)), access: 'rw', reset: 0, writable: 0xf3 },
      { name: `IMUASID.${u}`, offset: ipmmuUtlbReg(f, imuasidOffset(u)), access: 'rw', reset: 0, writable: 0xff },
    );
  }
  return regs;
}

export interface IpmmuOptions extends IommuBlockOptions {
  features: IpmmuFeatures;
  /** The root (main) IPMMU holding the contexts; omit for the root itself. */
  root?: IpmmuVmsa;
  /** The root's interrupt lines (all carry the same fault output). */
  irqs?: number[];
}

export class IpmmuVmsa extends RegisterFile implements TranslationPort {
  readonly name: string;
  readonly features: IpmmuFeatures;
  readonly root: IpmmuVmsa;
  readonly tlb: Iotlb;
  readonly bus: DeviceView;
  private readonly leaves: IpmmuVmsa[] = [];
  private readonly irqSources: IrqSource[];
  private flushDue: number[] = [];
  /** The last table walk made for a master behind this IPMMU (for --explain). */
  lastWalk: WalkResult | undefined;
  private format: PageTableFormat | undefined;
  private cfg: ResolvedConfig | undefined;

  constructor(opts: IpmmuOptions) {
    const clock = opts.clock ?? opts.root?.clockRef ?? new SimClock();
    super(opts.name, regDefs(opts.features), opts.features.windowSize, clock, opts.tracer, opts.poweredOffAccess ?? 'read-zero', opts.timing ?? DEFAULT_TIMING);
    this.name = opts.name;
    this.features = opts.features;
    this.root = opts.root ?? this;
    if (opts.root) opts.root.leaves.push(this);
    this.tlb = new Iotlb({ ...opts.features.iotlb, pageSize: 4096 });
    this.bus = new DeviceView(opts.mem, opts.features.walkerBusBits, 'bus-error');
    this.irqSources = opts.irq ? (opts.irqs ?? []).map((n) => opts.irq!.source(n, this.name)) : [];
    this.flushDue = new Array<number>(opts.features.numberOfContexts).fill(-1);
  }

  /** @internal */
  get clockRef(): SimClock {
    return this.clock;
  }

  /** Register value by name and context/uTLB, e.g. reg('IMSTR', 0). No side effects. */
  reg(name: string, index: number): number {
    return this.get(`${name}.${index}`);
  }

  protected override settle(): void {
    for (let c = 0; c < this.flushDue.length; c++) {
      if (this.flushDue[c] >= 0 && this.clock.ns >= this.flushDue[c]) {
        this.flushDue[c] = -1;
        this.set(`IMCTR.${c}`, this.get(`IMCTR.${c}`) & ~IMCTR_FLUSH);
      }
    }
  }

  protected override onWrite(reg: RegDef, written: number, next: number): number {
    const [name, idx] = reg.name.split('.');
    const i = Number(idx);
    switch (name) {
      case 'IMCTR':
        if (written & IMCTR_FLUSH) {
          this.flushContext(i);
          if (this.features.flushLatencyNs > 0) this.flushDue[i] = this.clock.ns + this.features.flushLatencyNs;
          else next &= ~IMCTR_FLUSH;
        }
        return next;
      case 'IMSTR': {
        const v = (this.get(reg.name) & written) >>> 0;
        if ((v & IMSTR_ERR) === 0) {
          this.set(`IMELAR.${i}`, 0);
          this.set(`IMEUAR.${i}`, 0);
        }
        return v;
      }
      case 'IMUCTR':
        if (written & IMUCTR_FLUSH) this.flushUtlb(i, next);
        return next & ~IMUCTR_FLUSH;
      default:
        return next;
    }
  }

  protected override afterWrite(reg: RegDef): void {
    if (reg.name.startsWith('IMCTR.') || reg.name.startsWith('IMSTR.')) this.updateIrq();
  }

  private flushContext(ctx: number): void {
    const n = this.tlb.invalidateTag(ctx);
    this.tracer?.emit('hw', 'ipmmu_flush', { device: this.name, ctx, entries: n });
    // A root flush also reaches the cached translations of the leaves in front of it.
    if (this.root === this) for (const l of this.leaves) l.tlb.invalidateTag(ctx);
  }

  private flushUtlb(_utlb: number, ctl: number): void {
    this.tlb.invalidateTag((ctl >>> 4) & 0xf);
  }

  updateIrq(): void {
    if (this.irqSources.length === 0) return;
    let level = false;
    if (this.powered)
      for (let c = 0; c < this.features.numberOfContexts; c++)
        if (this.get(`IMSTR.${c}`) & IMSTR_ERR && this.get(`IMCTR.${c}`) & IMCTR_INTEN) level = true;
    for (const s of this.irqSources) s.set(level);
  }

  /** Switch the power domain. Off: registers unreachable; on again: registers at reset, IOTLB empty. */
  setPower(on: boolean): void {
    switchPower(this, on, this.tracer, () => {
      this.resetRegisters();
      this.tlb.invalidateAll();
    });
  }

  private fmt(): { fmt: PageTableFormat; cfg: ResolvedConfig } {
    if (!this.format || !this.cfg) {
      this.format = getFormat('arm-32-lpae-s1');
      // What ipmmu_domain_init_context asks io-pgtable for (ipmmu-vmsa.c:430-444).
      this.cfg = this.format.resolveConfig({ granule: 4096, ias: 32, oas: 40, quirks: ['ARM_NS'], coherentWalk: false, pgsizeBitmap: 0x4020_1000 });
    }
    return { fmt: this.format, cfg: this.cfg };
  }

  /** Latch a fault in the root's context (the first one's address is kept until software clears IMSTR). */
  private fault(ctx: number, bit: number, iova: number, detail: string): Translation {
    const root = this.root;
    const st = root.get(`IMSTR.${ctx}`);
    if ((st & IMSTR_ERR) === 0) {
      root.set(`IMELAR.${ctx}`, lo32(iova));
      root.set(`IMEUAR.${ctx}`, hi32(iova));
    }
    root.set(`IMSTR.${ctx}`, st | bit);
    root.tracer?.emit('hw', 'ipmmu_fault', { device: root.name, via: this.name, ctx, status: st | bit, iova, detail });
    root.updateIrq();
    return { status: bit === IMSTR_ABORT ? 'bus-error' : 'fault', phys: 0, span: 0, bus: undefined, detail };
  }

  /** `stream` is the master's uTLB number on this IPMMU (the DT's iommus cell). */
  translate(stream: number, iova: number, access: AccessKind): Translation {
    const span = 4096 - (iova % 4096);
    if (!this.powered || !this.root.powered)
      return { status: 'bus-error', phys: 0, span: 0, bus: undefined, detail: `${this.name} is powered off` };
    if (stream < 0 || stream >= this.features.numUtlbs)
      return { status: 'bus-error', phys: 0, span: 0, bus: undefined, detail: `${this.name} has no uTLB ${stream}` };
    const uctr = this.get(`IMUCTR.${stream}`);
    if (!(uctr & IMUCTR_MMUEN)) return { status: 'ok', phys: iova, span, bus: this.bus, via: 'bypass' };
    const ctx = (uctr >>> 4) & 0xf;
    const root = this.root;
    if (ctx >= root.features.numberOfContexts) return this.fault(0, IMSTR_TF, iova, `uTLB ${stream} selects context ${ctx}, which does not exist`);
    if (!(root.get(`IMCTR.${ctx}`) & IMCTR_MMUEN)) return { status: 'ok', phys: iova, span, bus: this.bus, via: 'bypass' };
    const write = access === 'write';

    const hit = this.tlb.lookup(ctx, iova);
    if (hit) {
      if (write && !(hit.prot & IOMMU_WRITE)) return this.fault(ctx, IMSTR_PF, iova, 'TLB entry is read-only');
      return { status: 'ok', phys: hit.phys + (iova % 4096), span, bus: root.bus, via: 'tlb' };
    }
    if (!(root.get(`IMTTBCR.${ctx}`) & IMTTBCR_EAE))
      return this.fault(ctx, IMSTR_TF, iova, 'IMTTBCR.EAE clear: short-descriptor tables are not modelled');
    const { fmt, cfg } = this.fmt();
    const ttbr = join64(root.get(`IMTTUBR0.${ctx}`), root.get(`IMTTLBR0.${ctx}`));
    const roots = fmt.decodeRootRegister(ttbr, cfg);
    const r = fmt.walk(root.bus, { roots, cfg }, iova);
    this.lastWalk = r;
    this.tracer?.emit('hw', 'walk', { device: this.name, ctx, iova, ttbr, phys: r.phys, fault: r.fault, steps: r.steps.length });
    if (r.fault !== null || r.phys === null) return this.fault(ctx, imstrBitFor(r.fault), iova, r.detail ?? `walk: ${r.fault}`);
    if (write && !(r.prot & IOMMU_WRITE)) return this.fault(ctx, IMSTR_PF, iova, `write to read-only page at ${hex(iova)}`);
    if (!write && !(r.prot & IOMMU_READ)) return this.fault(ctx, IMSTR_PF, iova, `read of unreadable page at ${hex(iova)}`);
    this.tlb.insert(ctx, iova, r.phys, r.prot);
    return { status: 'ok', phys: r.phys, span, bus: root.bus, via: 'walk' };
  }
}

function imstrBitFor(f: FaultKind | null): number {
  switch (f) {
    case 'bus':
      return IMSTR_ABORT;
    case 'permission':
      return IMSTR_PF;
    default:
      return IMSTR_TF;
  }
}
