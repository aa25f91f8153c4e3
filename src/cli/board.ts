/** `iommu-lab board`: what a board looks like to the kernel — RAM, zones, IOMMUs and the masters behind them. */
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { InputError, formatSize, hex } from '../addr.js';
import type { NodeAddition } from '../board/from-dtb.js';
import { ADDITION_SETS, findProfile, loadBoard, profileNames, PROFILES } from '../board/profiles.js';
import type { Board, BoardIommu } from '../board/types.js';
import { zoneBoundaries, zoneRangesText, type ZoneBoundaries } from '../board/zones.js';
import type { SetExit } from './commands.js';

const HELP = `
A board is what the kernel learns from the device tree: RAM banks, the IOMMU instances (compatible, MMIO
base, interrupt, power domain, clocks) and the bus masters behind each one. It comes from a built-in
profile or a real .dtb file. Profiles (each built from a real .dtb plus data):
${Object.values(PROFILES)
  .map((p) => `  ${p.name.padEnd(20)} ${p.description}${p.defaultRam ? ` (default RAM ${p.defaultRam})` : ''}`)
  .join('\n')}

RAM: --ram SIZE lays SIZE out as real boards of that SoC family do (an 8 GiB RK3568 has 4 GiB at
0x1_0000_0000; a 4 GiB one has 256 MiB at 0x1_f000_0000); "4G/no-high-alias" is the variant of old
loaders; explicit banks are BASE:SIZE,... (e.g. 0x200000:0xefe00000,0x100000000:4G).

Zones are computed as arm64 Linux 6.12 does (arch/arm64/mm/init.c zone_sizes_init): with RAM below
4 GiB and no limiting dma-ranges, ZONE_DMA reaches 4 GiB and ZONE_DMA32 is empty.

--add FILE adds or overrides device-tree nodes from a YAML/JSON list of {path, props}, where a prop is
a list of cells (numbers, or "&/path" for a node's phandle), a string, {strings: [...]}, true or null.
Named sets: ${Object.entries(ADDITION_SETS).map(([k, v]) => `${k} (${v.description})`).join('; ')}.

Examples:
  iommu-lab board rk3568 --ram 4G
  iommu-lab board r8a7795-salvator-x --json
  iommu-lab board test/fixtures/dtb/rk3568-rock-3b.dtb --ram 8G --add rk3568-npu
`;

export function registerBoard(program: Command, setExit: SetExit): void {
  program
    .command('board')
    .description('show a board: RAM banks, zones, IOMMUs (model, base, IRQ) and the masters behind them')
    .argument('<board>', `a profile (${profileNames().join(', ')}) or a .dtb file`)
    .option('--ram <size>', 'RAM size laid out as the SoC family does (1G, 2G, 4G, 8G, 16G...), or banks BASE:SIZE,...')
    .option('--add <file|set>', `YAML/JSON list of device-tree nodes to add or override, or a named set (${Object.keys(ADDITION_SETS).join(', ')})`)
    .option('--json', 'machine-readable output (addresses as hex strings)')
    .addHelpText('after', HELP)
    .action((what: string, opts: { ram?: string; add?: string; json?: boolean }) => {
      const add = opts.add ? (ADDITION_SETS[opts.add]?.additions ?? readAdditions(opts.add)) : undefined;
      const isFile = what.endsWith('.dtb') || (!findProfile(what) && existsSync(what));
      const board = loadBoard({
        ...(isFile ? { dtb: what } : { profile: what }),
        ...(opts.ram !== undefined ? { ram: opts.ram } : {}),
        ...(add ? { add } : {}),
      });
      const zones = board.ram.length ? zoneBoundaries(board.ram, board.zoneDmaLimit) : undefined;
      process.stdout.write(opts.json ? JSON.stringify(boardJson(board, zones), null, 2) + '\n' : boardText(board, zones));
      setExit(0);
    });
}

function readAdditions(file: string): NodeAddition[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new InputError(`${file}: not YAML/JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!Array.isArray(data)) throw new InputError(`${file}: expected a list of {path, props}`);
  return data as NodeAddition[];
}

function range(base: number, size: number): string {
  const h = (n: number): string => '0x' + n.toString(16).padStart(16, '0');
  return `[mem ${h(base)}-${h(base + size - 1)}]`;
}

function irqText(i: BoardIommu): string {
  if (i.irqs?.length) return i.irqs.map((q) => (q.kind && q.number !== undefined ? `${q.kind} ${q.number}` : `<${q.cells.join(' ')}>`)).join(', ');
  return 'none';
}

export function boardText(b: Board, zones: ZoneBoundaries | undefined): string {
  const out: string[] = [];
  out.push(`board ${b.name} (${b.source}): ${b.model || '(no model)'}  [${b.compatible.join(' ')}]`);
  const total = b.ram.reduce((s, r) => s + r.size, 0);
  out.push(`RAM: ${b.ram.length} bank(s), ${formatSize(total)}`);
  for (const r of b.ram) out.push(`  ${range(r.base, r.size)}  ${formatSize(r.size)}`);
  if (!b.ram.length) out.push('  none in the device tree (the bootloader fills /memory in): pass --ram SIZE');
  for (const r of b.reserved ?? [])
    out.push(`  reserved ${r.name}: ${r.base !== undefined ? range(r.base, r.size) : `dynamic, ${formatSize(r.size)}`}${r.noMap ? ' no-map' : ''}${r.reusable ? ' reusable' : ''}`);
  for (const r of b.memReserve ?? []) out.push(`  /memreserve/ ${range(r.base, r.size)}`);
  out.push(`DT dma-ranges limit (of_dma_get_max_cpu_address): ${b.zoneDmaLimit === undefined ? 'none (PHYS_ADDR_MAX)' : hex(b.zoneDmaLimit)}`);
  for (const bus of b.buses ?? [])
    out.push(`  bus ${bus.path}: dma-ranges ${bus.dmaRanges.map((d) => `${hex(d.bus)} -> ${hex(d.cpu)} (${hex(d.size)})`).join(', ')}, reaches ${hex(bus.maxCpuAddress)}`);
  if (zones) {
    out.push(...zoneRangesText(zones));
    out.push(`  arm64_dma_phys_limit ${hex(zones.arm64DmaPhysLimit)}`);
  }
  out.push(`IOMMUs (${b.iommus.length}):`);
  for (const i of b.iommus) {
    const model = i.model ? `${i.model.driver} ${i.model.variant}${i.model.format ? `, tables ${i.model.format}` : ''}` : 'unknown driver';
    out.push(`  ${i.name}  ${i.compatible.join(', ')} -> ${model}${i.enabled ? '' : '  (disabled)'}`);
    const regs = i.reg.map((r) => `${hex(r.base)} (${hex(r.size)})`).join(', ') || 'none';
    const parts = [`base ${regs}`, `irq ${irqText(i)}`];
    if (i.powerDomain) parts.push(`power ${i.powerDomain}`);
    if (i.clockNames.length) parts.push(`clocks ${i.clockNames.join(', ')}`);
    parts.push(`#iommu-cells ${i.iommuCells}`);
    if (i.hwVersion) parts.push(`IP v${i.hwVersion}`);
    if (i.ipmmuMain) parts.push(`ipmmu-main ${i.ipmmuMain.iommu}${i.ipmmuMain.index !== undefined ? ` #${i.ipmmuMain.index}` : ''}`);
    out.push(`      ${parts.join('  ')}`);
    if (i.dmaRanges) out.push(`      bus dma-ranges: ${i.dmaRanges.map((d) => `${hex(d.bus)} -> ${hex(d.cpu)} (${hex(d.size)})`).join(', ')}`);
    const behind = b.masters.filter((m) => m.iommus.some((e) => e.iommu === i.name));
    if (!behind.length) out.push('      masters: none in the device tree');
    for (const m of behind) {
      const ids = m.iommus.filter((e) => e.iommu === i.name).flatMap((e) => e.ids);
      const idText = ids.length ? ` ids ${compactIds(ids)}` : '';
      const via = m.iommuMap ? ' (PCI requester ids via iommu-map)' : '';
      out.push(`      master ${m.name}${idText}${via}${m.enabled ? '' : ' (disabled)'}  ${m.path}`);
      if (m.dmaRanges) out.push(`        bus dma-ranges: ${m.dmaRanges.map((d) => `${hex(d.bus)} -> ${hex(d.cpu)} (${hex(d.size)})`).join(', ')}`);
      if (m.dmaBits !== undefined) out.push(`        DMA mask: ${m.dmaBits} bits`);
    }
  }
  if (b.chosen?.bootargs) out.push(`bootargs: ${b.chosen.bootargs}`);
  if (b.notes.length) {
    out.push('Notes:');
    for (const n of b.notes) out.push(`  - ${n}`);
  }
  return out.join('\n') + '\n';
}

/** "0-15", "2", "0,5,8-9". */
function compactIds(ids: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ids.length; ) {
    let j = i;
    while (j + 1 < ids.length && ids[j + 1] === ids[j] + 1) j++;
    parts.push(j > i ? `${ids[i]}-${ids[j]}` : `${ids[i]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export function boardJson(b: Board, zones: ZoneBoundaries | undefined): unknown {
  const win = (r: { base: number; size: number }): { base: string; size: string } => ({ base: hex(r.base), size: hex(r.size) });
  const dr = (d: { bus: number; cpu: number; size: number }[] | undefined): unknown =>
    d?.map((x) => ({ bus: hex(x.bus), cpu: hex(x.cpu), size: hex(x.size) })) ?? null;
  return {
    name: b.name,
    source: b.source,
    model: b.model,
    compatible: b.compatible,
    ram: b.ram.map(win),
    reserved: (b.reserved ?? []).map((r) => ({ ...r, base: r.base === undefined ? null : hex(r.base), size: hex(r.size) })),
    memReserve: (b.memReserve ?? []).map(win),
    zoneDmaLimit: b.zoneDmaLimit === undefined ? null : hex(b.zoneDmaLimit),
    zones: zones
      ? {
          arm64DmaPhysLimit: hex(zones.arm64DmaPhysLimit),
          ranges: zones.zones.map((z) => ({ name: z.name, empty: z.empty, start: hex(z.start), end: hex(z.end), present: hex(z.present) })),
        }
      : null,
    iommus: b.iommus.map((i) => ({
      name: i.name,
      path: i.path,
      compatible: i.compatible,
      model: i.model ?? null,
      hwVersion: i.hwVersion ?? null,
      ipmmuMain: i.ipmmuMain ?? null,
      reg: i.reg.map(win),
      interrupts: i.interrupts,
      irqs: i.irqs ?? [],
      powerDomain: i.powerDomain ?? null,
      clockNames: i.clockNames,
      clocks: i.clocks ?? [],
      iommuCells: i.iommuCells,
      dmaRanges: dr(i.dmaRanges),
      enabled: i.enabled,
      masters: b.masters.filter((m) => m.iommus.some((e) => e.iommu === i.name)).map((m) => m.name),
      props: i.props,
    })),
    masters: b.masters.map((m) => ({
      name: m.name,
      path: m.path,
      compatible: m.compatible,
      reg: m.reg.map(win),
      iommus: m.iommus,
      iommuMap: m.iommuMap ?? null,
      dmaBits: m.dmaBits ?? null,
      dmaRanges: dr(m.dmaRanges),
      powerDomain: m.powerDomain ?? null,
      enabled: m.enabled,
    })),
    chosen: b.chosen ?? null,
    buses: (b.buses ?? []).map((x) => ({ path: x.path, dmaRanges: dr(x.dmaRanges), maxCpuAddress: hex(x.maxCpuAddress) })),
    notes: b.notes,
  };
}
