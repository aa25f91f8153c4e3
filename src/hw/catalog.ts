/**
 * Which hardware model and variant sits behind a device-tree node, and a factory that builds it.
 *
 * The compatible string says which *driver* binds (and with which ops); it does not always say what the
 * silicon is. The RK3568 NPU and ISP IOMMUs are bound as "rockchip,rk3568-iommu" (v2 ops) but are IP
 * version 1.0 blocks whose DT base must stay below 4 GiB (seeds/000, Rockchip's Simon Xue). So the
 * hardware variant is chosen from the compatible *and* the hardware version the board data knows
 * (`iommu-lab,hw-version`), never from a board or story name.
 *
 * Nothing here imports the board module (hw sits below it): callers pass the few node facts needed.
 */
import type { MemWriter } from '../mem/phys-mem.js';
import type { BeyondWidth } from '../mem/device-view.js';
import type { SimClock, Tracer } from '../trace/events.js';
import { AppleDart, DART_VARIANTS, dartVariant, type DartVariant } from './apple-dart.js';
import { IpmmuVmsa, ipmmuFeatures, type IpmmuFeatures } from './ipmmu.js';
import type { IrqController } from './irq.js';
import type { MmioDevice, PoweredOffAccess } from './mmio.js';
import { RockchipIommu, rockchipVariant, type RockchipIommuVariant } from './rockchip-iommu.js';

export type IommuFamily = 'rockchip-iommu' | 'ipmmu-vmsa' | 'apple-dart';
export type IommuHw = RockchipIommu | IpmmuVmsa | AppleDart;

export interface HwChoice {
  family: IommuFamily;
  /** Key into ROCKCHIP_IOMMU_VARIANTS / IPMMU_FEATURES / DART_VARIANTS. */
  variant: string;
  /** Why this variant (for `board` and --explain). */
  reason: string;
}

export interface HwChoiceOptions {
  /** What a Rockchip v1.0 block does with a DT base above 4 GiB (unknown on real silicon). Default 'truncate'. */
  rockchipBeyondDteBase?: BeyondWidth;
}

const IPMMU_GEN3_SOCS = ['r8a774a1', 'r8a774b1', 'r8a774c0', 'r8a774e1', 'r8a7795', 'r8a7796', 'r8a77961', 'r8a77965', 'r8a77970', 'r8a77980', 'r8a77990', 'r8a77995'];

/**
 * compatible -> hardware family and variant, per IP version the board data may state. `default` is the
 * variant when the board says nothing; a compatible that exists only for one IP version names it itself
 * (rockchip,rk3568-iommu-v1 was proposed for the v1.0 blocks).
 */
interface HwRow {
  family: IommuFamily;
  /** Variant by IP version ('default' when unknown); '{beyond}' is replaced by the beyond-4G behaviour. */
  byVersion: Record<string, string>;
  reason: string;
}

const RK_V1_0 = 'rk3568-v1.0-{beyond}';
const HW_TABLE: Record<string, HwRow> = {
  'rockchip,iommu': { family: 'rockchip-iommu', byVersion: { default: 'v1' }, reason: 'v1 entries (rockchip-iommu.c:1382)' },
  'rockchip,rk3568-iommu': { family: 'rockchip-iommu', byVersion: { default: 'v2', '1.0': RK_V1_0, '2.0': 'v2' }, reason: 'v2 entries; an IP 1.0 block keeps its DT base below 4 GiB (seed 000)' },
  'rockchip,rk3588-iommu': { family: 'rockchip-iommu', byVersion: { default: 'v2', '1.0': RK_V1_0, '2.0': 'v2' }, reason: 'v2 entries, 40-bit walker' },
  'rockchip,rk3568-iommu-v1': { family: 'rockchip-iommu', byVersion: { default: RK_V1_0 }, reason: 'the compatible proposed for IP 1.0 blocks (seed 000)' },
  'renesas,ipmmu-vmsa': { family: 'ipmmu-vmsa', byVersion: { default: 'rcar-gen2' }, reason: 'ipmmu_features_default' },
  'renesas,rcar-gen4-ipmmu-vmsa': { family: 'ipmmu-vmsa', byVersion: { default: 'rcar-gen4' }, reason: 'ipmmu_features_rcar_gen4' },
  'renesas,ipmmu-r8a779a0': { family: 'ipmmu-vmsa', byVersion: { default: 'rcar-gen4' }, reason: 'ipmmu_features_rcar_gen4' },
  ...Object.fromEntries(IPMMU_GEN3_SOCS.map((soc) => [`renesas,ipmmu-${soc}`, { family: 'ipmmu-vmsa', byVersion: { default: 'rcar-gen3' }, reason: 'ipmmu_features_rcar_gen3' } satisfies HwRow])),
  ...Object.fromEntries(Object.keys(DART_VARIANTS).map((c) => [c, { family: 'apple-dart', byVersion: { default: c }, reason: 'apple_dart_hw table' } satisfies HwRow])),
};

/** The hardware model for a node: first compatible we know, refined by the board's hardware version. */
export function chooseIommuHw(compatible: readonly string[], hwVersion?: string, opts: HwChoiceOptions = {}): HwChoice | undefined {
  for (const c of compatible) {
    const row = HW_TABLE[c];
    if (!row) continue;
    const beyond = opts.rockchipBeyondDteBase ?? 'truncate';
    const variant = (row.byVersion[hwVersion ?? 'default'] ?? row.byVersion.default).replace('{beyond}', beyond);
    const version = hwVersion ? ` (IP version ${hwVersion})` : '';
    const beyondText = variant.includes('v1.0') ? `; beyond 4 GiB: ${beyond}` : '';
    return { family: row.family, variant, reason: `${c}${version}: ${row.reason}${beyondText}` };
  }
  return undefined;
}

export interface HwEnv {
  mem: MemWriter;
  clock: SimClock;
  tracer?: Tracer;
  irq?: IrqController;
  poweredOffAccess?: PoweredOffAccess;
}

export interface IommuHwSpec {
  /** Device name, e.g. "fde4b000.iommu". */
  name: string;
  choice: HwChoice;
  /** Number of register windows (Rockchip instances). */
  windows: number;
  irqs: number[];
  /** IPMMU leaf: its root model. */
  ipmmuRoot?: IpmmuVmsa;
  rockchip?: Partial<RockchipIommuVariant>;
  ipmmu?: Partial<IpmmuFeatures>;
  dart?: Partial<DartVariant>;
}

export function createIommuHw(spec: IommuHwSpec, env: HwEnv): IommuHw {
  const common = { name: spec.name, mem: env.mem, clock: env.clock, tracer: env.tracer, irq: env.irq, irqs: spec.irqs, poweredOffAccess: env.poweredOffAccess };
  switch (spec.choice.family) {
    case 'rockchip-iommu':
      return new RockchipIommu({ ...common, variant: rockchipVariant(spec.choice.variant, spec.rockchip), instances: Math.max(1, spec.windows) });
    case 'ipmmu-vmsa':
      return new IpmmuVmsa({
        ...common,
        features: ipmmuFeatures(spec.choice.variant, spec.ipmmu),
        root: spec.ipmmuRoot,
        // a leaf's faults are reported by its root: it drives no line of its own
        irqs: spec.ipmmuRoot ? [] : spec.irqs,
      });
    case 'apple-dart':
      return new AppleDart({ ...common, variant: dartVariant(spec.choice.variant, spec.dart) });
  }
}

/** The register windows of a model, in reg order (Rockchip: one per instance; others: one). */
export function registerWindows(hw: IommuHw): MmioDevice[] {
  return hw instanceof RockchipIommu ? hw.instances : [hw];
}
