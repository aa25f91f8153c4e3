/**
 * The kernel side of io-pgtable (drivers/iommu/io-pgtable.c and the allocation part of
 * io-pgtable-arm.c / io-pgtable-dart.c): a TableHost that gets table pages from the page allocator and,
 * for walkers that do not snoop the CPU caches, DMA-maps them through the IOMMU's own device and
 * insists that the DMA address equals the physical address (io-pgtable-arm.c __arm_lpae_alloc_pages).
 *
 * The format code (src/formats) stays pure; this is where a bounce buffer or a bus limit turns into
 * "Cannot accommodate DMA translation for IOMMU page tables".
 */
import { getFormat } from '../../formats/index.js';
import type { FormatConfig, PageTable, TableHost } from '../../formats/types.js';
import { DMA_MAPPING_ERROR, type KDevice, type KernelApi } from '../kapi.js';

export interface IoPgtableOptions {
  /** The device tables are DMA-mapped with (cfg->iommu_dev). */
  iommuDev: KDevice;
  /** pr_fmt of the format's messages, e.g. "arm-lpae io-pgtable: ". */
  prefix: string;
  /** Whether the format checks dma == phys after mapping (io-pgtable-arm does; so does io-pgtable-dart). */
  checkDmaIsPhys: boolean;
  /** Kernel file:line of that check, for the explanation. */
  checkWhere: string;
}

/** get_order(size) in the kernel's own pages: a 16K table is order 2 on a 4K kernel, order 0 on a 16K one. */
function order(size: number, pageSize: number): number {
  let o = 0;
  while (pageSize * 2 ** o < size) o++;
  return o;
}

export class KernelTableHost implements TableHost {
  readonly mem;
  constructor(
    readonly k: KernelApi,
    readonly opts: IoPgtableOptions,
    readonly coherent: boolean,
  ) {
    this.mem = {
      read32: (a: number) => k.cpuRead32(a, 'page table'),
      write32: (a: number, v: number) => {
        k.cpuWrite32(a, v, 'page table');
        return true;
      },
      isBacked: () => true,
    };
  }

  allocTable(size: number, _align: number): number | null {
    const k = this.k;
    // __arm_lpae_alloc_pages / __dart_alloc_pages: get_order(size) pages, zeroed (a 32-byte PGD still
    // takes a page; a concatenated stage-2 PGD or a 16K DART table takes several).
    const ord = order(size, k.pageSize);
    const why = `io-pgtable table (${size} bytes, order ${ord})`;
    const pa = k.iommuAllocPages ? k.iommuAllocPages(k.gfp('GFP_KERNEL'), ord, why) : ord === 0 ? k.iommuAllocPage(k.gfp('GFP_KERNEL'), why) : null;
    if (pa === null) return null;
    const free = () => (k.iommuFreePages ? k.iommuFreePages(pa, ord) : k.iommuFreePage(pa));
    if (this.coherent) return pa;
    const dma = k.dmaMapSingle(this.opts.iommuDev, pa, size, 'to-device');
    if (dma === DMA_MAPPING_ERROR) {
      free();
      return null;
    }
    if (this.opts.checkDmaIsPhys && dma !== pa) {
      k.tracer.emit('io-pgtable', 'dma_not_phys', { phys: pa, dma, size, where: this.opts.checkWhere });
      k.tracer.devPrintk('err', this.opts.iommuDev.driverName, this.opts.iommuDev.name, 'Cannot accommodate DMA translation for IOMMU page tables');
      k.dmaUnmapSingle(this.opts.iommuDev, dma, size, 'to-device');
      free();
      return null;
    }
    k.tracer.emit('io-pgtable', 'table_alloc', { phys: pa, dma, size });
    return pa;
  }

  freeTable(pa: number, size: number): void {
    if (!this.coherent) this.k.dmaUnmapSingle(this.opts.iommuDev, pa, size, 'to-device');
    const ord = order(size, this.k.pageSize);
    if (this.k.iommuFreePages) this.k.iommuFreePages(pa, ord);
    else this.k.iommuFreePage(pa);
  }

  syncTable(pa: number, size: number): void {
    if (!this.coherent) this.k.dmaSyncSingleForDevice(this.opts.iommuDev, pa, size, 'to-device');
  }

  warn(file: string, line: number, cond: string): void {
    this.k.warn(`drivers/iommu/${file}`, line, cond);
  }
}

/** alloc_io_pgtable_ops: null when the format's init fails (e.g. a table could not be allocated). */
export function allocIoPgtableOps(k: KernelApi, format: string, cfg: FormatConfig, opts: IoPgtableOptions, tlb?: Partial<TableHost>): PageTable | null {
  const host = new KernelTableHost(k, opts, cfg.coherentWalk ?? false);
  Object.assign(host, tlb ?? {});
  return getFormat(format).create(cfg, host);
}
