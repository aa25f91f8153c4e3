/**
 * The built-in seed stories, run through the whole model: each scenario meets its own expectations,
 * and the outcome flips when only the RAM size, the kernel preset or the boot history changes in the
 * way it would on hardware. Expected outcomes are the ones the seeds report (000: bus error / page
 * fault on 8 GiB, fixed by GFP_DMA32; 002: the Oops of the 4.20-rc1 report, avoided by the guard and
 * by 4.19's dma_capable; 001: the guide's common problems).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadScenarioFile } from '../../src/scenario/loader.js';
import { runScenario, type RunResult } from '../../src/scenario/runner.js';
import { setupScenarioLayers } from '../../src/scenario/setup.js';
import { listScenarioFiles } from '../../src/scenario/library.js';
import { itMeetsItsExpectations } from './own-expectations.js';

const dir = join(import.meta.dirname, '../../scenarios');

function run(rel: string, sets: string[] = []): RunResult {
  return runScenario(loadScenarioFile(join(dir, rel), { sets }));
}

beforeAll(() => setupScenarioLayers());

describe('every built-in scenario meets its expectations', () => {
  const files = listScenarioFiles(dir).filter((f) => /^00[012]/.test(f.name));
  it('finds the seed scenarios', () => expect(files.length).toBeGreaterThanOrEqual(15));
  itMeetsItsExpectations(files, { requireOk: true });
});

describe('seed 000: outcomes follow the memory map and the ops row', () => {
  const npu = '000-rk3568-npu/npu-8g-dt-above-4g.yaml';
  it('8 GiB faults, 2 GiB does not (same file, only the RAM differs)', () => {
    expect(run(npu).outcome).toBe('page-fault');
    expect(run(npu, ['board.ram=2G']).outcome).toBe('ok');
  });
  it('the directory table is above 4 GiB on 8G and its DTE_ADDR value drops the high bits on a v1.0 block', () => {
    const r = run(npu);
    const alloc = r.events.find((e) => e.type === 'rk_dt_alloc' && e.data.dtPhys !== undefined);
    expect(Number(alloc?.data.dtPhys)).toBeGreaterThanOrEqual(2 ** 32);
  });
  it('a 4 GiB board with the 256 MiB alias above 4 GiB fails; without the alias it cannot', () => {
    const withAlias = run(npu, ['board.ram=4G']);
    const without = run(npu, ['board.ram=4G/no-high-alias']);
    expect(without.outcome).toBe('ok');
    // The alias bank [0x1_f000_0000, 0x2_0000_0000) is ZONE_NORMAL, which GFP_KERNEL prefers: the DT
    // lands there, and the v1.0 block's truncated base 0xfxxx_xxxx falls in the MMIO hole of a 4 GiB
    // board — a bus error rather than the 8 GiB board's page fault.
    const dt = Number(withAlias.events.find((e) => e.type === 'rk_dt_alloc')?.data.dtPhys);
    expect(dt).toBeGreaterThanOrEqual(0x1_f000_0000);
    expect(withAlias.outcome).toBe('bus-error');
  });
  it('GFP_DMA32 rows fix it: the revert and the proposed v1 compatible', () => {
    expect(run(npu, ['kernel=v6.12-revert-2a7e6400']).outcome).toBe('ok');
  });
  it('the new compatible without per-device ops: one global rk_ops cannot serve two rows', () => {
    const r = run('000-rk3568-npu/npu-8g-fixed-rk3568-iommu-v1.yaml', ['kernel=v6.12+rk3568-iommu-v1-global-ops']);
    expect(r.log.some((l) => l.includes('WARNING') && l.includes('rockchip-iommu.c'))).toBe(true);
  });
  it('swiotlb=force erases PTEs but not the DT: the DT survives because its writes go to the original', () => {
    const r = run('000-rk3568-npu/npu-8g-swiotlb-force-bounce.yaml');
    expect(r.outcome).toBe('page-fault');
    const dt = r.events.find((e) => e.type === 'rk_dt_alloc');
    const pt = r.events.find((e) => e.type === 'rk_pt_alloc');
    expect(dt?.data.bounced).toBe(true);
    expect(pt?.data.bounced).toBe(true);
    // The DTE is valid in the bounce slot the hardware reads, the PTE it names is zero.
    expect(r.log.some((l) => /dte@0x[0-9a-f]+: 0x[0-9a-f]+ valid: 1 pte@0x[0-9a-f]+: 0x000000 valid: 0/.test(l))).toBe(true);
  });
  it('with GFP_DMA32 but still swiotlb=force, the tables bounce anyway (GFP_DMA32 does not prevent forced bouncing)', () => {
    const r = run('000-rk3568-npu/npu-8g-swiotlb-force-bounce.yaml', ['kernel=v6.12-revert-2a7e6400']);
    expect(r.outcome).toBe('page-fault');
  });
  it('a user-written ops row (gfp 0, 32-bit mask) bounces tables without swiotlb=force', () => {
    const r = run(npu, [
      'kernel_config.rockchipMatch.rockchip,rk3568-iommu.dmaBits=32',
    ]);
    expect(r.outcome).toBe('page-fault');
    expect(r.events.find((e) => e.type === 'rk_pt_alloc')?.data.bounced).toBe(true);
  });
});

describe('seed 002: the same board under each kernel', () => {
  const sata = '002-salvator-ipmmu/sata-v4.20-rc1-oops.yaml';
  it('4.20-rc1 oopses, 4.19 works, the guard degrades', () => {
    expect(run(sata).outcome).toBe('oops');
    expect(run(sata, ['kernel=v4.19']).outcome).toBe('ok');
    expect(run(sata, ['kernel=v4.20-rc1+ipmmu-guard']).outcome).toBe('attach-failed');
  });
  it('the Oops names offset 0x38 and stops the run', () => {
    const r = run(sata);
    expect(r.log.some((l) => l.includes('virtual address 0000000000000038'))).toBe(true);
    expect(r.skippedSteps).toBeGreaterThan(0);
  });
  it('the bounce comes from the bus limit: RAM only below 4 GiB means no bounce and no failure', () => {
    const r = run(sata, ['board.ram=0x48000000:0x38000000']);
    expect(r.outcome).toBe('ok');
  });
});

describe('determinism', () => {
  it('two runs give identical logs and events', () => {
    const a = run('000-rk3568-npu/npu-8g-swiotlb-force-bounce.yaml');
    const b = run('000-rk3568-npu/npu-8g-swiotlb-force-bounce.yaml');
    expect(JSON.stringify(a.log)).toBe(JSON.stringify(b.log));
    expect(JSON.stringify(a.events)).toBe(JSON.stringify(b.events));
  });
  it('the boot-history seed changes where tables land', () => {
    const dt = (seed: number) => run('000-rk3568-npu/npu-8g-dt-above-4g.yaml', [`seed=${seed}`]).events.find((e) => e.type === 'rk_dt_alloc')?.data.dtPhys;
    expect(dt(1)).not.toBe(dt(2));
  });
});
