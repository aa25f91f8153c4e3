/**
 * A block's power domain switching, as every IOMMU model does it: nothing happens when the domain is
 * already in that state; otherwise the block's own part runs first (`powerUp`: registers back to reset,
 * cached translations lost; `powerOff`), then a 'power' trace event, then the interrupt lines are
 * recomputed (a powered-off block drives none).
 */
import type { Tracer } from '../trace/events.js';

export interface PowerDomainBlock {
  readonly name: string;
  powered: boolean;
  updateIrq(): void;
}

export function switchPower(
  block: PowerDomainBlock,
  on: boolean,
  tracer: Tracer | undefined,
  powerUp: () => void,
  powerOff?: () => void,
): void {
  if (on === block.powered) return;
  block.powered = on;
  if (on) powerUp();
  else powerOff?.();
  tracer?.emit('hw', 'power', { device: block.name, on });
  block.updateIrq();
}
