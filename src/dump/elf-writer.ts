/**
 * A small ELF core writer: the inverse of `ElfDump`, for tests (cores built in the test itself), for
 * round trips (a table built by a format, written out, walked back) and for exporting a simulated
 * machine's memory so other tools (crash, gdb, our own `walk`) can read it.
 *
 * Layout: ELF header, program headers (PT_NOTE first, then one PT_LOAD per run), the note segment,
 * then each run's bytes at a page-aligned offset — the same shape the kernel's vmcore and the oracle
 * sample cores use.
 */
import { writeFileSync } from 'node:fs';
import { TWO32, hi32, lo32 } from '../addr.js';
import type { PhysMem } from '../mem/phys-mem.js';
import { FRAME_SIZE } from '../mem/phys-mem.js';
import { EM_AARCH64, ET_CORE, PT_LOAD, PT_NOTE } from './elf.js';

export interface ElfLoad {
  phys: number;
  /** The stored bytes (p_filesz = data.length). */
  data: Uint8Array;
  /** p_memsz; defaults to data.length. Larger means zero fill. */
  memSize?: number;
  vaddr?: number;
}

export interface ElfNoteIn {
  name: string;
  type: number;
  desc: Uint8Array | string;
}

export interface ElfCoreOptions {
  elfClass?: 32 | 64;
  machine?: number;
  loads: ElfLoad[];
  notes?: ElfNoteIn[];
  /** File alignment of each PT_LOAD's bytes (default 4096). */
  align?: number;
}

function encodeNotes(notes: ElfNoteIn[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const n of notes) {
    const name = enc.encode(n.name + '\0');
    const desc = typeof n.desc === 'string' ? enc.encode(n.desc) : n.desc;
    const rec = new Uint8Array(12 + pad4(name.length) + pad4(desc.length));
    const dv = new DataView(rec.buffer);
    dv.setUint32(0, name.length, true);
    dv.setUint32(4, desc.length, true);
    dv.setUint32(8, n.type >>> 0, true);
    rec.set(name, 12);
    rec.set(desc, 12 + pad4(name.length));
    parts.push(rec);
  }
  return concat(parts);
}

/** Build the bytes of an ELF32/ELF64 little-endian ET_CORE file. */
export function buildElfCore(opts: ElfCoreOptions): Uint8Array {
  const is64 = (opts.elfClass ?? 64) === 64;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const align = opts.align ?? 4096;
  const noteBytes = opts.notes && opts.notes.length ? encodeNotes(opts.notes) : null;
  const phnum = opts.loads.length + (noteBytes ? 1 : 0);
  let off = ehsize + phnum * phentsize;
  const noteOff = off;
  if (noteBytes) off += noteBytes.length;
  const loadOffs: number[] = [];
  for (const l of opts.loads) {
    if (!is64 && (l.phys + (l.memSize ?? l.data.length) > TWO32 || (l.vaddr ?? 0) >= TWO32))
      throw new RangeError(`ELF32 core cannot hold a PT_LOAD at ${l.phys.toString(16)} (above 4 GiB)`);
    off = Math.ceil(off / align) * align;
    loadOffs.push(off);
    off += l.data.length;
  }
  const out = new Uint8Array(off);
  const dv = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, 1, 1, 0]);
  dv.setUint16(16, ET_CORE, true);
  dv.setUint16(18, opts.machine ?? EM_AARCH64, true);
  dv.setUint32(20, 1, true); // e_version
  if (is64) {
    set64(dv, 0x20, ehsize); // e_phoff
    dv.setUint16(0x34, ehsize, true);
    dv.setUint16(0x36, phentsize, true);
    dv.setUint16(0x38, phnum, true);
    dv.setUint16(0x3a, 64, true); // e_shentsize (no sections)
  } else {
    dv.setUint32(0x1c, ehsize, true);
    dv.setUint16(0x28, ehsize, true);
    dv.setUint16(0x2a, phentsize, true);
    dv.setUint16(0x2c, phnum, true);
    dv.setUint16(0x2e, 40, true);
  }
  let ph = ehsize;
  const phdr = (type: number, offset: number, vaddr: number, paddr: number, filesz: number, memsz: number, flags: number) => {
    dv.setUint32(ph, type, true);
    if (is64) {
      dv.setUint32(ph + 4, flags, true);
      set64(dv, ph + 8, offset);
      set64(dv, ph + 16, vaddr);
      set64(dv, ph + 24, paddr);
      set64(dv, ph + 32, filesz);
      set64(dv, ph + 40, memsz);
      set64(dv, ph + 48, 0);
    } else {
      dv.setUint32(ph + 4, offset, true);
      dv.setUint32(ph + 8, vaddr, true);
      dv.setUint32(ph + 12, paddr, true);
      dv.setUint32(ph + 16, filesz, true);
      dv.setUint32(ph + 20, memsz, true);
      dv.setUint32(ph + 24, flags, true);
      dv.setUint32(ph + 28, 0, true);
    }
    ph += phentsize;
  };
  if (noteBytes) {
    phdr(PT_NOTE, noteOff, 0, 0, noteBytes.length, noteBytes.length, 0);
    out.set(noteBytes, noteOff);
  }
  opts.loads.forEach((l, i) => {
    const memsz = l.memSize ?? l.data.length;
    if (memsz < l.data.length) throw new RangeError('memSize smaller than data');
    phdr(PT_LOAD, loadOffs[i], l.vaddr ?? 0, l.phys, l.data.length, memsz, 7);
    out.set(l.data, loadOffs[i]);
  });
  return out;
}

export function writeElfCore(path: string, opts: ElfCoreOptions): void {
  writeFileSync(path, buildElfCore(opts));
}

/**
 * Every materialised frame of a PhysMem as PT_LOADs, one per maximal run of consecutive frames
 * (frames never written read as zero and are left out, as a dump of "pages in use" would).
 */
export function loadsFromPhysMem(mem: PhysMem): ElfLoad[] {
  const frames = mem.frameNumbers();
  const loads: ElfLoad[] = [];
  let i = 0;
  while (i < frames.length) {
    let j = i;
    while (j + 1 < frames.length && frames[j + 1] === frames[j] + 1) j++;
    const phys = frames[i] * FRAME_SIZE;
    const data = mem.readBytes(phys, (j - i + 1) * FRAME_SIZE);
    if (!data) throw new Error(`frame run at ${phys.toString(16)} not readable`);
    loads.push({ phys, data });
    i = j + 1;
  }
  return loads;
}

/** [base, base+size) of a PhysMem as a raw image (holes and unwritten RAM as zeros). */
export function buildRawImage(mem: PhysMem, base: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (const fn of mem.frameNumbers()) {
    const pa = fn * FRAME_SIZE;
    if (pa + FRAME_SIZE <= base || pa >= base + size) continue;
    const a0 = Math.max(pa, base);
    const a1 = Math.min(pa + FRAME_SIZE, base + size);
    const b = mem.readBytes(a0, a1 - a0);
    if (b) out.set(b, a0 - base);
  }
  return out;
}

function set64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, lo32(v), true);
  dv.setUint32(off + 4, hi32(v), true);
}

function pad4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
