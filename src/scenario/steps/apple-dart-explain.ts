/**
 * `--explain` sentences for the Apple DART driver's events and for the dma-iommu mapping that a DART
 * with pages larger than the CPU's makes (seed 003): what the probe read from PARAMS1/PARAMS2 and what
 * that means for the default domain, which streams bypass or translate, why an identity attach was
 * refused, the fake-bypass static table, the faults, and how much memory a granule-rounded mapping
 * exposes.
 */
import { registerExplainer } from '../explain.js';

let registered = false;

function kib(n: number): string {
  return n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`;
}

export function registerDartExplainers(): void {
  if (registered) return;
  registered = true;

  registerExplainer('driver:dart_probe', (e) => {
    const pg = Number(e.data.pgsize);
    const ps = Number(e.data.pageSize);
    const bypass = e.data.supportsBypass ? 'supports bypass' : 'cannot bypass (PARAMS2[0] = 0)';
    if (pg <= ps) return `${String(e.data.dev)}: ${kib(pg)} pages (PARAMS1), ${bypass}; PAGE_SIZE is ${kib(ps)}, so translated DMA domains are possible`;
    if (e.data.forced)
      return `${String(e.data.dev)}: ${kib(pg)} pages (PARAMS1) > PAGE_SIZE ${kib(ps)}, ${bypass}: def_domain_type forces an identity domain and no paging domain can be built (apple-dart.c:950-951, 583-584)`;
    return `${String(e.data.dev)}: ${kib(pg)} pages (PARAMS1) > PAGE_SIZE ${kib(ps)}, ${bypass}; this kernel has no forced-bypass rule, so its masters get DMA domains with a ${kib(pg)} granule`;
  });
  registerExplainer('driver:dart_bypass', (e) => `${String(e.data.dev)}: ${String(e.data.dart)} stream(s) ${String(e.data.sids)} set to bypass (TCR ${hexOf(e.data.tcr)}): the bus address is the physical address, no translation, no isolation`);
  registerExplainer(
    'driver:dart_no_bypass',
    (e) =>
      `${String(e.data.dev)}: the identity attach was refused (${String(e.data.ret)}): ${String(e.data.dart)} cannot bypass, and its stream(s) ${String(e.data.sids)} keep TCR = 0 (neither translate nor bypass)`,
  );
  registerExplainer('driver:dart_translate', (e) => `${String(e.data.dev)}: stream(s) ${String(e.data.sids)} translate through the table at ${(e.data.roots as number[]).map((r) => hexOf(r)).join(', ')} (TTBRs written, TCR translate enable, TLB invalidated)`);
  registerExplainer(
    'driver:dart_static_table',
    (e) =>
      `a static table maps IOVA 0..${hexOf(Number(e.data.size) - 1)} onto ${hexOf(e.data.phys)} with ${String(e.data.ptes)} PTEs of ${kib(Number(e.data.pgsize))}${Number(e.data.ret) ? `, and failed (${String(e.data.ret)})` : ''}`,
  );
  registerExplainer('driver:dart_fault', (e) => `${String(e.data.dev)} reported ${String(e.data.name)} for stream ${String(e.data.stream)} at IOVA ${hexOf(e.data.addr)}`);
  registerExplainer('dma:iommu_dma_map', (e) => {
    const exposed = Number(e.data.exposes);
    if (!(exposed > 0) || Number(e.data.granule) <= 0) return undefined;
    return `dma-iommu mapped ${kib(Number(e.data.mappedSize))} from ${hexOf(e.data.mappedPhys)} for a ${kib(Number(e.data.size))} buffer at ${hexOf(e.data.phys)} (granule ${kib(Number(e.data.granule))}): ${kib(exposed)} of memory around it is visible to the device at IOVA ${hexOf(Number(e.data.iova) - (Number(e.data.phys) - Number(e.data.mappedPhys)))}`;
  });
}

function hexOf(v: unknown): string {
  return `0x${Number(v).toString(16)}`;
}
