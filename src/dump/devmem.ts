/**
 * A transcript of memory reads typed on a board, as a (very sparse) dump. The Rockchip developer guide's
 * manual procedure (seeds/001 step 7) is exactly this: read DTE_ADDR, read one DTE, read one PTE. Paste
 * what the console printed; the walker uses the words it finds, and every word it needs but the
 * transcript lacks becomes "missing: read 0x… (4 bytes)", which `walk --suggest` turns into the next
 * commands to type.
 *
 * Accepted line forms (anything else — prompts, blank lines, kernel messages — is ignored):
 *
 *   busybox devmem: the command, then its answer on a later line (busybox prints `0x%0*llX`):
 *       # devmem 0xfde4b000 32
 *       0x000010F1
 *     widths 8, 16, 32, 64; no width means 32. The answer may also follow on the same line after
 *     the command (`devmem 0xfde4b000 32 = 0x000010F1` or `devmem 0xfde4b000 32 -> 0x000010F1`).
 *   Rockchip `io` tool (`io -4 ADDR`, `io -4 -l LEN ADDR`, also -1/-2 and 64-bit 16-digit words):
 *       fde4b000:  000010f1
 *       fde4b000:  000010f1 00000000 00000000 00000003
 *     each group is one value of (digits / 2) bytes at consecutive addresses, stored little-endian.
 *   hexdump -C / busybox hexdump -C of /dev/mem (offsets are physical addresses with `-s`):
 *       f000001000  a7 0b 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|
 *       *
 *     a `*` line repeats the previous 16 bytes up to the next offset line.
 *
 * Not accepted: xxd (its 4-digit groups are byte pairs, not values) and `hexdump` without -C.
 */
import { readFileSync } from 'node:fs';
import { InputError, hex } from '../addr.js';
import { ACCESS_FAULT } from '../mem/phys-mem.js';
import type { Dump, DumpKind, DumpNote, DumpSegment, MissingRead } from './types.js';

/** Text with no NUL and mostly printable characters. */
export function looksLikeText(head: Uint8Array): boolean {
  if (head.length === 0) return false;
  let printable = 0;
  for (const b of head) {
    if (b === 0) return false;
    if (b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127)) printable++;
  }
  return printable >= head.length * 0.95;
}

/** Transcripts are typed by hand; anything this large is not one. */
const MAX_TRANSCRIPT = 64 << 20;

export interface TranscriptConflict {
  addr: number;
  line: number;
  old: number;
  value: number;
}

export class DevmemDump implements Dump {
  readonly kind: DumpKind = 'devmem';
  /** byte address -> byte value. */
  private readonly bytes = new Map<number, number>();
  /** Reads of the same byte that disagreed (a register that changed, memory rewritten): later wins. */
  readonly conflicts: TranscriptConflict[] = [];
  /** Lines that held a value, counted per form, for messages. */
  readonly forms = { devmem: 0, io: 0, hexdump: 0 };
  private readonly missing: MissingRead[] = [];
  private readonly missingSeen = new Set<string>();
  private segs: DumpSegment[] | null = null;

  constructor(
    readonly path: string,
    text?: string,
  ) {
    const src = text ?? readTranscript(path);
    parseTranscript(src, path, this);
    if (this.bytes.size === 0)
      throw new InputError(
        'no reads found: expected lines like "devmem 0xfde4b000 32" + "0x000010F1", "fde4b000:  000010f1" (io -4) ' +
          'or hexdump -C lines',
        path,
      );
  }

  /** Store a value of `width` bytes at addr (little-endian). Used by the parser. */
  store(addr: number, value: number, width: number, line: number): void {
    let v = value;
    for (let i = 0; i < width; i++) {
      const b = v % 256;
      v = Math.floor(v / 256);
      const a = addr + i;
      const old = this.bytes.get(a);
      if (old !== undefined && old !== b) this.conflicts.push({ addr: a, line, old, value: b });
      this.bytes.set(a, b);
    }
    this.segs = null;
  }

  private has(addr: number, len: number): boolean {
    for (let i = 0; i < len; i++) if (!this.bytes.has(addr + i)) return false;
    return true;
  }

  /**
   * Whether the transcript holds [addr, addr+len). A walker asks this before reading a whole table,
   * so a "no" is remembered as a missing read too: that is what the user must read next.
   */
  isBacked(addr: number, len: number): boolean {
    if (this.has(addr, len)) return true;
    this.noteMissing(addr, len);
    return false;
  }

  private noteMissing(addr: number, len: number): void {
    const key = `${addr}:${len}`;
    if (this.missingSeen.has(key)) return;
    this.missingSeen.add(key);
    this.missing.push({ addr, len });
  }

  read32(addr: number): number {
    const b = this.readBytes(addr, 4);
    if (!b) return ACCESS_FAULT;
    return (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0;
  }

  readBytes(addr: number, len: number): Uint8Array | null {
    if (!this.isBacked(addr, len)) return null;
    const out = new Uint8Array(len);
    for (let i = 0; i < len; i++) out[i] = this.bytes.get(addr + i) as number;
    return out;
  }

  whyNotBacked(addr: number, len: number): string {
    return `missing: read ${hex(addr)} (${len} bytes) is not in the transcript ${this.path}`;
  }

  /**
   * What the walk wanted and the transcript lacks, as runs of whole 32-bit words (the unit devmem and
   * `io -4` read), merged and in address order.
   */
  missingReads(): MissingRead[] {
    const words = new Set<number>();
    for (const m of this.missing)
      for (let a = m.addr - (m.addr % 4); a < m.addr + m.len; a += 4) if (!this.has(a, 4)) words.add(a);
    const sorted = [...words].sort((a, b) => a - b);
    const out: MissingRead[] = [];
    for (const a of sorted) {
      const last = out[out.length - 1];
      if (last && last.addr + last.len === a) last.len += 4;
      else out.push({ addr: a, len: 4 });
    }
    return out;
  }

  segments(): DumpSegment[] {
    if (this.segs) return this.segs;
    const addrs = [...this.bytes.keys()].sort((a, b) => a - b);
    const out: DumpSegment[] = [];
    for (const a of addrs) {
      const last = out[out.length - 1];
      if (last && last.phys + last.size === a) {
        last.size++;
        last.storedSize++;
      } else out.push({ phys: a, size: 1, storedSize: 1, source: 'transcript' });
    }
    this.segs = out;
    return out;
  }

  notes(): DumpNote[] {
    return [];
  }

  close(): void {}
}

function readTranscript(path: string): string {
  const buf = readFileSync(path);
  if (buf.length > MAX_TRANSCRIPT)
    throw new InputError(`is ${buf.length} bytes: too large for a transcript of typed reads`, path);
  return buf.toString('latin1');
}

const HEXNUM = '(?:0[xX])?[0-9a-fA-F]+';
const RE_DEVMEM = new RegExp(`\\bdevmem\\s+(${HEXNUM})(?:\\s+(8|16|32|64|b|h|w|l))?(?:\\s*(?:=|->|:)?\\s*(0[xX][0-9a-fA-F]+))?\\s*$`);
const RE_VALUE = /^\s*(0[xX][0-9a-fA-F]+)\s*$/;
const RE_IO = /^\s*([0-9a-fA-F]{1,16}):\s+((?:[0-9a-fA-F]{2}|[0-9a-fA-F]{4}|[0-9a-fA-F]{8}|[0-9a-fA-F]{16})(?:\s+[0-9a-fA-F]+)*)\s*$/;
const RE_HEXDUMP_C = /^\s*([0-9a-fA-F]{7,16})\s\s?((?:[0-9a-fA-F]{2}\s{1,2}){1,16})\s*(?:\|.*\|)?\s*$/;
const RE_STAR = /^\s*\*\s*$/;

/** busybox devmem reads its address with strtoull(base 0): 0x hex or decimal. */
function parseNum(text: string, path: string, line: number, what: string): number {
  const isHex = /^0[xX]/.test(text);
  const t = isHex ? text.slice(2) : text;
  if (t.length === 0 || t.length > 16 || !(isHex ? /^[0-9a-fA-F]+$/ : /^[0-9]+$/).test(t))
    throw new InputError(`line ${line}: ${what} '${text}' is not a number`, path);
  return isHex ? parseInt(t, 16) : parseInt(t, 10);
}

function widthOf(w: string | undefined): number {
  switch (w) {
    case '8':
    case 'b':
      return 1;
    case '16':
    case 'h':
      return 2;
    case '64':
    case 'l':
      return 8;
    default:
      return 4;
  }
}

/** Store a hex string of `digits` digits as a little-endian value of digits/2 bytes. */
function storeHexValue(d: DevmemDump, addr: number, hexDigits: string, line: number): void {
  const width = hexDigits.length / 2;
  if (width === 8) {
    d.store(addr, parseInt(hexDigits.slice(8), 16), 4, line);
    d.store(addr + 4, parseInt(hexDigits.slice(0, 8), 16), 4, line);
  } else d.store(addr, parseInt(hexDigits, 16), width, line);
}

function parseTranscript(text: string, path: string, d: DevmemDump): void {
  const lines = text.split(/\r?\n/);
  let pending: { addr: number; width: number; line: number } | null = null;
  let lastHexdump: { addr: number; bytes: number[] } | null = null;
  let starPending = false;
  for (let i = 0; i < lines.length; i++) {
    const ln = i + 1;
    const line = lines[i];
    const dm = RE_DEVMEM.exec(line);
    if (dm) {
      const addr = parseNum(dm[1], path, ln, 'devmem address');
      if (addr >= 2 ** 52) throw new InputError(`line ${ln}: devmem address ${dm[1]} is 2^52 or more`, path);
      const width = widthOf(dm[2]);
      if (dm[3]) {
        storeValue(d, addr, dm[3], width, path, ln);
        pending = null;
        d.forms.devmem++;
      } else pending = { addr, width, line: ln };
      lastHexdump = null;
      continue;
    }
    const vm = RE_VALUE.exec(line);
    if (vm && pending) {
      storeValue(d, pending.addr, vm[1], pending.width, path, ln);
      d.forms.devmem++;
      pending = null;
      continue;
    }
    if (RE_STAR.test(line)) {
      starPending = !!lastHexdump;
      continue;
    }
    const hd = RE_HEXDUMP_C.exec(line);
    if (hd && !line.includes(':')) {
      const addr = parseInt(hd[1], 16);
      const bytes = hd[2].trim().split(/\s+/).map((b) => parseInt(b, 16));
      if (starPending && lastHexdump && lastHexdump.bytes.length === 16) {
        // `*`: the previous line's 16 bytes repeat until this offset.
        for (let a = lastHexdump.addr + 16; a + 16 <= addr; a += 16)
          lastHexdump.bytes.forEach((b, k) => d.store(a + k, b, 1, ln));
      }
      starPending = false;
      bytes.forEach((b, k) => d.store(addr + k, b, 1, ln));
      lastHexdump = { addr, bytes };
      d.forms.hexdump++;
      continue;
    }
    const io = RE_IO.exec(line);
    if (io) {
      const addr = parseInt(io[1], 16);
      const groups = io[2].trim().split(/\s+/);
      const digits = groups[0].length;
      if (groups.some((g) => g.length !== digits))
        throw new InputError(
          `line ${ln}: '${line.trim()}' mixes value widths (${groups.map((g) => g.length).join('/')} digits); ` +
            'io prints one width per line',
          path,
        );
      groups.forEach((g, k) => storeHexValue(d, addr + (k * digits) / 2, g, ln));
      d.forms.io++;
      lastHexdump = null;
      continue;
    }
  }
}

function storeValue(d: DevmemDump, addr: number, text: string, width: number, path: string, ln: number): void {
  const digits = text.replace(/^0[xX]/, '');
  if (digits.length > width * 2 && !/^0+/.test(digits.slice(0, digits.length - width * 2)))
    throw new InputError(`line ${ln}: value ${text} does not fit in ${width * 8} bits`, path);
  const padded = digits.padStart(width * 2, '0').slice(-width * 2);
  storeHexValue(d, addr, padded, ln);
}
