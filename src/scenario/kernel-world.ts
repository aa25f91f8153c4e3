/**
 * The kernel layer's glue for scenarios: a World factory that boots a Kernel on the scenario's board,
 * and the step handlers that drive it (probe, attach, DMA API, iommu_map, device DMA, fault
 * injection, live table walks). Every handler calls the kernel model the way a driver or a test module
 * would; none of them decides an outcome — outcomes come from the failures the layers record.
 */
import { hex, InputError } from '../addr.js';
import { registerWindows } from '../hw/catalog.js';
import { RockchipIommu } from '../hw/rockchip-iommu.js';
import { getFormat } from '../formats/index.js';
import type { PageTable, WalkResult } from '../formats/types.js';
import { PhysMem } from '../mem/phys-mem.js';
import { SimClock, Tracer } from '../trace/events.js';
import { Kernel, KernelCrash, type LinuxDevice } from '../linux/kernel.js';
import { getPreset, withOverrides } from '../linux/presets.js';
import { DMA_MAPPING_ERROR } from '../linux/dma/u64.js';
import type { DmaDirection } from '../linux/kapi.js';
import * as GFP from '../linux/mm/gfp.js';
import { getOrder } from '../linux/mm/page-alloc.js';
import type { IommuDomain } from '../linux/iommu/core.js';
import type { PageChunk } from '../linux/dma/dma-iommu-alloc.js';
import { compareBytes, dataBytes, describeData, describeDiff } from './data.js';
import { registerCrashAdapter, registerStep, type StepContext, type StepHandler } from './runner.js';
import type { StepKind } from './schema.js';
import { loadScenarioBoard, World, type WorldFactory } from './world.js';
import { ScenarioPathError } from './errors.js';
import { registerExplainer } from './explain.js';

export const createKernelWorld: WorldFactory = (scenario, ctx) => {
  const board = loadScenarioBoard(scenario, ctx);
  const mem = new PhysMem(board.ram);
  const tracer = new Tracer(new SimClock());
  const world = new World({ scenario, ctx, board, mem, tracer });
  let preset;
  try {
    preset = getPreset(world.kernelPreset);
  } catch (err) {
    if (err instanceof InputError) throw new ScenarioPathError(['kernel'], err.message);
    throw err;
  }
  try {
    preset = withOverrides(preset, scenario.kernel_config as Record<string, unknown> | undefined);
  } catch (err) {
    if (err instanceof InputError) throw new ScenarioPathError(['kernel_config'], err.message);
    throw err;
  }
  const beyondProp = board.iommus.map((i) => i.props['iommu-lab,beyond-dte-base']).find((v) => typeof v === 'string') as string | undefined;
  const boot = world.cmdline.get('iommu-lab.boot_allocations');
  const kernel = new Kernel({
    board,
    mem,
    tracer,
    preset,
    cmdline: world.cmdline,
    pageSize: world.pageSize,
    seed: world.seed,
    ...(boot !== undefined ? { bootAllocations: Number(boot) } : {}),
    ...(beyondProp === 'bus-error' || beyondProp === 'truncate' ? { rockchipBeyondDteBase: beyondProp } : {}),
  });
  world.kernel = kernel;
  world.hw = kernel.hw;
  return world;
};

function K(w: World): Kernel {
  if (!(w.kernel instanceof Kernel)) throw new Error('kernel steps need the kernel world');
  return w.kernel;
}

function dev(w: World, name: string, ctx: StepContext, field: string): LinuxDevice {
  const d = K(w).device(name);
  if (!d) {
    const known = [...K(w).devices.keys()].join(', ');
    throw ctx.error(field, `no device '${name}' on this board (devices: ${known})`);
  }
  return d;
}

function dirOf(d: string): DmaDirection {
  if (d === 'to-device' || d === 'DMA_TO_DEVICE') return 'to-device';
  if (d === 'from-device' || d === 'DMA_FROM_DEVICE') return 'from-device';
  return 'bidirectional';
}

function parseGfp(text: string | undefined, fallback: number, ctx: StepContext): number {
  if (text === undefined) return fallback;
  let v = 0;
  for (const part of text.split('|').map((s) => s.trim())) {
    if (part === '0') continue;
    const n = (GFP as Record<string, unknown>)[part];
    if (typeof n !== 'number') throw ctx.error('gfp', `unknown GFP flag '${part}'`);
    v |= n;
  }
  return v;
}

/** DMA_ATTR_* bits (include/linux/dma-mapping.h:21-60). */
const DMA_ATTRS: Record<string, number> = {
  DMA_ATTR_WEAK_ORDERING: 1 << 1,
  DMA_ATTR_WRITE_COMBINE: 1 << 2,
  DMA_ATTR_NO_KERNEL_MAPPING: 1 << 4,
  DMA_ATTR_SKIP_CPU_SYNC: 1 << 5,
  DMA_ATTR_FORCE_CONTIGUOUS: 1 << 6,
  DMA_ATTR_ALLOC_SINGLE_PAGES: 1 << 7,
  DMA_ATTR_NO_WARN: 1 << 8,
  DMA_ATTR_PRIVILEGED: 1 << 9,
};

function attrsOf(list: readonly string[] | undefined, ctx: StepContext): number {
  let v = 0;
  (list ?? []).forEach((a, i) => {
    const bit = DMA_ATTRS[a];
    if (bit === undefined) throw ctx.error('attrs', `unknown DMA attribute '${a}' at attrs[${i}] (known: ${Object.keys(DMA_ATTRS).join(', ')})`);
    v |= bit;
  });
  return v;
}

const DMA_DIR_NAME = { 'to-device': 'DMA_TO_DEVICE', 'from-device': 'DMA_FROM_DEVICE', bidirectional: 'DMA_BIDIRECTIONAL' } as const;

function protOf(p: string | undefined): number {
  if (!p) return 3;
  let v = 0;
  if (p.includes('r')) v |= 1;
  if (p.includes('w')) v |= 2;
  if (p.includes('c')) v |= 4;
  if (p.includes('n')) v |= 8;
  if (p.includes('p')) v |= 32;
  return v;
}

/** Wrap a handler: interrupts raised during the step are taken when it ends. */
function reg<K2 extends StepKind>(kind: K2, h: StepHandler<K2>): void {
  registerStep(
    kind,
    (w, s, ctx) => {
      let failed: { error: unknown } | undefined;
      try {
        h(w, s, ctx);
      } catch (error) {
        failed = { error };
      }
      if (w.kernel instanceof Kernel && !w.halted && !(failed?.error instanceof KernelCrash)) {
        try {
          w.kernel.deliverIrqs();
        } catch (e) {
          if (!(e instanceof KernelCrash)) throw e;
          failed ??= { error: e };
        }
      }
      if (failed) throw failed.error;
    },
    { layer: 'kernel', replace: true },
  );
}

let registered = false;

export function registerKernelSteps(): void {
  if (registered) return;
  registered = true;
  registerCrashAdapter((err) => err instanceof KernelCrash);

  reg('probe', (w, s, ctx) => {
    const k = K(w);
    if (s.device === undefined) return k.probeAll();
    const bi = k.board.iommus.find((i) => i.name === s.device);
    if (bi) {
      k.probeIommu(bi);
      return;
    }
    const bm = k.board.masters.find((m) => m.name === s.device);
    if (!bm) throw ctx.error('device', `no device '${s.device}' on this board`);
    k.probeMaster(bm);
  });

  reg('domain_alloc', (w, s, ctx) => {
    const k = K(w);
    const d = dev(w, s.dev, ctx, 'dev');
    if (!d.iommuFwspec) {
      const behind = (d.board as { iommus?: unknown[] } | undefined)?.iommus?.length;
      if (!behind) throw ctx.error('dev', `${s.dev} sits behind no IOMMU on this board`);
      // iommu_paging_domain_alloc: !dev_has_iommu(dev) -> ERR_PTR(-ENODEV) (iommu.c). The device lost its
      // IOMMU to the mechanism (probe not run yet, IOMMU probe or default-domain failure): a failure the
      // caller sees, not a mistake in the scenario.
      const why = k.probed || k.iommuDevices.size ? 'its IOMMU probe or default domain failed' : 'no probe has run yet';
      w.fail('iommu', 'alloc-failed', `iommu_paging_domain_alloc(${s.dev}) returned -ENODEV (${why})`);
      return;
    }
    const dom = k.core.domainAlloc(d, s.type ?? 'unmanaged');
    if (!dom) {
      w.fail('iommu', 'alloc-failed', `domain allocation for ${s.dev} failed`);
      return;
    }
    w.define(s.as, { kind: 'domain', primary: 'pgsize', fields: { pgsize: dom.pgsizeBitmap }, ref: dom }, ctx.path('as'));
  });

  reg('domain_free', (w, s, ctx) => {
    const v = w.lookup(s.domain, ctx.path('domain'), ['domain']);
    K(w).core.domainFree(v.ref as IommuDomain);
    w.undefine(s.domain);
  });

  reg('attach', (w, s, ctx) => {
    const k = K(w);
    const d = dev(w, s.master, ctx, 'master');
    if (s.domain === undefined) {
      const ret = k.core.detachDevice(d);
      if (ret) w.fail('iommu', 'attach-failed', `attach of ${s.master} to its default domain returned ${ret}`);
      return;
    }
    const dom = w.lookup(s.domain, ctx.path('domain'), ['domain']).ref as IommuDomain;
    const ret = k.core.attachDevice(dom, d);
    if (ret) w.fail('iommu', 'attach-failed', `iommu_attach_device(${s.master}) returned ${ret}`);
  });

  reg('detach', (w, s, ctx) => {
    const ret = K(w).core.detachDevice(dev(w, s.master, ctx, 'master'));
    if (ret) w.fail('iommu', 'attach-failed', `detach of ${s.master} returned ${ret}`);
  });

  reg('alloc_pages', (w, s, ctx) => {
    const k = K(w);
    // The buddy allocator counts pages of the kernel's PAGE_SIZE, so `order` is in CPU pages as given.
    const order = s.order !== undefined ? s.order : s.size !== undefined ? getOrder(w.resolveSize(s.size, ctx.path('size')), k.pageSize) : 0;
    const gfp = parseGfp(s.gfp, GFP.GFP_KERNEL, ctx);
    const pa = k.pages.allocPages(gfp, order);
    if (pa === null) {
      w.fail('mm', 'alloc-failed', `alloc_pages(order ${order}) failed`);
      return;
    }
    k.tracer.emit('mm', 'alloc_pages', { phys: pa, order, gfp, zone: k.zoneName(pa), as: s.as });
    w.define(s.as, { kind: 'buffer', primary: 'phys', fields: { phys: pa, size: k.pageSize * 2 ** order, order } }, ctx.path('as'));
  });

  reg('kmalloc', (w, s, ctx) => {
    const k = K(w);
    const size = w.resolveSize(s.size, ctx.path('size'));
    const pa = k.pages.kmalloc(size, parseGfp(s.gfp, GFP.GFP_KERNEL, ctx));
    if (pa === null) {
      w.fail('mm', 'alloc-failed', `kmalloc(${size}) failed`);
      return;
    }
    k.tracer.emit('mm', 'kmalloc', { phys: pa, size, zone: k.zoneName(pa), as: s.as });
    w.define(s.as, { kind: 'buffer', primary: 'phys', fields: { phys: pa, size, kmalloc: 1 } }, ctx.path('as'));
  });

  reg('free', (w, s, ctx) => {
    const k = K(w);
    const v = w.lookup(s.buf, ctx.path('buf'), ['buffer']);
    if (v.fields.kmalloc) k.pages.kfree(v.fields.phys);
    else k.pages.freePages(v.fields.phys, v.fields.order ?? 0);
    w.undefine(s.buf);
  });

  reg('dma_set_mask', (w, s, ctx) => {
    const k = K(w);
    const d = dev(w, s.dev, ctx, 'dev');
    const ret = k.dmaSetMaskAndCoherent(d, s.bits);
    k.tracer.emit('dma', 'dma_set_mask', { dev: s.dev, bits: s.bits, ret });
    if (ret) w.fail('dma', 'map-failed', `dma_set_mask_and_coherent(${s.dev}, DMA_BIT_MASK(${s.bits})) returned ${ret}`);
  });

  reg('dma_map', (w, s, ctx) => {
    const k = K(w);
    const d = dev(w, s.dev, ctx, 'dev');
    const phys = w.resolveAddr(s.buf, ctx.path('buf'), ['phys']);
    let size: number;
    if (s.size !== undefined) size = w.resolveSize(s.size, ctx.path('size'));
    else {
      const name = typeof s.buf === 'string' ? /^\s*([A-Za-z_]\w*)/.exec(s.buf)?.[1] : undefined;
      const v = name ? w.vars.get(name) : undefined;
      if (!v?.fields.size) throw ctx.error('size', 'give a size (the buffer has none)');
      size = v.fields.size;
    }
    const dir = dirOf(s.dir);
    const attrs = attrsOf(s.attrs, ctx);
    // dma_map_page_attrs: dma-direct honours the attributes (SKIP_CPU_SYNC, NO_WARN); through dma-iommu
    // they only steer cache maintenance, which the model does not need.
    const dma = attrs && !d.dmaIommu ? k.direct.mapPage(d, phys, size, DMA_DIR_NAME[dir as keyof typeof DMA_DIR_NAME], attrs).dma : k.dmaMapSingle(d, phys, size, dir);
    if (dma === DMA_MAPPING_ERROR) {
      w.fail('dma', 'map-failed', `dma_map_single(${s.dev}, ${hex(phys)}, ${size}) returned DMA_MAPPING_ERROR`);
      return;
    }
    k.tracer.emit('dma', 'dma_map_single', { dev: s.dev, phys, size, dir, dma, bounced: !d.dmaIommu && !!k.swiotlb?.contains(dma), viaIommu: d.dmaIommu });
    w.define(s.as, { kind: 'mapping', primary: 'dma', fields: { dma, phys, size }, ref: { dev: d, dir, attrs } }, ctx.path('as'));
  });

  reg('dma_unmap', (w, s, ctx) => {
    const v = w.lookup(s.handle, ctx.path('handle'), ['mapping']);
    const r = v.ref as { dev: LinuxDevice; dir: DmaDirection; attrs?: number };
    // The unmap takes the attributes the mapping was made with (drivers pass the same ones).
    if (r.attrs && !r.dev.dmaIommu) K(w).direct.unmapPage(r.dev, v.fields.dma, v.fields.size, DMA_DIR_NAME[r.dir as keyof typeof DMA_DIR_NAME], r.attrs);
    else K(w).dmaUnmapSingle(r.dev, v.fields.dma, v.fields.size, r.dir);
    w.undefine(s.handle);
    // The name still gives the (now stale) DMA address, so a scenario can show a device using it after
    // the unmap; it is no longer a mapping (a second dma_unmap of it is refused).
    w.define(s.handle, { kind: 'unmapped', primary: 'dma', fields: { dma: v.fields.dma, size: v.fields.size } }, ctx.path('handle'));
  });

  reg('dma_map_sg', (w, s, ctx) => {
    const k = K(w);
    const d = dev(w, s.dev, ctx, 'dev');
    const sg = s.bufs.map((b, i) => {
      const base = w.resolveAddr(b.buf, ctx.path('bufs', i, 'buf'), ['phys']);
      const off = b.offset !== undefined ? w.resolveSize(b.offset, ctx.path('bufs', i, 'offset')) : 0;
      let length: number;
      if (b.size !== undefined) length = w.resolveSize(b.size, ctx.path('bufs', i, 'size'));
      else {
        const name = typeof b.buf === 'string' ? /^\s*([A-Za-z_]\w*)\s*$/.exec(b.buf)?.[1] : undefined;
        const v = name ? w.vars.get(name) : undefined;
        if (!v?.fields.size) throw new ScenarioPathError(ctx.path('bufs', i, 'size'), 'give a size (the buffer has none)');
        length = v.fields.size - off;
      }
      return { phys: base + off, length };
    });
    const dir = dirOf(s.dir);
    const maxSegSize = s.max_seg_size !== undefined ? w.resolveSize(s.max_seg_size, ctx.path('max_seg_size')) : undefined;
    const r = k.dmaMapSg(d, sg, dir, maxSegSize !== undefined ? { maxSegSize } : {});
    if (!r) {
      w.fail('dma', 'map-failed', `dma_map_sg(${s.dev}, ${sg.length} entries) returned 0`);
      return;
    }
    const fields: Record<string, number> = { dma: r.segs[0]?.dma ?? 0, nents: r.segs.length, size: r.segs.reduce((n, x) => n + x.length, 0) };
    r.segs.forEach((x, i) => {
      fields[`dma${i}`] = x.dma;
      fields[`len${i}`] = x.length;
    });
    w.say(`dma_map_sg(${s.dev}, ${sg.length} entries) = ${r.segs.length}: ${r.segs.map((x) => `${hex(x.dma)}+${hex(x.length)}`).join(', ')}`);
    w.define(s.as, { kind: 'sg-mapping', primary: 'dma', fields, ref: { dev: d, dir, sg, segs: r.segs } }, ctx.path('as'));
  });

  reg('dma_unmap_sg', (w, s, ctx) => {
    const v = w.lookup(s.handle, ctx.path('handle'), ['sg-mapping']);
    const r = v.ref as { dev: LinuxDevice; dir: DmaDirection; sg: { phys: number; length: number }[]; segs: { dma: number; length: number }[] };
    K(w).dmaUnmapSg(r.dev, r.sg, r.segs, r.dir);
    w.undefine(s.handle);
    w.define(s.handle, { kind: 'unmapped', primary: 'dma', fields: { ...v.fields } }, ctx.path('handle'));
  });

  reg('dma_sync', (w, s, ctx) => {
    const k = K(w);
    const v = w.lookup(s.handle, ctx.path('handle'), ['mapping']);
    const r = v.ref as { dev: LinuxDevice; dir: DmaDirection };
    const off = s.offset !== undefined ? w.resolveSize(s.offset, ctx.path('offset')) : 0;
    const size = s.size !== undefined ? w.resolveSize(s.size, ctx.path('size')) : v.fields.size - off;
    const dir = s.dir ? dirOf(s.dir) : r.dir;
    if (s.for === 'device') k.dmaSyncSingleForDevice(r.dev, v.fields.dma + off, size, dir);
    else k.dmaSyncSingleForCpu(r.dev, v.fields.dma + off, size, dir);
  });

  reg('dma_alloc_coherent', (w, s, ctx) => {
    const k = K(w);
    const d = dev(w, s.dev, ctx, 'dev');
    const size = w.resolveSize(s.size, ctx.path('size'));
    const r = k.dmaAllocCoherent(d, size, parseGfp(s.gfp, GFP.GFP_KERNEL, ctx));
    if (r.cpu === null || r.dma === DMA_MAPPING_ERROR) {
      w.fail('dma', 'alloc-failed', `dma_alloc_coherent(${s.dev}, ${size}) failed`);
      return;
    }
    k.tracer.emit('dma', 'dma_alloc_coherent', { dev: s.dev, size, phys: r.cpu, dma: r.dma, zone: k.zoneName(r.cpu) });
    // A remapped buffer's pages need not be contiguous: `phys` is its first block, `chunks` the count.
    w.define(s.as, { kind: 'coherent', primary: 'dma', fields: { dma: r.dma, phys: r.cpu, size, chunks: r.chunks?.length ?? 1 }, ref: { dev: d, chunks: r.chunks } }, ctx.path('as'));
  });

  reg('dma_free_coherent', (w, s, ctx) => {
    const v = w.lookup(s.handle, ctx.path('handle'), ['coherent']);
    const k = K(w);
    const ref = v.ref as { dev: LinuxDevice; chunks?: PageChunk[] };
    k.dmaFreeCoherent(ref.dev, v.fields.size, v.fields.phys, v.fields.dma, ref.chunks);
    w.undefine(s.handle);
  });

  reg('iommu_map', (w, s, ctx) => {
    const k = K(w);
    const dom = w.lookup(s.domain, ctx.path('domain'), ['domain']).ref as IommuDomain;
    const iova = w.resolveAddr(s.iova, ctx.path('iova'), ['iova', 'dma']);
    const phys = w.resolveAddr(s.phys, ctx.path('phys'), ['phys']);
    const size = w.resolveSize(s.size, ctx.path('size'));
    const ret = k.core.map(dom, iova, phys, size, protOf(s.prot), parseGfp(s.gfp, GFP.GFP_KERNEL, ctx));
    if (ret) w.fail('iommu', 'map-failed', `iommu_map(${hex(iova)}, ${hex(phys)}, ${hex(size)}) returned ${ret}`);
  });

  reg('iommu_unmap', (w, s, ctx) => {
    const k = K(w);
    const dom = w.lookup(s.domain, ctx.path('domain'), ['domain']).ref as IommuDomain;
    const iova = w.resolveAddr(s.iova, ctx.path('iova'), ['iova', 'dma']);
    const size = w.resolveSize(s.size, ctx.path('size'));
    const n = k.core.unmap(dom, iova, size);
    k.tracer.emit('iommu', 'iommu_unmap_step', { iova, size, unmapped: n });
  });

  const transfer = (w: World, master: string, access: 'read' | 'write', addr: number, size: number, ctx: StepContext): boolean => {
    const k = K(w);
    if (!k.masters.has(master)) throw ctx.error('master', `'${master}' is not a bus master on this board (masters: ${[...k.masters.keys()].join(', ')})`);
    checkTransferSize(k, master, size, ctx);
    const seq = k.tracer.events.length;
    const r = k.deviceTransfer(master, access, addr, size);
    const what = `${master} ${access === 'read' ? 'read' : 'write'} of ${size} bytes at ${hex(addr)}`;
    if (r.status === 'fault') w.fail('master', 'page-fault', `${what}: IOMMU fault at ${hex(r.stoppedAt ?? addr)}${r.detail ? ` (${r.detail})` : ''}`, { causes: causalChain(k, master, seq) });
    else if (r.status === 'bus-error') w.fail('master', 'bus-error', `${what}: bus error at ${hex(r.stoppedAt ?? addr)}${r.detail ? ` (${r.detail})` : ''}`, { causes: causalChain(k, master, seq) });
    else if (r.status === 'stall') w.fail('master', 'timeout', `${what}: the IOMMU stalled the transfer`, { cause: seq });
    else if (r.status === 'blocked') w.tracer.emit('master', 'blocked', { master, addr, message: `${what}: dropped (translation disabled, no bypass)` });
    return r.status === 'ok';
  };

  reg('device_write', (w, s, ctx) => {
    const m = K(w).masters.get(s.master);
    const addr = w.resolveAddr(s.addr, ctx.path('addr'), ['dma', 'iova']);
    const size = w.resolveSize(s.size, ctx.path('size'));
    if (m) checkTransferSize(K(w), s.master, size, ctx);
    if (m) m.load(dataBytes(s.data, size));
    transfer(w, s.master, 'write', addr, size, ctx);
  });

  reg('device_read', (w, s, ctx) => {
    const k = K(w);
    const addr = w.resolveAddr(s.addr, ctx.path('addr'), ['dma', 'iova']);
    const size = w.resolveSize(s.size, ctx.path('size'));
    const m = k.masters.get(s.master);
    m?.local.fill(0, 0, size);
    const ok = transfer(w, s.master, 'read', addr, size, ctx);
    if (s.expect !== undefined && m && (ok || true)) {
      const diff = compareBytes(dataBytes(s.expect, size), m.local.subarray(0, size));
      w.observe('master', { what: `step ${ctx.index} ${s.master} read at ${hex(addr)}`, ok: !diff, expected: describeData(s.expect, size), actual: describeDiff(diff, 0) }, { addr, size });
    }
  });

  reg('power_off', (w, s, ctx) => power(w, s.device, false, ctx));
  reg('power_on', (w, s, ctx) => power(w, s.device, true, ctx));

  reg('reset_master', (w, s, ctx) => {
    const k = K(w);
    const bm = k.board.masters.find((m) => m.name === s.master);
    if (!bm) throw ctx.error('master', `no master '${s.master}'`);
    // A master reset that also resets its IOMMU (guide, common problem 6): the IOMMU's registers go back
    // to their reset values behind the driver's back.
    for (const spec of bm.iommus) {
      const hw = k.hw.get(spec.iommu) as { masterReset?(): void } | undefined;
      hw?.masterReset?.();
    }
    k.tracer.emit('hw', 'master_reset', { master: s.master });
  });

  reg('wrong_irq', (w, s, ctx) => {
    const k = K(w);
    dev(w, s.device, ctx, 'device');
    k.irqOverride.set(s.device, s.irq);
    k.tracer.emit('scenario', 'wrong_irq', { device: s.device, irq: s.irq });
  });

  reg('mmio_read', (w, s, ctx) => {
    const k = K(w);
    const { addr, name } = regAddr(w, s.device, s.reg, s.instance ?? 0, ctx);
    const v = k.readl(addr);
    w.say(`${s.device} ${name} = ${hex(v)}`);
    k.tracer.emit('cpu', 'mmio_read', { device: s.device, reg: name, value: v });
    if (s.expect !== undefined)
      w.observe('cpu', { what: `step ${ctx.index} ${s.device} ${name}`, ok: v === s.expect, expected: hex(s.expect), actual: hex(v) });
  });

  reg('mmio_write', (w, s, ctx) => {
    const { addr, name } = regAddr(w, s.device, s.reg, s.instance ?? 0, ctx);
    K(w).writel(addr, s.value);
    K(w).tracer.emit('cpu', 'mmio_write', { device: s.device, reg: name, value: s.value });
  });

  reg('walk', (w, s, ctx) => {
    const k = K(w);
    const live = liveTable(k, s.device);
    if (!live) {
      w.say(`${s.device}: no live page table (not enabled, or no domain attached)`);
      return;
    }
    const iovas = s.iova === undefined ? [] : (Array.isArray(s.iova) ? s.iova : [s.iova]).map((a, i) => w.resolveAddr(a, ctx.path('iova', i), ['dma', 'iova']));
    const fmt = getFormat(live.format);
    const params = { roots: live.roots, cfg: live.cfg };
    if (!iovas.length) {
      const e = fmt.enumerate(k.mem, params);
      w.say(`${s.device}: ${live.format} table at ${live.roots.map(hex).join(', ')}: ${e.mappings.length} run(s)`);
      for (const m of e.mappings) w.say(`  ${hex(m.iova)} -> ${hex(m.phys)} ${hex(m.size)} prot ${m.prot}`);
      for (const p of e.problems) w.say(`  problem: ${p.message}`);
      return;
    }
    for (const iova of iovas) w.say(...explainWalk(s.device, live.format, live.rootText, fmt.walk(k.mem, params, iova)));
  });

  reg('iommu_group_type', (w, s, ctx) => {
    const k = K(w);
    const d = dev(w, s.master, ctx, 'master');
    if (!d.iommuGroup) throw ctx.error('master', `${s.master} is in no IOMMU group`);
    const ret = k.groupStoreType(d, s.type);
    // A refused write is the shell's "write error", not a failure of the modelled system.
    w.say(`echo ${s.type} > /sys/kernel/iommu_groups/${d.iommuGroup.id}/type: ${ret ? `write error ${ret}` : 'ok'}`);
  });

  reg('sleep', (w, s) => {
    const m = /^(\d+)\s*(ns|us|ms|s)?$/.exec(String(s.time).trim());
    const mult = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 }[(m?.[2] ?? 'ns') as 'ns'];
    w.clock.advance(Number(m?.[1] ?? 0) * mult);
  });

  // The causal chain in words (--explain).
  registerExplainer('mm:iommu_alloc_page', (e, c) =>
    e.data.phys === null ? `${String(e.data.why)}: allocation failed` : `${String(e.data.why)} allocated at ${c.hex(Number(e.data.phys))} in ZONE_${String(e.data.zone)} (gfp ${String(e.data.gfpText)})${e.data.above4G ? ' — above 4 GiB' : ''}`,
  );
  registerExplainer('driver:rk_dt_alloc', (e, c) =>
    e.data.bounced ? `dma_map_single(dma_dev) of the DT at ${c.hex(Number(e.data.dtPhys))} returned the swiotlb slot ${c.hex(Number(e.data.dtDma))}: the driver keeps that as dt_dma (CPU writes still go to the original, each flush copies it over)` : `the DT is DMA-mapped at its physical address ${c.hex(Number(e.data.dtDma))}`,
  );
  registerExplainer('driver:rk_pt_alloc', (e, c) =>
    e.data.bounced
      ? `the page table for IOVA ${c.hex(Number(e.data.iova))} at ${c.hex(Number(e.data.ptPhys))} was bounced to swiotlb slot ${c.hex(Number(e.data.ptDma))}; the DTE names the slot, so the driver will write PTEs into the slot (phys_to_virt of the DTE address)`
      : `page table for IOVA ${c.hex(Number(e.data.iova))} at ${c.hex(Number(e.data.ptPhys))}; DTE ${c.hex(Number(e.data.dte))}`,
  );
  registerExplainer('driver:rk_enable', (e, c) => `${String(e.data.dev)} enabled: DTE_ADDR <- ${c.hex(Number(e.data.dteAddrReg))} (DT at ${c.hex(Number(e.data.dtDma))})`);
  registerExplainer('swiotlb:swiotlb_bounce', (e, c) => {
    const to = Number(e.data.to);
    const size = Number(e.data.size);
    if (e.data.dir !== 'DMA_TO_DEVICE') return `swiotlb copied ${size} bytes from the slot ${c.hex(Number(e.data.from))} back to ${c.hex(to)}`;
    // Did the CPU write into this slot range before the copy? Then the copy erased it.
    const erased = c.events.filter((x) => x.seq < e.seq && x.layer === 'cpu' && x.type === 'write32' && Number(x.data.pa) >= to && Number(x.data.pa) < to + size);
    const base = `swiotlb copied ${size} bytes from the original ${c.hex(Number(e.data.from))} over the bounce slot ${c.hex(to)} (DMA_TO_DEVICE)`;
    return erased.length ? `${base}, erasing the ${String(erased[erased.length - 1].data.why)} the CPU had written there (${c.hex(Number(erased[erased.length - 1].data.value))})` : base;
  });
  registerExplainer('cpu:write32', (e, c) => `the CPU (the driver, through phys_to_virt) wrote ${String(e.data.why)} ${c.hex(Number(e.data.value))} at ${c.hex(Number(e.data.pa))}`);
  registerExplainer('hw:walk', (e, c) =>
    e.data.fault ? `${String(e.data.device)} walked IOVA ${c.hex(Number(e.data.iova))} and stopped: ${String(e.data.fault)} after ${String(e.data.steps)} level(s)` : undefined,
  );
  registerExplainer('hw:dte_base_truncated', (e, c) =>
    `${String(e.data.device)} cannot use a DT base above 4 GiB: it wanted ${c.hex(Number(e.data.wanted))} and walked ${c.hex(Number(e.data.used))} instead`,
  );
  registerExplainer('io-pgtable:dma_not_phys', (e, c) => `table page at ${c.hex(Number(e.data.phys))} was DMA-mapped at ${c.hex(Number(e.data.dma))} (≠ its physical address): io-pgtable refuses it (${String(e.data.where)})`);
  registerExplainer('master:transfer', (e, c) =>
    e.data.status === 'ok' ? undefined : `${String(e.data.master)} ${String(e.data.access)} at ${c.hex(Number(e.data.addr))}: ${String(e.data.status)}${e.data.detail ? ` — ${String(e.data.detail)}` : ''}`,
  );
  registerExplainer('driver:rk_page_fault', (e, c) => `${String(e.data.dev)} reported a page fault at IOVA ${c.hex(Number(e.data.iova))} (${e.data.write ? 'write' : 'read'})`);
  registerExplainer('driver:rk_bus_error', (e, c) => `${String(e.data.dev)} reported BUS_ERROR (IOVA register ${c.hex(Number(e.data.iova))})`);
  registerExplainer('kernel:warn', (e) => `WARN: ${String(e.data.message)}`);
  registerExplainer('scenario:wrong_irq', (e) => `the device tree gives ${String(e.data.device)} interrupt ${String(e.data.irq)}: its driver will request that line, not the one the hardware drives`);
  registerExplainer('kernel:request_irq', (e) => `${String(e.data.name)} requested IRQ ${String(e.data.irq)} for ${String(e.data.symbol)}${e.data.shared ? ' (IRQF_SHARED)' : ''}`);
  registerExplainer('hw:irq_raise', (e) => `${String(e.data.source)} raised its interrupt line ${String(e.data.irq)} (level: it stays up until its status is cleared)`);
  registerExplainer('kernel:irq_storm', (e) =>
    `IRQ ${String(e.data.irq)}: ${String(e.data.unhandled)} of ${String(e.data.deliveries)} deliveries unhandled by ${(e.data.handlers as string[] | undefined)?.join(', ') || 'no handler'} while ${(e.data.assertedBy as string[] | undefined)?.join(', ') || 'a device'} held it; note_interrupt disabled the line`,
  );
  registerExplainer('iommu:dma_fq_fallback', (e) => `${String(e.data.dev)}: DMA-FQ domain turned into a strict DMA domain (${String(e.data.reason)})`);
  registerExplainer('dma:fq_flush', (e) => `flush queue: IOTLB flushed (${String(e.data.why)}); queued IOVAs may now be reused`);
  registerExplainer('iommu:probe_failed', (e) => `${String(e.data.dev)} left without an IOMMU (probe returned ${String(e.data.ret)}): it will use dma-direct`);
  registerExplainer('driver:dart_fake_bypass', (e, c) => `${String(e.data.dev)}: static table maps IOVA 0..${c.hex(Number(e.data.size))} onto ${c.hex(Number(e.data.phys))}; memory beyond must bounce`);
}

/**
 * The events that explain a failed device access, in order: where the tables came from (allocation
 * zone, bounce), what the driver programmed (DTE_ADDR, the entries it wrote), what overwrote an entry
 * (a swiotlb copy), how the hardware walked (truncation, the entry it read) and the transfer itself.
 */
function causalChain(k: Kernel, master: string, transferSeq: number): number[] {
  const bm = k.board.masters.find((m) => m.name === master);
  const hw = bm?.iommus[0] ? (k.hw.get(bm.iommus[0].iommu) as { lastWalk?: WalkResult; instances?: { lastWalk?: WalkResult }[] } | undefined) : undefined;
  // Rockchip keeps the walk per MMU instance; the others on the model.
  const walk = hw?.lastWalk ?? hw?.instances?.map((i) => i.lastWalk).find((x) => x);
  const device = bm?.iommus[0]?.iommu;
  const entryAddrs = new Set<number>((walk?.steps ?? []).map((st) => st.entryAddr));
  const tables = new Set<number>((walk?.steps ?? []).map((st) => st.tableAddr));
  const last = walk?.steps[walk.steps.length - 1];
  const within = (a: number, from: unknown, size: unknown) => typeof from === 'number' && typeof size === 'number' && a >= from && a < from + size;
  // The device's current DT (Rockchip) from its last enable, and the PTs the driver allocated.
  let dtPhys: number | undefined;
  const ptPhys = new Set<number>();
  for (const e of k.tracer.events) {
    if (e.seq > transferSeq) break;
    if (e.layer === 'driver' && e.type === 'rk_enable' && e.data.dev === device) dtPhys = e.data.dtPhys as number;
    if (e.layer === 'driver' && e.type === 'rk_pt_alloc') ptPhys.add(e.data.ptPhys as number);
  }
  const out: number[] = [];
  for (const e of k.tracer.events) {
    if (e.seq > transferSeq) break;
    const d = e.data;
    const key = `${e.layer}:${e.type}`;
    let keep = false;
    if (key === 'driver:rk_enable') keep = d.dev === device;
    else if (key === 'driver:rk_dt_alloc') keep = d.dtPhys === dtPhys;
    else if (key === 'driver:rk_pt_alloc' || key === 'io-pgtable:dma_not_phys') keep = true;
    else if (key === 'mm:iommu_alloc_page' && typeof d.phys === 'number') keep = d.phys === dtPhys || ptPhys.has(d.phys) || tables.has(d.phys);
    else if (key === 'hw:dte_base_truncated') keep = d.device === device || String(d.device).startsWith(`${device}`);
    else if (key === 'cpu:write32' && last) keep = d.pa === last.entryAddr;
    else if (key === 'swiotlb:swiotlb_bounce') keep = [...entryAddrs].some((a) => within(a, d.to, d.size));
    if (keep) out.push(e.seq);
  }
  out.push(transferSeq);
  return out;
}

/** One device_read/device_write moves at most the modelled master's own buffer; a longer one is split by the author. */
function checkTransferSize(k: Kernel, master: string, size: number, ctx: StepContext): void {
  const cap = k.masters.get(master)?.local.length ?? 0;
  if (size > cap) throw ctx.error('size', `${master} moves at most ${hex(cap)} bytes in one transfer (its modelled device buffer); split the transfer into steps of that size (got ${hex(size)})`);
}

function power(w: World, device: string, on: boolean, ctx: StepContext): void {
  const k = K(w);
  const d = dev(w, device, ctx, 'device');
  const pd = d.board?.powerDomain;
  if (!pd) throw ctx.error('device', `${device} has no power domain in the device tree`);
  k.setPower(pd, on);
}

function regAddr(w: World, device: string, reg: string | number, instance: number, ctx: StepContext): { addr: number; name: string } {
  const k = K(w);
  const bi = k.board.iommus.find((i) => i.name === device);
  const hw = k.hw.get(device);
  if (!bi || !hw) throw ctx.error('device', `'${device}' is not an IOMMU with a model on this board`);
  const win = registerWindows(hw)[instance];
  const base = bi.reg[instance]?.base;
  if (!win || base === undefined) throw ctx.error('instance', `${device} has no register window ${instance}`);
  if (typeof reg === 'number') return { addr: base + reg, name: hex(reg) };
  const regs = (win as unknown as { regs?: { name: string; offset: number }[] }).regs ?? [];
  const r = regs.find((x) => x.name === reg || x.name.endsWith(reg));
  if (!r) throw ctx.error('reg', `${device} has no register ${reg} (registers: ${regs.map((x) => x.name).join(', ')})`);
  return { addr: base + r.offset, name: r.name };
}

interface LiveTable {
  format: string;
  roots: number[];
  cfg: PageTable['cfg'];
  rootText: string;
}

/** The table an IOMMU walks right now: from its base register (Rockchip) or its attached domain. */
function liveTable(k: Kernel, device: string): LiveTable | undefined {
  const hw = k.hw.get(device);
  if (hw instanceof RockchipIommu) {
    const bi = k.board.iommus.find((i) => i.name === device)!;
    const raw = k.readl(bi.reg[0].base);
    const iommu = k.rockchip.iommus.find((i) => i.dev.name === device);
    const format = iommu?.row.entries === 'v1' ? 'rockchip-v1' : 'rockchip-v2';
    const fmt = getFormat(format);
    const cfg = fmt.resolveConfig({});
    if (raw === 0) return undefined;
    return { format, roots: fmt.decodeRootRegister(raw, cfg), cfg, rootText: `DTE_ADDR ${hex(raw)}` };
  }
  for (const g of k.core.groups) {
    const d = g.devices.find((x) => x.iommuFwspec?.iommu.name === device);
    const dom = g.domain;
    if (!d || !dom) continue;
    const iop = (dom.priv as { iop?: PageTable | null } | undefined)?.iop;
    if (!iop) continue;
    return { format: iop.format.name, roots: iop.roots, cfg: iop.cfg, rootText: `root ${iop.roots.map(hex).join(', ')}` };
  }
  return undefined;
}

/** A walk in words, like the Rockchip guide's manual dump procedure and an LPAE level walk. */
export function explainWalk(device: string, format: string, rootText: string, r: WalkResult): string[] {
  const out = [`${device}: walk of IOVA ${hex(r.iova)} (${format}, ${rootText})`];
  for (const s of r.steps) {
    const entry = s.entryHi ? `0x${s.entryHi.toString(16)}${s.entryLo.toString(16).padStart(8, '0')}` : hex(s.entryLo);
    out.push(`  level ${s.level}: table ${hex(s.tableAddr)} index ${s.index} -> entry at ${hex(s.entryAddr)} = ${entry} (${s.kind})`);
  }
  if (r.phys !== null) out.push(`  => physical ${hex(r.phys)} (leaf ${hex(r.leafSize)}, prot ${r.prot})`);
  else out.push(`  => fault: ${r.fault}${r.detail ? ` — ${r.detail}` : ''}`);
  return out;
}
