/** Replay of `kind: "direct"` oracle traces: arm64 zones, phys<->dma, dma_capable, coherent allocation. */
import { PhysMem } from '../../mem/phys-mem.js';
import { Device, type BusDmaRegion } from '../device.js';
import { DirectDma, ZoneModelPages, arm64Zones, dmaCapable, dmaDirectGetRequiredMask, dmaToPhys, gfpZoneName, physToDma } from './direct.js';
import { KLog } from './kmsg.js';
import { hexU64, parseU64, dmaBitMask, DMA_MAPPING_ERROR } from './u64.js';
import { parseSize } from '../../addr.js';
import {
  asArr,
  asObj,
  hexField,
  MalformedTrace,
  startReplay,
  strField,
  type Json,
  type JsonObject,
  type OracleMessage,
  type ReplayResult,
} from './oracle-replay.js';

const h = hexU64;

/** Parse the trace's dma_range_map description: "cpu 0x80000000+2G->dma 0x0, cpu ...", or "none". */
export function parseRangeMapDescription(text: string): BusDmaRegion[] | null {
  if (text.trim() === 'none') return null;
  const rows: BusDmaRegion[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*cpu\s+(0x[0-9a-f]+)\+(\S+)\s*->\s*dma\s+(0x[0-9a-f]+)\s*$/i.exec(part);
    if (!m) throw new MalformedTrace(`cannot read dma_range_map row '${part.trim()}'`);
    rows.push({ cpuStart: parseU64(m[1]), size: parseSize(m[2], 'dma_range_map size'), dmaStart: parseU64(m[3]) });
  }
  return rows;
}

export function replayDirect(trace: JsonObject): ReplayResult {
  const cfg = asObj(trace.config, 'config');
  const { log, expectedMsgs, pageSize } = startReplay(trace, cfg);
  const klog = new KLog();
  const dramStart = parseU64(hexField(cfg, 'dram_start', 'config'));
  const dramEnd = parseU64(hexField(cfg, 'dram_end', 'config'));
  const zones = arm64Zones({
    dramStart,
    dramEnd,
    pageSize,
    ofDmaMaxCpu: parseU64(hexField(cfg, 'of_dma_get_max_cpu_address', 'config')),
    acpiDmaMaxCpu: parseU64(hexField(cfg, 'acpi_iort_dma_get_max_cpu_address', 'config')),
  });
  const plainDev = new Device('required-mask', '');
  const zonesOurs: JsonObject = {
    zone_dma_limit: h(zones.zoneDmaLimit),
    arm64_dma_phys_limit: h(zones.arm64DmaPhysLimit),
    max_zone_pfns: zones.maxZonePfns.map(h),
    spans: zones.spans.map((s) => ({ zone: s.zone, start: h(s.start), end: h(s.end) })),
    dma_direct_get_required_mask: h(dmaDirectGetRequiredMask(plainDev, zones.maxPfn, pageSize)),
    swiotlb_needed: zones.swiotlbNeeded,
  };
  const zonesExpected = trace.zones ? asObj(trace.zones, 'zones') : {};
  log.addSetup('zones', 'zones', zonesExpected, zonesOurs, expectedMsgs, klog.messages as OracleMessage[]);

  const capable = asArr(trace.capable ?? [], 'capable');
  const alloc = asArr(trace.alloc ?? [], 'alloc');
  const calls = capable.length + alloc.length;
  let index = 0;
  // Memory is not touched by these calls; a small bank keeps PhysMem valid.
  const mem = new PhysMem([{ base: 0, size: 4096 }]);

  for (const [i, cj] of capable.entries()) {
    const c = asObj(cj, `capable[${i}]`);
    const where = `capable[${i}]`;
    const dev = new Device(strField(c, 'dev', where), '', {
      dmaMask: parseU64(hexField(c, 'dma_mask', where)),
      busDmaLimit: parseU64(hexField(c, 'bus_dma_limit', where)),
      dmaRangeMap: parseRangeMapDescription(strField(c, 'dma_range_map', where)),
    });
    const phys = parseU64(hexField(c, 'phys', where));
    const size = parseU64(hexField(c, 'size', where));
    const dma = physToDma(dev, phys);
    const ours: JsonObject = {
      dma_addr: h(dma),
      dma_capable: dmaCapable(dev, dma, size),
      dma_to_phys: h(dma === DMA_MAPPING_ERROR ? dmaToPhys(dev, dma) : dmaToPhys(dev, dma)),
    };
    const expected: JsonObject = { dma_addr: c.dma_addr, dma_capable: c.dma_capable, dma_to_phys: c.dma_to_phys };
    log.add(index++, c, expected, ours);
  }

  for (const [i, aj] of alloc.entries()) {
    const a = asObj(aj, `alloc[${i}]`);
    const where = `alloc[${i}]`;
    const policy = strField(a, 'zone_policy', where);
    if (policy !== 'lowest-free-first' && policy !== 'highest-free-first') throw new MalformedTrace(`${where}.zone_policy: unknown ${policy}`);
    const dev = new Device('alloc', '', {
      coherentDmaMask: parseU64(hexField(a, 'coherent_dma_mask', where)),
      busDmaLimit: parseU64(hexField(a, 'bus_dma_limit', where)),
    });
    const direct = new DirectDma({ mem, pageSize, pages: new ZoneModelPages(zones, policy, pageSize), zoneDmaLimit: zones.zoneDmaLimit, klog });
    const r = direct.allocPages(dev, parseU64(hexField(a, 'size', where)), 0);
    const ours: JsonObject = {
      optimal_gfp: gfpZoneName(r.optimalGfp),
      phys_limit: h(r.physLimit),
      attempts: r.attempts.map((t) => ({
        gfp: gfpZoneName(t.gfp),
        order: t.order,
        zone: t.zone,
        phys: h(t.phys ?? 0),
        coherent_ok: t.coherentOk,
      })) as Json,
      ret: h(r.phys ?? 0),
      ok: r.phys !== null,
    };
    const expected: JsonObject = {};
    for (const k of ['optimal_gfp', 'phys_limit', 'attempts', 'ret', 'ok']) if (k in a) expected[k] = a[k];
    log.add(index++, a, expected, ours);
  }
  void dmaBitMask;
  return log.result('direct', calls);
}
