/**
 * The SoC's register address map: physical MMIO windows -> device models. The kernel model's
 * readl/writel of an ioremap'd address lands here and is routed to the window's model at the offset
 * within it. An address that no window covers is what a wrong `reg` in a device tree produces: a trace
 * event ('mmio_unmapped', with the address), a read of 0 — never a silent success.
 */
import { hex } from '../addr.js';
import type { Tracer } from '../trace/events.js';
import type { MmioDevice } from './mmio.js';

interface Window {
  base: number;
  size: number;
  device: MmioDevice;
  name: string;
}

export class MmioBus {
  private readonly windows: Window[] = [];
  private last: Window | undefined;
  unmappedAccesses = 0;

  constructor(private readonly tracer?: Tracer) {}

  /** Map `device` at physical [base, base+size). Overlapping windows are a bug in the board data. */
  map(base: number, size: number, device: MmioDevice, name: string): void {
    for (const w of this.windows)
      if (base < w.base + w.size && w.base < base + size)
        throw new Error(`MMIO window ${name} at ${hex(base)} (+${hex(size)}) overlaps ${w.name} at ${hex(w.base)}`);
    this.windows.push({ base, size, device, name });
    this.windows.sort((a, b) => a.base - b.base);
  }

  private find(addr: number): Window | undefined {
    const l = this.last;
    if (l && addr >= l.base && addr < l.base + l.size) return l;
    for (const w of this.windows) {
      if (addr >= w.base && addr < w.base + w.size) {
        this.last = w;
        return w;
      }
    }
    return undefined;
  }

  /** Which window (device name, offset) an address falls in. */
  resolve(addr: number): { name: string; offset: number } | undefined {
    const w = this.find(addr);
    return w ? { name: w.name, offset: addr - w.base } : undefined;
  }

  readl(addr: number): number {
    const w = this.find(addr);
    if (!w) {
      this.unmappedAccesses++;
      this.tracer?.emit('hw', 'mmio_unmapped', { addr, write: false });
      return 0;
    }
    return w.device.readUint32(addr - w.base);
  }

  writel(addr: number, value: number): void {
    const w = this.find(addr);
    if (!w) {
      this.unmappedAccesses++;
      this.tracer?.emit('hw', 'mmio_unmapped', { addr, write: true, value: value >>> 0 });
      return;
    }
    w.device.writeUint32(addr - w.base, value);
  }
}
