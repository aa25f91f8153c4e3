/**
 * How real boards of a SoC family lay out a given amount of RAM — the /memory banks their bootloader
 * hands the kernel. Data from ../shared/reference/board-memory-maps.md (U-Boot commits and boot logs
 * quoted there) and from the kernel's device trees. A RAM override (`ram: '8G'`) is resolved against
 * the family the board's root compatible names, so "this .dtb with 8G" means what it means on hardware.
 */
import { InputError, formatSize, hex, parseSize } from '../addr.js';
import type { RamBank } from '../mem/phys-mem.js';

export interface RamFamily {
  id: string;
  /** Root compatible strings that select this family. */
  match: string[];
  /** Layout per size (and optional variant suffix, "4G/no-high-alias"). */
  layouts: Record<string, RamBank[]>;
  /** Sizes not in `layouts` are laid out contiguously from this base, when set. */
  contiguousFrom?: number;
  notes: string[];
}

const G = 1024 ** 3;
const M = 1024 ** 2;

export const RAM_FAMILIES: RamFamily[] = [
  {
    id: 'rk356x',
    match: ['rockchip,rk3568', 'rockchip,rk3566'],
    layouts: {
      // The first 2 MiB belong to the secure monitor (BL31) on every size.
      '1G': [{ base: 0x20_0000, size: 1 * G - 2 * M }],
      '2G': [{ base: 0x20_0000, size: 2 * G - 2 * M }],
      // Rockchip's vendor U-Boot also carves out OP-TEE at [0x0840_0000, 0x0940_0000).
      '2G/optee': [
        { base: 0x20_0000, size: 0x0840_0000 - 0x20_0000 },
        { base: 0x0940_0000, size: 0x8000_0000 - 0x0940_0000 },
      ],
      // The 256 MiB behind the MMIO hole 0xf000_0000-0xffff_ffff reappears at 0x1_f000_0000.
      '4G': [
        { base: 0x20_0000, size: 0xf000_0000 - 0x20_0000 },
        { base: 0x1_f000_0000, size: 256 * M },
      ],
      // Mainline U-Boot before v2024.07 and some old vendor loaders dropped the high alias.
      '4G/no-high-alias': [{ base: 0x20_0000, size: 0xf000_0000 - 0x20_0000 }],
      // 8 GiB: the 256 MiB behind the hole is lost; 4 GiB sit at 0x1_0000_0000.
      '8G': [
        { base: 0x20_0000, size: 0xf000_0000 - 0x20_0000 },
        { base: 0x1_0000_0000, size: 4 * G },
      ],
    },
    notes: [
      'RAM layout per size from board-memory-maps.md: U-Boot fab3b667b412 / faa05d48676 (DDR_MEM tags), boot logs of ODROID-M1 4G, Quartz64-B, ODROID-M1S 8G',
      'first 2 MiB [0, 0x200000) is BL31 on every size; the MMIO hole is 0xf0000000-0xffffffff',
      '1G is not in the sheet: laid out by analogy with 2G (one bank above BL31)',
    ],
  },
  {
    id: 'r8a7795',
    match: ['renesas,r8a7795', 'renesas,r8a77951'],
    layouts: {
      // arch/arm64/boot/dts/renesas/r8a77951-salvator-x.dts:16-34 (the first 128 MiB are the secure area).
      '4G': [
        { base: 0x4800_0000, size: 0x3800_0000 },
        { base: 0x5_0000_0000, size: 1 * G },
        { base: 0x6_0000_0000, size: 1 * G },
        { base: 0x7_0000_0000, size: 1 * G },
      ],
    },
    notes: ['R-Car H3 Salvator-X memory nodes from r8a77951-salvator-x.dts:16-34: 896 MiB below 4 GiB, 3 GiB above'],
  },
  {
    id: 'apple-m1',
    match: ['apple,t8103'],
    layouts: {},
    contiguousFrom: 0x8_0000_0000,
    notes: [
      'Apple M1 DRAM starts at 0x8_0000_0000 (t8103.dtsi /memory@800000000, a placeholder m1n1 fills in); laid out contiguously, firmware carve-outs not modelled',
    ],
  },
];

export function ramFamilyFor(rootCompatible: readonly string[]): RamFamily | undefined {
  for (const c of rootCompatible) {
    const f = RAM_FAMILIES.find((fam) => fam.match.includes(c));
    if (f) return f;
  }
  return undefined;
}

/**
 * Resolve a RAM spec: a size with an optional variant ("8G", "4G/no-high-alias") laid out as the family
 * does, or explicit banks "BASE:SIZE[,BASE:SIZE...]" (e.g. "0x200000:0xefe00000,0x100000000:4G").
 */
export function resolveRam(spec: string, family: RamFamily | undefined, what = 'ram'): { banks: RamBank[]; note: string } {
  const text = spec.trim();
  if (text.includes(':')) {
    const banks = text.split(',').map((part) => {
      const [b, s, extra] = part.split(':');
      if (s === undefined || extra !== undefined) throw new InputError(`${what} bank '${part}' is not BASE:SIZE`);
      const base = parseSize(b, `${what} bank base`);
      const size = parseSize(s, `${what} bank size`);
      if (size === 0) throw new InputError(`${what} bank '${part}' has size 0`);
      if (base % 4096 || size % 4096) throw new InputError(`${what} bank '${part}' is not 4K aligned`);
      return { base, size };
    });
    checkBanks(banks, what);
    return { banks, note: `RAM given as explicit banks: ${text}` };
  }
  const [sizeText, variant] = text.split('/');
  const size = parseSize(sizeText, what);
  if (!family) throw new InputError(`${what} '${spec}': no RAM layout is known for this board; give explicit banks, e.g. 0x40000000:2G,0x100000000:4G`);
  const key = `${formatSize(size)}${variant ? `/${variant}` : ''}`;
  const fixed = family.layouts[key];
  if (fixed) return { banks: fixed.map((b) => ({ ...b })), note: `RAM ${key} laid out as ${family.id} boards do` };
  if (!variant && family.contiguousFrom !== undefined && size > 0 && size % (2 * M) === 0)
    return { banks: [{ base: family.contiguousFrom, size }], note: `RAM ${formatSize(size)} contiguous from ${hex(family.contiguousFrom)} as ${family.id} boards` };
  const known = Object.keys(family.layouts);
  throw new InputError(
    `${what} '${spec}': ${family.id} boards come with ${known.length ? known.join(', ') : 'contiguous RAM only'}; give one of those or explicit banks BASE:SIZE,...`,
  );
}

function checkBanks(banks: RamBank[], what: string): void {
  const sorted = [...banks].sort((a, b) => a.base - b.base);
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i - 1].base + sorted[i - 1].size > sorted[i].base) throw new InputError(`${what}: banks overlap at ${hex(sorted[i].base)}`);
  for (const b of sorted) if (b.base + b.size > 2 ** 52) throw new InputError(`${what}: bank at ${hex(b.base)} ends beyond 2^52`);
}
