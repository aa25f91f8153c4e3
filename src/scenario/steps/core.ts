/**
 * Steps the framework implements itself, on memory alone: CPU reads and writes of physical memory (or of
 * a named buffer) with data checks, and the passing of simulated time. A full kernel layer may replace
 * them (`registerStep(kind, h, { replace: true })`), e.g. to go through the linear map or to deliver
 * interrupts while time passes.
 */
import { hex } from '../../addr.js';
import { compareBytes, dataBytes, describeData, describeDiff } from '../data.js';
import { registerStep, stepHandler } from '../runner.js';
import { parseDuration } from '../values.js';

export function registerCoreSteps(): void {
  if (stepHandler('cpu_write')) return;
  registerStep(
    'cpu_write',
    (w, s, ctx) => {
      const addr = w.resolveAddr(s.addr, ctx.path('addr'), ['phys']);
      const size = w.resolveSize(s.size, ctx.path('size'));
      const ok = w.mem.writeBytes(addr, dataBytes(s.data, size));
      w.tracer.emit('cpu', 'cpu_write', { addr, size, data: s.data, ok });
      // The CPU view has no bus width; a hole under the linear map is our input error, not a model event.
      if (!ok) throw ctx.error('addr', `${hex(addr)}..${hex(addr + size)} is not RAM on this board`);
    },
    { layer: 'core' },
  );
  registerStep(
    'cpu_read',
    (w, s, ctx) => {
      const addr = w.resolveAddr(s.addr, ctx.path('addr'), ['phys']);
      const size = w.resolveSize(s.size, ctx.path('size'));
      const got = w.mem.readBytes(addr, size);
      if (!got) throw ctx.error('addr', `${hex(addr)}..${hex(addr + size)} is not RAM on this board`);
      w.tracer.emit('cpu', 'cpu_read', { addr, size });
      if (s.expect !== undefined) {
        const diff = compareBytes(dataBytes(s.expect, size), got);
        w.observe(
          'cpu',
          {
            what: `step ${ctx.index} cpu_read ${hex(addr)}`,
            ok: !diff,
            expected: describeData(s.expect, size),
            actual: describeDiff(diff, addr),
          },
          { addr, size },
        );
      }
    },
    { layer: 'core' },
  );
  registerStep(
    'sleep',
    (w, s) => {
      const ns = parseDuration(s.time);
      w.clock.advance(ns);
      w.tracer.emit('scenario', 'sleep', { ns });
    },
    { layer: 'core' },
  );
}
