/**
 * Strict and lazy IOTLB invalidation (issue 6 item 4). Facts from 6.12: iommu_dma_init_domain keeps a
 * DMA-FQ domain only when the IOMMU advertises IOMMU_CAP_DEFERRED_FLUSH (dma-iommu.c:721-724) — none of
 * rockchip-iommu, ipmmu-vmsa, apple-dart does; the sysfs DMA -> DMA-FQ switch skips that check
 * (iommu.c:3072-3079); fq_flush_iotlb calls ops->flush_iotlb_all unconditionally (dma-iommu.c:181-186).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadScenarioFile } from '../../src/scenario/loader.js';
import { runScenario, type RunResult } from '../../src/scenario/runner.js';
import { setupScenarioLayers } from '../../src/scenario/setup.js';
import { createKernelWorld } from '../../src/scenario/kernel-world.js';
import type { Kernel } from '../../src/linux/kernel.js';
import type { WorldFactory } from '../../src/scenario/world.js';

const dir = join(import.meta.dirname, '../../scenarios/dma-iommu');
const fallback = join(dir, 'lazy-mode-falls-back-to-strict.yaml');
const sysfs = join(dir, 'lazy-sysfs-dma-fq-stale-iotlb.yaml');

function run(file: string, sets: string[] = [], mutate?: (steps: Record<string, unknown>[]) => void, factory?: WorldFactory): RunResult {
  const loaded = loadScenarioFile(file, { sets });
  if (mutate) mutate(loaded.scenario.steps as unknown as Record<string, unknown>[]);
  return runScenario(loaded, factory ? { factory } : {});
}

/** A world whose IPMMU driver advertises IOMMU_CAP_DEFERRED_FLUSH (as arm-smmu does; ours do not). */
const capableIpmmu: WorldFactory = (sc, ctx) => {
  const w = createKernelWorld(sc, ctx);
  const k = w.kernel as Kernel;
  k.ipmmu.ops.capable = (_dev, cap) => cap === 'deferred-flush';
  return w;
};

const readAfterUnmap = (r: RunResult) => r.observations?.find((o) => o.what.startsWith('step 8'));

beforeAll(() => setupScenarioLayers());

describe('iommu.strict=0 on drivers without IOMMU_CAP_DEFERRED_FLUSH', () => {
  it('prints lazy mode, but the default domain falls back to strict: the read after unmap faults', () => {
    const r = run(fallback);
    expect(r.ok).toBe(true);
    expect(r.outcome).toBe('page-fault');
    const fb = r.events.find((e) => e.type === 'dma_fq_fallback');
    expect(fb?.data.type).toBe('dma');
    expect(r.events.some((e) => e.type === 'fq_queue')).toBe(false);
  });

  it('the same boot on an IOMMU that advertises the capability keeps DMA-FQ: the read after unmap succeeds', () => {
    const r = run(fallback, [], undefined, capableIpmmu);
    expect(r.events.some((e) => e.type === 'dma_fq_init')).toBe(true);
    expect(r.outcome).toBe('ok');
    // ... and iommu.strict=1 closes the window on that IOMMU
    expect(run(fallback, ['cmdline=iommu.strict=1'], undefined, capableIpmmu).outcome).toBe('page-fault');
  });
});

describe('DMA-FQ through sysfs: the use-after-unmap window', () => {
  it('after dma_unmap the device still reads the reused page through the stale IOTLB entry, until the 10 ms flush', () => {
    const r = run(sysfs);
    expect(r.ok).toBe(true);
    expect(readAfterUnmap(r)?.ok).toBe(true);
    expect(r.outcome).toBe('page-fault');
    const flush = r.events.find((e) => e.type === 'fq_flush');
    expect(flush?.data.why).toBe('timeout');
    const fault = r.failures[0];
    expect(fault.time).toBeGreaterThanOrEqual(10_000_000);
  });

  it('a sleep shorter than the timeout leaves the window open', () => {
    const r = run(sysfs, ['steps.9.time=9ms']);
    expect(r.outcome).toBe('ok');
    expect(r.events.some((e) => e.type === 'fq_flush')).toBe(false);
  });

  it('without the sysfs write the read after unmap faults at once (strict)', () => {
    const r = run(sysfs, [], (s) => s.splice(1, 1));
    expect(r.outcome).toBe('page-fault');
    expect(r.failures[0].message).toMatch(/read of 4096 bytes at 0xfffff000/);
    expect(r.failures[0].time).toBeLessThan(10_000_000);
  });

  it('on Rockchip (no flush_iotlb_all) the flush-queue timer calls a NULL op: Oops', () => {
    const r = run(sysfs, ['board.profile=rk3568', 'board.ram=2G'], (s) => {
      s[1].master = 'fde40000.npu';
      for (const st of s) {
        if (st.dev === 'ee300000.sata') st.dev = 'fde40000.npu';
        if (st.master === 'ee300000.sata') st.master = 'fde40000.npu';
      }
    });
    expect(r.outcome).toBe('oops');
    expect(r.log.some((l) => l.includes('Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000'))).toBe(true);
    expect(r.log.some((l) => l.includes('fq_flush_timeout'))).toBe(true);
  });
});
