import { describe, expect, it } from 'vitest';
import { IrqController } from '../../src/hw/irq.js';
import { SimClock, Tracer } from '../../src/trace/events.js';

describe('IrqController', () => {
  it('a line is asserted while any of its sources is (shared, level-triggered)', () => {
    const c = new IrqController();
    const a = c.source(40, 'a');
    const b = c.source(40, 'b');
    a.set(true);
    b.set(true);
    a.set(false);
    expect(c.isAsserted(40)).toBe(true);
    expect(c.assertedBy(40)).toEqual(['b']);
    b.set(false);
    expect(c.isAsserted(40)).toBe(false);
  });

  it('delivers only enabled lines; connecting a handler enables, disable masks', () => {
    const c = new IrqController();
    const s = c.source(7, 'dev');
    s.set(true);
    expect(c.deliver().delivered).toBe(0);
    let calls = 0;
    c.connect(7, () => {
      calls++;
      s.set(false);
      return 'handled';
    });
    expect(c.deliver()).toEqual({ delivered: 1, storms: [] });
    expect(calls).toBe(1);
    c.disable(7);
    s.set(true);
    expect(c.deliver().delivered).toBe(0);
    c.enable(7);
    expect(c.deliver().delivered).toBe(1);
  });

  it('calls every handler of a shared line and counts handled vs unhandled', () => {
    const c = new IrqController();
    const s = c.source(9, 'dev');
    const seen: string[] = [];
    c.connect(9, () => (seen.push('other'), 'none'), 'other');
    c.connect(9, () => (seen.push('owner'), s.set(false), 'handled'), 'owner');
    s.set(true);
    c.deliver();
    expect(seen).toEqual(['other', 'owner']);
    expect(c.stats(9)).toMatchObject({ deliveries: 1, handled: 1, unhandled: 0, storm: false });
  });

  it('detects a storm: a line that stays asserted after its handlers, masked after the threshold, with time passing', () => {
    const clock = new SimClock();
    const tracer = new Tracer(clock);
    const c = new IrqController(clock, tracer, { stormThreshold: 50 });
    c.source(33, 'stuck').set(true);
    c.connect(33, () => 'none');
    const r = c.deliver();
    expect(r).toEqual({ delivered: 50, storms: [33] });
    expect(c.isEnabled(33)).toBe(false);
    expect(c.stats(33)).toMatchObject({ deliveries: 50, unhandled: 50, longestAssertedRun: 50, storm: true });
    expect(clock.ns).toBeGreaterThan(0);
    const ev = tracer.events.find((e) => e.type === 'irq_storm');
    expect(ev?.data).toMatchObject({ irq: 33, assertedBy: ['stuck'] });
  });

  it('a handler that clears the source each time is not a storm, however often the device fires', () => {
    const c = new IrqController(undefined, undefined, { stormThreshold: 5 });
    const s = c.source(3, 'dev');
    c.connect(3, () => (s.set(false), 'handled'));
    for (let i = 0; i < 20; i++) {
      s.set(true);
      expect(c.deliver().storms).toEqual([]);
    }
    expect(c.stats(3).deliveries).toBe(20);
  });
});
