/**
 * Seed 001, guide problem 4 (an IRQ storm from a wrong interrupt number), from mechanism: the VOP2 and
 * its IOMMU share SPI 148 on RK3568 (rk356x.dtsi); with the IOMMU's DT number wrong, its page fault
 * holds line 148 asserted and only vop2_isr (IRQ_NONE for what is not its own) runs on it.
 * Expected values come from kernel/irq/spurious.c: the line is disabled at the 100 000th unhandled
 * delivery counted after the first handled one (vop2_isr claims the VOP's own completion once).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadScenarioFile } from '../../src/scenario/loader.js';
import { runScenario, type RunResult } from '../../src/scenario/runner.js';
import { setupScenarioLayers } from '../../src/scenario/setup.js';
import { loadBoard } from '../../src/board/profiles.js';

const file = join(import.meta.dirname, '../../scenarios/001-rockchip-guide/irq-storm-wrong-irq.yaml');

function run(mutate?: (steps: Record<string, unknown>[]) => void): RunResult {
  const loaded = loadScenarioFile(file);
  if (mutate) mutate(loaded.scenario.steps as unknown as Record<string, unknown>[]);
  return runScenario(loaded);
}

beforeAll(() => setupScenarioLayers());

describe('IRQ storm from a wrong IOMMU interrupt number (seed 001 problem 4)', () => {
  it('the wrong number ends in "nobody cared" and the shared line 148 disabled', () => {
    const r = run();
    expect(r.outcome).toBe('irq-storm');
    const storm = r.events.find((e) => e.layer === 'kernel' && e.type === 'irq_storm');
    expect(storm?.data.irq).toBe(148);
    expect(storm?.data.assertedBy).toEqual(['fe043e00.iommu']);
    expect(storm?.data.handlers).toEqual(['vop2_isr']);
    // one handled delivery (the VOP's own completion) + 100 000 counted unhandled ones
    expect(storm?.data.deliveries).toBe(100_001);
    expect(storm?.data.unhandled).toBe(100_000);
    const i = r.log.findIndex((l) => l.includes('irq 148: nobody cared (try booting with the "irqpoll" option)'));
    const j = r.log.findIndex((l) => l.includes('Disabling IRQ #148'));
    expect(i).toBeGreaterThan(0);
    expect(j).toBeGreaterThan(i);
    expect(r.log.slice(i, j).some((l) => l.endsWith('handlers:'))).toBe(true);
    // the IOMMU driver never saw its fault
    expect(r.log.some((l) => l.includes('Page fault at'))).toBe(false);
  });

  it('reads the shared line from the real device tree: VOP2 and its MMU both on SPI 148', () => {
    const b = loadBoard({ profile: 'rk3568' });
    expect(b.masters.find((m) => m.name === 'fe040000.vop')?.interrupts).toEqual([148]);
    expect(b.iommus.find((i) => i.name === 'fe043e00.iommu')?.interrupts).toEqual([148]);
  });

  it('is deterministic and keeps the trace small (one event per asserted run, not per delivery)', () => {
    const a = run();
    const b = run();
    expect(JSON.stringify(a.log)).toBe(JSON.stringify(b.log));
    expect(a.events.length).toBe(b.events.length);
    expect(a.events.filter((e) => e.type === 'irq_deliver').length).toBeLessThan(10);
  });

  it('the right number (or no injection) makes the same access an ordinary, reported page fault', () => {
    for (const r of [run((s) => s.splice(0, 1)), run((s) => (s[0].irq = 148))]) {
      expect(r.outcome).toBe('page-fault');
      expect(r.log.some((l) => /rk_iommu fe043e00\.iommu: Page fault at 0x[0-9a-f]+ of type read/.test(l))).toBe(true);
      expect(r.log.some((l) => l.includes('nobody cared'))).toBe(false);
    }
  });

  it('a wrong number with nothing else on the real line: no storm (the line is never enabled), the fault goes unseen', () => {
    // NPU: its vendor driver is not modelled, so nobody requests SPI 151 when the IOMMU asks for 140.
    const r = run((s) => {
      s[0].device = 'fde4b000.iommu';
      s[0].irq = 140;
      s[3].dev = 'fde40000.npu';
      s[4].master = 'fde40000.npu';
    });
    expect(r.log.some((l) => l.includes('nobody cared'))).toBe(false);
    expect(r.log.some((l) => l.includes('Page fault at'))).toBe(false);
    expect(r.outcome).toBe('page-fault');
  });
});
