/**
 * Tables in dumps that hold them only in part. A dump need not hold every page of a table: makedumpfile
 * leaves out zero-filled pages (-d 1), and our own cores leave out frames never written. A 16 KiB or
 * 64 KiB table is several 4 KiB pages, so its present pages are read and listed and its absent ones
 * are reported as unknown, rather than the whole table being given up.
 */
import type { MemReader } from '../mem/phys-mem.js';

const PAGE = 4096;

/** Whether any 4 KiB page of [addr, addr + size) can be read. */
export function anyPageBacked(mem: MemReader, addr: number, size: number): boolean {
  for (let p = addr; p < addr + size; p = Math.floor(p / PAGE) * PAGE + PAGE) if (mem.isBacked(p, 1)) return true;
  return false;
}

/** Index of the first entry (8 bytes each, from `table`) past the 4 KiB page holding entry i, at most n. */
export function entriesToPageEnd(table: number, i: number, n: number): number {
  const at = table + i * 8;
  return Math.min(n, i + (Math.floor(at / PAGE) * PAGE + PAGE - at) / 8);
}
