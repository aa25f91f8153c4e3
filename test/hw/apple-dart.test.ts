/**
 * Apple DART model driven through its registers as apple-dart.c (6.12) drives them, with page tables
 * encoded by hand from io-pgtable-dart.c:
 * - DART1 (t8103): table entry = PA & GENMASK(35,12) | valid; leaf = same address | subpage end 0xfff
 *   in bits 51:40 | SP_DIS (bit 1) | valid, NO_WRITE bit 7, NO_READ bit 8 (PD:45-63, 118-139, 147-166).
 * - DART2 (t6000, t8110): address field = (PA >> 4) & GENMASK(37,10); NO_READ bit 3, NO_WRITE bit 2.
 * - 16 KiB granule: L2 index iova[24:14], L1 index iova[35:25] (PD:168-186).
 * Register values from apple-dart.c:43-151 and the hw tables at :1203-1296.
 */
import { describe, expect, it } from 'vitest';
import { PhysMem } from '../../src/mem/phys-mem.js';
import { SimClock, Tracer } from '../../src/trace/events.js';
import { IrqController } from '../../src/hw/irq.js';
import { DmaMaster } from '../../src/hw/master.js';
import { AppleDart, dartVariant } from '../../src/hw/apple-dart.js';

const RAM = 0x8_0000_0000;
const L1 = RAM + 0x4000, L2 = RAM + 0x10000, PAGE = 0x8_1234_4000;
// L1 index 1, L2 index 1
const IOVA = 0x0200_4000;
const SID = 3;

function w64(mem: PhysMem, at: number, lo: number, hi: number) {
  mem.write32(at, lo >>> 0);
  mem.write32(at + 4, hi >>> 0);
}

function dart1Leaf(pa: number, noWrite = false, noRead = false): [number, number] {
  const lo = ((pa % 2 ** 32) & 0xfffff000) | (noRead ? 1 << 8 : 0) | (noWrite ? 1 << 7 : 0) | 2 | 1;
  const hi = (Math.floor(pa / 2 ** 32) & 0xf) | (0xfff << 8);
  return [lo >>> 0, hi >>> 0];
}
function dart1Table(pa: number): [number, number] {
  return [(((pa % 2 ** 32) & 0xfffff000) | 1) >>> 0, Math.floor(pa / 2 ** 32) & 0xf];
}
function dart2Field(pa: number): [number, number] {
  const f = Math.floor(pa / 16); // PA >> 4, then GENMASK(37,10)
  return [((f % 2 ** 32) & 0xfffffc00) >>> 0, Math.floor(f / 2 ** 32) & 0x3f];
}

function world(compat: string, overrides = {}) {
  const clock = new SimClock();
  const tracer = new Tracer(clock);
  const irq = new IrqController(clock, tracer);
  const mem = new PhysMem([{ base: RAM, size: 8 * 2 ** 30 }]);
  const dart = new AppleDart({ name: '382f00000.iommu', variant: dartVariant(compat, overrides), mem, clock, tracer, irq, irqs: [781] });
  const dev = new DmaMaster({ name: 'nvme', mem, busBits: 42, iommu: dart, stream: SID });
  return { clock, tracer, irq, mem, dart, dev };
}

/** What attach of a paging domain writes for one stream (apple-dart.c:557-680): TTBRs, TCR, invalidate. */
function attach(w: ReturnType<typeof world>, l1: number) {
  const d = w.dart;
  // reset: all streams enabled (apple-dart.c:461-462)
  d.writeUint32(d.variant.regs.enableStreams, 0xffffffff);
  d.writeUint32(d.ttbrOffset(SID, 0), d.ttbrValue(l1));
  for (let i = 1; i < d.variant.regs.ttbrCount; i++) d.writeUint32(d.ttbrOffset(SID, i), 0);
  d.writeUint32(d.tcrOffset(SID), d.variant.tcrBits.translate);
  invalidate(w);
}

function invalidate(w: ReturnType<typeof world>, sid = SID): number {
  const d = w.dart;
  if (d.variant.tlbProtocol === 'stream-select') {
    d.writeUint32(0x34, 1 << sid);
    d.writeUint32(0x20, 1 << 20);
    let polls = 1;
    while (d.readUint32(0x20) & (1 << 2)) {
      w.clock.advance(1000);
      polls++;
    }
    return polls;
  }
  d.writeUint32(0x80, (1 << 8) | sid);
  let polls = 1;
  while (d.readUint32(0x80) & 0x8000_0000) {
    w.clock.advance(1000);
    polls++;
  }
  return polls;
}

function t8103Tables(w: ReturnType<typeof world>, leaf = dart1Leaf(PAGE)) {
  const [tlo, thi] = dart1Table(L2);
  w64(w.mem, L1 + 1 * 8, tlo, thi);
  w64(w.mem, L2 + 1 * 8, leaf[0], leaf[1]);
  w.mem.writeBytes(PAGE, new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]));
}

describe('Apple DART t8103', () => {
  it('PARAMS1 reports 16 KiB pages, PARAMS2 bypass support; TTBR encoding is valid | PA >> 12', () => {
    const { dart } = world('apple,t8103-dart');
    expect(dart.readUint32(0x00)).toBe(0x0e00_0000);
    expect(1 << ((dart.readUint32(0x00) >>> 24) & 0xf)).toBe(0x4000);
    expect(dart.readUint32(0x04) & 1).toBe(1);
    expect(dart.ttbrValue(L1)).toBe(0x8080_0004);
    expect(dart.tcrOffset(SID)).toBe(0x10c);
    expect(dart.ttbrOffset(SID, 2)).toBe(0x200 + 4 * (4 * 3 + 2));
    const usb4 = world('apple,t8103-usb4-dart').dart;
    expect(usb4.readUint32(0x04) & 1).toBe(0);
    expect(usb4.ttbrOffset(0, 0)).toBe(0x400);
    // 64 streams: the reset's second STREAMS_ENABLE word (0xfc + 4, apple-dart.c:461-462) is TCR 0
    usb4.writeUint32(0xfc + 4, 0xffffffff);
    expect(usb4.readUint32(usb4.tcrOffset(0))).toBe(0xffffffff);
  });

  it('translates a mapped IOVA through TTBR0 -> L1 -> L2 and the device reads the CPU-written bytes', () => {
    const w = world('apple,t8103-dart');
    t8103Tables(w);
    attach(w, L1);
    const r = w.dev.read(IOVA, 8);
    expect(r.status).toBe('ok');
    expect(r.pages[0].phys).toBe(PAGE);
    expect(w.dev.check(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4])).ok).toBe(true);
  });

  it('faults latch status (flag | stream << 24 | code) and address, raise the IRQ, and clear by writing the status back', () => {
    const w = world('apple,t8103-dart');
    t8103Tables(w);
    attach(w, L1);
    const codes: number[] = [];
    const names: string[] = [];
    w.irq.connect(781, () => {
      const err = w.dart.readUint32(0x40);
      if (!(err & 0x8000_0000)) return 'none';
      const code = err & 0xfff;
      codes.push(err);
      names.push(`${AppleDart.faultName(w.dart.variant.errorFields.codes, code)} at 0x${(w.dart.readUint32(0x54) * 2 ** 32 + w.dart.readUint32(0x50)).toString(16)}`);
      w.dart.writeUint32(0x40, err);
      return 'handled';
    });
    // L1 entry 2 empty -> NO PMD
    expect(w.dev.read(0x0400_0000, 4).status).toBe('fault');
    expect(w.irq.isAsserted(781)).toBe(true);
    w.irq.deliver();
    expect(w.irq.isAsserted(781)).toBe(false);
    // L1 valid, L2 entry 2 empty -> NO PTE
    w.dev.read(IOVA + 0x4000, 4);
    w.irq.deliver();
    // a write to a NO_WRITE leaf -> WRITE FAULT
    t8103Tables(w, dart1Leaf(PAGE, true));
    invalidate(w);
    w.dev.load(new Uint8Array([1]));
    expect(w.dev.write(IOVA, 1).status).toBe('fault');
    w.irq.deliver();
    // a read of a NO_READ leaf -> READ FAULT
    t8103Tables(w, dart1Leaf(PAGE, false, true));
    invalidate(w);
    w.dev.read(IOVA, 1);
    w.irq.deliver();
    // no TTBR for this stream
    w.dart.writeUint32(w.dart.ttbrOffset(SID, 0), 0);
    invalidate(w);
    w.dev.read(IOVA, 1);
    w.irq.deliver();
    expect(codes).toEqual([0x8300_0002, 0x8300_0004, 0x8300_0008, 0x8300_0010, 0x8300_0001]);
    expect(names).toEqual([
      'NO PMD FOR IOVA at 0x4000000',
      'NO PTE FOR IOVA at 0x2008000',
      'WRITE FAULT at 0x2004000',
      'READ FAULT at 0x2004000',
      'NO TTBR FOR IOVA at 0x2004000',
    ]);
  });

  it('a two-bit code is "unknown" to the driver', () => {
    const c = dartVariant('apple,t8103-dart').errorFields.codes;
    expect(AppleDart.faultName(c, 0x6)).toBe('unknown');
  });

  it('keeps a stale translation until the stream is invalidated; invalidating another stream does not help', () => {
    const w = world('apple,t8103-dart');
    t8103Tables(w);
    attach(w, L1);
    expect(w.dev.read(IOVA, 4).pages[0].phys).toBe(PAGE);
    const other = RAM + 0x100_0000;
    t8103Tables(w, dart1Leaf(other));
    expect(w.dev.read(IOVA, 4).pages[0]).toMatchObject({ phys: PAGE, via: 'tlb' });
    invalidate(w, SID + 1);
    expect(w.dev.read(IOVA, 4).pages[0].phys).toBe(PAGE);
    invalidate(w, SID);
    expect(w.dev.read(IOVA, 4).pages[0]).toMatchObject({ phys: other, via: 'walk' });
  });

  it('the command BUSY bit stays set for the command latency, so the driver polls', () => {
    const w = world('apple,t8103-dart', { busyLatencyNs: 3500 });
    expect(invalidate(w)).toBeGreaterThan(1);
  });

  it('TCR bypass passes IOVAs through; a DART without bypass support, or TCR 0, blocks the stream', () => {
    const w = world('apple,t8103-dart');
    w.dart.writeUint32(0xfc, 0xffffffff);
    w.dart.writeUint32(w.dart.tcrOffset(SID), (1 << 8) | (1 << 12));
    expect(w.dev.read(RAM + 0x20, 4).pages[0]).toMatchObject({ phys: RAM + 0x20, via: 'bypass' });
    w.dart.writeUint32(w.dart.tcrOffset(SID), 0);
    expect(w.dev.read(RAM + 0x20, 4).status).toBe('blocked');
    const u = world('apple,t8103-usb4-dart');
    u.dart.writeUint32(0xfc, 0xffffffff);
    u.dart.writeUint32(u.dart.tcrOffset(SID), (1 << 8) | (1 << 12));
    expect(u.dev.read(RAM + 0x20, 4).status).toBe('blocked');
  });

  it('a DART locked by firmware ignores TTBR/TCR writes', () => {
    const w = world('apple,t8103-dart', { lockedAtBoot: true });
    expect(w.dart.readUint32(0x60) & (1 << 15)).toBe(1 << 15);
    w.dart.writeUint32(w.dart.tcrOffset(SID), 0x80);
    expect(w.dart.readUint32(w.dart.tcrOffset(SID))).toBe(0);
    w.dart.writeUint32(0x60, 0);
    expect(w.dart.readUint32(0x60) & (1 << 15)).toBe(1 << 15);
  });
});

describe('Apple DART t6000 (DART2 entries)', () => {
  it('translates with (PA >> 4) address fields and reports NO_WRITE as a write fault', () => {
    const w = world('apple,t6000-dart');
    const [tlo, thi] = dart2Field(L2);
    w64(w.mem, L1 + 8, tlo | 1, thi);
    const [plo, phi] = dart2Field(PAGE);
    // the sheet's worked example: PA 0x8_1234_4000 -> 0x000fff00_81234403
    expect([(plo | 3) >>> 0, phi | (0xfff << 8)]).toEqual([0x8123_4403, 0x000f_ff00]);
    w64(w.mem, L2 + 8, plo | 3, phi | (0xfff << 8));
    w.mem.writeBytes(PAGE + 0x100, new Uint8Array([7, 7, 7, 7]));
    attach(w, L1);
    const r = w.dev.read(IOVA + 0x100, 4);
    expect(r.status).toBe('ok');
    expect(w.dev.check(new Uint8Array([7, 7, 7, 7])).ok).toBe(true);
    w64(w.mem, L2 + 8, plo | 3 | (1 << 2), phi | (0xfff << 8));
    invalidate(w);
    w.dev.load(new Uint8Array([1]));
    expect(w.dev.write(IOVA, 1).status).toBe('fault');
    expect(w.dart.readUint32(0x40)).toBe(0x8300_0008);
  });
});

describe('Apple DART t8110 layout', () => {
  it('PARAMS3/4, one TTBR per stream with (PA >> 14) << 2 | valid, TCR bit 0, TLB_CMD flush by SID, stream in bits 27:20', () => {
    const w = world('apple,t8110-dart');
    const d = w.dart;
    expect((d.readUint32(0x08) >>> 24) & 0x3f).toBe(42);
    expect((d.readUint32(0x08) >>> 16) & 0x3f).toBe(32);
    expect(d.readUint32(0x0c) & 0x1ff).toBe(256);
    expect(d.ttbrValue(L1)).toBe((((L1 / 0x4000) * 4) | 1) >>> 0);
    const [tlo, thi] = dart2Field(L2);
    w64(w.mem, L1 + 8, tlo | 1, thi);
    const [plo, phi] = dart2Field(PAGE);
    w64(w.mem, L2 + 8, plo | 3, phi | (0xfff << 8));
    attach(w, L1);
    expect(d.readUint32(d.tcrOffset(SID))).toBe(1);
    expect(w.dev.read(IOVA, 4).pages[0].phys).toBe(PAGE);
    w.dev.read(0x0400_0000, 4);
    expect(d.readUint32(0x100)).toBe((0x8000_0000 | (SID << 20) | (1 << 2)) >>> 0);
  });
});
