/**
 * The scenario format, as one zod schema. The same schema validates YAML files (the loader maps each
 * issue back to the YAML node it concerns) and is published as JSON Schema for editors
 * (`npm run schema` writes schema/scenario.schema.json).
 *
 * After changing this file, run `npm run schema`: a test fails while schema/scenario.schema.json is stale.
 *
 * Rules of the format:
 * - every object is strict: an unknown key is an error, so a typo never silently does nothing;
 * - a step is a discriminated union keyed by `op`; each layer of the model (allocator, DMA stack,
 *   hardware, drivers) registers a handler per op with the runner;
 * - sizes and addresses are numbers or strings with units ("4K", "0x1_0000_0000"); an address may also
 *   name the result of an earlier step ("buf", "buf.dma + 0x100"), resolved when the step runs;
 * - nothing here transforms values, so the JSON Schema describes exactly what a file may contain.
 */
import { z } from 'zod';

/** Outcomes a run can end with. The first modelled failure decides (see runner.ts decideOutcome). */
export const OUTCOMES = [
  'ok',
  'warn',
  'page-fault',
  'bus-error',
  'data-mismatch',
  'probe-failed',
  'attach-failed',
  'map-failed',
  'alloc-failed',
  'timeout',
  'irq-storm',
  'oops',
  'bug',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** What each outcome means; printed by `--help` and the README. */
export const OUTCOME_MEANING: Record<Outcome, string> = {
  ok: 'everything the scenario did succeeded and no warning was printed',
  warn: 'the run completed, but the kernel printed a WARN (or a warning the layers flag as one)',
  'page-fault': 'an IOMMU reported a translation fault for a device access',
  'bus-error': 'a device access or a table walk went beyond what the bus can reach',
  'data-mismatch': 'a device or CPU read back data that differs from what the scenario expected there',
  'probe-failed': 'a driver probe failed (the device is left without its driver or without an IOMMU)',
  'attach-failed': 'attaching a device to an IOMMU domain failed',
  'map-failed': 'a DMA or IOMMU mapping call returned an error (DMA_MAPPING_ERROR, -ENOMEM, ...)',
  'alloc-failed': 'a page, kmalloc or coherent allocation failed',
  timeout: 'a hardware poll timed out (stall, paging or reset request not acknowledged)',
  'irq-storm': 'an interrupt kept firing without being handled (the kernel disabled the line)',
  oops: 'the kernel oopsed (e.g. a NULL pointer dereference); the run stops there',
  bug: 'a BUG_ON or panic; the run stops there',
};

/** Outcomes after which the modelled kernel is dead: the remaining steps do not run. */
export const FATAL_OUTCOMES: readonly Outcome[] = ['oops', 'bug'];

// ---- scalar pieces -------------------------------------------------------------------------------

const NUM_LITERAL = String.raw`(?:0x[0-9a-fA-F][0-9a-fA-F_]*|[0-9][0-9_]*)(?:\s*(?:[kKmMgGtT](?:i?[bB])?|[bB]))?`;
const NAME = String.raw`[A-Za-z_][A-Za-z0-9_]*`;

/** A size: 4096, "4K", "0x1000", "2M". */
export const Size = z
  .union([z.number().int().nonnegative(), z.string().regex(new RegExp(`^\\s*${NUM_LITERAL}\\s*$`))])
  .describe('a size: a number, or a string such as "4K", "2M", "0x1000"');

/**
 * An address: a literal (0x1_0000_0000, "4G") or a reference to a named result of an earlier step, with
 * an optional field and offset: "buf", "buf.phys", "map0.dma + 0x100", "dom.iova - 4K".
 */
export const AddrExpr = z
  .union([
    z.number().int().nonnegative(),
    z
      .string()
      .regex(
        new RegExp(
          `^\\s*(?:${NUM_LITERAL}|${NAME}(?:\\.${NAME})?(?:\\s*[-+]\\s*${NUM_LITERAL})?)\\s*$`,
        ),
      ),
  ])
  .describe('an address: a number, "0x1_0000_0000", "4G", or a named result such as "buf.dma + 0x100"');

/** A name that later steps use to refer to a step's result. */
export const Name = z
  .string()
  .regex(new RegExp(`^${NAME}$`))
  .describe('a name for the result, used by later steps (letters, digits, _)');

/** A device as the board names it ("fde4b000.iommu", "ee300000.sata") or by its DT label/node name. */
export const DeviceRef = z.string().min(1).describe('a device: its Linux name ("fdea0800.iommu") or DT path');

/**
 * Data for writes and for checks, as a short phrase:
 * "fill 0xa5" (every byte), "word 0xdeadbeef" (every 32-bit LE word), "hex de ad be ef" (exact bytes,
 * repeated to the size), "inc" (byte i = i & 0xff), "random 7" (seeded pseudo-random bytes), "zero".
 */
export const DataSpec = z
  .string()
  .regex(
    /^\s*(?:zero|inc|fill\s+(?:0x[0-9a-fA-F]{1,2}|\d{1,3})|word\s+(?:0x[0-9a-fA-F]{1,8}|\d+)|hex(?:\s+[0-9a-fA-F]{2})+|hex\s+[0-9a-fA-F]+|random(?:\s+\d+)?)\s*$/,
  )
  .describe('a data phrase: "zero", "inc", "fill 0xa5", "word 0xdeadbeef", "hex de ad be ef", "random 7"');

export const Dir = z
  .enum(['to-device', 'from-device', 'bidirectional', 'DMA_TO_DEVICE', 'DMA_FROM_DEVICE', 'DMA_BIDIRECTIONAL'])
  .describe('a DMA direction');

/** GFP flags as the kernel writes them: "GFP_KERNEL | __GFP_ZERO", "GFP_DMA32", "0". */
export const Gfp = z
  .string()
  .regex(/^\s*(?:0|(?:__)?GFP_[A-Z0-9_]+)(?:\s*\|\s*(?:(?:__)?GFP_[A-Z0-9_]+|0))*\s*$/)
  .describe('GFP flags as the kernel writes them, e.g. "GFP_KERNEL | __GFP_ZERO" or "0"');

/** IOMMU prot as letters (values.ts maps them to the bits of include/linux/iommu.h). */
export const Prot = z
  .string()
  .regex(/^[rwcnmp]+$/)
  .describe('a prot string: r = IOMMU_READ, w = IOMMU_WRITE, c = IOMMU_CACHE, n = IOMMU_NOEXEC, m = IOMMU_MMIO, p = IOMMU_PRIV');

/** A duration: ns as a number, or "10us", "5ms", "1s". */
export const Duration = z
  .union([z.number().int().nonnegative(), z.string().regex(/^\s*\d+\s*(?:ns|us|ms|s)\s*$/)])
  .describe('a duration: nanoseconds, or "10us", "5ms", "1s"');

const Note = z.string().optional().describe('free text shown with the step in --trace and --explain');

// ---- board ----------------------------------------------------------------------------------------

/** A property value as the board layer takes it (src/board/from-dtb.ts DtValue). */
const DtValue = z
  .union([
    z.array(z.union([z.number().int().nonnegative(), z.string()])),
    z.string(),
    z.strictObject({ strings: z.array(z.string()) }),
    z.literal(true),
    z.null(),
  ])
  .describe('a DT property value: cells [0x0, 0xfde4b000] (with "&/path" references), a string, {strings: [...]}, true (empty), null (delete)');

export const BoardAdd = z
  .strictObject({
    path: z.string().regex(/^\//).describe('DT path of the node to add or amend, e.g. "/iommu@fde4b000"'),
    props: z
      .record(z.string(), DtValue)
      .optional()
      .describe('device-tree properties by their DT names: compatible, reg, interrupts, power-domains, iommus, ...'),
  })
  .describe('a device-tree node to add or amend (e.g. the NPU IOMMU, absent from mainline DTs)');

export const RamBankSpec = z.strictObject({ base: AddrExpr, size: Size });

/** "8G", "4G/no-high-alias", or explicit banks "0x200000:0xefe00000,0x100000000:4G". */
const RamText = z
  .string()
  .regex(new RegExp(`^\\s*(?:${NUM_LITERAL}(?:/[a-z0-9-]+)?|${NUM_LITERAL}:${NUM_LITERAL}(?:\\s*,\\s*${NUM_LITERAL}:${NUM_LITERAL})*)\\s*$`))
  .describe('a RAM size laid out as real boards of that size are ("8G", "4G/no-high-alias"), or banks "BASE:SIZE,..."');

export const BoardSpec = z
  .strictObject({
    profile: z.string().min(1).optional().describe('a built-in board profile: rk3568, r8a7795-salvator-x, t8103, ...'),
    dtb: z.string().min(1).optional().describe('a real flattened device tree, relative to the scenario file'),
    ram: z
      .union([z.number().int().positive(), RamText, z.array(RamBankSpec).min(1)])
      .optional()
      .describe('RAM: a size laid out as real boards of that size are ("8G"), or explicit banks'),
    add: z.array(BoardAdd).optional(),
    master_dma_bits: z
      .record(z.string().regex(/^\//), z.number().int().min(1).max(64))
      .optional()
      .describe("a master's own DMA address width, by DT path (what its driver sets as mask)"),
  })
  .superRefine((b, ctx) => {
    if ((b.profile === undefined) === (b.dtb === undefined))
      ctx.addIssue({ code: 'custom', message: 'board needs exactly one of `profile` or `dtb`', path: [] });
  });

// ---- steps ----------------------------------------------------------------------------------------

function step<K extends string, S extends z.ZodRawShape>(op: K, describe: string, shape: S) {
  return z.strictObject({ op: z.literal(op), note: Note, ...shape }).describe(describe);
}

export const STEP_SCHEMAS = [
  step('probe', 'probe drivers: one device, or every device in device-tree order', {
    device: DeviceRef.optional(),
  }),
  step('attach', "attach a master to a domain (by default its group's default domain)", {
    master: DeviceRef,
    domain: Name.optional(),
  }),
  step('detach', 'detach a master from its domain', { master: DeviceRef }),
  step('domain_alloc', 'allocate an IOMMU domain for the IOMMU a device sits behind', {
    dev: DeviceRef,
    type: z.enum(['dma', 'dma-fq', 'identity', 'unmanaged', 'blocked']).optional(),
    as: Name,
  }),
  step('domain_free', 'free a domain allocated by domain_alloc', { domain: Name }),
  step('alloc_pages', 'alloc_pages(gfp, order): a CPU buffer', {
    order: z.number().int().min(0).max(10).optional(),
    size: Size.optional(),
    gfp: Gfp.optional(),
    as: Name,
  }),
  step('kmalloc', 'kmalloc(size, gfp): a CPU buffer', { size: Size, gfp: Gfp.optional(), as: Name }),
  step('free', 'free a buffer from alloc_pages or kmalloc', { buf: Name }),
  step('dma_set_mask', 'dma_set_mask(_and_coherent) on a device', {
    dev: DeviceRef,
    bits: z.number().int().min(1).max(64),
    coherent: z.boolean().optional(),
  }),
  step('dma_map', 'dma_map_single / dma_map_page of (part of) a buffer', {
    dev: DeviceRef,
    buf: AddrExpr,
    size: Size.optional(),
    dir: Dir,
    attrs: z.array(z.string().regex(/^DMA_ATTR_[A-Z_]+$/)).optional(),
    as: Name,
  }),
  step('dma_unmap', 'dma_unmap_single / dma_unmap_page of a dma_map result', { handle: Name }),
  step('dma_map_sg', 'dma_map_sg of a scatterlist (one entry per buffer); the result names each DMA segment (name.dma0, name.len0, ...)', {
    dev: DeviceRef,
    bufs: z
      .array(
        z.strictObject({
          buf: AddrExpr.describe('the buffer (or a physical address) the entry starts at'),
          offset: Size.optional().describe('bytes into the buffer'),
          size: Size.optional().describe("the entry's length (default: the buffer's size less the offset)"),
        }),
      )
      .min(1),
    dir: Dir,
    max_seg_size: Size.optional().describe("the device's dma_parms max_segment_size (default 64K)"),
    as: Name,
  }),
  step('dma_unmap_sg', 'dma_unmap_sg of a dma_map_sg result', { handle: Name }),
  step('dma_sync', 'dma_sync_single_for_device / _for_cpu', {
    handle: Name,
    for: z.enum(['device', 'cpu']),
    dir: Dir.optional(),
    offset: Size.optional(),
    size: Size.optional(),
  }),
  step('dma_alloc_coherent', 'dma_alloc_coherent(dev, size, &handle, gfp)', {
    dev: DeviceRef,
    size: Size,
    gfp: Gfp.optional(),
    as: Name,
  }),
  step('dma_free_coherent', 'dma_free_coherent of a dma_alloc_coherent result', { handle: Name }),
  step('iommu_map', 'iommu_map(domain, iova, paddr, size, prot, gfp)', {
    domain: Name,
    iova: AddrExpr,
    phys: AddrExpr,
    size: Size,
    prot: Prot.optional(),
    gfp: Gfp.optional(),
  }),
  step('iommu_unmap', 'iommu_unmap(domain, iova, size)', { domain: Name, iova: AddrExpr, size: Size }),
  step('device_write', 'a bus master writes through its IOMMU (or directly) at a device address', {
    master: DeviceRef,
    addr: AddrExpr,
    size: Size,
    data: DataSpec,
  }),
  step('device_read', 'a bus master reads at a device address; with `expect`, the data are checked', {
    master: DeviceRef,
    addr: AddrExpr,
    size: Size,
    expect: DataSpec.optional(),
  }),
  step('cpu_write', 'the CPU writes memory (a physical address or a named buffer)', {
    addr: AddrExpr,
    size: Size,
    data: DataSpec,
  }),
  step('cpu_read', 'the CPU reads memory; with `expect`, the data are checked', {
    addr: AddrExpr,
    size: Size,
    expect: DataSpec.optional(),
  }),
  step('mmio_read', "read an IOMMU register (by name or offset); `expect` checks the value", {
    device: DeviceRef,
    reg: z.union([z.string().regex(/^[A-Z][A-Z0-9_]*$/), z.number().int().nonnegative()]),
    instance: z.number().int().nonnegative().optional(),
    expect: z.number().int().nonnegative().optional(),
  }),
  step('mmio_write', 'write an IOMMU register (by name or offset)', {
    device: DeviceRef,
    reg: z.union([z.string().regex(/^[A-Z][A-Z0-9_]*$/), z.number().int().nonnegative()]),
    instance: z.number().int().nonnegative().optional(),
    value: z.number().int().nonnegative(),
  }),
  step('power_off', "fault injection: switch off the power domain a device sits in", { device: DeviceRef }),
  step('power_on', 'switch the power domain of a device back on', { device: DeviceRef }),
  step('reset_master', "fault injection: reset a master (on some SoCs this also resets its IOMMU's registers)", {
    master: DeviceRef,
  }),
  step('wrong_irq', 'fault injection: the driver of an IOMMU requests this interrupt number instead of its own', {
    device: DeviceRef,
    irq: z.number().int().nonnegative(),
  }),
  step('walk', "walk an IOMMU's live page table (as `iommu-lab walk` does on a dump)", {
    device: DeviceRef,
    iova: z.union([AddrExpr, z.array(AddrExpr)]).optional(),
    explain: z.boolean().optional(),
  }),
  step('sleep', 'let simulated time pass (interrupts are delivered meanwhile)', { time: Duration }),
  step('iommu_group_type', "write the sysfs iommu_group/type of a master's group (only DMA -> DMA-FQ works with its driver bound)", {
    master: DeviceRef,
    type: z.enum(['identity', 'DMA', 'DMA-FQ', 'auto']),
  }),
] as const;

export const Step = z.discriminatedUnion('op', STEP_SCHEMAS);
export type Step = z.infer<typeof Step>;
export type StepKind = Step['op'];
export type StepOf<K extends StepKind> = Extract<Step, { op: K }>;
export const STEP_KINDS: readonly StepKind[] = STEP_SCHEMAS.map((s) => s.shape.op.value);

// ---- expectations ---------------------------------------------------------------------------------

/** A log pattern: a substring, or /regex/flags. */
export const LogPattern = z.string().min(1).describe('a substring of a log line, or /regex/ (flags after the last /)');

export const DataExpect = z.strictObject({
  addr: AddrExpr,
  size: Size,
  equals: DataSpec,
  note: Note,
});

export const Expect = z
  .strictObject({
    outcome: z.enum(OUTCOMES).optional().describe('the outcome the run must end with (default ok)'),
    log: z.array(LogPattern).optional().describe('lines that must appear in the kernel log'),
    no_log: z.array(LogPattern).optional().describe('lines that must not appear in the kernel log'),
    data: z.array(DataExpect).optional().describe('memory contents (CPU view) that must hold after the last step'),
  })
  .describe('what the run must show to pass');

// ---- the scenario ---------------------------------------------------------------------------------

export const KERNEL_PRESET_PATTERN = /^v\d+\.\d+(?:-rc\d+)?(?:[-+][A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)*)*$/;

export const Scenario = z
  .strictObject({
    title: z.string().min(1).describe('one line: what the scenario shows'),
    description: z.string().optional(),
    tags: z.array(z.string()).optional(),
    board: BoardSpec,
    kernel: z
      .string()
      .regex(KERNEL_PRESET_PATTERN)
      .optional()
      .describe('kernel preset: v6.12 (default), v6.12-revert-2a7e6400, v6.12+rk3568-iommu-v1, v4.19, v4.20-rc1, ...'),
    cmdline: z.string().optional().describe('kernel command line, e.g. "iommu.passthrough=0 iommu.strict=1 swiotlb=force"'),
    kernel_config: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('override fields of the kernel preset (src/linux/presets.ts), e.g. {rockchipMatch: {"rockchip,rk3568-iommu": {entries: v2, dmaBits: 32, gfpFlags: "", origin: custom}}}'),
    page_size: z.enum(['4K', '16K']).optional().describe('CPU page size (default 4K)'),
    seed: z.number().int().nonnegative().optional().describe('boot-history seed: which other allocations happened at boot'),
    steps: z.array(Step),
    expect: Expect.optional(),
  })
  .describe('an iommu-lab scenario');
export type Scenario = z.infer<typeof Scenario>;

export const DEFAULT_KERNEL = 'v6.12';
