/**
 * A 16K-page kernel allocates in 16 KiB pages end to end: alloc_pages and dma_alloc_coherent (through
 * dma-direct under iommu.passthrough=1 and through dma-iommu with the DART's DMA domain) return memory
 * aligned to PAGE_SIZE << order, as the buddy allocator's natural alignment gives it
 * (mm/page_alloc.c:1438-1465; kernel/dma/direct.c:118-160 takes get_order(PAGE_ALIGN(size)) pages).
 */
import { describe, expect, it } from 'vitest';
import { loadScenarioText } from '../../src/scenario/loader.js';
import { runScenario, type RunResult } from '../../src/scenario/runner.js';
import { setupScenarioLayers } from '../../src/scenario/setup.js';

setupScenarioLayers();

const K16 = 16384;

function scenario(board: string, cmdline: string, dev: string): string {
  return `title: "16K kernel allocations"
tags: [test]
board: ${board}
kernel: v6.12
page_size: 16K
${cmdline ? `cmdline: "${cmdline}"\n` : ''}steps:
  - op: probe
  - op: alloc_pages
    order: 0
    as: p0
  - op: alloc_pages
    order: 1
    as: p1
  - op: alloc_pages
    size: 20K
    as: p2
  - op: dma_alloc_coherent
    dev: ${dev}
    size: 16K
    as: c0
  - op: dma_alloc_coherent
    dev: ${dev}
    size: 16K
    as: c1
  - op: dma_alloc_coherent
    dev: ${dev}
    size: 32K
    as: c2
  - op: dma_free_coherent
    handle: c1
  - op: free
    buf: p1
expect:
  outcome: ok
`;
}

function run(board: string, cmdline: string, dev: string): RunResult {
  return runScenario(loadScenarioText(scenario(board, cmdline, dev), 'page-size-16k.yaml'));
}

function blocks(r: RunResult, type: string): { phys: number; order?: number; size?: number }[] {
  return r.events.filter((e) => e.type === type).map((e) => ({ phys: Number(e.data.phys), order: e.data.order as number | undefined, size: e.data.size as number | undefined }));
}

describe.each([
  // An 8 GiB RK3568 keeps RAM below 4 GiB for the NPU's 32-bit coherent mask (GFP_DMA32 pages).
  ['dma-direct (RK3568 8G, iommu.passthrough=1)', '{ profile: rk3568, ram: 8G }', 'iommu.passthrough=1', 'fde40000.npu'],
  ['dma-iommu (M1 DART DMA domain)', '{ profile: t8103 }', '', '238200000.dma-controller'],
])('16K kernel, %s', (_name, board, cmdline, dev) => {
  const r = run(board, cmdline, dev);

  it('runs without failures or Bad page state', () => {
    expect(r.failures).toEqual([]);
    expect(r.log.filter((l) => /Bad page state|WARNING/.test(l))).toEqual([]);
    expect(r.outcome).toBe('ok');
  });

  it('alloc_pages: orders are in 16K pages and blocks are aligned to their size', () => {
    const got = blocks(r, 'alloc_pages');
    expect(got.map((b) => b.order)).toEqual([0, 1, 1]); // 20K -> get_order = 1 at 16K
    for (const b of got) expect(b.phys % (K16 * 2 ** (b.order as number))).toBe(0);
  });

  it('dma_alloc_coherent: each buffer is its own 16K-aligned pages, no two share a page', () => {
    const got = blocks(r, 'dma_alloc_coherent');
    expect(got).toHaveLength(3);
    expect(got[0].phys % K16).toBe(0);
    expect(got[1].phys % K16).toBe(0);
    expect(got[2].phys % (2 * K16)).toBe(0);
    const pages = got.map((b) => Math.floor(b.phys / K16));
    expect(new Set(pages).size).toBe(3);
  });
});
