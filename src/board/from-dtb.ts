/**
 * From a parsed device tree to a Board: RAM, IOMMUs, their masters, the bus dma-ranges, and what the
 * kernel would derive from them (device names, the ZONE_DMA limit). Plus node additions expressed as
 * data, so a scenario can say "this .dtb, 8G of RAM, plus the NPU IOMMU and its master" and the added
 * nodes go through exactly the same path as the ones from the blob.
 */
import { InputError, hex } from '../addr.js';
import type { RamBank } from '../mem/phys-mem.js';
import { Fdt, encodeCells, encodeStrings, type FdtNode } from './fdt.js';
import { iommuModel } from './iommu-models.js';
import { ramFamilyFor, resolveRam } from './ram-layouts.js';
import type { Board, BoardIommu, BoardMaster, DmaRange, RegWindow } from './types.js';

/** A cell in an added property: a u32, or "&/path/to/node" for that node's phandle. */
export type DtCell = number | string;
/**
 * A property value of an added node: cells (numbers and "&/path" references), one string, a string list
 * (`{ strings: [...] }`), `true` for an empty (boolean) property, `null` to delete the property.
 */
export type DtValue = DtCell[] | string | { strings: string[] } | true | null;

export interface NodeAddition {
  /** Absolute path; created when missing (its parent must exist), merged into when present. */
  path: string;
  props?: Record<string, DtValue>;
}

/** Binding names of power-domain ids, keyed by the provider's compatible (include/dt-bindings/power/). */
const POWER_DOMAIN_NAMES: Record<string, Record<number, string>> = {
  // include/dt-bindings/power/rk3568-power.h
  'rockchip,rk3568-power-controller': {
    0: 'RK3568_PD_CPU_0', 1: 'RK3568_PD_CPU_1', 2: 'RK3568_PD_CPU_2', 3: 'RK3568_PD_CPU_3',
    4: 'RK3568_PD_CORE_ALIVE', 5: 'RK3568_PD_PMU', 6: 'RK3568_PD_NPU', 7: 'RK3568_PD_GPU', 8: 'RK3568_PD_VI',
    9: 'RK3568_PD_VO', 10: 'RK3568_PD_RGA', 11: 'RK3568_PD_VPU', 12: 'RK3568_PD_CENTER', 13: 'RK3568_PD_RKVDEC',
    14: 'RK3568_PD_RKVENC', 15: 'RK3568_PD_PIPE', 16: 'RK3568_PD_LOGIC_ALIVE',
  },
  // include/dt-bindings/power/r8a7795-sysc.h
  'renesas,r8a7795-sysc': {
    0: 'R8A7795_PD_CA57_CPU0', 1: 'R8A7795_PD_CA57_CPU1', 2: 'R8A7795_PD_CA57_CPU2', 3: 'R8A7795_PD_CA57_CPU3',
    5: 'R8A7795_PD_CA53_CPU0', 6: 'R8A7795_PD_CA53_CPU1', 7: 'R8A7795_PD_CA53_CPU2', 8: 'R8A7795_PD_CA53_CPU3',
    9: 'R8A7795_PD_A3VP', 12: 'R8A7795_PD_CA57_SCU', 13: 'R8A7795_PD_CR7', 14: 'R8A7795_PD_A3VC',
    17: 'R8A7795_PD_3DG_A', 18: 'R8A7795_PD_3DG_B', 19: 'R8A7795_PD_3DG_C', 20: 'R8A7795_PD_3DG_D',
    21: 'R8A7795_PD_CA53_SCU', 22: 'R8A7795_PD_3DG_E', 24: 'R8A7795_PD_A3IR', 26: 'R8A7795_PD_A2VC1',
    32: 'R8A7795_PD_ALWAYS_ON',
  },
};

/**
 * The name Linux gives an OF platform device, as drivers/of/device.c:288-318 of_device_make_bus_id
 * builds it: "<translated reg address>.<node name>" ("%llx.%pOFn"), with ".<ffs(mask)-1>" inserted when
 * the node has a "mask" property; a node whose reg cannot be translated contributes its full name and
 * the search continues with its parent, joined by ':' (e.g. "soc:thing" or "fe000000.bus:thing").
 */
export function deviceName(fdt: Fdt, node: FdtNode): string {
  let name: string | undefined;
  for (let n: FdtNode | undefined = node; n && n.parent; n = n.parent) {
    const regCells = fdt.has(n, 'reg') ? fdt.cells(n, 'reg') : undefined;
    const na = fdt.busAddressCells(n.parent);
    const addr = regCells && regCells.length >= na ? fdt.translate(n, regCells.slice(0, na), 'ranges') : undefined;
    if (addr !== undefined) {
      const mask = fdt.has(n, 'mask') ? fdt.u32(n, 'mask') : undefined;
      const base = Fdt.baseName(n);
      const head = mask !== undefined ? `${addr.toString(16)}.${((ffs(mask) - 1) >>> 0).toString(16)}.${base}` : `${addr.toString(16)}.${base}`;
      return name ? `${head}:${name}` : head;
    }
    name = name ? `${n.name}:${name}` : n.name;
  }
  return name ?? '';
}

function ffs(x: number): number {
  if (x === 0) return 0;
  let i = 1;
  while (!((x >>> (i - 1)) & 1)) i++;
  return i;
}

/** Apply node additions/overrides to a parsed tree (in place), then re-index phandles. */
export function applyAdditions(fdt: Fdt, additions: readonly NodeAddition[], where = 'board.add'): void {
  // Create every node first so that references between added nodes resolve.
  const nodes = additions.map((a, i) => {
    if (!a || typeof a.path !== 'string') throw new InputError(`${where}[${i}]: each addition needs a 'path'`);
    return fdt.ensureNode(a.path);
  });
  let nextPhandle = fdt.maxPhandle() + 1;
  const phandleFor = (ref: string, ctx: string): number => {
    const target = fdt.node(ref.slice(1));
    if (!target) throw new InputError(`${ctx}: reference '${ref}' names no node (use &/full/path)`);
    const existing = fdt.phandleOf(target);
    if (existing !== undefined) return existing;
    const ph = nextPhandle++;
    fdt.setProp(target, 'phandle', encodeCells([ph]));
    fdt.reindex();
    return ph;
  };
  additions.forEach((a, i) => {
    const node = nodes[i];
    for (const [name, value] of Object.entries(a.props ?? {})) {
      const ctx = `${where}[${i}] ${a.path} ${name}`;
      if (value === null) node.props.delete(name);
      else if (value === true) fdt.setProp(node, name, new Uint8Array(0));
      else if (typeof value === 'string') fdt.setProp(node, name, encodeStrings([value]));
      else if (Array.isArray(value)) {
        const cells = value.map((c) => {
          if (typeof c === 'string') {
            if (!c.startsWith('&')) throw new InputError(`${ctx}: cell '${c}' is neither a number nor a &/path reference`);
            return phandleFor(c, ctx);
          }
          return c;
        });
        try {
          fdt.setProp(node, name, encodeCells(cells));
        } catch (e) {
          throw new InputError(`${ctx}: ${(e as Error).message}`);
        }
      } else if (value && typeof value === 'object' && Array.isArray(value.strings)) fdt.setProp(node, name, encodeStrings(value.strings));
      else throw new InputError(`${ctx}: unsupported value ${JSON.stringify(value)}`);
    }
  });
  fdt.reindex();
}

export interface FromDtbOptions {
  name: string;
  source: 'profile' | 'dtb';
  /** RAM override: a size laid out as the board family does ("8G", "4G/no-high-alias") or explicit banks. */
  ram?: string;
  notes?: string[];
  /** Master DMA widths known from data, by node path. */
  masterDmaBits?: Record<string, number>;
}

/** Turn a parsed (and possibly extended) tree into a Board. */
export function boardFromFdt(fdt: Fdt, opts: FromDtbOptions): Board {
  const notes = [...(opts.notes ?? [])];
  const compatible = fdt.compatible(fdt.root);
  const ram = boardRam(fdt, opts.ram, compatible, notes);

  const iommuNodes = fdt.nodes().filter((n) => n.props.has('#iommu-cells'));
  const iommus = iommuNodes.map((n) => buildIommu(fdt, n, notes));
  const nameOf = new Map<FdtNode, string>(iommuNodes.map((n, i) => [n, iommus[i].name]));
  const iommuName = (n: FdtNode): string => nameOf.get(n) ?? deviceName(fdt, n);

  const masters: BoardMaster[] = [];
  for (const n of fdt.nodes()) {
    if (!n.props.has('iommus') && !n.props.has('iommu-map')) continue;
    const m: BoardMaster = {
      name: deviceName(fdt, n),
      path: n.path,
      compatible: fdt.compatible(n),
      reg: regWindows(fdt, n),
      iommus: mergeByIommu(fdt.iommus(n).map((e) => ({ iommu: iommuName(e.target), ids: e.args }))),
      enabled: availableUpTo(fdt, n),
    };
    const map = fdt.iommuMap(n);
    if (map) {
      m.iommuMap = map.entries.map((e) => ({ ridBase: e.ridBase, iommu: iommuName(e.iommu), iommuBase: e.iommuBase, length: e.length }));
      if (map.mask !== undefined) m.iommuMapMask = map.mask;
      // The host bridge's downstream functions are the real masters; list the ids they get so "who sits
      // behind this IOMMU" includes them.
      for (const e of map.entries) {
        const count = Math.min(e.length, 256);
        m.iommus.push({ iommu: iommuName(e.iommu), ids: Array.from({ length: count }, (_, k) => e.iommuBase + k) });
      }
    }
    const dr = dmaRanges(fdt, n);
    if (dr) m.dmaRanges = dr;
    // of_dma_is_coherent (drivers/of/address.c:1005-1019): the nearest of the node and its parents that
    // says dma-coherent or dma-noncoherent decides; none -> dma_default_coherent (false on arm64).
    for (let x: FdtNode | undefined = n; x; x = x.parent) {
      if (x.props.has('dma-coherent')) m.dmaCoherent = true;
      if (x.props.has('dma-coherent') || x.props.has('dma-noncoherent')) break;
    }
    const pd = powerDomainText(fdt, n);
    if (pd) m.powerDomain = pd;
    const mirqs = fdt.interrupts(n).filter((i) => i.number !== undefined && (i.kind === 'SPI' || i.kind === 'AIC'));
    if (mirqs.length) m.interrupts = mirqs.map((i) => i.number as number);
    const bits = opts.masterDmaBits?.[n.path];
    if (bits !== undefined) m.dmaBits = bits;
    masters.push(m);
  }

  const board: Board = {
    name: opts.name,
    model: fdt.string(fdt.root, 'model') ?? '',
    compatible,
    ram,
    iommus,
    masters,
    source: opts.source,
    notes,
  };
  const buses: NonNullable<Board['buses']> = [];
  for (const n of fdt.nodes()) {
    const p = n.props.get('dma-ranges');
    if (!p || !p.value.length || !availableUpTo(fdt, n)) continue;
    const rs = (fdt.ranges(n, 'dma-ranges') ?? []).filter((r) => r.cpu !== undefined);
    if (!rs.length) continue;
    buses.push({
      path: n.path,
      dmaRanges: rs.map((r) => ({ bus: r.child, cpu: r.cpu as number, size: r.size })),
      maxCpuAddress: Math.max(...rs.map((r) => (r.cpu as number) + r.size - 1)),
    });
  }
  if (buses.length) board.buses = buses;
  const limit = fdt.dmaMaxCpuAddress();
  if (limit !== undefined) board.zoneDmaLimit = limit;
  const reserved = fdt.reservedMemory();
  if (reserved.length)
    board.reserved = reserved.map((r) => ({
      name: r.name,
      ...(r.base !== undefined ? { base: r.base } : {}),
      size: r.size,
      noMap: r.noMap,
      reusable: r.reusable,
      compatible: r.compatible,
    }));
  if (fdt.memReserve.length) board.memReserve = fdt.memReserve.map((m) => ({ base: m.address, size: m.size }));
  const chosen = fdt.chosen();
  if (chosen) {
    const c: { bootargs?: string; stdoutPath?: string } = {};
    const ba = fdt.string(chosen, 'bootargs');
    const sp = fdt.string(chosen, 'stdout-path');
    if (ba !== undefined) c.bootargs = ba;
    if (sp !== undefined) c.stdoutPath = sp;
    board.chosen = c;
  }
  return board;
}

/**
 * One entry per IOMMU with all its ids, in first-seen order: the kernel collects every specifier of a
 * device into one iommu_fwspec (of_iommu_configure_device -> of_xlate -> iommu_fwspec_add_ids).
 */
function mergeByIommu(list: { iommu: string; ids: number[] }[]): { iommu: string; ids: number[] }[] {
  const out: { iommu: string; ids: number[] }[] = [];
  for (const e of list) {
    const prev = out.find((o) => o.iommu === e.iommu);
    if (prev) prev.ids.push(...e.ids);
    else out.push({ iommu: e.iommu, ids: [...e.ids] });
  }
  return out;
}

/**
 * Available itself and through every ancestor: of_platform_populate never descends into a disabled bus
 * (drivers/of/platform.c of_platform_bus_create), and of_dma_get_max_cpu_address skips disabled subtrees.
 */
function availableUpTo(fdt: Fdt, n: FdtNode): boolean {
  for (let x: FdtNode | undefined = n; x; x = x.parent) if (!fdt.isAvailable(x)) return false;
  return true;
}

function boardRam(fdt: Fdt, ramSpec: string | undefined, compatible: string[], notes: string[]): RamBank[] {
  if (ramSpec !== undefined) {
    const family = ramFamilyFor(compatible);
    const r = resolveRam(ramSpec, family);
    notes.push(r.note, ...(family?.notes ?? []));
    return r.banks;
  }
  const banks: RamBank[] = [];
  for (const m of fdt.memory()) {
    // early_init_dt_add_memory_arch (drivers/of/fdt.c): base rounded up, size down, to whole pages.
    let { base, size } = m;
    const off = base % 4096;
    if (off) {
      if (size < 4096 - off) continue;
      size -= 4096 - off;
      base += 4096 - off;
    }
    size -= size % 4096;
    if (size > 0) banks.push({ base, size, name: m.node.name });
  }
  banks.sort((a, b) => a.base - b.base);
  // memblock_add merges overlapping and touching regions (mm/memblock.c memblock_merge_regions).
  for (let i = 1; i < banks.length; i++) {
    const prev = banks[i - 1];
    if (banks[i].base <= prev.base + prev.size) {
      prev.size = Math.max(prev.size, banks[i].base + banks[i].size - prev.base);
      banks.splice(i--, 1);
    }
  }
  if (!banks.length) notes.push('no /memory node in the device tree (the bootloader fills it in): give a RAM size');
  return banks;
}

function regWindows(fdt: Fdt, n: FdtNode): RegWindow[] {
  const out: RegWindow[] = [];
  for (const r of fdt.reg(n)) if (r.cpu !== undefined) out.push({ base: r.cpu, size: r.size });
  return out;
}

function dmaRanges(fdt: Fdt, n: FdtNode): DmaRange[] | undefined {
  const r = fdt.busDmaRanges(n);
  return r?.ranges.map((e) => ({ bus: e.child, cpu: e.cpu as number, size: e.size }));
}

function powerDomainText(fdt: Fdt, n: FdtNode): string | undefined {
  const pds = fdt.powerDomains(n);
  if (!pds.length) return undefined;
  return pds
    .map((pd) => {
      if (!pd.args.length) return pd.target.name;
      const table = fdt.compatible(pd.target).map((c) => POWER_DOMAIN_NAMES[c]).find(Boolean);
      const named = pd.args.length === 1 ? table?.[pd.args[0]] : undefined;
      return named ?? `${pd.target.name} ${pd.args.join(' ')}`;
    })
    .join(', ');
}

const CONSUMED = new Set([
  'compatible', 'reg', 'interrupts', 'interrupts-extended', 'interrupt-parent', 'clocks', 'clock-names',
  'power-domains', '#iommu-cells', 'phandle', 'linux,phandle', 'status', 'iommu-lab,hw-version',
]);

function rawProps(fdt: Fdt, n: FdtNode): Record<string, string | number | boolean | number[]> {
  const out: Record<string, string | number | boolean | number[]> = {};
  for (const [name, p] of n.props) {
    if (CONSUMED.has(name)) continue;
    const v = p.value;
    if (v.length === 0) out[name] = true;
    else if (v[v.length - 1] === 0 && isPrintableList(v)) out[name] = (fdt.strings(n, name) ?? []).join('\0');
    else if (v.length % 4 === 0) {
      const cells = fdt.cells(n, name) as number[];
      out[name] = cells.length === 1 ? cells[0] : cells;
    } else out[name] = Array.from(v);
  }
  return out;
}

function isPrintableList(v: Uint8Array): boolean {
  if (v[0] === 0) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c === 0) {
      if (i > 0 && v[i - 1] === 0) return false;
      continue;
    }
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function buildIommu(fdt: Fdt, n: FdtNode, notes: string[]): BoardIommu {
  const irqs = fdt.interrupts(n);
  const clocks = fdt.clocks(n);
  const it: BoardIommu = {
    name: deviceName(fdt, n),
    path: n.path,
    compatible: fdt.compatible(n),
    reg: regWindows(fdt, n),
    interrupts: irqs.filter((i) => i.number !== undefined && (i.kind === 'SPI' || i.kind === 'AIC')).map((i) => i.number as number),
    clockNames: fdt.strings(n, 'clock-names') ?? [],
    iommuCells: fdt.u32(n, '#iommu-cells') as number,
    enabled: availableUpTo(fdt, n),
    props: rawProps(fdt, n),
    irqs: irqs.map((i) => ({
      controller: i.controller.path,
      ...(i.kind ? { kind: i.kind } : {}),
      ...(i.number !== undefined ? { number: i.number } : {}),
      cells: i.cells,
    })),
    clocks: clocks.map((c) => `${c.target.name}${c.args.length ? ' ' + c.args.join(' ') : ''}`),
  };
  const pd = powerDomainText(fdt, n);
  if (pd) it.powerDomain = pd;
  const dr = dmaRanges(fdt, n);
  if (dr) it.dmaRanges = dr;
  const model = iommuModel(it.compatible);
  if (model) it.model = model.format ? { driver: model.driver, variant: model.variant, format: model.format } : { driver: model.driver, variant: model.variant };
  // Gen3 writes <&ipmmu_mm index>, Gen4 just <&ipmmu_mm>; the driver only tests for presence.
  const mainCells = fdt.has(n, 'renesas,ipmmu-main') ? fdt.cells(n, 'renesas,ipmmu-main') : undefined;
  const mainNode = mainCells?.length ? fdt.byPhandle(mainCells[0]) : undefined;
  if (mainCells?.length && !mainNode)
    throw fdt.err(`${n.path}: 'renesas,ipmmu-main' refers to phandle ${hex(mainCells[0])}, which no node has`, n.props.get('renesas,ipmmu-main')?.offset ?? -1);
  if (mainNode) it.ipmmuMain = mainCells && mainCells.length > 1 ? { iommu: deviceName(fdt, mainNode), index: mainCells[1] } : { iommu: deviceName(fdt, mainNode) };
  const hw = fdt.string(n, 'iommu-lab,hw-version');
  if (hw !== undefined) it.hwVersion = hw;
  if (it.reg.length === 0 && fdt.has(n, 'reg')) notes.push(`${n.path}: reg cannot be translated to a CPU address (${hex(fdt.reg(n)[0]?.busAddress ?? 0)})`);
  return it;
}
