/**
 * The page half of iommu_dma_alloc_remap (drivers/iommu/dma-iommu.c:886-1047, 6.12): a coherent buffer
 * for a device behind a DMA domain does not need physically contiguous memory, so dma-iommu gathers it
 * from blocks of whatever orders the IOMMU can map with one PTE (pgsize_bitmap >> PAGE_SHIFT, capped at
 * MAX_PAGE_ORDER), biggest first, and maps them at consecutive IOVAs.
 *
 * __iommu_dma_alloc_pages (dma-iommu.c:886-935): for each remaining count, the orders allowed are those
 * not above fls(count); try the highest, with __GFP_NORETRY while a smaller order remains as a
 * fallback; a block that succeeds is split into single pages (split_page). Failure of the smallest
 * order frees everything and fails the allocation. The caller's gfp gets __GFP_NOWARN | __GFP_HIGHMEM.
 */
import { __GFP_HIGHMEM, __GFP_NORETRY, __GFP_NOWARN } from '../mm/gfp.js';

export interface PageChunk {
  pa: number;
  order: number;
}

/** fls - 1: index of the highest set bit (orders are small, < 32). */
function highestBit(n: number): number {
  return 31 - Math.clz32(n);
}

/**
 * `count` pages of PAGE_SIZE in blocks whose orders are bits of `orderMask`. `alloc(gfp, order)` is the
 * page allocator; `free(chunk)` gives back what was taken when the allocation fails. Returns the
 * blocks in the order they will be mapped, or null.
 */
export function allocPagesForRemap(
  count: number,
  orderMaskIn: number,
  gfpIn: number,
  maxPageOrder: number,
  alloc: (gfp: number, order: number) => number | null,
  free: (chunk: PageChunk) => void,
): PageChunk[] | null {
  let orderMask = orderMaskIn & ((2 << maxPageOrder) - 1);
  if (!orderMask) return null;
  const gfp = gfpIn | __GFP_NOWARN | __GFP_HIGHMEM;
  const chunks: PageChunk[] = [];
  while (count) {
    // order_mask &= GENMASK(__fls(count), 0): the mask only ever shrinks, across chunks too.
    orderMask &= (2 << highestBit(count)) - 1;
    let got: PageChunk | null = null;
    let orderSize = 0;
    while (orderMask) {
      const order = highestBit(orderMask);
      orderSize = 1 << order;
      const flags = orderMask > orderSize ? gfp | __GFP_NORETRY : gfp;
      const pa = alloc(flags, order);
      if (pa !== null) {
        got = { pa, order };
        break;
      }
      orderMask &= ~orderSize;
    }
    if (!got) {
      for (const c of chunks) free(c);
      return null;
    }
    chunks.push(got);
    count -= orderSize;
  }
  return chunks;
}
