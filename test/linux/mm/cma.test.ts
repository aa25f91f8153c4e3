/**
 * The default CMA area: cma_alloc's first-fit bitmap search with cma_alloc_aligned's alignment
 * (min(get_order(size), CONFIG_CMA_ALIGNMENT = 8), measured from pfn 0: mm/cma.c:53-70, 434-441), and
 * dma_alloc_contiguous serving a large blocking dma_alloc_coherent (kernel/dma/contiguous.c:350-361).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CmaArea, cmaAlignOrder } from '../../../src/linux/mm/cma.js';
import { loadScenarioText } from '../../../src/scenario/loader.js';
import { runScenario } from '../../../src/scenario/runner.js';
import { setupScenarioLayers } from '../../../src/scenario/setup.js';

beforeAll(() => setupScenarioLayers());

describe('CmaArea', () => {
  it('aligns to the allocation order from pfn 0, first fit, and reuses released ranges', () => {
    // base pfn 0x100001 (not 2-aligned): an order-1 request must start at an even pfn -> 0x100002.
    const cma = new CmaArea(0x100001000, 0x100000, 4096);
    expect(cmaAlignOrder(8192, 4096)).toBe(1);
    expect(cma.alloc(1, 0)).toBe(0x100001000);
    expect(cma.alloc(2, 1)).toBe(0x100002000);
    expect(cma.alloc(4, 2)).toBe(0x100004000);
    expect(cma.used).toBe(7);
    expect(cma.release(0x100002000, 2)).toBe(true);
    expect(cma.alloc(2, 1)).toBe(0x100002000);
    expect(cma.release(0x2000, 1)).toBe(false);
  });
  it('caps the alignment at CONFIG_CMA_ALIGNMENT and fails when no run fits', () => {
    expect(cmaAlignOrder(64 * 1024 * 1024, 4096)).toBe(8);
    const cma = new CmaArea(0x40000000, 16 * 4096, 4096);
    expect(cma.alloc(17, 0)).toBeNull();
    expect(cma.alloc(16, 4)).toBe(0x40000000);
    expect(cma.alloc(1, 0)).toBeNull();
  });
});

const scenario = (cma: string) => `
title: cma
board: { profile: rk3568, ram: 2G }
kernel: v6.12
cmdline: "iommu.passthrough=1 ${cma}"
steps:
  - op: probe
  - { op: dma_alloc_coherent, dev: fde40000.npu, size: 8M, as: big }
`;

describe('dma_alloc_coherent through dma-direct with cma=', () => {
  it('takes an 8 MiB block from the CMA area (the buddy allocator has no order-11 block)', () => {
    const r = runScenario(loadScenarioText(scenario('cma=64M'), 'cma.yaml'));
    expect(r.outcome).toBe('ok');
    const c = r.events.find((e) => e.type === 'dma_alloc_contiguous');
    expect(c?.data.phys).not.toBeNull();
    expect(r.log.some((l) => /cma: Reserved 64 MiB at 0x[0-9a-f]{16} on node -1/.test(l))).toBe(true);
  });
  it('without cma= the same 8 MiB request fails (order 11 is beyond MAX_PAGE_ORDER 10)', () => {
    const r = runScenario(loadScenarioText(scenario(''), 'cma.yaml'));
    expect(r.outcome).toBe('alloc-failed');
  });
});
