/**
 * ELF32/ELF64 core files as physical memory: kdump's /proc/vmcore (and makedumpfile's ELF output) and
 * QEMU's `dump-guest-memory`. Each PT_LOAD maps [p_paddr, p_paddr + p_memsz) to the file bytes at
 * p_offset; bytes past p_filesz read as zero (the ELF rule for a short file image). PT_NOTE segments
 * are parsed for VMCOREINFO and other notes.
 *
 * Facts (include/uapi/linux/elf.h): e_ident[EI_CLASS] 1 = ELFCLASS32, 2 = ELFCLASS64; EI_DATA 1 =
 * little-endian; ET_CORE = 4; PT_LOAD = 1, PT_NOTE = 4; PN_XNUM = 0xffff means the real program
 * header count is in section header 0's sh_info (QEMU uses this for guests with many RAM blocks).
 *
 * Overlaps: the kernel's own vmcore headers describe the kernel image twice — once in the RAM PT_LOAD
 * and once as a separate PT_LOAD with p_paddr = __pa_symbol(_text) (kernel/crash_core.c:224-231). A
 * segment wholly inside another is therefore accepted when the bytes we sample (first and last page)
 * agree; any other overlap is refused, since a walker could not tell which bytes are the memory.
 */
import { InputError, TWO32, hex } from '../addr.js';
import { DUMP_PAGE, DumpFile, PagedDump, SegmentIndex, describeRuns } from './paged.js';
import type { DumpKind, DumpNote, DumpSegment } from './types.js';

export const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
export const ET_CORE = 4;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const PN_XNUM = 0xffff;
export const EM_ARM = 40;
export const EM_AARCH64 = 183;
export const EM_X86_64 = 62;

/** Far beyond any real core (QEMU and the kernel emit one PT_LOAD per RAM range). */
const MAX_PHNUM = 1 << 20;
/** Note segments are a few KiB (per-CPU PRSTATUS + VMCOREINFO); a huge one is a corrupt header. */
const MAX_NOTE_BYTES = 64 << 20;

interface ElfSegment extends DumpSegment {
  fileOffset: number;
}

export interface ElfHeaderInfo {
  elfClass: 32 | 64;
  machine: number;
  phnum: number;
}

export class ElfDump extends PagedDump {
  readonly kind: DumpKind;
  readonly header: ElfHeaderInfo;
  private readonly file: DumpFile;
  private readonly index: SegmentIndex<ElfSegment>;
  private readonly noteList: DumpNote[];
  /** PT_LOADs dropped because another PT_LOAD holds the same bytes (kernel text duplicate). */
  readonly duplicates: DumpSegment[] = [];

  constructor(path: string, cachePages?: number) {
    super(path, cachePages);
    this.file = new DumpFile(path);
    try {
      const parsed = parseElf(this.file);
      this.kind = parsed.header.elfClass === 64 ? 'elf64' : 'elf32';
      this.header = parsed.header;
      this.noteList = parsed.notes;
      this.index = new SegmentIndex(this.dropDuplicates(parsed.loads));
    } catch (e) {
      this.file.close();
      throw e;
    }
  }

  private dropDuplicates(loads: ElfSegment[]): ElfSegment[] {
    if (loads.length > 1 && loads.every((l) => l.phys === 0))
      throw new InputError(
        `p_paddr is 0 in all ${loads.length} PT_LOADs: this core gives virtual addresses only (a process core, ` +
          'or a dump made with paging); a physical-memory dump (kdump vmcore, dump-guest-memory without -p) is needed',
        this.path,
      );
    const sorted = [...loads].sort((a, b) => a.phys - b.phys || b.size - a.size);
    const kept: ElfSegment[] = [];
    for (const s of sorted) {
      const prev = kept[kept.length - 1];
      if (prev && s.phys < prev.phys + prev.size) {
        if (s.phys + s.size > prev.phys + prev.size)
          throw new InputError(
            `${s.source} (p_paddr ${hex(s.phys)}, p_memsz ${hex(s.size)}) partly overlaps ${prev.source} ` +
              `(p_paddr ${hex(prev.phys)}, p_memsz ${hex(prev.size)}): the core does not say which bytes are memory`,
            this.path,
          );
        if (!this.sameSample(prev, s))
          throw new InputError(
            `${s.source} (p_paddr ${hex(s.phys)}) overlaps ${prev.source} with different contents`,
            this.path,
          );
        this.duplicates.push(s);
        continue;
      }
      kept.push(s);
    }
    return kept;
  }

  /** Compare the first and last page of `inner` as both segments store them. */
  private sameSample(outer: ElfSegment, inner: ElfSegment): boolean {
    const probes = [inner.phys, Math.max(inner.phys, inner.phys + inner.size - DUMP_PAGE)];
    for (const a of probes) {
      const len = Math.min(DUMP_PAGE, inner.phys + inner.size - a);
      const x = this.segBytes(outer, a, len);
      const y = this.segBytes(inner, a, len);
      for (let i = 0; i < len; i++) if (x[i] !== y[i]) return false;
    }
    return true;
  }

  /** Bytes [a, a+len) as segment s stores them (zero past p_filesz). */
  private segBytes(s: ElfSegment, a: number, len: number, out = new Uint8Array(len), at = 0): Uint8Array {
    const storedEnd = s.phys + s.storedSize;
    const fileLen = Math.max(0, Math.min(a + len, storedEnd) - a);
    if (fileLen > 0) this.file.read(s.fileOffset + (a - s.phys), fileLen, out, at);
    return out;
  }

  segments(): DumpSegment[] {
    return this.index.segs.map(({ phys, size, storedSize, source }) => ({ phys, size, storedSize, source }));
  }

  override notes(): DumpNote[] {
    return this.noteList;
  }

  isBacked(addr: number, len: number): boolean {
    if (len <= 4) {
      const s = this.index.find(addr);
      if (s && addr + len <= s.phys + s.size) return true;
    }
    return this.index.covers(addr, len);
  }

  whyNotBacked(addr: number, len: number): string {
    const hole = this.index.firstHole(addr, len);
    const at = hole < 0 ? addr : hole;
    return `${hex(at)} is outside every PT_LOAD of ${this.path} (it holds ${describeRuns(this.index.segs)})`;
  }

  protected loadPage(pfn: number): Uint8Array {
    const pa = pfn * DUMP_PAGE;
    const page = new Uint8Array(DUMP_PAGE);
    for (const s of this.index.overlapping(pa, DUMP_PAGE)) {
      const a0 = Math.max(s.phys, pa);
      const a1 = Math.min(s.phys + s.size, pa + DUMP_PAGE);
      this.segBytes(s, a0, a1 - a0, page, a0 - pa);
    }
    return page;
  }

  close(): void {
    this.file.close();
    this.cache.clear();
  }
}

function u64(dv: DataView, off: number): number {
  return dv.getUint32(off + 4, true) * TWO32 + dv.getUint32(off, true);
}

/** Whether a u64 read with u64() was exact (below 2^53). */
function checkU64(dv: DataView, off: number, field: string, where: string, path: string): number {
  if (dv.getUint32(off + 4, true) >= 0x100000)
    throw new InputError(`${where}: ${field} ${hex64Of(dv, off)} is 2^52 or more`, path);
  return u64(dv, off);
}

function hex64Of(dv: DataView, off: number): string {
  return '0x' + dv.getUint32(off + 4, true).toString(16) + dv.getUint32(off, true).toString(16).padStart(8, '0');
}

interface ParsedElf {
  header: ElfHeaderInfo;
  loads: ElfSegment[];
  notes: DumpNote[];
}

export function isElf(head: Uint8Array): boolean {
  return head.length >= 4 && ELF_MAGIC.every((b, i) => head[i] === b);
}

function parseElf(file: DumpFile): ParsedElf {
  const path = file.path;
  const head = file.readUpTo(0, 64);
  if (!isElf(head)) {
    const got = Array.from(head.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new InputError(`not an ELF file: e_ident magic is ${got || '(empty file)'}, expected 7f 45 4c 46`, path);
  }
  if (head.length < 6) throw new InputError(`truncated ELF header: file is ${file.size} bytes`, path);
  const cls = head[4];
  if (cls !== 1 && cls !== 2)
    throw new InputError(`e_ident[EI_CLASS] is ${cls}: neither ELFCLASS32 (1) nor ELFCLASS64 (2)`, path);
  const is64 = cls === 2;
  const ehsize = is64 ? 64 : 52;
  if (head[5] !== 1)
    throw new InputError(
      `e_ident[EI_DATA] is ${head[5]}: only little-endian cores (ELFDATA2LSB = 1) are supported`,
      path,
    );
  if (file.size < ehsize)
    throw new InputError(
      `truncated ELF header: file is ${file.size} bytes, an ELF${is64 ? 64 : 32} header needs ${ehsize}`,
      path,
    );
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const eType = dv.getUint16(16, true);
  if (eType !== ET_CORE)
    throw new InputError(`e_type is ${eType}, expected ET_CORE (4): this ELF file is not a core dump`, path);
  const machine = dv.getUint16(18, true);
  const phoff = is64 ? checkU64(dv, 0x20, 'e_phoff', 'ELF header', path) : dv.getUint32(0x1c, true);
  const shoff = is64 ? checkU64(dv, 0x28, 'e_shoff', 'ELF header', path) : dv.getUint32(0x20, true);
  const phentsize = dv.getUint16(is64 ? 0x36 : 0x2a, true);
  let phnum = dv.getUint16(is64 ? 0x38 : 0x2c, true);
  const shentsize = dv.getUint16(is64 ? 0x3a : 0x2e, true);
  const wantPhent = is64 ? 56 : 32;
  if (phnum === PN_XNUM) phnum = xnum(file, is64, shoff, shentsize);
  if (phnum === 0 || phoff === 0) throw new InputError('no program headers (e_phnum 0): nothing to read', path);
  if (phentsize !== wantPhent)
    throw new InputError(`e_phentsize is ${phentsize}, expected ${wantPhent} for ELF${is64 ? 64 : 32}`, path);
  if (phnum > MAX_PHNUM)
    throw new InputError(`e_phnum ${phnum} is absurd (more than ${MAX_PHNUM} program headers)`, path);
  const phEnd = phoff + phnum * phentsize;
  if (phEnd > file.size)
    throw new InputError(
      `program header table (e_phoff ${hex(phoff)}, e_phnum ${phnum} × ${phentsize} bytes) ends at ${hex(phEnd)}, ` +
        `beyond the end of the file (${hex(file.size)} bytes): truncated or corrupt`,
      path,
    );
  const ph = file.read(phoff, phnum * phentsize);
  const pdv = new DataView(ph.buffer, ph.byteOffset, ph.byteLength);
  const loads: ElfSegment[] = [];
  const notes: DumpNote[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * phentsize;
    const type = pdv.getUint32(o, true);
    if (type !== PT_LOAD && type !== PT_NOTE) continue;
    const name = type === PT_LOAD ? `PT_LOAD ${i}` : `PT_NOTE ${i}`;
    const where = `program header ${i} (${type === PT_LOAD ? 'PT_LOAD' : 'PT_NOTE'})`;
    const offset = is64 ? checkU64(pdv, o + 8, 'p_offset', where, path) : pdv.getUint32(o + 4, true);
    const filesz = is64 ? checkU64(pdv, o + 32, 'p_filesz', where, path) : pdv.getUint32(o + 16, true);
    if (offset + filesz > file.size)
      throw new InputError(
        `${where}: p_offset ${hex(offset)} + p_filesz ${hex(filesz)} = ${hex(offset + filesz)} is beyond the end ` +
          `of the file (${hex(file.size)} bytes): truncated core or corrupt header`,
        path,
      );
    if (type === PT_NOTE) {
      if (filesz > MAX_NOTE_BYTES) throw new InputError(`${where}: p_filesz ${hex(filesz)} is absurd for notes`, path);
      notes.push(...parseNotes(file.read(offset, filesz), where, path));
      continue;
    }
    const paddr = is64 ? checkU64(pdv, o + 24, 'p_paddr', where, path) : pdv.getUint32(o + 12, true);
    const memsz = is64 ? checkU64(pdv, o + 40, 'p_memsz', where, path) : pdv.getUint32(o + 20, true);
    if (filesz > memsz)
      throw new InputError(`${where}: p_filesz ${hex(filesz)} is larger than p_memsz ${hex(memsz)}`, path);
    if (paddr + memsz > 2 ** 52)
      throw new InputError(`${where}: p_paddr ${hex(paddr)} + p_memsz ${hex(memsz)} goes beyond 2^52`, path);
    if (memsz === 0) continue;
    loads.push({ phys: paddr, size: memsz, storedSize: filesz, source: name, fileOffset: offset });
  }
  return { header: { elfClass: is64 ? 64 : 32, machine, phnum }, loads, notes };
}

/** PN_XNUM: the program header count lives in section header 0's sh_info. */
function xnum(file: DumpFile, is64: boolean, shoff: number, shentsize: number): number {
  const want = is64 ? 64 : 40;
  if (shoff === 0 || shentsize < want || shoff + want > file.size)
    throw new InputError(
      `e_phnum is PN_XNUM (0xffff) but section header 0 (e_shoff ${hex(shoff)}) is missing or truncated`,
      file.path,
    );
  const sh = file.read(shoff, want);
  return new DataView(sh.buffer, sh.byteOffset).getUint32(is64 ? 0x2c : 0x1c, true);
}

/** Elf_Nhdr records: namesz, descsz, type, then name and desc each padded to 4 bytes. */
export function parseNotes(buf: Uint8Array, where: string, path: string): DumpNote[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: DumpNote[] = [];
  let o = 0;
  let n = 0;
  while (o + 12 <= buf.length) {
    const namesz = dv.getUint32(o, true);
    const descsz = dv.getUint32(o + 4, true);
    const type = dv.getUint32(o + 8, true);
    // The kernel pads the note segment with zeroed headers (fs/proc/vmcore.c merges per-CPU notes).
    if (namesz === 0 && descsz === 0 && type === 0) break;
    const nameEnd = o + 12 + align4(namesz);
    const descEnd = nameEnd + align4(descsz);
    if (nameEnd > buf.length || descEnd > buf.length + 3)
      throw new InputError(
        `${where}: note ${n} (namesz ${namesz}, descsz ${descsz}) runs past the end of the note segment (${buf.length} bytes)`,
        path,
      );
    const nameBytes = buf.subarray(o + 12, o + 12 + namesz);
    const nul = nameBytes.indexOf(0);
    const name = new TextDecoder('latin1').decode(nul >= 0 ? nameBytes.subarray(0, nul) : nameBytes);
    out.push({ name, type, desc: buf.slice(nameEnd, nameEnd + descsz) });
    o = descEnd;
    n++;
  }
  return out;
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}
