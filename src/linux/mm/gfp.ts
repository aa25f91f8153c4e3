/**
 * GFP ("get free pages") flags with the bit values of Linux 6.12, the zone a mask selects (gfp_zone) and
 * the kernel's `%pGg` rendering used in allocation-failure warnings.
 *
 * Bit positions come from the enum in include/linux/gfp_types.h:26-62. Bits after ___GFP_ZEROTAGS
 * depend on the kernel configuration (gfp_types.h:51-60): SKIP_ZERO/SKIP_KASAN exist only with
 * CONFIG_KASAN_HW_TAGS, NOLOCKDEP only with CONFIG_LOCKDEP, NO_OBJ_EXT only with CONFIG_SLAB_OBJ_EXT. We
 * model a distribution arm64 kernel (Debian: no KASAN_HW_TAGS, no LOCKDEP, MEMCG selects SLAB_OBJ_EXT),
 * so the first three are 0 (gfp_types.h:93-99) and NO_OBJ_EXT takes bit 24.
 */

export const ___GFP_DMA = 0x1;
export const ___GFP_HIGHMEM = 0x2;
export const ___GFP_DMA32 = 0x4;
export const ___GFP_MOVABLE = 0x8;
export const ___GFP_RECLAIMABLE = 0x10;
export const ___GFP_HIGH = 0x20;
export const ___GFP_IO = 0x40;
export const ___GFP_FS = 0x80;
export const ___GFP_ZERO = 0x100;
// bit 9 (0x200) is ___GFP_UNUSED_BIT (gfp_types.h:36)
export const ___GFP_DIRECT_RECLAIM = 0x400;
export const ___GFP_KSWAPD_RECLAIM = 0x800;
export const ___GFP_WRITE = 0x1000;
export const ___GFP_NOWARN = 0x2000;
export const ___GFP_RETRY_MAYFAIL = 0x4000;
export const ___GFP_NOFAIL = 0x8000;
export const ___GFP_NORETRY = 0x10000;
export const ___GFP_MEMALLOC = 0x20000;
export const ___GFP_COMP = 0x40000;
export const ___GFP_NOMEMALLOC = 0x80000;
export const ___GFP_HARDWALL = 0x100000;
export const ___GFP_THISNODE = 0x200000;
export const ___GFP_ACCOUNT = 0x400000;
export const ___GFP_ZEROTAGS = 0x800000;
export const ___GFP_SKIP_ZERO = 0;
export const ___GFP_SKIP_KASAN = 0;
export const ___GFP_NOLOCKDEP = 0;
export const ___GFP_NO_OBJ_EXT = 0x1000000;
/** __GFP_BITS_SHIFT = ___GFP_LAST_BIT (gfp_types.h:304): 25 in the configuration above. */
export const __GFP_BITS_SHIFT = 25;
export const __GFP_BITS_MASK = 2 ** __GFP_BITS_SHIFT - 1;

export const __GFP_DMA = ___GFP_DMA;
export const __GFP_HIGHMEM = ___GFP_HIGHMEM;
export const __GFP_DMA32 = ___GFP_DMA32;
export const __GFP_MOVABLE = ___GFP_MOVABLE;
export const GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE;
export const __GFP_RECLAIMABLE = ___GFP_RECLAIMABLE;
export const __GFP_WRITE = ___GFP_WRITE;
export const __GFP_HARDWALL = ___GFP_HARDWALL;
export const __GFP_THISNODE = ___GFP_THISNODE;
export const __GFP_ACCOUNT = ___GFP_ACCOUNT;
export const __GFP_NO_OBJ_EXT = ___GFP_NO_OBJ_EXT;
export const __GFP_HIGH = ___GFP_HIGH;
export const __GFP_MEMALLOC = ___GFP_MEMALLOC;
export const __GFP_NOMEMALLOC = ___GFP_NOMEMALLOC;
export const __GFP_IO = ___GFP_IO;
export const __GFP_FS = ___GFP_FS;
export const __GFP_DIRECT_RECLAIM = ___GFP_DIRECT_RECLAIM;
export const __GFP_KSWAPD_RECLAIM = ___GFP_KSWAPD_RECLAIM;
export const __GFP_RECLAIM = ___GFP_DIRECT_RECLAIM | ___GFP_KSWAPD_RECLAIM;
export const __GFP_RETRY_MAYFAIL = ___GFP_RETRY_MAYFAIL;
export const __GFP_NOFAIL = ___GFP_NOFAIL;
export const __GFP_NORETRY = ___GFP_NORETRY;
export const __GFP_NOWARN = ___GFP_NOWARN;
export const __GFP_COMP = ___GFP_COMP;
export const __GFP_ZERO = ___GFP_ZERO;
export const __GFP_ZEROTAGS = ___GFP_ZEROTAGS;
export const __GFP_SKIP_ZERO = ___GFP_SKIP_ZERO;
export const __GFP_SKIP_KASAN = ___GFP_SKIP_KASAN;
export const __GFP_NOLOCKDEP = ___GFP_NOLOCKDEP;

// Composites (gfp_types.h:378-391).
export const GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM;
export const GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS;
export const GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT;
export const GFP_NOWAIT = __GFP_KSWAPD_RECLAIM | __GFP_NOWARN;
export const GFP_NOIO = __GFP_RECLAIM;
export const GFP_NOFS = __GFP_RECLAIM | __GFP_IO;
export const GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL;
export const GFP_DMA = __GFP_DMA;
export const GFP_DMA32 = __GFP_DMA32;
export const GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM;
export const GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE | __GFP_SKIP_KASAN;
export const GFP_TRANSHUGE_LIGHT =
  (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN) & ~__GFP_RECLAIM;
export const GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM;

/** Reclaim-behaviour and placement-constraint masks (mm/internal.h:31-40), used by slab to filter gfp. */
export const GFP_RECLAIM_MASK =
  __GFP_RECLAIM | __GFP_HIGH | __GFP_IO | __GFP_FS | __GFP_NOWARN | __GFP_RETRY_MAYFAIL | __GFP_NOFAIL |
  __GFP_NORETRY | __GFP_MEMALLOC | __GFP_NOMEMALLOC | __GFP_NOLOCKDEP;
export const GFP_CONSTRAINT_MASK = __GFP_HARDWALL | __GFP_THISNODE;
/** Zone bits slab refuses (mm/internal.h:45; ~__GFP_BITS_MASK is handled by the caller). */
export const GFP_SLAB_BUG_MASK_ZONES = __GFP_DMA32 | __GFP_HIGHMEM;

/** Zone indices as enum zone_type has them on arm64 (CONFIG_ZONE_DMA and CONFIG_ZONE_DMA32, no HIGHMEM). */
export const ZONE_DMA = 0;
export const ZONE_DMA32 = 1;
export const ZONE_NORMAL = 2;
export const ZONE_MOVABLE = 3;
export type ZoneIndex = 0 | 1 | 2 | 3;
/** zone_names[] (mm/page_alloc.c). */
export const ZONE_NAMES = ['DMA', 'DMA32', 'Normal', 'Movable'] as const;

export interface ZoneConfig {
  /** CONFIG_ZONE_DMA (arm64 default y). */
  zoneDma: boolean;
  /** CONFIG_ZONE_DMA32 (arm64 default y). */
  zoneDma32: boolean;
}
export const ARM64_ZONE_CONFIG: ZoneConfig = { zoneDma: true, zoneDma32: true };

export interface GfpZoneResult {
  zone: ZoneIndex;
  /** A combination GFP_ZONE_BAD marks as invalid (VM_BUG_ON in debug kernels; a table lookup of 0 otherwise). */
  bad: boolean;
}

/**
 * gfp_zone (include/linux/gfp.h:134-143): the highest zone the mask allows, looked up from the four
 * zone-modifier bits in GFP_ZONE_TABLE (gfp.h:108-117). An unconfigured zone becomes ZONE_NORMAL
 * (OPT_ZONE_*, gfp.h:42-62; HIGHMEM never exists on arm64). A bad combination is 0 in the table,
 * which is ZONE_DMA's index: a non-debug kernel silently allocates from the lowest zone.
 */
export function gfpZoneChecked(gfp: number, config: ZoneConfig = ARM64_ZONE_CONFIG): GfpZoneResult {
  const dma: ZoneIndex = config.zoneDma ? ZONE_DMA : ZONE_NORMAL;
  const dma32: ZoneIndex = config.zoneDma32 ? ZONE_DMA32 : ZONE_NORMAL;
  switch (gfp & GFP_ZONEMASK) {
    case 0:
      return { zone: ZONE_NORMAL, bad: false };
    case ___GFP_DMA:
      return { zone: dma, bad: false };
    case ___GFP_HIGHMEM:
      return { zone: ZONE_NORMAL, bad: false };
    case ___GFP_DMA32:
      return { zone: dma32, bad: false };
    case ___GFP_MOVABLE:
      return { zone: ZONE_NORMAL, bad: false };
    case ___GFP_MOVABLE | ___GFP_DMA:
      return { zone: dma, bad: false };
    case ___GFP_MOVABLE | ___GFP_HIGHMEM:
      return { zone: ZONE_MOVABLE, bad: false };
    case ___GFP_MOVABLE | ___GFP_DMA32:
      return { zone: dma32, bad: false };
    default:
      return { zone: 0, bad: true };
  }
}

export function gfpZone(gfp: number, config: ZoneConfig = ARM64_ZONE_CONFIG): ZoneIndex {
  return gfpZoneChecked(gfp, config).zone;
}

/**
 * The name table %pGg walks (__def_gfpflag_names, include/trace/events/mmflags.h:81-115), in its order:
 * composites first, so the widest name that fits is printed and its bits consumed.
 */
export const GFP_FLAG_NAMES: readonly (readonly [number, string])[] = [
  [GFP_TRANSHUGE, 'GFP_TRANSHUGE'],
  [GFP_TRANSHUGE_LIGHT, 'GFP_TRANSHUGE_LIGHT'],
  [GFP_HIGHUSER_MOVABLE, 'GFP_HIGHUSER_MOVABLE'],
  [GFP_HIGHUSER, 'GFP_HIGHUSER'],
  [GFP_USER, 'GFP_USER'],
  [GFP_KERNEL_ACCOUNT, 'GFP_KERNEL_ACCOUNT'],
  [GFP_KERNEL, 'GFP_KERNEL'],
  [GFP_NOFS, 'GFP_NOFS'],
  [GFP_ATOMIC, 'GFP_ATOMIC'],
  [GFP_NOIO, 'GFP_NOIO'],
  [GFP_NOWAIT, 'GFP_NOWAIT'],
  [GFP_DMA, 'GFP_DMA'],
  [__GFP_HIGHMEM, '__GFP_HIGHMEM'],
  [GFP_DMA32, 'GFP_DMA32'],
  [__GFP_HIGH, '__GFP_HIGH'],
  [__GFP_IO, '__GFP_IO'],
  [__GFP_FS, '__GFP_FS'],
  [__GFP_NOWARN, '__GFP_NOWARN'],
  [__GFP_RETRY_MAYFAIL, '__GFP_RETRY_MAYFAIL'],
  [__GFP_NOFAIL, '__GFP_NOFAIL'],
  [__GFP_NORETRY, '__GFP_NORETRY'],
  [__GFP_COMP, '__GFP_COMP'],
  [__GFP_ZERO, '__GFP_ZERO'],
  [__GFP_NOMEMALLOC, '__GFP_NOMEMALLOC'],
  [__GFP_MEMALLOC, '__GFP_MEMALLOC'],
  [__GFP_HARDWALL, '__GFP_HARDWALL'],
  [__GFP_THISNODE, '__GFP_THISNODE'],
  [__GFP_RECLAIMABLE, '__GFP_RECLAIMABLE'],
  [__GFP_MOVABLE, '__GFP_MOVABLE'],
  [__GFP_ACCOUNT, '__GFP_ACCOUNT'],
  [__GFP_WRITE, '__GFP_WRITE'],
  [__GFP_RECLAIM, '__GFP_RECLAIM'],
  [__GFP_DIRECT_RECLAIM, '__GFP_DIRECT_RECLAIM'],
  [__GFP_KSWAPD_RECLAIM, '__GFP_KSWAPD_RECLAIM'],
  [__GFP_ZEROTAGS, '__GFP_ZEROTAGS'],
];

/**
 * `%pGg` (lib/vsprintf.c:1963-1987 format_flags with gfpflag_names): names joined by '|', each taken
 * when all its bits are still set; bits no name covers are appended as "0x..." (default_flag_spec:
 * base 16, SPECIAL|SMALL). A zero mask prints nothing (the tracepoint helper's "none" is a different
 * path, show_gfp_flags).
 */
export function formatGfp(gfp: number): string {
  let flags = gfp >>> 0;
  let out = '';
  for (const [mask, name] of GFP_FLAG_NAMES) {
    if (!flags) break;
    if ((flags & mask) >>> 0 !== mask) continue;
    out += name;
    flags = (flags & ~mask) >>> 0;
    if (flags) out += '|';
  }
  if (flags) out += '0x' + flags.toString(16);
  return out;
}

/** `mode:%#x(%pGg)` as warn_alloc prints it (mm/page_alloc.c:3623). */
export function formatGfpMode(gfp: number): string {
  return `${'0x' + (gfp >>> 0).toString(16)}(${formatGfp(gfp)})`;
}

const BY_NAME: Record<string, number> = {};
for (const [mask, name] of GFP_FLAG_NAMES) BY_NAME[name] = mask;
Object.assign(BY_NAME, {
  __GFP_DMA,
  __GFP_DMA32,
  __GFP_NO_OBJ_EXT,
  GFP_DMA,
  GFP_DMA32,
  '0': 0,
});

/**
 * Parse a mask written the kernel's way: names joined by '|' (spaces allowed), each a GFP_* or __GFP_*
 * name or a number ("GFP_KERNEL | __GFP_ZERO", "GFP_ATOMIC|GFP_DMA32", "0x820"). Returns undefined for
 * an unknown name, so callers can report it with their own location.
 */
export function parseGfp(text: string): number | undefined {
  let gfp = 0;
  for (const raw of text.split('|')) {
    const part = raw.trim();
    if (part === '') return undefined;
    if (/^(0x[0-9a-f]+|[0-9]+)$/i.test(part)) {
      gfp |= Number(part);
      continue;
    }
    const v = BY_NAME[part];
    if (v === undefined) return undefined;
    gfp |= v;
  }
  return gfp >>> 0;
}

/** The value of one named flag or composite (GFP_KERNEL, __GFP_ZERO, ...), undefined when unknown. */
export function gfpByName(name: string): number | undefined {
  return BY_NAME[name];
}
