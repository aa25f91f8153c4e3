/** Replay of `kind: "iova"` oracle traces (iova.c + dma-iommu's alloc/free) through our allocator. */
import { IovaDomain, IovaBug, type IovaNode } from './iova.js';
import { DmaIovaCookie, type DmaIommuDevice } from './dma-iommu-iova.js';
import { hexU64, parseU64 } from './u64.js';
import {
  asArr,
  asObj,
  hexField,
  MalformedTrace,
  messagesOf,
  numField,
  startReplay,
  type Json,
  type JsonObject,
  type OracleMessage,
  type ReplayResult,
} from './oracle-replay.js';

const h = hexU64;

function nodeLo(d: IovaDomain, n: IovaNode): string {
  return n === d.anchor ? '0xffffffffffffffff' : h(n.pfnLo);
}

function stateOf(d: IovaDomain): JsonObject {
  return {
    cached_node: nodeLo(d, d.cachedNode),
    cached32_node: nodeLo(d, d.cached32Node),
    max32_alloc_size: h(d.maxAllocSize32),
    rbtree_nodes: d.rbtreeNodes,
    rcache: d.rcacheSizes() as Json,
  };
}

export function replayIova(trace: JsonObject): ReplayResult {
  const cfg = asObj(trace.config, 'config');
  const calls = asArr(trace.calls, 'calls');
  const { log, expectedMsgs, pageSize } = startReplay(trace, cfg);
  const ourMsgs: OracleMessage[] = [];

  const granule = numField(cfg, 'granule', 'config');
  const startPfn = parseU64(hexField(cfg, 'start_pfn', 'config'));
  const deviceName = typeof cfg.device === 'string' ? cfg.device : 'dev';
  const dev: DmaIommuDevice = {
    name: deviceName,
    busDmaLimit: parseU64(hexField(cfg, 'bus_dma_limit', 'config')),
    pci32BitWorkaround: cfg.pci_32bit_workaround === true,
  };
  const geometry = {
    pgsizeBitmap: granule,
    apertureStart: parseU64(hexField(cfg, 'aperture_start', 'config')),
    apertureEnd: parseU64(hexField(cfg, 'aperture_end', 'config')),
    forceAperture: cfg.force_aperture !== false,
  };

  // Setup: init_iova_domain + iova_domain_init_rcaches, exactly as the shim's runner does.
  let cookie: DmaIovaCookie | null = null;
  let bug = false;
  try {
    const iovad = new IovaDomain(granule, startPfn, { pageSize });
    iovad.initRcaches();
    cookie = DmaIovaCookie.fromDomain(iovad, geometry);
  } catch (e) {
    if (!(e instanceof IovaBug)) throw e;
    bug = true;
    ourMsgs.push({ call: -1, kind: 'BUG', level: 'emerg', file: e.file, line: e.line, cond: e.cond, text: `kernel BUG at ${e.file}:${e.line}!\n` });
  }
  const initExpected: JsonObject = trace.init ? asObj(trace.init, 'init') : {};
  const initOurs: JsonObject = { bug };
  if (cookie) {
    const d = cookie.iovad;
    initOurs.dma_32bit_pfn = h(d.dma32BitPfn);
    initOurs.max32_alloc_size = h(d.maxAllocSize32);
  }
  initOurs.iova_rcache_range = h(IovaDomain.rcacheRange(pageSize));
  log.addSetup('setup', 'init', initExpected, initOurs, expectedMsgs, ourMsgs);

  for (let i = 0; i < calls.length && cookie; i++) {
    const c = asObj(calls[i], `calls[${i}]`);
    const where = `calls[${i}]`;
    const fn = c.fn;
    const callNo = typeof c.call === 'number' ? c.call : i;
    const d: IovaDomain = cookie.iovad;
    const ours: JsonObject = {};
    const a0 = d.mem.allocs;
    const f0 = d.mem.frees;
    switch (fn) {
      case 'alloc_iova': {
        const n = d.allocIova(parseU64(hexField(c, 'size', where)), parseU64(hexField(c, 'limit_pfn', where)), c.size_aligned === true);
        ours.ret = n ? h(n.pfnLo) : '0x0';
        ours.pfn_hi = n ? h(n.pfnHi) : '0x0';
        break;
      }
      case 'alloc_iova_fast': {
        const r = d.allocIovaFast(parseU64(hexField(c, 'size', where)), parseU64(hexField(c, 'limit_pfn', where)), c.flush_rcache === true);
        ours.ret = h(r.pfn);
        ours.source = r.source;
        ours.iova_mem_allocs = d.mem.allocs - a0;
        ours.iova_mem_frees = d.mem.frees - f0;
        break;
      }
      case 'free_iova_fast': {
        ours.dest = d.freeIovaFast(parseU64(hexField(c, 'pfn', where)), parseU64(hexField(c, 'size', where)));
        break;
      }
      case '__free_iova':
      case 'free_iova': {
        const pfn = parseU64(hexField(c, 'pfn', where));
        if (fn === 'free_iova') d.freeIova(pfn);
        else {
          const n = d.findIova(pfn);
          if (!n) throw new MalformedTrace(`${where}: __free_iova of pfn ${h(pfn)} which is not allocated`);
          d.freeIovaNode(n);
        }
        break;
      }
      case 'reserve_iova': {
        const n = d.reserveIova(parseU64(hexField(c, 'pfn_lo', where)), parseU64(hexField(c, 'pfn_hi', where)));
        ours.ret = n ? h(n.pfnLo) : '0x0';
        ours.ret_pfn_hi = n ? h(n.pfnHi) : '0x0';
        break;
      }
      case 'run_delayed_work': {
        ours.works_run = d.runDelayedWork();
        ours.iova_mem_frees = d.mem.frees - f0;
        break;
      }
      case 'iommu_dma_alloc_iova': {
        const size = parseU64(hexField(c, 'size', where));
        const limit = parseU64(hexField(c, 'dma_limit', where));
        const r = cookie.allocIova(dev, size, limit, (text) =>
          ourMsgs.push({ call: callNo, kind: 'printk', level: 'notice', device: dev.name, text }),
        );
        ours.ret = h(r.iova);
        if (r.workaroundTurnedOff) ours.pci_32bit_workaround_now = false;
        ours.inner = r.inner.map((x) => ({
          fn: x.fn,
          size: h(x.size),
          limit_pfn: h(x.limitPfn),
          flush_rcache: x.flushRcache,
          ret: h(x.ret),
          source: x.source,
          iova_mem_allocs: x.memAllocs,
          iova_mem_frees: x.memFrees,
        }));
        break;
      }
      case 'iommu_dma_free_iova': {
        const r = cookie.freeIova(parseU64(hexField(c, 'iova', where)), parseU64(hexField(c, 'size', where)));
        ours.inner = [{ fn: 'free_iova_fast', pfn: h(r.pfn), size: h(r.size), iova_mem_allocs: r.memAllocs, iova_mem_frees: r.memFrees }];
        break;
      }
      default:
        throw new MalformedTrace(`${where}: unknown iova call fn ${JSON.stringify(fn)}`);
    }
    ours.state = stateOf(d);
    const expected: JsonObject = {};
    for (const k of Object.keys(ours)) if (k in c || k === 'state') expected[k] = c[k] ?? null;
    // Fields the kernel recorded that we did not produce count as mismatches.
    for (const k of Object.keys(c)) if (!isInputField(k) && !(k in expected)) expected[k] = c[k];
    expected.messages = messagesOf(expectedMsgs, callNo);
    ours.messages = messagesOf(ourMsgs, callNo);
    log.add(i, c, expected, ours);
  }

  if (cookie && trace.final) {
    const fin = asObj(trace.final, 'final');
    const d = cookie.iovad;
    const ours: JsonObject = {
      rbtree: d.ranges().map((n) => [h(n.pfnLo), h(n.pfnHi)]),
      rcache: d.rcacheContents().map((r) => ({
        order: r.order,
        loaded: r.loaded.map(h),
        prev: r.prev.map(h),
        depot: r.depot.map((m) => m.map(h)),
      })) as Json,
    };
    log.add(calls.length, { fn: 'final' }, fin, ours);
  }
  return log.result('iova', calls.length);
}

const INPUTS = new Set(['call', 'fn', 'size', 'limit_pfn', 'size_aligned', 'flush_rcache', 'pfn', 'pfn_lo', 'pfn_hi_in', 'dma_limit', 'iova']);

function isInputField(k: string): boolean {
  return INPUTS.has(k) || k === 'pfn_hi';
}
