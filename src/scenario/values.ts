/**
 * Scenario values turned into what the kernel model takes, for step handlers of every layer: DMA
 * directions, IOMMU prot bits, GFP flag names, durations. One place, so each layer reads them alike.
 */

/** IOMMU_READ ... IOMMU_PRIV by the letters the scenario format uses (include/linux/iommu.h:18-32). */
export const IOMMU_PROT_BITS: Readonly<Record<string, number>> = {
  r: 1 << 0, // IOMMU_READ
  w: 1 << 1, // IOMMU_WRITE
  c: 1 << 2, // IOMMU_CACHE
  n: 1 << 3, // IOMMU_NOEXEC
  m: 1 << 4, // IOMMU_MMIO
  p: 1 << 5, // IOMMU_PRIV
};

/** "rw" → IOMMU_READ | IOMMU_WRITE = 3. Letters are validated by the schema. */
export function protBits(letters: string): number {
  let v = 0;
  for (const ch of letters) {
    const b = IOMMU_PROT_BITS[ch];
    if (b === undefined) throw new Error(`prot letter '${ch}' passed the schema but is unknown`);
    v |= b;
  }
  return v;
}

/** The direction names the kernel model uses (src/linux/kapi.ts DmaDirection). */
export type DmaDir = 'bidirectional' | 'to-device' | 'from-device';

const DIRS: Record<string, DmaDir> = {
  'to-device': 'to-device',
  'from-device': 'from-device',
  bidirectional: 'bidirectional',
  DMA_TO_DEVICE: 'to-device',
  DMA_FROM_DEVICE: 'from-device',
  DMA_BIDIRECTIONAL: 'bidirectional',
};

export function dmaDir(d: string): DmaDir {
  const v = DIRS[d];
  if (!v) throw new Error(`direction '${d}' passed the schema but is unknown`);
  return v;
}

/** "GFP_KERNEL | __GFP_ZERO" → ["GFP_KERNEL", "__GFP_ZERO"]; "0" → []. */
export function gfpNames(text: string): string[] {
  return text
    .split('|')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== '0');
}

const NS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };

/** "10us" → 10000 (ns); a number is already ns. */
export function parseDuration(v: number | string): number {
  if (typeof v === 'number') return v;
  const m = /^\s*(\d+)\s*(ns|us|ms|s)\s*$/.exec(v);
  if (!m) throw new Error(`duration '${v}' passed the schema but does not parse`);
  return Number(m[1]) * NS[m[2]];
}
