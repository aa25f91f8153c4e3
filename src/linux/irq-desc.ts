/**
 * The generic IRQ layer's part that decides an interrupt storm (kernel/irq/, 6.12): one descriptor per
 * line with its list of actions (request_irq with IRQF_SHARED adds to it), the flow that runs every
 * action and ORs their results, and note_interrupt's accounting of unhandled interrupts.
 *
 * Why a line gets disabled is the kernel's business, not the interrupt controller's: a level line that
 * stays asserted keeps re-entering the CPU; only note_interrupt (kernel/irq/spurious.c:272-432) counts
 * how many of the last 100 000 deliveries nobody handled and, above 99 900, prints "nobody cared",
 * lists the handlers and masks the line (irq_disable). The hardware model (src/hw/irq.ts) only keeps
 * delivering.
 *
 * Simplifications: Linux IRQ numbers are the board's interrupt numbers (the kernel maps GIC hwirqs to
 * virtual numbers through an irq domain; we do not renumber); no irqpoll / misrouted-IRQ polling; the
 * 100 ms window of time_after(jiffies, last_unhandled + HZ/10) is measured in simulated nanoseconds.
 */
import type { IrqReturn } from './kapi.js';

export interface IrqAction {
  /** The dev_id / devname given to request_irq. */
  name: string;
  /** The handler's symbol, as %ps prints it in the "handlers:" list (e.g. rk_iommu_irq). */
  symbol: string;
  shared: boolean;
  handler: () => IrqReturn;
}

/** note_interrupt thresholds (kernel/irq/spurious.c:411-415). */
export const SPURIOUS_WINDOW = 100_000;
export const SPURIOUS_UNHANDLED_LIMIT = 99_900;
/** HZ/10: an IRQ_NONE more than this after the previous one restarts the count (spurious.c:392). */
export const SPURIOUS_RESET_NS = 100_000_000;

export class IrqDesc {
  readonly actions: IrqAction[] = [];
  /** desc->irq_count, desc->irqs_unhandled, desc->last_unhandled (ns). */
  irqCount = 0;
  irqsUnhandled = 0;
  lastUnhandledNs = -Infinity;
  /** IRQS_SPURIOUS_DISABLED */
  spuriousDisabled = false;
  /** Deliveries seen (handled or not), for reports. */
  deliveries = 0;
  unhandledTotal = 0;

  constructor(readonly irq: number) {}

  /**
   * __request_irq's sharing rule (kernel/irq/manage.c, __setup_irq): a line that already has an action
   * takes another only if both asked for IRQF_SHARED. Returns 0 or -EBUSY.
   */
  add(action: IrqAction): number {
    if (this.actions.length && (!action.shared || this.actions.some((a) => !a.shared))) return -16;
    this.actions.push(action);
    return 0;
  }

  /**
   * handle_irq_event_percpu: every action runs (a shared handler must check its own device and say
   * IRQ_NONE when the interrupt is not its own); the result is IRQ_HANDLED if any handled it.
   */
  run(): IrqReturn {
    let ret: IrqReturn = 'none';
    for (const a of [...this.actions]) if (a.handler() === 'handled') ret = 'handled';
    this.deliveries++;
    if (ret === 'none') this.unhandledTotal++;
    return ret;
  }

  /**
   * note_interrupt (spurious.c:272-432) without the threaded-handler and misrouted-IRQ parts. Returns
   * true when the line is declared stuck: the caller prints the report and disables the line.
   */
  note(ret: IrqReturn, nowNs: number): boolean {
    if (ret === 'none') {
      // An odd spurious IRQ now and then must not add up to a doomsday counter (spurious.c:387-396).
      if (nowNs > this.lastUnhandledNs + SPURIOUS_RESET_NS) this.irqsUnhandled = 1;
      else this.irqsUnhandled++;
      this.lastUnhandledNs = nowNs;
    }
    if (!this.irqsUnhandled) return false;
    this.irqCount++;
    if (this.irqCount < SPURIOUS_WINDOW) return false;
    this.irqCount = 0;
    const stuck = this.irqsUnhandled > SPURIOUS_UNHANDLED_LIMIT;
    if (stuck) this.spuriousDisabled = true;
    this.irqsUnhandled = 0;
    return stuck;
  }
}

/** A stable stand-in for a hashed %p pointer (printk hashes pointers; the value means nothing). */
export function hashedPointer(symbol: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < symbol.length; i++) h = Math.imul(h ^ symbol.charCodeAt(i), 0x01000193) >>> 0;
  return `00000000${h.toString(16).padStart(8, '0')}`;
}
