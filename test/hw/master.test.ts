import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysMem } from '../../src/mem/phys-mem.js';
import { DmaMaster } from '../../src/hw/master.js';
import type { TranslationPort, Translation } from '../../src/hw/port.js';
import { DeviceView } from '../../src/mem/device-view.js';
import { IrqController } from '../../src/hw/irq.js';
import { RockchipIommu, rockchipVariant } from '../../src/hw/rockchip-iommu.js';
import { rkIrqInstance } from './helpers.js';

const G = 2 ** 30;
const mem = () => new PhysMem([{ base: 0, size: 2 * G }, { base: 0x1_0000_0000, size: 4 * G }]);

function pattern(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    a[i] = x >>> 24;
  }
  return a;
}

describe('DmaMaster without an IOMMU', () => {
  it('reads back exactly the bytes the CPU wrote (unaligned start, crossing pages)', () => {
    const m = mem();
    const data = pattern(10000, 7);
    m.writeBytes(0x1000_0ffd, data);
    const dev = new DmaMaster({ name: 'dma0', mem: m, busBits: 32 });
    const r = dev.read(0x1000_0ffd, data.length);
    expect(r.status).toBe('ok');
    expect(r.done).toBe(10000);
    expect(dev.check(data)).toEqual({ ok: true, length: 10000, mismatches: 0 });
    // pages: the first chunk stops at the page end
    expect(r.pages[0]).toEqual({ iova: 0x1000_0ffd, phys: 0x1000_0ffd, via: undefined });
    expect(r.pages[1].iova).toBe(0x1000_1000);
  });

  it('writes its buffer to memory, byte-exact around partial words', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8191 }), fc.integer({ min: 1, max: 300 }), (off, n) => {
        const m = mem();
        const before = pattern(9000, 3);
        m.writeBytes(0x2000_0000, before);
        const dev = new DmaMaster({ name: 'dma0', mem: m, busBits: 32 });
        const data = pattern(n, off + 11);
        dev.load(data);
        expect(dev.write(0x2000_0000 + off, n).status).toBe('ok');
        const after = m.readBytes(0x2000_0000, 9000)!;
        const want = before.slice();
        want.set(data.subarray(0, Math.min(n, 9000 - off)), off);
        // first differing byte, -1 when identical (a deep toEqual on 9000 bytes is slow)
        expect(after.findIndex((b, i) => b !== want[i])).toBe(-1);
      }),
      { numRuns: 25 },
    );
  });

  it('a 32-bit master cannot reach memory above 4 GiB: bus error, or the truncated alias', () => {
    const m = mem();
    m.writeBytes(0x1_0000_2000, new Uint8Array([1, 2, 3, 4]));
    m.writeBytes(0x0000_2000, new Uint8Array([9, 9, 9, 9]));
    const strict = new DmaMaster({ name: 'a', mem: m, busBits: 32 });
    const r = strict.read(0x1_0000_2000, 4);
    expect(r.status).toBe('bus-error');
    expect(r.done).toBe(0);
    const wrap = new DmaMaster({ name: 'b', mem: m, busBits: 32, beyond: 'truncate' });
    expect(wrap.read(0x1_0000_2000, 4).status).toBe('ok');
    expect(wrap.check(new Uint8Array([1, 2, 3, 4])).ok).toBe(false);
    expect(wrap.check(new Uint8Array([9, 9, 9, 9])).ok).toBe(true);
  });

  it('a read into a RAM hole stops with a bus error after the bytes before it', () => {
    const m = mem();
    const dev = new DmaMaster({ name: 'a', mem: m, busBits: 40 });
    const r = dev.read(2 * G - 8, 16);
    expect(r.status).toBe('bus-error');
    expect(r.done).toBe(8);
    expect(r.stoppedAt).toBe(2 * G);
  });

  it('stops at the first page its IOMMU refuses, reporting the IOMMU status', () => {
    const m = mem();
    const bus = new DeviceView(m, 40);
    const port: TranslationPort = {
      name: 'fake',
      translate(_s, iova): Translation {
        if (iova >= 0x3000) return { status: 'fault', phys: 0, span: 0, bus: undefined, detail: 'unmapped' };
        return { status: 'ok', phys: 0x1_0000_0000 + iova, span: 4096 - (iova % 4096), bus };
      },
    };
    m.writeBytes(0x1_0000_1000, pattern(8192, 5));
    const dev = new DmaMaster({ name: 'npu', mem: m, busBits: 32, iommu: port });
    const r = dev.read(0x1000, 0x3000);
    expect(r.status).toBe('fault');
    expect(r.done).toBe(0x2000);
    expect(r.stoppedAt).toBe(0x3000);
    expect(dev.check(pattern(8192, 5)).ok).toBe(true);
  });
});

describe('DmaMaster completion interrupt', () => {
  it('stays asserted until acknowledged; a handler on that line that is not the owner cannot stop it (storm)', () => {
    const m = mem();
    const irq = new IrqController(undefined, undefined, { stormThreshold: 100 });
    // the IOMMU really drives SPI 150, but its DT node says 151 (the NPU's line)
    const iommu = new RockchipIommu({ name: 'fde4b000.iommu', variant: rockchipVariant('v2'), mem: m, irq, irqs: [150] });
    const npu = new DmaMaster({ name: 'npu', mem: m, busBits: 32, iommu, irq: { controller: irq, line: 151 } });
    irq.connect(151, () => (rkIrqInstance(iommu.window(0)).handled ? 'handled' : 'none'), 'rk_iommu');
    npu.read(0x1000, 16); // paging off: passes through, completes, raises its interrupt
    expect(npu.interruptPending).toBe(true);
    const r = irq.deliver();
    expect(r.storms).toEqual([151]);
    expect(irq.assertedBy(151)).toEqual(['npu']);
    // with the NPU's own driver acknowledging, no storm
    const irq2 = new IrqController(undefined, undefined, { stormThreshold: 100 });
    const npu2 = new DmaMaster({ name: 'npu', mem: m, busBits: 32, irq: { controller: irq2, line: 151 } });
    irq2.connect(151, () => (npu2.interruptPending ? (npu2.ackInterrupt(), 'handled') : 'none'));
    npu2.read(0x1000, 16);
    expect(irq2.deliver()).toEqual({ delivered: 1, storms: [] });
  });
});
