/**
 * swiotlb cases worked out by hand from kernel/dma/swiotlb.c (6.12): slot choice, alignment, wrap,
 * "buffer is full", and the byte copies per direction (seed 000's erased PTE).
 */
import { describe, it, expect } from 'vitest';
import { PhysMem } from '../../../src/mem/phys-mem.js';
import { Device } from '../../../src/linux/device.js';
import { KLog } from '../../../src/linux/dma/kmsg.js';
import { Swiotlb, memblockAllocLow, parseSwiotlbParam } from '../../../src/linux/dma/swiotlb.js';
import { DirectDma } from '../../../src/linux/dma/direct.js';
import { dmaBitMask } from '../../../src/linux/dma/u64.js';

function smallPool(): { mem: PhysMem; pool: Swiotlb; klog: KLog } {
  // RAM 1 GiB at 0x4000_0000 and 16 MiB above 4 GiB; swiotlb=256 (256 slots, 512 KiB), one CPU.
  const mem = new PhysMem([
    { base: 0x4000_0000, size: 0x4000_0000 },
    { base: 0x1_0000_0000, size: 16 << 20 },
  ]);
  const klog = new KLog();
  const pool = Swiotlb.boot({ mem, pageSize: 4096, cpus: 1, param: '256', klog, arm64DmaPhysLimit: 0x8000_0000 });
  if (!pool) throw new Error('no pool');
  return { mem, pool, klog };
}

describe('swiotlb boot placement', () => {
  it('places the pool top-down below ARCH_LOW_ADDRESS_LIMIT, used as an exclusive bound', () => {
    const { pool, klog } = smallPool();
    // end = 0x8000_0000 - 1; round_down(0x7fffffff - 0x80000, 4K) = 0x7ff7f000
    expect(pool.start).toBe(0x7ff7f000);
    expect(pool.nslabs).toBe(256);
    expect(klog.messages.map((m) => m.text)).toEqual([
      'software IO TLB: area num 1.\n',
      'software IO TLB: mapped [mem 0x000000007ff7f000-0x000000007ffff000] (0MB)\n',
    ]);
  });

  it('a 4 GiB-from-zero board gets the 64 MiB pool at [0xfbfff000, 0xfffff000)', () => {
    const mem = new PhysMem([{ base: 0, size: 0x2_0000_0000 }]);
    expect(memblockAllocLow(mem, 64 << 20, 0xffff_ffff, 4096)).toBe(0xfbfff000);
    // a reservation at the top: the free range now ends at 0xf0000000, below `end`, so no page is lost:
    // round_down(0xf0000000 - 64 MiB, 4K) = 0xec000000
    expect(memblockAllocLow(mem, 64 << 20, 0xffff_ffff, 4096, [{ base: 0xf000_0000, size: 0x1000_0000 }])).toBe(0xec000000);
  });

  it('parses swiotlb= as setup_io_tlb_npages does', () => {
    expect(parseSwiotlbParam('300')).toEqual({ nslabs: 384 }); // ALIGN(300, 128)
    expect(parseSwiotlbParam('1024,4,force')).toEqual({ nslabs: 1024, nareas: 4, force: true });
    expect(parseSwiotlbParam('force')).toEqual({ force: true });
    expect(parseSwiotlbParam('noforce')).toEqual({ noforce: true });
  });
});

describe('swiotlb slot search', () => {
  it('next-fit, page alignment with stride 2 for >= PAGE_SIZE maps, wrap to slot 0', () => {
    const { pool } = smallPool();
    const dev = new Device('plain', '');
    const map = (orig: number, size: number): number => pool.mapSingle(dev, orig, size, 0, 'DMA_TO_DEVICE', 0)?.slotIndex ?? -1;
    expect(map(0x1_0000_0000, 0x40)).toBe(0); // 1 slot at area.index 0
    // 4 KiB: alloc_align_mask 0xfff, stride 2; slot 1 is not 4K-aligned (base + 0x800) -> slot 2
    expect(map(0x1_0000_1000, 0x1000)).toBe(2);
    expect(map(0x1_0000_2000, 0x900)).toBe(4); // 2 slots, index 4
    pool.unmapSingle(dev, pool.start, 0x40, 'DMA_TO_DEVICE', 0); // slot 0 free again
    expect(map(0x1_0000_3000, 0x40)).toBe(6); // next fit from index 6, not slot 0
    // 124 slots: from index 7 (unaligned) 8, 10, ... none has 124 free until the next segment: 128
    expect(map(0x1_0000_4000, 124 * 2048)).toBe(128);
    // 8 slots from index 252: 252 (4 free), 254 (2 free), then wraps to 0 (not 256 - 256 + ...):
    // 0 has 2 free, 2/4/6 are used, 8 has 120 free
    expect(map(0x1_0008_0000, 0x4000)).toBe(8);
    expect(pool.totalUsed).toBe(2 + 2 + 1 + 124 + 8);
  });

  it('keeps the min_align_mask bits: NVMe-style 0xfff keeps bit 11 by slot choice and bits 0-10 as an offset', () => {
    const { pool } = smallPool();
    const nvme = new Device('nvme', '', { minAlignMask: 0xfff });
    // orig ends in 0xa45: bit 11 set -> needs an odd slot (pool start is 4K-aligned); offset 0x245
    const r = pool.mapSingle(nvme, 0x1_0000_0a45, 0x100, 0, 'DMA_TO_DEVICE', 0);
    expect(r?.slotIndex).toBe(1);
    expect(r?.tlbAddr).toBe(pool.start + 0x800 + 0x245);
    // alloc_size of the slot: 0x100 + 0x245 bytes from the mapping's start... minus the in-slot offset
    expect(r?.allocSize).toBe(0x100 + 0x245 - 0x245);
  });

  it('a segment boundary smaller than the mapping: "swiotlb buffer is full" on an empty pool', () => {
    const { pool, klog } = smallPool();
    const dev = new Device('seg64k', 'drv', { segBoundaryMask: 0xffff });
    const r = pool.mapSingle(dev, 0x1_0000_0000, 0x11000, 0, 'DMA_TO_DEVICE', 0);
    expect(r).toBeNull();
    expect(klog.messages.at(-1)).toMatchObject({
      kind: 'printk',
      level: 'warn',
      device: 'seg64k',
      flags: 'ratelimited',
      // ALIGN(0x11000 + 0, 1) = 69632 bytes, 34 slots > 32 per 64 KiB segment
      text: 'swiotlb buffer is full (sz: 69632 bytes), total 256 (slots), used 0 (slots)\n',
    });
  });
});

describe('bounce copies are real bytes', () => {
  it('seed 000: a PTE written into the bounce slot is erased by sync_single_for_device(DMA_TO_DEVICE)', () => {
    const { mem, pool } = smallPool();
    const direct = new DirectDma({ mem, pageSize: 4096, swiotlb: pool });
    const iommuDev = new Device('fde4b000.iommu', 'rk_iommu', { dmaMask: dmaBitMask(32) });
    iommuDev.dmaIoTlbMem = pool;
    const table = 0x1_0000_0000; // a page-table page above 4 GiB: not dma_capable with a 32-bit mask
    mem.write32(table + 0, 0x1111_1001);
    mem.write32(table + 8, 0x0000_0000);
    const m = direct.mapPage(iommuDev, table, 0x1000, 'DMA_TO_DEVICE');
    expect(m.bounced).toBe(true);
    expect(m.dma).toBe(pool.start); // page-aligned first slot
    expect(mem.read32(m.dma)).toBe(0x1111_1001); // map copied the original
    // the driver writes a new PTE through phys_to_virt(dma): into the slot, not the original
    mem.write32(m.dma + 8, 0x2222_2001);
    direct.syncSingleForDevice(iommuDev, m.dma, 0x1000, 'DMA_TO_DEVICE');
    expect(mem.read32(m.dma + 8)).toBe(0); // the original's stale zero came back over it
    expect(mem.read32(table + 8)).toBe(0);
    // a write to the original followed by the same sync reaches the slot
    mem.write32(table + 16, 0x3333_3001);
    direct.syncSingleForDevice(iommuDev, m.dma, 0x1000, 'DMA_TO_DEVICE');
    expect(mem.read32(m.dma + 16)).toBe(0x3333_3001);
  });

  it('sync_for_cpu(FROM_DEVICE) copies the slot back; TO_DEVICE copies nothing; unmap honours SKIP_CPU_SYNC', () => {
    const { mem, pool } = smallPool();
    const dev = new Device('plain', '');
    const orig = 0x1_0000_2000;
    mem.fill(orig, 0x40, 0x10);
    const r = pool.mapSingle(dev, orig, 0x40, 0, 'DMA_FROM_DEVICE', 0);
    if (!r) throw new Error('map failed');
    expect(mem.read8(r.tlbAddr)).toBe(0x10); // copied at map even for FROM_DEVICE
    mem.fill(r.tlbAddr, 0x40, 0xd0); // the device writes
    pool.syncSingleForCpu(dev, r.tlbAddr, 0x40, 'DMA_TO_DEVICE');
    expect(mem.read8(orig)).toBe(0x10);
    pool.syncSingleForCpu(dev, r.tlbAddr, 0x40, 'DMA_FROM_DEVICE');
    expect(mem.read8(orig + 0x3f)).toBe(0xd0);
    mem.fill(r.tlbAddr, 0x40, 0xe0);
    pool.unmapSingle(dev, r.tlbAddr, 0x40, 'DMA_FROM_DEVICE', 0x20);
    expect(mem.read8(orig)).toBe(0xd0);
    expect(pool.totalUsed).toBe(0);
  });
});

describe('trace events and kernel log', () => {
  it('a bounced map, sync and unmap each emit an event with their addresses; "buffer is full" reaches printk', async () => {
    const { Tracer } = await import('../../../src/trace/events.js');
    const tracer = new Tracer();
    const mem = new PhysMem([
      { base: 0x4000_0000, size: 0x4000_0000 },
      { base: 0x1_0000_0000, size: 16 << 20 },
    ]);
    const klog = new KLog(tracer);
    const pool = Swiotlb.boot({ mem, pageSize: 4096, cpus: 1, param: '128', klog, tracer, arm64DmaPhysLimit: 0x8000_0000 });
    if (!pool) throw new Error('no pool');
    const direct = new DirectDma({ mem, pageSize: 4096, swiotlb: pool, klog, tracer });
    const dev = new Device('fde4b000.iommu', 'rk_iommu', { dmaMask: dmaBitMask(32) });
    dev.dmaIoTlbMem = pool;
    const m = direct.mapPage(dev, 0x1_0000_0000, 0x1000, 'DMA_TO_DEVICE');
    direct.syncSingleForDevice(dev, m.dma, 0x1000, 'DMA_TO_DEVICE');
    direct.unmapPage(dev, m.dma, 0x1000, 'DMA_TO_DEVICE');
    const types = tracer.events.map((e) => `${e.layer}:${e.type}`);
    expect(types).toEqual([
      'swiotlb:swiotlb_init',
      'swiotlb:swiotlb_bounced',
      'swiotlb:swiotlb_bounce',
      'swiotlb:swiotlb_map',
      'dma:dma_map_page',
      'swiotlb:swiotlb_bounce',
      'dma:dma_sync_single_for_device',
      'dma:dma_sync_single_for_cpu',
      'swiotlb:swiotlb_release',
      'dma:dma_unmap_page',
    ]);
    expect(tracer.events[3].data).toMatchObject({ orig: 0x1_0000_0000, tlb: pool.start, slot: 0, nslots: 2 });
    // a 512 KiB map cannot fit a 256 KiB pool
    direct.mapPage(dev, 0x1_0000_0000, 0x80000, 'DMA_TO_DEVICE');
    expect(tracer.log.at(-1)?.text).toBe('rk_iommu fde4b000.iommu: swiotlb buffer is full (sz: 524288 bytes), total 128 (slots), used 0 (slots)');
  });
});
