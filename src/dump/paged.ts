/**
 * Shared machinery of the file-backed dump readers: a file opened once and read page by page with
 * `fs.readSync` at an offset, behind a small LRU cache, so a multi-GiB vmcore costs a few hundred KiB
 * of memory however large it is. Readers describe *which* physical pages they hold and how to produce
 * one page's bytes; the 32-bit access path, byte reads and missing-read bookkeeping live here once.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { InputError, hex } from '../addr.js';
import { ACCESS_FAULT } from '../mem/phys-mem.js';
import type { Dump, DumpKind, DumpNote, DumpSegment, MissingRead } from './types.js';

export const DUMP_PAGE = 4096;

/** Least-recently-used cache of fixed-size pages keyed by a page number. */
export class PageCache {
  private readonly map = new Map<number, Uint8Array>();
  private lastKey = -1;
  private lastPage: Uint8Array | undefined;
  hits = 0;
  misses = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`page cache capacity ${capacity}`);
  }

  get(key: number, load: (key: number) => Uint8Array): Uint8Array {
    if (key === this.lastKey && this.lastPage) {
      this.hits++;
      return this.lastPage;
    }
    let page = this.map.get(key);
    if (page) {
      this.hits++;
      // Map keeps insertion order: re-inserting makes this key the most recent.
      this.map.delete(key);
      this.map.set(key, page);
    } else {
      this.misses++;
      page = load(key);
      if (this.map.size >= this.capacity) {
        const oldest = this.map.keys().next().value as number;
        this.map.delete(oldest);
      }
      this.map.set(key, page);
    }
    this.lastKey = key;
    this.lastPage = page;
    return page;
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
    this.lastKey = -1;
    this.lastPage = undefined;
  }
}

/** A file read at offsets; every short read past the checked size is a bug, not user input. */
/** A file read at offsets: a dump file itself, or the file a flattened kdump stands for (flattened.ts). */
export interface RandomAccess {
  readonly path: string;
  readonly size: number;
  /** Read exactly len bytes at pos (the caller has checked pos+len <= size). */
  read(pos: number, len: number, into?: Uint8Array, at?: number): Uint8Array;
  /** Read up to len bytes at pos; returns what the file has. */
  readUpTo(pos: number, len: number): Uint8Array;
  close(): void;
}

export class DumpFile implements RandomAccess {
  readonly fd: number;
  readonly size: number;
  private closed = false;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      const st = fstatSync(this.fd);
      if (!st.isFile() && !st.isBlockDevice() && !st.isCharacterDevice())
        throw new InputError('not a regular file', path);
      this.size = st.size;
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  /** Read exactly len bytes at pos (the caller has checked pos+len <= size). */
  read(pos: number, len: number, into?: Uint8Array, at = 0): Uint8Array {
    const buf = into ?? new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const n = readSync(this.fd, buf, at + done, len - done, pos + done);
      if (n <= 0) throw new InputError(`unexpected end of file reading ${len} bytes at offset ${hex(pos)}`, this.path);
      done += n;
    }
    return buf;
  }

  /** Read up to len bytes at pos; returns what the file has (for sniffing headers of short files). */
  readUpTo(pos: number, len: number): Uint8Array {
    const n = Math.max(0, Math.min(len, this.size - pos));
    return this.read(pos, n);
  }

  close(): void {
    if (!this.closed) {
      closeSync(this.fd);
      this.closed = true;
    }
  }
}

/**
 * A dump whose memory is produced one 4 KiB physical page at a time. Subclasses say which bytes are
 * held (`isBacked`) and fill a page (`loadPage`, unheld bytes left zero).
 */
export abstract class PagedDump implements Dump {
  abstract readonly kind: DumpKind;
  protected readonly cache: PageCache;
  private readonly missing: MissingRead[] = [];
  private readonly missingSeen = new Set<number>();

  constructor(
    readonly path: string,
    cachePages = 256,
  ) {
    this.cache = new PageCache(cachePages);
  }

  abstract isBacked(addr: number, len: number): boolean;
  abstract segments(): DumpSegment[];
  abstract whyNotBacked(addr: number, len: number): string;
  abstract close(): void;
  protected abstract loadPage(pfn: number): Uint8Array;

  notes(): DumpNote[] {
    return [];
  }

  missingReads(): MissingRead[] {
    return this.missing.slice();
  }

  protected noteMissing(addr: number, len: number): void {
    if (this.missingSeen.has(addr)) return;
    this.missingSeen.add(addr);
    this.missing.push({ addr, len });
  }

  private readonly loader = (pfn: number): Uint8Array => this.loadPage(pfn);

  protected page(pfn: number): Uint8Array {
    return this.cache.get(pfn, this.loader);
  }

  read32(addr: number): number {
    if (!this.isBacked(addr, 4)) {
      this.noteMissing(addr, 4);
      return ACCESS_FAULT;
    }
    const off = addr % DUMP_PAGE;
    if (off <= DUMP_PAGE - 4) {
      const p = this.page(Math.floor(addr / DUMP_PAGE));
      return (p[off] | (p[off + 1] << 8) | (p[off + 2] << 16) | (p[off + 3] << 24)) >>> 0;
    }
    const b = this.readBytes(addr, 4) as Uint8Array;
    return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  }

  readBytes(addr: number, len: number): Uint8Array | null {
    if (!this.isBacked(addr, len)) {
      this.noteMissing(addr, len);
      return null;
    }
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = addr + done;
      const off = a % DUMP_PAGE;
      const chunk = Math.min(len - done, DUMP_PAGE - off);
      out.set(this.page(Math.floor(a / DUMP_PAGE)).subarray(off, off + chunk), done);
      done += chunk;
    }
    return out;
  }
}

/**
 * Sorted, non-overlapping physical runs with a fast "which run holds addr" (last hit, then binary
 * search). Shared by the ELF and raw readers.
 */
export class SegmentIndex<S extends DumpSegment> {
  private last = 0;

  constructor(readonly segs: S[]) {}

  find(addr: number): S | undefined {
    const s = this.segs;
    const l = s[this.last];
    if (l && addr >= l.phys && addr < l.phys + l.size) return l;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const m = s[mid];
      if (addr < m.phys) hi = mid - 1;
      else if (addr >= m.phys + m.size) lo = mid + 1;
      else {
        this.last = mid;
        return m;
      }
    }
    return undefined;
  }

  /** Whether every byte of [addr, addr+len) lies in some run (runs may be adjacent). */
  covers(addr: number, len: number): boolean {
    let a = addr;
    const end = addr + len;
    while (a < end) {
      const s = this.find(a);
      if (!s) return false;
      a = s.phys + s.size;
    }
    return len > 0 || !!this.find(addr);
  }

  /** Runs overlapping [addr, addr+len), in order. */
  overlapping(addr: number, len: number): S[] {
    const out: S[] = [];
    const end = addr + len;
    const s = this.segs;
    // First run ending after addr (runs are sorted and disjoint, so their ends are sorted too).
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid].phys + s[mid].size > addr) hi = mid;
      else lo = mid + 1;
    }
    for (let i = lo; i < s.length && s[i].phys < end; i++) out.push(s[i]);
    return out;
  }

  /** First address in [addr, addr+len) that no run holds. */
  firstHole(addr: number, len: number): number {
    let a = addr;
    const end = addr + len;
    while (a < end) {
      const s = this.find(a);
      if (!s) return a;
      a = s.phys + s.size;
    }
    return -1;
  }
}

/** "0x1000-0x1fff" style list of what a dump holds, for messages (at most `max` runs). */
export function describeRuns(segs: readonly DumpSegment[], max = 4): string {
  if (segs.length === 0) return 'nothing';
  const parts = segs.slice(0, max).map((s) => `${hex(s.phys)}-${hex(s.phys + s.size - 1)}`);
  if (segs.length > max) parts.push(`… ${segs.length - max} more`);
  return parts.join(', ');
}
