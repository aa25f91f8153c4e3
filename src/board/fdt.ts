/**
 * A reader for flattened device trees (.dtb), written for iommu-lab from the format described in the
 * Devicetree Specification (chapter 5) and checked against what Linux does with the tree
 * (drivers/of/fdt.c, drivers/of/base.c, drivers/of/address.c, drivers/of/irq.c).
 *
 * Layout of a blob: a 40-byte header (big-endian words), a memory reservation map of (address, size)
 * u64 pairs ended by (0, 0), a structure block of 32-bit tokens (BEGIN_NODE name, PROP len nameoff value,
 * END_NODE, NOP, END), and a strings block holding property names.
 *
 * The parse is strict about anything that would make later reads wrong: every offset and length is checked
 * against the blob and its block before it is used, every loop is bounded by the bytes it consumes, the
 * depth is capped, and any violation is one InputError naming the file and the byte offset. Properties
 * stay raw bytes until someone asks for them typed (`u32`, `strings`, `reg`, `iommus`, ...), so a DT
 * full of properties nobody models never slows or breaks a parse.
 *
 * Address semantics follow Linux rather than the letter of the spec where they differ, because what we
 * model is what the kernel derives: #address-cells/#size-cells are inherited from ancestors
 * (base.c:90-121 of_bus_n_addr_cells), a missing "ranges" stops translation but a missing "dma-ranges"
 * means 1:1 (address.c:446-456 of_translate_one), contiguous range entries are merged (address.c:817-840).
 */
import { InputError, hex } from '../addr.js';

export const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_NOP = 4;
const FDT_END = 9;
const HEADER_SIZE = 40;
/** Linux refuses to unflatten deeper trees (drivers/of/fdt.c FDT_MAX_DEPTH = 64). */
export const FDT_MAX_DEPTH = 64;
/** A .dtb larger than this is not a device tree anybody boots (arm64 caps the FDT at 2 MiB, MAX_FDT_SIZE). */
export const FDT_MAX_SIZE = 64 * 1024 * 1024;
/** Linux's OF_MAX_ADDR_CELLS (address.c:22): more address cells cannot be translated. */
const OF_MAX_ADDR_CELLS = 4;

export interface FdtHeader {
  magic: number;
  totalsize: number;
  offDtStruct: number;
  offDtStrings: number;
  offMemRsvmap: number;
  version: number;
  lastCompVersion: number;
  bootCpuidPhys: number;
  sizeDtStrings: number;
  sizeDtStruct: number;
}

export interface FdtProp {
  name: string;
  /** Byte offset of the value inside the blob (for error messages). */
  offset: number;
  value: Uint8Array;
}

export interface FdtNode {
  /** Node name with unit address, e.g. "iommu@fdea0800"; "" for the root. */
  name: string;
  /** Full path, e.g. "/soc/iommu@e67b0000". */
  path: string;
  parent?: FdtNode;
  children: FdtNode[];
  props: Map<string, FdtProp>;
  /** Byte offset of the node's BEGIN_NODE token (or -1 for a node added from data). */
  offset: number;
}

export interface MemReserve {
  address: number;
  size: number;
}

/** One (phandle, args) element of a list such as iommus, clocks, power-domains, interrupts-extended. */
export interface PhandleArgs {
  target: FdtNode;
  args: number[];
}

/** A reg entry: the address as the node's bus sees it and, when it can be translated, as the CPU sees it. */
export interface RegEntry {
  busAddress: number;
  /** CPU physical address through every ranges up to the root; undefined when not translatable. */
  cpu?: number;
  size: number;
}

export interface RangeEntry {
  /** Child bus address (PCI: without the flags cell). */
  child: number;
  /** Parent address translated to a CPU address, or undefined when translation fails (OF_BAD_ADDR). */
  cpu?: number;
  size: number;
  /** PCI space flags (PCI_IO, PCI_MEM, 64-bit 4, prefetchable 8) from the phys.hi cell, on PCI buses. */
  flags?: number;
}

export interface InterruptSpec {
  /** The interrupt controller (or nexus) the specifier is meant for. */
  controller: FdtNode;
  cells: number[];
  /** SPI/PPI for an Arm GIC, "AIC" for the Apple interrupt controller, undefined for others. */
  kind?: 'SPI' | 'PPI' | 'AIC' | 'FIQ';
  /** The interrupt number within its kind (GIC SPI n, AIC IRQ n). */
  number?: number;
}

function isPciBus(node: FdtNode, fdt: Fdt): boolean {
  const dt = fdt.string(node, 'device_type');
  return dt === 'pci' || dt === 'pciex';
}

export class Fdt {
  readonly header: FdtHeader;
  readonly root: FdtNode;
  readonly memReserve: MemReserve[];
  private readonly phandles = new Map<number, FdtNode>();
  private readonly byPath = new Map<string, FdtNode>();

  private constructor(
    readonly file: string,
    private readonly bytes: Uint8Array,
  ) {
    const parsed = parseBlob(bytes, file);
    this.header = parsed.header;
    this.root = parsed.root;
    this.memReserve = parsed.memReserve;
    this.reindex();
  }

  /** Parse a blob; `file` names it in every error. */
  static parse(bytes: Uint8Array, file: string): Fdt {
    return new Fdt(file, bytes);
  }

  /** Rebuild the path and phandle indexes (after nodes were added from data). */
  reindex(): void {
    this.phandles.clear();
    this.byPath.clear();
    for (const n of this.nodes()) {
      this.byPath.set(n.path, n);
      const p = n.props.get('phandle') ?? n.props.get('linux,phandle');
      if (!p) continue;
      const ph = this.u32At(p, n);
      // 0 and ~0 are never valid phandles (Devicetree Spec 2.3.3).
      if (ph === 0 || ph === 0xffffffff) throw this.err(`${n.path}: invalid phandle ${hex(ph)}`, p.offset);
      const other = this.phandles.get(ph);
      if (other && other !== n) throw this.err(`phandle ${hex(ph)} defined twice (${other.path} and ${n.path})`, p.offset);
      this.phandles.set(ph, n);
    }
  }

  err(message: string, offset: number): InputError {
    return new InputError(message, offset >= 0 ? `${this.file}: offset ${hex(offset)}` : this.file);
  }

  /** Every node, depth first, parents before children. */
  nodes(): FdtNode[] {
    const out: FdtNode[] = [];
    const stack: FdtNode[] = [this.root];
    while (stack.length) {
      const n = stack.pop() as FdtNode;
      out.push(n);
      for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
    }
    return out;
  }

  node(path: string): FdtNode | undefined {
    if (path === '' || path === '/') return this.root;
    return this.byPath.get(path.replace(/\/+$/, ''));
  }

  byPhandle(ph: number): FdtNode | undefined {
    return this.phandles.get(ph);
  }

  phandleOf(node: FdtNode): number | undefined {
    const p = node.props.get('phandle') ?? node.props.get('linux,phandle');
    return p ? this.u32At(p, node) : undefined;
  }

  /** The largest phandle in use (to hand out new ones for added nodes). */
  maxPhandle(): number {
    let m = 0;
    for (const k of this.phandles.keys()) m = Math.max(m, k);
    return m;
  }

  // ---------------------------------------------------------------- raw typed properties

  has(node: FdtNode, name: string): boolean {
    return node.props.has(name);
  }

  private u32At(p: FdtProp, node: FdtNode): number {
    if (p.value.length !== 4) throw this.err(`${node.path}: property '${p.name}' is ${p.value.length} bytes, expected one u32 cell`, p.offset);
    return readBe32(p.value, 0);
  }

  u32(node: FdtNode, name: string): number | undefined {
    const p = node.props.get(name);
    return p ? this.u32At(p, node) : undefined;
  }

  /** The property as big-endian u32 cells; an InputError when its length is not a multiple of 4. */
  cells(node: FdtNode, name: string): number[] | undefined {
    const p = node.props.get(name);
    if (!p) return undefined;
    if (p.value.length % 4) throw this.err(`${node.path}: property '${name}' is ${p.value.length} bytes, not whole u32 cells`, p.offset);
    const out = new Array<number>(p.value.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = readBe32(p.value, i * 4);
    return out;
  }

  /** A string list (NUL-separated); an InputError when the last string is not NUL-terminated. */
  strings(node: FdtNode, name: string): string[] | undefined {
    const p = node.props.get(name);
    if (!p) return undefined;
    if (p.value.length === 0) return [];
    if (p.value[p.value.length - 1] !== 0) throw this.err(`${node.path}: property '${name}' is not a NUL-terminated string list`, p.offset);
    return latin1(p.value.subarray(0, p.value.length - 1)).split('\0');
  }

  string(node: FdtNode, name: string): string | undefined {
    const s = this.strings(node, name);
    return s?.[0];
  }

  compatible(node: FdtNode): string[] {
    return this.strings(node, 'compatible') ?? [];
  }

  /** of_device_is_available (base.c): status absent, "okay" or "ok". */
  isAvailable(node: FdtNode): boolean {
    const s = this.string(node, 'status');
    return s === undefined || s === 'okay' || s === 'ok';
  }

  /** Node name without the unit address ("%pOFn"). */
  static baseName(node: FdtNode): string {
    const at = node.name.indexOf('@');
    return at < 0 ? node.name : node.name.slice(0, at);
  }

  static unitAddress(node: FdtNode): string | undefined {
    const at = node.name.indexOf('@');
    return at < 0 ? undefined : node.name.slice(at + 1);
  }

  // ---------------------------------------------------------------- cells and addresses

  /** #address-cells that applies to the children of `node`, inherited like of_bus_n_addr_cells (base.c:90-100). */
  busAddressCells(node: FdtNode | undefined): number {
    for (let n = node; n; n = n.parent) {
      const v = this.u32(n, '#address-cells');
      if (v !== undefined) return v;
    }
    return 1; // OF_ROOT_NODE_ADDR_CELLS_DEFAULT on non-SPARC (of_private.h:33-37)
  }

  busSizeCells(node: FdtNode | undefined): number {
    for (let n = node; n; n = n.parent) {
      const v = this.u32(n, '#size-cells');
      if (v !== undefined) return v;
    }
    return 1; // OF_ROOT_NODE_SIZE_CELLS_DEFAULT
  }

  /** Reads `count` cells from `cells` at `at` as one number; InputError when it does not fit in 53 bits. */
  private number(cells: number[], at: number, count: number, node: FdtNode, prop: string): number {
    let v = 0;
    for (let i = 0; i < count; i++) {
      v = v * 0x1_0000_0000 + (cells[at + i] >>> 0);
    }
    if (!Number.isSafeInteger(v)) {
      const p = node.props.get(prop);
      throw this.err(
        `${node.path}: '${prop}' holds a value of 2^53 or more (cells ${cells.slice(at, at + count).map(hex).join(' ')})`,
        p && p.offset >= 0 ? p.offset + at * 4 : node.offset,
      );
    }
    return v;
  }

  /** reg entries, with bus addresses and (where possible) CPU addresses. */
  reg(node: FdtNode): RegEntry[] {
    const cells = this.cells(node, 'reg');
    if (!cells) return [];
    const na = this.busAddressCells(node.parent);
    const ns = this.busSizeCells(node.parent);
    const prop = node.props.get('reg') as FdtProp;
    if (na + ns === 0 || na > OF_MAX_ADDR_CELLS || ns > 2) {
      if (na > OF_MAX_ADDR_CELLS || ns > 2) throw this.err(`${node.path}: unsupported #address-cells ${na} / #size-cells ${ns} for reg`, prop.offset);
      return [];
    }
    if (cells.length % (na + ns)) throw this.err(`${node.path}: reg is ${cells.length} cells, not a multiple of #address-cells ${na} + #size-cells ${ns}`, prop.offset);
    const out: RegEntry[] = [];
    const pci = node.parent ? isPciBus(node.parent, this) : false;
    for (let i = 0; i < cells.length; i += na + ns) {
      const addrCells = cells.slice(i, i + na);
      const busAddress = pci ? this.number(cells, i + 1, na - 1, node, 'reg') : this.number(cells, i, na, node, 'reg');
      const size = ns ? this.number(cells, i + na, ns, node, 'reg') : 0;
      const cpu = this.translate(node, addrCells, 'ranges');
      out.push(cpu === undefined ? { busAddress, size } : { busAddress, cpu, size });
    }
    return out;
  }

  /**
   * Translate an address in `node`'s parent bus space up to the root, through each level's "ranges"
   * (or "dma-ranges"), as __of_translate_address does (address.c:503-583). undefined = OF_BAD_ADDR.
   */
  translate(node: FdtNode, addr: number[], rprop: 'ranges' | 'dma-ranges'): number | undefined {
    let dev = node;
    let parent = rprop === 'dma-ranges' ? this.dmaParent(dev) : dev.parent;
    if (!parent) return undefined;
    let na = this.busAddressCells(parent);
    let ns = this.busSizeCells(parent);
    if (!(na > 0 && na <= OF_MAX_ADDR_CELLS && ns > 0)) return undefined;
    if (addr.length < na) return undefined;
    let cur = addr.slice(0, na);
    let busIsPci = isPciBus(parent, this);
    for (let guard = 0; guard <= FDT_MAX_DEPTH + 1; guard++) {
      dev = parent;
      const up = rprop === 'dma-ranges' ? this.dmaParent(dev) : dev.parent;
      if (!up) {
        // Reached the root: the address is a CPU address (of_read_number(addr, na)).
        return this.number(cur, 0, na, dev, rprop);
      }
      parent = up;
      const pna = this.busAddressCells(parent);
      const pns = this.busSizeCells(parent);
      if (!(pna > 0 && pna <= OF_MAX_ADDR_CELLS && pns > 0)) return undefined;
      const parentIsPci = isPciBus(parent, this);
      const next = this.translateOne(dev, cur, na, ns, pna, rprop, busIsPci, parentIsPci);
      if (!next) return undefined;
      cur = next;
      na = pna;
      ns = pns;
      busIsPci = parentIsPci;
    }
    throw this.err(`${node.path}: address translation does not reach the root`, node.offset);
  }

  /** One level of of_translate_one (address.c:420-481): returns the address in the parent's space. */
  private translateOne(
    bus: FdtNode,
    addr: number[],
    na: number,
    ns: number,
    pna: number,
    rprop: string,
    busIsPci: boolean,
    parentIsPci: boolean,
  ): number[] | undefined {
    const rp = bus.props.get(rprop);
    if (!rp && rprop !== 'dma-ranges') return undefined; // no ranges: not translatable
    const fna = busIsPci ? 1 : 0;
    const pfna = parentIsPci ? 1 : 0;
    if (!rp || rp.value.length === 0) {
      // Empty (or, for dma-ranges, absent) ranges: 1:1.
      const offset = this.number(addr, fna, na - fna, bus, rprop);
      const out = new Array<number>(pna).fill(0);
      if (pfna) out[0] = addr[0];
      return withAdded(out, pfna, pna, offset);
    }
    const ranges = this.cells(bus, rprop) as number[];
    const rone = na + pna + ns;
    const da = this.number(addr, fna, na - fna, bus, rprop);
    for (let i = 0; i + rone <= ranges.length; i += rone) {
      if (busIsPci) {
        // of_bus_pci_map: the space type (IO vs memory) must match before the address is compared.
        if (pciSpaceFlags(addr[0]) !== pciSpaceFlags(ranges[i])) continue;
      }
      const cp = this.number(ranges, i + fna, na - fna, bus, rprop);
      const s = this.number(ranges, i + na + pna, ns, bus, rprop);
      if (da < cp || da >= cp + s) continue;
      const out = ranges.slice(i + na, i + na + pna);
      return withAdded(out, pfna, pna, da - cp);
    }
    return undefined;
  }

  /** __of_get_dma_parent (address.c:586-603): the "dma-mem" interconnect if named, else the parent. */
  dmaParent(node: FdtNode): FdtNode | undefined {
    const names = node.props.has('interconnect-names') ? this.strings(node, 'interconnect-names') : undefined;
    const idx = names ? names.indexOf('dma-mem') : -1;
    if (idx >= 0) {
      try {
        const list = this.phandleList(node, 'interconnects', '#interconnect-cells');
        const e = list[idx];
        if (e) return e.target;
      } catch {
        // An unparsable interconnects falls back to the parent, as the kernel does on error.
      }
    }
    return node.parent;
  }

  /** Parse a "ranges"-like property of `node` (ranges or dma-ranges), merging contiguous entries. */
  ranges(node: FdtNode, rprop: 'ranges' | 'dma-ranges'): RangeEntry[] | undefined {
    const cells = this.cells(node, rprop);
    if (!cells) return undefined;
    const na = this.busAddressCells(node);
    const ns = this.busSizeCells(node);
    // of_n_addr_cells: the parent's cells, or the node's own for the root (base.c:102-108).
    const pna = this.busAddressCells(node.parent ?? node);
    const prop = node.props.get(rprop) as FdtProp;
    if (!(na > 0 && na <= OF_MAX_ADDR_CELLS) || !(pna > 0 && pna <= OF_MAX_ADDR_CELLS) || ns > 2)
      throw this.err(`${node.path}: cannot parse '${rprop}' with #address-cells ${na}, parent #address-cells ${pna}, #size-cells ${ns}`, prop.offset);
    const np = na + pna + ns;
    if (cells.length % np) throw this.err(`${node.path}: '${rprop}' is ${cells.length} cells, not a multiple of ${np}`, prop.offset);
    const pci = isPciBus(node, this);
    const fna = pci ? 1 : 0;
    const out: RangeEntry[] = [];
    for (let i = 0; i + np <= cells.length; i += np) {
      const flags = pci ? pciFlags(cells[i]) : undefined;
      const child = this.number(cells, i + fna, na - fna, node, rprop);
      const cpu = this.translate(node, cells.slice(i + na, i + na + pna), rprop);
      const size = this.number(cells, i + na + pna, ns, node, rprop);
      const last = out[out.length - 1];
      // address.c:817-840: consecutive entries that continue each other merge into one range.
      if (
        last &&
        last.flags === flags &&
        last.cpu !== undefined &&
        cpu !== undefined &&
        child === last.child + last.size &&
        cpu === last.cpu + last.size
      ) {
        last.size += size;
        continue;
      }
      const e: RangeEntry = { child, size };
      if (cpu !== undefined) e.cpu = cpu;
      if (flags !== undefined) e.flags = flags;
      out.push(e);
    }
    return out;
  }

  /**
   * The dma-ranges that apply to a device: of_dma_get_range (address.c:887-953) started at the device's
   * DMA parent, as of_dma_configure_id does (device.c:104-108). undefined = none (-ENODEV): no bus limit.
   */
  busDmaRanges(node: FdtNode): { bus: FdtNode; ranges: RangeEntry[] } | undefined {
    let n = this.dmaParent(node);
    let found = false;
    for (let guard = 0; n && guard <= FDT_MAX_DEPTH + 1; guard++) {
      const p = n.props.get('dma-ranges');
      if (p && p.value.length > 0) {
        const ranges = (this.ranges(n, 'dma-ranges') ?? []).filter((r) => r.cpu !== undefined);
        return ranges.length ? { bus: n, ranges } : undefined;
      }
      if (found && !p) return undefined;
      found = true;
      n = this.dmaParent(n);
    }
    if (n) throw this.err(`${node.path}: the DMA parent chain (interconnects "dma-mem") loops`, node.offset);
    return undefined;
  }

  /**
   * of_dma_get_max_cpu_address(NULL) (address.c:962-994): the lowest "highest CPU address" over every
   * non-empty dma-ranges in the available part of the tree; undefined stands for PHYS_ADDR_MAX.
   */
  dmaMaxCpuAddress(): number | undefined {
    const walk = (n: FdtNode, depth: number): number => {
      let max = Infinity;
      const p = n.props.get('dma-ranges');
      if (p && p.value.length) {
        let cpuEnd = 0;
        for (const r of this.ranges(n, 'dma-ranges') ?? []) {
          // A range whose CPU side cannot be translated has cpu_addr = OF_BAD_ADDR (~0ULL) in the
          // kernel, and the u64 sum cpu_addr + size wraps to size - 1 (address.c:980-981).
          if (r.cpu === undefined) {
            const wrapped = r.size - 1;
            if (wrapped > cpuEnd) cpuEnd = wrapped - 1;
            continue;
          }
          if (r.cpu + r.size > cpuEnd) cpuEnd = r.cpu + r.size - 1;
        }
        max = Math.min(max, cpuEnd);
      }
      if (depth < FDT_MAX_DEPTH)
        for (const c of n.children) if (this.isAvailable(c)) max = Math.min(max, walk(c, depth + 1));
      return max;
    };
    const m = walk(this.root, 0);
    return m === Infinity ? undefined : m;
  }

  // ---------------------------------------------------------------- phandle lists

  /**
   * A phandle list whose argument count comes from `cellsName` in each target (of_parse_phandle_with_args).
   * A phandle of 0 is an empty entry without arguments. `fixedCells` replaces the lookup (e.g. iommu-map).
   */
  phandleList(node: FdtNode, name: string, cellsName: string | null, fixedCells = 0): PhandleArgs[] {
    const cells = this.cells(node, name);
    if (!cells) return [];
    const prop = node.props.get(name) as FdtProp;
    const out: PhandleArgs[] = [];
    let i = 0;
    while (i < cells.length) {
      const ph = cells[i];
      if (ph === 0) {
        i += 1;
        continue;
      }
      const target = this.phandles.get(ph);
      if (!target) throw this.err(`${node.path}: '${name}' refers to phandle ${hex(ph)}, which no node has`, prop.offset + i * 4);
      let count = fixedCells;
      if (cellsName) {
        const c = this.u32(target, cellsName);
        if (c === undefined) throw this.err(`${node.path}: '${name}' refers to ${target.path}, which has no '${cellsName}'`, prop.offset + i * 4);
        if (c > 16) throw this.err(`${target.path}: '${cellsName}' = ${c} is absurd`, (target.props.get(cellsName) as FdtProp).offset);
        count = c;
      }
      if (i + 1 + count > cells.length)
        throw this.err(`${node.path}: '${name}' ends inside an entry (${target.path} wants ${count} argument cells)`, prop.offset + i * 4);
      out.push({ target, args: cells.slice(i + 1, i + 1 + count) });
      i += 1 + count;
    }
    return out;
  }

  /** `iommus` with #iommu-cells of each referenced IOMMU (of_iommu_configure_device). */
  iommus(node: FdtNode): PhandleArgs[] {
    return this.phandleList(node, 'iommus', '#iommu-cells');
  }

  /**
   * `iommu-map` entries (rid-base, iommu phandle, iommu-base, length), four cells each as of_map_id
   * requires (drivers/of/base.c of_map_id), with the iommu-map-mask.
   */
  iommuMap(node: FdtNode): { mask?: number; entries: { ridBase: number; iommu: FdtNode; iommuBase: number; length: number }[] } | undefined {
    const cells = this.cells(node, 'iommu-map');
    if (!cells) return undefined;
    const prop = node.props.get('iommu-map') as FdtProp;
    if (cells.length === 0 || cells.length % 4) throw this.err(`${node.path}: 'iommu-map' is ${cells.length} cells, not a multiple of 4`, prop.offset);
    const entries = [];
    for (let i = 0; i < cells.length; i += 4) {
      const iommu = this.phandles.get(cells[i + 1]);
      if (!iommu) throw this.err(`${node.path}: 'iommu-map' refers to phandle ${hex(cells[i + 1])}, which no node has`, prop.offset + (i + 1) * 4);
      entries.push({ ridBase: cells[i], iommu, iommuBase: cells[i + 2], length: cells[i + 3] });
    }
    const mask = this.u32(node, 'iommu-map-mask');
    return mask === undefined ? { entries } : { mask, entries };
  }

  /** of_irq_find_parent (irq.c): follow interrupt-parent or the tree to a node with #interrupt-cells. */
  interruptParent(node: FdtNode): FdtNode | undefined {
    const seen = new Set<FdtNode>();
    let child = node;
    for (;;) {
      if (seen.has(child)) throw this.err(`${node.path}: interrupt-parent chain loops at ${child.path}`, child.offset);
      seen.add(child);
      const ipProp = child.props.get('interrupt-parent');
      let p: FdtNode | undefined;
      if (ipProp) {
        const ph = this.u32At(ipProp, child);
        p = this.phandles.get(ph);
        if (!p) throw this.err(`${child.path}: interrupt-parent ${hex(ph)} is no node's phandle`, ipProp.offset);
      } else {
        p = child.parent;
      }
      if (!p) return undefined;
      if (p.props.has('#interrupt-cells')) return p;
      child = p;
    }
  }

  private decodeInterrupt(controller: FdtNode, cells: number[]): InterruptSpec {
    const compat = this.compatible(controller);
    const spec: InterruptSpec = { controller, cells };
    const gic = compat.some((c) => /^arm,(gic|cortex-a(7|9|15)-gic|arm11mp-gic|pl390|gic-400|gic-v3)/.test(c));
    const aic = compat.some((c) => /^apple,(aic|aic2)$/.test(c));
    if (gic && cells.length >= 3) {
      // arm,gic binding: cell 0 is 0 for SPI, 1 for PPI; cell 1 the number within that kind.
      if (cells[0] === 0) Object.assign(spec, { kind: 'SPI', number: cells[1] });
      else if (cells[0] === 1) Object.assign(spec, { kind: 'PPI', number: cells[1] });
    } else if (aic && cells.length >= 3) {
      // apple,aic binding: cell 0 AIC_IRQ (0) or AIC_FIQ (1); with 4 cells (aic2 multi-die) the die comes next.
      const num = cells.length === 4 ? cells[2] : cells[1];
      if (cells[0] === 0) Object.assign(spec, { kind: 'AIC', number: num });
      else if (cells[0] === 1) Object.assign(spec, { kind: 'FIQ', number: num });
    }
    return spec;
  }

  /** `interrupts-extended` if present (it wins in of_irq_parse_one), else `interrupts` with the interrupt parent. */
  interrupts(node: FdtNode): InterruptSpec[] {
    if (node.props.has('interrupts-extended')) {
      return this.phandleList(node, 'interrupts-extended', '#interrupt-cells').map((e) => this.decodeInterrupt(e.target, e.args));
    }
    const cells = this.cells(node, 'interrupts');
    if (!cells) return [];
    const prop = node.props.get('interrupts') as FdtProp;
    const ctl = this.interruptParent(node);
    if (!ctl) throw this.err(`${node.path}: has interrupts but no interrupt parent`, prop.offset);
    const n = this.u32(ctl, '#interrupt-cells') as number;
    if (n === 0 || n > 8) throw this.err(`${ctl.path}: '#interrupt-cells' = ${n} is absurd`, (ctl.props.get('#interrupt-cells') as FdtProp).offset);
    if (cells.length % n) throw this.err(`${node.path}: 'interrupts' is ${cells.length} cells, not a multiple of ${ctl.path}'s #interrupt-cells ${n}`, prop.offset);
    const out: InterruptSpec[] = [];
    for (let i = 0; i < cells.length; i += n) out.push(this.decodeInterrupt(ctl, cells.slice(i, i + n)));
    return out;
  }

  powerDomains(node: FdtNode): PhandleArgs[] {
    return this.phandleList(node, 'power-domains', '#power-domain-cells');
  }

  clocks(node: FdtNode): PhandleArgs[] {
    return this.phandleList(node, 'clocks', '#clock-cells');
  }

  // ---------------------------------------------------------------- well-known nodes

  /** RAM as early_init_dt_scan_memory sees it: available nodes with device_type = "memory", every reg entry. */
  memory(): { node: FdtNode; base: number; size: number }[] {
    const out: { node: FdtNode; base: number; size: number }[] = [];
    for (const n of this.root.children) {
      if (this.string(n, 'device_type') !== 'memory' || !this.isAvailable(n)) continue;
      const regProp = n.props.has('linux,usable-memory') ? 'linux,usable-memory' : 'reg';
      const cells = this.cells(n, regProp) ?? [];
      const na = this.busAddressCells(this.root);
      const ns = this.busSizeCells(this.root);
      if (na + ns === 0 || cells.length % (na + ns))
        throw this.err(`${n.path}: '${regProp}' is ${cells.length} cells, not a multiple of ${na}+${ns}`, (n.props.get(regProp) as FdtProp).offset);
      for (let i = 0; i < cells.length; i += na + ns) {
        const base = this.number(cells, i, na, n, regProp);
        const size = this.number(cells, i + na, ns, n, regProp);
        if (size > 0) out.push({ node: n, base, size });
      }
    }
    return out;
  }

  chosen(): FdtNode | undefined {
    return this.node('/chosen');
  }

  /** /reserved-memory children with a static reg (dynamic ones, with only size/alloc-ranges, have no address yet). */
  reservedMemory(): { node: FdtNode; name: string; base?: number; size: number; noMap: boolean; reusable: boolean; compatible: string[] }[] {
    const rm = this.node('/reserved-memory');
    if (!rm) return [];
    const out = [];
    for (const c of rm.children) {
      if (!this.isAvailable(c)) continue;
      const common = { node: c, name: c.name, noMap: c.props.has('no-map'), reusable: c.props.has('reusable'), compatible: this.compatible(c) };
      const regs = this.reg(c);
      if (regs.length) {
        for (const r of regs) out.push({ ...common, base: r.cpu ?? r.busAddress, size: r.size });
      } else {
        const sizeCells = this.cells(c, 'size');
        const size = sizeCells ? this.number(sizeCells, 0, sizeCells.length, c, 'size') : 0;
        out.push({ ...common, size });
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- editing (node additions)

  /** Create (or return) the node at `path`; the parent must exist. */
  ensureNode(path: string): FdtNode {
    const existing = this.node(path);
    if (existing) return existing;
    const slash = path.lastIndexOf('/');
    if (slash < 0 || path.length < 2) throw new InputError(`node path '${path}' must be absolute, e.g. /npu@fde40000`);
    const parentPath = slash === 0 ? '/' : path.slice(0, slash);
    const parent = this.node(parentPath);
    if (!parent) throw new InputError(`cannot add ${path}: parent ${parentPath} does not exist`);
    const name = path.slice(slash + 1);
    if (!/^[A-Za-z0-9,._+-]+(@[A-Za-z0-9,._+-]+)?$/.test(name)) throw new InputError(`node name '${name}' is not a valid device-tree node name`);
    const node: FdtNode = { name, path: parent === this.root ? `/${name}` : `${parent.path}/${name}`, parent, children: [], props: new Map(), offset: -1 };
    parent.children.push(node);
    this.byPath.set(node.path, node);
    return node;
  }

  setProp(node: FdtNode, name: string, value: Uint8Array): void {
    node.props.set(name, { name, offset: -1, value });
  }
}

/** Add `offset` to the address held in out[flagCells..pna), as of_bus_default_translate does. */
function withAdded(out: number[], flagCells: number, pna: number, offset: number): number[] {
  let carry = offset;
  for (let i = pna - 1; i >= flagCells && carry > 0; i--) {
    const sum = (out[i] >>> 0) + (carry % 0x1_0000_0000);
    out[i] = sum >>> 0;
    carry = Math.floor(carry / 0x1_0000_0000) + (sum >= 0x1_0000_0000 ? 1 : 0);
  }
  return out;
}

/**
 * Flags of a PCI phys.hi cell as of_bus_pci_get_flags (address.c:121-144) derives them: bits 25:24 give
 * I/O (1), 32-bit memory (2) or 64-bit memory (2|4); bit 30 prefetchable (8). Our own bit values.
 */
export const PCI_IO = 1;
export const PCI_MEM = 2;
const PCI_MEM_64 = 4;
const PCI_PREFETCH = 8;
function pciFlags(physHi: number): number {
  const ss = (physHi >>> 24) & 3;
  let f = ss === 1 ? PCI_IO : ss === 2 ? PCI_MEM : ss === 3 ? PCI_MEM | PCI_MEM_64 : 0;
  if (physHi & 0x40000000) f |= PCI_PREFETCH;
  return f;
}

/** The space type alone (I/O vs memory), what of_bus_pci_map compares (address.c:184-197). */
function pciSpaceFlags(physHi: number): number {
  return pciFlags(physHi) & (PCI_IO | PCI_MEM);
}

function readBe32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** Encode DT cells, strings and flags as property bytes (for nodes added from data). */
export function encodeCells(cells: number[]): Uint8Array {
  const out = new Uint8Array(cells.length * 4);
  cells.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c > 0xffffffff) throw new InputError(`cell value ${c} is not a u32`);
    out[i * 4] = c >>> 24;
    out[i * 4 + 1] = (c >>> 16) & 0xff;
    out[i * 4 + 2] = (c >>> 8) & 0xff;
    out[i * 4 + 3] = c & 0xff;
  });
  return out;
}

export function encodeStrings(list: string[]): Uint8Array {
  const text = list.map((s) => s + '\0').join('');
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

// -------------------------------------------------------------------- the blob parser

function parseBlob(bytes: Uint8Array, file: string): { header: FdtHeader; root: FdtNode; memReserve: MemReserve[] } {
  const fail = (message: string, offset: number): InputError => new InputError(message, `${file}: offset ${hex(offset)}`);
  if (bytes.length < HEADER_SIZE) throw fail(`truncated: ${bytes.length} bytes is shorter than the 40-byte FDT header`, bytes.length);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const w = (at: number): number => dv.getUint32(at, false);
  const magic = w(0);
  if (magic !== FDT_MAGIC) throw fail(`bad magic ${hex(magic)} (a .dtb starts with 0xd00dfeed)`, 0);
  const header: FdtHeader = {
    magic,
    totalsize: w(4),
    offDtStruct: w(8),
    offDtStrings: w(12),
    offMemRsvmap: w(16),
    version: w(20),
    lastCompVersion: w(24),
    bootCpuidPhys: w(28),
    sizeDtStrings: w(32),
    sizeDtStruct: w(36),
  };
  if (header.version < 16) throw fail(`FDT version ${header.version} is too old (16 or 17 expected)`, 20);
  if (header.lastCompVersion > 17) throw fail(`FDT last_comp_version ${header.lastCompVersion} is newer than 17, which this reader understands`, 24);
  if (header.totalsize > FDT_MAX_SIZE) throw fail(`totalsize ${hex(header.totalsize)} is absurd for a device tree`, 4);
  if (header.totalsize < HEADER_SIZE) throw fail(`totalsize ${header.totalsize} is smaller than the header`, 4);
  if (header.totalsize > bytes.length) throw fail(`truncated: header says ${header.totalsize} bytes, file has ${bytes.length}`, 4);
  const total = header.totalsize;
  // v16 headers have no size_dt_struct: the block may then run to the end of the blob.
  const structSize = header.version >= 17 ? header.sizeDtStruct : total - header.offDtStruct;
  const checkBlock = (what: string, off: number, size: number, hdrOff: number): void => {
    if (off < HEADER_SIZE || off > total) throw fail(`${what} offset ${hex(off)} is outside the blob (totalsize ${hex(total)})`, hdrOff);
    if (size > total - off) throw fail(`${what} [${hex(off)}, +${hex(size)}) runs past the end of the blob (totalsize ${hex(total)})`, hdrOff);
  };
  checkBlock('structure block', header.offDtStruct, structSize, 8);
  checkBlock('strings block', header.offDtStrings, header.sizeDtStrings, 12);
  if (header.offMemRsvmap < HEADER_SIZE || header.offMemRsvmap > total - 16 || header.offMemRsvmap % 8)
    throw fail(`memory reservation map offset ${hex(header.offMemRsvmap)} is outside the blob or misaligned`, 16);
  if (header.offDtStruct % 4) throw fail(`structure block offset ${hex(header.offDtStruct)} is not 4-byte aligned`, 8);

  // Memory reservation map: u64 pairs up to (0, 0); bounded by the bytes available.
  const memReserve: MemReserve[] = [];
  for (let at = header.offMemRsvmap; ; at += 16) {
    if (at + 16 > total) throw fail('memory reservation map has no (0, 0) terminator before the end of the blob', at);
    const aHi = w(at);
    const aLo = w(at + 4);
    const sHi = w(at + 8);
    const sLo = w(at + 12);
    if ((aHi | aLo | sHi | sLo) === 0) break;
    const address = aHi * 0x1_0000_0000 + aLo;
    const size = sHi * 0x1_0000_0000 + sLo;
    if (!Number.isSafeInteger(address + size)) throw fail(`memory reservation ${hex(address)}+${hex(size)} is beyond 2^53`, at);
    memReserve.push({ address, size });
  }

  const strBase = header.offDtStrings;
  const strEnd = strBase + header.sizeDtStrings;
  const nameCache = new Map<number, string>();
  const propName = (nameoff: number, at: number): string => {
    const cached = nameCache.get(nameoff);
    if (cached !== undefined) return cached;
    if (nameoff >= header.sizeDtStrings) throw fail(`property name offset ${hex(nameoff)} is outside the strings block (size ${hex(header.sizeDtStrings)})`, at);
    let end = strBase + nameoff;
    while (end < strEnd && bytes[end] !== 0) end++;
    if (end >= strEnd) throw fail(`property name at strings offset ${hex(nameoff)} is not NUL-terminated inside the strings block`, at);
    const s = latin1(bytes.subarray(strBase + nameoff, end));
    nameCache.set(nameoff, s);
    return s;
  };

  const structBase = header.offDtStruct;
  const structEnd = structBase + structSize;
  let pos = structBase;
  const token = (): number => {
    if (pos + 4 > structEnd) throw fail('structure block ends without an FDT_END token', pos);
    const t = w(pos);
    pos += 4;
    return t;
  };
  let root: FdtNode | undefined;
  const stack: FdtNode[] = [];
  // Each iteration consumes at least 4 bytes, so the loop ends within structSize/4 steps.
  for (;;) {
    const at = pos;
    const t = token();
    if (t === FDT_NOP) continue;
    if (t === FDT_BEGIN_NODE) {
      let end = pos;
      while (end < structEnd && bytes[end] !== 0) end++;
      if (end >= structEnd) throw fail('node name runs past the end of the structure block', at);
      const name = latin1(bytes.subarray(pos, end));
      pos = (end + 1 + 3) & ~3;
      if (pos > structEnd) throw fail('node name padding runs past the end of the structure block', at);
      if (root && stack.length === 0) throw fail('a second root node follows the first', at);
      if (stack.length >= FDT_MAX_DEPTH) throw fail(`nodes nested deeper than ${FDT_MAX_DEPTH} levels`, at);
      const parent = stack[stack.length - 1];
      if (!parent && name !== '') throw fail(`root node has name '${name}' (must be empty)`, at);
      const path = !parent ? '/' : parent === root ? `/${name}` : `${parent.path}/${name}`;
      const node: FdtNode = { name, path, children: [], props: new Map(), offset: at };
      if (parent) {
        node.parent = parent;
        parent.children.push(node);
      } else root = node;
      stack.push(node);
      continue;
    }
    if (t === FDT_PROP) {
      const node = stack[stack.length - 1];
      if (!node) throw fail('property outside any node', at);
      if (pos + 8 > structEnd) throw fail('property header runs past the end of the structure block', at);
      const len = w(pos);
      const nameoff = w(pos + 4);
      pos += 8;
      if (len > structEnd - pos) throw fail(`property length ${hex(len)} runs past the end of the structure block`, at);
      const name = propName(nameoff, at);
      node.props.set(name, { name, offset: pos, value: bytes.subarray(pos, pos + len) });
      pos = (pos + len + 3) & ~3;
      continue;
    }
    if (t === FDT_END_NODE) {
      if (!stack.pop()) throw fail('END_NODE without a matching BEGIN_NODE', at);
      continue;
    }
    if (t === FDT_END) {
      if (stack.length) throw fail(`FDT_END inside node ${stack[stack.length - 1].path} (missing END_NODE)`, at);
      if (!root) throw fail('structure block has no root node', at);
      break;
    }
    throw fail(`unknown structure token ${hex(t)}`, at);
  }
  return { header, root: root as FdtNode, memReserve };
}
