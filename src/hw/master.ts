/**
 * Bus masters: DMA engines that move real bytes between memory and a buffer inside the device (an NPU's
 * SRAM, a SATA controller's FIFO), addressing memory with IOVAs through their IOMMU — or, without one,
 * with bus addresses through their own bus (a DeviceView with the master's address width).
 *
 * Every transfer reports what happened in hardware terms (data moved, IOMMU fault, bus error, stall,
 * blocked) and how far it got. Data checks compare what the device got against what the CPU meant it
 * to get, so a translation that silently lands on the wrong page (a stale IOTLB entry, a truncated
 * table base, an erased PTE that happens to point at page 0) shows up as corrupted data rather than
 * as nothing at all.
 */
import { hex } from '../addr.js';
import { DeviceView, type BeyondWidth } from '../mem/device-view.js';
import { ACCESS_FAULT, type MemWriter } from '../mem/phys-mem.js';
import type { Tracer } from '../trace/events.js';
import type { IrqController, IrqSource } from './irq.js';
import type { AccessKind, TranslationPort, TranslationStatus } from './port.js';

export type TransferStatus = TranslationStatus;

export interface TransferResult {
  status: TransferStatus;
  /** 'read' = the device reads memory into its buffer; 'write' = it writes its buffer to memory. */
  access: AccessKind;
  iova: number;
  length: number;
  /** Bytes moved before the transfer stopped (== length when status is 'ok'). */
  done: number;
  /** IOVA at which it stopped (undefined when ok). */
  stoppedAt?: number;
  /** Physical address of each page the transfer touched, in order (for --explain). */
  pages: { iova: number; phys: number; via?: string }[];
  detail?: string;
}

export interface DataCheck {
  ok: boolean;
  length: number;
  mismatches: number;
  firstMismatch?: { offset: number; expected: number; actual: number };
}

export interface DmaMasterOptions {
  name: string;
  /** Memory as the interconnect sees it (physical addresses). */
  mem: MemWriter;
  /** The master's own address width (how many address lines it drives). */
  busBits: number;
  /** What its bus does with an address beyond busBits. Default 'bus-error'. */
  beyond?: BeyondWidth;
  /** The IOMMU in front of it, if any. */
  iommu?: TranslationPort;
  /** Its id on that IOMMU: stream id (DART), uTLB (IPMMU), port/instance (Rockchip). */
  stream?: number;
  /** Size of the device-local buffer in bytes. Default 64 KiB. */
  localSize?: number;
  tracer?: Tracer;
  /**
   * The master's own interrupt output: asserted when a transfer ends (done or failed) and held until
   * its driver acknowledges it (`ackInterrupt`). A handler on the wrong line never acknowledges it.
   */
  irq?: { controller: IrqController; line: number };
}

const PAGE = 4096;

export class DmaMaster {
  readonly name: string;
  readonly local: Uint8Array;
  /** The master's own bus: addresses it emits pass through here (width check, truncation). */
  readonly view: DeviceView;
  readonly iommu: TranslationPort | undefined;
  readonly stream: number;
  private readonly tracer: Tracer | undefined;
  private readonly irqOut: IrqSource | undefined;

  constructor(opts: DmaMasterOptions) {
    this.name = opts.name;
    this.local = new Uint8Array(opts.localSize ?? 64 * 1024);
    this.view = new DeviceView(opts.mem, opts.busBits, opts.beyond ?? 'bus-error');
    this.iommu = opts.iommu;
    this.stream = opts.stream ?? 0;
    this.tracer = opts.tracer;
    this.irqOut = opts.irq ? opts.irq.controller.source(opts.irq.line, opts.name) : undefined;
  }

  /** The driver's acknowledgement of the completion interrupt. */
  ackInterrupt(): void {
    this.irqOut?.set(false);
  }

  /** Whether the completion interrupt is pending. */
  get interruptPending(): boolean {
    return this.irqOut?.level ?? false;
  }

  /** Device reads `len` bytes at `iova` into its buffer at `localOffset`. */
  read(iova: number, len: number, localOffset = 0): TransferResult {
    return this.transfer('read', iova, len, localOffset);
  }

  /** Device writes `len` bytes of its buffer (from `localOffset`) to memory at `iova`. */
  write(iova: number, len: number, localOffset = 0): TransferResult {
    return this.transfer('write', iova, len, localOffset);
  }

  /** Put data into the device buffer (what the device produced). */
  load(data: Uint8Array, localOffset = 0): void {
    this.local.set(data, localOffset);
  }

  /** Compare the device buffer with what it should hold. */
  check(expected: Uint8Array, localOffset = 0): DataCheck {
    let mismatches = 0;
    let first: DataCheck['firstMismatch'];
    for (let i = 0; i < expected.length; i++) {
      const actual = this.local[localOffset + i];
      if (actual !== expected[i]) {
        mismatches++;
        if (!first) first = { offset: i, expected: expected[i], actual };
      }
    }
    const result: DataCheck = { ok: mismatches === 0, length: expected.length, mismatches };
    if (first) result.firstMismatch = first;
    this.tracer?.emit('master', 'data_check', { master: this.name, ok: result.ok, length: expected.length, mismatches, first });
    return result;
  }

  private transfer(access: AccessKind, iova: number, len: number, localOffset: number): TransferResult {
    if (localOffset < 0 || localOffset + len > this.local.length)
      throw new Error(`${this.name}: transfer of ${len} bytes at buffer offset ${localOffset} exceeds the ${this.local.length}-byte device buffer`);
    const res: TransferResult = { status: 'ok', access, iova, length: len, done: 0, pages: [] };
    while (res.done < len) {
      const a = iova + res.done;
      // The address the master drives: its own address lines decide what leaves the device.
      const emitted = this.view.route(a);
      if (emitted === -1) return this.stop(res, 'bus-error', a, `${hex(a)} is beyond the master's ${this.view.busBits}-bit bus`);
      let phys: number;
      let bus: DeviceView;
      let span: number;
      let via: string | undefined;
      if (this.iommu) {
        const t = this.iommu.translate(this.stream, emitted, access);
        if (t.status !== 'ok' || !t.bus) return this.stop(res, t.status, a, t.detail ?? `${this.iommu.name}: ${t.status}`);
        phys = t.phys;
        bus = t.bus;
        span = t.span > 0 ? t.span : PAGE - (emitted % PAGE);
        via = t.via;
      } else {
        phys = emitted;
        bus = this.view;
        span = PAGE - (emitted % PAGE);
      }
      const n = Math.min(len - res.done, span);
      res.pages.push({ iova: a, phys, via });
      const moved =
        access === 'read'
          ? readBytes(bus, phys, this.local, localOffset + res.done, n)
          : writeBytes(bus, phys, this.local, localOffset + res.done, n);
      res.done += moved;
      if (moved < n) {
        const f = bus.lastFault;
        return this.stop(res, 'bus-error', a + moved, f ? `${f.reason} at ${hex(f.addr)} (${f.busBits}-bit bus)` : 'bus error');
      }
    }
    this.tracer?.emit('master', access === 'read' ? 'dma_read' : 'dma_write', {
      master: this.name,
      iova,
      length: len,
      status: 'ok',
      phys: res.pages.map((p) => p.phys),
    });
    this.irqOut?.set(true);
    return res;
  }

  private stop(res: TransferResult, status: TransferStatus, at: number, detail: string): TransferResult {
    res.status = status;
    res.stoppedAt = at;
    res.detail = detail;
    this.tracer?.emit('master', res.access === 'read' ? 'dma_read' : 'dma_write', {
      master: this.name,
      iova: res.iova,
      length: res.length,
      status,
      done: res.done,
      stoppedAt: at,
      detail,
    });
    this.irqOut?.set(true);
    return res;
  }
}

/** Copy n bytes from the bus at `addr` into dst; returns bytes copied before a failed access. */
function readBytes(bus: DeviceView, addr: number, dst: Uint8Array, off: number, n: number): number {
  let i = 0;
  while (i < n) {
    const a = addr + i;
    const base = a - (a & 3);
    const w = bus.read32(base);
    if (w === ACCESS_FAULT) return i;
    for (let b = a & 3; b < 4 && i < n; b++, i++) dst[off + i] = (w >>> (b * 8)) & 0xff;
  }
  return n;
}

/** Copy n bytes of src to the bus at `addr` (read-modify-write for partial words). */
function writeBytes(bus: DeviceView, addr: number, src: Uint8Array, off: number, n: number): number {
  let i = 0;
  while (i < n) {
    const a = addr + i;
    const lane = a & 3;
    const base = a - lane;
    let w: number;
    if (lane === 0 && n - i >= 4) {
      w = (src[off + i] | (src[off + i + 1] << 8) | (src[off + i + 2] << 16) | (src[off + i + 3] << 24)) >>> 0;
      if (!bus.write32(base, w)) return i;
      i += 4;
      continue;
    }
    w = bus.read32(base);
    if (w === ACCESS_FAULT) return i;
    let done = i;
    for (let b = lane; b < 4 && done < n; b++, done++) w = ((w & ~(0xff << (b * 8))) | (src[off + done] << (b * 8))) >>> 0;
    if (!bus.write32(base, w)) return i;
    i = done;
  }
  return n;
}
