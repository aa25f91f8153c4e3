/**
 * Which driver and hardware variant a compatible string selects, as the 6.12 drivers' of_device_id tables
 * say. Data only: the drivers under src/linux choose their own ops from the compatible; this table lets
 * `iommu-lab board` say in words what each IOMMU node is.
 */

export interface IommuModel {
  /** Driver (and our model family): rockchip-iommu, ipmmu-vmsa, apple-dart, arm-smmu, arm-smmu-v3. */
  driver: string;
  /** Variant within the driver: the ops/features table the kernel picks. */
  variant: string;
  /** Page-table format name in src/formats (registry names), when the driver has one fixed format. */
  format?: string;
  /** Where the mapping comes from. */
  source: string;
}

const ROCKCHIP = 'drivers/iommu/rockchip-iommu.c:1381-1389 rk_iommu_dt_ids';
const IPMMU = 'drivers/iommu/ipmmu-vmsa.c:955-1002 ipmmu_of_ids';
const DART = 'drivers/iommu/apple-dart.c:1345-1350 apple_dart_of_match';
const SMMU = 'drivers/iommu/arm/arm-smmu/arm-smmu.c:1976-1986 arm_smmu_of_match';

const TABLE: Record<string, IommuModel> = {
  'rockchip,iommu': { driver: 'rockchip-iommu', variant: 'v1', format: 'rockchip-v1', source: ROCKCHIP },
  'rockchip,rk3568-iommu': { driver: 'rockchip-iommu', variant: 'v2', format: 'rockchip-v2', source: ROCKCHIP },
  // Not in 6.12: the compatible proposed in seed 000 for RK3568 blocks of IP version 1.0 (v2 tables, DTE < 4 GiB).
  'rockchip,rk3568-iommu-v1': { driver: 'rockchip-iommu', variant: 'v2 (v1.0 block, proposed)', format: 'rockchip-v2', source: 'seed 000 proposal (not in 6.12)' },
  'renesas,ipmmu-vmsa': { driver: 'ipmmu-vmsa', variant: 'default (R-Car Gen2)', format: 'arm-32-lpae-s1', source: IPMMU },
  'renesas,rcar-gen4-ipmmu-vmsa': { driver: 'ipmmu-vmsa', variant: 'rcar-gen4', format: 'arm-32-lpae-s1', source: IPMMU },
  'renesas,ipmmu-r8a779a0': { driver: 'ipmmu-vmsa', variant: 'rcar-gen4', format: 'arm-32-lpae-s1', source: IPMMU },
  'apple,t8103-dart': { driver: 'apple-dart', variant: 't8103 (DART_T8020)', format: 'apple-dart', source: DART },
  'apple,t8103-usb4-dart': { driver: 'apple-dart', variant: 't8103-usb4 (DART_T8020)', format: 'apple-dart', source: DART },
  'apple,t6000-dart': { driver: 'apple-dart', variant: 't6000 (DART_T6000)', format: 'apple-dart2', source: DART },
  'apple,t8110-dart': { driver: 'apple-dart', variant: 't8110 (DART_T8110)', format: 'apple-dart2', source: DART },
  'arm,smmu-v1': { driver: 'arm-smmu', variant: 'smmu-v1', source: SMMU },
  'arm,smmu-v2': { driver: 'arm-smmu', variant: 'smmu-v2', source: SMMU },
  'arm,mmu-400': { driver: 'arm-smmu', variant: 'mmu-400 (v1)', source: SMMU },
  'arm,mmu-401': { driver: 'arm-smmu', variant: 'mmu-401', source: SMMU },
  'arm,mmu-500': { driver: 'arm-smmu', variant: 'mmu-500', source: SMMU },
  'cavium,smmu-v2': { driver: 'arm-smmu', variant: 'cavium smmu-v2', source: SMMU },
  'nvidia,smmu-500': { driver: 'arm-smmu', variant: 'mmu-500 (nvidia)', source: SMMU },
  'qcom,smmu-v2': { driver: 'arm-smmu', variant: 'qcom smmu-v2', source: SMMU },
  'arm,smmu-v3': { driver: 'arm-smmu-v3', variant: 'smmu-v3', source: 'drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c:4729 (stage 1: ARM_64_LPAE_S1, stage 2: ARM_64_LPAE_S2, :2452-2461)' },
};

// R-Car Gen3 SoCs all use ipmmu_features_rcar_gen3 (ipmmu-vmsa.c:971-995); every IPMMU domain uses
// ARM_32_LPAE_S1 tables (ipmmu-vmsa.c:455).
for (const soc of ['r8a774a1', 'r8a774b1', 'r8a774c0', 'r8a774e1', 'r8a7795', 'r8a7796', 'r8a77961', 'r8a77965', 'r8a77970', 'r8a77980', 'r8a77990', 'r8a77995'])
  TABLE[`renesas,ipmmu-${soc}`] = { driver: 'ipmmu-vmsa', variant: 'rcar-gen3', format: 'arm-32-lpae-s1', source: IPMMU };

/** The model for a node's compatible list: the first entry the table knows, as of_match_node prefers. */
export function iommuModel(compatible: readonly string[]): (IommuModel & { compatible: string }) | undefined {
  for (const c of compatible) {
    const m = TABLE[c];
    if (m) return { ...m, compatible: c };
  }
  return undefined;
}
