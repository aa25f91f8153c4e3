/**
 * The Renesas IPMMU-VMSA driver model on a booted kernel (Salvator-X, r8a77951 .dtb), checked at the
 * register and message level against drivers/iommu/ipmmu-vmsa.c (6.12) and the 4.20-rc1 failure path of
 * seed 002. Expected values from the kernel source:
 *   context register = ctx_offset_base + ctx * 0x40 + reg on the root (ipmmu-vmsa.c:188-197);
 *   IMTTLBR0 0x10 / IMTTUBR0 0x14 = low / high word of the stage-1 TTBR = the PGD's physical address;
 *   IMTTBCR 0x08 = EAE (1<<31) | SL0 two-bit level 1 (2<<6) on Gen3 (no snoop bits) = 0x80000080;
 *   IMMAIR0 0x28 = low word of the io-pgtable-arm MAIR: NC 0x44 | WBRWA 0xff<<8 | DEVICE 0x04<<16 |
 *     INC_OWBRWA 0xf4<<24 = 0xf404ff44 (io-pgtable-arm.c:121-130, 1014-1021);
 *   IMSTR 0x20 <- its own value; IMCTR 0x00 <- INTEN|FLUSH|MMUEN = 7 on the leaf, then the root;
 *   IMUASID(n) = 0x608 + 16(n-32) <- 0, IMUCTR(n) = 0x600 + 16(n-32) <- ctx<<4 | FLUSH | MMUEN
 *   (ipmmu-vmsa.c:124-141, 291-307, 364-415).
 */
import { describe, expect, it } from 'vitest';
import { loadBoard } from '../../../src/board/profiles.js';
import { PhysMem } from '../../../src/mem/phys-mem.js';
import { SimClock, Tracer } from '../../../src/trace/events.js';
import { Kernel, type LinuxDevice } from '../../../src/linux/kernel.js';
import { getPreset, withOverrides } from '../../../src/linux/presets.js';
import { KernelCrash } from '../../../src/linux/kapi.js';
import type { NodeAddition } from '../../../src/board/from-dtb.js';
import { traceMmio, writes, type Access } from './mmio-trace.js';

function boot(opts: { preset?: string; config?: Record<string, unknown>; cmdline?: Record<string, string>; add?: NodeAddition[] } = {}) {
  const board = loadBoard({ profile: 'r8a7795-salvator-x', ...(opts.add ? { add: opts.add } : {}) });
  const mem = new PhysMem(board.ram);
  const tracer = new Tracer(new SimClock());
  const preset = withOverrides(getPreset(opts.preset ?? 'v6.12'), opts.config);
  const k = new Kernel({ board, mem, tracer, preset, cmdline: new Map(Object.entries(opts.cmdline ?? {})), pageSize: 4096, seed: 1 });
  const mmio = traceMmio(k.bus);
  const dev = (name: string) => k.device(name) as LinuxDevice;
  return { k, tracer, mmio, board, dev };
}

const ROOT = 0xe67b0000; // IPMMU-MM, the root with the interrupts
const HC = 0xe6570000; // IPMMU-HC: SATA (uTLB 2) and PCIe
const DS1 = 0xe7740000; // IPMMU-DS1: SDHI0 (uTLB 32), SDHI2 (34), SDHI3 (35)
const ctxReg = (base: number, ctx: number, reg: number) => base + ctx * 0x40 + reg;
const W = (addr: number, value: number): Access => ({ op: 'W', addr, value: value >>> 0 });
const logText = (t: Tracer) => t.log.map((l) => l.text);
const MAIR0 = (0x44 | (0xff << 8) | (0x04 << 16) | (0xf4 << 24)) >>> 0;
const lo32 = (v: number) => v % 2 ** 32 >>> 0;
const hi32 = (v: number) => Math.floor(v / 2 ** 32) >>> 0;

/** The PGDs io-pgtable allocated, in order (phys of each table_alloc event of 32 bytes). */
function pgds(t: Tracer): number[] {
  return t.events.filter((e) => e.layer === 'io-pgtable' && e.type === 'table_alloc' && e.data.size === 32).map((e) => e.data.phys as number);
}

describe('probe of the root IPMMU (R-Car Gen3)', () => {
  it('disables its eight contexts and reserves context 0; leaves write nothing', () => {
    const s = boot();
    for (const bi of s.board.iommus.filter((i) => i.enabled && !('renesas,ipmmu-main' in i.props))) s.k.probeIommu(bi);
    expect(writes(s.mmio)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((c) => W(ctxReg(ROOT, c, 0x00), 0)));
    expect(logText(s.tracer)).toContain('ipmmu-vmsa e67b0000.iommu: IPMMU context 0 is reserved');
    expect(s.k.ipmmu.mmus.find((m) => m.dev.name === 'e67b0000.iommu')!.ctx).toEqual([true, false, false, false, false, false, false, false]);
  });
});

describe('ipmmu_device_is_allowed', () => {
  it('6.12 opts in only the SDHIs on R-Car H3 (ES3 assumed): SATA and the DMA controllers stay on dma-direct', () => {
    const s = boot();
    s.k.probeAll();
    const grouped = [...s.k.devices.values()].filter((d) => d.kind === 'master' && d.iommuGroup).map((d) => d.name);
    expect(grouped).toEqual(['ee100000.mmc', 'ee140000.mmc', 'ee160000.mmc']);
  });

  it('a deny-listed SoC (r8a7796, M3-W) gets no IOMMU for anyone, allowlisted or not', () => {
    const add: NodeAddition[] = [];
    const s0 = boot();
    for (const bi of s0.board.iommus) add.push({ path: bi.path, props: { compatible: 'renesas,ipmmu-r8a7796' } });
    const s = boot({ add });
    s.k.probeAll();
    expect([...s.k.devices.values()].filter((d) => d.iommuGroup)).toEqual([]);
    expect(logText(s.tracer).some((l) => l.includes('Adding to iommu group'))).toBe(false);
    // the IPMMUs themselves probed (root reset and reserved context as on H3)
    expect(logText(s.tracer)).toContain('ipmmu-vmsa e67b0000.iommu: IPMMU context 0 is reserved');
  });
});

describe('context setup at the first attach', () => {
  it('programs TTBR, TTBCR, MAIR, IMSTR and IMCTR of context 1 on the root, IMCTR on the leaf, then the uTLB', () => {
    const s = boot();
    s.k.probeAll();
    const pgd = pgds(s.tracer)[0];
    expect(pgd).toBeGreaterThanOrEqual(2 ** 32); // GFP_KERNEL: ZONE_NORMAL above 4 GiB on this board
    const first = writes(s.mmio).findIndex((a) => a.addr === ctxReg(ROOT, 1, 0x10));
    expect(writes(s.mmio).slice(first, first + 9)).toEqual([
      W(ctxReg(ROOT, 1, 0x10), lo32(pgd)), // IMTTLBR0
      W(ctxReg(ROOT, 1, 0x14), hi32(pgd)), // IMTTUBR0
      W(ctxReg(ROOT, 1, 0x08), 0x80000080), // IMTTBCR
      W(ctxReg(ROOT, 1, 0x28), MAIR0), // IMMAIR0
      W(ctxReg(ROOT, 1, 0x20), 0), // IMSTR <- IMSTR (nothing pending)
      W(ctxReg(DS1, 1, 0x00), 7), // IMCTR leaf
      W(ctxReg(ROOT, 1, 0x00), 7), // IMCTR root
      W(DS1 + 0x608, 0), // IMUASID(32)
      W(DS1 + 0x600, (1 << 4) | 3), // IMUCTR(32)
    ]);
    // IMSTR was read back first, and Gen3 has no IMBUSCR programming
    expect(s.mmio.some((a) => a.op === 'R' && a.addr === ctxReg(ROOT, 1, 0x20))).toBe(true);
    expect(s.mmio.some((a) => a.addr === ctxReg(ROOT, 1, 0x0c))).toBe(false);
    const log = logText(s.tracer);
    const i = log.indexOf('sdhi-r8a7795 ee100000.mmc: Adding to iommu group 0');
    expect(i).toBeGreaterThanOrEqual(0);
    expect(log[i + 1]).toBe('sdhi-r8a7795 ee100000.mmc: Using IPMMU context 1');
    // the next two allowed SDHIs get contexts 2 and 3 on the same root
    expect(log).toContain('sdhi-r8a7795 ee140000.mmc: Using IPMMU context 2');
    expect(log).toContain('sdhi-r8a7795 ee160000.mmc: Using IPMMU context 3');
  });

  it('runs out of contexts after seven (0 reserved): -EBUSY and "Unable to initialize IPMMU context"', () => {
    const s = boot();
    s.k.probeAll(); // contexts 1..3 taken by the three SDHIs
    const mmc = s.dev('ee100000.mmc');
    for (const ctx of [4, 5, 6, 7]) {
      const d = s.k.core.domainAlloc(mmc, 'unmanaged')!;
      expect(s.k.core.attachDevice(d, mmc)).toBe(0);
      expect(logText(s.tracer).at(-1)).toBe(`sdhi-r8a7795 ee100000.mmc: Using IPMMU context ${ctx}`);
      expect(s.k.core.detachDevice(mmc, d)).toBe(0);
      expect(logText(s.tracer).at(-1)).toBe('sdhi-r8a7795 ee100000.mmc: Reusing IPMMU context 1');
    }
    const d = s.k.core.domainAlloc(mmc, 'unmanaged')!;
    s.mmio.length = 0;
    expect(s.k.core.attachDevice(d, mmc)).toBe(-16);
    // __iommu_group_set_domain_internal's err_revert re-attaches the group's current domain to the
    // failing device too (iommu.c:2355-2366), so the default domain's uTLB setup is written again.
    expect(logText(s.tracer).slice(-2)).toEqual(['sdhi-r8a7795 ee100000.mmc: Unable to initialize IPMMU context', 'sdhi-r8a7795 ee100000.mmc: Reusing IPMMU context 1']);
    expect(writes(s.mmio)).toEqual([W(DS1 + 0x608, 0), W(DS1 + 0x600, (1 << 4) | 3)]);
    expect(mmc.iommuGroup!.domain).toBe(mmc.iommuGroup!.defaultDomain);
  });
});

describe('ipmmu_domain_free and the NULL guard', () => {
  it('6.12: a never-attached domain (mmu NULL) is freed without touching the hardware', () => {
    const s = boot();
    s.k.probeAll();
    const d = s.k.core.domainAlloc(s.dev('ee100000.mmc'), 'unmanaged')!;
    s.mmio.length = 0;
    s.k.core.domainFree(d);
    expect(s.mmio).toEqual([]);
  });

  it("Geert's guard in ipmmu_domain_free (4.20-rc1+ipmmu-guard): the same, no Oops", () => {
    const s = boot({ config: { ipmmuFree: { nullGuard: 'domain_free', rootOffset: 0x38 } } });
    s.k.probeAll();
    const d = s.k.core.domainAlloc(s.dev('ee100000.mmc'), 'unmanaged')!;
    s.mmio.length = 0;
    expect(() => s.k.core.domainFree(d)).not.toThrow();
    expect(s.mmio).toEqual([]);
  });

  it('no guard (4.20-rc1): destroy_context reads domain->mmu->root at offset 0x38 of NULL: an Oops', () => {
    const s = boot({ config: { ipmmuFree: { nullGuard: 'none', rootOffset: 0x38 } } });
    s.k.probeAll();
    const d = s.k.core.domainAlloc(s.dev('ee100000.mmc'), 'unmanaged')!;
    let crash: KernelCrash | undefined;
    try {
      s.k.core.domainFree(d);
    } catch (e) {
      if (!(e instanceof KernelCrash)) throw e;
      crash = e;
    }
    expect(crash?.kind).toBe('oops');
    expect(crash?.lines[0]).toBe('Unable to handle kernel NULL pointer dereference at virtual address 0000000000000038');
    expect(crash?.lines).toContain('pc : ipmmu_domain_free+0x1c/0xa0');
  });

  it('an initialised domain: context disabled with a flush on leaf and root, synced, the io-pgtable flushed, the context reusable', () => {
    const s = boot();
    s.k.probeAll();
    const mmc = s.dev('ee100000.mmc');
    const d = s.k.core.domainAlloc(mmc, 'unmanaged')!;
    expect(s.k.core.attachDevice(d, mmc)).toBe(0); // context 4
    expect(s.k.core.detachDevice(mmc, d)).toBe(0);
    s.mmio.length = 0;
    s.k.core.domainFree(d);
    const imctr = [ctxReg(DS1, 4, 0), ctxReg(ROOT, 4, 0)];
    const ctl = s.mmio.filter((a) => imctr.includes(a.addr));
    // destroy_context: IMCTR <- FLUSH on leaf and root, poll the root; then free_io_pgtable_ops'
    // tlb_flush_all: read the root, write value|FLUSH to leaf and root, poll again.
    expect(ctl.slice(0, 2)).toEqual([W(imctr[0], 2), W(imctr[1], 2)]);
    expect(ctl[2]).toMatchObject({ op: 'R', addr: imctr[1] });
    const readBack = ctl.find((a, i) => i > 2 && a.op === 'R')!;
    const again = ctl.filter((a, i) => i > 2 && a.op === 'W');
    expect(again).toEqual([W(imctr[0], readBack.value | 2), W(imctr[1], readBack.value | 2)]);
    expect(s.k.ipmmu.mmus.find((m) => m.dev.name === 'e67b0000.iommu')!.ctx[4]).toBe(false);
    const d2 = s.k.core.domainAlloc(mmc, 'unmanaged')!;
    expect(s.k.core.attachDevice(d2, mmc)).toBe(0);
    expect(logText(s.tracer).at(-1)).toBe('sdhi-r8a7795 ee100000.mmc: Using IPMMU context 4');
  });
});

describe('a page-table allocation that is not identity-mapped (seed 002)', () => {
  const sataLines = (t: Tracer) => logText(t).filter((l) => /ee300000|fe000000|e67b0000\.iommu: Cannot|WARNING|Failed to add|Unable to handle/.test(l));

  it('6.12: group message first, io-pgtable refuses, attach fails, WARN in iommu_setup_default_domain, uTLB released, group id reused', () => {
    const s = boot({ config: { ipmmuAllowlist: ['ee300000.sata', 'fe000000.pcie'], busLimitWithoutDmaRanges: 'from-default-coherent-mask' } });
    s.k.probeAll();
    const pcieDrv = s.dev('fe000000.pcie').driverName;
    const warn = 'WARNING: CPU: 0 PID: 1 at drivers/iommu/iommu.c:2999 iommu_setup_default_domain+0x0/0x0';
    expect(sataLines(s.tracer)).toEqual([
      'sata_rcar ee300000.sata: Adding to iommu group 0',
      'ipmmu-vmsa e67b0000.iommu: Cannot accommodate DMA translation for IOMMU page tables',
      'sata_rcar ee300000.sata: Unable to initialize IPMMU context',
      warn,
      // the failed group was released, so the IDA hands out 0 again
      `${pcieDrv} fe000000.pcie: Adding to iommu group 0`,
      'ipmmu-vmsa e67b0000.iommu: Cannot accommodate DMA translation for IOMMU page tables',
      `${pcieDrv} fe000000.pcie: Unable to initialize IPMMU context`,
      warn,
    ]);
    // ipmmu_release_device turned the uTLBs off; none was ever enabled
    const hcUtlb = s.mmio.filter((a) => a.op === 'W' && a.addr >= HC + 0x300 && a.addr < HC + 0x700);
    expect(hcUtlb).toEqual([W(HC + 0x320, 0), W(HC + 0x300, 0)]); // IMUCTR(2) for SATA, IMUCTR(0) for PCIe
    expect(s.dev('ee300000.sata').iommuGroup).toBeUndefined();
    expect(s.dev('ee300000.sata').dmaIommu).toBeFalsy();
  });

  it('4.20-rc1: io-pgtable refuses, attach fails, "Failed to add device ... to group 0: -22", then the unguarded free oopses', () => {
    const s = boot({ preset: 'v4.20-rc1' });
    expect(() => s.k.probeAll()).toThrow(KernelCrash);
    expect(sataLines(s.tracer)).toEqual([
      'ipmmu-vmsa e67b0000.iommu: Cannot accommodate DMA translation for IOMMU page tables',
      'sata_rcar ee300000.sata: Unable to initialize IPMMU context',
      'iommu: Failed to add device ee300000.sata to group 0: -22',
      'Unable to handle kernel NULL pointer dereference at virtual address 0000000000000038',
    ]);
  });
});

describe('identity default domain (iommu.passthrough=1)', () => {
  it('uses ipmmu_iommu_identity_domain: no context, no uTLB; attaching it later turns the uTLB off', () => {
    const s = boot({ cmdline: { 'iommu.passthrough': '1' } });
    s.k.probeAll();
    const log = logText(s.tracer);
    expect(log).toContain('iommu: Default domain type: Passthrough (set via kernel command line)');
    expect(log.some((l) => l.includes('Using IPMMU context') || l.includes('Falling back'))).toBe(false);
    const mmc = s.dev('ee100000.mmc');
    expect(mmc.iommuGroup!.defaultDomain).toBe(s.k.ipmmu.identityDomain);
    expect(mmc.dmaIommu).toBeFalsy();
    expect(writes(s.mmio).filter((a) => a.addr >= DS1 && a.addr < DS1 + 0x1000)).toEqual([]);
    const d = s.k.core.domainAlloc(mmc, 'unmanaged')!;
    expect(s.k.core.attachDevice(d, mmc)).toBe(0);
    s.mmio.length = 0;
    expect(s.k.core.detachDevice(mmc, d)).toBe(0);
    expect(writes(s.mmio)).toEqual([W(DS1 + 0x600, 0)]);
  });
});

describe('ipmmu_irq', () => {
  it('a translation fault behind a leaf is reported by the leaf device, with %lx addresses', () => {
    const s = boot();
    s.k.probeAll();
    const before = s.tracer.log.length;
    s.k.deviceTransfer('ee100000.mmc', 'read', 0x12345000, 64);
    const st = s.mmio.filter((a) => a.op === 'R' && a.addr === ctxReg(ROOT, 1, 0x20) && a.value !== 0).at(-1)!;
    expect(st.value & 0x3).not.toBe(0);
    const status = st.value.toString(16).padStart(8, '0');
    expect(logText(s.tracer).slice(before)).toEqual([`ipmmu-vmsa e7740000.iommu: Unhandled fault: status 0x${status} iova 0x12345000`]);
    // IMSTR is cleared by writing 0 after IMELAR/IMEUAR were read
    const seq = s.mmio.filter((a) => [0x20, 0x30, 0x34].map((r) => ctxReg(ROOT, 1, r)).includes(a.addr)).slice(-4);
    expect(seq.map((a) => [a.op, a.addr - ctxReg(ROOT, 1, 0)])).toEqual([
      ['R', 0x20],
      ['R', 0x30],
      ['R', 0x34],
      ['W', 0x20],
    ]);
    expect(seq[3].value).toBe(0);
  });
});
