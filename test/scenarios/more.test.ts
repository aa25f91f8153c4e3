/**
 * Scenarios nobody wrote for the seeds (scenarios/100-more/): other RAM layouts, boot histories, command
 * lines, real .dtb boards (RK3588, RK3399), iommu_map/unmap flows and bad inputs. Each meets its own
 * expectations, and each flips outcome when one field changes the way the kernel source says it must.
 * Expected values are worked out from the 6.12 source (file:line in each scenario's description), not
 * copied from our output.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadScenarioFile } from '../../src/scenario/loader.js';
import { runScenario, type RunResult } from '../../src/scenario/runner.js';
import { setupScenarioLayers } from '../../src/scenario/setup.js';
import { listScenarioFiles } from '../../src/scenario/library.js';
import { itMeetsItsExpectations } from './own-expectations.js';
import { ScenarioError } from '../../src/scenario/errors.js';

const dir = join(import.meta.dirname, '../../scenarios/100-more');

function run(rel: string, sets: string[] = []): RunResult {
  return runScenario(loadScenarioFile(join(dir, rel), { sets }));
}

beforeAll(() => setupScenarioLayers());

describe('scenarios/100-more: each meets its expectations', () => {
  const files = listScenarioFiles(dir);
  it('finds them', () => expect(files.length).toBeGreaterThanOrEqual(10));
  itMeetsItsExpectations(files, { requireOk: false });
});

describe('flips: one field changes, the outcome follows the mechanism', () => {
  it('swiotlb=128 is rounded up to 4 areas x 128 slabs and fills; the default pool does not', () => {
    const r = run('swiotlb-small-pool-full.yaml');
    expect(r.outcome).toBe('map-failed');
    // round_up_default_nslabs (swiotlb.c): 128 < IO_TLB_SEGSIZE * nareas(4) -> 512 slabs = 1 MiB; four
    // 128-slot mappings take every slot, the fifth finds none.
    expect(r.log.some((l) => l.includes('swiotlb buffer is full (sz: 262144 bytes), total 512 (slots), used 512 (slots)'))).toBe(true);
    expect(run('swiotlb-small-pool-full.yaml', ['cmdline=iommu.passthrough=1']).outcome).toBe('ok');
  });

  it('a step that needs a failed mapping is skipped, not an input error', () => {
    const r = run('swiotlb-small-pool-full.yaml');
    expect(r.output.some((l) => /step 11 \(device_read\) skipped: 'me' was not produced: step 10 failed/.test(l))).toBe(true);
    expect(r.events.some((e) => e.type === 'transfer')).toBe(false);
  });

  it('stale data without dma_sync only exists when the buffer bounced (8G), not on 2G', () => {
    expect(run('sync-both-directions-bounce.yaml').outcome).toBe('ok');
    const low = run('sync-both-directions-bounce.yaml', ['board.ram=2G']);
    expect(low.outcome).toBe('data-mismatch');
    // The first check fails: with no bounce the device reads the CPU's second write at once.
    expect(low.observations[0].ok).toBe(false);
  });

  it('Rockchip remap of a valid IOVA is -EADDRINUSE (-98); the next page maps fine', () => {
    const r = run('rockchip-remap-eaddrinuse.yaml');
    expect(r.decisive?.message).toMatch(/returned -98$/);
    // The refused remap left the first mapping in place: the VOP still reads page a.
    expect(r.observations.every((c) => c.ok)).toBe(true);
    expect(run('rockchip-remap-eaddrinuse.yaml', ['steps.7.iova=0x10001000']).outcome).toBe('ok');
  });

  it('splitting a 2M LPAE block: the unmapped page faults, an untouched one reads', () => {
    const r = run('ipmmu-split-block-unmap.yaml');
    expect(r.outcome).toBe('page-fault');
    // Before the unmap the walk ends at a level-2 block; after it a level-3 table exists.
    expect(r.output.some((l) => /level 2: .*\(block\)/.test(l))).toBe(true);
    expect(r.output.some((l) => /level 3: .* = 0x0 \(invalid\)/.test(l))).toBe(true);
    expect(run('ipmmu-split-block-unmap.yaml', ['steps.6.iova=0x203000']).outcome).toBe('ok');
  });

  it('swiotlb=force: io-pgtable sees its table page DMA-mapped at a bounce slot, no context, no domain (-ENODEV)', () => {
    const r = run('ipmmu-split-block-unmap.yaml', ['cmdline=swiotlb=force']);
    // __arm_lpae_alloc_pages: dma != virt_to_phys -> "Cannot accommodate DMA translation for IOMMU page
    // tables"; the default domain fails, the device leaves its group, and a later
    // iommu_paging_domain_alloc finds no IOMMU: -ENODEV. Steps that need the domain are skipped.
    expect(r.log.some((l) => l.includes('ipmmu-vmsa e67b0000.iommu: Cannot accommodate DMA translation for IOMMU page tables'))).toBe(true);
    expect(r.outcome).toBe('alloc-failed');
    expect(r.decisive?.message).toMatch(/-ENODEV/);
    expect(r.output.some((l) => /step 4 \(iommu_map\) skipped/.test(l))).toBe(true);
  });

  it('boot history decides a 4G board: ZONE_NORMAL used up -> DT below 4G; a short history -> bus error', () => {
    const long = run('npu-4g-boot-history.yaml');
    expect(long.outcome).toBe('ok');
    expect(Number(long.events.find((e) => e.type === 'rk_dt_alloc')?.data.dtPhys)).toBeLessThan(2 ** 32);
    const short = run('npu-4g-boot-history.yaml', ['cmdline=iommu-lab.boot_allocations=0']);
    expect(short.outcome).toBe('bus-error');
    expect(Number(short.events.find((e) => e.type === 'rk_dt_alloc')?.data.dtPhys)).toBeGreaterThanOrEqual(0x1_f000_0000);
  });

  it('explicit banks 2G+2G: the DT comes from the high bank under 6.12; GFP_DMA32 tables fix it', () => {
    const r = run('npu-banks-2g-2g-revert.yaml');
    expect(r.outcome).toBe('page-fault');
    expect(Number(r.events.find((e) => e.type === 'rk_dt_alloc')?.data.dtPhys)).toBeGreaterThanOrEqual(2 ** 32);
    expect(run('npu-banks-2g-2g-revert.yaml', ['kernel=v6.12-revert-2a7e6400']).outcome).toBe('ok');
  });

  it('RK3588 real .dtb on 16G: v2 blocks walk high tables; a v1.0 IP on the same node faults', () => {
    const r = run('rk3588-16g-vdpu.yaml');
    expect(r.outcome).toBe('ok');
    expect(Number(r.events.find((e) => e.type === 'rk_dt_alloc')?.data.dtPhys)).toBeGreaterThanOrEqual(2 ** 32);
    const v10 = run('rk3588-16g-vdpu.yaml', ['board.add=[{path: /iommu@fdb50800, props: {"iommu-lab,hw-version": "1.0"}}]']);
    expect(v10.outcome).toBe('page-fault');
  });

  it('RK3399 v1 IOMMU: the mapped page reads, the page after it faults', () => {
    const r = run('rk3399-vop-v1-walk.yaml');
    expect(r.outcome).toBe('ok');
    expect(r.output.some((l) => /rockchip-v1/.test(l))).toBe(true);
    const past = run('rk3399-vop-v1-walk.yaml', ['steps.4.addr=map + 4K']);
    expect(past.outcome).toBe('page-fault');
    expect(past.log.some((l) => /rk_iommu ff903f00\.iommu: Page fault at/.test(l))).toBe(true);
  });

  it('IPMMU contexts run out with every master opted in; 6.12 allowlist leaves them spare', () => {
    const r = run('ipmmu-context-exhaustion.yaml');
    expect(r.outcome).toBe('warn');
    // 8 contexts in IPMMU-MM, context 0 reserved: seven groups get one, the eighth does not.
    expect(r.log.filter((l) => /Using IPMMU context/.test(l)).length).toBe(7);
    expect(run('ipmmu-context-exhaustion.yaml', ['kernel_config=null']).outcome).toBe('ok');
  });

  it('a 32-bit row with no swiotlb pool cannot map the DT at all; with the pool the DT bounces and PTEs vanish', () => {
    const r = run('user-row-32bit-no-swiotlb.yaml');
    expect(r.outcome).toBe('map-failed');
    expect(run('user-row-32bit-no-swiotlb.yaml', ['cmdline=']).outcome).toBe('page-fault');
  });
});

describe('a kernel whose driver does not match the IOMMU', () => {
  it('4.19 has no rockchip,rk3568-iommu row: no driver binds, no probe error, the NPU uses dma-direct', () => {
    // really_probe (drivers/base/dd.c:648-652) reports -ENODEV only at dev_dbg; with no matching
    // compatible the driver is never even called. The NPU (32-bit) bounces its high buffer and reads it.
    const r = run('npu-banks-2g-2g-revert.yaml', ['kernel=v4.19']);
    expect(r.outcome).toBe('ok');
    expect(r.log.some((l) => /probe with driver|Adding to iommu group|Page fault/.test(l))).toBe(false);
  });
});

describe('coherency comes from the device tree (of_dma_is_coherent)', () => {
  it('no dma-coherent in the RK3568 tree: every master is non-coherent', () => {
    const r = run('kmalloc-noncoherent-bounce.yaml');
    expect(r.outcome).toBe('ok');
    // The 24-byte FROM_DEVICE mapping went to the swiotlb pool although the buffer is below 2 GiB.
    const map = r.events.find((e) => e.type === 'dma_map_single');
    expect(map?.data.bounced).toBe(true);
  });
  it('kmalloc-128 is cache-line aligned: no bounce, the CPU sees the write before the unmap', () => {
    expect(run('kmalloc-noncoherent-bounce.yaml', ['steps.1.size=128']).outcome).toBe('data-mismatch');
  });
  it('dma-coherent on the NPU node: no bounce either', () => {
    expect(run('kmalloc-noncoherent-bounce.yaml', ['board.add=[{path: /npu@fde40000, props: {dma-coherent: true}}]']).outcome).toBe('data-mismatch');
  });
});

describe('DMA attributes reach dma-direct', () => {
  it('SKIP_CPU_SYNC: the unmap does not copy the bounce slot back; without it, it does', () => {
    expect(run('skip-cpu-sync-unmap.yaml').outcome).toBe('ok');
    expect(run('skip-cpu-sync-unmap.yaml', ['steps.3.attrs=[]']).outcome).toBe('data-mismatch');
  });
  it('an unknown attribute is an input error at the step', () => {
    expect(() => run('skip-cpu-sync-unmap.yaml', ['steps.3.attrs=[DMA_ATTR_BOGUS]'])).toThrow(/unknown DMA attribute 'DMA_ATTR_BOGUS'/);
  });
});

describe('determinism and bad inputs', () => {
  it('two runs give identical logs and events', () => {
    const a = run('npu-banks-2g-2g-revert.yaml');
    const b = run('npu-banks-2g-2g-revert.yaml');
    expect(JSON.stringify(b.log)).toBe(JSON.stringify(a.log));
    expect(JSON.stringify(b.events)).toBe(JSON.stringify(a.events));
  });

  it('an unknown device is one located input error', () => {
    expect(() => run('rockchip-remap-eaddrinuse.yaml', ['steps.1.dev=fde40000.gpu'])).toThrow(ScenarioError);
    try {
      run('rockchip-remap-eaddrinuse.yaml', ['steps.1.dev=fde40000.gpu']);
    } catch (e) {
      expect((e as ScenarioError).message).toMatch(/no device 'fde40000\.gpu' on this board/);
    }
  });

  it('a real .dtb without a /memory node and no board.ram is an input error, not a crash', () => {
    expect(() => run('rk3588-16g-vdpu.yaml', ['board.ram=null'])).toThrow(ScenarioError);
    expect(() => run('rk3588-16g-vdpu.yaml', ['board.ram=null'])).toThrow(/has no RAM: the device tree has no \/memory node/);
  });

  it('a device transfer longer than the modelled master buffer is an input error at its size, not a crash', () => {
    expect(() => run('rockchip-remap-eaddrinuse.yaml', ['steps.8.size=8M'])).toThrow(/moves at most 0x400000 bytes in one transfer/);
    expect(() => run('rk3588-16g-vdpu.yaml', ['steps.4.size=8M', 'steps.2.size=8M', 'steps.3.size=8M'])).toThrow(ScenarioError);
  });

  it('an unknown preset and values of the wrong type are input errors, not crashes', () => {
    expect(() => run('npu-banks-2g-2g-revert.yaml', ['kernel=v6.99'])).toThrow(/unknown kernel preset 'v6\.99'/);
    expect(() => run('npu-banks-2g-2g-revert.yaml', ['seed=seven'])).toThrow(ScenarioError);
    expect(() => run('npu-banks-2g-2g-revert.yaml', ['steps.3.dir=sideways'])).toThrow(ScenarioError);
    expect(() => run('npu-banks-2g-2g-revert.yaml', ['kernel_config={rockchipMatch: {"rockchip,rk3568-iommu": {dmaBits: 99}}}'])).toThrow(/dmaBits/);
  });
});
