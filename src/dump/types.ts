/**
 * A memory dump seen as physical memory: the one small interface every dump reader implements, so the
 * page-table walker (and `iommu-lab walk`) never knows whether the bytes came from an ELF core, a raw
 * image, a makedumpfile kdump-compressed file or a transcript of `devmem` reads typed on a board.
 *
 * A dump is a `MemReader`: `read32` returns ACCESS_FAULT (-1) where the dump holds nothing, and the
 * walker reports that as a problem ("entry points outside the dump"), never as an exception.
 */
import type { MemReader } from '../mem/phys-mem.js';

export type DumpKind = 'elf32' | 'elf64' | 'raw' | 'kdump' | 'devmem';

/** One run of physical memory the dump holds. */
export interface DumpSegment {
  phys: number;
  size: number;
  /** Bytes actually stored; the rest of `size` reads as zero (ELF p_filesz < p_memsz). */
  storedSize: number;
  /** Where it came from, for messages: "PT_LOAD 2", "raw image", "transcript line 14". */
  source: string;
}

/** An ELF note (or the equivalent header field of another format). */
export interface DumpNote {
  name: string;
  type: number;
  desc: Uint8Array;
}

/** A read the dump could not serve (devmem transcripts collect these for `--suggest`). */
export interface MissingRead {
  addr: number;
  len: number;
}

export interface Dump extends MemReader {
  readonly path: string;
  readonly kind: DumpKind;
  /** Physical runs held, ascending and non-overlapping. */
  segments(): DumpSegment[];
  notes(): DumpNote[];
  /** `len` bytes at `addr`, or null when any of them is not held. */
  readBytes(addr: number, len: number): Uint8Array | null;
  /** Why [addr, addr+len) cannot be read, in words ("0x… is outside every PT_LOAD of FILE"). */
  whyNotBacked(addr: number, len: number): string;
  /** Reads that failed so far (first failure per word), in order. */
  missingReads(): MissingRead[];
  close(): void;
}

export interface OpenDumpOptions {
  /** Physical address of the first byte of a raw image (required for raw images). */
  base?: number;
  /** Force a reader instead of sniffing the file's first bytes. */
  type?: 'elf' | 'raw' | 'kdump' | 'devmem';
  /** Pages kept in the LRU cache (default 256 = 1 MiB). */
  cachePages?: number;
}

/** VMCOREINFO note text as KEY=VALUE pairs (kernel/vmcore_info.c writes one per line). */
export function vmcoreInfo(dump: Dump): Map<string, string> | null {
  const note = dump.notes().find((n) => n.name === 'VMCOREINFO');
  if (!note) return null;
  return parseKeyValueText(new TextDecoder('latin1').decode(note.desc));
}

export function parseKeyValueText(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1).replace(/\0+$/, ''));
  }
  return out;
}
