/**
 * The FDT reader on the three real blobs and a hand-written one, and on malformed input.
 * Expected values come from the .dts sources in linux-source-6.12 (paths cited per test) and from
 * test/fixtures/dtb/synthetic-bus.dts, worked out by hand with drivers/of/address.c's rules.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InputError } from '../../src/addr.js';
import { Fdt, FDT_MAGIC, PCI_MEM } from '../../src/board/fdt.js';
import { boardFromFdt } from '../../src/board/from-dtb.js';
import { expectInputError as expectAnyInputError } from '../support/input-error.js';

const FIX = new URL('../fixtures/dtb/', import.meta.url);
const load = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, FIX)));
const parse = (name: string): Fdt => Fdt.parse(load(name), name);

describe('real blobs', () => {
  it('parse the header of rk3568-rock-3b.dtb', () => {
    const fdt = parse('rk3568-rock-3b.dtb');
    expect(fdt.header.magic).toBe(FDT_MAGIC);
    expect(fdt.header.totalsize).toBe(62900); // the file size
    expect(fdt.header.version).toBe(17);
    expect(fdt.header.lastCompVersion).toBe(16);
    expect(fdt.memReserve).toEqual([]);
  });

  it('rk3568: root cells, model, and the three mainline IOMMU nodes (rk356x.dtsi:648,679,786)', () => {
    const fdt = parse('rk3568-rock-3b.dtb');
    expect(fdt.busAddressCells(fdt.root)).toBe(2);
    expect(fdt.busSizeCells(fdt.root)).toBe(2);
    expect(fdt.string(fdt.root, 'model')).toBe('Radxa ROCK 3B');
    const vop = fdt.node('/iommu@fe043e00');
    expect(vop).toBeDefined();
    const regs = fdt.reg(vop!);
    expect(regs).toEqual([
      { busAddress: 0xfe043e00, cpu: 0xfe043e00, size: 0x100 },
      { busAddress: 0xfe043f00, cpu: 0xfe043f00, size: 0x100 },
    ]);
    // interrupts = <GIC_SPI 148 IRQ_TYPE_LEVEL_HIGH>, via the root's interrupt-parent
    const irqs = fdt.interrupts(vop!);
    expect(irqs).toHaveLength(1);
    expect(irqs[0]).toMatchObject({ kind: 'SPI', number: 148, cells: [0, 148, 4] });
    expect(fdt.compatible(irqs[0].controller)).toContain('arm,gic-v3');
    expect(fdt.strings(vop!, 'clock-names')).toEqual(['aclk', 'iface']);
    expect(fdt.u32(vop!, '#iommu-cells')).toBe(0);
    // power-domains = <&power RK3568_PD_VO> (RK3568_PD_VO = 9, rk3568-power.h)
    const pd = fdt.powerDomains(vop!);
    expect(pd[0].target.path).toBe('/power-management@fdd90000/power-controller');
    expect(pd[0].args).toEqual([9]);
    // vop@fe040000 has iommus = <&vop_mmu> with #iommu-cells = 0
    const master = fdt.node('/vop@fe040000')!;
    expect(fdt.iommus(master)).toEqual([{ target: vop, args: [] }]);
    expect(fdt.memory()).toEqual([]); // the bootloader adds /memory
    expect(fdt.dmaMaxCpuAddress()).toBeUndefined();
  });

  it('salvator-x: memory nodes (r8a77951-salvator-x.dts:16-34) and SATA behind ipmmu_hc id 2 (r8a77951.dtsi:2754)', () => {
    const fdt = parse('r8a77951-salvator-x.dtb');
    expect(fdt.memory().map((m) => [m.base, m.size])).toEqual([
      [0x48000000, 0x38000000],
      [0x5_0000_0000, 0x40000000],
      [0x6_0000_0000, 0x40000000],
      [0x7_0000_0000, 0x40000000],
    ]);
    const sata = fdt.node('/soc/sata@ee300000')!;
    const it0 = fdt.iommus(sata);
    expect(it0).toHaveLength(1);
    expect(it0[0].target.path).toBe('/soc/iommu@e6570000');
    expect(it0[0].args).toEqual([2]);
    const mm = fdt.node('/soc/iommu@e67b0000')!;
    // interrupts = <GIC_SPI 196 ...>, <GIC_SPI 197 ...>; the soc bus names the GIC as interrupt-parent
    expect(fdt.interrupts(mm).map((i) => i.number)).toEqual([196, 197]);
    // PCIe dma-ranges <0x42000000 0 0 0 0 1 0>: 4 GiB at 0 -> the lowest DMA reach is 0xffffffff
    expect(fdt.dmaMaxCpuAddress()).toBe(0xffffffff);
    const pcie = fdt.node('/soc/pcie@fe000000')!;
    // phys.hi 0x42000000: space code 2 (32-bit memory) and bit 30 (prefetchable)
    expect(fdt.ranges(pcie, 'dma-ranges')).toEqual([{ child: 0, cpu: 0, size: 0x1_0000_0000, flags: PCI_MEM | 8 }]);
    // iommu-map = <0 &ipmmu_hc 0 1>
    const map = fdt.iommuMap(pcie)!;
    expect(map.mask).toBe(0);
    expect(map.entries.map((e) => [e.ridBase, e.iommu.path, e.iommuBase, e.length])).toEqual([[0, '/soc/iommu@e6570000', 0, 1]]);
    expect(fdt.string(fdt.chosen()!, 'bootargs')).toBe('ignore_loglevel rw root=/dev/nfs ip=on');
  });

  it('t8103: DARTs with AIC interrupts and stream ids (t8103.dtsi:359-366, 481, 720-772)', () => {
    const fdt = parse('t8103-j274.dtb');
    const sio = fdt.node('/soc/iommu@235004000')!;
    expect(fdt.reg(sio)[0]).toEqual({ busAddress: 0x2_3500_4000, cpu: 0x2_3500_4000, size: 0x4000 });
    expect(fdt.interrupts(sio)[0]).toMatchObject({ kind: 'AIC', number: 635 });
    const admac = fdt.node('/soc/dma-controller@238200000')!;
    expect(fdt.iommus(admac).map((e) => [e.target.path, e.args])).toEqual([['/soc/iommu@235004000', [2]]]);
    // interrupts-extended = <0>, <&aic AIC_IRQ 626 ...>, <0>: phandle 0 entries are empty
    expect(fdt.interrupts(admac).map((i) => i.number)).toEqual([626]);
    const pcie = fdt.node('/soc/pcie@690000000')!;
    expect(fdt.iommuMap(pcie)!.entries.map((e) => [e.ridBase, e.iommu.path, e.iommuBase, e.length])).toEqual([
      [0x100, '/soc/iommu@681008000', 1, 1],
      [0x200, '/soc/iommu@682008000', 1, 1],
      [0x300, '/soc/iommu@683008000', 1, 1],
    ]);
    expect(fdt.iommuMap(pcie)!.mask).toBe(0xff00);
    expect(fdt.memory().map((m) => [m.base, m.size])).toEqual([[0x8_0000_0000, 0x2_0000_0000]]);
  });
});

describe('synthetic tree (test/fixtures/dtb/synthetic-bus.dts)', () => {
  const fdt = parse('synthetic-bus.dtb');

  it('translates reg through a non-identity ranges and an empty one', () => {
    // bus ranges = <0x0  0x1 0x20000000  0x10000000>: child 0 -> CPU 0x1_2000_0000
    expect(fdt.reg(fdt.node('/bus@120000000/iommu@100000')!)).toEqual([{ busAddress: 0x100000, cpu: 0x1_2010_0000, size: 0x10000 }]);
    expect(fdt.reg(fdt.node('/bus@120000000/nested/eng@400000')!)[0].cpu).toBe(0x1_2040_0000);
    // no ranges in /nobus: not translatable
    expect(fdt.reg(fdt.node('/nobus/thing@10')!)).toEqual([{ busAddress: 0x10, size: 4 }]);
  });

  it('finds the bus dma-ranges past an empty dma-ranges, as of_dma_get_range does', () => {
    const r = fdt.busDmaRanges(fdt.node('/bus@120000000/nested/eng@400000')!);
    expect(r?.bus.path).toBe('/bus@120000000');
    expect(r?.ranges).toEqual([{ child: 0, cpu: 0x40000000, size: 0x40000000 }]);
    // a root-level device has no bus dma-ranges
    expect(fdt.busDmaRanges(fdt.node('/gpio@f1000000')!)).toBeUndefined();
  });

  it('takes the ZONE_DMA limit from available nodes only', () => {
    // bus@120000000 reaches CPU 0x4000_0000 + 1 GiB - 1; the disabled /offbus (16 MiB) does not count
    expect(fdt.dmaMaxCpuAddress()).toBe(0x7fffffff);
  });

  it('reads memory (skipping a disabled node), reserved memory, memreserve and chosen', () => {
    expect(fdt.memory().map((m) => [m.base, m.size])).toEqual([
      [0x40000000, 0x40000000],
      [0x8_8000_0000, 0x8000_0000],
    ]);
    expect(fdt.memReserve).toEqual([{ address: 0x40000000, size: 0x10000 }]);
    const rm = fdt.reservedMemory();
    expect(rm.map((r) => [r.name, r.base, r.size, r.noMap, r.reusable])).toEqual([
      ['fw@50000000', 0x50000000, 0x200000, true, false],
      ['linux,cma', undefined, 0x2000000, false, true],
    ]);
    expect(fdt.string(fdt.chosen()!, 'stdout-path')).toBe('serial0:115200n8');
  });

  it('decodes interrupts-extended against different controllers', () => {
    const irqs = fdt.interrupts(fdt.node('/bus@120000000/dma@200000')!);
    expect(irqs.map((i) => [i.controller.path, i.kind, i.number, i.cells])).toEqual([
      ['/gpio@f1000000', undefined, undefined, [3, 1]],
      ['/interrupt-controller@f0000000', 'SPI', 42, [0, 42, 4]],
    ]);
  });
});

// ------------------------------------------------------------------ malformed input

function expectInputError(fn: () => unknown, pattern: RegExp): InputError {
  const caught = expectAnyInputError(fn, pattern);
  // one line, naming the file and an offset
  expect(caught.message).not.toContain('\n');
  expect(caught.message).toMatch(/^bad\.dtb: offset 0x[0-9a-f]+: /);
  return caught;
}

function be32(b: Uint8Array, at: number, v: number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(at, v >>> 0, false);
}

/** A minimal blob builder for malformed cases: tokens as u32 words (strings packed by hand). */
function blob(structWords: number[], strings = 'a\0', opts: { rsv?: number[] } = {}): Uint8Array {
  const rsv = opts.rsv ?? [0, 0, 0, 0];
  const offRsv = 40;
  const offStruct = offRsv + rsv.length * 4;
  const offStrings = offStruct + structWords.length * 4;
  const total = offStrings + strings.length;
  const b = new Uint8Array(total);
  [FDT_MAGIC, total, offStruct, offStrings, offRsv, 17, 16, 0, strings.length, structWords.length * 4].forEach((v, i) => be32(b, i * 4, v));
  rsv.forEach((v, i) => be32(b, offRsv + i * 4, v));
  structWords.forEach((v, i) => be32(b, offStruct + i * 4, v));
  for (let i = 0; i < strings.length; i++) b[offStrings + i] = strings.charCodeAt(i);
  return b;
}
const BEGIN = 1;
const END_NODE = 2;
const PROP = 3;
const END = 9;

describe('malformed blobs: one clear InputError each', () => {
  const good = load('rk3568-rock-3b.dtb');
  const P = (b: Uint8Array): Fdt => Fdt.parse(b, 'bad.dtb');

  it('the minimal builder blob itself is valid', () => {
    const f = P(blob([BEGIN, 0, PROP, 4, 0, 7, END_NODE, END]));
    expect(f.u32(f.root, 'a')).toBe(7);
  });

  it('truncated header and truncated body', () => {
    expectInputError(() => P(good.subarray(0, 20)), /truncated: 20 bytes/);
    expectInputError(() => P(good.subarray(0, 30000)), /truncated: header says 62900 bytes, file has 30000/);
  });

  it('bad magic', () => {
    const b = good.slice();
    b[0] = 0xfe;
    expectInputError(() => P(b), /bad magic 0xfe0dfeed/);
  });

  it('offsets outside the blob', () => {
    const b = good.slice();
    be32(b, 8, 0x7fff_0000);
    expectInputError(() => P(b), /structure block offset 0x7fff0000 is outside the blob/);
    const c = good.slice();
    be32(c, 32, 0x10_0000); // size_dt_strings beyond the end
    expectInputError(() => P(c), /strings block .* runs past the end/);
    const d = good.slice();
    be32(d, 16, 0xffff_fff0);
    expectInputError(() => P(d), /memory reservation map offset/);
  });

  it('absurd totalsize and unsupported versions', () => {
    const b = good.slice();
    be32(b, 4, 0xffff_fff0);
    expectInputError(() => P(b), /totalsize 0xfffffff0 is absurd/);
    const v = good.slice();
    be32(v, 20, 3);
    expectInputError(() => P(v), /version 3 is too old/);
  });

  it('a property length beyond the structure block', () => {
    expectInputError(() => P(blob([BEGIN, 0, PROP, 0x7fff_ffff, 0, END_NODE, END])), /property length 0x7fffffff runs past the end of the structure block/);
  });

  it('a property name offset outside the strings block', () => {
    expectInputError(() => P(blob([BEGIN, 0, PROP, 0, 0x1000, END_NODE, END])), /property name offset 0x1000 is outside the strings block/);
  });

  it('missing END, unknown token, unbalanced nodes', () => {
    expectInputError(() => P(blob([BEGIN, 0, END_NODE])), /ends without an FDT_END token/);
    expectInputError(() => P(blob([BEGIN, 0, 0x77, END_NODE, END])), /unknown structure token 0x77/);
    expectInputError(() => P(blob([BEGIN, 0, END])), /FDT_END inside node \//);
    expectInputError(() => P(blob([BEGIN, 0, END_NODE, END_NODE, END])), /END_NODE without a matching BEGIN_NODE/);
  });

  it('nesting deeper than 64 levels', () => {
    const words = [BEGIN, 0];
    for (let i = 0; i < 70; i++) words.push(BEGIN, 0x6e000000); // name "n"
    for (let i = 0; i < 71; i++) words.push(END_NODE);
    words.push(END);
    expectInputError(() => P(blob(words)), /nested deeper than 64 levels/);
  });

  it('a memory reservation map without terminator', () => {
    // rsv entries that never reach (0,0) before the blob ends: the struct block follows, all non-zero
    // (0x1000, 0x1000) and then the structure block's non-zero words: no (0, 0) pair before the end
    const b = blob([BEGIN, 0, END_NODE, END], 'a\0', { rsv: [0, 0x1000, 0, 0x1000] });
    expectInputError(() => P(b), /memory reservation map has no \(0, 0\) terminator/);
  });

  it('a phandle loop in interrupt-parent', () => {
    // / { a { interrupt-parent = <2>; phandle = <1>; interrupts = <5>; }; b { interrupt-parent = <1>; phandle = <2>; }; }
    const strings = 'interrupt-parent\0phandle\0interrupts\0';
    const ip = 0;
    const ph = 17;
    const irq = 25;
    const f = P(
      blob(
        [BEGIN, 0, BEGIN, 0x61000000, PROP, 4, ip, 2, PROP, 4, ph, 1, PROP, 4, irq, 5, END_NODE, BEGIN, 0x62000000, PROP, 4, ip, 1, PROP, 4, ph, 2, END_NODE, END_NODE, END],
        strings,
      ),
    );
    expectInputError(() => f.interrupts(f.node('/a')!), /interrupt-parent chain loops/);
  });

  it('an absurd memory size (beyond 2^53) names the property offset', () => {
    // / { #address-cells = <2>; #size-cells = <2>; memory { device_type = "memory"; reg = <0 0 ~0 ~0>; }; }
    const strings = '#address-cells\0#size-cells\0device_type\0reg\0';
    const words = [BEGIN, 0, PROP, 4, 0, 2, PROP, 4, 15, 2, BEGIN, 0x6d656d00 /* "mem" */];
    words.push(PROP, 7, 27, 0x6d656d6f, 0x72790000 /* "memory\0" padded */);
    words.push(PROP, 16, 39, 0, 0, 0xffffffff, 0xffffffff, END_NODE, END_NODE, END);
    const f = P(blob(words, strings));
    const e = expectInputError(() => f.memory(), /\/mem: 'reg' holds a value of 2\^53 or more/);
    // struct block at 40 + 16 (one empty reservation pair); the reg value is word 20 (0x88); the size
    // cells start 8 bytes into it
    expect(e.message).toMatch(/^bad\.dtb: offset 0x90: /);
  });

  it('a duplicated phandle and a dangling reference', () => {
    const strings = 'phandle\0iommus\0';
    expectInputError(
      () => P(blob([BEGIN, 0, BEGIN, 0x61000000, PROP, 4, 0, 5, END_NODE, BEGIN, 0x62000000, PROP, 4, 0, 5, END_NODE, END_NODE, END], strings)),
      /phandle 0x5 defined twice \(\/a and \/b\)/,
    );
    const f = P(blob([BEGIN, 0, PROP, 4, 8, 0x99, END_NODE, END], strings));
    expectInputError(() => f.iommus(f.root), /'iommus' refers to phandle 0x99, which no node has/);
  });

  it('never hangs and never throws anything but InputError on random corruption', () => {
    const base = load('synthetic-bus.dtb');
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat(base.length), (edits, cut) => {
        const b = base.slice(0, Math.max(cut, 1));
        for (const [at, v] of edits) if (at < b.length) b[at] = v;
        try {
          const f = Fdt.parse(b, 'fuzz.dtb');
          for (const n of f.nodes()) {
            f.reg(n);
            f.interrupts(n);
            f.iommus(n);
          }
          f.dmaMaxCpuAddress();
          boardFromFdt(f, { name: 'fuzz', source: 'dtb' });
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
        }
      }),
      { numRuns: 300, seed: 4 },
    );
  });

  it('never throws anything but InputError when header words are garbage', () => {
    const base = load('synthetic-bus.dtb');
    fc.assert(
      fc.property(fc.nat(9), fc.oneof(fc.nat(0xffff), fc.integer({ min: 0, max: 0xffffffff })), (word, value) => {
        const b = base.slice();
        be32(b, word * 4, value);
        try {
          boardFromFdt(Fdt.parse(b, 'hdr.dtb'), { name: 'fuzz', source: 'dtb' });
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
        }
      }),
      { numRuns: 300, seed: 9 },
    );
  });
});
