/**
 * Level-triggered interrupt lines and a GIC-like controller that delivers them.
 *
 * Devices drive a line through an `IrqSource` (several sources may share one line, as IRQF_SHARED
 * devices do); the line is asserted while any source is. Software connects handlers to a line *by
 * number*, so a wrong number in a device tree connects the handler to some other device's line: the
 * handler then cannot clear what keeps that line asserted, and the controller keeps delivering it.
 * That is the "IRQ storm" the Rockchip guide lists (seeds/001: the interrupt keeps firing because the
 * DTS interrupt number is wrong). Nothing here knows Linux: a handler is any function returning
 * whether it recognised the interrupt; what the kernel does with unhandled counts is the kernel
 * model's business (note_interrupt lives in src/linux).
 *
 * Like a GIC, a line is only delivered while enabled; connecting the first handler enables it
 * (request_irq does), `disable` masks it.
 */
import type { SimClock, Tracer } from '../trace/events.js';

export type IrqReturn = 'handled' | 'none';
export type IrqHandler = (irq: number) => IrqReturn;

export interface IrqLineStats {
  /** Times the CPU took this interrupt. */
  deliveries: number;
  /** Deliveries where at least one handler said 'handled'. */
  handled: number;
  unhandled: number;
  /** Longest run of deliveries during which the line never went low. */
  longestAssertedRun: number;
  storm: boolean;
}

export interface IrqSource {
  readonly irq: number;
  readonly name: string;
  readonly level: boolean;
  set(level: boolean): void;
}

export interface DeliveryReport {
  /** Interrupts taken in this call. */
  delivered: number;
  /** Lines found to be stuck asserted (a storm) in this call. */
  storms: number[];
}

export interface IrqControllerOptions {
  /**
   * Consecutive deliveries of a line that stays asserted after its handlers ran before we call it a
   * storm and stop delivering it (the CPU would otherwise never leave the handler).
   */
  stormThreshold?: number;
  /** Simulated ns per interrupt entry/exit. */
  entryNs?: number;
  /**
   * Trace only the first delivery of each run during which a line stays asserted ('first-of-run'),
   * instead of every delivery ('each', the default): a stuck line is delivered ~10^5 times before
   * software gives up, and one event per delivery would swamp the trace.
   */
  traceDeliveries?: 'each' | 'first-of-run';
}

interface Line {
  sources: Source[];
  handlers: { handler: IrqHandler; name: string }[];
  enabled: boolean;
  stats: IrqLineStats;
  run: number;
}

class Source implements IrqSource {
  level = false;
  constructor(
    private readonly ctl: IrqController,
    readonly irq: number,
    readonly name: string,
  ) {}
  set(level: boolean): void {
    if (level === this.level) return;
    this.level = level;
    this.ctl.sourceChanged(this);
  }
}

export class IrqController {
  private readonly lines = new Map<number, Line>();
  readonly stormThreshold: number;
  private readonly entryNs: number;
  private readonly traceEach: boolean;
  private delivering = false;

  constructor(
    private readonly clock?: SimClock,
    private readonly tracer?: Tracer,
    opts: IrqControllerOptions = {},
  ) {
    this.stormThreshold = opts.stormThreshold ?? 1000;
    this.entryNs = opts.entryNs ?? 500;
    this.traceEach = (opts.traceDeliveries ?? 'each') === 'each';
  }

  private line(irq: number): Line {
    let l = this.lines.get(irq);
    if (!l) {
      l = {
        sources: [],
        handlers: [],
        enabled: false,
        stats: { deliveries: 0, handled: 0, unhandled: 0, longestAssertedRun: 0, storm: false },
        run: 0,
      };
      this.lines.set(irq, l);
    }
    return l;
  }

  /** A device's output wired to line `irq`. */
  source(irq: number, name: string): IrqSource {
    const s = new Source(this, irq, name);
    this.line(irq).sources.push(s);
    return s;
  }

  /** @internal called by sources. */
  sourceChanged(s: Source): void {
    this.tracer?.emit('hw', s.level ? 'irq_raise' : 'irq_lower', { irq: s.irq, source: s.name });
    if (!s.level) {
      const l = this.line(s.irq);
      if (!this.isAsserted(s.irq)) l.run = 0;
    }
  }

  isAsserted(irq: number): boolean {
    const l = this.lines.get(irq);
    return !!l && l.sources.some((s) => s.level);
  }

  /** Names of the sources currently asserting a line. */
  assertedBy(irq: number): string[] {
    return (this.lines.get(irq)?.sources ?? []).filter((s) => s.level).map((s) => s.name);
  }

  /** Connect a handler (enables the line, as request_irq does). */
  connect(irq: number, handler: IrqHandler, name = 'handler'): void {
    const l = this.line(irq);
    l.handlers.push({ handler, name });
    l.enabled = true;
    this.tracer?.emit('hw', 'irq_connect', { irq, name });
  }

  disconnect(irq: number, handler: IrqHandler): void {
    const l = this.lines.get(irq);
    if (!l) return;
    l.handlers = l.handlers.filter((h) => h.handler !== handler);
    if (l.handlers.length === 0) l.enabled = false;
  }

  enable(irq: number): void {
    this.line(irq).enabled = true;
  }

  disable(irq: number): void {
    this.line(irq).enabled = false;
  }

  isEnabled(irq: number): boolean {
    return this.lines.get(irq)?.enabled ?? false;
  }

  stats(irq: number): IrqLineStats {
    return { ...this.line(irq).stats };
  }

  /** Every line number known to the controller, ascending. */
  lineNumbers(): number[] {
    return [...this.lines.keys()].sort((a, b) => a - b);
  }

  /**
   * Let the CPU take pending interrupts: deliver every enabled, asserted line, lowest number first,
   * until none is pending. A line still asserted after `stormThreshold` consecutive deliveries is a
   * storm: it is reported (trace 'irq_storm') and masked so the run can go on.
   */
  deliver(): DeliveryReport {
    const report: DeliveryReport = { delivered: 0, storms: [] };
    if (this.delivering) return report; // a handler cannot re-enter the CPU's interrupt entry
    this.delivering = true;
    try {
      for (;;) {
        const pending = this.lineNumbers().filter((n) => this.lines.get(n)!.enabled && this.isAsserted(n));
        if (pending.length === 0) break;
        for (const n of pending) {
          const l = this.lines.get(n)!;
          if (!l.enabled || !this.isAsserted(n)) continue;
          this.clock?.advance(this.entryNs);
          l.stats.deliveries++;
          report.delivered++;
          let handled = false;
          for (const h of [...l.handlers]) if (h.handler(n) === 'handled') handled = true;
          if (handled) l.stats.handled++;
          else l.stats.unhandled++;
          if (this.traceEach || l.run === 0) this.tracer?.emit('hw', 'irq_deliver', { irq: n, handled });
          if (this.isAsserted(n)) {
            l.run++;
            if (l.run > l.stats.longestAssertedRun) l.stats.longestAssertedRun = l.run;
            if (l.run >= this.stormThreshold) {
              l.stats.storm = true;
              l.enabled = false;
              report.storms.push(n);
              this.tracer?.emit('hw', 'irq_storm', {
                irq: n,
                deliveries: l.run,
                assertedBy: this.assertedBy(n),
                handled: l.stats.handled,
                unhandled: l.stats.unhandled,
              });
            }
          } else {
            l.run = 0;
          }
        }
      }
    } finally {
      this.delivering = false;
    }
    return report;
  }
}
