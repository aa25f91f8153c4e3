/**
 * An IOTLB: a small cache of leaf translations that hardware consults before walking tables.
 *
 * The property that matters for bugs: an entry stays until software invalidates it (zap one line,
 * zap all, flush a context or a stream) or until the replacement policy evicts it. Hardware never
 * notices that the PTE in memory changed, so a driver that forgets to invalidate keeps getting the old
 * translation — and a driver that relies on eviction gets it only sometimes, depending on traffic.
 *
 * Entries are kept per translation page (`pageSize`): a larger block mapping fills one entry per page
 * actually used, as many IOTLBs fracture blocks. A `tag` separates address spaces (IPMMU context,
 * DART stream, Rockchip has a single one).
 */
export type ReplacementPolicy = 'lru' | 'fifo';

export interface IotlbConfig {
  /** Number of entries; 0 disables caching entirely. */
  entries: number;
  policy: ReplacementPolicy;
  /** Bytes covered by one entry (the IOMMU's translation page: 4096, 16384). */
  pageSize: number;
}

export interface IotlbEntry {
  tag: number;
  /** IOVA of the page start. */
  iova: number;
  /** Physical address of the page start. */
  phys: number;
  /** IOMMU_* prot of the leaf. */
  prot: number;
}

export interface IotlbStats {
  hits: number;
  misses: number;
  evictions: number;
  invalidations: number;
}

// Key = tag * 2^TAG_SHIFT + page number; page numbers stay below 2^36 (48-bit IOVA, 4K pages) and
// tags below 2^16, so keys stay exact integers.
const TAG_MULT = 2 ** 36;

export class Iotlb {
  private readonly map = new Map<number, IotlbEntry>();
  readonly stats: IotlbStats = { hits: 0, misses: 0, evictions: 0, invalidations: 0 };

  constructor(readonly config: IotlbConfig) {
    if (!Number.isInteger(config.entries) || config.entries < 0) throw new Error(`bad IOTLB size ${config.entries}`);
    if (config.pageSize <= 0 || (config.pageSize & (config.pageSize - 1)) !== 0)
      throw new Error(`bad IOTLB page size ${config.pageSize}`);
  }

  get size(): number {
    return this.map.size;
  }

  private key(tag: number, iova: number): number {
    return tag * TAG_MULT + Math.floor(iova / this.config.pageSize);
  }

  /** The cached translation of the page holding iova, or undefined. Updates LRU order on a hit. */
  lookup(tag: number, iova: number): IotlbEntry | undefined {
    const k = this.key(tag, iova);
    const e = this.map.get(k);
    if (!e) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    if (this.config.policy === 'lru') {
      this.map.delete(k);
      this.map.set(k, e);
    }
    return e;
  }

  /** Cache the translation of the page holding iova (phys = physical address of iova itself). */
  insert(tag: number, iova: number, phys: number, prot: number): void {
    if (this.config.entries === 0) return;
    const off = iova % this.config.pageSize;
    const k = this.key(tag, iova);
    if (this.map.has(k)) this.map.delete(k);
    else if (this.map.size >= this.config.entries) {
      // Map iteration order is insertion order: the first key is the oldest (FIFO) or least recently
      // used (LRU, since hits re-insert).
      const victim = this.map.keys().next().value as number;
      this.map.delete(victim);
      this.stats.evictions++;
    }
    this.map.set(k, { tag, iova: iova - off, phys: phys - off, prot });
  }

  /** Invalidate the entry holding iova (Rockchip ZAP_ONE_LINE). Returns whether one was dropped. */
  invalidatePage(tag: number, iova: number): boolean {
    this.stats.invalidations++;
    return this.map.delete(this.key(tag, iova));
  }

  /** Invalidate every entry of one tag (a context or stream flush). Returns the number dropped. */
  invalidateTag(tag: number): number {
    this.stats.invalidations++;
    let n = 0;
    for (const [k, e] of this.map) {
      if (e.tag === tag) {
        this.map.delete(k);
        n++;
      }
    }
    return n;
  }

  /** Invalidate everything (ZAP_CACHE, reset). */
  invalidateAll(): number {
    this.stats.invalidations++;
    const n = this.map.size;
    this.map.clear();
    return n;
  }

  entries(): IotlbEntry[] {
    return [...this.map.values()];
  }
}
