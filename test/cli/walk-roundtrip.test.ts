/**
 * Issue 8's round trips: a table built by our format code in simulated memory, written out as an ELF64
 * and ELF32 core, a raw image, makedumpfile kdump-compressed files (zlib, snappy, stored) and the three
 * transcript forms (devmem, io -4, hexdump -C), must walk back to the same mappings, the same
 * translations and the same --explain from every form.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hex } from '../../src/addr.js';
import { buildElfCore, buildRawImage, loadsFromPhysMem } from '../../src/dump/elf-writer.js';
import { buildKdump } from '../../src/dump/kdump-writer.js';
import { buildTranscript } from '../../src/dump/transcript-writer.js';
import { formatNames, getFormat } from '../../src/formats/index.js';
import { IOMMU_READ, IOMMU_WRITE, type FormatConfig, type TableHost } from '../../src/formats/types.js';
import { FRAME_SIZE, PhysMem } from '../../src/mem/phys-mem.js';
import { cli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-rt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Spec {
  format: string;
  cfg: FormatConfig;
  args: string[];
  bank: number;
  /** [iova, phys, pages, prot] with pages of the format's granule. */
  maps: [number, number, number, number][];
  probes: number[];
}

const RW = IOMMU_READ | IOMMU_WRITE;
const specs: Spec[] = [
  {
    format: 'rockchip-v1',
    cfg: {},
    args: [],
    bank: 0x4000_0000,
    maps: [
      [0x1000, 0x3b00_0000, 3, RW],
      [0x40_0000, 0x3c00_0000, 2, IOMMU_READ],
      [0xfff0_0000, 0x1000_0000, 1, IOMMU_WRITE],
    ],
    probes: [0x1000, 0x2abc, 0x4000, 0x40_1fff, 0xfff0_0004, 0x8000_0000],
  },
  {
    format: 'rockchip-v2',
    cfg: {},
    args: [],
    bank: 0x1_f000_0000,
    maps: [
      [0x1000, 0xab_0000_0000, 2, RW],
      [0x20_0000, 0x4000_0000, 1, IOMMU_READ],
    ],
    probes: [0x1000, 0x2ff8, 0x20_0010, 0x3000],
  },
  {
    format: 'apple-dart',
    cfg: { granule: 0x4000, ias: 32, oas: 36 },
    args: ['--granule', '16K', '--ias', '32', '--oas', '36'],
    bank: 0x8_0000_0000,
    maps: [
      [0x4000, 0x9_0000_0000, 4, RW],
      [0x1000_0000, 0x8_1000_0000, 1, IOMMU_READ],
    ],
    probes: [0x4000, 0x7ffc, 0x1000_0123, 0x2000_0000],
  },
  {
    format: 'arm-64-lpae-s1',
    cfg: { granule: 4096, ias: 48, oas: 48 },
    args: ['--granule', '4K', '--ias', '48', '--oas', '48'],
    bank: 0x4000_0000,
    maps: [
      [0x1000, 0x8000_0000, 3, RW],
      [0x4000_0000_0000, 0x9_0000_0000, 2, IOMMU_READ],
    ],
    probes: [0x1000, 0x3ffc, 0x4000_0000_1008, 0x5000],
  },
];

/**
 * Table pages from a bump allocator at `base`. Every frame of a table is materialised so the dump
 * holds all of it, as a vmcore of pages in use does (a 16 KiB table is four frames even if only the
 * first is written).
 */
function bumpHost(mem: PhysMem, base: number): TableHost {
  let next = base;
  return {
    mem,
    allocTable(size, align) {
      next = Math.ceil(next / align) * align;
      const pa = next;
      next += size;
      for (let a = pa; a < pa + size; a += FRAME_SIZE) mem.write32(a, 0);
      return pa;
    },
    freeTable() {},
  };
}

describe.each(specs)('$format: every input form walks back the same', (spec) => {
  const known = formatNames().includes(spec.format);
  it.skipIf(!known)('ELF64, ELF32, raw, kdump (zlib, snappy, stored), devmem, io -4, hexdump -C', async () => {
    const fmt = getFormat(spec.format);
    const bankSize = 0x40_0000;
    const mem = new PhysMem([{ base: spec.bank, size: bankSize }]);
    const table = fmt.create(spec.cfg, bumpHost(mem, spec.bank));
    expect(table).not.toBeNull();
    const g = table!.cfg.granule;
    // As iommu_map() does: a driver may map fewer pages than asked (rk_iommu_map maps one pgsize,
    // rockchip-iommu.c:835-871), so call again for the rest.
    for (const [iova, phys, pages, prot] of spec.maps) {
      let done = 0;
      while (done < pages * g) {
        const r = table!.mapPages(iova + done, phys + done, g, pages - done / g, prot);
        expect(r.ret).toBe(0);
        expect(r.mapped).toBeGreaterThan(0);
        done += r.mapped;
      }
    }
    const roots = table!.roots;
    const rootArgs = roots.flatMap((r) => ['--root', hex(r)]);

    const files: [string, string, string[]][] = [];
    const put = (name: string, data: Uint8Array | string, extra: string[] = []) => {
      const p = join(dir, `${spec.format}-${name}`);
      writeFileSync(p, data);
      files.push([name, p, extra]);
    };
    const loads = loadsFromPhysMem(mem);
    put('elf64', buildElfCore({ loads }));
    if (spec.bank + bankSize <= 2 ** 32) put('elf32', buildElfCore({ elfClass: 32, loads }));
    put('raw', buildRawImage(mem, spec.bank, bankSize), ['--base', hex(spec.bank)]);
    const pages = mem.frameNumbers().map((pfn) => ({ pfn, data: mem.readBytes(pfn * FRAME_SIZE, FRAME_SIZE)! }));
    for (const compression of ['zlib', 'snappy', 'none'] as const) put(`kdump-${compression}`, buildKdump({ pages, compression }));
    for (const style of ['devmem', 'io', 'hexdump'] as const) put(`transcript-${style}.txt`, buildTranscript(mem, style));

    const iovaArgs = spec.probes.flatMap((v) => ['--iova', hex(v)]);
    const strip = (o: Record<string, unknown>) => {
      const { dump: _d, missing: _m, ...rest } = o;
      return rest;
    };
    let baseList: unknown;
    let baseWalk: unknown;
    let baseExplain: string | undefined;
    for (const [name, path, extra] of files) {
      const common = ['walk', path, '--format', spec.format, ...spec.args, ...rootArgs, ...extra];
      const list = await cli([...common, '--json']);
      expect(list.err, name).toBe('');
      const walk = await cli([...common, ...iovaArgs, '--json']);
      const explain = await cli([...common, ...iovaArgs, '--explain']);
      const lj = strip(JSON.parse(list.out));
      const wj = strip(JSON.parse(walk.out));
      const ex = explain.out.split('\n').slice(1).join('\n');
      if (baseList === undefined) {
        baseList = lj;
        baseWalk = wj;
        baseExplain = ex;
        // The baseline itself says what was mapped: each map call appears, at its phys, with its prot.
        const runs = (lj as { mappings: { iova: string; phys: string; size: string }[] }).mappings;
        for (const [iova, phys, n] of spec.maps) {
          const r = runs.find((m) => Number(m.iova) <= iova && iova < Number(m.iova) + Number(m.size));
          expect(r, `${name}: ${hex(iova)}`).toBeDefined();
          expect(Number(r!.phys) + (iova - Number(r!.iova))).toBe(phys);
          expect(Number(r!.iova) + Number(r!.size)).toBeGreaterThanOrEqual(iova + n * g);
        }
        expect((lj as { problems: unknown[] }).problems).toEqual([]);
      } else {
        expect(lj, name).toEqual(baseList);
        expect(wj, name).toEqual(baseWalk);
        expect(ex, name).toBe(baseExplain);
      }
    }
    expect(files.length).toBeGreaterThanOrEqual(8);
  });
});

describe('a listing that finds nothing with the default granule', () => {
  // A 16K-granule arm-64-lpae-s1 table (ias 48) with one page mapped at 0xffff8000, read with the
  // format's default 4K granule: its level-0 entry 0 leads to a table whose used entry sits where a
  // 4K walk never looks, so the 4K listing is empty.
  const mem = new PhysMem([{ base: 0x8000_0000, size: 0x40_0000 }]);
  const t = getFormat('arm-64-lpae-s1').create({ granule: 0x4000, ias: 48, oas: 48 }, bumpHost(mem, 0x8000_0000))!;
  expect(t.mapPages(0xffff8000, 0x8030_0000, 0x4000, 1, RW).ret).toBe(0);
  const args = (path: string) => ['walk', path, '--format', 'arm-64-lpae-s1', '--root', hex(t.roots[0]), '--json'];

  it('says which --granule lists the mappings (ELF core)', async () => {
    const path = join(dir, 'hint.core');
    writeFileSync(path, buildElfCore({ loads: loadsFromPhysMem(mem) }));
    const out = JSON.parse((await cli(args(path))).out) as { mappings: unknown[]; hints?: string[] };
    expect(out.mappings).toEqual([]);
    expect(out.hints).toEqual([expect.stringMatching(/^read with granule 16K \(--granule 16K\) the same root lists 1 run\(s\) without problems/)]);
  });

  it('but not on a devmem transcript, whose reads --suggest must list for this walk only', async () => {
    const path = join(dir, 'hint.txt');
    writeFileSync(path, buildTranscript(mem, 'devmem'));
    const out = JSON.parse((await cli(args(path))).out) as { mappings: unknown[]; hints?: string[]; missing: unknown[] };
    expect(out.mappings).toEqual([]);
    expect(out.hints).toBeUndefined();
    expect(out.missing).toEqual([]);
  });
});
