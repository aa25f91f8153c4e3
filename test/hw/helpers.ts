/**
 * Test-side stand-ins for what the kernel model will do: the iopoll loop and the Rockchip driver's
 * register sequences, written from rockchip-iommu.c (6.12) so the tests drive the model exactly as the
 * driver does. They are deliberately tiny; the real driver model lives in src/linux.
 */
import type { SimClock } from '../../src/trace/events.js';
import type { MmioDevice } from '../../src/hw/mmio.js';

/**
 * readx_poll_timeout (include/linux/iopoll.h:36-59): read; stop if cond; if the timeout has passed,
 * read once more and stop; else sleep (usleep_range(sleep/4+1, sleep): we take the upper bound) and loop.
 * Returns 0 or -ETIMEDOUT (-110).
 */
export function pollTimeout<T>(clock: SimClock, read: () => T, cond: (v: T) => boolean, sleepUs: number, timeoutUs: number): number {
  const start = clock.ns;
  for (;;) {
    const v = read();
    if (cond(v)) return 0;
    if (clock.ns - start > timeoutUs * 1000) return cond(read()) ? 0 : -110;
    clock.advance(sleepUs * 1000);
  }
}

const DTE_ADDR = 0x00, STATUS = 0x04, COMMAND = 0x08, INT_MASK = 0x1c, AUTO_GATING = 0x24;
const PAGING = 1, STALL = 4, PF_ACTIVE = 2;

export interface RkSeqLog {
  ret: number;
  messages: string[];
}

function all(bases: MmioDevice[], f: (b: MmioDevice) => boolean): boolean {
  return bases.every(f);
}

export function rkEnableStall(clock: SimClock, bases: MmioDevice[], log: string[]): number {
  if (all(bases, (b) => (b.readUint32(STATUS) & STALL) !== 0)) return 0;
  if (!all(bases, (b) => (b.readUint32(STATUS) & PAGING) !== 0)) return 0;
  for (const b of bases) if (b.readUint32(STATUS) & PF_ACTIVE) b.writeUint32(COMMAND, 5);
  for (const b of bases) b.writeUint32(COMMAND, 2);
  const ret = pollTimeout(clock, () => all(bases, (b) => (b.readUint32(STATUS) & STALL) !== 0), (v) => v, 100, 1000);
  if (ret) for (const b of bases) log.push(`Enable stall request timed out, status: ${hex08(b.readUint32(STATUS))}`);
  return ret;
}

export function rkDisableStall(clock: SimClock, bases: MmioDevice[], log: string[]): number {
  if (!all(bases, (b) => (b.readUint32(STATUS) & STALL) !== 0)) return 0;
  for (const b of bases) b.writeUint32(COMMAND, 3);
  const ret = pollTimeout(clock, () => all(bases, (b) => (b.readUint32(STATUS) & STALL) !== 0), (v) => !v, 100, 1000);
  if (ret) for (const b of bases) log.push(`Disable stall request timed out, status: ${hex08(b.readUint32(STATUS))}`);
  return ret;
}

function hex08(v: number): string {
  // %#08x: "0x" counts toward the width of 8.
  return '0x' + v.toString(16).padStart(6, '0');
}

/** rk_iommu_enable (rockchip-iommu.c:941-979) with `dte` = mk_dtentries(dt_dma). */
export function rkEnable(clock: SimClock, bases: MmioDevice[], dte: number): RkSeqLog {
  const messages: string[] = [];
  let ret = rkEnableStall(clock, bases, messages);
  if (ret) return { ret, messages };
  // force reset
  for (const b of bases) {
    b.writeUint32(DTE_ADDR, 0xcafeb000);
    if (b.readUint32(DTE_ADDR) !== 0xcafeb000) {
      messages.push('Error during raw reset. MMU_DTE_ADDR is not functioning');
      rkDisableStall(clock, bases, messages);
      return { ret: -14, messages };
    }
  }
  for (const b of bases) b.writeUint32(COMMAND, 6);
  ret = pollTimeout(clock, () => all(bases, (b) => b.readUint32(DTE_ADDR) === 0), (v) => v, 100000, 1000);
  if (ret) {
    messages.push('FORCE_RESET command timed out');
    rkDisableStall(clock, bases, messages);
    return { ret, messages };
  }
  for (const b of bases) {
    b.writeUint32(DTE_ADDR, dte);
    b.writeUint32(COMMAND, 4);
    b.writeUint32(INT_MASK, 3);
    b.writeUint32(AUTO_GATING, (b.readUint32(AUTO_GATING) | 0x8000_0000) >>> 0);
  }
  // enable paging
  if (!all(bases, (b) => (b.readUint32(STATUS) & PAGING) !== 0)) {
    for (const b of bases) b.writeUint32(COMMAND, 0);
    ret = pollTimeout(clock, () => all(bases, (b) => (b.readUint32(STATUS) & PAGING) !== 0), (v) => v, 100, 1000);
    if (ret) for (const b of bases) messages.push(`Enable paging request timed out, status: ${hex08(b.readUint32(STATUS))}`);
  }
  rkDisableStall(clock, bases, messages);
  return { ret, messages };
}

/** rk_iommu_disable (rockchip-iommu.c:924-938). */
export function rkDisable(clock: SimClock, bases: MmioDevice[]): RkSeqLog {
  const messages: string[] = [];
  rkEnableStall(clock, bases, messages);
  if (all(bases, (b) => (b.readUint32(STATUS) & PAGING) !== 0)) {
    for (const b of bases) b.writeUint32(COMMAND, 1);
    const ret = pollTimeout(clock, () => all(bases, (b) => (b.readUint32(STATUS) & PAGING) !== 0), (v) => !v, 100, 1000);
    if (ret) for (const b of bases) messages.push(`Disable paging request timed out, status: ${hex08(b.readUint32(STATUS))}`);
  }
  for (const b of bases) {
    b.writeUint32(INT_MASK, 0);
    b.writeUint32(DTE_ADDR, 0);
  }
  rkDisableStall(clock, bases, messages);
  return { ret: 0, messages };
}

/** The page-fault part of rk_iommu_irq (rockchip-iommu.c:611-658) for one instance, without the log_iova walk. */
export function rkIrqInstance(b: MmioDevice): { handled: boolean; messages: string[] } {
  const messages: string[] = [];
  const intStatus = b.readUint32(0x20);
  if (intStatus === 0) return { handled: false, messages };
  const iova = b.readUint32(0x0c);
  if (intStatus & 1) {
    const status = b.readUint32(STATUS);
    messages.push(`Page fault at 0x${iova.toString(16).padStart(16, '0')} of type ${status & 0x20 ? 'write' : 'read'}`);
    b.writeUint32(COMMAND, 4);
    b.writeUint32(COMMAND, 5);
  }
  if (intStatus & 2) messages.push(`BUS_ERROR occurred at 0x${iova.toString(16).padStart(16, '0')}`);
  b.writeUint32(0x18, intStatus);
  return { handled: true, messages };
}
