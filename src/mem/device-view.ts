/**
 * A bus master's view of physical memory. The CPU reaches all of RAM through the kernel's linear map;
 * a device reaches only what its bus can address. Every access made by an IOMMU's table walker or a DMA
 * engine goes through one of these, so "the walker cannot reach that address" is a mechanism, not a rule
 * written somewhere else.
 *
 * Beyond the bus width an access either raises a bus error (`ACCESS_FAULT`, with `lastFault` saying why)
 * or, when `beyond` is 'truncate', silently drops the high address lines and reaches the aliased low
 * address — both behaviours exist in real interconnects, and seed 000 reports both.
 */
import { ACCESS_FAULT, type MemWriter } from './phys-mem.js';

export type BeyondWidth = 'bus-error' | 'truncate';

export interface DeviceAccessFault {
  addr: number;
  reason: 'beyond-bus' | 'hole';
  busBits: number;
}

export class DeviceView implements MemWriter {
  readonly limit: number;
  /** Set on every failed access; undefined after a successful one is NOT guaranteed (cheap path). */
  lastFault: DeviceAccessFault | undefined;
  /** Number of accesses that went beyond the bus width (truncated or faulted). */
  beyondCount = 0;

  constructor(
    readonly mem: MemWriter,
    readonly busBits: number,
    readonly beyond: BeyondWidth = 'bus-error',
  ) {
    this.limit = 2 ** busBits;
  }

  /** The address the bus actually presents for addr (truncated if that is the bus's behaviour), or -1. */
  route(addr: number): number {
    if (addr < this.limit) return addr;
    this.beyondCount++;
    if (this.beyond === 'truncate') return addr % this.limit;
    this.lastFault = { addr, reason: 'beyond-bus', busBits: this.busBits };
    return ACCESS_FAULT;
  }

  read32(addr: number): number {
    const a = addr < this.limit ? addr : this.route(addr);
    if (a === ACCESS_FAULT) return ACCESS_FAULT;
    const v = this.mem.read32(a);
    if (v === ACCESS_FAULT) this.lastFault = { addr, reason: 'hole', busBits: this.busBits };
    return v;
  }

  write32(addr: number, value: number): boolean {
    const a = addr < this.limit ? addr : this.route(addr);
    if (a === ACCESS_FAULT) return false;
    const ok = this.mem.write32(a, value);
    if (!ok) this.lastFault = { addr, reason: 'hole', busBits: this.busBits };
    return ok;
  }

  isBacked(addr: number, len: number): boolean {
    if (addr + len > this.limit && this.beyond === 'bus-error') return false;
    const a = addr < this.limit ? addr : addr % this.limit;
    return this.mem.isBacked(a, len);
  }
}
