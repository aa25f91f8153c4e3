/**
 * Seed 003 (Apple DART, 16 KiB IOMMU pages, 4 KiB and 16 KiB kernels) run through the whole model.
 * Expected values are worked out from the kernel source, not taken from our output:
 * - apple-dart.c:950-951 / 583-584: pgsize > PAGE_SIZE -> IDENTITY, paging domains refused;
 *   the probe line prints "bypass forced: pgsize > PAGE_SIZE" (apple-dart.c:1173-1177);
 * - T8020 TCR values: TRANSLATE_ENABLE bit 7 = 0x80, BYPASS_DART bit 8 | BYPASS_DAPF bit 12 = 0x1100
 *   (apple-dart.c:79-81); TCR(sid) at 0x100 + 4*sid; TTBR = bit 31 | PA >> 12;
 * - io-pgtable-dart.c:118-145 (DART1 leaf): PA[35:12] in place, subpage end 0xfff << 40, SP_DIS bit 1,
 *   valid bit 0, NO_WRITE bit 7 when IOMMU_WRITE is missing;
 * - iova.c: the first IOVA of a 16 KiB granule below a 32-bit limit is 2^32 - 16 KiB (top-down);
 * - iova.c:46: BUG_ON(granule > PAGE_SIZE);
 * - the T8020 ERROR register: flag bit 31, stream in 27:24, NO_PTE = bit 2 (apple-dart.c:58-64).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadScenarioFile } from '../../src/scenario/loader.js';
import { runScenario, type RunResult } from '../../src/scenario/runner.js';
import { setupScenarioLayers } from '../../src/scenario/setup.js';
import { listScenarioFiles } from '../../src/scenario/library.js';
import { itMeetsItsExpectations } from './own-expectations.js';

const dir = join(import.meta.dirname, '../../scenarios');
const S = '003-apple-dart/';

const cache = new Map<string, RunResult>();
function run(rel: string, sets: string[] = []): RunResult {
  const key = `${rel}|${sets.join('|')}`;
  let r = cache.get(key);
  if (!r) {
    r = runScenario(loadScenarioFile(join(dir, S + rel), { sets }));
    cache.set(key, r);
  }
  return r;
}

/** The data of the dma_map steps, in order. */
function maps(r: RunResult): { phys: number; dma: number; bounced: boolean; viaIommu: boolean }[] {
  return r.events
    .filter((e) => e.type === 'dma_map_single')
    .map((e) => ({ phys: Number(e.data.phys), dma: Number(e.data.dma), bounced: Boolean(e.data.bounced), viaIommu: Boolean(e.data.viaIommu) }));
}

/** "dev 0x108 = 0x1100" lines of mmio_read steps. */
function reg(r: RunResult, dev: string, off: number): number | undefined {
  const line = r.output.find((l) => l.startsWith(`${dev} 0x${off.toString(16)} = `));
  return line === undefined ? undefined : Number(line.split(' = ')[1]);
}

/** Leaf entries and physical results of the walk steps' output. */
function walkLeaves(r: RunResult): { entry: bigint; phys: number }[] {
  const out: { entry: bigint; phys: number }[] = [];
  let entry: bigint | undefined;
  for (const l of r.output) {
    const m = /= (0x[0-9a-f]+) \(page\)/.exec(l);
    if (m) entry = BigInt(m[1]);
    const p = /=> physical (0x[0-9a-f]+)/.exec(l);
    if (p && entry !== undefined) out.push({ entry, phys: Number(p[1]) });
  }
  return out;
}

/** A DART1 leaf PTE as io-pgtable-dart.c writes it for a 16 KiB page at pa. */
function dart1Pte(pa: number, prot: { read: boolean; write: boolean }): bigint {
  let pte = BigInt(pa) & 0xf_ffff_f000n; // GENMASK(35, 12)
  pte |= 0xfffn << 40n; // subpage end
  pte |= 1n << 1n; // SP_DIS
  pte |= 1n; // valid
  if (!prot.write) pte |= 1n << 7n;
  if (!prot.read) pte |= 1n << 8n;
  return pte;
}

beforeAll(() => setupScenarioLayers());

describe('seed 003 scenarios meet their own expectations', () => {
  const files = listScenarioFiles(dir).filter((f) => f.file.includes('003-apple-dart'));
  it('finds the seed-003 scenarios', () => expect(files.length).toBeGreaterThanOrEqual(10));
  itMeetsItsExpectations(files, { requireOk: true });
});

describe('6.12 on a 4K kernel: forced bypass', () => {
  it('every 16K DART is forced to bypass; stream 2 gets BYPASS_DART|BYPASS_DAPF; DMA address = physical', () => {
    const r = run('dart-4k-v6.12-forced-bypass.yaml');
    expect(r.outcome).toBe('ok');
    const probes = r.log.filter((l) => l.includes('DART [pagesize 4000'));
    expect(probes.length).toBe(4);
    for (const l of probes) expect(l).toContain('bypass support: 1, bypass forced: 1');
    expect(reg(r, '235004000.iommu', 0x108)).toBe(0x1100);
    const [m] = maps(r);
    expect(m.viaIommu).toBe(false);
    expect(m.dma).toBe(m.phys);
  });
  it('the default 32-bit mask cannot reach RAM at 0x8_0000_0000 in bypass, but can through a 16K kernel DMA domain', () => {
    expect(run('dart-4k-bypass-default-mask.yaml').outcome).toBe('map-failed');
    const r16 = run('dart-4k-bypass-default-mask.yaml', ['page_size=16K', 'expect.log=null']);
    expect(r16.outcome).toBe('ok');
    const [m] = maps(r16);
    expect(m.viaIommu).toBe(true);
    expect(m.dma).toBe(2 ** 32 - 0x4000);
  });
});

describe('6.12 on a 16K kernel: a translated DMA domain', () => {
  it('TCR translate, TTBR0 names the L1 table, the first IOVA is 2^32 - 16K, the leaf PTE is bit-exact', () => {
    const r = run('dart-16k-v6.12-paging.yaml');
    expect(r.outcome).toBe('ok');
    expect(r.log.some((l) => l.includes('235004000.iommu: DART [pagesize 4000, 16 streams, bypass support: 1, bypass forced: 0]'))).toBe(true);
    expect(reg(r, '235004000.iommu', 0x108)).toBe(0x80);
    const [m] = maps(r);
    expect(m.viaIommu).toBe(true);
    expect(m.dma).toBe(0xffffc000);
    const [leaf, ringLeaf] = walkLeaves(r);
    expect(leaf.phys).toBe(m.phys);
    expect(leaf.entry).toBe(dart1Pte(m.phys, { read: true, write: false }));
    // dma_alloc_coherent: the next IOVA page down, mapped read-write
    const ring = r.events.find((e) => e.type === 'dma_alloc_coherent')!;
    expect(Number(ring.data.dma)).toBe(0xffffc000 - 0x4000);
    expect(ringLeaf.entry).toBe(dart1Pte(Number(ring.data.phys), { read: true, write: true }));
    // TTBR0 of stream 2: 0x200 + 4 * (4 * 2 + 0), value valid | root >> 12.
    const ttbrWrite = r.events.find((e) => e.type === 'mmio_write' && e.data.device === '235004000.iommu' && e.data.reg === 'TTBR.2.0' && Number(e.data.value) !== 0);
    const root = r.events.find((e) => e.type === 'dart_translate')?.data.roots as number[];
    expect(Number(ttbrWrite?.data.value)).toBe((0x8000_0000 + root[0] / 4096) >>> 0);
    // one TTBR with ias 32 and 16K pages: the other three are cleared
    expect(root.length).toBe(1);
  });
  it('a read after unmap is a NO PTE fault reported with flag | stream 2 << 24 | bit 2', () => {
    const r = run('dart-16k-unmapped-iova-fault.yaml');
    expect(r.outcome).toBe('page-fault');
    const status = (0x8000_0000 | (2 << 24) | 0x4) >>> 0;
    expect(r.log.some((l) => l.includes(`translation fault: status:0x${status.toString(16)} stream:2 code:0x4 (NO PTE FOR IOVA) at 0xffffc000`))).toBe(true);
    // the strict unmap invalidated stream 2 (STREAM_SELECT bit 2, then INVALIDATE) before the late read:
    // without it the read would hit the stale IOTLB entry and succeed
    const unmapStep = r.events.find((e) => e.type === 'step' && e.data.op === 'dma_unmap')!.seq;
    const readStep = r.events.filter((e) => e.type === 'step' && e.data.op === 'device_read')[1].seq;
    const inv = r.events.filter((e) => e.type === 'dart_tlb_invalidate' && e.seq > unmapStep && e.seq < readStep);
    expect(inv.some((e) => JSON.stringify(e.data.streams) === '[2]')).toBe(true);
  });
  it('the late read walks the table again: the IOTLB entry the first read left is gone', () => {
    const r = run('dart-16k-unmapped-iova-fault.yaml');
    const walks = r.events.filter((e) => e.type === 'walk' && e.data.device === '235004000.iommu');
    // first read: one successful walk fills the IOTLB; late read: a walk (not a hit) that faults
    expect(walks.length).toBe(2);
    expect(walks[0].data.fault ?? null).toBe(null);
    expect(walks[1].data.fault).toBe('translation');
  });
});

describe('the 2021 v2 patch: no forced bypass', () => {
  it('4K kernel: BUG_ON(granule > PAGE_SIZE) in init_iova_domain ends the run', () => {
    const r = run('dart-4k-2021-bug-on.yaml');
    expect(r.outcome).toBe('bug');
    expect(r.log.some((l) => l.includes('kernel BUG at drivers/iommu/iova.c:46!'))).toBe(true);
    expect(r.skippedSteps).toBeGreaterThan(0);
  });
  it('flip: the same preset on a 16K kernel boots and the ADMAC reads through the DART', () => {
    const r = run('dart-4k-2021-bug-on.yaml', ['page_size=16K', 'expect.log=null']);
    expect(r.outcome).toBe('ok');
    expect(maps(r)[0].dma).toBe(0xffffc000);
  });
  it('flip: the 6.12 forced-bypass scenario under the v2-patch preset hits the BUG', () => {
    // expect.data names a mapping the dead kernel never made: drop it with the preset change
    expect(run('dart-4k-v6.12-forced-bypass.yaml', ['kernel=v6.12+dart-paging-bug-on', 'expect.data=null']).outcome).toBe('bug');
  });
  it('the 4.19 preset row carries the same DART policy', () => {
    expect(run('dart-4k-2021-bug-on.yaml', ['kernel=v4.19']).outcome).toBe('bug');
  });
});

describe('dma-iommu taught 16K granules on a 4K kernel', () => {
  it('two separate 4K pages in one 16K block: both IOVA pages map the same granule; an overrun of a lands on b', () => {
    const r = run('dart-4k-large-granule-subpage.yaml');
    expect(r.outcome).toBe('data-mismatch');
    const [ma, mb] = maps(r).slice(1);
    expect(Math.floor(ma.phys / 0x4000)).toBe(Math.floor(mb.phys / 0x4000));
    const leaves = walkLeaves(r);
    expect(leaves.length).toBe(2);
    const granule = Math.floor(ma.phys / 0x4000) * 0x4000;
    // both PTEs name the granule: a's writable (DMA_FROM_DEVICE -> IOMMU_WRITE only), b's read-only
    expect(leaves[0].entry).toBe(dart1Pte(granule, { read: false, write: true }));
    expect(leaves[1].entry).toBe(dart1Pte(granule, { read: true, write: false }));
    expect(r.log.some((l) => l.includes('WARNING: CPU: 0 PID: 1 at drivers/iommu/iova.c:46'))).toBe(true);
  });
  it('flip: on a 16K kernel each page is a whole granule and the overrun stays inside a', () => {
    const r = run('dart-4k-large-granule-subpage.yaml', ['page_size=16K', 'expect.log=null']);
    expect(r.outcome).toBe('ok');
  });
  it("6.12's forced bypass isolates nothing either: the same overrun lands on b through the physical address", () => {
    const r = run('dart-4k-large-granule-subpage.yaml', ['kernel=v6.12', 'expect.log=null']);
    expect(r.outcome).toBe('data-mismatch');
    expect(maps(r).every((m) => !m.viaIommu && m.dma === m.phys)).toBe(true);
  });
});

describe('drivers using the IOMMU API directly', () => {
  it('6.12, 4K: their UNMANAGED domain is refused by finalize; on a 16K kernel it is granted', () => {
    expect(run('dart-4k-iommu-api-unmanaged.yaml').outcome).toBe('alloc-failed');
    expect(run('dart-4k-iommu-api-unmanaged.yaml', ['page_size=16K', 'expect.log=null']).outcome).toBe('ok');
  });
  it('large granule, 4K: mapping one CPU page is unaligned to min_pagesz 0x4000; on a 16K kernel the page is a granule', () => {
    const r = run('dart-4k-iommu-api-large-granule.yaml');
    expect(r.outcome).toBe('map-failed');
    expect(r.log.some((l) => /iommu: unaligned: iova 0x100000 pa 0x[0-9a-f]+ size 0x4000 min_pagesz 0x4000$/.test(l))).toBe(true);
    const r16 = run('dart-4k-iommu-api-large-granule.yaml', ['page_size=16K', 'expect.log=null']);
    expect(r16.outcome).toBe('ok');
  });
});

describe("Arnd's fake bypass", () => {
  it('a buffer inside the window maps directly (bus = phys - RAM base); one beyond it is bounced into a pool inside it', () => {
    const r = run('dart-4k-fake-bypass.yaml');
    expect(r.outcome).toBe('ok');
    const [low, high] = maps(r);
    const ramBase = 0x8_0000_0000;
    // inside the window: the dma-range offset only, no bounce
    expect(low.dma).toBe(low.phys - ramBase);
    // beyond it: bounced, the bus address names a swiotlb slot inside the window
    expect(high.phys).toBeGreaterThanOrEqual(ramBase + 2 ** 32);
    expect(high.dma).toBeLessThan(2 ** 32);
    expect(high.dma).not.toBe(high.phys - ramBase);
    const bounce = r.events.find((e) => e.type === 'swiotlb_map' && Number(e.data.orig) === high.phys);
    expect(Number(bounce?.data.tlb)).toBe(high.dma + ramBase);
    expect(r.events.some((e) => e.type === 'swiotlb_map' && Number(e.data.orig) === low.phys)).toBe(false);
    // the static table: 4 GiB of 16 KiB pages, from the start of RAM
    const st = r.events.find((e) => e.type === 'dart_static_table');
    expect(st?.data.ptes).toBe(2 ** 32 / 0x4000);
    // the static table: 4 GiB in 16 KiB pages, one event per attached DART stream map, from RAM base
    const fb = r.events.filter((e) => e.type === 'dart_fake_bypass');
    expect(fb.length).toBeGreaterThan(0);
    for (const e of fb) {
      expect(Number(e.data.phys)).toBe(ramBase);
      expect(Number(e.data.size)).toBe(2 ** 32);
    }
    // each walked IOVA lands on phys = IOVA + RAM base
    for (const l of walkLeaves(r)) expect(l.phys - ramBase).toBeLessThan(2 ** 32);
  });
  it('flip: the same device tree window under plain 6.12 (hardware bypass) sends the device to addresses with no RAM', () => {
    expect(run('dart-4k-fake-bypass.yaml', ['kernel=v6.12']).outcome).toBe('bus-error');
  });
});

describe('a DART without bypass support on a 4K kernel', () => {
  it('6.12: identity attach -EINVAL, WARN, no group; stream TCR stays 0 and the read returns nothing', () => {
    const r = run('dart-4k-usb4-no-bypass.yaml');
    expect(r.outcome).toBe('data-mismatch');
    expect(r.log.some((l) => l.includes('bypass support: 0, bypass forced: 1'))).toBe(true);
    expect(r.events.some((e) => e.type === 'attach' && e.data.dev === '6a0000000.dma' && e.data.ret === -22)).toBe(true);
    expect(reg(r, '6a0008000.iommu', 0x104)).toBe(0);
    // 64 streams: the reset's second STREAMS_ENABLE word (0xfc + 4) is TCR(0)
    expect(reg(r, '6a0008000.iommu', 0x100)).toBe(0xffffffff);
    const [m] = maps(r);
    expect(m.viaIommu).toBe(false);
  });
  it('flip: under the fake-bypass preset the static table serves it (TCR translate) and the read matches', () => {
    const r = run('dart-4k-usb4-no-bypass.yaml', ['kernel=v6.12+dart-fake-bypass']);
    expect(reg(r, '6a0008000.iommu', 0x104)).toBe(0x80);
    expect(r.observations.find((o) => o.what.includes('6a0000000.dma read'))?.ok).toBe(true);
  });
  it('flip: on a 16K kernel the DART is not forced to bypass; def_domain_type asks for DMA and it translates', () => {
    const r = run('dart-4k-usb4-no-bypass.yaml', ['page_size=16K']);
    expect(reg(r, '6a0008000.iommu', 0x104)).toBe(0x80);
    expect(maps(r)[0].viaIommu).toBe(true);
    expect(r.observations.find((o) => o.what.includes('6a0000000.dma read'))?.ok).toBe(true);
  });
});

describe('determinism', () => {
  it('two runs of the fake-bypass scenario give the same log, output and events', () => {
    const a = runScenario(loadScenarioFile(join(dir, S + 'dart-4k-fake-bypass.yaml')));
    const b = runScenario(loadScenarioFile(join(dir, S + 'dart-4k-fake-bypass.yaml')));
    expect(b.log).toEqual(a.log);
    expect(b.output).toEqual(a.output);
    expect(JSON.stringify(b.events)).toBe(JSON.stringify(a.events));
  });
});
