/**
 * swiotlb, the software IO TLB (kernel/dma/swiotlb.c, Linux 6.12, CONFIG_SWIOTLB_DYNAMIC=n), on our
 * physical memory: the bounce copies are real byte copies in PhysMem, so a sync in the wrong direction
 * really overwrites data (seed 000: PTEs written into a bounce slot are erased by the next
 * dma_sync_single_for_device(DMA_TO_DEVICE), which copies the stale original over them).
 *
 * Facts (swiotlb.c line numbers of 6.12.117):
 * - 2 KiB slots (IO_TLB_SHIFT 11), segments of 128 slots; `list[i]` counts free slots from i to the end
 *   of its segment (init at 289-290, maintained at 1126-1133 and 1488-1508).
 * - The pool is split in areas (count = num_possible_cpus rounded up to a power of two, 153-166, limited
 *   by 178-183); a search starts in the CPU's area at that area's `index` (next-fit) and wraps to 0.
 * - The slot search (1039-1144): alignment from alloc_align_mask, page alignment for >= PAGE_SIZE
 *   mappings when nothing else is asked (1064-1065), the min_align_mask bits of orig_addr kept by the
 *   slot choice (>= 2 KiB) plus an in-slot offset (< 2 KiB), a stride over unaligned slots, and the
 *   device's segment boundary (iommu_is_span_boundary).
 * - Bounce copies (866-945): map copies orig -> slot for every direction (1458); sync_for_device copies
 *   orig -> slot for TO_DEVICE/BIDIRECTIONAL; sync_for_cpu and unmap copy slot -> orig for
 *   FROM_DEVICE/BIDIRECTIONAL (unmap not with DMA_ATTR_SKIP_CPU_SYNC). A sync past the allocation is
 *   clamped with a one-time WARN "Buffer overflow detected".
 */
import type { PhysMem } from '../../mem/phys-mem.js';
import type { Tracer } from '../../trace/events.js';
import { lo32, and64, alignDown } from '../../addr.js';
import type { Device, IoTlbMemRef } from '../device.js';
import { KLog } from './kmsg.js';
import { DMA_MAPPING_ERROR, U64_MAX, roundupPowOfTwo, isPowerOf2 } from './u64.js';

export const IO_TLB_SHIFT = 11;
export const IO_TLB_SIZE = 1 << IO_TLB_SHIFT;
export const IO_TLB_SEGSIZE = 128;
/** IO_TLB_DEFAULT_SIZE: 64 MiB (include/linux/swiotlb.h:34). */
export const IO_TLB_DEFAULT_SIZE = 64 << 20;
/** IO_TLB_MIN_SLABS: 1 MiB (swiotlb.c:62). */
export const IO_TLB_MIN_SLABS = (1 << 20) >> IO_TLB_SHIFT;
const INVALID_PHYS_ADDR = U64_MAX;

export const DMA_ATTR_SKIP_CPU_SYNC = 1 << 5;
export const DMA_ATTR_NO_WARN = 1 << 8;

export type DmaDir = 'DMA_BIDIRECTIONAL' | 'DMA_TO_DEVICE' | 'DMA_FROM_DEVICE' | 'DMA_NONE';

/** The `swiotlb=` boot parameter, parsed as setup_io_tlb_npages does (swiotlb.c:185-205). */
export interface SwiotlbParam {
  nslabs?: number;
  nareas?: number;
  force?: boolean;
  noforce?: boolean;
}

export function parseSwiotlbParam(text: string | null | undefined): SwiotlbParam {
  const p: SwiotlbParam = {};
  if (!text) return p;
  let s = text;
  const num = (): number | undefined => {
    const m = /^(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)/i.exec(s);
    if (!m) return undefined;
    s = s.slice(m[0].length);
    return m[0].startsWith('0x') || m[0].startsWith('0X') ? parseInt(m[0], 16) : m[0].length > 1 && m[0][0] === '0' ? parseInt(m[0], 8) : parseInt(m[0], 10);
  };
  if (/^[0-9]/.test(s)) {
    const n = num() as number;
    p.nslabs = Math.ceil(n / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE;
  }
  if (s.startsWith(',')) s = s.slice(1);
  if (/^[0-9]/.test(s)) p.nareas = num();
  if (s.startsWith(',')) s = s.slice(1);
  if (s === 'force') p.force = true;
  else if (s === 'noforce') p.noforce = true;
  return p;
}

export interface SwiotlbBootOptions {
  mem: PhysMem;
  pageSize: number;
  /** num_possible_cpus(). */
  cpus: number;
  /** The `swiotlb=` parameter text, or null. */
  param?: string | null;
  /** arm64 mem_init: max_pfn > PFN_DOWN(arm64_dma_phys_limit) (arch/arm64/mm/init.c:368). */
  addressingLimit?: boolean;
  /** Fixed base (a recorded memblock_alloc_low result); otherwise placed top-down below lowLimit. */
  base?: number;
  /** arm64_dma_phys_limit (exclusive); memblock_alloc_low is bounded by it minus one. Default 4 GiB. */
  arm64DmaPhysLimit?: number;
  /**
   * CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC with no addressing limit: arm64 mem_init still sets up a pool of
   * 1 MiB per GiB of RAM (at most the default) for kmalloc bouncing (arch/arm64/mm/init.c:370-379).
   * Give the RAM size (memblock_phys_mem_size) to enable it.
   */
  kmallocBounceRamBytes?: number;
  /** memblock reservations made before swiotlb (kernel image, DT, CMA...): the pool avoids them. */
  reserved?: { base: number; size: number }[];
  tracer?: Tracer;
  klog?: KLog;
}

export interface SwiotlbMapResult {
  tlbAddr: number;
  slotIndex: number;
  padSlots: number;
  nslots: number;
  area: number;
  allocSize: number;
}

/**
 * memblock_alloc_low(bytes, PAGE_SIZE) = memblock_alloc_try_nid(.., MEMBLOCK_LOW_LIMIT, ARCH_LOW_ADDRESS_LIMIT)
 * (include/linux/memblock.h:436-441), found top-down by __memblock_find_range_top_down (mm/memblock.c:252-273):
 * per free range from the top, cand = round_down(min(range end, end) - size, align), taken if it is still
 * inside the range. `end` is used as an exclusive bound although arm64 passes ARCH_LOW_ADDRESS_LIMIT =
 * arm64_dma_phys_limit - 1 (arch/arm64/include/asm/processor.h:104), so on a board with RAM up to 4 GiB
 * the default pool ends one page below 4 GiB: [0xfbfff000, 0xfffff000). The first page is never used
 * (mm/memblock.c:301). Free ranges are RAM minus the reservations made earlier in boot.
 */
export function memblockAllocLow(mem: PhysMem, bytes: number, end: number, pageSize: number, reserved: { base: number; size: number }[] = []): number | null {
  const start = pageSize;
  // Free ranges: RAM banks minus reservations, highest first.
  const free: { base: number; end: number }[] = [];
  for (const b of mem.banks) {
    let pieces = [{ base: b.base, end: b.base + b.size }];
    for (const r of reserved) {
      const next: { base: number; end: number }[] = [];
      for (const p of pieces) {
        if (r.base + r.size <= p.base || r.base >= p.end) next.push(p);
        else {
          if (r.base > p.base) next.push({ base: p.base, end: r.base });
          if (r.base + r.size < p.end) next.push({ base: r.base + r.size, end: p.end });
        }
      }
      pieces = next;
    }
    free.push(...pieces);
  }
  free.sort((a, b) => b.base - a.base);
  for (const f of free) {
    const thisStart = Math.min(Math.max(f.base, start), end);
    const thisEnd = Math.min(Math.max(f.end, start), end);
    if (thisEnd < bytes) continue;
    const cand = alignDown(thisEnd - bytes, pageSize);
    if (cand >= thisStart) return cand;
  }
  return null;
}

/** The default io_tlb_mem with its single pool (defpool). */
export class Swiotlb implements IoTlbMemRef {
  readonly start: number;
  readonly end: number;
  readonly nslabs: number;
  readonly nareas: number;
  readonly areaNslabs: number;
  forceBounce: boolean;
  readonly list: Uint16Array;
  readonly origAddr: Float64Array;
  readonly allocSize: Float64Array;
  readonly padSlots: Uint16Array;
  readonly areaUsed: number[];
  readonly areaIndex: number[];
  totalUsed = 0;
  usedHiwater = 0;
  readonly mem: PhysMem;
  readonly pageSize: number;
  readonly klog: KLog;
  /** raw_smp_processor_id(): the area a search starts from. */
  cpu = 0;
  private readonly tracer?: Tracer;

  private constructor(o: { start: number; nslabs: number; nareas: number; force: boolean; mem: PhysMem; pageSize: number; klog: KLog; tracer?: Tracer }) {
    this.start = o.start;
    this.nslabs = o.nslabs;
    this.end = o.start + o.nslabs * IO_TLB_SIZE;
    this.nareas = o.nareas;
    this.areaNslabs = Math.floor(o.nslabs / o.nareas);
    this.forceBounce = o.force;
    this.mem = o.mem;
    this.pageSize = o.pageSize;
    this.klog = o.klog;
    this.tracer = o.tracer;
    this.list = new Uint16Array(o.nslabs);
    this.origAddr = new Float64Array(o.nslabs).fill(INVALID_PHYS_ADDR);
    this.allocSize = new Float64Array(o.nslabs);
    this.padSlots = new Uint16Array(o.nslabs);
    this.areaUsed = new Array(o.nareas).fill(0);
    this.areaIndex = new Array(o.nareas).fill(0);
    // swiotlb_init_io_tlb_pool (swiotlb.c:270-300)
    for (let i = 0; i < o.nslabs; i++) this.list[i] = Math.min(IO_TLB_SEGSIZE - (i % IO_TLB_SEGSIZE), o.nslabs - i);
    o.mem.fill(o.start, o.nslabs * IO_TLB_SIZE, 0);
  }

  /**
   * The boot-time setup: setup_io_tlb_npages + swiotlb_init_remap (swiotlb.c:355-419) with
   * SWIOTLB_VERBOSE, as arm64 mem_init calls it. Returns null when no pool is set up (no addressing
   * limit and no force, `swiotlb=noforce`, or no low memory).
   */
  static boot(o: SwiotlbBootOptions): Swiotlb | null {
    const klog = o.klog ?? new KLog(o.tracer);
    const p = parseSwiotlbParam(o.param);
    let defaultNslabs = p.nslabs ?? IO_TLB_DEFAULT_SIZE >> IO_TLB_SHIFT;
    let defaultNareas = 0;
    const adjustNareas = (n: number): void => {
      let nareas = n;
      if (!nareas) nareas = 1;
      else if (!isPowerOf2(nareas)) nareas = roundupPowOfTwo(nareas);
      defaultNareas = nareas;
      klog.printk('info', `software IO TLB: area num ${nareas}.\n`);
      // round_up_default_nslabs (swiotlb.c:132-143)
      let rounded = false;
      if (defaultNslabs < IO_TLB_SEGSIZE * defaultNareas) {
        defaultNslabs = IO_TLB_SEGSIZE * defaultNareas;
        rounded = true;
      } else if (!isPowerOf2(defaultNslabs)) rounded = true;
      if (rounded) {
        defaultNslabs = roundupPowOfTwo(defaultNslabs);
        klog.printk('info', `software IO TLB: SWIOTLB bounce buffer size roundup to ${Math.floor((defaultNslabs * IO_TLB_SIZE) / 2 ** 20)}MB`);
      }
    };
    if (p.nareas !== undefined) adjustNareas(p.nareas);
    const force = !!p.force;
    let addressingLimit = o.addressingLimit ?? true;
    if (!addressingLimit && o.kmallocBounceRamBytes !== undefined) {
      // swiotlb_adjust_size(min(swiotlb_size_or_default(), DIV_ROUND_UP(ram, 1024))) (swiotlb.c:213-228)
      const want = Math.min(defaultNslabs * IO_TLB_SIZE, Math.ceil(o.kmallocBounceRamBytes / 1024));
      if (p.nslabs === undefined) {
        const size = Math.ceil(want / IO_TLB_SIZE) * IO_TLB_SIZE;
        defaultNslabs = Math.ceil(size / IO_TLB_SIZE / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE;
        let shown = size;
        if (defaultNareas && (defaultNslabs < IO_TLB_SEGSIZE * defaultNareas || !isPowerOf2(defaultNslabs))) {
          defaultNslabs = roundupPowOfTwo(Math.max(defaultNslabs, IO_TLB_SEGSIZE * defaultNareas));
          shown = defaultNslabs * IO_TLB_SIZE;
        }
        klog.printk('info', `software IO TLB: SWIOTLB bounce buffer size adjusted to ${Math.floor(shown / 2 ** 20)}MB`);
      }
      addressingLimit = true;
    }
    if (!addressingLimit && !force) return null;
    if (p.noforce) return null;
    if (!defaultNareas) adjustNareas(o.cpus);
    const limitNareas = (nareas: number, nslots: number): number =>
      nslots < nareas * IO_TLB_SEGSIZE ? Math.floor(nslots / IO_TLB_SEGSIZE) : nareas;
    let nslabs = defaultNslabs;
    let nareas = limitNareas(defaultNareas, nslabs);
    let base: number | null;
    for (;;) {
      const bytes = Math.ceil((nslabs * IO_TLB_SIZE) / o.pageSize) * o.pageSize;
      base = o.base ?? memblockAllocLow(o.mem, bytes, (o.arm64DmaPhysLimit ?? 2 ** 32) - 1, o.pageSize, o.reserved);
      if (base !== null) break;
      klog.printk('warn', `software IO TLB: swiotlb_memblock_alloc: Failed to allocate ${bytes} bytes tlb structure\n`);
      if (nslabs <= IO_TLB_MIN_SLABS) return null;
      nslabs = Math.ceil(Math.floor(nslabs / 2) / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE;
      nareas = limitNareas(nareas, nslabs);
    }
    if (defaultNslabs !== nslabs) klog.printk('info', `software IO TLB: SWIOTLB bounce buffer size adjusted ${defaultNslabs} -> ${nslabs} slabs`);
    const pool = new Swiotlb({ start: base, nslabs, nareas, force, mem: o.mem, pageSize: o.pageSize, klog, tracer: o.tracer });
    // swiotlb_print_info (swiotlb.c:230-241)
    const pa = (n: number): string => '0x' + n.toString(16).padStart(16, '0');
    klog.printk('info', `software IO TLB: mapped [mem ${pa(pool.start)}-${pa(pool.end)}] (${Math.floor((nslabs * IO_TLB_SIZE) / 2 ** 20)}MB)\n`);
    o.tracer?.emit('swiotlb', 'swiotlb_init', { start: pool.start, end: pool.end, nslabs, nareas });
    return pool;
  }

  /** is_swiotlb_buffer / swiotlb_find_pool: does paddr lie in the pool. */
  contains(paddr: number): boolean {
    return paddr >= this.start && paddr < this.end;
  }

  /** swiotlb_max_mapping_size (swiotlb.c:1628-1642). */
  maxMappingSize(dev: Device): number {
    const m = dev.minAlignMask;
    const minAlign = m ? Math.ceil(m / IO_TLB_SIZE) * IO_TLB_SIZE : 0;
    return IO_TLB_SIZE * IO_TLB_SEGSIZE - minAlign;
  }

  /** mem_used with CONFIG_DEBUG_FS: the atomic total. */
  get used(): number {
    return this.totalUsed;
  }

  /** swiotlb_align_offset (swiotlb.c:856-861): all operands are unsigned int except addr. */
  private alignOffset(dev: Device, alignMask: number, addr: number): number {
    return (lo32(addr) & dev.minAlignMask & (alignMask | (IO_TLB_SIZE - 1))) >>> 0;
  }

  private wrapAreaIndex(index: number): number {
    return index >= this.areaNslabs ? 0 : index;
  }

  /** swiotlb_search_pool_area (swiotlb.c:1039-1144). Returns the first slot or -1. */
  private searchPoolArea(dev: Device, areaIndex: number, origAddr: number, allocSize: number, allocAlignMaskIn: number): number {
    const boundaryMask = dev.segBoundaryMask;
    const tblDmaAddr = boundaryMask >= 2 ** 53 ? this.physToDmaUnencrypted(dev, this.start) : and64(this.physToDmaUnencrypted(dev, this.start), boundaryMask);
    const maxSlots = getMaxSlots(boundaryMask);
    let iotlbAlignMask = dev.minAlignMask >>> 0;
    const nslots = nrSlots(allocSize);
    const offset = this.alignOffset(dev, 0, origAddr);
    let allocAlignMask = allocAlignMaskIn >>> 0;
    if (!allocAlignMask && !iotlbAlignMask && allocSize >= this.pageSize) allocAlignMask = this.pageSize - 1;
    allocAlignMask = (allocAlignMask | (IO_TLB_SIZE - 1)) >>> 0;
    iotlbAlignMask = (iotlbAlignMask & ~allocAlignMask) >>> 0;
    const stride = getMaxSlots(Math.max(allocAlignMask, iotlbAlignMask));

    if (nslots > this.areaNslabs - this.areaUsed[areaIndex]) return -1;
    const slotBase = areaIndex * this.areaNslabs;
    let index = this.areaIndex[areaIndex];
    const tblShift = nrSlots(tblDmaAddr);
    let slotIndex = -1;
    let found = false;
    for (let checked = 0; checked < this.areaNslabs; ) {
      slotIndex = slotBase + index;
      const tlbAddr = tblDmaAddr + slotIndex * IO_TLB_SIZE;
      if ((lo32(tlbAddr) & allocAlignMask) !== 0 || (origAddr && (lo32(tlbAddr) & iotlbAlignMask) !== (lo32(origAddr) & iotlbAlignMask))) {
        index = this.wrapAreaIndex(index + 1);
        checked++;
        continue;
      }
      if (!isSpanBoundary(slotIndex, nslots, tblShift, maxSlots)) {
        if (this.list[slotIndex] >= nslots) {
          found = true;
          break;
        }
      }
      index = this.wrapAreaIndex(index + stride);
      checked += stride;
    }
    if (!found) return -1;

    for (let i = slotIndex; i < slotIndex + nslots; i++) {
      this.list[i] = 0;
      this.allocSize[i] = allocSize - (offset + (i - slotIndex) * IO_TLB_SIZE);
    }
    let count = 0;
    for (let i = slotIndex - 1; i >= 0 && (i & (IO_TLB_SEGSIZE - 1)) !== IO_TLB_SEGSIZE - 1 && this.list[i]; i--) this.list[i] = ++count;
    this.areaIndex[areaIndex] = this.wrapAreaIndex(index + nslots);
    this.areaUsed[areaIndex] += nslots;
    this.totalUsed += nslots;
    if (this.totalUsed > this.usedHiwater) this.usedHiwater = this.totalUsed;
    return slotIndex;
  }

  /** swiotlb_find_slots, !CONFIG_SWIOTLB_DYNAMIC (swiotlb.c:1280-1299). */
  private findSlots(dev: Device, origAddr: number, allocSize: number, allocAlignMask: number): { index: number; area: number } {
    const start = this.cpu & (this.nareas - 1);
    let i = start;
    do {
      const index = this.searchPoolArea(dev, i, origAddr, allocSize, allocAlignMask);
      if (index >= 0) return { index, area: i };
      if (++i >= this.nareas) i = 0;
    } while (i !== start);
    return { index: -1, area: -1 };
  }

  /** phys_to_dma_unencrypted through the device's dma-ranges. */
  physToDmaUnencrypted(dev: Device, pa: number): number {
    if (!dev.dmaRangeMap) return pa;
    for (const m of dev.dmaRangeMap) {
      if (pa >= m.cpuStart && pa - m.cpuStart < m.size) return m.dmaStart + (pa - m.cpuStart);
    }
    return DMA_MAPPING_ERROR;
  }

  /**
   * swiotlb_tbl_map_single (swiotlb.c:1392-1464). Returns the bounce address or DMA_MAPPING_ERROR
   * (with the slot bookkeeping for traces).
   */
  mapSingle(dev: Device, origAddr: number, mappingSize: number, allocAlignMask: number, dir: DmaDir, attrs: number): SwiotlbMapResult | null {
    if (!this.nslabs) {
      this.klog.printk('warn', "Can not allocate SWIOTLB buffer earlier and can't now provide you with the DMA bounce buffer", dev, 'ratelimited');
      return null;
    }
    if (allocAlignMask > this.pageSize - 1)
      this.klog.warn('kernel/dma/swiotlb.c', 1421, 'alloc_align_mask > ~PAGE_MASK', 'Alloc alignment may prevent fulfilling requests with max mapping_size\n', dev);
    let offset = this.alignOffset(dev, allocAlignMask, origAddr);
    const size = Math.ceil((mappingSize + offset) / (allocAlignMask + 1)) * (allocAlignMask + 1);
    const found = this.findSlots(dev, origAddr, size, allocAlignMask);
    if (found.index === -1) {
      if (!(attrs & DMA_ATTR_NO_WARN))
        this.klog.printk(
          'warn',
          `swiotlb buffer is full (sz: ${size} bytes), total ${this.nslabs} (slots), used ${this.used} (slots)\n`,
          dev,
          'ratelimited',
        );
      this.tracer?.emit('swiotlb', 'swiotlb_full', { dev: dev.name, orig: origAddr, size, total: this.nslabs, used: this.used });
      return null;
    }
    const first = found.index;
    const pad = offset >> IO_TLB_SHIFT;
    offset &= IO_TLB_SIZE - 1;
    const index = first + pad;
    this.padSlots[index] = pad;
    const n = nrSlots(size) - pad;
    for (let i = 0; i < n; i++) this.origAddr[index + i] = origAddr + i * IO_TLB_SIZE;
    const tlbAddr = this.start + index * IO_TLB_SIZE + offset;
    this.bounce(dev, tlbAddr, mappingSize, 'DMA_TO_DEVICE');
    const relOffset = this.alignOffset(dev, 0, tlbAddr);
    const nslots = nrSlots(this.allocSize[first] + relOffset);
    this.tracer?.emit('swiotlb', 'swiotlb_map', { dev: dev.name, orig: origAddr, tlb: tlbAddr, size: mappingSize, slot: first, nslots, dir });
    return { tlbAddr, slotIndex: first, padSlots: pad, nslots, area: Math.floor(first / this.areaNslabs), allocSize: this.allocSize[first] };
  }

  /** swiotlb_bounce (swiotlb.c:866-945): the byte copy between the original and the slot. */
  bounce(dev: Device, tlbAddr: number, sizeIn: number, dir: DmaDir): void {
    const index = Math.floor((tlbAddr - this.start) / IO_TLB_SIZE);
    let orig = this.origAddr[index];
    let allocSize = this.allocSize[index];
    if (orig === INVALID_PHYS_ADDR) return;
    const tlbOffset = (tlbAddr & (IO_TLB_SIZE - 1)) - this.alignOffset(dev, 0, orig);
    orig += tlbOffset;
    allocSize -= tlbOffset;
    let size = sizeIn;
    // size_t comparison: a negative allocSize stands for a wrapped huge value.
    if (allocSize >= 0 && size > allocSize) {
      this.klog.warn('kernel/dma/swiotlb.c', 895, '1', `Buffer overflow detected. Allocation size: ${allocSize}. Mapping size: ${size}.\n`, dev);
      size = allocSize;
    }
    if (dir === 'DMA_TO_DEVICE') this.mem.copy(tlbAddr, orig, size);
    else this.mem.copy(orig, tlbAddr, size);
    this.tracer?.emit('swiotlb', 'swiotlb_bounce', { dev: dev.name, from: dir === 'DMA_TO_DEVICE' ? orig : tlbAddr, to: dir === 'DMA_TO_DEVICE' ? tlbAddr : orig, size, dir });
  }

  /** swiotlb_release_slots (swiotlb.c:1466-1518). */
  private releaseSlots(dev: Device, tlbAddr: number): void {
    const offset = this.alignOffset(dev, 0, tlbAddr);
    let index = Math.floor((tlbAddr - offset - this.start) / IO_TLB_SIZE);
    index -= this.padSlots[index];
    const nslots = nrSlots(this.allocSize[index] + offset);
    const aindex = Math.floor(index / this.areaNslabs);
    let count = index + nslots < Math.ceil((index + 1) / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE ? this.list[index + nslots] : 0;
    for (let i = index + nslots - 1; i >= index; i--) {
      this.list[i] = ++count;
      this.origAddr[i] = INVALID_PHYS_ADDR;
      this.allocSize[i] = 0;
      this.padSlots[i] = 0;
    }
    for (let i = index - 1; i >= 0 && (i & (IO_TLB_SEGSIZE - 1)) !== IO_TLB_SEGSIZE - 1 && this.list[i]; i--) this.list[i] = ++count;
    this.areaUsed[aindex] -= nslots;
    this.totalUsed -= nslots;
    this.tracer?.emit('swiotlb', 'swiotlb_release', { dev: dev.name, tlb: tlbAddr, slot: index, nslots });
  }

  /** swiotlb_tbl_unmap_single (include/linux/swiotlb.h:248 + swiotlb.c:1558-1573). */
  unmapSingle(dev: Device, tlbAddr: number, mappingSize: number, dir: DmaDir, attrs: number): void {
    if (!this.contains(tlbAddr)) return;
    if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC) && (dir === 'DMA_FROM_DEVICE' || dir === 'DMA_BIDIRECTIONAL'))
      this.bounce(dev, tlbAddr, mappingSize, 'DMA_FROM_DEVICE');
    this.releaseSlots(dev, tlbAddr);
  }

  /** swiotlb_sync_single_for_device (swiotlb.c:1575-1583). */
  syncSingleForDevice(dev: Device, tlbAddr: number, size: number, dir: DmaDir): void {
    if (!this.contains(tlbAddr)) return;
    if (dir === 'DMA_TO_DEVICE' || dir === 'DMA_BIDIRECTIONAL') this.bounce(dev, tlbAddr, size, 'DMA_TO_DEVICE');
    else if (dir !== 'DMA_FROM_DEVICE') this.klog.bug('kernel/dma/swiotlb.c', 1582, 'dir != DMA_FROM_DEVICE');
  }

  /** swiotlb_sync_single_for_cpu (swiotlb.c:1585-1593). */
  syncSingleForCpu(dev: Device, tlbAddr: number, size: number, dir: DmaDir): void {
    if (!this.contains(tlbAddr)) return;
    if (dir === 'DMA_FROM_DEVICE' || dir === 'DMA_BIDIRECTIONAL') this.bounce(dev, tlbAddr, size, 'DMA_FROM_DEVICE');
    else if (dir !== 'DMA_TO_DEVICE') this.klog.bug('kernel/dma/swiotlb.c', 1592, 'dir != DMA_TO_DEVICE');
  }

  /** The original address a bounce address stands for (orig_addr tracking, as swiotlb_bounce computes it), or null. */
  origOf(dev: Device, tlbAddr: number): number | null {
    if (!this.contains(tlbAddr)) return null;
    const o = this.origAddr[Math.floor((tlbAddr - this.start) / IO_TLB_SIZE)];
    if (o === INVALID_PHYS_ADDR) return null;
    return o + (tlbAddr & (IO_TLB_SIZE - 1)) - this.alignOffset(dev, 0, o);
  }
}

/** nr_slots (swiotlb.c:248-251). */
export function nrSlots(val: number): number {
  return Math.ceil(val / IO_TLB_SIZE);
}

/** get_max_slots (swiotlb.c:955-958): (boundary_mask >> IO_TLB_SHIFT) + 1, ULONG_MAX included. */
function getMaxSlots(boundaryMask: number): number {
  if (boundaryMask >= 2 ** 53) return 2 ** (64 - IO_TLB_SHIFT);
  return Math.floor(boundaryMask / IO_TLB_SIZE) + 1;
}

/** iommu_is_span_boundary (include/linux/iommu-helper.h:20-27). */
function isSpanBoundary(index: number, nr: number, shift: number, boundarySize: number): boolean {
  const s = (shift + index) % boundarySize;
  return s + nr > boundarySize;
}
