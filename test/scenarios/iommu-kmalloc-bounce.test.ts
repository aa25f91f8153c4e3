/**
 * iommu_dma_map_page's bounce of small kmalloc buffers for non-coherent devices (dma-iommu.c:1179-1238):
 * the IOMMU maps the swiotlb slot, and the unmap copies the device's bytes back to the object.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadScenarioFile } from '../../src/scenario/loader.js';
import { runScenario } from '../../src/scenario/runner.js';
import { setupScenarioLayers } from '../../src/scenario/setup.js';

const file = join(import.meta.dirname, '../../scenarios/dma-iommu/kmalloc-bounce-through-iommu.yaml');
beforeAll(() => setupScenarioLayers());

describe('dma-iommu bounces small kmalloc buffers of non-coherent devices', () => {
  it('maps the slot through the IOMMU and copies the data back on unmap', () => {
    const r = runScenario(loadScenarioFile(file));
    expect(r.outcome).toBe('ok');
    const bounced = r.events.find((e) => e.type === 'swiotlb_bounced' && e.data.via === 'dma-iommu');
    expect(bounced).toBeDefined();
    const map = r.events.find((e) => e.type === 'iommu_dma_map');
    const slot = r.events.find((e) => e.type === 'swiotlb_map');
    // The IOMMU maps the granule-aligned page that holds the slot, not the kmalloc object's page.
    expect(Number(map?.data.phys)).toBe(Number(slot?.data.tlb));
    expect(Number(slot?.data.tlb) % 4096).toBe(0);
  });
  it('a DMA_TO_DEVICE mapping of the same object is not bounced (dma_kmalloc_needs_bounce is false)', () => {
    const r = runScenario(loadScenarioFile(file, { sets: ['steps.2.dir=to-device', 'steps.3.op=device_read', 'steps.3.expect=null', 'steps.3.data=null', 'steps.5.expect=zero'] }));
    expect(r.events.some((e) => e.type === 'swiotlb_bounced')).toBe(false);
  });
  it('a dma-coherent device is not bounced', () => {
    const r = runScenario(loadScenarioFile(file, { sets: ['board.add=[{path: /npu@fde40000, props: {dma-coherent: true}}]'] }));
    expect(r.outcome).toBe('ok');
    expect(r.events.some((e) => e.type === 'swiotlb_bounced')).toBe(false);
  });
});
