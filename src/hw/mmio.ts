/**
 * The register boundary every hardware model presents: 32-bit reads and writes at byte offsets of an
 * MMIO window, as rp2040js/avr8js peripherals do. Registers are declared once, as data (name, offset,
 * reset value, which bits software can write), in the spirit of QEMU's REG32/FIELD; a model adds the
 * side effects of the registers that have any (commands, write-1-to-clear status, read-only status).
 *
 * Things a real bus would do and a model must not hide:
 * - an offset with no register behind it is a trace event ('mmio_unmapped'), never a silent success
 *   (reads return 0, as most SoC interconnects answer a hole in a peripheral's window with zeros);
 * - a register access to a block whose power domain is off does not reach it: depending on the SoC
 *   it reads zero or ends in a bus fault (`poweredOffAccess`); either way a trace event says so;
 * - every access costs simulated time, so a driver's poll loop advances the clock.
 */
import type { MemWriter } from '../mem/phys-mem.js';
import type { SimClock, Tracer } from '../trace/events.js';
import type { IrqController } from './irq.js';

export interface MmioDevice {
  /** Size of the window in bytes. */
  readonly windowSize: number;
  readUint32(offset: number): number;
  writeUint32(offset: number, value: number): void;
}

/** How software sees a register's bits. */
export type RegAccess = 'rw' | 'ro' | 'wo' | 'w1c';

export interface RegDef {
  name: string;
  offset: number;
  access: RegAccess;
  /** Value after reset / power-on. */
  reset: number;
  /** Bits a write changes (for 'rw'); the rest keep their value. Default: all 32. */
  writable?: number;
  /** One line on what the register means, for traces and --explain. */
  doc?: string;
}

/** What a register access to a powered-off block does. */
export type PoweredOffAccess = 'read-zero' | 'bus-fault';

/** Shared knobs of every MMIO model. */
export interface MmioTiming {
  /** Simulated nanoseconds one register access takes (an APB/AHB access is ~50-200 ns). */
  accessNs: number;
}

export const DEFAULT_TIMING: MmioTiming = { accessNs: 100 };

/** What every IOMMU block model is built from (hw/catalog.ts passes these alike to each). */
export interface IommuBlockOptions {
  /** Device name for traces, e.g. "fde4b000.iommu". */
  name: string;
  /** Physical memory as the interconnect sees it. */
  mem: MemWriter;
  clock?: SimClock;
  tracer?: Tracer;
  irq?: IrqController;
  /** Interrupt numbers (GIC SPI). */
  irqs?: number[];
  poweredOffAccess?: PoweredOffAccess;
  timing?: MmioTiming;
}

/** A fault seen on the register bus (powered-off block with 'bus-fault'), kept for the kernel model to act on. */
export interface MmioBusFault {
  device: string;
  offset: number;
  write: boolean;
  time: number;
}

/**
 * A declared register file: storage for every register of one window plus the bookkeeping shared by
 * all models (power, unknown offsets, timing). Models subclass it and override `onRead`/`onWrite`
 * for registers with side effects.
 */
export abstract class RegisterFile implements MmioDevice {
  protected readonly values: Uint32Array;
  private readonly byOffset = new Map<number, number>();
  private readonly byName = new Map<string, number>();
  powered = true;
  /** Last bus fault from an access to the powered-off block (undefined when none yet). */
  lastBusFault: MmioBusFault | undefined;
  busFaults = 0;

  constructor(
    readonly deviceName: string,
    readonly regs: readonly RegDef[],
    readonly windowSize: number,
    protected readonly clock: SimClock,
    protected readonly tracer: Tracer | undefined,
    readonly poweredOffAccess: PoweredOffAccess = 'read-zero',
    protected readonly timing: MmioTiming = DEFAULT_TIMING,
  ) {
    this.values = new Uint32Array(regs.length);
    regs.forEach((r, i) => {
      if (this.byOffset.has(r.offset)) throw new Error(`${deviceName}: two registers at offset 0x${r.offset.toString(16)}`);
      this.byOffset.set(r.offset, i);
      this.byName.set(r.name, i);
    });
    this.resetRegisters();
  }

  /** Every register back to its reset value (power-on, force reset, master reset). */
  protected resetRegisters(): void {
    this.regs.forEach((r, i) => (this.values[i] = r.reset >>> 0));
  }

  protected indexOf(offset: number): number | undefined {
    return this.byOffset.get(offset);
  }

  /** Raw value of a register by name (for subclasses; no side effects). */
  protected get(name: string): number {
    const i = this.byName.get(name);
    if (i === undefined) throw new Error(`${this.deviceName}: no register ${name}`);
    return this.values[i];
  }

  protected set(name: string, value: number): void {
    const i = this.byName.get(name);
    if (i === undefined) throw new Error(`${this.deviceName}: no register ${name}`);
    this.values[i] = value >>> 0;
  }

  /**
   * Every register as software would read it now, by name (for --explain and dumps). No clock
   * advance, no trace events; reads have no side effects in these models.
   */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    this.settle();
    this.regs.forEach((r, i) => {
      if (r.access !== 'wo') out[r.name] = this.onRead(r, this.values[i]) >>> 0;
    });
    return out;
  }

  /** Subclasses: called after time advanced, before an access is served (apply due state changes). */
  protected settle(): void {}

  /** Value software reads; default: the stored value (write-only registers read 0). */
  protected onRead(reg: RegDef, stored: number): number {
    return reg.access === 'wo' ? 0 : stored;
  }

  /**
   * Side effects of a write. `next` is what plain storage would hold (writable bits applied, w1c
   * applied); return the value to store.
   */
  protected onWrite(_reg: RegDef, _written: number, next: number): number {
    return next;
  }

  readUint32(offset: number): number {
    this.clock.advance(this.timing.accessNs);
    if (!this.powered) return this.offAccess(offset, false, 0);
    this.settle();
    const i = this.byOffset.get(offset);
    if (i === undefined) {
      this.tracer?.emit('hw', 'mmio_unmapped', { device: this.deviceName, offset, write: false });
      return 0;
    }
    const v = this.onRead(this.regs[i], this.values[i]) >>> 0;
    this.tracer?.emit('hw', 'mmio_read', { device: this.deviceName, reg: this.regs[i].name, offset, value: v });
    return v;
  }

  writeUint32(offset: number, value: number): void {
    this.clock.advance(this.timing.accessNs);
    value = value >>> 0;
    if (!this.powered) {
      this.offAccess(offset, true, value);
      return;
    }
    this.settle();
    const i = this.byOffset.get(offset);
    if (i === undefined) {
      this.tracer?.emit('hw', 'mmio_unmapped', { device: this.deviceName, offset, write: true, value });
      return;
    }
    const r = this.regs[i];
    this.tracer?.emit('hw', 'mmio_write', { device: this.deviceName, reg: r.name, offset, value });
    const old = this.values[i];
    let next: number;
    switch (r.access) {
      case 'ro':
        next = old;
        break;
      case 'w1c':
        next = (old & ~value) >>> 0;
        break;
      case 'wo':
      case 'rw': {
        const w = r.writable ?? 0xffffffff;
        next = ((old & ~w) | (value & w)) >>> 0;
        break;
      }
    }
    this.values[i] = this.onWrite(r, value, next) >>> 0;
    this.afterWrite(r);
  }

  /** Subclasses: called once the written value is stored (e.g. to recompute an interrupt output). */
  protected afterWrite(_reg: RegDef): void {}

  private offAccess(offset: number, write: boolean, value: number): number {
    if (this.poweredOffAccess === 'bus-fault') {
      this.busFaults++;
      this.lastBusFault = { device: this.deviceName, offset, write, time: this.clock.ns };
    }
    this.tracer?.emit('hw', 'mmio_powered_off', {
      device: this.deviceName,
      offset,
      write,
      value,
      result: this.poweredOffAccess,
    });
    return 0;
  }
}

/** Bits hi..lo of a 32-bit value (FIELD_GET of GENMASK(hi, lo)). */
export function fieldGet(value: number, hi: number, lo: number): number {
  return ((value >>> 0) >>> lo) % 2 ** (hi - lo + 1);
}
