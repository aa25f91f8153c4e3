/**
 * The Rockchip IOMMU driver model on a booted kernel (rk3568 board, real .dtb), checked at the register
 * and message level against drivers/iommu/rockchip-iommu.c (6.12). Expected values are worked out here
 * from the kernel source, with our own small encoders:
 *   rk_mk_dte      = (dma & 0xfffff000) | 1                                   (rockchip-iommu.c:225-228)
 *   rk_mk_dte_v2   = dma[31:12] | dma[35:32] << 8 | dma[39:36] << 4 | 1      (rockchip-iommu.c:230-237)
 *   rk_mk_pte_v2   = rk_mk_dte_v2(page) | R << 1 | W << 2                      (rockchip-iommu.c:291-299)
 *   iova = DTE index 31:22 | PTE index 21:12 | offset 11:0                   (rockchip-iommu.c:305-336)
 * and the register sequences of rk_iommu_enable / rk_iommu_disable (rockchip-iommu.c:924-980) with the
 * polls of rk_iommu_enable_stall & co. (rockchip-iommu.c:412-543). The hardware model completes commands
 * at once, so each poll is satisfied by its first read.
 */
import { describe, expect, it, vi } from 'vitest';
import { loadBoard } from '../../../src/board/profiles.js';
import type { NodeAddition } from '../../../src/board/from-dtb.js';
import { PhysMem } from '../../../src/mem/phys-mem.js';
import { SimClock, Tracer } from '../../../src/trace/events.js';
import { Kernel, type LinuxDevice } from '../../../src/linux/kernel.js';
import { getPreset, withOverrides } from '../../../src/linux/presets.js';
import type { IommuDomain } from '../../../src/linux/iommu/core.js';
import * as GFP from '../../../src/linux/mm/gfp.js';
import { traceMmio, writes, type Access } from './mmio-trace.js';

const G4 = 2 ** 32;

// ---- expected values, from the kernel's macros ----------------------------------------------------

function mkDteV1(dma: number): number {
  return ((dma % G4 & 0xfffff000) | 1) >>> 0;
}
function mkDteV2(dma: number): number {
  const lo = dma % G4 & 0xfffff000;
  const b35 = Math.floor(dma / G4) & 0xf;
  const b39 = Math.floor(dma / 2 ** 36) & 0xf;
  return (lo | (b35 << 8) | (b39 << 4) | 1) >>> 0;
}
/** rk_dte_pt_address_v2 (rockchip-iommu.c:209-218): 31:12, 11:8 -> 35:32, 7:4 -> 39:36. */
function ptAddressV2(e: number): number {
  return (e & 0xfffff000) + ((e >>> 8) & 0xf) * G4 + ((e >>> 4) & 0xf) * 2 ** 36;
}
function mkPteV2(page: number, read: boolean, write: boolean): number {
  return (mkDteV2(page) | (read ? 2 : 0) | (write ? 4 : 0)) >>> 0;
}
/** vsprintf: `%pad`/`%pa` on arm64 = "0x" + 16 digits; `%#0Nx` = "0x" counted in the width, even for 0. */
const pad = (v: number) => '0x' + v.toString(16).padStart(16, '0');
const alt = (v: number, width: number) => '0x' + v.toString(16).padStart(Math.max(0, width - 2), '0');

// Register offsets (rockchip-iommu.c:32-41) and commands (58-64).
const DTE_ADDR = 0x00;
const STATUS = 0x04;
const COMMAND = 0x08;
const ZAP_ONE_LINE = 0x10;
const INT_MASK = 0x1c;
const AUTO_GATING = 0x24;

// ---- a booted kernel with a tracing MMIO bus --------------------------------------------------------

function boot(opts: { ram?: string; preset?: string; config?: Record<string, unknown>; add?: NodeAddition[]; beyond?: 'bus-error' | 'truncate' } = {}) {
  const board = loadBoard({ profile: 'rk3568', ram: opts.ram ?? '8G', ...(opts.add ? { add: opts.add } : {}) });
  const mem = new PhysMem(board.ram);
  const tracer = new Tracer(new SimClock());
  const preset = withOverrides(getPreset(opts.preset ?? 'v6.12'), opts.config);
  const k = new Kernel({ board, mem, tracer, preset, cmdline: new Map(), pageSize: 4096, seed: 1, ...(opts.beyond ? { rockchipBeyondDteBase: opts.beyond } : {}) });
  const mmio = traceMmio(k.bus);
  const probeIommus = () => {
    for (const bi of board.iommus.filter((i) => i.enabled)) k.probeIommu(bi);
  };
  const probeMaster = (name: string) => k.probeMaster(board.masters.find((m) => m.name === name)!);
  const dev = (name: string) => k.device(name) as LinuxDevice;
  const rk = (name: string) => k.rockchip.iommus.find((i) => i.dev.name === name)!;
  return { k, tracer, mmio, board, probeIommus, probeMaster, dev, rk };
}

function dtOf(dom: IommuDomain): { dtPhys: number; dtDma: number } {
  return dom.priv as { dtPhys: number; dtDma: number };
}

const logText = (t: Tracer) => t.log.map((l) => l.text);
const w = (base: number, reg: number, value: number): Access => ({ op: 'W', addr: base + reg, value: value >>> 0 });

const NPU_MMU = 0xfde4b000;
const VOP_MMU0 = 0xfe043e00;
const VOP_MMU1 = 0xfe043f00;

describe('rk_iommu_enable / rk_iommu_disable register sequences', () => {
  it('attach of the NPU master programs the DT of its default domain: stall, force reset, DTE_ADDR, zap, IRQ mask, gating, paging', () => {
    const s = boot();
    s.probeIommus();
    s.mmio.length = 0;
    s.probeMaster('fde40000.npu');
    const dom = s.dev('fde40000.npu').iommuGroup!.defaultDomain!;
    const { dtPhys, dtDma } = dtOf(dom);
    // 6.12 v2 ops: gfp 0, so the DT comes from ZONE_NORMAL above 4 GiB on an 8 GiB board; the 40-bit
    // dma_dev maps it without bouncing.
    expect(dtPhys).toBeGreaterThanOrEqual(G4);
    expect(dtDma).toBe(dtPhys);
    const B = NPU_MMU;
    expect(s.mmio.filter((a) => a.addr >= B && a.addr < B + 0x40)).toEqual([
      // enable_stall: not stalled, paging off -> nothing to do (rockchip-iommu.c:416-421)
      { op: 'R', addr: B + STATUS, value: expect.any(Number) },
      { op: 'R', addr: B + STATUS, value: expect.any(Number) },
      // force_reset: the dummy through pt_address into a u32 is 0xcafeb000, read back, then the command
      w(B, DTE_ADDR, 0xcafeb000),
      { op: 'R', addr: B + DTE_ADDR, value: 0xcafeb000 },
      w(B, COMMAND, 6),
      { op: 'R', addr: B + DTE_ADDR, value: 0 },
      // the DT address as an encoded v2 DTE, zap, IRQ mask, DISABLE_FETCH_DTE_TIME_LIMIT
      w(B, DTE_ADDR, mkDteV2(dtDma)),
      w(B, COMMAND, 4),
      w(B, INT_MASK, 3),
      { op: 'R', addr: B + AUTO_GATING, value: 0 },
      w(B, AUTO_GATING, 0x80000000),
      // enable_paging: check, command, poll
      { op: 'R', addr: B + STATUS, value: expect.any(Number) },
      w(B, COMMAND, 0),
      { op: 'R', addr: B + STATUS, value: expect.any(Number) },
      // disable_stall: not stalled
      { op: 'R', addr: B + STATUS, value: expect.any(Number) },
    ]);
  });

  it('a two-instance IOMMU (VOP) reads every instance in each status check and programs both', () => {
    const s = boot();
    s.probeIommus();
    s.mmio.length = 0;
    s.probeMaster('fe040000.vop');
    const { dtDma } = dtOf(s.dev('fe040000.vop').iommuGroup!.defaultDomain!);
    const r = (addr: number) => ({ op: 'R', addr, value: expect.any(Number) });
    expect(s.mmio.filter((a) => a.addr >= VOP_MMU0 && a.addr < VOP_MMU1 + 0x100)).toEqual([
      r(VOP_MMU0 + STATUS), // is_stall_active: `active &=` over both (rockchip-iommu.c:377-387)
      r(VOP_MMU1 + STATUS),
      r(VOP_MMU0 + STATUS), // is_paging_enabled
      r(VOP_MMU1 + STATUS),
      w(VOP_MMU0, DTE_ADDR, 0xcafeb000),
      r(VOP_MMU0 + DTE_ADDR),
      w(VOP_MMU1, DTE_ADDR, 0xcafeb000),
      r(VOP_MMU1 + DTE_ADDR),
      w(VOP_MMU0, COMMAND, 6), // rk_iommu_command: every instance
      w(VOP_MMU1, COMMAND, 6),
      r(VOP_MMU0 + DTE_ADDR), // is_reset_done
      r(VOP_MMU1 + DTE_ADDR),
      w(VOP_MMU0, DTE_ADDR, mkDteV2(dtDma)),
      w(VOP_MMU0, COMMAND, 4),
      w(VOP_MMU0, INT_MASK, 3),
      r(VOP_MMU0 + AUTO_GATING),
      w(VOP_MMU0, AUTO_GATING, 0x80000000),
      w(VOP_MMU1, DTE_ADDR, mkDteV2(dtDma)),
      w(VOP_MMU1, COMMAND, 4),
      w(VOP_MMU1, INT_MASK, 3),
      r(VOP_MMU1 + AUTO_GATING),
      w(VOP_MMU1, AUTO_GATING, 0x80000000),
      r(VOP_MMU0 + STATUS),
      r(VOP_MMU1 + STATUS),
      w(VOP_MMU0, COMMAND, 0),
      w(VOP_MMU1, COMMAND, 0),
      r(VOP_MMU0 + STATUS),
      r(VOP_MMU1 + STATUS),
      r(VOP_MMU0 + STATUS),
      r(VOP_MMU1 + STATUS),
    ]);
  });

  it('moving a live master to another domain disables (stall, paging off, mask 0, DTE_ADDR 0, unstall) then enables', () => {
    const s = boot();
    s.probeIommus();
    s.probeMaster('fde40000.npu');
    const npu = s.dev('fde40000.npu');
    const d2 = s.k.core.domainAlloc(npu, 'unmanaged')!;
    s.mmio.length = 0;
    expect(s.k.core.attachDevice(d2, npu)).toBe(0);
    const B = NPU_MMU;
    expect(writes(s.mmio)).toEqual([
      w(B, COMMAND, 2), // enable_stall (paging is on now)
      w(B, COMMAND, 1), // disable_paging
      w(B, INT_MASK, 0),
      w(B, DTE_ADDR, 0),
      w(B, COMMAND, 3), // disable_stall
      w(B, DTE_ADDR, 0xcafeb000), // rk_iommu_enable for the new domain
      w(B, COMMAND, 6),
      w(B, DTE_ADDR, mkDteV2(dtOf(d2).dtDma)),
      w(B, COMMAND, 4),
      w(B, INT_MASK, 3),
      w(B, AUTO_GATING, 0x80000000),
      w(B, COMMAND, 0),
    ]);
    expect(s.rk('fde4b000.iommu').domain).toBe(d2);
  });
});

describe('a stall request that times out', () => {
  it('rk_iommu_enable returns -ETIMEDOUT after the poll and skips disable_stall (vanilla 6.12: no stale-fault ack)', () => {
    const s = boot({ config: { rockchipStallAcksStaleFault: false } });
    // The fault IRQ goes nowhere, so the fault stays pending (PAGE_FAULT_ACTIVE) with paging on.
    s.k.irqOverride.set('fde4b000.iommu', 999);
    s.k.probeAll();
    s.k.deviceTransfer('fde40000.npu', 'read', 0x10000000, 64);
    const iommu = s.rk('fde4b000.iommu');
    s.mmio.length = 0;
    const before = s.tracer.log.length;
    const t0 = s.k.clock.ns;
    expect(s.k.rockchip.enable(iommu)).toBe(-110);
    // one command, no DISABLE_STALL (goto out_disable_clocks)
    expect(writes(s.mmio)).toEqual([w(NPU_MMU, COMMAND, 2)]);
    // readx_poll_timeout(100 us, 1000 us): polled until more than 1 ms passed, then one last read
    expect((s.k.clock.ns - t0) / 1000).toBeGreaterThan(1000);
    const last = s.mmio.filter((a) => a.op === 'R' && a.addr === NPU_MMU + STATUS).at(-1)!;
    expect(last.value & 0x7).toBe(0x3); // paging enabled, page fault active, not stalled
    expect(logText(s.tracer).slice(before)).toEqual([`rk_iommu fde4b000.iommu: Enable stall request timed out, status: ${alt(last.value, 8)}`]);
    // After the command: reads at 0, ~100 us, ... until elapsed > 1000 us (the 11th read, each sleep is
    // 100 us plus 100 ns per model access), one more read, then the message's read; nothing after it
    // (disable_stall would read STATUS once more).
    const afterCmd = s.mmio.slice(s.mmio.findIndex((a) => a.op === 'W') + 1);
    expect(afterCmd.every((a) => a.op === 'R' && a.addr === NPU_MMU + STATUS)).toBe(true);
    expect(afterCmd.length).toBe(11 + 1 + 1);
  });
});

describe('DTE_ADDR: the DT address through the row entry encoder', () => {
  it('v2 entries with the DT above 4 GiB pack bits 35:32 into 11:8 (6.12 rk3568 row)', () => {
    const s = boot();
    s.k.probeAll();
    const { dtDma } = dtOf(s.dev('fde40000.npu').iommuGroup!.defaultDomain!);
    expect(dtDma).toBeGreaterThanOrEqual(G4);
    const v = writes(s.mmio).filter((a) => a.addr === NPU_MMU + DTE_ADDR && a.value !== 0 && a.value !== 0xcafeb000);
    expect(v.map((a) => a.value)).toEqual([mkDteV2(dtDma)]);
    // bits 11:8 carry the address above 4 GiB, so the value differs from the plain low word | 1
    expect(v[0].value).not.toBe(mkDteV1(dtDma));
  });

  it('v2 entries with GFP_DMA32 (2a7e6400 reverted) put the DT below 4 GiB: no high bits', () => {
    const s = boot({ preset: 'v6.12-revert-2a7e6400' });
    s.k.probeAll();
    const { dtDma, dtPhys } = dtOf(s.dev('fde40000.npu').iommuGroup!.defaultDomain!);
    expect(dtPhys).toBeLessThan(G4);
    const v = writes(s.mmio).find((a) => a.addr === NPU_MMU + DTE_ADDR && a.value !== 0 && a.value !== 0xcafeb000)!;
    expect(v.value).toBe(mkDteV2(dtDma));
    expect(v.value).toBe(((dtDma & 0xfffff000) | 1) >>> 0);
  });

  it('v1 entries (rockchip,iommu row: GFP_DMA32, 32-bit mask) keep a DT below 4 GiB as address | 1', () => {
    const s = boot({ config: { rockchipMatch: { 'rockchip,rk3568-iommu': { entries: 'v1', dmaBits: 32, gfpFlags: 'GFP_DMA32' } } } });
    s.k.probeAll();
    const { dtDma } = dtOf(s.dev('fde40000.npu').iommuGroup!.defaultDomain!);
    expect(dtDma).toBeLessThan(G4);
    const v = writes(s.mmio).find((a) => a.addr === NPU_MMU + DTE_ADDR && a.value !== 0 && a.value !== 0xcafeb000)!;
    expect(v.value).toBe(mkDteV1(dtDma));
  });

  it('v1 entries with a DT above 4 GiB lose the high bits (RK_DTE_PT_ADDRESS_MASK is 32-bit)', () => {
    const s = boot({ config: { rockchipMatch: { 'rockchip,rk3568-iommu': { entries: 'v1', dmaBits: 40, gfpFlags: '' } } } });
    s.k.probeAll();
    const { dtDma } = dtOf(s.dev('fde40000.npu').iommuGroup!.defaultDomain!);
    expect(dtDma).toBeGreaterThanOrEqual(G4);
    const v = writes(s.mmio).find((a) => a.addr === NPU_MMU + DTE_ADDR && a.value !== 0 && a.value !== 0xcafeb000)!;
    expect(v.value).toBe(((dtDma - Math.floor(dtDma / G4) * G4) | 1) >>> 0);
  });
});

describe('map / unmap: PTEs, table flushes through the global dma_dev, zaps', () => {
  function mapped() {
    const s = boot();
    s.k.probeAll();
    const npu = s.dev('fde40000.npu');
    const dom = npu.iommuGroup!.defaultDomain!;
    const syncs: { dev: string; dma: number; size: number; dir: string }[] = [];
    vi.spyOn(s.k, 'dmaSyncSingleForDevice').mockImplementation((d, dma, size, dir) => {
      syncs.push({ dev: d.name, dma, size, dir });
    });
    s.mmio.length = 0;
    return { s, dom, syncs };
  }

  it('a 12 KiB map: one PT allocated (DTE flushed), 2+1 PTEs by pgsize, each run flushed, first/last zapped', () => {
    const { s, dom, syncs } = mapped();
    const iova = 0x10000000;
    const pa = 0x123456000; // above 4 GiB: the v2 PTE packs bit 32 into bit 8
    expect(s.k.core.map(dom, iova, pa, 0x3000, 3, GFP.GFP_KERNEL)).toBe(0);
    const { dtPhys, dtDma } = dtOf(dom);
    const dteIndex = iova >>> 22; // 0x40
    const dte = s.k.mem.read32(dtPhys + dteIndex * 4);
    expect(dte & 1).toBe(1);
    const pt = ptAddressV2(dte);
    expect(s.k.mem.read32(pt)).toBe(mkPteV2(pa, true, true));
    expect(s.k.mem.read32(pt + 4)).toBe(mkPteV2(pa + 0x1000, true, true));
    expect(s.k.mem.read32(pt + 8)).toBe(mkPteV2(pa + 0x2000, true, true));
    expect(s.k.mem.read32(pt + 12)).toBe(0);
    expect(mkPteV2(pa, true, true)).toBe(0x23456107);
    // Every flush goes through dma_dev = the first Rockchip IOMMU probed (fdea0800.iommu), DMA_TO_DEVICE:
    // the DTE (4 bytes), then the 8 KiB run (2 PTEs) and the 4 KiB run (1 PTE) iommu_pgsize cut.
    expect(syncs).toEqual([
      { dev: 'fdea0800.iommu', dma: dtDma + dteIndex * 4, size: 4, dir: 'to-device' },
      { dev: 'fdea0800.iommu', dma: pt, size: 8, dir: 'to-device' },
      { dev: 'fdea0800.iommu', dma: pt + 8, size: 4, dir: 'to-device' },
    ]);
    // zap first and last IOVA of each map_pages call, on the attached NPU IOMMU only
    expect(writes(s.mmio)).toEqual([w(NPU_MMU, ZAP_ONE_LINE, iova), w(NPU_MMU, ZAP_ONE_LINE, iova + 0x1000), w(NPU_MMU, ZAP_ONE_LINE, iova + 0x2000)]);
    expect(s.k.core.iovaToPhys(dom, iova + 0x2abc)).toBe(pa + 0x2abc);
  });

  it('remapping a live IOVA: the run written so far is invalidated and flushed, pr_err without prefix, -EADDRINUSE', () => {
    const { s, dom, syncs } = mapped();
    const A = 0x40000000;
    const B = 0x50000000;
    expect(s.k.core.map(dom, 0x10001000, A, 0x1000, 1, GFP.GFP_KERNEL)).toBe(0);
    syncs.length = 0;
    const before = s.tracer.log.length;
    // 8 KiB at 0x10000000: one 8K map_pages call; PTE 0 is written, PTE 1 is valid -> unwind
    expect(s.k.core.map(dom, 0x10000000, B, 0x2000, 3, GFP.GFP_KERNEL)).toBe(-98);
    expect(logText(s.tracer).slice(before)).toEqual([`iova: ${pad(0x10001000)} already mapped to ${pad(A)} cannot remap to phys: ${pad(B + 0x1000)} prot: 0x3`]);
    const { dtPhys } = dtOf(dom);
    const dte = s.k.mem.read32(dtPhys + 0x40 * 4);
    const pt = ptAddressV2(dte);
    // rk_mk_pte_invalid clears only the valid bit; the old mapping at PTE 1 is untouched
    expect(s.k.mem.read32(pt)).toBe((mkPteV2(B, true, true) & ~1) >>> 0);
    expect(s.k.mem.read32(pt + 4)).toBe(mkPteV2(A, true, false)); // mapped with IOMMU_READ only
    expect(syncs).toEqual([{ dev: 'fdea0800.iommu', dma: pt, size: 4, dir: 'to-device' }]);
    expect(s.k.core.iovaToPhys(dom, 0x10000000)).toBe(0);
    expect(s.k.core.iovaToPhys(dom, 0x10001000)).toBe(A);
  });

  it('unmap stops at the first invalid PTE: the core sees a short count and stops too', () => {
    const { s, dom, syncs } = mapped();
    const pa = 0x60000000;
    expect(s.k.core.map(dom, 0x10000000, pa, 0x1000, 3, GFP.GFP_KERNEL)).toBe(0);
    expect(s.k.core.map(dom, 0x10002000, pa + 0x2000, 0x1000, 3, GFP.GFP_KERNEL)).toBe(0);
    syncs.length = 0;
    s.mmio.length = 0;
    // iommu_pgsize(0x10000000, 12K) = one 8K page: the driver clears PTE 0, meets the hole at PTE 1,
    // returns 4K; the core retries at 0x10001000 with 4K x2, the driver returns 0, the core gives up.
    expect(s.k.core.unmap(dom, 0x10000000, 0x3000)).toBe(0x1000);
    const pt = ptAddressV2(s.k.mem.read32(dtOf(dom).dtPhys + 0x40 * 4));
    expect(syncs).toEqual([
      { dev: 'fdea0800.iommu', dma: pt, size: 4, dir: 'to-device' },
      { dev: 'fdea0800.iommu', dma: pt + 4, size: 0, dir: 'to-device' },
    ]);
    expect(writes(s.mmio)).toEqual([w(NPU_MMU, ZAP_ONE_LINE, 0x10000000)]);
    expect(s.k.core.iovaToPhys(dom, 0x10000000)).toBe(0);
    expect(s.k.core.iovaToPhys(dom, 0x10002000)).toBe(pa + 0x2000);
  });

  it('unmap of an IOVA whose DTE is invalid returns 0 without touching anything', () => {
    const { s, dom, syncs } = mapped();
    expect(s.k.core.unmap(dom, 0x20000000, 0x1000)).toBe(0);
    expect(syncs).toEqual([]);
    expect(s.mmio).toEqual([]);
  });
});

describe('rk_iommu_irq log lines', () => {
  it('a page fault on a v2 block prints the three lines of rk_iommu_irq + log_iova with kernel printf rules', () => {
    const s = boot();
    s.k.probeAll();
    const vop = s.dev('fe040000.vop');
    const dom = vop.iommuGroup!.defaultDomain!;
    expect(s.k.core.map(dom, 0x10000000, 0x70000000, 0x3000, 3, GFP.GFP_KERNEL)).toBe(0);
    const before = s.tracer.log.length;
    const res = s.k.deviceTransfer('fe040000.vop', 'read', 0x10003000, 64);
    expect(res.status).not.toBe('ok');
    const { dtPhys } = dtOf(dom);
    expect(dtPhys).toBeGreaterThanOrEqual(G4);
    const dte = s.k.mem.read32(dtPhys + 0x40 * 4);
    const pt = ptAddressV2(dte);
    const p = 'rk_iommu fe043e00.iommu: ';
    expect(logText(s.tracer).slice(before)).toEqual([
      `${p}Page fault at ${pad(0x10003000)} of type read`,
      `${p}iova = ${pad(0x10003000)}: dte_index: 0x40 pte_index: 0x3 page_offset: 0x0`,
      `${p}mmu_dte_addr: ${pad(dtPhys)} dte@${pad(dtPhys + 0x100)}: ${alt(dte, 8)} valid: 1 pte@${pad(pt + 12)}: 0x000000 valid: 0 page@${pad(0)} flags: 0x0`,
    ]);
  });

  it('a v1.0 block (NPU) whose DT lies above 4 GiB, modelled as a bus error, reports BUS_ERROR at the IOVA', () => {
    const s = boot({ beyond: 'bus-error' });
    s.k.probeAll();
    const dom = s.dev('fde40000.npu').iommuGroup!.defaultDomain!;
    expect(dtOf(dom).dtPhys).toBeGreaterThanOrEqual(G4);
    expect(s.k.core.map(dom, 0x10000000, 0x70000000, 0x1000, 3, GFP.GFP_KERNEL)).toBe(0);
    const before = s.tracer.log.length;
    s.k.deviceTransfer('fde40000.npu', 'read', 0x10000000, 64);
    expect(logText(s.tracer).slice(before)).toEqual([`rk_iommu fde4b000.iommu: BUS_ERROR occurred at ${pad(0x10000000)}`]);
  });

  it('the same block modelled as truncating the DT base: log_iova walks the real DT and shows a valid PTE for the faulting IOVA', () => {
    const s = boot({ beyond: 'truncate' });
    s.k.probeAll();
    const dom = s.dev('fde40000.npu').iommuGroup!.defaultDomain!;
    const { dtPhys } = dtOf(dom);
    expect(dtPhys).toBeGreaterThanOrEqual(G4);
    expect(s.k.core.map(dom, 0x10000000, 0x70000000, 0x1000, 3, GFP.GFP_KERNEL)).toBe(0);
    const before = s.tracer.log.length;
    s.k.deviceTransfer('fde40000.npu', 'read', 0x10000000, 64);
    const dte = s.k.mem.read32(dtPhys + 0x100);
    const pt = ptAddressV2(dte);
    const p = 'rk_iommu fde4b000.iommu: ';
    // The driver decodes DTE_ADDR with the v2 layout and reads the table through the linear map, so the
    // line shows the mapping the hardware (reading the alias below 4 GiB) did not find: flags = pte & 0x1fe.
    expect(logText(s.tracer).slice(before)).toEqual([
      `${p}Page fault at ${pad(0x10000000)} of type read`,
      `${p}iova = ${pad(0x10000000)}: dte_index: 0x40 pte_index: 0x0 page_offset: 0x0`,
      `${p}mmu_dte_addr: ${pad(dtPhys)} dte@${pad(dtPhys + 0x100)}: ${alt(dte, 8)} valid: 1 pte@${pad(pt)}: ${alt(mkPteV2(0x70000000, true, true), 8)} valid: 1 page@${pad(0x70000000)} flags: 0x6`,
    ]);
  });
});

describe('ops rows: the global rk_ops and per-device ops', () => {
  const npuV1: NodeAddition[] = [{ path: '/iommu@fde4b000', props: { compatible: 'rockchip,rk3568-iommu-v1' } }];

  it('one global rk_ops: a second row on the same SoC WARNs at rockchip-iommu.c:1229 and fails probe -EINVAL', () => {
    const s = boot({ preset: 'v6.12+rk3568-iommu-v1-global-ops', add: npuV1 });
    s.k.probeAll();
    const log = logText(s.tracer);
    expect(log).toContain('WARNING: CPU: 0 PID: 1 at drivers/iommu/rockchip-iommu.c:1229 rk_iommu_probe+0x0/0x0');
    expect(log.some((l) => l.startsWith('rk_iommu fde4b000.iommu: probe with driver rk_iommu failed with error -22'))).toBe(true);
    expect(s.dev('fde40000.npu').iommuGroup).toBeUndefined();
    // the other three (v2 row) probed and the first of them is dma_dev
    expect(s.k.rockchip.iommus.map((i) => i.dev.name)).toEqual(['fdea0800.iommu', 'fdee0800.iommu', 'fe043e00.iommu']);
    expect(s.k.rockchip.dmaDev?.name).toBe('fdea0800.iommu');
  });

  it('per-device ops: the v1.0 row gives the NPU its DT below 4 GiB while VOP keeps 6.12 tables; tables still map through dma_dev', () => {
    const s = boot({ preset: 'v6.12+rk3568-iommu-v1', add: npuV1 });
    const sync = vi.spyOn(s.k, 'dmaMapSingle');
    s.k.probeAll();
    expect(logText(s.tracer).some((l) => l.includes('WARNING'))).toBe(false);
    const npuDt = dtOf(s.dev('fde40000.npu').iommuGroup!.defaultDomain!);
    const vopDt = dtOf(s.dev('fe040000.vop').iommuGroup!.defaultDomain!);
    expect(npuDt.dtPhys).toBeLessThan(G4); // GFP_DMA32
    expect(vopDt.dtPhys).toBeGreaterThanOrEqual(G4); // gfp 0
    expect(s.rk('fde4b000.iommu').row.gfpFlags).toBe('GFP_DMA32');
    expect(s.rk('fe043e00.iommu').row.gfpFlags).toBe('');
    for (const c of sync.mock.calls) expect(c[0].name).toBe('fdea0800.iommu');
    const npuReg = writes(s.mmio).find((a) => a.addr === NPU_MMU + DTE_ADDR && a.value !== 0 && a.value !== 0xcafeb000)!;
    expect(npuReg.value).toBe(mkDteV2(npuDt.dtDma));
  });
});

describe('domain free', () => {
  it('frees every PT through its DTE value and the DT, unmapping each on dma_dev', () => {
    const s = boot();
    s.k.probeAll();
    const npu = s.dev('fde40000.npu');
    const d2 = s.k.core.domainAlloc(npu, 'unmanaged')!;
    expect(s.k.core.map(d2, 0x10000000, 0x70000000, 0x1000, 3, GFP.GFP_KERNEL)).toBe(0);
    expect(s.k.core.map(d2, 0x20000000, 0x70000000, 0x1000, 3, GFP.GFP_KERNEL)).toBe(0);
    const { dtPhys, dtDma } = dtOf(d2);
    const pt1 = s.k.mem.read32(dtPhys + 0x40 * 4);
    const pt2 = s.k.mem.read32(dtPhys + 0x80 * 4);
    const unmaps = vi.spyOn(s.k, 'dmaUnmapSingle');
    const frees = vi.spyOn(s.k, 'iommuFreePage');
    s.k.core.domainFree(d2);
    const dec = ptAddressV2;
    expect(unmaps.mock.calls.map((c) => [c[0].name, c[1], c[2]])).toEqual([
      ['fdea0800.iommu', dec(pt1), 4096],
      ['fdea0800.iommu', dec(pt2), 4096],
      ['fdea0800.iommu', dtDma, 4096],
    ]);
    expect(frees.mock.calls.map((c) => c[0])).toEqual([dec(pt1), dec(pt2), dtPhys]);
    // detached domain: no WARN_ON(!list_empty(&rk_domain->iommus))
    expect(logText(s.tracer).some((l) => l.includes('rockchip-iommu.c:1121'))).toBe(false);
  });
});
