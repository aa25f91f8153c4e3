/**
 * Writes makedumpfile's kdump-compressed layout (see kdump.ts for the layout), for round-trip tests and
 * for exporting a simulated machine's memory in the form distributions' kdump produces. Pages are
 * stored uncompressed, zlib- or snappy-compressed (or by a caller-supplied compressor), and, like
 * makedumpfile, stored as is when compressing would not make a page smaller.
 */
import { deflateSync } from 'node:zlib';
import snappy from 'snappyjs';
import { TWO32 } from '../addr.js';
import {
  DDH64,
  DUMP_DH_COMPRESSED_SNAPPY,
  DUMP_DH_COMPRESSED_ZLIB,
  KDUMP_SIGNATURE,
  DDH32_SHIFT,
  KSH32,
  KSH64,
  PAGE_DESC_SIZE,
} from './kdump.js';

export interface KdumpPage {
  pfn: number;
  data: Uint8Array;
}

export interface KdumpWriteOptions {
  blockSize?: number;
  /** Dumped frames (each data.length === blockSize), any order. */
  pages: KdumpPage[];
  /** Page frames that were RAM (1st bitmap); default: the dumped ones. */
  ramPfns?: Iterable<number>;
  maxMapnr?: number;
  compression?: 'none' | 'zlib' | 'snappy' | { flag: number; compress: (page: Uint8Array) => Uint8Array };
  release?: string;
  machine?: string;
  vmcoreinfo?: string;
  dumpLevel?: number;
  headerVersion?: number;
  /** Extra disk_dump_header status bits. */
  status?: number;
  /** Header layout: a 64-bit dumper's (default) or QEMU's packed 32-bit one. */
  layout?: 64 | 32;
}

export function buildKdump(opts: KdumpWriteOptions): Uint8Array {
  const bs = opts.blockSize ?? 4096;
  const pages = [...opts.pages].sort((a, b) => a.pfn - b.pfn);
  for (const p of pages) if (p.data.length !== bs) throw new RangeError(`page ${p.pfn} is not ${bs} bytes`);
  const maxPfn = pages.reduce((m, p) => Math.max(m, p.pfn + 1), 0);
  const maxMapnr = opts.maxMapnr ?? Math.max(maxPfn, 1);
  const enc = new TextEncoder();
  const vmci = enc.encode(opts.vmcoreinfo ?? `OSRELEASE=${opts.release ?? '6.12.117'}\nPAGESIZE=${bs}\n`);

  const is32 = opts.layout === 32;
  const K = is32 ? KSH32 : KSH64;
  const shift = is32 ? DDH32_SHIFT : 0;
  const subHdrBytes = K.size + vmci.length;
  const subHdrSize = Math.ceil(subHdrBytes / bs);
  const bitmapHalf = Math.max(1, Math.ceil(Math.ceil(maxMapnr / 8) / bs)) * bs;
  const bitmapBlocks = (2 * bitmapHalf) / bs;
  const bitmapOff = (1 + subHdrSize) * bs;
  const descOff = bitmapOff + 2 * bitmapHalf;
  let dataOff = descOff + pages.length * PAGE_DESC_SIZE;

  let flag = 0;
  let compress: ((p: Uint8Array) => Uint8Array) | null = null;
  const c = opts.compression ?? 'zlib';
  if (c === 'zlib') {
    flag = DUMP_DH_COMPRESSED_ZLIB;
    compress = (p) => new Uint8Array(deflateSync(p));
  } else if (c === 'snappy') {
    flag = DUMP_DH_COMPRESSED_SNAPPY;
    compress = (p) => snappy.compress(p);
  } else if (typeof c === 'object') {
    flag = c.flag;
    compress = c.compress;
  }
  const stored = pages.map((p) => {
    if (compress) {
      const z = compress(p.data);
      if (z.length < bs) return { data: z, flags: flag };
    }
    return { data: p.data, flags: 0 };
  });
  const total = dataOff + stored.reduce((s, x) => s + x.data.length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);

  out.set(enc.encode(KDUMP_SIGNATURE), DDH64.signature);
  dv.setInt32(DDH64.headerVersion, opts.headerVersion ?? 6, true);
  const uts = ['Linux', 'iommu-lab', opts.release ?? '6.12.117', '#1 SMP', opts.machine ?? 'aarch64', '(none)'];
  uts.forEach((s, i) => out.set(enc.encode(s).subarray(0, 64), DDH64.utsname + i * 65));
  dv.setUint32(DDH64.status + shift, (flag | (opts.status ?? 0)) >>> 0, true);
  dv.setInt32(DDH64.blockSize + shift, bs, true);
  dv.setInt32(DDH64.subHdrSize + shift, subHdrSize, true);
  dv.setUint32(DDH64.bitmapBlocks + shift, bitmapBlocks, true);
  dv.setUint32(DDH64.maxMapnr + shift, maxMapnr >>> 0, true);
  dv.setUint32(DDH64.totalRamBlocks + shift, pages.length, true);
  dv.setInt32(DDH64.nrCpus + shift, 1, true);

  const sh = bs;
  const word = (off: number, v: number) => (is32 ? dv.setUint32(sh + off, v >>> 0, true) : set64(dv, sh + off, v));
  word(K.physBase, 0);
  dv.setInt32(sh + K.dumpLevel, opts.dumpLevel ?? 0, true);
  word(K.startPfn, 0);
  word(K.endPfn, maxMapnr % TWO32);
  set64(dv, sh + K.offsetVmcoreinfo, sh + K.size);
  word(K.sizeVmcoreinfo, vmci.length);
  set64(dv, sh + K.startPfn64, 0);
  set64(dv, sh + K.endPfn64, maxMapnr);
  set64(dv, sh + K.maxMapnr64, maxMapnr);
  out.set(vmci, sh + K.size);

  const ram = opts.ramPfns ? [...opts.ramPfns] : pages.map((p) => p.pfn);
  const setBit = (base: number, pfn: number) => (out[base + Math.floor(pfn / 8)] |= 1 << pfn % 8);
  for (const pfn of ram) setBit(bitmapOff, pfn);
  for (const p of pages) setBit(bitmapOff + bitmapHalf, p.pfn);

  stored.forEach((s, i) => {
    const d = descOff + i * PAGE_DESC_SIZE;
    set64(dv, d, dataOff);
    dv.setUint32(d + 8, s.data.length, true);
    dv.setUint32(d + 12, s.flags, true);
    out.set(s.data, dataOff);
    dataOff += s.data.length;
  });
  return out;
}

function set64(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v % TWO32, true);
  dv.setUint32(off + 4, Math.floor(v / TWO32), true);
}
