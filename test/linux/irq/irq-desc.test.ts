/**
 * note_interrupt's accounting (kernel/irq/spurious.c:272-432), worked out by hand from the source:
 * a line is declared stuck when, at the 100 000th counted delivery, more than 99 900 were unhandled;
 * an IRQ_NONE more than HZ/10 after the previous one restarts the unhandled count at 1.
 */
import { describe, expect, it } from 'vitest';
import { IrqDesc, SPURIOUS_RESET_NS } from '../../../src/linux/irq-desc.js';

function feed(d: IrqDesc, pattern: (i: number) => 'handled' | 'none', n: number, stepNs = 500): number {
  for (let i = 0; i < n; i++) if (d.note(pattern(i), i * stepNs)) return i + 1;
  return 0;
}

describe('IrqDesc.note (note_interrupt)', () => {
  it('100 000 unhandled in a row: stuck exactly at the 100 000th', () => {
    expect(feed(new IrqDesc(1), () => 'none', 200_000)).toBe(100_000);
  });

  it('99 900 unhandled out of 100 000 is not enough (the test is > 99900)', () => {
    // The first delivery is unhandled so counting starts; 100 handled ones sprinkled afterwards.
    const d = new IrqDesc(1);
    const handledAt = new Set(Array.from({ length: 100 }, (_, k) => 1000 + k * 7));
    expect(feed(d, (i) => (handledAt.has(i) ? 'handled' : 'none'), 100_000)).toBe(0);
    expect(d.spuriousDisabled).toBe(false);
  });

  it('99 901 unhandled out of 100 000 is stuck', () => {
    const d = new IrqDesc(1);
    const handledAt = new Set(Array.from({ length: 99 }, (_, k) => 1000 + k * 7));
    expect(feed(d, (i) => (handledAt.has(i) ? 'handled' : 'none'), 100_000)).toBe(100_000);
  });

  it('handled interrupts before the first unhandled one are not counted', () => {
    const d = new IrqDesc(1);
    expect(feed(d, () => 'handled', 500)).toBe(0);
    expect(d.irqCount).toBe(0);
  });

  it('sparse spurious interrupts (more than HZ/10 apart) never add up', () => {
    const d = new IrqDesc(1);
    expect(feed(d, () => 'none', 150_000, SPURIOUS_RESET_NS + 1)).toBe(0);
  });

  it('request_irq sharing: both actions must ask for IRQF_SHARED', () => {
    const d = new IrqDesc(5);
    const h = () => 'none' as const;
    expect(d.add({ name: 'a', symbol: 'a_irq', shared: true, handler: h })).toBe(0);
    expect(d.add({ name: 'b', symbol: 'b_irq', shared: false, handler: h })).toBe(-16);
    expect(d.add({ name: 'c', symbol: 'c_irq', shared: true, handler: h })).toBe(0);
    const e = new IrqDesc(6);
    expect(e.add({ name: 'a', symbol: 'a_irq', shared: false, handler: h })).toBe(0);
    expect(e.add({ name: 'b', symbol: 'b_irq', shared: true, handler: h })).toBe(-16);
  });
});
