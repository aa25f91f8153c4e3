/**
 * Apple DART (the IOMMU of Apple silicon), modelled at the registers drivers/iommu/apple-dart.c (6.12)
 * uses. Register layouts per generation are data (DART_VARIANTS), following the driver's
 * apple_dart_hw tables (apple-dart.c:1203-1296):
 *
 * - PARAMS1 bits 27:24 = page shift (14: 16 KiB pages on t8103/t6000), PARAMS2 bit 0 = bypass
 *   supported (apple-dart.c:43-47); t8110 adds PARAMS3 (PA/VA width) and PARAMS4 (number of SIDs).
 * - Per stream: a TCR (translate enable / bypass) and TTBRs (4 per stream on t8020/t6000, 1 on t8110),
 *   at tcr + 4*sid and ttbr + 4*(ttbr_count*sid + idx) (apple-dart.c:147-151). TTBR encoding
 *   t8020/t6000: bit 31 valid, PA >> 12 in bits 30:0; t8110: bit 0 valid, (PA >> 14) << 2.
 * - TLB invalidation: t8020/t6000 write the stream bitmap to STREAM_SELECT and INVALIDATE to
 *   STREAM_COMMAND, then poll its BUSY bit (apple-dart.c:370-398); t8110 writes op|sid to TLB_CMD and
 *   polls bit 31 (:400-436).
 * - Faults: the ERROR register holds flag (bit 31), stream and a one-hot code; ERROR_ADDR_LO/HI the
 *   IOVA. Software clears it by writing the value back (write-1-to-clear, apple-dart.c:1040, 1082,
 *   and the reset path writes readl(error) back, :463).
 * - CONFIG bit 15 (t8020) / PROTECT (t8110) locks the TTBR/TCR registers "until reboot"
 *   (apple-dart.c:455-460): a firmware-locked DART ignores those writes.
 * Translation walks the 'apple-dart' (t8103) or 'apple-dart2' (t6000, t8110) format from the registry.
 */
import { hex, hi32, lo32 } from '../addr.js';
import { DeviceView } from '../mem/device-view.js';
import { getFormat } from '../formats/index.js';
import { IOMMU_READ, IOMMU_WRITE, type PageTableFormat, type ResolvedConfig, type WalkResult } from '../formats/types.js';
import { SimClock } from '../trace/events.js';
import { Iotlb, type ReplacementPolicy } from './iotlb.js';
import type { IrqSource } from './irq.js';
import { DEFAULT_TIMING, RegisterFile, fieldGet, type IommuBlockOptions, type RegDef } from './mmio.js';
import type { AccessKind, Translation, TranslationPort } from './port.js';
import { switchPower } from './power.js';

export interface DartErrorCodes {
  readFault: number;
  writeFault: number;
  noPte: number;
  noPmd: number;
  /** 0 where the generation has no such code. */
  noPgd: number;
  noTtbr: number;
}

export interface DartVariant {
  compatible: string;
  /** Register generation (the driver's dart_type). */
  type: 't8020' | 't6000' | 't8110';
  format: 'apple-dart' | 'apple-dart2';
  ias: number;
  oas: number;
  numStreams: number;
  /** log2 of the hardware page size, reported in PARAMS1[27:24]. */
  pageShift: number;
  /** PARAMS2 bit 0. */
  bypassSupported: boolean;
  tlbProtocol: 'stream-select' | 'tlb-cmd';
  regs: {
    streamCommand: number;
    streamSelect: number;
    tlbCmd: number;
    error: number;
    errorAddrLo: number;
    errorAddrHi: number;
    /** t8110 only: error mask and per-stream error bits; -1 when absent. */
    errorMask: number;
    errorStreams: number;
    lock: number;
    lockBit: number;
    enableStreams: number;
    tcr: number;
    ttbr: number;
    ttbrCount: number;
  };
  tcrBits: { translate: number; bypassDart: number; bypassDapf: number };
  ttbrEnc: { valid: number; addrFieldShift: number; shift: number };
  errorFields: { flag: number; streamHi: number; streamLo: number; codeHi: number; codeLo: number; codes: DartErrorCodes };
  commandBusyBit: number;
  invalidateBit: number;
  iotlb: { entries: number; policy: ReplacementPolicy };
  /** Simulated time a TLB command keeps the BUSY bit set. */
  busyLatencyNs: number;
  /** Firmware locked the DART before Linux started. */
  lockedAtBoot: boolean;
  windowSize: number;
}

const T8020_REGS = {
  streamCommand: 0x20,
  streamSelect: 0x34,
  tlbCmd: -1,
  error: 0x40,
  errorAddrLo: 0x50,
  errorAddrHi: 0x54,
  errorMask: -1,
  errorStreams: -1,
  lock: 0x60,
  lockBit: 1 << 15,
  enableStreams: 0xfc,
  tcr: 0x100,
  ttbr: 0x200,
  ttbrCount: 4,
};

const T8020_COMMON = {
  ias: 32,
  pageShift: 14,
  bypassSupported: true,
  tlbProtocol: 'stream-select' as const,
  tcrBits: { translate: 1 << 7, bypassDart: 1 << 8, bypassDapf: 1 << 12 },
  ttbrEnc: { valid: 0x8000_0000, addrFieldShift: 0, shift: 12 },
  errorFields: {
    flag: 0x8000_0000,
    streamHi: 27,
    streamLo: 24,
    codeHi: 11,
    codeLo: 0,
    codes: { readFault: 1 << 4, writeFault: 1 << 3, noPte: 1 << 2, noPmd: 1 << 1, noPgd: 0, noTtbr: 1 << 0 },
  },
  commandBusyBit: 1 << 2,
  invalidateBit: 1 << 20,
  iotlb: { entries: 64, policy: 'lru' as ReplacementPolicy },
  busyLatencyNs: 0,
  lockedAtBoot: false,
  windowSize: 0x4000,
};

export const DART_VARIANTS: Record<string, DartVariant> = {
  'apple,t8103-dart': {
    ...T8020_COMMON,
    compatible: 'apple,t8103-dart',
    type: 't8020',
    format: 'apple-dart',
    oas: 36,
    numStreams: 16,
    regs: T8020_REGS,
  },
  'apple,t8103-usb4-dart': {
    ...T8020_COMMON,
    compatible: 'apple,t8103-usb4-dart',
    type: 't8020',
    format: 'apple-dart',
    oas: 36,
    numStreams: 64,
    // The driver gives this DART no bypass TCR value (apple-dart.c:1233); we take that as the
    // hardware not offering bypass, and report it in PARAMS2.
    bypassSupported: false,
    regs: { ...T8020_REGS, ttbr: 0x400 },
  },
  'apple,t6000-dart': {
    ...T8020_COMMON,
    compatible: 'apple,t6000-dart',
    type: 't6000',
    format: 'apple-dart2',
    oas: 42,
    numStreams: 16,
    regs: T8020_REGS,
  },
  'apple,t8110-dart': {
    ...T8020_COMMON,
    compatible: 'apple,t8110-dart',
    type: 't8110',
    format: 'apple-dart2',
    ias: 32,
    oas: 42,
    numStreams: 256,
    tlbProtocol: 'tlb-cmd',
    regs: {
      streamCommand: -1,
      streamSelect: -1,
      tlbCmd: 0x80,
      error: 0x100,
      errorAddrLo: 0x170,
      errorAddrHi: 0x174,
      errorMask: 0x104,
      errorStreams: 0x1c0,
      lock: 0x200,
      lockBit: 1 << 0,
      enableStreams: 0xc00,
      tcr: 0x1000,
      ttbr: 0x1400,
      ttbrCount: 1,
    },
    tcrBits: { translate: 1 << 0, bypassDart: 1 << 1, bypassDapf: 1 << 2 },
    ttbrEnc: { valid: 1 << 0, addrFieldShift: 2, shift: 14 },
    errorFields: {
      flag: 0x8000_0000,
      streamHi: 27,
      streamLo: 20,
      codeHi: 14,
      codeLo: 0,
      codes: { readFault: 1 << 5, writeFault: 1 << 4, noPte: 1 << 3, noPmd: 1 << 2, noPgd: 1 << 1, noTtbr: 1 << 0 },
    },
    commandBusyBit: 0x8000_0000,
    invalidateBit: 0,
  },
};

export function dartVariant(compatible: string, overrides: Partial<DartVariant> = {}): DartVariant {
  const v = DART_VARIANTS[compatible];
  if (!v) throw new Error(`unknown DART '${compatible}' (known: ${Object.keys(DART_VARIANTS).join(', ')})`);
  return { ...v, ...overrides, iotlb: { ...v.iotlb, ...(overrides.iotlb ?? {}) } };
}

function regDefs(v: DartVariant): RegDef[] {
  const r = v.regs;
  const words = Math.ceil(v.numStreams / 32);
  const regs: RegDef[] = [
    { name: 'PARAMS1', offset: 0x00, access: 'ro', reset: (v.pageShift << 24) >>> 0 },
    { name: 'PARAMS2', offset: 0x04, access: 'ro', reset: v.bypassSupported ? 1 : 0 },
    { name: 'ERROR', offset: r.error, access: 'w1c', reset: 0 },
    { name: 'ERROR_ADDR_LO', offset: r.errorAddrLo, access: 'ro', reset: 0 },
    { name: 'ERROR_ADDR_HI', offset: r.errorAddrHi, access: 'ro', reset: 0 },
    { name: 'LOCK', offset: r.lock, access: 'rw', reset: v.lockedAtBoot ? r.lockBit : 0 },
  ];
  if (v.type === 't8110') {
    regs.push(
      { name: 'PARAMS3', offset: 0x08, access: 'ro', reset: ((v.oas << 24) | (v.ias << 16)) >>> 0 },
      { name: 'PARAMS4', offset: 0x0c, access: 'ro', reset: v.numStreams & 0x1ff },
      { name: 'ERROR_MASK', offset: r.errorMask, access: 'rw', reset: 0 },
    );
    for (let i = 0; i < words; i++) regs.push({ name: `ERROR_STREAMS.${i}`, offset: r.errorStreams + 4 * i, access: 'w1c', reset: 0 });
  }
  if (v.tlbProtocol === 'stream-select') {
    regs.push({ name: 'STREAM_COMMAND', offset: r.streamCommand, access: 'rw', reset: 0 });
    for (let i = 0; i < words; i++) regs.push({ name: `STREAM_SELECT.${i}`, offset: r.streamSelect + 4 * i, access: 'rw', reset: 0 });
  } else {
    regs.push({ name: 'TLB_CMD', offset: r.tlbCmd, access: 'rw', reset: 0 });
  }
  // With 64 streams (t8103 USB4 DART) the driver's second enable word, 0xfc + 4, is TCR 0 (0x100):
  // declare only the words that do not collide; streams without a word count as enabled.
  for (let i = 0; i < words; i++) {
    const at = r.enableStreams + 4 * i;
    if (at >= r.tcr && at < r.tcr + 4 * v.numStreams) break;
    regs.push({ name: `ENABLE_STREAMS.${i}`, offset: at, access: 'rw', reset: 0 });
  }
  for (let s = 0; s < v.numStreams; s++) {
    regs.push({ name: `TCR.${s}`, offset: r.tcr + 4 * s, access: 'rw', reset: 0 });
    for (let t = 0; t < r.ttbrCount; t++)
      regs.push({ name: `TTBR.${s}.${t}`, offset: r.ttbr + 4 * (r.ttbrCount * s + t), access: 'rw', reset: 0 });
  }
  return regs;
}

export interface DartOptions extends IommuBlockOptions {
  variant: DartVariant;
}

export type DartFaultName = 'READ FAULT' | 'WRITE FAULT' | 'NO PTE FOR IOVA' | 'NO PMD FOR IOVA' | 'NO PGD FOR IOVA' | 'NO TTBR FOR IOVA';

export class AppleDart extends RegisterFile implements TranslationPort {
  readonly name: string;
  readonly variant: DartVariant;
  readonly tlb: Iotlb;
  readonly bus: DeviceView;
  private readonly irqSources: IrqSource[];
  private busyUntil = -1;
  /** The last table walk (for --explain). */
  lastWalk: WalkResult | undefined;
  private readonly enableWords: number;
  private format: PageTableFormat | undefined;
  private cfg: ResolvedConfig | undefined;

  constructor(opts: DartOptions) {
    super(opts.name, regDefs(opts.variant), opts.variant.windowSize, opts.clock ?? new SimClock(), opts.tracer, opts.poweredOffAccess ?? 'read-zero', opts.timing ?? DEFAULT_TIMING);
    this.name = opts.name;
    this.variant = opts.variant;
    this.tlb = new Iotlb({ ...opts.variant.iotlb, pageSize: 2 ** opts.variant.pageShift });
    this.bus = new DeviceView(opts.mem, opts.variant.oas, 'bus-error');
    this.irqSources = opts.irq ? (opts.irqs ?? []).map((n) => opts.irq!.source(n, this.name)) : [];
    this.enableWords = this.regs.filter((r) => r.name.startsWith('ENABLE_STREAMS.')).length;
  }

  /** Register offsets of one stream (for drivers and tests). */
  tcrOffset(sid: number): number {
    return this.variant.regs.tcr + 4 * sid;
  }

  ttbrOffset(sid: number, idx: number): number {
    return this.variant.regs.ttbr + 4 * (this.variant.regs.ttbrCount * sid + idx);
  }

  /** The TTBR value that names a table at `pa` (what apple_dart_hw_set_ttbr writes, apple-dart.c:337-348). */
  ttbrValue(pa: number): number {
    const e = this.variant.ttbrEnc;
    return (e.valid | (Math.floor(pa / 2 ** e.shift) * 2 ** e.addrFieldShift)) >>> 0;
  }

  private get locked(): boolean {
    return (this.get('LOCK') & this.variant.regs.lockBit) !== 0;
  }

  protected override settle(): void {
    if (this.busyUntil >= 0 && this.clock.ns >= this.busyUntil) {
      this.busyUntil = -1;
      if (this.variant.tlbProtocol === 'stream-select') this.set('STREAM_COMMAND', this.get('STREAM_COMMAND') & ~this.variant.commandBusyBit);
      else this.set('TLB_CMD', this.get('TLB_CMD') & ~this.variant.commandBusyBit);
    }
  }

  protected override onWrite(reg: RegDef, written: number, next: number): number {
    const v = this.variant;
    const name = reg.name.split('.')[0];
    switch (name) {
      case 'LOCK':
        // the lock bit sticks until reset ("locked down until reboot")
        return (next | (this.get('LOCK') & v.regs.lockBit)) >>> 0;
      case 'TCR':
      case 'TTBR':
        if (this.locked) {
          this.tracer?.emit('hw', 'dart_locked_write', { device: this.name, reg: reg.name, value: written });
          return this.get(reg.name);
        }
        return next;
      case 'STREAM_COMMAND': {
        if (written & v.invalidateBit) {
          const words = Math.ceil(v.numStreams / 32);
          const sids: number[] = [];
          for (let w = 0; w < words; w++) {
            const sel = this.get(`STREAM_SELECT.${w}`);
            for (let b = 0; b < 32; b++) if (sel & (1 << b) && w * 32 + b < v.numStreams) sids.push(w * 32 + b);
          }
          for (const s of sids) this.tlb.invalidateTag(s);
          this.tracer?.emit('hw', 'dart_tlb_invalidate', { device: this.name, streams: sids });
          return this.startBusy(written);
        }
        return written & ~v.commandBusyBit;
      }
      case 'TLB_CMD': {
        const op = fieldGet(written, 10, 8);
        const sid = fieldGet(written, 7, 0);
        if (op === 0) this.tlb.invalidateAll();
        else if (op === 1) this.tlb.invalidateTag(sid);
        else this.tracer?.emit('hw', 'mmio_bad_value', { device: this.name, reg: 'TLB_CMD', value: written });
        this.tracer?.emit('hw', 'dart_tlb_invalidate', { device: this.name, streams: op === 0 ? 'all' : [sid] });
        return this.startBusy(written);
      }
      default:
        return next;
    }
  }

  private startBusy(written: number): number {
    const busy = this.variant.commandBusyBit;
    if (this.variant.busyLatencyNs > 0) {
      this.busyUntil = this.clock.ns + this.variant.busyLatencyNs;
      return (written | busy) >>> 0;
    }
    return (written & ~busy) >>> 0;
  }

  protected override afterWrite(reg: RegDef): void {
    if (reg.name === 'ERROR' || reg.name === 'ERROR_MASK') this.updateIrq();
  }

  updateIrq(): void {
    const level = this.powered && (this.get('ERROR') & this.variant.errorFields.flag) !== 0;
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
      this.format = getFormat(this.variant.format);
      this.cfg = this.format.resolveConfig({
        granule: 2 ** this.variant.pageShift,
        ias: this.variant.ias,
        oas: this.variant.oas,
        coherentWalk: true,
        rootRegisterEncoding: this.variant.type === 't8110' ? 't8110' : 't8020',
      });
    }
    return { fmt: this.format, cfg: this.cfg };
  }

  /** Latch a fault (the first one stays until software clears the flag). */
  private fault(sid: number, code: number, iova: number, detail: string): Translation {
    const ef = this.variant.errorFields;
    const cur = this.get('ERROR');
    if (!(cur & ef.flag)) {
      const value = (ef.flag | (((sid % 2 ** (ef.streamHi - ef.streamLo + 1)) * 2 ** ef.streamLo) >>> 0) | code) >>> 0;
      this.set('ERROR', value);
      this.set('ERROR_ADDR_LO', lo32(iova));
      this.set('ERROR_ADDR_HI', hi32(iova));
      if (this.variant.type === 't8110') {
        const w = Math.floor(sid / 32);
        this.set(`ERROR_STREAMS.${w}`, this.get(`ERROR_STREAMS.${w}`) | (1 << (sid % 32)));
      }
    }
    this.tracer?.emit('hw', 'dart_fault', { device: this.name, sid, code, iova, detail });
    this.updateIrq();
    return { status: 'fault', phys: 0, span: 0, bus: undefined, detail };
  }

  /** The name the driver prints for an error code (exact match, apple-dart.c:1022-1033). */
  static faultName(codes: DartErrorCodes, code: number): DartFaultName | 'unknown' {
    if (code === codes.readFault) return 'READ FAULT';
    if (code === codes.writeFault) return 'WRITE FAULT';
    if (code === codes.noPte) return 'NO PTE FOR IOVA';
    if (code === codes.noPmd) return 'NO PMD FOR IOVA';
    if (codes.noPgd !== 0 && code === codes.noPgd) return 'NO PGD FOR IOVA';
    if (code === codes.noTtbr) return 'NO TTBR FOR IOVA';
    return 'unknown';
  }

  translate(sid: number, iova: number, access: AccessKind): Translation {
    const v = this.variant;
    const pageSize = 2 ** v.pageShift;
    const span = pageSize - (iova % pageSize);
    if (!this.powered) return { status: 'bus-error', phys: 0, span: 0, bus: undefined, detail: `${this.name} is powered off` };
    if (sid < 0 || sid >= v.numStreams) return { status: 'bus-error', phys: 0, span: 0, bus: undefined, detail: `${this.name} has no stream ${sid}` };
    const word = Math.floor(sid / 32);
    const enabled = word < this.enableWords ? (this.get(`ENABLE_STREAMS.${word}`) >>> (sid % 32)) & 1 : 1;
    const tcr = this.get(`TCR.${sid}`);
    if (!enabled) return { status: 'blocked', phys: 0, span: 0, bus: undefined, detail: `stream ${sid} is not enabled` };
    if (tcr & v.tcrBits.bypassDart && v.bypassSupported) return { status: 'ok', phys: iova, span, bus: this.bus, via: 'bypass' };
    if (!(tcr & v.tcrBits.translate))
      return { status: 'blocked', phys: 0, span: 0, bus: undefined, detail: `stream ${sid}: TCR ${hex(tcr)} neither translates nor bypasses` };
    const codes = v.errorFields.codes;
    const write = access === 'write';
    const hit = this.tlb.lookup(sid, iova);
    if (hit) {
      if (write && !(hit.prot & IOMMU_WRITE)) return this.fault(sid, codes.writeFault, iova, 'TLB entry forbids writes');
      if (!write && !(hit.prot & IOMMU_READ)) return this.fault(sid, codes.readFault, iova, 'TLB entry forbids reads');
      return { status: 'ok', phys: hit.phys + (iova % pageSize), span, bus: this.bus, via: 'tlb' };
    }
    const { fmt, cfg } = this.fmt();
    const roots: number[] = [];
    for (let t = 0; t < v.regs.ttbrCount; t++) {
      const raw = this.get(`TTBR.${sid}.${t}`);
      if (raw & v.ttbrEnc.valid) roots[t] = fmt.decodeRootRegister(raw, cfg)[0];
    }
    const r = fmt.walk(this.bus, { roots, cfg }, iova);
    this.lastWalk = r;
    this.tracer?.emit('hw', 'walk', { device: this.name, sid, iova, phys: r.phys, fault: r.fault, steps: r.steps.length });
    if (r.fault === 'bus') return { status: 'bus-error', phys: 0, span: 0, bus: undefined, detail: r.detail ?? 'table walk read error' };
    if (r.fault !== null || r.phys === null) return this.fault(sid, codeForWalk(r, codes), iova, r.detail ?? `walk: ${r.fault}`);
    if (write && !(r.prot & IOMMU_WRITE)) return this.fault(sid, codes.writeFault, iova, `PTE forbids writes at ${hex(iova)}`);
    if (!write && !(r.prot & IOMMU_READ)) return this.fault(sid, codes.readFault, iova, `PTE forbids reads at ${hex(iova)}`);
    this.tlb.insert(sid, iova, r.phys, r.prot);
    return { status: 'ok', phys: r.phys, span, bus: this.bus, via: 'walk' };
  }
}

/** Which level of the walk failed decides the code: no TTBR, no L1 entry (PMD), no L2 entry (PTE). */
function codeForWalk(r: WalkResult, codes: DartErrorCodes): number {
  const last = r.steps[r.steps.length - 1];
  if (!last) return codes.noTtbr;
  if (last.kind === 'invalid' || last.kind === 'bogus') return last.level === 1 ? codes.noPmd : codes.noPte;
  // a valid L1 entry whose table is unusable (beyond oas) — the L2 lookup failed
  return last.level === 1 ? codes.noPte : codes.noPte;
}
