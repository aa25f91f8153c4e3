/**
 * The default CMA area (mm/cma.c, kernel/dma/contiguous.c): a range reserved at boot (memblock, below
 * arm64_dma_phys_limit) that dma_alloc_contiguous hands out first for blocking coherent allocations
 * larger than a page. A bitmap of pages (order_per_bit 0 for the default area), searched first-fit with
 * the alignment cma_alloc_aligned asks for: min(get_order(size), CONFIG_CMA_ALIGNMENT = 8), measured
 * from pfn 0, not from the area's base (cma_bitmap_aligned_offset).
 *
 * Not modelled: CMA pages lent to movable allocations in the meantime (migration); for the kernel
 * allocations studied here the area is simply kept for CMA.
 */
export const CMA_ALIGNMENT = 8;

export class CmaArea {
  private readonly bitmap: Uint8Array;
  readonly basePfn: number;
  readonly count: number;

  constructor(
    readonly base: number,
    readonly size: number,
    readonly pageSize: number,
  ) {
    this.basePfn = Math.floor(base / pageSize);
    this.count = Math.floor(size / pageSize);
    this.bitmap = new Uint8Array(this.count);
  }

  contains(pa: number): boolean {
    return pa >= this.base && pa < this.base + this.count * this.pageSize;
  }

  /** cma_alloc(count pages, align order): the physical address, or null. */
  alloc(pages: number, alignOrder: number): number | null {
    if (pages <= 0 || pages > this.count) return null;
    const mask = alignOrder > 0 ? 2 ** alignOrder - 1 : 0;
    const offset = this.basePfn % 2 ** alignOrder;
    let start = 0;
    for (let guard = 0; guard <= this.count; guard++) {
      let index = start;
      while (index < this.count && this.bitmap[index]) index++;
      // bitmap_find_next_zero_area_off: align (index + offset) up to the mask, then back.
      index = Math.ceil((index + offset) / (mask + 1)) * (mask + 1) - offset;
      const end = index + pages;
      if (end > this.count) return null;
      let busy = -1;
      for (let i = index; i < end; i++)
        if (this.bitmap[i]) {
          busy = i;
          break;
        }
      if (busy < 0) {
        this.bitmap.fill(1, index, end);
        return (this.basePfn + index) * this.pageSize;
      }
      start = busy + 1;
    }
    return null;
  }

  /** cma_release. Returns false when the range is not (wholly) this area's. */
  release(pa: number, pages: number): boolean {
    if (!this.contains(pa)) return false;
    const index = Math.floor(pa / this.pageSize) - this.basePfn;
    this.bitmap.fill(0, index, Math.min(this.count, index + pages));
    return true;
  }

  get used(): number {
    return this.bitmap.reduce((s, b) => s + b, 0);
  }
}

/** cma_alloc_aligned's alignment order for a size (get_order capped at CONFIG_CMA_ALIGNMENT). */
export function cmaAlignOrder(size: number, pageSize: number): number {
  let o = 0;
  while (pageSize * 2 ** o < size) o++;
  return Math.min(o, CMA_ALIGNMENT);
}
