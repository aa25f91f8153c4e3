/**
 * dma_alloc_coherent through dma-iommu (iommu_dma_alloc, dma-iommu.c:1653-1688): a blocking gfp takes
 * the remap path (blocks of the orders the IOMMU maps, one IOVA range under the coherent mask,
 * iommu_map_sg); GFP_ATOMIC gets one contiguous block and __iommu_dma_map.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadScenarioText } from '../../src/scenario/loader.js';
import { runScenario, type RunResult } from '../../src/scenario/runner.js';
import { setupScenarioLayers } from '../../src/scenario/setup.js';

function run(gfp: string, size = '12K'): RunResult {
  const text = `title: coherent
board:
  profile: rk3568
  ram: 2G
kernel: v6.12
steps:
  - op: probe
  - op: dma_alloc_coherent
    dev: fde40000.npu
    size: ${size}
    gfp: ${gfp}
    as: buf
  - op: device_write
    master: fde40000.npu
    addr: buf
    size: ${size}
    data: word 0x600dc0de
  - op: dma_free_coherent
    handle: buf
`;
  return runScenario(loadScenarioText(text, 'coherent.yaml'));
}

beforeAll(() => setupScenarioLayers());

describe('dma_alloc_coherent through dma-iommu', () => {
  it('GFP_KERNEL: remap path, an order-1 block and a page at one IOVA range, mapped in order', () => {
    const r = run('GFP_KERNEL');
    expect(r.outcome).toBe('ok');
    const ev = r.events.find((e) => e.type === 'iommu_dma_alloc_remap');
    const chunks = ev?.data.chunks as { pa: number; order: number }[];
    expect(chunks.map((c) => c.order)).toEqual([1, 0]);
    const iova = Number(ev?.data.iova);
    // 12 KiB: 3 granules, allocated 4-aligned top-down below the 32-bit coherent mask
    expect(iova).toBe(0xffffc000);
    // The IOMMU maps the blocks back to back: each iommu map event starts where the previous ended.
    const maps = r.events.filter((e) => e.layer === 'iommu' && e.type === 'map' && Number(e.data.iova) >= iova && Number(e.data.iova) < iova + 0x3000);
    let at = iova;
    for (const m of maps) {
      expect(Number(m.data.iova)).toBe(at);
      at += Number(m.data.size);
    }
    expect(at).toBe(iova + 0x3000);
    const physOf = (a: number) => maps.find((m) => a >= Number(m.data.iova) && a < Number(m.data.iova) + Number(m.data.size));
    expect(Number(physOf(iova)?.data.paddr)).toBe(chunks[0].pa);
    expect(Number(physOf(iova + 0x2000)?.data.paddr)).toBe(chunks[1].pa);
    // freed: the IOVA range unmapped, the blocks back in the allocator
    expect(r.events.some((e) => e.type === 'iommu_dma_unmap' && Number(e.data.iova) === iova && e.data.size === 0x3000)).toBe(true);
    const freed = r.events.filter((e) => e.type === 'mm_page_free').map((e) => Number(e.data.pa));
    for (const c of chunks) expect(freed).toContain(c.pa);
  });

  it('the zone modifiers are dropped and __GFP_HIGHMEM never reaches iommu_map (no WARN)', () => {
    const r = run('GFP_KERNEL | __GFP_DMA32');
    expect(r.outcome).toBe('ok');
    expect(r.log.some((l) => l.includes('WARNING'))).toBe(false);
  });

  it('GFP_ATOMIC: one contiguous order-2 block mapped with __iommu_dma_map, no remap', () => {
    const r = run('GFP_ATOMIC');
    expect(r.outcome).toBe('ok');
    expect(r.events.some((e) => e.type === 'iommu_dma_alloc_remap')).toBe(false);
    const m = r.events.find((e) => e.type === 'iommu_dma_map');
    expect(m?.data.mappedSize).toBe(0x3000);
  });
});

describe('dma_alloc_coherent through dma-direct', () => {
  it('a caller\'s __GFP_DMA32 is dropped by dma_alloc_attrs (mapping.c:615): the zone follows the coherent mask', () => {
    const text = `title: coherent direct
board:
  profile: rk3568
  ram: 8G
kernel: v6.12
cmdline: "iommu.passthrough=1"
steps:
  - op: probe
  - op: dma_set_mask
    dev: fde40000.npu
    bits: 40
  - op: dma_alloc_coherent
    dev: fde40000.npu
    size: 4K
    gfp: GFP_KERNEL | __GFP_DMA32
    as: buf
`;
    const r = runScenario(loadScenarioText(text, 'direct.yaml'));
    expect(r.outcome).toBe('ok');
    const ev = r.events.find((e) => e.type === 'dma_alloc_coherent');
    // 40-bit coherent mask: dma_direct_optimal_gfp_mask adds no zone flag, so GFP_KERNEL's first choice
    // on an 8 GiB board is ZONE_NORMAL, above 4 GiB — which a kept __GFP_DMA32 would have forbidden.
    expect(Number(ev?.data.phys)).toBeGreaterThanOrEqual(2 ** 32);
  });
});
