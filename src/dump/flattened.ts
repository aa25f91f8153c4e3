/**
 * makedumpfile's *flattened* format, read in place: the stream that `makedumpfile -F` writes to a
 * pipe, and what QEMU before 8.2 writes for `dump-guest-memory -z|-l|-s` (and so libvirt's
 * `virsh dump --memory-only --format kdump-*`). It is a kdump-compressed file cut into records, each
 * saying where its bytes go in the file it stands for; `makedumpfile -R` rebuilds that file. Here the
 * records are indexed once (their headers only: the data is skipped, so a multi-GiB file is not read
 * through) and reads of the rebuilt file are served from the records, which the kdump reader then
 * parses as usual.
 *
 * Layout (makedumpfile's makedumpfile.h: struct makedumpfile_header and makedumpfile_data_header;
 * QEMU's dump/dump.c writes the same): a 4096-byte header whose first 16 bytes are the signature
 * "makedumpfile" NUL-padded, then int64 type (1) and int64 version (1); then records of int64 offset,
 * int64 size and `size` bytes to be written at `offset`, until a record whose offset and size are
 * both -1. Every integer is big-endian whatever the machine. A later record wins over an earlier one
 * where they overlap (the rebuild writes them in order); bytes no record writes read as zero (the
 * rebuilt file is sparse there).
 */
import { InputError, hex } from '../addr.js';
import { DumpFile, type RandomAccess } from './paged.js';

export const FLAT_HEADER_SIZE = 4096;
const RECORD_HEADER = 16;
/** Headers are read through a window of this many bytes, so small records cost no extra reads. */
const WINDOW = 1 << 20;

/** One piece of the rebuilt file: [lo, hi) comes from the flattened file at `from`. */
interface Piece {
  lo: number;
  hi: number;
  from: number;
}

function int64be(dv: DataView, at: number): number {
  const hi = dv.getInt32(at, false);
  const lo = dv.getUint32(at + 4, false);
  if (hi === -1 && lo === 0xffffffff) return -1;
  // Anything else negative, or beyond 2^53, is not an offset or a size any file has.
  if (hi < 0 || hi >= 0x200000) return Number.NaN;
  return hi * 2 ** 32 + lo;
}

export class FlattenedFile implements RandomAccess {
  readonly path: string;
  /** Size of the rebuilt file: the end of the last byte any record writes. */
  readonly size: number;
  private readonly raw: DumpFile;
  private readonly pieces: Piece[];

  constructor(raw: DumpFile) {
    this.raw = raw;
    this.path = raw.path;
    const head = raw.readUpTo(0, 32);
    const hv = new DataView(head.buffer, head.byteOffset, head.byteLength);
    if (head.length < 32 || raw.size < FLAT_HEADER_SIZE)
      throw new InputError(`flattened format: truncated header (file is ${raw.size} bytes; the header takes ${FLAT_HEADER_SIZE})`, raw.path);
    const type = int64be(hv, 16);
    const version = int64be(hv, 24);
    if (type !== 1 || version !== 1)
      throw new InputError(`flattened format: header type ${type} version ${version}, expected type 1 version 1`, raw.path);
    const recs: Piece[] = [];
    let pos = FLAT_HEADER_SIZE;
    let winAt = -1;
    let win: Uint8Array = new Uint8Array(0);
    let ended = false;
    while (pos + RECORD_HEADER <= raw.size) {
      if (winAt < 0 || pos < winAt || pos + RECORD_HEADER > winAt + win.length) {
        winAt = pos;
        win = raw.readUpTo(pos, WINDOW);
      }
      const dv = new DataView(win.buffer, win.byteOffset + (pos - winAt), RECORD_HEADER);
      const offset = int64be(dv, 0);
      const size = int64be(dv, 8);
      if (offset === -1 && size === -1) {
        ended = true;
        break;
      }
      const where = `flattened format: record ${recs.length + 1} at file offset ${hex(pos)}`;
      if (!(offset >= 0) || !(size >= 0))
        throw new InputError(`${where}: offset/size fields are not a file position (is the file corrupted?)`, raw.path);
      if (pos + RECORD_HEADER + size > raw.size)
        throw new InputError(`${where}: its ${hex(size)} bytes run past the end of the file (${hex(raw.size)} bytes): truncated`, raw.path);
      if (offset + size > 2 ** 53) throw new InputError(`${where}: offset ${hex(offset)} + size goes beyond 2^53`, raw.path);
      if (size > 0) recs.push({ lo: offset, hi: offset + size, from: pos + RECORD_HEADER });
      pos += RECORD_HEADER + size;
    }
    if (!ended && pos !== raw.size)
      throw new InputError(`flattened format: a record header at file offset ${hex(pos)} is cut off by the end of the file`, raw.path);
    // A stream cut exactly between records (no end marker) is read as far as it goes: what it lacks
    // then shows as missing pages, as in a rebuilt file of the same records.
    this.pieces = resolve(recs);
    this.size = this.pieces.length ? this.pieces[this.pieces.length - 1].hi : 0;
  }

  read(pos: number, len: number, into?: Uint8Array, at = 0): Uint8Array {
    if (pos + len > this.size)
      throw new InputError(`unexpected end of file reading ${len} bytes at offset ${hex(pos)} (flattened records end at ${hex(this.size)})`, this.path);
    const buf = into ?? new Uint8Array(len);
    buf.fill(0, at, at + len);
    // The first piece that ends after pos.
    let a = 0;
    let b = this.pieces.length;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (this.pieces[m].hi <= pos) a = m + 1;
      else b = m;
    }
    for (let i = a; i < this.pieces.length && this.pieces[i].lo < pos + len; i++) {
      const p = this.pieces[i];
      const lo = Math.max(p.lo, pos);
      const hi = Math.min(p.hi, pos + len);
      this.raw.read(p.from + (lo - p.lo), hi - lo, buf, at + (lo - pos));
    }
    return buf;
  }

  readUpTo(pos: number, len: number): Uint8Array {
    const n = Math.max(0, Math.min(len, this.size - pos));
    return n === 0 ? new Uint8Array(0) : this.read(pos, n);
  }

  close(): void {
    this.raw.close();
  }
}

/**
 * Records (in file order) to disjoint pieces sorted by offset, a later record winning where records
 * overlap. The usual stream has no overlaps and is handled by the sort alone.
 */
function resolve(recs: Piece[]): Piece[] {
  const order = recs.map((_, i) => i).sort((x, y) => recs[x].lo - recs[y].lo || x - y);
  let overlaps = false;
  for (let k = 1; k < order.length; k++) if (recs[order[k]].lo < recs[order[k - 1]].hi) overlaps = true;
  if (!overlaps) return order.map((i) => recs[i]);
  // Paint the records in file order over a list of disjoint pieces: each new record cuts away what
  // it covers from the pieces already there. Overlaps are rare (a header rewritten at the end), so
  // the quadratic worst case does not arise in practice; the list stays sorted.
  let out: Piece[] = [];
  for (const r of recs) {
    const next: Piece[] = [];
    let placed = false;
    for (const p of out) {
      if (p.hi <= r.lo || p.lo >= r.hi) {
        if (!placed && p.lo >= r.hi) {
          next.push(r);
          placed = true;
        }
        next.push(p);
        continue;
      }
      if (p.lo < r.lo) next.push({ lo: p.lo, hi: r.lo, from: p.from });
      if (!placed) {
        next.push(r);
        placed = true;
      }
      if (p.hi > r.hi) next.push({ lo: r.hi, hi: p.hi, from: p.from + (r.hi - p.lo) });
    }
    if (!placed) next.push(r);
    out = next;
  }
  return out;
}
