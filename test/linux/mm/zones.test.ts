import { describe, expect, it } from 'vitest';
import type { RamBank } from '../../../src/mem/phys-mem.js';
import { computeZones, zoneOf, zoneRangesLog } from '../../../src/linux/mm/zones.js';
import { rk2g, rk4g, rk8g } from './rk3568-ram.js';

// RAM layouts from board-memory-maps.md (U-Boot banks as the kernel receives them).
const G = 0x4000_0000;
// A 16 GiB layout with the MMIO hole and a second hole above 4 GiB.
const big16g: RamBank[] = [
  { base: 0x0, size: 0xf000_0000 },
  { base: 0x1_0000_0000, size: 0x2_0000_0000 },
  { base: 0x3_8000_0000, size: 0x1_9000_0000 },
];
const salvator: RamBank[] = [
  { base: 0x4800_0000, size: 0x3800_0000 },
  { base: 0x5_0000_0000, size: G },
  { base: 0x6_0000_0000, size: G },
  { base: 0x7_0000_0000, size: G },
];
const m1: RamBank[] = [{ base: 0x8_0000_0000, size: 8 * G }];

describe('arm64 zone boundaries (arch/arm64/mm/init.c zone_sizes_init, mm/mm_init.c free_area_init)', () => {
  it('2 GiB RK3568: everything in ZONE_DMA, DMA32 and Normal empty', () => {
    const z = computeZones({ ram: rk2g });
    expect(z.arm64DmaPhysLimit).toBe(0x8000_0000); // min(U32_MAX, end-1)+1
    expect(zoneRangesLog(z)).toEqual([
      'Zone ranges:',
      '  DMA      [mem 0x0000000000200000-0x000000007fffffff]',
      '  DMA32    empty',
      '  Normal   empty',
    ]);
  });

  it('4 GiB RK3568: DMA to 4 GiB, DMA32 empty, Normal holds only the 256 MiB alias', () => {
    const z = computeZones({ ram: rk4g });
    expect(zoneRangesLog(z)).toEqual([
      'Zone ranges:',
      '  DMA      [mem 0x0000000000200000-0x00000000ffffffff]',
      '  DMA32    empty',
      '  Normal   [mem 0x0000000100000000-0x00000001ffffffff]',
    ]);
    expect(z.zones[2].ram).toEqual([{ base: 0x1_f000_0000, size: 0x1000_0000 }]);
    expect(z.zones[2].presentBytes).toBe(256 * 1024 * 1024);
    expect(z.zones[0].presentBytes).toBe(0xf000_0000 - 0x20_0000);
  });

  it('8 GiB RK3568: Normal holds the 4 GiB above 4 GiB', () => {
    const z = computeZones({ ram: rk8g });
    expect(z.zones.map((s) => [s.name, s.start, s.end, s.empty])).toEqual([
      ['DMA', 0x20_0000, 0x1_0000_0000, false],
      ['DMA32', 0x1_0000_0000, 0x1_0000_0000, true],
      ['Normal', 0x1_0000_0000, 0x2_0000_0000, false],
    ]);
    expect(z.zones[2].presentBytes).toBe(4 * G);
  });

  it('16 GiB with holes: zone spans are contiguous, pages only where RAM is', () => {
    const z = computeZones({ ram: big16g });
    expect(zoneRangesLog(z)[3]).toBe('  Normal   [mem 0x0000000100000000-0x000000050fffffff]');
    expect(z.zones[2].ram).toEqual([
      { base: 0x1_0000_0000, size: 0x2_0000_0000 },
      { base: 0x3_8000_0000, size: 0x1_9000_0000 },
    ]);
    expect(z.zones[0].presentBytes + z.zones[2].presentBytes).toBe(0xf000_0000 + 0x2_0000_0000 + 0x1_9000_0000);
    expect(zoneOf(z, 0x3_0000_0000)?.name).toBe('Normal'); // in a hole but inside the Normal span
  });

  // Last bank 1 GiB at 0x7_0000_0000 ends at 0x7_4000_0000 (page-allocator-zones.md says 0x7ffffffff: wrong).
  it('Salvator-X: DMA span starts at the start of DRAM', () => {
    const z = computeZones({ ram: salvator });
    expect(zoneRangesLog(z).slice(1)).toEqual([
      '  DMA      [mem 0x0000000048000000-0x00000000ffffffff]',
      '  DMA32    empty',
      '  Normal   [mem 0x0000000100000000-0x000000073fffffff]',
    ]);
  });

  it('Apple M1 (all RAM above 4 GiB, no dma-ranges): ZONE_DMA covers everything', () => {
    const z = computeZones({ ram: m1 });
    // DRAM starts above U32_MAX, so no clamp: zone_dma_limit = PHYS_ADDR_MAX.
    expect(zoneRangesLog(z).slice(1)).toEqual([
      '  DMA      [mem 0x0000000800000000-0x00000009ffffffff]',
      '  DMA32    empty',
      '  Normal   empty',
    ]);
  });

  it('a 30-bit dma-ranges limit splits DMA and DMA32 (Raspberry Pi 4 style)', () => {
    const z = computeZones({ ram: [{ base: 0, size: 8 * G }], dtDmaLimit: 0x3fff_ffff });
    expect(zoneRangesLog(z, true).slice(1)).toEqual([
      '  DMA      [mem 0x0000000000000000-0x000000003fffffff]',
      '  DMA32    [mem 0x0000000040000000-0x00000000ffffffff]',
      '  Normal   [mem 0x0000000100000000-0x00000001ffffffff]',
      '  Device   empty',
    ]);
    expect(z.zoneDmaLimit).toBe(0x3fff_ffff);
  });

  it('a DT limit above 4 GiB is clamped to 4 GiB when DRAM starts below it', () => {
    const z = computeZones({ ram: rk8g, dtDmaLimit: 0xff_ffff_ffff });
    expect(z.zoneDmaLimit).toBe(0xffff_ffff);
    expect(z.zones[1].empty).toBe(true);
  });

  it('without CONFIG_ZONE_DMA, DMA32 takes the low 4 GiB', () => {
    const z = computeZones({ ram: rk8g, config: { zoneDma: false, zoneDma32: true } });
    expect(z.zones[0].empty).toBe(true);
    expect([z.zones[1].start, z.zones[1].end]).toEqual([0x20_0000, 0x1_0000_0000]);
    expect(z.arm64DmaPhysLimit).toBe(0x1_0000_0000);
  });

  it("2 GiB with Rockchip's vendor OP-TEE hole: same spans, 16 MiB fewer present pages", () => {
    const holes: RamBank[] = [
      { base: 0x20_0000, size: 0x0840_0000 - 0x20_0000 },
      { base: 0x0940_0000, size: 0x8000_0000 - 0x0940_0000 },
    ];
    const z = computeZones({ ram: holes });
    expect(zoneRangesLog(z)[1]).toBe('  DMA      [mem 0x0000000000200000-0x000000007fffffff]');
    expect(z.zones[0].presentBytes).toBe(0x8000_0000 - 0x20_0000 - 0x100_0000);
    expect(z.zones[0].ram.length).toBe(2);
  });
});
