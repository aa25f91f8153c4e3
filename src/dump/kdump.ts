/**
 * makedumpfile's kdump-compressed format (the default output of Debian's and Ubuntu's kdump-tools and
 * of RHEL/Fedora kdump), read page by page on demand.
 *
 * Layout (makedumpfile IMPLEMENTATION and diskdump_mod.h, in our words):
 *   block 0                        disk_dump_header: "KDUMP   " (or "DISKDUMP"), header_version,
 *                                  utsname, timestamp, status, block_size (= the dumped kernel's page
 *                                  size), sub_hdr_size, bitmap_blocks, max_mapnr (32-bit; 64-bit copy in
 *                                  the sub-header from header_version 6)
 *   block 1 .. sub_hdr_size        kdump_sub_header (phys_base, dump_level, split, start/end pfn,
 *                                  offset/size of the VMCOREINFO text and of the ELF notes, …)
 *   next bitmap_blocks blocks      1st bitmap (page frame is RAM), then 2nd bitmap (page was dumped), each
 *                                  half of the area, bit (pfn % 8) of byte (pfn / 8)
 *   next                           one 24-byte page_desc {off_t offset; u32 size; u32 flags; u64
 *                                  page_flags} per *dumped* frame, in pfn order
 *   then                           page data, compressed per page as the flags say
 *
 * A file in makedumpfile's flattened format (-F; QEMU < 8.2 dump-guest-memory -z) is read through
 * its records (flattened.ts) as the file `makedumpfile -R` would rebuild.
 *
 * Compression flags: 0x1 zlib (node:zlib), 0x2 LZO1X (`makedumpfile -l`, RHEL's default; our own
 * decoder in lzo1x.ts), 0x4 snappy (snappyjs), 0x20 zstd (fzstd); a page with none of them is stored
 * as is (makedumpfile does that when compressing would not make it smaller).
 *
 * The headers are read in the layout of a 64-bit dumper (makedumpfile on arm64 or x86-64; QEMU's
 * DiskDumpHeader64 has the same offsets) unless block_size only makes sense in the 32-bit layout
 * (QEMU's packed DiskDumpHeader32/KdumpSubHeader32 for a 32-bit guest).
 */
import { inflateSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import snappy from 'snappyjs';
import { InputError, TWO32, hex } from '../addr.js';
import { parseNotes } from './elf.js';
import { lzo1xDecompress } from './lzo1x.js';
import { FlattenedFile } from './flattened.js';
import { DUMP_PAGE, DumpFile, PageCache, PagedDump, type RandomAccess } from './paged.js';
import type { DumpKind, DumpNote, DumpSegment } from './types.js';

export const KDUMP_SIGNATURE = 'KDUMP   ';
export const DISKDUMP_SIGNATURE = 'DISKDUMP';
/** makedumpfile -F writes a stream of (offset, size, data) records headed by this. */
export const FLATTENED_SIGNATURE = 'makedumpfile';

export const DUMP_DH_COMPRESSED_ZLIB = 0x1;
export const DUMP_DH_COMPRESSED_LZO = 0x2;
export const DUMP_DH_COMPRESSED_SNAPPY = 0x4;
export const DUMP_DH_COMPRESSED_INCOMPLETE = 0x8;
export const DUMP_DH_EXCLUDED_VMEMMAP = 0x10;
export const DUMP_DH_COMPRESSED_ZSTD = 0x20;

/** Byte offsets in disk_dump_header as a 64-bit makedumpfile writes it (struct timeval = 16 bytes at 408). */
export const DDH64 = {
  signature: 0,
  headerVersion: 8,
  utsname: 12,
  timestamp: 408,
  status: 424,
  blockSize: 428,
  subHdrSize: 432,
  bitmapBlocks: 436,
  maxMapnr: 440,
  totalRamBlocks: 444,
  deviceBlocks: 448,
  writtenBlocks: 452,
  currentCpu: 456,
  nrCpus: 460,
  size: 464,
} as const;
/**
 * The same written by a 32-bit dumper: utsname ends at 402, then a 10-byte timestamp (QEMU's packed
 * DiskDumpHeader32; a 32-bit makedumpfile's 8-byte timeval after 2 bytes of padding), so every
 * following field sits 12 bytes earlier: status at 412, block_size at 416.
 */
export const DDH32_SHIFT = -12;
const DDH32_BLOCK_SIZE = DDH64.blockSize + DDH32_SHIFT;

/** kdump_sub_header, 64-bit layout. */
export const KSH64 = {
  physBase: 0,
  dumpLevel: 8,
  split: 12,
  startPfn: 16,
  endPfn: 24,
  offsetVmcoreinfo: 32,
  sizeVmcoreinfo: 40,
  offsetNote: 48,
  sizeNote: 56,
  offsetEraseinfo: 64,
  sizeEraseinfo: 72,
  startPfn64: 80,
  endPfn64: 88,
  maxMapnr64: 96,
  size: 104,
} as const;

/**
 * kdump_sub_header of a 32-bit dumper, packed: QEMU's KdumpSubHeader32 (include/sysemu/dump.h, written
 * for 32-bit guests by `dump-guest-memory -z/-l/-s`), which is also i386 makedumpfile's natural layout.
 */
export const KSH32 = {
  physBase: 0,
  dumpLevel: 4,
  split: 8,
  startPfn: 12,
  endPfn: 16,
  offsetVmcoreinfo: 20,
  sizeVmcoreinfo: 28,
  offsetNote: 32,
  sizeNote: 40,
  offsetEraseinfo: 44,
  sizeEraseinfo: 52,
  startPfn64: 56,
  endPfn64: 64,
  maxMapnr64: 72,
  size: 80,
} as const;

export const PAGE_DESC_SIZE = 24;
/** Bitmaps are held in memory: 64 MiB each covers 2 TiB of 4 KiB pages. */
const MAX_BITMAP_BYTES = 64 << 20;

const POPCOUNT = new Uint8Array(256).map((_, i) => {
  let c = 0;
  for (let v = i; v; v >>= 1) c += v & 1;
  return c;
});

export function isKdump(head: Uint8Array): boolean {
  const s = sig(head, 8);
  return s === KDUMP_SIGNATURE || s === DISKDUMP_SIGNATURE;
}

export function isFlattened(head: Uint8Array): boolean {
  return sig(head, 12) === FLATTENED_SIGNATURE;
}

function sig(head: Uint8Array, n: number): string {
  return head.length < n ? '' : String.fromCharCode(...head.subarray(0, n));
}

function compressionName(flags: number): string {
  const names: string[] = [];
  if (flags & DUMP_DH_COMPRESSED_ZLIB) names.push('zlib');
  if (flags & DUMP_DH_COMPRESSED_LZO) names.push('lzo');
  if (flags & DUMP_DH_COMPRESSED_SNAPPY) names.push('snappy');
  if (flags & DUMP_DH_COMPRESSED_ZSTD) names.push('zstd');
  return names.join('+') || 'none';
}

export interface KdumpHeaderInfo {
  signature: string;
  headerVersion: number;
  release: string;
  machine: string;
  status: number;
  blockSize: number;
  maxMapnr: number;
  dumpLevel: number | null;
  layout: 64 | 32;
}

export class KdumpDump extends PagedDump {
  readonly kind: DumpKind = 'kdump';
  readonly header: KdumpHeaderInfo;
  private readonly file: RandomAccess;
  /** The file is in makedumpfile's flattened format (read through its records: flattened.ts). */
  readonly flattened: boolean;
  private readonly bitmap1: Uint8Array;
  private readonly bitmap2: Uint8Array;
  /** Dumped frames before each 64-byte chunk of bitmap 2 (page_desc index of the chunk's first). */
  private readonly rank: Float64Array;
  private readonly descBase: number;
  private readonly nDumped: number;
  private readonly noteList: DumpNote[] = [];
  private readonly blockCache: PageCache;
  private segs: DumpSegment[] | null = null;
  /** Compressions met in page descriptors so far (flags OR-ed). */
  flagsSeen = 0;

  constructor(path: string, cachePages?: number) {
    super(path, cachePages);
    const raw = new DumpFile(path);
    try {
      this.flattened = isFlattened(raw.readUpTo(0, 16));
      this.file = this.flattened ? new FlattenedFile(raw) : raw;
    } catch (e) {
      raw.close();
      throw e;
    }
    try {
      const f = this.file;
      const head = f.readUpTo(0, DDH64.size);
      if (!isKdump(head))
        throw new InputError(`not a kdump-compressed file: signature is '${sig(head, 8)}', expected 'KDUMP   '`, path);
      if (head.length < DDH64.size)
        throw new InputError(`truncated disk_dump_header: file is ${f.size} bytes, the header needs ${DDH64.size}`, path);
      const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
      // Which layout: the one whose block_size, sub_hdr_size and bitmap_blocks make sense for this
      // file (in the other, those offsets hold max_mapnr and the block counts).
      const plausible = (shift: number): boolean => {
        const bs = dv.getInt32(DDH64.blockSize + shift, true);
        const sub = dv.getInt32(DDH64.subHdrSize + shift, true);
        const bm = dv.getUint32(DDH64.bitmapBlocks + shift, true);
        return goodBlockSize(bs) && sub >= 0 && sub <= 1 << 16 && bm > 0 && bm % 2 === 0 && (1 + sub + bm) * bs <= f.size;
      };
      const layout: 64 | 32 = !plausible(0) && plausible(DDH32_SHIFT) ? 32 : 64;
      const blockSize = dv.getInt32(layout === 64 ? DDH64.blockSize : DDH32_BLOCK_SIZE, true);
      if (!goodBlockSize(blockSize))
        throw new InputError(
          `disk_dump_header: block_size ${blockSize} is not a page size (a power of two from 4096 to 1 MiB)`,
          path,
        );
      const shift = layout === 64 ? 0 : DDH32_BLOCK_SIZE - DDH64.blockSize;
      const status = dv.getUint32(DDH64.status + shift, true);
      const subHdrSize = dv.getInt32(DDH64.subHdrSize + shift, true);
      const bitmapBlocks = dv.getUint32(DDH64.bitmapBlocks + shift, true);
      let maxMapnr = dv.getUint32(DDH64.maxMapnr + shift, true);
      const headerVersion = dv.getInt32(DDH64.headerVersion, true);
      const uts = (i: number) => cstr(head.subarray(DDH64.utsname + i * 65, DDH64.utsname + (i + 1) * 65));
      if (subHdrSize < 0 || subHdrSize > 1 << 16)
        throw new InputError(`disk_dump_header: sub_hdr_size ${subHdrSize} blocks is absurd`, path);
      if (bitmapBlocks === 0 || bitmapBlocks % 2 !== 0)
        throw new InputError(`disk_dump_header: bitmap_blocks ${bitmapBlocks} must be even and non-zero (two bitmaps)`, path);

      const subOff = blockSize;
      let dumpLevel: number | null = null;
      if (subHdrSize > 0) {
        const K = layout === 64 ? KSH64 : KSH32;
        if (subOff + K.size > f.size)
          throw new InputError(`truncated kdump_sub_header at ${hex(subOff)}: file is ${hex(f.size)} bytes`, path);
        const sh = f.read(subOff, K.size);
        const sdv = new DataView(sh.buffer, sh.byteOffset, sh.byteLength);
        dumpLevel = sdv.getInt32(K.dumpLevel, true);
        if (headerVersion >= 6) {
          const m64 = u64(sdv, K.maxMapnr64);
          if (m64 > 0) maxMapnr = m64;
        }
        const w = layout === 64 ? 8 : 4;
        if (headerVersion >= 3) this.readNoteArea(sdv, K.offsetVmcoreinfo, K.sizeVmcoreinfo, w, 'VMCOREINFO');
        if (headerVersion >= 4) this.readNoteArea(sdv, K.offsetNote, K.sizeNote, w, 'notes');
      }

      const bitmapOff = (1 + subHdrSize) * blockSize;
      const half = (bitmapBlocks / 2) * blockSize;
      if (half > MAX_BITMAP_BYTES)
        throw new InputError(`bitmap_blocks ${bitmapBlocks} × ${blockSize} bytes is absurd (more than 64 MiB per bitmap)`, path);
      if (bitmapOff + 2 * half > f.size)
        throw new InputError(
          `truncated kdump bitmaps: 2 × ${hex(half)} bytes from ${hex(bitmapOff)} end at ${hex(bitmapOff + 2 * half)}, ` +
            `beyond the end of the file (${hex(f.size)} bytes)`,
          path,
        );
      if (maxMapnr > half * 8)
        throw new InputError(`max_mapnr ${hex(maxMapnr)} needs more bitmap than bitmap_blocks ${bitmapBlocks} holds`, path);
      this.bitmap1 = f.read(bitmapOff, half);
      this.bitmap2 = f.read(bitmapOff + half, half);
      const chunks = Math.ceil(half / 64);
      this.rank = new Float64Array(chunks + 1);
      let count = 0;
      for (let c = 0; c < chunks; c++) {
        this.rank[c] = count;
        const end = Math.min(half, (c + 1) * 64);
        for (let i = c * 64; i < end; i++) count += POPCOUNT[this.bitmap2[i]];
      }
      this.rank[chunks] = count;
      this.nDumped = count;
      this.descBase = bitmapOff + 2 * half;
      if (this.descBase + count * PAGE_DESC_SIZE > f.size)
        throw new InputError(
          `truncated page descriptors: ${count} dumped pages need ${hex(count * PAGE_DESC_SIZE)} bytes from ` +
            `${hex(this.descBase)}, beyond the end of the file (${hex(f.size)} bytes)`,
          path,
        );
      this.header = {
        signature: sig(head, 8),
        headerVersion,
        release: uts(2),
        machine: uts(4),
        status,
        blockSize,
        maxMapnr,
        dumpLevel,
        layout,
      };
      if (maxMapnr * blockSize > 2 ** 52)
        throw new InputError(`max_mapnr ${hex(maxMapnr)} × block_size ${blockSize} goes beyond 2^52`, path);
      this.blockCache = new PageCache(blockSize === DUMP_PAGE ? 1 : 16);
    } catch (e) {
      this.file.close();
      throw e;
    }
  }

  private readNoteArea(sdv: DataView, offAt: number, sizeAt: number, sizeBytes: number, what: 'VMCOREINFO' | 'notes'): void {
    const off = u64(sdv, offAt);
    const size = sizeBytes === 8 ? u64(sdv, sizeAt) : sdv.getUint32(sizeAt, true);
    if (size === 0) return;
    if (off + size > this.file.size || size > 64 << 20)
      throw new InputError(
        `kdump_sub_header: ${what} at ${hex(off)} (${hex(size)} bytes) runs beyond the end of the file`,
        this.path,
      );
    const buf = this.file.read(off, size);
    if (what === 'VMCOREINFO') this.noteList.push({ name: 'VMCOREINFO', type: 0, desc: buf });
    else {
      // The ELF notes repeat the VMCOREINFO note that offset_vmcoreinfo already gave: keep one.
      const have = new Set(this.noteList.map((x) => x.name));
      this.noteList.push(...parseNotes(buf, 'kdump_sub_header notes', this.path).filter((x) => !have.has(x.name)));
    }
  }

  /** Whether page frame `pfn` (of block_size) was dumped. */
  dumped(pfn: number): boolean {
    if (pfn >= this.header.maxMapnr) return false;
    return (this.bitmap2[Math.floor(pfn / 8)] & (1 << (pfn % 8))) !== 0;
  }

  isRam(pfn: number): boolean {
    if (pfn >= this.header.maxMapnr) return false;
    return (this.bitmap1[Math.floor(pfn / 8)] & (1 << (pfn % 8))) !== 0;
  }

  isBacked(addr: number, len: number): boolean {
    const bs = this.header.blockSize;
    const first = Math.floor(addr / bs);
    const last = Math.floor((addr + Math.max(len, 1) - 1) / bs);
    for (let p = first; p <= last; p++) if (!this.dumped(p)) return false;
    return true;
  }

  whyNotBacked(addr: number, len: number): string {
    const bs = this.header.blockSize;
    let p = Math.floor(addr / bs);
    const last = Math.floor((addr + Math.max(len, 1) - 1) / bs);
    while (p <= last && this.dumped(p)) p++;
    const at = hex(Math.max(addr, p * bs));
    if (p >= this.header.maxMapnr)
      return `${at} is beyond the last page frame of ${this.path} (max_mapnr ${hex(this.header.maxMapnr)})`;
    if (!this.isRam(p)) return `${at} was not RAM in the dumped machine (1st bitmap of ${this.path})`;
    const lvl = this.header.dumpLevel === null ? '' : ` (dump level ${this.header.dumpLevel})`;
    return `${at} is RAM that makedumpfile excluded from ${this.path}${lvl}: a zero, cache, user or free page`;
  }

  /** page_desc index of a dumped frame: dumped frames before it (rank in the 2nd bitmap). */
  private descIndex(pfn: number): number {
    const byte = Math.floor(pfn / 8);
    const chunk = Math.floor(byte / 64);
    let n = this.rank[chunk];
    for (let i = chunk * 64; i < byte; i++) n += POPCOUNT[this.bitmap2[i]];
    return n + POPCOUNT[this.bitmap2[byte] & ((1 << (pfn % 8)) - 1)];
  }

  /** The decompressed block_size bytes of dumped frame `pfn`. */
  readFrame(pfn: number): Uint8Array {
    return this.blockCache.get(pfn, (k) => this.loadFrame(k));
  }

  private loadFrame(pfn: number): Uint8Array {
    const bs = this.header.blockSize;
    const idx = this.descIndex(pfn);
    const d = this.file.read(this.descBase + idx * PAGE_DESC_SIZE, PAGE_DESC_SIZE);
    const dv = new DataView(d.buffer, d.byteOffset, PAGE_DESC_SIZE);
    const where = `page_desc ${idx} (pfn ${hex(pfn)}, phys ${hex(pfn * bs)})`;
    if (dv.getInt32(4, true) < 0) throw new InputError(`${where}: negative offset`, this.path);
    const offset = u64(dv, 0);
    const size = dv.getUint32(8, true);
    const flags = dv.getUint32(12, true);
    this.flagsSeen |= flags;
    if (size === 0 || size > bs * 2 || offset + size > this.file.size)
      throw new InputError(
        `${where}: data at offset ${hex(offset)} size ${hex(size)} is not inside the file (${hex(this.file.size)} bytes)` +
          (this.header.status & DUMP_DH_COMPRESSED_INCOMPLETE ? '; the header says the dump is incomplete' : ''),
        this.path,
      );
    const raw = this.file.read(offset, size);
    let page: Uint8Array;
    const comp = flags & (DUMP_DH_COMPRESSED_ZLIB | DUMP_DH_COMPRESSED_LZO | DUMP_DH_COMPRESSED_SNAPPY | DUMP_DH_COMPRESSED_ZSTD);
    try {
      switch (comp) {
        case 0:
          page = raw;
          break;
        case DUMP_DH_COMPRESSED_ZLIB:
          page = new Uint8Array(inflateSync(raw, { maxOutputLength: bs }));
          break;
        case DUMP_DH_COMPRESSED_SNAPPY:
          page = snappy.uncompress(raw, bs);
          break;
        case DUMP_DH_COMPRESSED_ZSTD:
          page = zstdDecompress(raw, new Uint8Array(bs));
          break;
        case DUMP_DH_COMPRESSED_LZO:
          page = lzo1xDecompress(raw, bs);
          break;
        default:
          throw new InputError(`${where}: flags ${hex(flags)} name several compressions (${compressionName(flags)})`, this.path);
      }
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(`${where}: ${compressionName(comp)} data is corrupt (${(e as Error).message})`, this.path);
    }
    if (page.length !== bs)
      throw new InputError(
        `${where}: ${compressionName(comp)} page holds ${page.length} bytes, block_size is ${bs}`,
        this.path,
      );
    return page;
  }

  protected loadPage(pfn4k: number): Uint8Array {
    const bs = this.header.blockSize;
    const pa = pfn4k * DUMP_PAGE;
    const frame = Math.floor(pa / bs);
    if (!this.dumped(frame)) return new Uint8Array(DUMP_PAGE);
    const data = this.readFrame(frame);
    if (bs === DUMP_PAGE) return data;
    const off = pa - frame * bs;
    return data.slice(off, off + DUMP_PAGE);
  }

  segments(): DumpSegment[] {
    if (this.segs) return this.segs;
    const out: DumpSegment[] = [];
    const bs = this.header.blockSize;
    const n = this.header.maxMapnr;
    let p = 0;
    while (p < n) {
      const byte = this.bitmap2[Math.floor(p / 8)];
      if (byte === 0 && p % 8 === 0) {
        p += 8;
        continue;
      }
      if (!this.dumped(p)) {
        p++;
        continue;
      }
      const start = p;
      while (p < n && this.dumped(p)) p++;
      const size = (p - start) * bs;
      out.push({ phys: start * bs, size, storedSize: size, source: `pfn ${hex(start)}..${hex(p - 1)}` });
    }
    this.segs = out;
    return out;
  }

  get dumpedPages(): number {
    return this.nDumped;
  }

  override notes(): DumpNote[] {
    return this.noteList;
  }

  close(): void {
    this.file.close();
    this.cache.clear();
    this.blockCache.clear();
  }
}

function goodBlockSize(n: number): boolean {
  return n >= 4096 && n <= 1 << 20 && (n & (n - 1)) === 0;
}

function u64(dv: DataView, off: number): number {
  return dv.getUint32(off + 4, true) * TWO32 + dv.getUint32(off, true);
}

function cstr(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return new TextDecoder('latin1').decode(nul >= 0 ? b.subarray(0, nul) : b);
}
