/**
 * dma_map_sg end to end: dma-iommu gives one IOVA range for the list (iommu_dma_map_sg), dma-direct maps
 * each entry at its own address (dma_direct_map_sg); the device reads the data the CPU wrote.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadScenarioFile } from '../../src/scenario/loader.js';
import { runScenario } from '../../src/scenario/runner.js';
import { setupScenarioLayers } from '../../src/scenario/setup.js';

const file = join(import.meta.dirname, '../../scenarios/dma-iommu/map-sg-one-iova-range.yaml');
beforeAll(() => setupScenarioLayers());

describe('dma_map_sg', () => {
  it('dma-iommu: one 3-page IOVA range (4-granule aligned, top-down below 4 GiB), one segment, data through it; gone after unmap', () => {
    const r = runScenario(loadScenarioFile(file));
    expect(r.ok).toBe(true);
    const ev = r.events.find((e) => e.type === 'dma_map_sg');
    expect(ev?.data.via).toBe('dma-iommu');
    // alloc_iova_fast rounds 3 granules up to 4 for alignment: (0x100000 - 3) & ~3 = 0xffffc
    expect(ev?.data.iova).toBe(0xffffc000);
    expect(ev?.data.iovaLen).toBe(0x3000);
    expect(ev?.data.segs).toEqual([{ dma: 0xffffc000, length: 0x3000 }]);
    expect(r.observations.every((o) => o.ok)).toBe(true);
    expect(r.outcome).toBe('page-fault');
  });

  it('dma-direct (identity default domain): one segment per entry at its physical address', () => {
    const r = runScenario(loadScenarioFile(file, { sets: ['cmdline=iommu.passthrough=1'] }));
    const ev = r.events.find((e) => e.type === 'dma_map_sg');
    expect(ev?.data.via).toBe('dma-direct');
    const segs = ev?.data.segs as { dma: number; length: number }[];
    const bufs = r.events.filter((e) => e.type === 'alloc_pages').map((e) => Number(e.data.phys));
    expect(segs).toEqual(bufs.map((p) => ({ dma: p, length: 0x1000 })));
    expect(r.observations.every((o) => o.ok)).toBe(true);
  });
});
