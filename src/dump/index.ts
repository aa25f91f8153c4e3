/**
 * `openDump(path, opts)`: sniff a dump's first bytes and open it with the right reader.
 *
 *   7f 45 4c 46            ELF core (kdump vmcore, QEMU dump-guest-memory, makedumpfile -E)
 *   "KDUMP   "/"DISKDUMP"  makedumpfile kdump-compressed (or the older diskdump)
 *   printable text         a transcript of devmem / io -4 / hexdump reads
 *   anything else          a raw image, which needs `base`
 *
 * New formats join by adding a reader that implements `Dump` and one sniff rule here.
 */
import { InputError } from '../addr.js';
import { DumpFile } from './paged.js';
import { ElfDump, isElf } from './elf.js';
import { RawDump } from './raw.js';
import { KdumpDump, isFlattened, isKdump } from './kdump.js';
import { DevmemDump, looksLikeText } from './devmem.js';
import type { Dump, OpenDumpOptions } from './types.js';

export type { Dump, DumpKind, DumpNote, DumpSegment, MissingRead, OpenDumpOptions } from './types.js';
export { vmcoreInfo } from './types.js';

export type SniffedType = 'elf' | 'kdump' | 'devmem' | 'raw' | 'unknown';

export function sniffDump(path: string): SniffedType {
  const f = new DumpFile(path);
  try {
    const head = f.readUpTo(0, 512);
    if (head.length === 0) throw new InputError('file is empty', path);
    if (isElf(head)) return 'elf';
    if (isKdump(head) || isFlattened(head)) return 'kdump';
    if (looksLikeText(head)) return 'devmem';
    return 'unknown';
  } finally {
    f.close();
  }
}

export function openDump(path: string, opts: OpenDumpOptions = {}): Dump {
  const type = opts.type ?? sniffDump(path);
  switch (type) {
    case 'elf':
      if (opts.base !== undefined && !opts.type)
        throw new InputError('is an ELF core: its PT_LOADs give the physical addresses, so --base does not apply', path);
      return new ElfDump(path, opts.cachePages);
    case 'kdump':
      if (opts.base !== undefined && !opts.type)
        throw new InputError('is a kdump-compressed file: it gives its own page frame numbers, so --base does not apply', path);
      return new KdumpDump(path, opts.cachePages);
    case 'devmem':
      // A raw image whose first bytes happen to be printable: --base says what the user means.
      if (opts.base !== undefined && !opts.type) return new RawDump(path, opts.base, opts.cachePages);
      return new DevmemDump(path);
    case 'raw':
    case 'unknown':
      if (opts.base === undefined)
        throw new InputError(
          'is neither an ELF core, a kdump-compressed file nor a devmem transcript; if it is a raw memory image, ' +
            'give --base PHYS (the physical address of its first byte)',
          path,
        );
      return new RawDump(path, opts.base, opts.cachePages);
  }
}
