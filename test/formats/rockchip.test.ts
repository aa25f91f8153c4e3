import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMem } from '../../src/mem/phys-mem.js';
import {
  RK_IOMMU_PGSIZE_BITMAP,
  rkDteIndex,
  rkPageOffset,
  rkPteIndex,
  rockchipV1Format,
  rockchipV2Format,
  rockchipVariants,
} from '../../src/formats/rockchip.js';
import { getFormat } from '../../src/formats/index.js';
import { EADDRINUSE, IOMMU_CACHE, IOMMU_NOEXEC, IOMMU_READ, IOMMU_WRITE, type PageTableFormat } from '../../src/formats/types.js';
import {
  BumpHost,
  ListHost,
  expectEnumeratesRef,
  expectRunsGiveProbes,
  expectTranslatesLikeRef,
  memFor,
  replayOps,
} from './rockchip-dart-oracle.js';
import { hx, loadOracleCase, openOracleCore } from './oracle.js';

const STEM = 'rockchip-v2-above-4g';

describe('rockchip-v2 oracle (kernel-built tables above 4 GiB)', () => {
  const c = loadOracleCase(STEM);
  const core = openOracleCore(c);
  afterAll(() => core.close());
  const v2 = rockchipVariants.v2;
  const cfg = rockchipV2Format.resolveConfig({});
  const root = hx(c.root);

  it('resolves the config the case was built with', () => {
    expect(cfg.granule).toBe(c.config.granule);
    expect(cfg.ias).toBe(c.config.ias);
    expect(cfg.oas).toBe(c.config.oas);
    expect(cfg.pgsizeBitmap).toBe(hx(c.config.pgsize_bitmap as string));
    expect(RK_IOMMU_PGSIZE_BITMAP).toBe(0x7ff000);
  });

  it('encodes and decodes the DTE_ADDR register as rk_iommu_enable writes it', () => {
    expect(v2.dteAddrReg(hx(c.registers.dt_dma as string))).toBe(hx(c.registers.dte_addr as string));
    expect(v2.decodeDteAddrReg(hx(c.registers.dte_addr as string))).toBe(hx(c.registers.dte_addr_decoded as string));
    expect(rockchipV2Format.decodeRootRegister(hx(c.registers.dte_addr as string), cfg)).toEqual([root]);
  });

  it('walks every final probe to the kernel answer, step by step', () => {
    let checked = 0;
    let dataChecked = 0;
    for (const p of c.probes.filter((q) => q.final)) {
      const iova = hx(p.iova);
      const r = rockchipV2Format.walk(core, { roots: [root], cfg }, iova);
      if (p.outside_ias) {
        // The kernel silently drops IOVA bits above 31; hardware never sees such an IOVA.
        expect(r.fault).toBe('outside-ias');
        expect(r.phys).toBeNull();
        continue;
      }
      const want = hx(p.phys);
      expect(r.phys ?? 0, p.iova).toBe(want);
      if (want === 0) expect(r.fault).toBe('translation');
      expect(r.steps.length, p.iova).toBe(p.walk.length);
      p.walk.forEach((s, i) => {
        const got = r.steps[i];
        expect(got.level).toBe(s.level);
        expect(got.tableAddr).toBe(hx(s.table));
        expect(got.index).toBe(s.index);
        expect(got.entryAddr).toBe(hx(s.pte_addr));
        expect(got.entryLo).toBe(hx(s.pte));
        expect(got.entryHi).toBe(0);
        expect(got.kind).toBe(s.kind);
      });
      if (want !== 0) {
        // Data pages hold 0xda7a0000_00000000 | PA: the translation lands on the right bytes.
        const word = want - (want % 8);
        const lo = core.read32(word);
        if (lo !== -1) {
          expect(lo).toBe(word >>> 0);
          dataChecked++;
        }
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(90);
    // Pages above 2^31 are checked too (an address held as a 32-bit int would be negative).
    expect(dataChecked).toBeGreaterThan(0);
  });

  it('replays the calls to the same descriptors, returns, messages and flush count', () => {
    // Table addresses in the harness's order: the DT, then the PT each allocating op installed.
    const addrs = [root];
    for (const op of c.ops) {
      if (op.table_allocs > 0) addrs.push(v2.ptAddress(core.read32(root + rkDteIndex(hx(op.iova)) * 4)));
    }
    const mem = memFor(c);
    const host = new ListHost(mem, addrs);
    const pt = rockchipV2Format.create({}, host)!;
    expect(pt.roots).toEqual([root]);
    expect(pt.registers()).toEqual({ DTE_ADDR: c.registers.dte_addr });
    replayOps(pt, c);
    expect(host.allocated).toBe(addrs.length);
    for (const t of addrs) for (let i = 0; i < 1024; i++) expect(mem.read32(t + i * 4), `${t.toString(16)}[${i}]`).toBe(core.read32(t + i * 4));
    const printks = c.kernel_messages.filter((m) => m.kind === 'printk').map((m) => m.text);
    expect(host.warnings.map((w) => w.cond)).toEqual(printks);
    expect(host.synced.length).toBe((c as unknown as { stats: { dma_sync_single_for_device: number } }).stats.dma_sync_single_for_device);
    for (const p of c.probes) {
      expect(pt.iovaToPhys(hx(p.iova)), p.iova).toBe(hx(p.phys));
      if (!p.outside_ias) expect(rockchipV2Format.walk(mem, { roots: pt.roots, cfg }, hx(p.iova)).phys ?? 0).toBe(hx(p.phys));
    }
  });

  it('enumerates the dump into merged runs that agree with the probes', () => {
    const e = rockchipV2Format.enumerate(core, { roots: [root], cfg });
    expect(e.problems).toEqual([]);
    // iova 0x400000..0x7fffff was mapped as one 4 MiB chunk to 0xfc00000, then 16K unmapped at 0x410000.
    expect(e.mappings).toContainEqual({ iova: 0x400000, phys: 0xfc00000, size: 0x10000, prot: IOMMU_READ | IOMMU_WRITE });
    expect(e.mappings).toContainEqual({ iova: 0x414000, phys: 0xfc14000, size: 0x400000 - 0x14000, prot: 3 });
    // The 41-bit phys of call 8 lost bit 40 in the PTE.
    expect(e.mappings).toContainEqual({ iova: 0x30000000, phys: 0x2345678000, size: 0x1000, prot: 3 });
    expectRunsGiveProbes(e.mappings, c);
  });
});

describe('rockchip-v1 golden vectors (worked out from rockchip-iommu.c)', () => {
  const v1 = rockchipVariants.v1;
  it('packs DTEs and the DTE_ADDR register: address 31:12 | valid, high bits dropped', () => {
    expect(v1.mkDte(0x12345000)).toBe(0x12345001);
    expect(v1.mkDte(0x1_2345_6000)).toBe(0x23456001); // rk_mk_dte returns u32 (RK:225-228)
    expect(v1.dteAddrReg(0x3f00_0000)).toBe(0x3f00_0001);
    expect(v1.decodeDteAddrReg(0x3f00_0001)).toBe(0x3f00_0000);
    expect(v1.ptAddress(0xfffff_fff)).toBe(0xfffff000);
  });
  it('packs PTEs with R at bit 1 and W at bit 2 only (cache and noexec ignored)', () => {
    expect(v1.mkPte(0x87654000, 0)).toBe(0x87654001);
    expect(v1.mkPte(0x87654000, IOMMU_READ)).toBe(0x87654003);
    expect(v1.mkPte(0x87654000, IOMMU_WRITE)).toBe(0x87654005);
    expect(v1.mkPte(0x87654000, IOMMU_READ | IOMMU_WRITE)).toBe(0x87654007);
    expect(v1.mkPte(0x87654000, IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE | IOMMU_NOEXEC)).toBe(0x87654007);
    expect(v1.mkPte(0x2_8765_4abc, IOMMU_READ)).toBe(0x87654003);
    expect(v1.mkPteInvalid(0x87654007)).toBe(0x87654006);
  });
  it('splits IOVAs 10/10/12', () => {
    expect(rkDteIndex(0xc0d0_3123)).toBe(0x303);
    expect(rkPteIndex(0xc0d0_3123)).toBe(0x103);
    expect(rkPageOffset(0xc0d0_3123)).toBe(0x123);
  });
  it('maps as rk_iommu_map does: DTE, PTEs, flushes, and -EADDRINUSE on a remap', () => {
    const mem = new PhysMem([{ base: 0x1000_0000, size: 0x100_0000 }]);
    const host = new ListHost(mem, [0x1000_0000, 0x1000_1000, 0x1000_2000]);
    const pt = rockchipV1Format.create({}, host)!;
    expect(pt.registers()).toEqual({ DTE_ADDR: '0x10000001' });
    // 8 KiB at IOVA 0x00c03000: DTE 3, PTEs 3 and 4.
    expect(pt.mapPages(0x00c0_2000, 0x3000_0000, 0x2000, 1, IOMMU_READ)).toEqual({ ret: 0, mapped: 0x2000 });
    expect(mem.read32(0x1000_000c)).toBe(0x1000_1001);
    expect(mem.read32(0x1000_1008)).toBe(0x3000_0003);
    expect(mem.read32(0x1000_100c)).toBe(0x3000_1003);
    expect(host.synced).toEqual([
      [0x1000_000c, 4],
      [0x1000_1008, 8],
    ]);
    // 4 MiB chunk at DTE 5 with R|W: 1024 PTEs; pgcount ignored as the driver does.
    expect(pt.mapPages(0x0140_0000, 0x4000_0000, 0x40_0000, 7, IOMMU_READ | IOMMU_WRITE)).toEqual({ ret: 0, mapped: 0x40_0000 });
    expect(mem.read32(0x1000_0014)).toBe(0x1000_2001);
    expect(mem.read32(0x1000_2000)).toBe(0x4000_0007);
    expect(mem.read32(0x1000_2ffc)).toBe(0x403f_f007);
    // Remap of 16 KiB at 0x00c00000 clashes at its third page: the first two are invalidated (bit 0 only).
    host.warnings.length = 0;
    expect(pt.mapPages(0x00c0_0000, 0x5000_0000, 0x4000, 1, IOMMU_WRITE)).toEqual({ ret: -EADDRINUSE, mapped: 0 });
    expect(mem.read32(0x1000_1000)).toBe(0x5000_0004);
    expect(mem.read32(0x1000_1004)).toBe(0x5000_1004);
    expect(mem.read32(0x1000_1008)).toBe(0x3000_0003);
    expect(host.warnings[0].cond).toBe(
      'iova: 0x0000000000c02000 already mapped to 0x0000000030000000 cannot remap to phys: 0x0000000050002000 prot: 0x2',
    );
    expect(pt.iovaToPhys(0x00c0_3abc)).toBe(0x3000_1abc);
    expect(pt.iovaToPhys(0x00c0_0abc)).toBe(0);
    // Unmap 16 KiB at 0xc02000: two valid PTEs then an invalid one stops it.
    expect(pt.unmapPages(0x00c0_0000, 0x4000, 1)).toBe(0);
    expect(pt.unmapPages(0x00c0_2000, 0x2000, 1)).toBe(0x2000);
    expect(mem.read32(0x1000_1008)).toBe(0x3000_0002);
    expect(pt.unmapPages(0x0200_0000, 0x1000, 1)).toBe(0); // DTE 8 invalid
    const w = rockchipV1Format.walk(mem, { roots: pt.roots, cfg: pt.cfg }, 0x0150_0123);
    expect(w.phys).toBe(0x4010_0123);
    expect(w.prot).toBe(IOMMU_READ | IOMMU_WRITE);
    expect(w.steps.map((s) => [s.entryAddr, s.entryLo, s.kind])).toEqual([
      [0x1000_0014, 0x1000_2001, 'table'],
      [0x1000_2400, 0x4010_0007, 'page'],
    ]);
  });
  it('writes the DT of a PT above 4 GiB as its low alias (no error, like the kernel)', () => {
    const mem = new PhysMem([
      { base: 0x1000_0000, size: 0x10_0000 },
      { base: 0x1_1000_0000, size: 0x10_0000 },
    ]);
    const host = new ListHost(mem, [0x1000_0000, 0x1_1000_1000]);
    const pt = rockchipV1Format.create({}, host)!;
    expect(pt.mapPages(0, 0x2000, 0x1000, 1, IOMMU_READ).ret).toBe(0);
    expect(mem.read32(0x1000_0000)).toBe(0x1000_1001);
    // phys_to_virt(pt_address(dte)) is the alias: the PTE lands in the DT's neighbour, not in the PT page.
    expect(mem.read32(0x1000_1000)).toBe(0x2003);
    expect(mem.read32(0x1_1000_1000)).toBe(0);
  });
});

describe('rockchip v2 packing (worked examples)', () => {
  const v2 = rockchipVariants.v2;
  it('folds address bits 39:32 into 11:4', () => {
    expect(v2.mkDte(0xab_cdef_1000)).toBe(0xcdef1ba1);
    expect(v2.ptAddress(0xcdef1ba1)).toBe(0xab_cdef_1000);
    expect(v2.mkDte(0x1_2345_6000)).toBe(0x23456101);
    expect(v2.mkPte(0xab_0000_0000, IOMMU_READ | IOMMU_WRITE)).toBe(0xba7);
    expect(v2.mkPte(0x123_4567_8000, IOMMU_READ | IOMMU_WRITE)).toBe(0x45678327); // bit 40 dropped
    expect(v2.pteAddress(0x45678327)).toBe(0x23_4567_8000);
  });
  it('describes which bits are address and which are flags', () => {
    const d = rockchipV2Format.describeEntry(2, 0xdcba9ef7, 0, rockchipV2Format.resolveConfig({}));
    expect(d.address).toBe(0xfe_dcba_9000);
    expect(d.prot).toBe(IOMMU_READ | IOMMU_WRITE);
    const names = d.fields.map((f) => f[0]).join('; ');
    expect(names).toContain('bits 11:8 (page address 35:32, packed)');
    expect(names).toContain('bits 7:4 (page address 39:36, packed)');
    expect(names).toContain('bit 2 (writable)');
    const dv1 = rockchipV1Format.describeEntry(2, 0x87654007, 0, rockchipV1Format.resolveConfig({}));
    expect(dv1.fields.map((f) => f[0])).toContain('bit 7 (read cache)');
    expect(rockchipV1Format.describeEntry(1, 0x1000_0003, 0, rockchipV1Format.resolveConfig({})).reservedBitsSet).toBe(true);
  });
  it('is in the registry', () => {
    expect(getFormat('rockchip-v1')).toBe(rockchipV1Format);
    expect(getFormat('rockchip-v2')).toBe(rockchipV2Format);
  });
});

describe('rockchip garbage is reported, never thrown', () => {
  const cfg = rockchipV2Format.resolveConfig({});
  it('a DTE pointing into a hole: bus fault on walk, a problem on enumerate', () => {
    const mem = new PhysMem([{ base: 0x4000_0000, size: 0x10_0000 }]);
    mem.write32(0x4000_0000 + 2 * 4, rockchipVariants.v2.mkDte(0x9_0000_0000));
    mem.write32(0x4000_0000 + 3 * 4, rockchipVariants.v2.mkDte(0x4000_1000));
    mem.write32(0x4000_1000, rockchipVariants.v2.mkPte(0x4000_5000, IOMMU_READ));
    const w = rockchipV2Format.walk(mem, { roots: [0x4000_0000], cfg }, 0x0080_0000);
    expect(w.fault).toBe('bus');
    expect(w.steps).toHaveLength(1);
    const e = rockchipV2Format.enumerate(mem, { roots: [0x4000_0000], cfg });
    expect(e.problems.map((p) => p.kind)).toEqual(['outside-dump']);
    expect(e.mappings).toEqual([{ iova: 0x00c0_0000, phys: 0x4000_5000, size: 0x1000, prot: IOMMU_READ }]);
  });
  it('a DTE naming the DT itself is a cycle; a root in a hole is a root problem', () => {
    const mem = new PhysMem([{ base: 0x4000_0000, size: 0x10_0000 }]);
    mem.write32(0x4000_0000, rockchipVariants.v2.mkDte(0x4000_0000));
    const e = rockchipV2Format.enumerate(mem, { roots: [0x4000_0000], cfg });
    expect(e.problems.map((p) => p.kind)).toEqual(['cycle']);
    const w = rockchipV2Format.walk(mem, { roots: [0x4000_0000], cfg }, 0);
    expect(w.notes?.[0]).toMatch(/directory table itself/);
    expect(rockchipV2Format.enumerate(mem, { roots: [0x8000_0000], cfg }).problems[0].kind).toBe('root');
    expect(rockchipV2Format.walk(mem, { roots: [0x8000_0000], cfg }, 0).fault).toBe('bus');
  });
  it('a directory full of random words terminates with problems', () => {
    const mem = new PhysMem([{ base: 0x4000_0000, size: 0x40_0000 }]);
    let x = 0x12345678;
    for (let i = 0; i < 1024; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      mem.write32(0x4000_0000 + i * 4, x);
    }
    const e = rockchipV1Format.enumerate(mem, { roots: [0x4000_0000], cfg: rockchipV1Format.resolveConfig({}) });
    expect(e.problems.length).toBeGreaterThan(100);
  });
  it('an output beyond a narrower --oas is an address-size fault and problem', () => {
    const mem = new PhysMem([{ base: 0x4000_0000, size: 0x10_0000 }]);
    const v2 = rockchipVariants.v2;
    mem.write32(0x4000_0000, v2.mkDte(0x4000_1000));
    mem.write32(0x4000_1000, v2.mkPte(0xf0_0000_0000, IOMMU_READ));
    const cfg36 = rockchipV2Format.resolveConfig({ oas: 36 });
    expect(rockchipV2Format.walk(mem, { roots: [0x4000_0000], cfg: cfg36 }, 0x10).fault).toBe('address-size');
    expect(rockchipV2Format.walk(mem, { roots: [0x4000_0000], cfg }, 0x10).phys).toBe(0xf0_0000_0010);
    expect(rockchipV2Format.enumerate(mem, { roots: [0x4000_0000], cfg: cfg36 }).problems.map((p) => p.kind)).toEqual(['address-size']);
  });
  it('rejects impossible configs and register values as input errors', () => {
    expect(() => rockchipV1Format.resolveConfig({ granule: 16384 })).toThrow(/4 KiB/);
    expect(() => rockchipV2Format.decodeRootRegister(2 ** 33, cfg)).toThrow(/32-bit/);
  });
});

function propertyFor(format: PageTableFormat, physPages: number) {
  const opArb = fc.record({
    unmap: fc.boolean(),
    dte: fc.integer({ min: 0, max: 3 }),
    pte: fc.integer({ min: 0, max: 1023 }),
    order: fc.integer({ min: 0, max: 10 }),
    page: fc.integer({ min: 1, max: physPages - 1025 }),
    prot: fc.integer({ min: 0, max: 3 }),
  });
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
      const mem = new PhysMem([{ base: 0x10_0000, size: 0x10_0000 }]);
      const host = new BumpHost(mem, 0x10_0000);
      const pt = format.create({}, host)!;
      const ref = new Map<number, { phys: number; prot: number }>();
      for (const o of ops) {
        const size = 4096 * 2 ** o.order;
        const iova = o.dte * 0x40_0000 + Math.floor((o.pte * 4096) / size) * size;
        const pages = size / 4096;
        if (o.unmap) {
          let n = 0;
          while (n < pages && ref.has(iova + n * 4096)) ref.delete(iova + n++ * 4096);
          expect(pt.unmapPages(iova, size, 1)).toBe(n * 4096);
        } else {
          const phys = o.page * 4096;
          let clash = false;
          for (let i = 0; i < pages; i++) if (ref.has(iova + i * 4096)) clash = true;
          const r = pt.mapPages(iova, phys, size, 1, o.prot);
          expect(r.ret).toBe(clash ? -EADDRINUSE : 0);
          if (!clash) for (let i = 0; i < pages; i++) ref.set(iova + i * 4096, { phys: phys + i * 4096, prot: o.prot });
        }
      }
      const params = { roots: pt.roots, cfg: pt.cfg };
      for (let d = 0; d < 4; d++) {
        for (let p = 0; p < 1024; p += 7) {
          expectTranslatesLikeRef(pt, format, mem, ref, d * 0x40_0000 + p * 4096, 0x123);
        }
      }
      expectEnumeratesRef(format, mem, params, ref, 4096);
    }),
    { numRuns: 60, seed: 4242 },
  );
}

describe('rockchip property: random map/unmap against a plain map', () => {
  it('v1 (32-bit physical pages)', () => propertyFor(rockchipV1Format, 2 ** 20));
  it('v2 (40-bit physical pages)', () => propertyFor(rockchipV2Format, 2 ** 28));
});
