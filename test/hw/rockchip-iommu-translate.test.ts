/**
 * Translation through the Rockchip model, with tables written by hand the way rockchip-iommu.c encodes
 * them: v2 DTE/PTE = address bits 31:12 | A[35:32] in 11:8 | A[39:36] in 7:4 | R<<1 | W<<2 | valid
 * (rk_mk_dte_v2 / rk_mk_pte_v2, rockchip-iommu.c:230-237, 291-299); v1 = address 31:12 | flags | valid.
 * IOVA split 10/10/12 (rockchip-iommu.c:316-336).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMem } from '../../src/mem/phys-mem.js';
import { SimClock, Tracer } from '../../src/trace/events.js';
import { IrqController } from '../../src/hw/irq.js';
import { DmaMaster } from '../../src/hw/master.js';
import {
  RockchipIommu,
  rockchipVariant,
  RK_MMU_INT_RAWSTAT,
  RK_MMU_INT_STATUS,
  RK_MMU_PAGE_FAULT_ADDR,
  RK_MMU_STATUS,
  RK_MMU_COMMAND,
  RK_MMU_ZAP_ONE_LINE,
  RK_STATUS_PAGE_FAULT_ACTIVE,
  RK_STATUS_PAGE_FAULT_IS_WRITE,
  RK_CMD_ZAP_CACHE,
  RK_CMD_PAGE_FAULT_DONE,
} from '../../src/hw/rockchip-iommu.js';
import { rkEnable, rkIrqInstance } from './helpers.js';

const G = 2 ** 30;

/** rk_mk_dte_v2 by hand. */
function dteV2(a: number): number {
  const lo = a % 2 ** 32 & 0xfffff000;
  const b35_32 = Math.floor(a / 2 ** 32) & 0xf;
  const b39_36 = Math.floor(a / 2 ** 36) & 0xf;
  return (lo | (b35_32 << 8) | (b39_36 << 4) | 1) >>> 0;
}
const pteV2 = (a: number, r: boolean, w: boolean) => (dteV2(a) | (r ? 2 : 0) | (w ? 4 : 0)) >>> 0;
const pteV1 = (a: number, r: boolean, w: boolean) => ((a & 0xfffff000) | (r ? 2 : 0) | (w ? 4 : 0) | 1) >>> 0;

function bytes(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return a;
}

function world(variant: string, instances = 1) {
  const clock = new SimClock();
  const tracer = new Tracer(clock);
  const irq = new IrqController(clock, tracer);
  const mem = new PhysMem([{ base: 0, size: 4 * G }, { base: 0x1_0000_0000, size: 4 * G }]);
  const iommu = new RockchipIommu({ name: 'fde4b000.iommu', variant: rockchipVariant(variant), mem, clock, tracer, irq, irqs: [183], instances });
  const npu = new DmaMaster({ name: 'npu', mem, busBits: 32, iommu, stream: 0 });
  return { clock, tracer, irq, mem, iommu, npu, bases: iommu.instances };
}

// IOVA 0x00401000: DTE index 1, PTE index 1.
const IOVA = 0x0040_1000;

describe('Rockchip IOMMU translation (v2 block)', () => {
  function mapped(variant = 'v2', dt = 0x0800_0000, pt = 0x1_2345_6000, page = 0x1_8000_0000) {
    const w = world(variant);
    w.mem.write32(dt + 1 * 4, dteV2(pt));
    w.mem.write32(pt + 1 * 4, pteV2(page, true, false));
    w.mem.writeBytes(page, bytes(4096, 1));
    expect(rkEnable(w.clock, w.bases, dteV2(dt)).ret).toBe(0);
    return { ...w, dt, pt, page };
  }

  it('a mapped IOVA reads the page the PTE names (table and page above 4 GiB on a v2 block)', () => {
    const w = mapped();
    const r = w.npu.read(IOVA + 0x10, 64);
    expect(r.status).toBe('ok');
    expect(r.pages[0].phys).toBe(0x1_8000_0010);
    expect(w.npu.check(bytes(4096, 1).subarray(0x10, 0x50)).ok).toBe(true);
    // the walk the hardware did, for --explain: DTE 1 in the DT, PTE 1 in the PT
    const steps = w.iommu.window(0).lastWalk!.steps;
    expect(steps.map((s) => [s.level, s.entryAddr, s.entryLo])).toEqual([
      [1, w.dt + 4, dteV2(w.pt)],
      [2, w.pt + 4, pteV2(w.page, true, false)],
    ]);
  });

  it('an unmapped IOVA raises a page fault: address latched, INT_STATUS bit 0, the IRQ line, then stalls until PAGE_FAULT_DONE', () => {
    const w = mapped();
    const r = w.npu.read(0x0080_0004, 4);
    expect(r.status).toBe('fault');
    const b = w.bases[0];
    expect(b.readUint32(RK_MMU_PAGE_FAULT_ADDR)).toBe(0x0080_0004);
    expect(b.readUint32(RK_MMU_INT_STATUS)).toBe(1);
    expect(b.readUint32(RK_MMU_STATUS) & RK_STATUS_PAGE_FAULT_ACTIVE).toBe(RK_STATUS_PAGE_FAULT_ACTIVE);
    expect(b.readUint32(RK_MMU_STATUS) & RK_STATUS_PAGE_FAULT_IS_WRITE).toBe(0);
    expect(w.irq.isAsserted(183)).toBe(true);
    // the block holds the faulting transaction: even a mapped IOVA does not move now
    expect(w.npu.read(IOVA, 4).status).toBe('stall');
    // the driver's IRQ handler: message, ZAP_CACHE, PAGE_FAULT_DONE, INT_CLEAR
    w.irq.connect(183, () => (rkIrqInstance(b).handled ? 'handled' : 'none'));
    expect(w.irq.deliver().delivered).toBe(1);
    expect(w.irq.isAsserted(183)).toBe(false);
    expect(w.npu.read(IOVA, 4).status).toBe('ok');
  });

  it('a write to a read-only PTE is a page fault of type write', () => {
    const w = mapped();
    w.npu.load(new Uint8Array([1, 2, 3, 4]));
    const r = w.npu.write(IOVA, 4);
    expect(r.status).toBe('fault');
    expect(w.bases[0].readUint32(RK_MMU_STATUS) & RK_STATUS_PAGE_FAULT_IS_WRITE).toBe(RK_STATUS_PAGE_FAULT_IS_WRITE);
    expect(w.mem.read32(w.page)).toBe(new DataView(bytes(4, 1).buffer).getUint32(0, true));
  });

  it('a changed PTE without a zap keeps translating to the old page; ZAP_ONE_LINE (or ZAP_CACHE) brings the new one', () => {
    const w = mapped();
    const other = 0x0900_0000;
    w.mem.writeBytes(other, bytes(4096, 2));
    expect(w.npu.read(IOVA, 16).pages[0].via).toBe('walk');
    w.mem.write32(w.pt + 4, pteV2(other, true, false));
    const stale = w.npu.read(IOVA, 16);
    expect(stale.pages[0]).toMatchObject({ phys: w.page, via: 'tlb' });
    expect(w.npu.check(bytes(16, 1)).ok).toBe(true);
    expect(w.npu.check(bytes(16, 2)).ok).toBe(false);
    w.bases[0].writeUint32(RK_MMU_ZAP_ONE_LINE, IOVA);
    expect(w.npu.read(IOVA, 16).pages[0]).toMatchObject({ phys: other, via: 'walk' });
    expect(w.npu.check(bytes(16, 2)).ok).toBe(true);
    // back again, this time with ZAP_CACHE
    w.mem.write32(w.pt + 4, pteV2(w.page, true, false));
    expect(w.npu.read(IOVA, 16).pages[0].phys).toBe(other);
    w.bases[0].writeUint32(RK_MMU_COMMAND, RK_CMD_ZAP_CACHE);
    expect(w.npu.read(IOVA, 16).pages[0].phys).toBe(w.page);
  });

  it('a zap of a different line leaves the stale entry in place', () => {
    const w = mapped();
    w.npu.read(IOVA, 4);
    w.mem.write32(w.pt + 4, 0);
    w.bases[0].writeUint32(RK_MMU_ZAP_ONE_LINE, IOVA + 0x1000);
    expect(w.npu.read(IOVA, 4).status).toBe('ok');
  });

  it('power domain off: the master gets a bus error; master reset: paging is off and the IOVA goes out untranslated', () => {
    const w = mapped();
    w.iommu.setPower(false);
    expect(w.npu.read(IOVA, 4).status).toBe('bus-error');
    w.iommu.setPower(true);
    // power-on lost every register: paging off, the IOVA reaches physical 0x401000
    const r = w.npu.read(IOVA, 4);
    expect(r.pages[0]).toMatchObject({ phys: IOVA, via: 'bypass' });

    const w2 = mapped();
    w2.iommu.masterReset();
    const r2 = w2.npu.read(IOVA, 16);
    expect(r2.status).toBe('ok');
    expect(r2.pages[0].phys).toBe(IOVA);
    expect(w2.npu.check(bytes(16, 1)).ok).toBe(false);
  });

  it('with two instances, the port whose window was not programmed passes traffic through untranslated', () => {
    const w = world('v2', 2);
    const dt = 0x0800_0000, pt = 0x0810_0000, page = 0x0a00_0000;
    w.mem.write32(dt + 4, dteV2(pt));
    w.mem.write32(pt + 4, pteV2(page, true, true));
    rkEnable(w.clock, [w.bases[0]], dteV2(dt));
    const port1 = new DmaMaster({ name: 'vop-port1', mem: w.mem, busBits: 32, iommu: w.iommu, stream: 1 });
    expect(w.npu.read(IOVA, 4).pages[0].phys).toBe(page);
    expect(port1.read(IOVA, 4).pages[0]).toMatchObject({ phys: IOVA, via: 'bypass' });
    rkEnable(w.clock, w.bases, dteV2(dt));
    expect(port1.read(IOVA, 4).pages[0]).toMatchObject({ phys: page, via: 'walk' });
  });

  it('the walker caches table lines: a PTE written next to a used one stays invisible until its IOVA is zapped', () => {
    const w = mapped();
    expect(w.npu.read(IOVA, 4).status).toBe('ok'); // fetches the PTE line holding PTEs 0..15
    w.mem.write32(w.pt + 2 * 4, pteV2(w.page + 0x1000, true, false)); // map IOVA + 0x1000 (PTE 2)
    expect(w.npu.read(IOVA + 0x1000, 4).status).toBe('fault');
    w.bases[0].writeUint32(RK_MMU_COMMAND, RK_CMD_PAGE_FAULT_DONE);
    w.bases[0].writeUint32(RK_MMU_ZAP_ONE_LINE, IOVA + 0x1000);
    expect(w.npu.read(IOVA + 0x1000, 4).status).toBe('ok');
    // PTE 16 lives in another (never fetched) 64-byte line: visible at once
    w.mem.write32(w.pt + 16 * 4, pteV2(w.page, true, false));
    expect(w.npu.read(0x0041_0000, 4).status).toBe('ok');
  });

  it("the driver's map-time zap of the first and last IOVA is enough for a range sharing lines with used ones", () => {
    const w = mapped();
    w.npu.read(IOVA, 4);
    // rk_iommu_map of IOVA+0x1000 .. IOVA+0x5fff: PTEs 2..6, then zap first and last (rockchip-iommu.c:722-729)
    for (let i = 2; i <= 6; i++) w.mem.write32(w.pt + i * 4, pteV2(w.page + (i - 1) * 0x1000, true, false));
    w.bases[0].writeUint32(RK_MMU_ZAP_ONE_LINE, IOVA + 0x1000);
    w.bases[0].writeUint32(RK_MMU_ZAP_ONE_LINE, IOVA + 0x5000);
    for (let i = 1; i <= 5; i++) expect(w.npu.read(IOVA + i * 0x1000, 4).status).toBe('ok');
  });

  it('a new page table behind a cached DT line needs the zap too (stale DTE)', () => {
    const w = mapped();
    w.npu.read(IOVA, 4); // caches DTEs 0..15
    const pt2 = 0x0820_0000;
    w.mem.write32(w.dt + 2 * 4, dteV2(pt2));
    w.mem.write32(pt2, pteV2(w.page, true, false));
    expect(w.npu.read(0x0080_0000, 4).status).toBe('fault');
    w.bases[0].writeUint32(RK_MMU_COMMAND, RK_CMD_PAGE_FAULT_DONE);
    w.bases[0].writeUint32(RK_MMU_ZAP_ONE_LINE, 0x0080_0000);
    expect(w.npu.read(0x0080_0000, 4).status).toBe('ok');
  });

  it('a DTE naming a page table in a RAM hole: the walker read fails, BUS_ERROR', () => {
    const w = mapped();
    w.mem.write32(w.dt + 3 * 4, dteV2(0x3_0000_0000)); // no RAM above 8 GiB here
    expect(w.npu.read(0x00c0_0000, 4).status).toBe('bus-error');
    expect(w.bases[0].readUint32(RK_MMU_INT_RAWSTAT)).toBe(2);
    expect(w.bases[0].readUint32(RK_MMU_PAGE_FAULT_ADDR)).toBe(0x00c0_0000);
  });

  it('after PAGE_FAULT_DONE without a mapping, the next access faults again', () => {
    const w = mapped();
    w.npu.read(0x0080_0000, 4);
    w.bases[0].writeUint32(RK_MMU_COMMAND, RK_CMD_PAGE_FAULT_DONE);
    expect(w.npu.read(0x0080_0000, 4).status).toBe('fault');
  });
});

describe('Rockchip v1 block', () => {
  it('walks 32-bit v1 entries', () => {
    const w = world('v1');
    const dt = 0x0100_0000, pt = 0x0200_0000, page = 0x0300_0000;
    w.mem.write32(dt + 4, (pt | 1) >>> 0);
    w.mem.write32(pt + 4, pteV1(page, true, true));
    w.mem.writeBytes(page, bytes(64, 3));
    rkEnable(w.clock, w.bases, (dt | 1) >>> 0);
    const r = w.npu.read(IOVA, 64);
    expect(r.status).toBe('ok');
    expect(w.npu.check(bytes(64, 3)).ok).toBe(true);
  });
});

describe('RK3568 v1.0 block with a directory table above 4 GiB (seed 000)', () => {
  // The DT allocated above 4 GiB, as gfp 0 allows on an 8 GiB board; DTE_ADDR = rk_mk_dte_v2(dt).
  const DT = 0x1_0800_0000, PT = 0x1_2345_6000, PAGE = 0x1_8000_0000;
  function build(variant: string) {
    const w = world(variant);
    w.mem.write32(DT + 4, dteV2(PT));
    w.mem.write32(PT + 4, pteV2(PAGE, true, true));
    w.mem.writeBytes(PAGE, bytes(64, 4));
    expect(dteV2(DT)).toBe(0x0800_0101);
    expect(rkEnable(w.clock, w.bases, dteV2(DT)).ret).toBe(0);
    return w;
  }

  it('a v2.0 block (VOP2) walks it fine', () => {
    const w = build('v2');
    expect(w.npu.read(IOVA, 64).status).toBe('ok');
    expect(w.npu.check(bytes(64, 4)).ok).toBe(true);
  });

  it("'bus-error': the DT fetch fails, INT_RAWSTAT bit 1 (BUS_ERROR) with the IOVA in PAGE_FAULT_ADDR", () => {
    const w = build('rk3568-v1.0-bus-error');
    const r = w.npu.read(IOVA + 8, 4);
    expect(r.status).toBe('bus-error');
    const b = w.bases[0];
    expect(b.readUint32(RK_MMU_INT_RAWSTAT)).toBe(2);
    expect(b.readUint32(RK_MMU_PAGE_FAULT_ADDR)).toBe(IOVA + 8);
    expect(b.readUint32(RK_MMU_STATUS) & RK_STATUS_PAGE_FAULT_ACTIVE).toBe(0);
    const msgs: string[] = [];
    w.irq.connect(183, () => {
      const h = rkIrqInstance(b);
      msgs.push(...h.messages);
      return h.handled ? 'handled' : 'none';
    });
    w.irq.deliver();
    expect(msgs).toEqual(['BUS_ERROR occurred at 0x0000000000401008']);
  });

  it("'truncate': the walker reads the alias at 0x08000000 — zeros give a page fault ...", () => {
    const w = build('rk3568-v1.0-truncate');
    const r = w.npu.read(IOVA, 4);
    expect(r.status).toBe('fault');
    expect(w.bases[0].readUint32(RK_MMU_INT_RAWSTAT)).toBe(1);
    expect(w.tracer.events.some((e) => e.type === 'dte_base_truncated' && e.data.used === 0x0800_0000)).toBe(true);
  });

  it('... and whatever table happens to live at the alias gives silently wrong data', () => {
    const w = build('rk3568-v1.0-truncate');
    const otherPt = 0x0c00_0000, otherPage = 0x0d00_0000;
    w.mem.write32(0x0800_0000 + 4, dteV2(otherPt));
    w.mem.write32(otherPt + 4, pteV2(otherPage, true, true));
    w.mem.writeBytes(otherPage, bytes(64, 9));
    const r = w.npu.read(IOVA, 64);
    expect(r.status).toBe('ok');
    expect(r.pages[0].phys).toBe(otherPage);
    expect(w.npu.check(bytes(64, 4)).ok).toBe(false);
  });
});

describe('Rockchip translation agrees with a plain reference map (property)', () => {
  it('for random mappings and accesses: mapped and permitted -> that page, otherwise a page fault', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('v1', 'v2'),
        fc.uniqueArray(
          fc.record({
            vpn: fc.integer({ min: 0, max: 0xfffff }),
            ppn: fc.integer({ min: 0x100, max: 0x7ffff }),
            r: fc.boolean(),
            w: fc.boolean(),
          }),
          { selector: (m) => m.vpn, maxLength: 40 },
        ),
        fc.array(fc.record({ pick: fc.nat(), offset: fc.integer({ min: 0, max: 4092 }), write: fc.boolean(), stray: fc.boolean() }), { maxLength: 40 }),
        (variant, maps, accesses) => {
          const w = world(variant);
          const dt = 0x0010_0000;
          const ptOf = new Map<number, number>();
          let nextPt = 0x0020_0000;
          const ref = new Map<number, { ppn: number; r: boolean; w: boolean }>();
          for (const m of maps) {
            const d = m.vpn >>> 10;
            if (!ptOf.has(d)) {
              ptOf.set(d, nextPt);
              w.mem.write32(dt + d * 4, variant === 'v1' ? (nextPt | 1) >>> 0 : dteV2(nextPt));
              nextPt += 0x1000;
            }
            const pa = m.ppn * 0x1000;
            w.mem.write32(ptOf.get(d)! + (m.vpn & 0x3ff) * 4, variant === 'v1' ? pteV1(pa, m.r, m.w) : pteV2(pa, m.r, m.w));
            ref.set(m.vpn, m);
          }
          rkEnable(w.clock, w.bases, variant === 'v1' ? (dt | 1) >>> 0 : dteV2(dt));
          for (const a of accesses) {
            const vpn = a.stray || maps.length === 0 ? (a.pick * 7919) % 0x100000 : maps[a.pick % maps.length].vpn;
            const iova = vpn * 0x1000 + a.offset;
            const m = ref.get(vpn);
            const t = w.iommu.translate(0, iova, a.write ? 'write' : 'read');
            if (m && (a.write ? m.w : m.r)) {
              expect(t.status).toBe('ok');
              expect(t.phys).toBe(m.ppn * 0x1000 + a.offset);
            } else {
              expect(t.status).toBe('fault');
              expect(w.bases[0].readUint32(RK_MMU_PAGE_FAULT_ADDR)).toBe(iova);
              // acknowledge as the driver's handler does
              w.bases[0].writeUint32(RK_MMU_COMMAND, RK_CMD_ZAP_CACHE);
              w.bases[0].writeUint32(RK_MMU_COMMAND, RK_CMD_PAGE_FAULT_DONE);
              w.bases[0].writeUint32(0x18, 3);
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
