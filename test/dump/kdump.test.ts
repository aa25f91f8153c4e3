import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { openDump, vmcoreInfo } from '../../src/dump/index.js';
import { DDH64, DUMP_DH_COMPRESSED_LZO, DUMP_DH_COMPRESSED_ZSTD, KdumpDump } from '../../src/dump/kdump.js';
import { buildKdump } from '../../src/dump/kdump-writer.js';
import { ACCESS_FAULT } from '../../src/mem/phys-mem.js';
import { expectInputError } from '../support/input-error.js';

const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-kdump-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const tmp = (b: Uint8Array | string) => {
  const p = join(dir, `k${n++}`);
  writeFileSync(p, b);
  return p;
};

/** The oracle pattern: u64 at PA x = 0xda7a000000000000 | x (x < 2^32 here). */
function patternPage(pa: number, size = 4096): Uint8Array {
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  for (let o = 0; o < size; o += 8) {
    dv.setUint32(o, (pa + o) >>> 0, true);
    dv.setUint32(o + 4, 0xda7a0000 + Math.floor((pa + o) / 2 ** 32), true);
  }
  return b;
}

describe.each(['none', 'zlib', 'snappy'] as const)('kdump-compressed, %s pages', (compression) => {
  // pfn 0x40000 and 0x40002 dumped, 0x40001 RAM but excluded, 0x40003.. not RAM; a high frame above 4 GiB.
  const pages = [
    { pfn: 0x40000, data: patternPage(0x40000000) },
    { pfn: 0x40002, data: patternPage(0x40002000) },
    { pfn: 0xf00000, data: new Uint8Array(4096).fill(0) },
  ];
  pages[2].data[8] = 0xf1;
  const path = tmp(buildKdump({ pages, ramPfns: [0x40000, 0x40001, 0x40002, 0xf00000], compression, dumpLevel: 31 }));

  it('reads dumped frames at pfn × block_size', () => {
    const d = openDump(path) as KdumpDump;
    expect(d.kind).toBe('kdump');
    expect(d.header.blockSize).toBe(4096);
    expect(d.header.release).toBe('6.12.117');
    expect(d.read32(0x40000010)).toBe(0x40000010);
    expect(d.read32(0x40000014)).toBe(0xda7a0000);
    expect(d.read32(0x40002ff8)).toBe(0x40002ff8);
    expect(d.read32(0xf00000008)).toBe(0xf1);
    expect(d.segments().map((s) => [s.phys, s.size])).toEqual([
      [0x40000000, 0x1000],
      [0x40002000, 0x1000],
      [0xf00000000, 0x1000],
    ]);
    expect(vmcoreInfo(d)?.get('PAGESIZE')).toBe('4096');
    d.close();
  });

  it('says why a frame is missing: excluded, not RAM, beyond max_mapnr', () => {
    const d = openDump(path);
    expect(d.read32(0x40001000)).toBe(ACCESS_FAULT);
    expect(d.whyNotBacked(0x40001000, 4)).toMatch(/0x40001000 is RAM that makedumpfile excluded .*dump level 31/);
    expect(d.whyNotBacked(0x40003000, 4)).toMatch(/was not RAM in the dumped machine/);
    expect(d.whyNotBacked(0x1000000000, 4)).toMatch(/beyond the last page frame/);
    expect(d.isBacked(0x40000ffc, 8)).toBe(false);
    d.close();
  });
});

describe('kdump-compressed, other page and compression forms', () => {
  it('zstd pages (a frame made by the zstd tool, not by us)', () => {
    const zst = readFileSync(join(import.meta.dirname, '../fixtures/dumps/pattern-page-0x40000000.zst'));
    const path = tmp(
      buildKdump({ pages: [{ pfn: 0x40000, data: patternPage(0x40000000) }], compression: { flag: DUMP_DH_COMPRESSED_ZSTD, compress: () => zst } }),
    );
    const d = openDump(path);
    for (let o = 0; o < 4096; o += 512) expect(d.read32(0x40000000 + o)).toBe(0x40000000 + o);
    expect(d.read32(0x40000ffc)).toBe(0xda7a0000);
  });

  it('64 KiB pages (arm64 with CONFIG_ARM64_64K_PAGES)', () => {
    const path = tmp(buildKdump({ blockSize: 0x10000, pages: [{ pfn: 0x4000, data: patternPage(0x40000000, 0x10000) }] }));
    const d = openDump(path);
    expect(d.read32(0x4000fff0)).toBe(0x4000fff0);
    expect(d.read32(0x40010000)).toBe(ACCESS_FAULT);
  });

  it("QEMU's packed 32-bit header layout (a 32-bit guest's dump-guest-memory -z)", () => {
    // max_mapnr 0x40000 (1 GiB) sits where a 64-bit header keeps block_size: the layout must not be
    // guessed from block_size alone.
    const path = tmp(
      buildKdump({ layout: 32, maxMapnr: 0x40000, pages: [{ pfn: 0x3ffff, data: patternPage(0x3ffff000) }], vmcoreinfo: 'OSRELEASE=6.12.117\nPAGESIZE=4096\n' }),
    );
    const d = openDump(path) as KdumpDump;
    expect(d.header.layout).toBe(32);
    expect(d.header.maxMapnr).toBe(0x40000);
    expect(d.read32(0x3ffffff8)).toBe(0x3ffffff8);
    expect(vmcoreInfo(d)?.get('OSRELEASE')).toBe('6.12.117');
  });

  it('a page stored as is among compressed ones (incompressible data)', () => {
    const rnd = new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24);
    const path = tmp(buildKdump({ pages: [{ pfn: 1, data: rnd }, { pfn: 2, data: new Uint8Array(4096) }] }));
    const d = openDump(path);
    expect(d.readBytes(0x1000, 4096)).toEqual(rnd);
    expect(d.read32(0x2ffc)).toBe(0);
  });
});

describe('malformed kdump files: one clear InputError each', () => {
  const good = buildKdump({ pages: [{ pfn: 5, data: patternPage(0x5000) }], compression: 'zlib' });
  const patch = (f: (dv: DataView, b: Uint8Array) => void, len = good.length) => {
    const b = good.slice(0, len);
    f(new DataView(b.buffer), b);
    return tmp(b);
  };
  it('truncated header', () => expectInputError(() => openDump(patch(() => {}, 200)), /truncated disk_dump_header: file is 200 bytes/));
  it('bad block_size', () =>
    expectInputError(() => openDump(patch((dv) => (dv.setInt32(DDH64.blockSize, 1000, true), dv.setInt32(416, 0, true)))), /block_size 1000 is not a page size/));
  it('truncated bitmaps', () => expectInputError(() => openDump(patch(() => {}, 4096 * 2 + 100)), /truncated kdump bitmaps/));
  it('truncated page descriptors', () => expectInputError(() => openDump(patch(() => {}, 4096 * 4 + 10)), /truncated page descriptors: 1 dumped pages/));
  it('corrupt zlib data is reported when the page is read', () => {
    const b = good.slice();
    b[b.length - 10] ^= 0xff;
    b[b.length - 20] ^= 0xff;
    const d = openDump(tmp(b));
    expectInputError(() => d.read32(0x5000), /page_desc 0 \(pfn 0x5, phys 0x5000\): zlib data is corrupt/);
  });
  it('a page flagged LZO that is not LZO data', () => {
    const path = tmp(buildKdump({ pages: [{ pfn: 5, data: patternPage(0x5000) }], compression: { flag: DUMP_DH_COMPRESSED_LZO, compress: (p) => deflateSync(p) } }));
    expectInputError(() => openDump(path).read32(0x5000), /page_desc 0 \(pfn 0x5, phys 0x5000\): lzo data is corrupt/);
  });
  it('several compression flags on one page', () => {
    const path = tmp(buildKdump({ pages: [{ pfn: 5, data: patternPage(0x5000) }], compression: { flag: 3, compress: (p) => deflateSync(p) } }));
    expectInputError(() => openDump(path).read32(0x5000), /flags 0x3 name several compressions \(zlib\+lzo\)/);
  });
});

describe('files written by the real makedumpfile 1.7.2 (fixtures/dumps/README.md)', () => {
  const fx = (f: string) => join(import.meta.dirname, '../fixtures/dumps', f);
  /** Pages 0..10 at 0x1000000 hold the oracle pattern; the input core is the reference. */
  function checkPattern(path: string): void {
    const d = openDump(path) as KdumpDump;
    const ref = openDump(fx('makedumpfile-input-x86.core'));
    expect(d.kind).toBe('kdump');
    expect(d.header).toMatchObject({ headerVersion: 6, release: '6.12.117', machine: 'x86_64', blockSize: 4096, dumpLevel: 0 });
    expect(d.segments().map((s) => [s.phys, s.size])).toEqual([[0x1000000, 0x10000]]);
    const wrong: number[] = [];
    for (let o = 0; o < 0xb000; o += 8)
      if (d.read32(0x1000000 + o) !== 0x1000000 + o || d.read32(0x1000000 + o + 4) !== 0xda7a0000) wrong.push(o);
    expect(wrong).toEqual([]);
    // Every byte of the 16 pages, tables and utsname page included, as in the ELF core it came from.
    expect(Buffer.compare(d.readBytes(0x1000000, 0x10000)!, ref.readBytes(0x1000000, 0x10000)!)).toBe(0);
    expect(d.read32(0x1010000)).toBe(ACCESS_FAULT);
    expect(vmcoreInfo(d)?.get('SYMBOL(init_top_pgt)')).toBe('ffffffff8100e000');
    d.close();
    ref.close();
  }
  it('zlib (-c)', () => checkPattern(fx('makedumpfile-1.7.2-zlib.kdump')));
  it('LZO (-l)', () => checkPattern(fx('makedumpfile-1.7.2-lzo.kdump')));
  it('pages stored as is', () => checkPattern(fx('makedumpfile-1.7.2-plain.kdump')));
  it("zlib, in the flattened format of -F (read in place; makedumpfile -R rebuilds the -c file byte for byte)", () => {
    checkPattern(fx('makedumpfile-1.7.2-zlib.flat'));
    const d = openDump(fx('makedumpfile-1.7.2-zlib.flat')) as KdumpDump;
    expect(d.flattened).toBe(true);
    d.close();
  });
  it('the zlib file really is compressed', () => {
    const d = openDump(fx('makedumpfile-1.7.2-zlib.kdump')) as KdumpDump;
    d.read32(0x1000000);
    expect(d.flagsSeen & 1).toBe(1);
  });
});

describe("makedumpfile's flattened format", () => {
  const pages = [
    { pfn: 0x40000, data: patternPage(0x40000000) },
    { pfn: 0x40002, data: patternPage(0x40002000) },
    { pfn: 0x123456, data: patternPage(0x123456000) },
  ];
  const file = buildKdump({ pages, compression: 'zlib' });
  const be64 = (dv: DataView, at: number, v: number) => {
    dv.setInt32(at, v < 0 ? -1 : Math.floor(v / 2 ** 32), false);
    dv.setUint32(at + 4, v < 0 ? 0xffffffff : v >>> 0, false);
  };
  /** The flattened stream of `records` (offset, bytes), with its header and (unless cut) end marker. */
  function flatten(records: [number, Uint8Array][], opts: { end?: boolean; type?: number } = {}): Uint8Array {
    const parts: Uint8Array[] = [];
    const head = new Uint8Array(4096);
    head.set(new TextEncoder().encode('makedumpfile'));
    const hv = new DataView(head.buffer);
    be64(hv, 16, opts.type ?? 1);
    be64(hv, 24, 1);
    parts.push(head);
    for (const [off, data] of [...records, ...(opts.end === false ? [] : [[-1, null] as const])]) {
      const h = new Uint8Array(16);
      const dv = new DataView(h.buffer);
      be64(dv, 0, off);
      be64(dv, 8, data === null ? -1 : data.length);
      parts.push(h);
      if (data) parts.push(data);
    }
    return Buffer.concat(parts);
  }
  /** `file` cut into pieces of `chunk` bytes, in a scrambled order. */
  function scrambled(chunk: number): [number, Uint8Array][] {
    const recs: [number, Uint8Array][] = [];
    for (let o = 0; o < file.length; o += chunk) recs.push([o, file.subarray(o, Math.min(file.length, o + chunk))]);
    // A fixed shuffle: odd pieces first, then even ones backwards.
    return [...recs.filter((_, i) => i % 2), ...recs.filter((_, i) => i % 2 === 0).reverse()];
  }
  const same = (path: string) => {
    const d = openDump(path) as KdumpDump;
    expect(d.flattened).toBe(true);
    for (const p of pages) expect(Buffer.compare(d.readBytes(p.pfn * 4096, 4096)!, p.data), `pfn ${p.pfn}`).toBe(0);
    expect(d.read32(0x40001000)).toBe(ACCESS_FAULT);
    d.close();
  };

  it('records in any order stand for the file they rebuild', () => same(tmp(flatten(scrambled(1000)))));

  it('a later record wins where records overlap', () => {
    // Every byte first written as garbage by one big record, then correctly by small ones.
    const garbage = new Uint8Array(file.length).fill(0xa5);
    same(tmp(flatten([[0, garbage], ...scrambled(777)])));
    // ...and the other way round: the garbage last would win.
    expect(() => {
      const d = openDump(tmp(flatten([...scrambled(777), [0, garbage]])));
      d.read32(0x40000000);
    }).toThrow();
  });

  it('is found by sniffing and read by --dump-type kdump', () => {
    const path = tmp(flatten(scrambled(4096)));
    expect(openDump(path, { type: 'kdump' }).read32(0x40000010)).toBe(0x40000010);
  });

  it('a stream that ends between records, without its end marker, is read as far as it goes', () => {
    same(tmp(flatten(scrambled(4096), { end: false })));
    // Without the record holding the page descriptors and data, the kdump reader says what is short.
    const recs = scrambled(4096).sort((a, b) => a[0] - b[0]);
    expectInputError(() => openDump(tmp(flatten(recs.slice(0, -1), { end: false }))), /truncated page descriptors/);
  });

  it('bad streams are one-line input errors', () => {
    expectInputError(() => openDump(tmp(flatten(scrambled(4096), { type: 2 }))), /flattened format: header type 2 version 1, expected type 1 version 1/);
    const cut = flatten(scrambled(4096));
    expectInputError(() => openDump(tmp(cut.subarray(0, 4096 + 16 + 100))), /record 1 at file offset 0x1000: its 0x1000 bytes run past the end of the file/);
    expectInputError(() => openDump(tmp(cut.subarray(0, 4096 + 8))), /a record header at file offset 0x1000 is cut off/);
    const neg = flatten([[-5, new Uint8Array(8)]]);
    expectInputError(() => openDump(tmp(neg)), /record 1 at file offset 0x1000: offset\/size fields are not a file position/);
    const short = new Uint8Array(100);
    short.set(new TextEncoder().encode('makedumpfile'));
    expectInputError(() => openDump(tmp(short)), /flattened format: truncated header/);
  });
});
