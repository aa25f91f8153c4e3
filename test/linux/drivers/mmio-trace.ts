/** The register accesses a driver makes, recorded where its readl/writel reach the kernel's MMIO bus. */
import type { MmioBus } from '../../../src/hw/mmio-bus.js';

export interface Access {
  op: 'R' | 'W';
  addr: number;
  value: number;
}

/** Wrap the bus's readl/writel so every access, in order, is appended to the returned list. */
export function traceMmio(bus: MmioBus): Access[] {
  const mmio: Access[] = [];
  const readl = bus.readl.bind(bus);
  const writel = bus.writel.bind(bus);
  bus.readl = (addr: number) => {
    const value = readl(addr);
    mmio.push({ op: 'R', addr, value: value >>> 0 });
    return value;
  };
  bus.writel = (addr: number, value: number) => {
    mmio.push({ op: 'W', addr, value: value >>> 0 });
    writel(addr, value);
  };
  return mmio;
}

export const writes = (m: Access[]): Access[] => m.filter((a) => a.op === 'W');
