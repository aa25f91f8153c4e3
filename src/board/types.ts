/**
 * A board: what the kernel learns from the device tree, in one model whether it came from a built-in
 * profile or a real .dtb. Hardware models (src/hw) and the kernel model (src/linux) are both built from
 * it; nothing here knows which story will run on it.
 */
import type { RamBank } from '../mem/phys-mem.js';

export interface RegWindow {
  base: number;
  size: number;
}

/** One dma-ranges entry: child bus address -> parent (CPU) physical address, size. */
export interface DmaRange {
  bus: number;
  cpu: number;
  size: number;
}

export interface BoardIommu {
  /**
   * Device name as Linux names OF platform devices: "<first reg address, translated>.<node-name>", e.g.
   * "fdea0800.iommu" (drivers/of/device.c:288-318). Not the unit address: video-codec@fdea0400 with
   * reg 0xfdea0000 is "fdea0000.video-codec".
   */
  name: string;
  /** Full DT path, e.g. "/iommu@fdea0800". */
  path: string;
  compatible: string[];
  reg: RegWindow[];
  /** GIC SPI numbers (the interrupts property's second cell), in order. */
  interrupts: number[];
  /** Power-domain name or id text (e.g. "RK3568_PD_VO" or "power-controller@... 9"); undefined when none. */
  powerDomain?: string;
  clockNames: string[];
  /** #iommu-cells. */
  iommuCells: number;
  /** dma-ranges of the bus this device sits on (undefined: none, so no bus limit in 6.12). */
  dmaRanges?: DmaRange[];
  /** Node status: false when status = "disabled". */
  enabled: boolean;
  /** Free-form properties a model may need (e.g. "rockchip,disable-mmu-reset"), raw. */
  props: Record<string, string | number | boolean | number[]>;
  /** Driver and variant the compatible selects (src/board/iommu-models.ts), when known. */
  model?: { driver: string; variant: string; format?: string };
  /**
   * Hardware IP revision when the board data knows it (the DT does not say: e.g. the RK3568 NPU IOMMU is a
   * v1.0 block under a v2 compatible). From the `iommu-lab,hw-version` property of added/profile nodes.
   */
  hwVersion?: string;
  /** Every interrupt with its controller and kind (GIC SPI/PPI, Apple AIC), in order. */
  irqs?: BoardIrq[];
  /** Clock specifiers as text ("clock-controller@fdd20000 240"), parallel to clockNames. */
  clocks?: string[];
  /**
   * IPMMU cache (leaf) instances name their root in "renesas,ipmmu-main" = <&root index>; an instance
   * without it is its own root (ipmmu-vmsa.c:1050-1055). BoardIommu.name of the root and the index.
   */
  ipmmuMain?: { iommu: string; index?: number };
}

export interface BoardIrq {
  /** Controller node path. */
  controller: string;
  kind?: 'SPI' | 'PPI' | 'AIC' | 'FIQ';
  number?: number;
  cells: number[];
}

/** One iommu-map entry (PCI requester id -> IOMMU specifier), as of_map_id reads it. */
export interface BoardIommuMapEntry {
  ridBase: number;
  /** BoardIommu.name */
  iommu: string;
  iommuBase: number;
  length: number;
}

export interface BoardReserved {
  name: string;
  /** undefined for dynamically placed regions (size only). */
  base?: number;
  size: number;
  noMap: boolean;
  reusable: boolean;
  compatible: string[];
}

export interface BoardMaster {
  name: string;
  path: string;
  compatible: string[];
  reg: RegWindow[];
  /** The IOMMU this master sits behind (BoardIommu.name) with its specifier cells (stream / uTLB ids). */
  iommus: { iommu: string; ids: number[] }[];
  /** The master's own DMA address width in bits (what its driver sets as dma mask), when known. */
  dmaBits?: number;
  /**
   * The master's own interrupt lines (GIC SPI / AIC numbers of its `interrupts`), in order. A master
   * may share a line with its IOMMU (rk356x VOP2 and its MMU both use SPI 148).
   */
  interrupts?: number[];
  dmaRanges?: DmaRange[];
  /** `dma-coherent` on the node or a parent (of_dma_is_coherent, drivers/of/address.c); arm64 devices
   *  without it are non-coherent (no CONFIG_OF_DMA_DEFAULT_COHERENT). */
  dmaCoherent?: boolean;
  powerDomain?: string;
  enabled: boolean;
  /** iommu-map of a PCI host bridge: requester ids -> IOMMU ids (the host itself is not the master). */
  iommuMap?: BoardIommuMapEntry[];
  iommuMapMask?: number;
}

export interface Board {
  /** Profile name or .dtb file name. */
  name: string;
  model: string;
  compatible: string[];
  /** RAM banks as the kernel sees them after the bootloader filled in /memory. */
  ram: RamBank[];
  /**
   * The DT's DMA reach for arm64 ZONE_DMA: of_dma_get_max_cpu_address(NULL), an inclusive CPU address
   * (drivers/of/address.c:962-994); undefined = PHYS_ADDR_MAX (no dma-ranges anywhere). The U32_MAX clamp
   * for RAM starting below 4 GiB is applied by the zone computation (src/board/zones.ts), not here.
   */
  zoneDmaLimit?: number;
  iommus: BoardIommu[];
  masters: BoardMaster[];
  source: 'profile' | 'dtb';
  /** Notes on where the layout came from (e.g. "NPU IOMMU added: absent from mainline DT"). */
  notes: string[];
  /** /reserved-memory children (RAM banks are not reduced by them: the kernel reserves them in memblock). */
  reserved?: BoardReserved[];
  /** The blob's memory reservation map (/memreserve/ entries). */
  memReserve?: { base: number; size: number }[];
  /** /chosen bootargs and stdout-path, when present. */
  chosen?: { bootargs?: string; stdoutPath?: string };
  /**
   * Buses that restrict DMA: every available node with a non-empty dma-ranges, its ranges (CPU side
   * translated) and the highest CPU address it reaches (inclusive).
   */
  buses?: { path: string; dmaRanges: DmaRange[]; maxCpuAddress: number }[];
}
