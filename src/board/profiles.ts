/**
 * Built-in board profiles, and `loadBoard`, the one entry point for "a board" whatever its source.
 *
 * A profile is not a second description of the hardware: it is a real .dtb (embedded, see dtb-blobs.ts)
 * plus data overrides for what the mainline tree lacks or leaves to the bootloader (RAM, the RK3568 NPU
 * IOMMU). So a profile and `iommu-lab board FILE.dtb` go through the same reader and the same
 * topology builder, and cannot disagree.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../addr.js';
import { DTB_BLOBS } from './dtb-blobs.js';
import { Fdt } from './fdt.js';
import { applyAdditions, boardFromFdt, type NodeAddition } from './from-dtb.js';
import type { Board } from './types.js';

export interface BoardProfile {
  name: string;
  description: string;
  /** Key into DTB_BLOBS. */
  dtb: string;
  /** RAM when the spec gives none (a size laid out as the family does). */
  defaultRam?: string;
  additions: NodeAddition[];
  masterDmaBits?: Record<string, number>;
  /** Where each fact comes from. */
  notes: string[];
}

const RK_POWER = '&/power-management@fdd90000/power-controller';
const RK_CRU = '&/clock-controller@fdd20000';
const GIC_SPI = 0;
const IRQ_TYPE_LEVEL_HIGH = 4;
// include/dt-bindings/clock/rk3568-cru.h:99,104,105 and include/dt-bindings/power/rk3568-power.h:14
const CLK_NPU = 35;
const ACLK_NPU = 40;
const HCLK_NPU = 41;
const RK3568_PD_NPU = 6;

/** The RK3568 NPU IOMMU and the NPU, absent from every mainline DT (../shared/dtb/README.md, seed 000). */
export const RK3568_NPU_ADDITIONS: NodeAddition[] = [
  {
    path: '/iommu@fde4b000',
    props: {
      compatible: 'rockchip,rk3568-iommu',
      reg: [0x0, 0xfde4b000, 0x0, 0x40],
      interrupts: [GIC_SPI, 151, IRQ_TYPE_LEVEL_HIGH],
      clocks: [RK_CRU, ACLK_NPU, RK_CRU, HCLK_NPU],
      'clock-names': { strings: ['aclk', 'iface'] },
      'power-domains': [RK_POWER, RK3568_PD_NPU],
      '#iommu-cells': [0],
      // Rockchip (seed 000, Simon Xue): the NPU and ISP integrate IOMMU IP v1.0, whose first-level table
      // must lie below 4 GiB, although the DT binds them as rockchip,rk3568-iommu.
      'iommu-lab,hw-version': '1.0',
    },
  },
  {
    path: '/npu@fde40000',
    props: {
      compatible: { strings: ['rockchip,rk3568-rknpu', 'rockchip,rknpu'] },
      reg: [0x0, 0xfde40000, 0x0, 0x10000],
      interrupts: [GIC_SPI, 151, IRQ_TYPE_LEVEL_HIGH],
      clocks: [RK_CRU, CLK_NPU, RK_CRU, ACLK_NPU, RK_CRU, HCLK_NPU],
      'clock-names': { strings: ['clk', 'aclk', 'hclk'] },
      'power-domains': [RK_POWER, RK3568_PD_NPU],
      iommus: ['&/iommu@fde4b000'],
    },
  },
  // VOP2's MMU handles 40-bit DTE/PTE (seed 000: Jonas Karlman's testing, the basis of commit 2a7e6400f72b).
  { path: '/iommu@fe043e00', props: { 'iommu-lab,hw-version': '2.0' } },
];

/** Named sets of node additions a scenario or `iommu-lab board --add NAME` can apply to any tree. */
export const ADDITION_SETS: Record<string, { description: string; additions: NodeAddition[] }> = {
  'rk3568-npu': {
    description: 'the RK3568 NPU IOMMU (iommu@fde4b000, IP v1.0) and npu@fde40000 behind it; VOP2 MMU marked IP v2.0',
    additions: RK3568_NPU_ADDITIONS,
  },
};

export const PROFILES: Record<string, BoardProfile> = {
  rk3568: {
    name: 'rk3568',
    description: 'Rockchip RK3568 (Radxa ROCK 3B device tree) with the NPU IOMMU added; RAM 1G/2G/4G/8G',
    dtb: 'rk3568-rock-3b',
    defaultRam: '8G',
    additions: RK3568_NPU_ADDITIONS,
    notes: [
      'SoC nodes from rk3568-rock-3b.dtb (Linux 6.12.117, Debian); VDPU/VEPU/VOP2 IOMMUs as in rk356x.dtsi:648,679,786',
      'NPU IOMMU iommu@fde4b000 and npu@fde40000 added from data: absent from every mainline DT (vendor BSP / seed 000 node)',
      'IOMMU IP versions: NPU v1.0 (Rockchip, seed 000), VOP2 v2.0 (seed 000 testing); VDPU/VEPU unknown',
    ],
  },
  'r8a7795-salvator-x': {
    name: 'r8a7795-salvator-x',
    description: 'Renesas R-Car H3 Salvator-X (r8a77951-salvator-x.dtb): 17 IPMMUs, SATA behind IPMMU-HC, most RAM above 4 GiB',
    dtb: 'r8a77951-salvator-x',
    additions: [],
    notes: [
      'everything from r8a77951-salvator-x.dtb (Linux 6.12.117 .dts compiled with cpp + dtc), RAM from its memory nodes (r8a77951-salvator-x.dts:16-34)',
      'IPMMU-MM (e67b0000) is the root with the interrupts; the others name it in renesas,ipmmu-main',
    ],
  },
  t8103: {
    name: 't8103',
    description: 'Apple M1 (t8103-j274, Mac mini): DARTs with stream ids, all RAM above 4 GiB from 0x8_0000_0000',
    dtb: 't8103-j274',
    additions: [],
    notes: [
      'everything from t8103-j274.dtb (Linux 6.12.117 .dts compiled with cpp + dtc)',
      '/memory@800000000 is a placeholder m1n1 fills in (8 GiB in the tree): give --ram 16G for a 16 GiB machine',
    ],
  },
};

/** Aliases people will type. */
const ALIASES: Record<string, string> = {
  rk3566: 'rk3568',
  'rk3568-rock-3b': 'rk3568',
  'salvator-x': 'r8a7795-salvator-x',
  r8a7795: 'r8a7795-salvator-x',
  r8a77951: 'r8a7795-salvator-x',
  m1: 't8103',
  'apple-m1': 't8103',
};

export function profileNames(): string[] {
  return Object.keys(PROFILES);
}

export function findProfile(name: string): BoardProfile | undefined {
  return PROFILES[name] ?? PROFILES[ALIASES[name] ?? ''];
}

const blobCache = new Map<string, Uint8Array>();

/** The embedded .dtb bytes of a profile. */
export function profileDtb(key: string): Uint8Array {
  let b = blobCache.get(key);
  if (!b) {
    const entry = DTB_BLOBS[key];
    if (!entry) throw new Error(`no embedded dtb '${key}'`);
    b = new Uint8Array(gunzipSync(Buffer.from(entry.gzBase64, 'base64')));
    blobCache.set(key, b);
  }
  return b;
}

export interface BoardSpec {
  /** A built-in profile name (see profileNames()). */
  profile?: string;
  /** Path of a .dtb file. */
  dtb?: string;
  /** Bytes of a .dtb (with `dtbName` for messages), instead of a path. */
  dtbBytes?: Uint8Array;
  dtbName?: string;
  /** RAM: a size laid out as the board family does ("8G", "4G/no-high-alias") or banks "BASE:SIZE,...". */
  ram?: string;
  /** Nodes to add or override (after the profile's own additions). */
  add?: NodeAddition[];
  /** Master DMA widths by node path. */
  masterDmaBits?: Record<string, number>;
}

/** Build a Board from a profile or a .dtb, with RAM and node overrides. Bad input → InputError. */
export function loadBoard(spec: BoardSpec): Board {
  const sources = [spec.profile, spec.dtb, spec.dtbBytes].filter((x) => x !== undefined).length;
  if (sources !== 1) throw new InputError('a board needs exactly one of: a profile name, a .dtb path, .dtb bytes');
  if (spec.profile !== undefined) {
    const p = findProfile(spec.profile);
    if (!p) throw new InputError(`unknown board profile '${spec.profile}' (built in: ${profileNames().join(', ')}; or give a .dtb file)`);
    const fdt = Fdt.parse(profileDtb(p.dtb), `${p.dtb}.dtb (profile ${p.name})`);
    applyAdditions(fdt, p.additions, `profile ${p.name}`);
    if (spec.add?.length) applyAdditions(fdt, spec.add);
    const ram = spec.ram ?? p.defaultRam;
    const notes = [...p.notes];
    if (spec.add?.length) notes.push(`nodes added/overridden: ${spec.add.map((a) => a.path).join(', ')}`);
    return boardFromFdt(fdt, {
      name: p.name,
      source: 'profile',
      ...(ram !== undefined ? { ram } : {}),
      notes,
      masterDmaBits: { ...(p.masterDmaBits ?? {}), ...(spec.masterDmaBits ?? {}) },
    });
  }
  let bytes: Uint8Array;
  let name: string;
  if (spec.dtb !== undefined) {
    name = spec.dtb;
    try {
      bytes = new Uint8Array(readFileSync(spec.dtb));
    } catch (e) {
      throw new InputError(`cannot read ${spec.dtb}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  } else {
    bytes = spec.dtbBytes as Uint8Array;
    name = spec.dtbName ?? '<dtb>';
  }
  const fdt = Fdt.parse(bytes, name);
  const notes = [`from ${basename(name)}`];
  if (spec.add?.length) {
    applyAdditions(fdt, spec.add);
    notes.push(`nodes added/overridden: ${spec.add.map((a) => a.path).join(', ')}`);
  }
  return boardFromFdt(fdt, {
    name: basename(name),
    source: 'dtb',
    ...(spec.ram !== undefined ? { ram: spec.ram } : {}),
    notes,
    ...(spec.masterDmaBits ? { masterDmaBits: spec.masterDmaBits } : {}),
  });
}
