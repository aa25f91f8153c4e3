import { describe, expect, it } from 'vitest';
import {
  GFP_ATOMIC,
  GFP_DMA,
  GFP_DMA32,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_NOWAIT,
  GFP_USER,
  ZONE_DMA,
  ZONE_DMA32,
  ZONE_MOVABLE,
  ZONE_NORMAL,
  __GFP_COMP,
  __GFP_DIRECT_RECLAIM,
  __GFP_DMA,
  __GFP_DMA32,
  __GFP_HIGHMEM,
  __GFP_MOVABLE,
  __GFP_NOWARN,
  __GFP_ZERO,
  formatGfp,
  formatGfpMode,
  gfpZone,
  gfpZoneChecked,
  parseGfp,
} from '../../../src/linux/mm/gfp.js';

describe('gfp bit values (include/linux/gfp_types.h enum, 6.12)', () => {
  it('has the kernel values of the common masks', () => {
    // ___GFP_*_BIT enum: DMA 0, HIGHMEM 1, DMA32 2, MOVABLE 3, RECLAIMABLE 4, HIGH 5, IO 6, FS 7, ZERO 8,
    // UNUSED 9, DIRECT_RECLAIM 10, KSWAPD_RECLAIM 11, WRITE 12, NOWARN 13, ..., COMP 18.
    expect(GFP_KERNEL).toBe(0xcc0); // DIRECT(0x400)|KSWAPD(0x800)|IO(0x40)|FS(0x80)
    expect(GFP_ATOMIC).toBe(0x820); // HIGH(0x20)|KSWAPD(0x800)
    expect(GFP_NOWAIT).toBe(0x2800); // KSWAPD|NOWARN(0x2000)
    expect(GFP_DMA32).toBe(0x4);
    expect(GFP_DMA).toBe(0x1);
    expect(__GFP_ZERO).toBe(0x100);
    expect(__GFP_COMP).toBe(0x40000);
    expect(GFP_USER).toBe(0x100cc0); // + HARDWALL bit 20
    expect(GFP_HIGHUSER_MOVABLE).toBe(0x100cca);
  });
});

describe('gfp_zone (include/linux/gfp.h GFP_ZONE_TABLE)', () => {
  const table: [number, number][] = [
    [0, ZONE_NORMAL],
    [__GFP_DMA, ZONE_DMA],
    [__GFP_HIGHMEM, ZONE_NORMAL], // no HIGHMEM on arm64: OPT_ZONE_HIGHMEM = NORMAL
    [__GFP_DMA32, ZONE_DMA32],
    [__GFP_MOVABLE, ZONE_NORMAL],
    [__GFP_MOVABLE | __GFP_DMA, ZONE_DMA],
    [__GFP_MOVABLE | __GFP_HIGHMEM, ZONE_MOVABLE],
    [__GFP_MOVABLE | __GFP_DMA32, ZONE_DMA32],
    [GFP_KERNEL, ZONE_NORMAL],
    [GFP_ATOMIC | GFP_DMA32, ZONE_DMA32],
    [GFP_HIGHUSER_MOVABLE, ZONE_MOVABLE],
  ];
  it.each(table)('gfp %s -> zone %s', (gfp, zone) => {
    expect(gfpZone(gfp)).toBe(zone);
    expect(gfpZoneChecked(gfp).bad).toBe(false);
  });
  it('flags invalid combinations (GFP_ZONE_BAD) and gives index 0 as the table does', () => {
    for (const g of [__GFP_DMA | __GFP_HIGHMEM, __GFP_DMA | __GFP_DMA32, __GFP_DMA32 | __GFP_HIGHMEM, 0xf, 0xb, 0xd, 0xe, 0x7]) {
      expect(gfpZoneChecked(g)).toEqual({ zone: 0, bad: true });
    }
  });
  it('maps unconfigured zones to NORMAL (OPT_ZONE_*)', () => {
    const cfg = { zoneDma: false, zoneDma32: true };
    expect(gfpZone(GFP_DMA, cfg)).toBe(ZONE_NORMAL);
    expect(gfpZone(GFP_DMA32, { zoneDma: true, zoneDma32: false })).toBe(ZONE_NORMAL);
  });
});

describe('%pGg rendering (lib/vsprintf.c format_flags + mmflags.h name order)', () => {
  const cases: [number, string][] = [
    [GFP_KERNEL, 'GFP_KERNEL'],
    [GFP_KERNEL | __GFP_ZERO, 'GFP_KERNEL|__GFP_ZERO'],
    [GFP_KERNEL | __GFP_COMP, 'GFP_KERNEL|__GFP_COMP'],
    // GFP_ATOMIC precedes GFP_NOWAIT in the table, so NOWARN is left over.
    [GFP_ATOMIC | __GFP_NOWARN, 'GFP_ATOMIC|__GFP_NOWARN'],
    [GFP_ATOMIC | GFP_DMA32 | __GFP_ZERO, 'GFP_ATOMIC|GFP_DMA32|__GFP_ZERO'],
    [GFP_KERNEL | GFP_DMA32, 'GFP_KERNEL|GFP_DMA32'],
    [GFP_NOWAIT, 'GFP_NOWAIT'],
    [GFP_DMA32, 'GFP_DMA32'],
    [GFP_USER, 'GFP_USER'],
    [GFP_HIGHUSER_MOVABLE, 'GFP_HIGHUSER_MOVABLE'],
    [__GFP_DIRECT_RECLAIM, '__GFP_DIRECT_RECLAIM'],
    [GFP_KERNEL | __GFP_NOWARN | __GFP_COMP, 'GFP_KERNEL|__GFP_NOWARN|__GFP_COMP'],
    [0x200, '0x200'], // the unused bit has no name: printed as a number
    [GFP_KERNEL | 0x200, 'GFP_KERNEL|0x200'],
    [0, ''],
  ];
  it.each(cases)('%s -> %s', (gfp, text) => {
    expect(formatGfp(gfp)).toBe(text);
  });
  it('formats warn_alloc mode', () => {
    expect(formatGfpMode(GFP_ATOMIC | GFP_DMA32 | __GFP_ZERO)).toBe('0x924(GFP_ATOMIC|GFP_DMA32|__GFP_ZERO)');
    expect(formatGfpMode(0)).toBe('0x0()');
  });
  it('parses names back', () => {
    expect(parseGfp('GFP_KERNEL | __GFP_ZERO')).toBe(0xdc0);
    expect(parseGfp('GFP_ATOMIC|GFP_DMA32')).toBe(0x824);
    expect(parseGfp('0x820')).toBe(0x820);
    expect(parseGfp('GFP_BOGUS')).toBeUndefined();
    expect(parseGfp('')).toBeUndefined();
  });
});
