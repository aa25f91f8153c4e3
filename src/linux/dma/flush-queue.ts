/**
 * dma-iommu's flush queue (drivers/iommu/dma-iommu.c:105-389, 6.12): lazy IOTLB invalidation for
 * DMA-FQ domains.
 *
 * In a DMA-FQ domain, unmap clears the PTEs but does not invalidate the IOTLB; the IOVA range is queued
 * here instead and only goes back to the allocator after a full IOTLB flush that started after it was
 * queued. Until that flush the hardware may still translate the unmapped IOVA through its cached entry
 * (the use-after-unmap window lazy mode accepts for speed). A flush happens when the 10 ms timer fires
 * (fq_flush_timeout) or when a CPU's ring is full at queue time (queue_iova).
 *
 * Sizes (dma-iommu.c:105-111): a per-CPU ring of 256 slots and a 10 ms timeout; the single-queue
 * variant (32768 slots, 1000 ms) is chosen only for IOMMUs whose flushes sync shadow tables
 * (dev->iommu->shadow_on_flush, dma-iommu.c:650-659), which none of our drivers set. A ring keeps one
 * slot empty to tell full from empty (fq_full, dma-iommu.c:128-133), so it holds 255 entries.
 *
 * The timeout is simulated time in ns; the kernel's rounding up to whole jiffies is not modelled.
 */

export const IOVA_DEFAULT_FQ_SIZE = 256;
export const IOVA_DEFAULT_FQ_TIMEOUT_MS = 10;
export const IOVA_SINGLE_FQ_SIZE = 32768;
export const IOVA_SINGLE_FQ_TIMEOUT_MS = 1000;

interface FqEntry {
  iovaPfn: number;
  pages: number;
  /** fq_flush_start_cnt when queued: the entry may go once a flush that started later has finished. */
  counter: number;
}

interface Ring {
  head: number;
  tail: number;
  entries: (FqEntry | undefined)[];
}

export interface FlushQueueHooks {
  /** The domain's flush_iotlb_all (ops->flush_iotlb_all). */
  flushIotlbAll(): void;
  /** free_iova_fast of one queued range (pfn and length in granules). */
  freeIova(pfn: number, pages: number): void;
  trace?(type: string, data: Record<string, unknown>): void;
}

export class FlushQueue {
  readonly size: number;
  readonly timeoutNs: number;
  private readonly mask: number;
  private readonly rings: Ring[];
  flushStartCnt = 0;
  flushFinishCnt = 0;
  /** Expiry of fq_timer in simulated ns, or null when the timer is not armed (fq_timer_on == 0). */
  timerExpiresNs: number | null = null;

  constructor(
    readonly hooks: FlushQueueHooks,
    readonly cpus: number,
    readonly single = false,
  ) {
    this.size = single ? IOVA_SINGLE_FQ_SIZE : IOVA_DEFAULT_FQ_SIZE;
    this.timeoutNs = (single ? IOVA_SINGLE_FQ_TIMEOUT_MS : IOVA_DEFAULT_FQ_TIMEOUT_MS) * 1e6;
    this.mask = this.size - 1;
    const n = single ? 1 : cpus;
    this.rings = Array.from({ length: n }, () => ({ head: 0, tail: 0, entries: [] }));
  }

  /** Entries waiting in a CPU's ring (all rings when cpu is undefined). */
  pending(cpu?: number): number {
    const rings = cpu === undefined ? this.rings : [this.rings[this.single ? 0 : cpu]];
    return rings.reduce((n, r) => n + ((r.tail - r.head) & this.mask), 0);
  }

  /** Whether the IOVA page `pfn` is still waiting for a flush (its range not yet back in the allocator). */
  holds(pfn: number): boolean {
    for (const r of this.rings)
      for (let i = r.head; i !== r.tail; i = (i + 1) & this.mask) {
        const e = r.entries[i]!;
        if (pfn >= e.iovaPfn && pfn < e.iovaPfn + e.pages) return true;
      }
    return false;
  }

  private full(r: Ring): boolean {
    return ((r.tail + 1) & this.mask) === r.head;
  }

  /** fq_ring_free_locked: release entries whose flush has finished, oldest first, stopping at the first that has not. */
  private ringFree(r: Ring): void {
    while (r.head !== r.tail) {
      const e = r.entries[r.head]!;
      if (e.counter >= this.flushFinishCnt) break;
      this.hooks.freeIova(e.iovaPfn, e.pages);
      r.entries[r.head] = undefined;
      r.head = (r.head + 1) & this.mask;
    }
  }

  /** fq_flush_iotlb */
  private flushIotlb(why: string): void {
    this.flushStartCnt++;
    this.hooks.trace?.('fq_flush', { why, start: this.flushStartCnt });
    this.hooks.flushIotlbAll();
    this.flushFinishCnt++;
  }

  /** queue_iova (dma-iommu.c:211-252), on the ring of `cpu`; arms the timer if it is not armed. */
  queue(pfn: number, pages: number, cpu: number, nowNs: number): void {
    const r = this.rings[this.single ? 0 : cpu];
    this.ringFree(r);
    if (this.full(r)) {
      this.flushIotlb('queue full');
      this.ringFree(r);
    }
    r.entries[r.tail] = { iovaPfn: pfn, pages, counter: this.flushStartCnt };
    r.tail = (r.tail + 1) & this.mask;
    this.hooks.trace?.('fq_queue', { pfn, pages, cpu, pending: this.pending() });
    if (this.timerExpiresNs === null) this.timerExpiresNs = nowNs + this.timeoutNs;
  }

  /** Run fq_flush_timeout if the timer has expired by `nowNs`. Returns whether it ran. */
  expire(nowNs: number): boolean {
    if (this.timerExpiresNs === null || nowNs < this.timerExpiresNs) return false;
    // fq_flush_timeout (dma-iommu.c:188-204): timer off, one flush, then every ring gives back what it can.
    this.timerExpiresNs = null;
    this.flushIotlb('timeout');
    for (const r of this.rings) this.ringFree(r);
    return true;
  }
}
