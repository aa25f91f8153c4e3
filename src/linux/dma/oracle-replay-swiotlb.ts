/**
 * Replay of `kind: "swiotlb"` oracle traces through our swiotlb on a PhysMem laid out as the recording
 * shim's memory (README of the samples): the pool, 16 MiB of RAM at 0x1_0000_0000 holding byte
 * `(i*7 + (i>>8)) & 0xff` at offset i, and 1 MiB at 0x8000_0000.
 *
 * `bytes` entries are the harness's snapshots. The harness's own writes are re-enacted from the
 * documented conventions: before a map the original window holds 0x10, 0x11, ... and every slot
 * 0xb0, 0xb1, ... (by offset in the slot); "device wrote 0xNN.. into tlb" and "cpu wrote 0xNN.. into
 * orig" are byte ramps over the synced range, written before the call they precede.
 */
import { PhysMem, type RamBank } from '../../mem/phys-mem.js';
import { Device } from '../device.js';
import { KLog, KernelBugStop } from './kmsg.js';
import { Swiotlb, IO_TLB_SIZE, type DmaDir } from './swiotlb.js';
import { DirectDma } from './direct.js';
import { hexU64, parseU64, DMA_MAPPING_ERROR } from './u64.js';
import {
  asArr,
  asObj,
  hexField,
  MalformedTrace,
  messagesOf,
  numField,
  startReplay,
  strField,
  type Json,
  type JsonObject,
  type OracleMessage,
  type ReplayResult,
} from './oracle-replay.js';

const h = hexU64;
const RAM_HI = 0x1_0000_0000;
const RAM_HI_SIZE = 16 << 20;

export function shimBanks(poolStart: number, poolEnd: number): RamBank[] {
  const raw = [
    { base: poolStart, size: poolEnd - poolStart },
    { base: 0x8000_0000, size: 1 << 20 },
    { base: RAM_HI, size: RAM_HI_SIZE },
  ].sort((a, b) => a.base - b.base);
  const out: RamBank[] = [];
  for (const b of raw) {
    const last = out[out.length - 1];
    if (last && b.base <= last.base + last.size) {
      last.size = Math.max(last.size, b.base + b.size - last.base);
    } else out.push({ ...b });
  }
  return out;
}

export function fillShimRam(mem: PhysMem): void {
  // (i*7 + (i>>8)) & 0xff repeats every 64 KiB (256 * 7 * (i>>8 step) is 0 mod 256): fill one period, copy it.
  const buf = new Uint8Array(RAM_HI_SIZE);
  for (let i = 0; i < 0x10000; i++) buf[i] = (i * 7 + (i >>> 8)) & 0xff;
  for (let off = 0x10000; off < RAM_HI_SIZE; off *= 2) buf.copyWithin(off, 0, Math.min(off, RAM_HI_SIZE - off));
  mem.writeBytes(RAM_HI, buf);
}

function ramp(start: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let j = 0; j < len; j++) b[j] = (start + j) & 0xff;
  return b;
}

function hexBytes(mem: PhysMem, addr: number, len: number): string {
  const b = mem.readBytes(addr, len);
  if (!b) return '';
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function poolState(p: Swiotlb, withList: boolean): JsonObject {
  const o: JsonObject = {
    areas_used: [...p.areaUsed],
    areas_index: [...p.areaIndex],
    total_used: p.totalUsed,
    used_hiwater: p.usedHiwater,
  };
  if (withList && p.nslabs <= 1024) o.list = Array.from(p.list);
  return o;
}

const INPUTS = new Set([
  'call', 'fn', 'dev', 'min_align_mask', 'seg_boundary', 'orig_addr', 'mapping_size', 'alloc_align_mask', 'dir', 'attrs',
  'attrs_names', 'cpu', 'tlb_addr', 'size', 'step', 'phys', 'dma_mask', 'coherent', 'addr',
]);

export function replaySwiotlb(trace: JsonObject): ReplayResult {
  const cfg = asObj(trace.config, 'config');
  const poolCfg = asObj(trace.pool, 'pool');
  const calls = asArr(trace.calls, 'calls');
  const { log, expectedMsgs, pageSize } = startReplay(trace, cfg);
  const base = parseU64(hexField(cfg, 'memblock_alloc_low_base', 'config'));
  const param = typeof cfg.swiotlb_param === 'string' ? cfg.swiotlb_param : null;
  const cpus = numField(cfg, 'num_possible_cpus', 'config');
  const poolEnd = parseU64(hexField(poolCfg, 'end', 'pool'));
  const mem = new PhysMem(shimBanks(base, Math.max(poolEnd, base + pageSize)));
  fillShimRam(mem);
  const klog = new KLog();
  const pool = Swiotlb.boot({ mem, pageSize, cpus, param, base, klog });
  if (!pool) throw new MalformedTrace('the trace configures no swiotlb pool');

  const devices = new Map<string, Device>();
  for (const [i, dj] of asArr(cfg.devices, 'config.devices').entries()) {
    const d = asObj(dj, `config.devices[${i}]`);
    const name = strField(d, 'name', `config.devices[${i}]`);
    const dev = new Device(name, '', {
      minAlignMask: parseU64(hexField(d, 'min_align_mask', `config.devices[${i}]`)),
      segBoundaryMask: parseU64(hexField(d, 'seg_boundary', `config.devices[${i}]`)),
      dmaMask: parseU64(hexField(d, 'dma_mask', `config.devices[${i}]`)),
      dmaCoherent: d.coherent !== false,
    });
    dev.dmaIoTlbMem = pool;
    devices.set(name, dev);
  }
  const devOf = (c: JsonObject, where: string): Device => {
    const d = devices.get(strField(c, 'dev', where));
    if (!d) throw new MalformedTrace(`${where}: unknown device ${JSON.stringify(c.dev)}`);
    return d;
  };

  const setupOurs: JsonObject = {
    start: h(pool.start),
    end: h(pool.end),
    nslabs: pool.nslabs,
    nareas: pool.nareas,
    area_nslabs: pool.areaNslabs,
    io_tlb_segsize: 128,
    io_tlb_size: IO_TLB_SIZE,
    max_mapping_size: [...devices.values()].map((d) => h(pool.maxMappingSize(d))),
  };
  log.addSetup('setup', 'pool', poolCfg, setupOurs, expectedMsgs, klog.messages as OracleMessage[]);

  const direct = new DirectDma({
    mem,
    pageSize,
    swiotlb: pool,
    klog,
    // The recording shim runs arm64's dma_kmalloc_needs_bounce outside an arm64 CPU, where
    // cache_line_size() has no CTR_EL0 to read; its README summarises the result as "bounced below
    // 2 * ARCH_DMA_MINALIGN", i.e. the ARCH_DMA_MINALIGN fallback of cache_line_size_of_cpu (128).
    cacheLineSize: typeof cfg.cache_line_size === 'number' ? cfg.cache_line_size : 128,
  });
  /** Live mappings: tlb address -> mapping size (to find a mapping's base for harness writes). */
  const mappings = new Map<number, number>();
  const mappingOf = (addr: number): [number, number] | null => {
    for (const [b, s] of mappings) if (addr >= b && addr < b + s) return [b, s];
    return null;
  };
  const nextSnapshot = (i: number): JsonObject | null => {
    const n = calls[i + 1];
    if (n && typeof n === 'object' && !Array.isArray(n) && (n as JsonObject).fn === 'bytes') return n as JsonObject;
    return null;
  };
  /** The first snapshot after call i and before the next map. */
  const snapshotForMap = (i: number): JsonObject | null => {
    for (let k = i + 1; k < calls.length; k++) {
      const n = calls[k] as JsonObject;
      if (n.fn === 'bytes') return n;
      if (n.fn === 'swiotlb_tbl_map_single' || n.fn === 'dma_direct_map_page') return null;
    }
    return null;
  };

  for (let i = 0; i < calls.length; i++) {
    const c = asObj(calls[i], `calls[${i}]`);
    const where = `calls[${i}]`;
    const callNo = typeof c.call === 'number' ? c.call : -1;
    klog.call = callNo;
    const msgStart = klog.messages.length;
    const ours: JsonObject = {};
    const withList = 'list' in c;
    let stopped = false;
    try {
      switch (c.fn) {
        case 'swiotlb_tbl_map_single': {
          const dev = devOf(c, where);
          // The call records the device attributes it ran with; use them.
          if (typeof c.min_align_mask === 'string') dev.minAlignMask = parseU64(c.min_align_mask);
          if (typeof c.seg_boundary === 'string') dev.segBoundaryMask = parseU64(c.seg_boundary);
          const orig = parseU64(hexField(c, 'orig_addr', where));
          const size = parseU64(hexField(c, 'mapping_size', where));
          const snap = snapshotForMap(i);
          if (snap) prefillOrig(mem, orig, size, snap);
          pool.cpu = typeof c.cpu === 'number' ? c.cpu : 0;
          const r = pool.mapSingle(dev, orig, size, parseU64(hexField(c, 'alloc_align_mask', where)), strField(c, 'dir', where) as DmaDir, parseU64(String(c.attrs ?? '0x0')));
          if (r) {
            ours.ret = h(r.tlbAddr);
            ours.slot_index = r.slotIndex;
            ours.pad_slots = r.padSlots;
            ours.nslots = r.nslots;
            ours.area = r.area;
            ours.alloc_size = h(r.allocSize);
            mappings.set(r.tlbAddr, size);
            if (snap && typeof snap.tlb_addr === 'string') prefillSlots(mem, pool, parseU64(snap.tlb_addr), (snap.tlb as string).length / 2, r.tlbAddr, size);
          } else ours.ret = h(DMA_MAPPING_ERROR);
          Object.assign(ours, poolState(pool, withList));
          break;
        }
        case 'swiotlb_tbl_unmap_single': {
          const dev = devOf(c, where);
          const tlb = parseU64(hexField(c, 'tlb_addr', where));
          const size = parseU64(hexField(c, 'mapping_size', where));
          harnessWrites(mem, pool, dev, nextSnapshot(i), tlb, size, mappingOf(tlb));
          pool.unmapSingle(dev, tlb, size, strField(c, 'dir', where) as DmaDir, parseU64(String(c.attrs ?? '0x0')));
          mappings.delete(tlb);
          Object.assign(ours, poolState(pool, withList));
          break;
        }
        case 'swiotlb_sync_single_for_cpu':
        case 'swiotlb_sync_single_for_device': {
          const dev = devOf(c, where);
          const tlb = parseU64(hexField(c, 'tlb_addr', where));
          const size = parseU64(hexField(c, 'size', where));
          harnessWrites(mem, pool, dev, nextSnapshot(i), tlb, size, mappingOf(tlb));
          const dir = strField(c, 'dir', where) as DmaDir;
          if (c.fn === 'swiotlb_sync_single_for_cpu') pool.syncSingleForCpu(dev, tlb, size, dir);
          else pool.syncSingleForDevice(dev, tlb, size, dir);
          break;
        }
        case 'dma_direct_map_page': {
          const dev = devOf(c, where);
          if (typeof c.dma_mask === 'string') dev.dmaMask = parseU64(c.dma_mask);
          if (typeof c.coherent === 'boolean') dev.dmaCoherent = c.coherent;
          const phys = parseU64(hexField(c, 'phys', where));
          const size = parseU64(hexField(c, 'size', where));
          const snap = snapshotForMap(i);
          if (snap) prefillOrig(mem, phys, size, snap);
          pool.cpu = typeof c.cpu === 'number' ? c.cpu : 0;
          const r = direct.mapPage(dev, phys, size, strField(c, 'dir', where) as DmaDir, parseU64(String(c.attrs ?? '0x0')));
          ours.ret = h(r.dma);
          ours.bounced = r.bounced;
          ours.arch_sync_dma_for_device = archSyncJson(c.arch_sync_dma_for_device, r.archSyncForDevice, r.bounced ? r.dma : phys, size, strField(c, 'dir', where));
          if (r.bounced && r.dma !== DMA_MAPPING_ERROR) {
            mappings.set(r.dma, size);
            if (snap && typeof snap.tlb_addr === 'string') prefillSlots(mem, pool, parseU64(snap.tlb_addr), (snap.tlb as string).length / 2, r.dma, size);
          }
          Object.assign(ours, poolState(pool, false));
          break;
        }
        case 'dma_direct_unmap_page': {
          const dev = devOf(c, where);
          const addr = parseU64(hexField(c, 'addr', where));
          const size = parseU64(hexField(c, 'size', where));
          harnessWrites(mem, pool, dev, nextSnapshot(i), addr, size, mappingOf(addr));
          const r = direct.unmapPage(dev, addr, size, strField(c, 'dir', where) as DmaDir, parseU64(String(c.attrs ?? '0x0')));
          ours.arch_sync_dma_for_cpu = archSyncJson(c.arch_sync_dma_for_cpu, r.archSyncForCpu, addr, size, strField(c, 'dir', where));
          mappings.delete(addr);
          Object.assign(ours, poolState(pool, false));
          break;
        }
        case 'bytes': {
          const oa = parseU64(hexField(c, 'orig_addr', where));
          if (typeof c.orig === 'string') ours.orig = hexBytes(mem, oa, c.orig.length / 2);
          if (typeof c.tlb_addr === 'string' && typeof c.tlb === 'string') ours.tlb = hexBytes(mem, parseU64(c.tlb_addr), c.tlb.length / 2);
          break;
        }
        default:
          throw new MalformedTrace(`${where}: unknown swiotlb call fn ${JSON.stringify(c.fn)}`);
      }
    } catch (e) {
      // BUG_ON ends the case, as in the recording shim.
      if (!(e instanceof KernelBugStop)) throw e;
      stopped = true;
    }
    const expected: JsonObject = {};
    for (const k of Object.keys(c)) if (!INPUTS.has(k)) expected[k] = c[k];
    if (c.fn !== 'bytes') {
      expected.messages = messagesOf(expectedMsgs, callNo);
      ours.messages = messagesOf(klog.messages.slice(msgStart) as OracleMessage[], callNo);
    }
    log.add(i, c, expected, ours);
    if (stopped) break;
  }

  if (trace.final) {
    const fin = asObj(trace.final, 'final');
    const used: Json[] = [];
    for (let s = 0; s < pool.nslabs; s++) {
      if (pool.list[s] === 0) used.push([s, pool.list[s], h(pool.origAddr[s]), h(pool.allocSize[s]), pool.padSlots[s]]);
    }
    const ours: JsonObject = { ...poolState(pool, 'list' in fin), used_slots: used };
    log.add(calls.length, { fn: 'final' }, fin, ours);
  }
  return log.result('swiotlb', calls.length);
}

/**
 * The harness's pre-fill of the original before a map: 0x10, 0x11, ... from the start of the window it
 * will print (8 bytes before the mapping), over at least the mapping.
 */
function prefillOrig(mem: PhysMem, orig: number, size: number, snap: JsonObject): void {
  if (typeof snap.orig_addr !== 'string' || typeof snap.orig !== 'string') return;
  const w = Math.min(orig, parseU64(snap.orig_addr));
  const end = Math.max(orig + size, parseU64(snap.orig_addr) + snap.orig.length / 2);
  const firstLen = parseU64(snap.orig_addr) <= orig ? end - w : orig + size - w;
  mem.writeBytes(w, ramp(0x10, firstLen));
}

/** Slot bytes 0xb0 + (offset in slot) around a fresh mapping, outside what the map itself copied. */
function prefillSlots(mem: PhysMem, pool: Swiotlb, wStart: number, wLen: number, tlb: number, size: number): void {
  for (let a = wStart; a < wStart + wLen; a++) {
    if (a >= tlb && a < tlb + size) continue;
    if (!pool.contains(a)) continue;
    mem.write8(a, (0xb0 + ((a - pool.start) & (IO_TLB_SIZE - 1))) & 0xff);
  }
}

/** Re-enact "device wrote 0xNN.. into tlb" / "cpu wrote 0xNN.. into orig" before the call. */
function harnessWrites(mem: PhysMem, pool: Swiotlb, dev: Device, snap: JsonObject | null, tlb: number, size: number, mapping: [number, number] | null): void {
  if (!snap || typeof snap.step !== 'string') return;
  const step = snap.step;
  const devW = /device wrote 0x([0-9a-f]+)\.\. into tlb/i.exec(step);
  const cpu = /cpu wrote 0x([0-9a-f]+)\.\. into orig/i.exec(step);
  if (devW) mem.writeBytes(tlb, ramp(parseInt(devW[1], 16), size));
  else if (cpu) {
    const o = pool.origOf(dev, tlb);
    if (o !== null) mem.writeBytes(o, ramp(parseInt(cpu[1], 16), size));
  } else if (mapping && /^(partial|oversize)/.test(step)) {
    // A partial or oversize sync_for_cpu: the device has written its 0xd0.. ramp over the whole mapping.
    mem.writeBytes(mapping[0], ramp(0xd0, mapping[1]));
  }
}

/**
 * Cache-maintenance calls in the shape the trace uses: a count, or (if the trace lists them) one
 * {paddr, size, dir} per call.
 */
function archSyncJson(expected: Json | undefined, count: number, paddr: number, size: number, dir: string): Json {
  if (Array.isArray(expected)) {
    const out: Json[] = [];
    for (let i = 0; i < count; i++) out.push({ paddr: h(paddr), size: h(size), dir });
    return out;
  }
  if (typeof expected === 'boolean') return count > 0;
  return count;
}
