/**
 * Kernel presets: the versions and fixes a scenario can run, as rows of data. Each field names a
 * mechanism that differs between the kernels (a dma_capable rule, a driver's ops row, a NULL guard),
 * never a story. A scenario can pick a preset and override any field.
 */
import { InputError } from '../addr.js';
import type { DMA_CAPABLE_RULES } from './dma/direct.js';
import type { RkOpsRow } from './drivers/rockchip-iommu.js';
import type { IpmmuFreePolicy } from './drivers/ipmmu-vmsa.js';

/** How an Apple DART whose page is larger than the CPU page is handled (seed 003's options). */
export type DartLargePagePolicy =
  /** 6.12: identity default domain, paging domains refused (apple-dart.c:946-956, 583-584). */
  | 'force-bypass'
  /** 2021 prototype: a paging domain is built and init_iova_domain hits BUG_ON(granule > PAGE_SIZE). */
  | 'paging-bug-on'
  /** Arnd's "fake bypass": a static identity table over what the DART can reach, swiotlb above it. */
  | 'fake-bypass'
  /** dma-iommu taught granules larger than PAGE_SIZE (the WARN_ON instead of BUG_ON experiment). */
  | 'large-granule';

export interface KernelPreset {
  name: string;
  description: string;
  /** uname -r as the Oops header prints it. */
  uname: string;
  /** dma_capable: the device mask alone (before b4ebe6063204) or min_not_zero(mask, bus limit) (after). */
  dmaCapableRule: keyof typeof DMA_CAPABLE_RULES;
  /** Where bus_dma_limit comes from when the DT has no dma-ranges: 6.12 leaves it 0; 4.20-rc1's
   *  of_dma_configure derived a 32-bit bus mask from the default coherent mask. */
  busLimitWithoutDmaRanges: 'none' | 'from-default-coherent-mask';
  /** rk_iommu_dt_ids: compatible -> ops row. */
  rockchipMatch: Record<string, RkOpsRow>;
  /** rk_ops: one global (6.12) or per device (the per-device-ops patch the fix builds on). */
  rockchipOpsScope: 'global' | 'per-device';
  ipmmuFree: IpmmuFreePolicy;
  /** What the core prints when a device's first domain attach fails. */
  coreAttachFailure: 'warn-default-domain' | 'group-add-failed';
  dartLargePage: DartLargePagePolicy;
  /** ipmmu_device_is_allowed on R-Car Gen3: 'all', or the device names opted in (PCI devices always are).
   *  The 4.x presets carry the SATA whitelist patch the seed-002 report applied. */
  ipmmuAllowlist: 'all' | string[];
  /** rk_iommu_enable_stall acknowledges a stale PAGE_FAULT_ACTIVE before stalling (this Debian tree has it,
   *  rockchip-iommu.c:424-435; vanilla 6.12 and older kernels do not). */
  rockchipStallAcksStaleFault: boolean;
}

/** The R-Car Gen3 opt-in list of 6.12 (ipmmu-vmsa.c devices_allowlist). */
export const IPMMU_ALLOWLIST_612 = ['ee100000.mmc', 'ee120000.mmc', 'ee140000.mmc', 'ee160000.mmc'];

export const RK_OPS_V1: RkOpsRow = { entries: 'v1', dmaBits: 32, gfpFlags: 'GFP_DMA32', origin: 'iommu_data_ops_v1 (rockchip,iommu)' };
export const RK_OPS_V2_612: RkOpsRow = { entries: 'v2', dmaBits: 40, gfpFlags: '', origin: 'iommu_data_ops_v2 after 2a7e6400f72b (tables from all memory)' };
export const RK_OPS_V2_BEFORE_2A7E: RkOpsRow = { entries: 'v2', dmaBits: 32, gfpFlags: 'GFP_DMA32', origin: 'iommu_data_ops_v2 before 2a7e6400f72b' };
export const RK_OPS_V1_BLOCK: RkOpsRow = { entries: 'v2', dmaBits: 40, gfpFlags: 'GFP_DMA32', origin: 'proposed rockchip,rk3568-iommu-v1 (v2 entries, GFP_DMA32, 40-bit mask)' };

const V612: KernelPreset = {
  name: 'v6.12',
  description: "Debian's 6.12.117: dma_capable with bus_dma_limit (set only from dma-ranges), Rockchip v2 tables from any memory, IPMMU free guarded in destroy_context, DART forced bypass when its page exceeds PAGE_SIZE",
  uname: '6.12.117',
  dmaCapableRule: 'mask-and-bus-limit',
  busLimitWithoutDmaRanges: 'none',
  rockchipMatch: { 'rockchip,iommu': RK_OPS_V1, 'rockchip,rk3568-iommu': RK_OPS_V2_612 },
  rockchipOpsScope: 'global',
  ipmmuFree: { nullGuard: 'destroy_context', rootOffset: 0x38 },
  coreAttachFailure: 'warn-default-domain',
  dartLargePage: 'force-bypass',
  ipmmuAllowlist: IPMMU_ALLOWLIST_612,
  rockchipStallAcksStaleFault: true,
};

/** What the 4.x presets share: the bus mask derived without dma-ranges, no free-path guard, the 4.x core. */
const V4: KernelPreset = {
  ...V612,
  name: 'v4.x',
  description: '',
  uname: '4.20.0-rc1-arm64-renesas',
  dmaCapableRule: 'mask-and-bus-limit',
  busLimitWithoutDmaRanges: 'from-default-coherent-mask',
  rockchipMatch: { 'rockchip,iommu': RK_OPS_V1 },
  ipmmuFree: { nullGuard: 'none', rootOffset: 0x38 },
  coreAttachFailure: 'group-add-failed',
  dartLargePage: 'paging-bug-on',
  ipmmuAllowlist: ['ee300000.sata'],
  rockchipStallAcksStaleFault: false,
};

export const PRESETS: Record<string, KernelPreset> = {
  'v6.12': V612,
  'v6.12-revert-2a7e6400': {
    ...V612,
    name: 'v6.12-revert-2a7e6400',
    description: '6.12 with commit 2a7e6400f72b reverted: v2 tables again GFP_DMA32 with a 32-bit mask (the first patch of seed 000)',
    rockchipMatch: { 'rockchip,iommu': RK_OPS_V1, 'rockchip,rk3568-iommu': RK_OPS_V2_BEFORE_2A7E },
  },
  'v6.12+rk3568-iommu-v1': {
    ...V612,
    name: 'v6.12+rk3568-iommu-v1',
    description: '6.12 with per-device Rockchip ops and the proposed rockchip,rk3568-iommu-v1 compatible (GFP_DMA32, 40-bit mask) for v1.0 blocks',
    rockchipMatch: { 'rockchip,iommu': RK_OPS_V1, 'rockchip,rk3568-iommu': RK_OPS_V2_612, 'rockchip,rk3568-iommu-v1': RK_OPS_V1_BLOCK },
    rockchipOpsScope: 'per-device',
  },
  'v6.12+rk3568-iommu-v1-global-ops': {
    ...V612,
    name: 'v6.12+rk3568-iommu-v1-global-ops',
    description: 'the new compatible without the per-device-ops patch: one global rk_ops cannot serve both rows',
    rockchipMatch: { 'rockchip,iommu': RK_OPS_V1, 'rockchip,rk3568-iommu': RK_OPS_V2_612, 'rockchip,rk3568-iommu-v1': RK_OPS_V1_BLOCK },
  },
  'v4.19': {
    ...V4,
    name: 'v4.19',
    description: '4.19: dma_capable checks the device mask only; IPMMU free path unguarded',
    uname: '4.19.0',
    dmaCapableRule: 'device-mask-only',
  },
  'v4.20-rc1': {
    ...V4,
    name: 'v4.20-rc1',
    description: '4.20-rc1: dma_capable honours bus_dma_mask (b4ebe6063204), which of_dma_configure sets to 32 bits without dma-ranges; IPMMU free path unguarded',
  },
  'v4.20-rc1+ipmmu-guard': {
    ...V4,
    name: 'v4.20-rc1+ipmmu-guard',
    description: "4.20-rc1 with Geert's NULL guard in ipmmu_domain_free",
    ipmmuFree: { nullGuard: 'domain_free', rootOffset: 0x38 },
  },
  'v6.12+dart-fake-bypass': {
    ...V612,
    name: 'v6.12+dart-fake-bypass',
    description: 'seed 003 option 2: a static identity table over what the DART can address, swiotlb for memory beyond it',
    dartLargePage: 'fake-bypass',
  },
  'v6.12+dart-paging-bug-on': {
    ...V612,
    name: 'v6.12+dart-paging-bug-on',
    description: "seed 003's 2021 v2 patch on 6.12: no forced bypass (apple-dart.c:583-584, 949-950 absent), so a 16K DART on a 4K kernel gets a DMA domain and init_iova_domain hits BUG_ON (iova.c:46)",
    dartLargePage: 'paging-bug-on',
  },
  'v6.12+dart-large-granule': {
    ...V612,
    name: 'v6.12+dart-large-granule',
    description: 'seed 003 option 3: dma-iommu allows an IOMMU granule larger than PAGE_SIZE',
    dartLargePage: 'large-granule',
  },
};

export function getPreset(name: string): KernelPreset {
  const p = PRESETS[name];
  if (!p) throw new InputError(`unknown kernel preset '${name}' (known: ${Object.keys(PRESETS).join(', ')})`);
  return p;
}

/**
 * A preset with some fields replaced (a scenario's `kernel_config`): any (gfp, mask) row a user writes,
 * another dma_capable rule, another allowlist. Unknown fields are input errors naming the field.
 */
export function withOverrides(base: KernelPreset, overrides: Record<string, unknown> | undefined): KernelPreset {
  if (!overrides) return base;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    if (!(k in base) || k === 'name') throw new InputError(`kernel_config: unknown preset field '${k}' (fields: ${Object.keys(base).filter((x) => x !== 'name').join(', ')})`);
    out[k] = deepMerge((base as unknown as Record<string, unknown>)[k], v);
  }
  const p = out as unknown as KernelPreset;
  for (const [compat, row] of Object.entries(p.rockchipMatch)) {
    if (row.entries !== 'v1' && row.entries !== 'v2') throw new InputError(`kernel_config: rockchipMatch.${compat}.entries must be v1 or v2`);
    if (!Number.isInteger(row.dmaBits) || row.dmaBits < 24 || row.dmaBits > 64) throw new InputError(`kernel_config: rockchipMatch.${compat}.dmaBits must be a bit count (24..64)`);
    if (row.gfpFlags !== '' && row.gfpFlags !== 'GFP_DMA32') throw new InputError(`kernel_config: rockchipMatch.${compat}.gfpFlags must be "" or GFP_DMA32`);
  }
  return p;
}

/** Objects merge key by key (a row can change one field); anything else replaces. */
function deepMerge(cur: unknown, v: unknown): unknown {
  const isObj = (x: unknown): x is Record<string, unknown> => !!x && typeof x === 'object' && !Array.isArray(x);
  if (!isObj(cur) || !isObj(v)) return v;
  const out: Record<string, unknown> = { ...cur };
  for (const [k, x] of Object.entries(v)) out[k] = deepMerge(cur[k], x);
  if (!('origin' in v) && 'origin' in cur && Object.keys(v).some((k) => k !== 'origin')) out.origin = `${String(cur.origin)}, changed by kernel_config`;
  return out;
}
