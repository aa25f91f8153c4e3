/** RK3568 RAM layouts (board-memory-maps.md: the U-Boot banks as the kernel receives them), shared by the mm tests. */
import type { RamBank } from '../../../src/mem/phys-mem.js';

const G = 0x4000_0000;

export const rk2g: RamBank[] = [{ base: 0x20_0000, size: 0x8000_0000 - 0x20_0000 }];
export const rk4g: RamBank[] = [
  { base: 0x20_0000, size: 0xf000_0000 - 0x20_0000 },
  { base: 0x1_f000_0000, size: 0x1000_0000 },
];
export const rk8g: RamBank[] = [
  { base: 0x20_0000, size: 0xf000_0000 - 0x20_0000 },
  { base: 0x1_0000_0000, size: 4 * G },
];
