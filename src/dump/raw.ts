/**
 * A raw memory image: the file's byte 0 is physical address `base` (what `dd if=/dev/mem`, a JTAG
 * probe's memory save or `dump-guest-memory` without ELF headers produce). One run, no holes.
 */
import { InputError, hex } from '../addr.js';
import { DUMP_PAGE, DumpFile, PagedDump } from './paged.js';
import type { DumpKind, DumpSegment } from './types.js';

export class RawDump extends PagedDump {
  readonly kind: DumpKind = 'raw';
  private readonly file: DumpFile;
  readonly base: number;
  readonly size: number;

  constructor(path: string, base: number, cachePages?: number) {
    super(path, cachePages);
    this.file = new DumpFile(path);
    this.base = base;
    this.size = this.file.size;
    if (this.size === 0) {
      this.file.close();
      throw new InputError('raw image is empty', path);
    }
    if (base + this.size > 2 ** 52) {
      this.file.close();
      throw new InputError(`raw image at base ${hex(base)} with ${hex(this.size)} bytes goes beyond 2^52`, path);
    }
  }

  segments(): DumpSegment[] {
    return [{ phys: this.base, size: this.size, storedSize: this.size, source: 'raw image' }];
  }

  isBacked(addr: number, len: number): boolean {
    return addr >= this.base && addr + len <= this.base + this.size;
  }

  whyNotBacked(addr: number, len: number): string {
    const at = addr >= this.base ? Math.max(addr, this.base + this.size) : addr;
    return (
      `${hex(at)} (${len} bytes at ${hex(addr)}) is outside the raw image ${this.path}, which holds ` +
      `${hex(this.base)}-${hex(this.base + this.size - 1)} (give --base if the image starts elsewhere)`
    );
  }

  protected loadPage(pfn: number): Uint8Array {
    const pa = pfn * DUMP_PAGE;
    const page = new Uint8Array(DUMP_PAGE);
    const a0 = Math.max(pa, this.base);
    const a1 = Math.min(pa + DUMP_PAGE, this.base + this.size);
    if (a1 > a0) this.file.read(a0 - this.base, a1 - a0, page, a0 - pa);
    return page;
  }

  close(): void {
    this.file.close();
    this.cache.clear();
  }
}
