/** dma-direct cases worked out by hand from include/linux/dma-direct.h, kernel/dma/direct.{c,h} (6.12). */
import { describe, it, expect } from 'vitest';
import { PRESETS } from '../../../src/linux/presets.js';
import { PhysMem } from '../../../src/mem/phys-mem.js';
import { Device, dmaSetMaskAndCoherent, EIO } from '../../../src/linux/device.js';
import {
  DirectDma,
  ZoneModelPages,
  arm64Zones,
  dmaCapable,
  dmaToPhys,
  physToDma,
} from '../../../src/linux/dma/direct.js';
import { KLog } from '../../../src/linux/dma/kmsg.js';
import { Swiotlb } from '../../../src/linux/dma/swiotlb.js';
import { DMA_MAPPING_ERROR, dmaBitMask } from '../../../src/linux/dma/u64.js';
import { GFP_DMA, GFP_DMA32 } from '../../../src/linux/mm/gfp.js';

describe('dma_capable before and after the 2018 bus-limit rule', () => {
  // Seed 002: a 40-bit master behind a bus limited to 32 bits, a buffer at 4 GiB.
  const dev = new Device('ee300000.sata', 'sata_rcar', { dmaMask: dmaBitMask(40), busDmaLimit: dmaBitMask(32) });
  it('v4.19: only the device mask counts -> capable', () => {
    expect(dmaCapable(dev, 0x1_0000_0000, 0x1000, PRESETS['v4.19'].dmaCapableRule)).toBe(true);
  });
  it('v4.20-rc1 and v6.12: min_not_zero(mask, bus limit) -> not capable', () => {
    expect(dmaCapable(dev, 0x1_0000_0000, 0x1000, PRESETS['v4.20-rc1'].dmaCapableRule)).toBe(false);
    expect(dmaCapable(dev, 0x1_0000_0000, 0x1000, PRESETS['v6.12'].dmaCapableRule)).toBe(false);
    // the last byte decides: 0xfffff000 + 0x1000 - 1 = 0xffffffff fits, + 0x1001 does not
    expect(dmaCapable(dev, 0xffff_f000, 0x1000)).toBe(true);
    expect(dmaCapable(dev, 0xffff_f000, 0x1001)).toBe(false);
  });
  it('a zero bus limit means no bus limit; DMA_MAPPING_ERROR is never capable', () => {
    const d = new Device('d', '', { dmaMask: dmaBitMask(40) });
    expect(dmaCapable(d, 0x1_0000_0000, 0x1000)).toBe(true);
    expect(dmaCapable(d, DMA_MAPPING_ERROR, 1)).toBe(false);
  });
  it('the same map bounces under v6.12 and goes straight through under v4.19', () => {
    const mem = new PhysMem([
      { base: 0x4000_0000, size: 0x4000_0000 },
      { base: 0x1_0000_0000, size: 0x100_0000 },
    ]);
    const pool = Swiotlb.boot({ mem, pageSize: 4096, cpus: 1, param: '128', arm64DmaPhysLimit: 0x8000_0000 });
    const d612 = new DirectDma({ mem, pageSize: 4096, swiotlb: pool, capableRule: PRESETS['v6.12'].dmaCapableRule });
    const d419 = new DirectDma({ mem, pageSize: 4096, swiotlb: pool, capableRule: PRESETS['v4.19'].dmaCapableRule });
    expect(d419.mapPage(dev, 0x1_0000_0000, 0x1000, 'DMA_TO_DEVICE')).toMatchObject({ dma: 0x1_0000_0000, bounced: false });
    const r = d612.mapPage(dev, 0x1_0000_0000, 0x1000, 'DMA_TO_DEVICE');
    expect(r.bounced).toBe(true);
    expect(r.dma).toBe(pool?.start); // the dma address differs from the physical one
  });
  it('without a swiotlb pool the map fails with the kernel WARN text', () => {
    const mem = new PhysMem([{ base: 0x1_0000_0000, size: 0x100_0000 }]);
    const klog = new KLog();
    const d = new DirectDma({ mem, pageSize: 4096, klog });
    expect(d.mapPage(dev, 0x1_0000_0000, 0x1000, 'DMA_TO_DEVICE').dma).toBe(DMA_MAPPING_ERROR);
    expect(klog.messages[0]).toMatchObject({
      kind: 'WARN',
      file: 'kernel/dma/direct.h',
      line: 103,
      text: 'DMA addr 0x0000000100000000+4096 overflow (mask ffffffffff, bus limit ffffffff).\n',
    });
  });
});

describe('phys <-> dma through dma-ranges', () => {
  const dev = new Device('d', '', {
    dmaRangeMap: [
      { cpuStart: 0x8000_0000, dmaStart: 0, size: 0x8000_0000 },
      { cpuStart: 0x1_0000_0000, dmaStart: 0x8000_0000, size: 0x1_0000_0000 },
    ],
  });
  it('translates by the first covering row, and fails outside every row', () => {
    expect(physToDma(dev, 0x8000_1234)).toBe(0x1234);
    expect(physToDma(dev, 0x1_0000_0000)).toBe(0x8000_0000);
    expect(physToDma(dev, 0x1000)).toBe(DMA_MAPPING_ERROR);
    expect(dmaToPhys(dev, 0x8000_0000)).toBe(0x1_0000_0000);
  });
});

describe('dma_direct_alloc zone choice (arm64, RAM 0-8 GiB: ZONE_DMA 0-4 GiB, ZONE_DMA32 empty)', () => {
  const zones = arm64Zones({ dramStart: 0, dramEnd: 0x2_0000_0000, pageSize: 4096 });
  it('computes the zones as zone_sizes_init does', () => {
    expect(zones.zoneDmaLimit).toBe(0xffff_ffff);
    expect(zones.spans.map((s) => [s.zone, s.start, s.end])).toEqual([
      ['DMA', 0, 0x1_0000_0000],
      ['DMA32', 0x1_0000_0000, 0x1_0000_0000],
      ['NORMAL', 0x1_0000_0000, 0x2_0000_0000],
      ['MOVABLE', 0x2_0000_0000, 0x2_0000_0000],
    ]);
    expect(zones.swiotlbNeeded).toBe(true);
  });
  const mem = new PhysMem([{ base: 0, size: 0x10_0000 }]);
  it('a 32-bit coherent mask asks GFP_DMA; a 36-bit one asks no zone', () => {
    const d = new DirectDma({ mem, pageSize: 4096, pages: new ZoneModelPages(zones, 'highest-free-first', 4096), zoneDmaLimit: zones.zoneDmaLimit });
    const dev32 = new Device('a', '', { coherentDmaMask: dmaBitMask(32) });
    const r32 = d.allocPages(dev32, 0x1000, 0);
    expect(r32.optimalGfp).toBe(GFP_DMA);
    expect(r32.phys).toBe(0xffff_f000);
    const dev36 = new Device('b', '', { coherentDmaMask: dmaBitMask(36) });
    const r36 = d.allocPages(dev36, 0x1000, 0);
    expect(r36.optimalGfp).toBe(0);
    expect(r36.phys).toBe(0x1_ffff_f000);
  });
  it('a 30-bit mask fails with highest-free-first: GFP_DMA already set, no lower zone to retry in', () => {
    const d = new DirectDma({ mem, pageSize: 4096, pages: new ZoneModelPages(zones, 'highest-free-first', 4096), zoneDmaLimit: zones.zoneDmaLimit });
    const r = d.allocPages(new Device('c', '', { coherentDmaMask: dmaBitMask(30) }), 0x1000, 0);
    expect(r.attempts).toHaveLength(1);
    expect(r.phys).toBeNull();
  });
  it('RAM only above 4 GiB: zone_dma_limit stays all-ones, the 33-bit mask retries GFP_DMA32 then GFP_DMA', () => {
    const hi = arm64Zones({ dramStart: 0x1_0000_0000, dramEnd: 0x3_0000_0000, pageSize: 4096 });
    expect(hi.spans[0]).toEqual({ zone: 'DMA', start: 0x1_0000_0000, end: 0x3_0000_0000 });
    // with a zone_dma_limit below (as a DT dma-ranges would give), 36-bit mask -> no zone flag, then
    // an address above the mask -> retry GFP_DMA32, then GFP_DMA
    const z = arm64Zones({ dramStart: 0, dramEnd: 0x20_0000_0000, pageSize: 4096, ofDmaMaxCpu: 0x3fff_ffff });
    const d = new DirectDma({ mem, pageSize: 4096, pages: new ZoneModelPages(z, 'highest-free-first', 4096), zoneDmaLimit: z.zoneDmaLimit });
    const r = d.allocPages(new Device('e', '', { coherentDmaMask: dmaBitMask(36) }), 0x1000, 0);
    expect(r.attempts.map((a) => [a.gfp, a.zone])).toEqual([
      [0, 'NORMAL'],
      [GFP_DMA32, 'DMA32'],
    ]);
    expect(r.phys).toBe(0xffff_f000);
  });
});

describe('dma_set_mask_and_coherent', () => {
  it('accepts 32 bits or more; a smaller mask must reach min(top of RAM, zone_dma_limit)', () => {
    const dev = new Device('d', '');
    dev.dmaGlobals = { pageSize: 4096, maxPfn: 0x200000, zoneDmaLimit: 0x3fff_ffff };
    expect(dmaSetMaskAndCoherent(dev, dmaBitMask(40))).toBe(0);
    expect(dev.dmaMask).toBe(dmaBitMask(40));
    expect(dev.coherentDmaMask).toBe(dmaBitMask(40));
    expect(dmaSetMaskAndCoherent(dev, dmaBitMask(30))).toBe(0); // 0x3fffffff >= zone_dma_limit
    expect(dmaSetMaskAndCoherent(dev, dmaBitMask(24))).toBe(EIO);
    expect(dev.dmaMask).toBe(dmaBitMask(30));
  });
});

describe('of_dma_configure: masks and bus limit from dma-ranges', () => {
  it('a 32-bit dma-ranges sets bus_dma_limit and cuts both masks; none leaves the limit at 0', async () => {
    const { ofDmaConfigure } = await import('../../../src/linux/device.js');
    const d = new Device('fe5e0000.sata', '', { dmaMask: dmaBitMask(32), coherentDmaMask: dmaBitMask(32) });
    ofDmaConfigure(d, [{ cpuStart: 0, dmaStart: 0, size: 0x1_0000_0000 }]);
    expect(d.busDmaLimit).toBe(0xffff_ffff);
    // driver widens the masks later; the bus limit stays and still decides dma_capable
    expect(dmaSetMaskAndCoherent(d, dmaBitMask(40))).toBe(0);
    expect(dmaCapable(d, 0x1_0000_0000, 0x1000)).toBe(false);
    const e = new Device('x', '', { dmaMask: dmaBitMask(32), coherentDmaMask: dmaBitMask(32) });
    ofDmaConfigure(e, null);
    expect(e.busDmaLimit).toBe(0);
    expect(e.dmaRangeMap).toBeNull();
    // a 36-bit window: end 0xf_ffff_ffff -> mask DMA_BIT_MASK(36) ANDed into a 40-bit mask
    const f = new Device('y', '', { dmaMask: dmaBitMask(40), coherentDmaMask: dmaBitMask(40) });
    ofDmaConfigure(f, [{ cpuStart: 0, dmaStart: 0, size: 0x10_0000_0000 }]);
    expect(f.dmaMask).toBe(dmaBitMask(36));
    expect(f.busDmaLimit).toBe(0xf_ffff_ffff);
  });
});
