/**
 * One typed event stream for a run: every map/unmap/sync/bounce/alloc/MMIO/walk/fault is an event with
 * its addresses; the kernel log (printk) is a second stream with the kernel's framing. Both are stamped
 * by a simulated clock, never the wall clock, so the same run prints the same bytes.
 */

/** Simulated time in nanoseconds since boot. Advanced explicitly by models (MMIO, polls, sleeps). */
export class SimClock {
  ns = 0;
  advance(ns: number): void {
    this.ns += ns;
  }
}

export interface TraceEvent {
  seq: number;
  /** Simulated time (ns). */
  time: number;
  /** Layer that emitted it: 'mm', 'dma', 'swiotlb', 'iova', 'iommu', 'hw', 'driver', 'master', ... */
  layer: string;
  /** Event name, e.g. 'alloc_pages', 'swiotlb_bounced', 'map', 'mmio_write', 'walk', 'page_fault'. */
  type: string;
  /** Addresses are numbers; formatters print them in hex. */
  data: Record<string, unknown>;
}

export type LogLevel = 'emerg' | 'alert' | 'crit' | 'err' | 'warn' | 'notice' | 'info' | 'debug';

export interface LogLine {
  time: number;
  level: LogLevel;
  /** Already-prefixed text as the console shows it, e.g. "rk_iommu fde4b000.iommu: Page fault at ..." */
  text: string;
  /** seq of the trace event current when it was printed (links log lines to the causal chain). */
  eventSeq: number;
}

export class Tracer {
  readonly events: TraceEvent[] = [];
  readonly log: LogLine[] = [];
  /** Set to false to stop recording events (benchmarks); printk is always kept. */
  recording = true;

  constructor(readonly clock: SimClock = new SimClock()) {}

  emit(layer: string, type: string, data: Record<string, unknown> = {}): void {
    if (!this.recording) return;
    this.events.push({ seq: this.events.length, time: this.clock.ns, layer, type, data });
  }

  /** printk: `text` without the trailing newline. Multi-line text is split into lines. */
  printk(level: LogLevel, text: string): void {
    for (const line of text.split('\n')) {
      this.log.push({ time: this.clock.ns, level, text: line, eventSeq: this.events.length - 1 });
    }
  }

  /** dev_err/dev_warn/dev_info: "<driver> <device>: text". */
  devPrintk(level: LogLevel, driver: string, device: string, text: string): void {
    this.printk(level, `${driver} ${device}: ${text}`);
  }
}

/** The console timestamp "[%5lu.%06lu]" (kernel/printk/printk.c). */
export function formatTimestamp(ns: number): string {
  const us = Math.floor(ns / 1000);
  const sec = Math.floor(us / 1_000_000);
  const frac = us % 1_000_000;
  return `[${String(sec).padStart(5, ' ')}.${String(frac).padStart(6, '0')}]`;
}

export function formatDmesg(lines: readonly LogLine[]): string {
  return lines.map((l) => `${formatTimestamp(l.time)} ${l.text}`).join('\n') + (lines.length ? '\n' : '');
}
