/**
 * Renesas IPMMU-VMSA model driven as ipmmu-vmsa.c (6.12) drives it. Offsets and bits from
 * ipmmu-vmsa.c:97-134 and the ipmmu_features tables (:913-953); ARM 32-bit LPAE stage-1 descriptors
 * encoded by hand from io-pgtable-arm.c (table = PA | 3 | NSTABLE (bit 63) with IO_PGTABLE_QUIRK_ARM_NS;
 * page = PA | 3 | AF (bit 10) | nG (bit 11) | SH (bits 9:8) | AP[1] UNPRIV (bit 6) | AP[2] RDONLY
 * (bit 7) | NS (bit 5)); ias 32 with a 4K granule walks levels 1-3 from a 4-entry PGD.
 */
import { describe, expect, it } from 'vitest';
import { PhysMem } from '../../src/mem/phys-mem.js';
import { SimClock, Tracer } from '../../src/trace/events.js';
import { IrqController } from '../../src/hw/irq.js';
import { DmaMaster } from '../../src/hw/master.js';
import {
  IpmmuVmsa,
  ipmmuFeatures,
  ipmmuCtxReg,
  ipmmuUtlbReg,
  imuctrOffset,
  imuasidOffset,
  IMCTR,
  IMTTBCR,
  IMTTLBR0,
  IMTTUBR0,
  IMSTR,
  IMMAIR0,
  IMELAR,
  IMEUAR,
  IMCTR_INTEN,
  IMCTR_FLUSH,
  IMCTR_MMUEN,
  IMSTR_TF,
  IMSTR_PF,
  IMSTR_ABORT,
} from '../../src/hw/ipmmu.js';

const G = 2 ** 30;
const CTX = 1; // Gen3 reserves context 0 (ipmmu-vmsa.c "reserved_context")
const UTLB = 2; // sata: iommus = <&ipmmu_hc 2> (r8a77951.dtsi)

function world(gen = 'rcar-gen3', overrides = {}) {
  const clock = new SimClock();
  const tracer = new Tracer(clock);
  const irq = new IrqController(clock, tracer);
  // Salvator-X style: a low bank and banks above 4 GiB
  const mem = new PhysMem([{ base: 0x4800_0000, size: 896 * 2 ** 20 }, { base: 0x5_0000_0000, size: G }]);
  const f = ipmmuFeatures(gen, overrides);
  const mm = new IpmmuVmsa({ name: 'e67b0000.iommu', features: f, mem, clock, tracer, irq, irqs: [210] });
  const hc = new IpmmuVmsa({ name: 'e6570000.iommu', features: f, mem, root: mm, clock, tracer });
  const sata = new DmaMaster({ name: 'ee300000.sata', mem, busBits: 32, iommu: hc, stream: UTLB });
  return { clock, tracer, irq, mem, mm, hc, sata, f };
}

type W = ReturnType<typeof world>;

/** ipmmu_domain_setup_context + ipmmu_utlb_enable (ipmmu-vmsa.c:364-415, 279-297). */
function setupContext(w: W, ttbr: number) {
  const { mm, hc, f } = w;
  const ctx = (r: number) => ipmmuCtxReg(f, CTX, r);
  mm.writeUint32(ctx(IMTTLBR0), ttbr % 2 ** 32);
  mm.writeUint32(ctx(IMTTUBR0), Math.floor(ttbr / 2 ** 32));
  mm.writeUint32(ctx(IMTTBCR), (0x8000_0000 | (2 << 6)) >>> 0); // EAE | SL0 two-bit level 1
  mm.writeUint32(ctx(IMMAIR0), 0xf404ff44);
  mm.writeUint32(ctx(IMSTR), mm.readUint32(ctx(IMSTR)));
  for (const d of [hc, mm]) d.writeUint32(ctx(IMCTR), IMCTR_INTEN | IMCTR_FLUSH | IMCTR_MMUEN);
  hc.writeUint32(ipmmuUtlbReg(f, imuasidOffset(UTLB)), 0);
  hc.writeUint32(ipmmuUtlbReg(f, imuctrOffset(UTLB)), (CTX << 4) | 2 | 1);
}

/** The IRQ handler's part for one context (ipmmu-vmsa.c:487-532). */
function ipmmuIrq(w: W): { status: number; iova: number } | null {
  const ctx = (r: number) => ipmmuCtxReg(w.f, CTX, r);
  const status = w.mm.readUint32(ctx(IMSTR));
  if (!(status & 0x17)) return null;
  const iova = w.mm.readUint32(ctx(IMELAR)) + w.mm.readUint32(ctx(IMEUAR)) * 2 ** 32;
  w.mm.writeUint32(ctx(IMSTR), 0);
  return { status, iova };
}

describe('IPMMU register layout', () => {
  it('places context and uTLB registers where the driver computes them, per generation', () => {
    const g3 = ipmmuFeatures('rcar-gen3');
    expect(ipmmuCtxReg(g3, 1, IMCTR)).toBe(0x40);
    expect(ipmmuCtxReg(g3, 1, IMSTR)).toBe(0x60);
    expect(ipmmuUtlbReg(g3, imuctrOffset(2))).toBe(0x320);
    expect(ipmmuUtlbReg(g3, imuctrOffset(40))).toBe(0x680);
    expect(ipmmuUtlbReg(g3, imuasidOffset(40))).toBe(0x688);
    const g4 = ipmmuFeatures('rcar-gen4');
    // contexts above 7 move by 0x800 - 8 * 0x40 (ipmmu-vmsa.c:193-194)
    expect(ipmmuCtxReg(g4, 9, IMTTLBR0)).toBe(0x10000 + 0x600 + 9 * 0x1040 + 0x10);
    expect(ipmmuUtlbReg(g4, imuctrOffset(0))).toBe(0x3300);
    const g2 = ipmmuFeatures('rcar-gen2');
    expect(ipmmuCtxReg(g2, 0, IMCTR)).toBe(0x800);
    const w = world('rcar-gen4');
    w.mm.writeUint32(ipmmuCtxReg(g4, 9, IMTTLBR0), 0x1234_5000);
    expect(w.mm.reg('IMTTLBR0', 9)).toBe(0x1234_5000);
  });

  it('IMCTR.FLUSH reads back until the flush is done; the driver polls it', () => {
    const w = world('rcar-gen3', { flushLatencyNs: 2500 });
    const at = ipmmuCtxReg(w.f, CTX, IMCTR);
    w.mm.writeUint32(at, IMCTR_FLUSH | IMCTR_MMUEN);
    expect(w.mm.readUint32(at) & IMCTR_FLUSH).toBe(IMCTR_FLUSH);
    let polls = 0;
    while (w.mm.readUint32(at) & IMCTR_FLUSH) {
      w.clock.advance(1000);
      polls++;
    }
    expect(polls).toBeGreaterThan(0);
    expect(polls).toBeLessThanOrEqual(3);
    expect(w.mm.readUint32(at)).toBe(IMCTR_MMUEN);
  });

  it('an unknown offset is traced, not silently accepted', () => {
    const w = world();
    w.mm.writeUint32(0x3c, 1);
    expect(w.tracer.events.some((e) => e.type === 'mmio_unmapped' && e.data.offset === 0x3c)).toBe(true);
  });
});

describe('IPMMU faults and status', () => {
  it('a uTLB without MMUEN passes through; with it, a context without long descriptors faults TF with the IOVA latched', () => {
    const w = world();
    expect(w.sata.read(0x4800_1000, 4).pages[0]).toMatchObject({ phys: 0x4800_1000, via: 'bypass' });
    const ctx = (r: number) => ipmmuCtxReg(w.f, CTX, r);
    w.mm.writeUint32(ctx(IMCTR), IMCTR_INTEN | IMCTR_MMUEN);
    w.hc.writeUint32(ipmmuUtlbReg(w.f, imuctrOffset(UTLB)), (CTX << 4) | 1);
    const r = w.sata.read(0x8000_0040, 4);
    expect(r.status).toBe('fault');
    expect(w.mm.readUint32(ctx(IMSTR))).toBe(IMSTR_TF);
    expect(w.mm.readUint32(ctx(IMELAR))).toBe(0x8000_0040);
    expect(w.mm.readUint32(ctx(IMEUAR))).toBe(0);
    expect(w.irq.isAsserted(210)).toBe(true);
  });

  it('IMSTR clears by writing 0 (and takes the address with it); writing back the read value clears nothing', () => {
    const w = world();
    const ctx = (r: number) => ipmmuCtxReg(w.f, CTX, r);
    w.mm.writeUint32(ctx(IMCTR), IMCTR_INTEN | IMCTR_MMUEN);
    w.hc.writeUint32(ipmmuUtlbReg(w.f, imuctrOffset(UTLB)), (CTX << 4) | 1);
    w.sata.read(0x1000, 4);
    w.mm.writeUint32(ctx(IMSTR), w.mm.readUint32(ctx(IMSTR)));
    expect(w.mm.readUint32(ctx(IMSTR))).toBe(IMSTR_TF);
    expect(ipmmuIrq(w)).toEqual({ status: IMSTR_TF, iova: 0x1000 });
    expect(w.mm.readUint32(ctx(IMSTR))).toBe(0);
    expect(w.mm.readUint32(ctx(IMELAR))).toBe(0);
    expect(w.irq.isAsserted(210)).toBe(false);
  });

  it('without IMCTR.INTEN the fault is latched but the line stays low', () => {
    const w = world();
    const ctx = (r: number) => ipmmuCtxReg(w.f, CTX, r);
    w.mm.writeUint32(ctx(IMCTR), IMCTR_MMUEN);
    w.hc.writeUint32(ipmmuUtlbReg(w.f, imuctrOffset(UTLB)), (CTX << 4) | 1);
    w.sata.read(0x1000, 4);
    expect(w.mm.readUint32(ctx(IMSTR))).toBe(IMSTR_TF);
    expect(w.irq.isAsserted(210)).toBe(false);
  });

  it('power domain off: registers read 0 and the master gets a bus error', () => {
    const w = world();
    w.mm.setPower(false);
    expect(w.mm.readUint32(ipmmuCtxReg(w.f, CTX, IMCTR))).toBe(0);
    expect(w.sata.read(0x4800_0000, 4).status).toBe('bus-error');
  });
});

describe('IPMMU translation through arm-32-lpae-s1 tables', () => {
  // tables in the low bank; page above 4 GiB (oas 40)
  const PGD = 0x4810_0000, L2T = 0x4810_1000, L3T = 0x4810_2000, PAGE = 0x5_1234_5000;
  const IOVA = 0x4020_3000; // L1 index 1, L2 index 1, L3 index 3
  const w64 = (w: W, at: number, lo: number, hi: number) => {
    w.mem.write32(at, lo >>> 0);
    w.mem.write32(at + 4, hi >>> 0);
  };
  const table = (w: W, at: number, pa: number) => w64(w, at, (pa | 3) >>> 0, 0x8000_0000);
  const page = (w: W, at: number, pa: number, ro: boolean) =>
    w64(w, at, ((pa % 2 ** 32) | 0x800 | 0x400 | 0x200 | (ro ? 0x80 : 0) | 0x40 | 0x20 | 3) >>> 0, Math.floor(pa / 2 ** 32));

  function mapped(ro = false) {
    const w = world();
    table(w, PGD + 1 * 8, L2T);
    table(w, L2T + 1 * 8, L3T);
    page(w, L3T + 3 * 8, PAGE, ro);
    w.mem.writeBytes(PAGE + 0x80, new Uint8Array([5, 6, 7, 8]));
    setupContext(w, PGD);
    return w;
  }

  it('translates a mapped IOVA to the page above 4 GiB', () => {
    const w = mapped();
    const r = w.sata.read(IOVA + 0x80, 4);
    expect(r.status).toBe('ok');
    expect(r.pages[0].phys).toBe(PAGE + 0x80);
    expect(w.sata.check(new Uint8Array([5, 6, 7, 8])).ok).toBe(true);
  });

  it('an unmapped IOVA is a translation fault (TF), a write to a read-only page a permission fault (PF)', () => {
    const w = mapped(true);
    expect(w.sata.read(IOVA + 0x1000, 4).status).toBe('fault');
    expect(ipmmuIrq(w)).toEqual({ status: IMSTR_TF, iova: IOVA + 0x1000 });
    w.sata.load(new Uint8Array([1]));
    expect(w.sata.write(IOVA, 1).status).toBe('fault');
    expect(ipmmuIrq(w)).toEqual({ status: IMSTR_PF, iova: IOVA });
  });

  it('a table pointer into a hole aborts the walk (ABORT, "Page Table Walk Abort")', () => {
    const w = mapped();
    table(w, L2T + 2 * 8, 0x3_0000_0000);
    expect(w.sata.read(0x4040_0000, 4).status).toBe('bus-error');
    expect(ipmmuIrq(w)).toEqual({ status: IMSTR_ABORT, iova: 0x4040_0000 });
  });

  it('a changed PTE stays invisible until IMCTR.FLUSH', () => {
    const w = mapped();
    expect(w.sata.read(IOVA, 4).pages[0].phys).toBe(PAGE);
    page(w, L3T + 3 * 8, 0x4900_0000, false);
    expect(w.sata.read(IOVA, 4).pages[0]).toMatchObject({ phys: PAGE, via: 'tlb' });
    // ipmmu_tlb_invalidate: read IMCTR, set FLUSH, write to leaf and root
    const at = ipmmuCtxReg(w.f, CTX, IMCTR);
    const v = w.mm.readUint32(at) | IMCTR_FLUSH;
    w.hc.writeUint32(at, v);
    w.mm.writeUint32(at, v);
    expect(w.sata.read(IOVA, 4).pages[0]).toMatchObject({ phys: 0x4900_0000, via: 'walk' });
  });
});
