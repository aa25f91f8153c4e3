/**
 * The scatterlist arithmetic of iommu_dma_map_sg (drivers/iommu/dma-iommu.c:1376-1492, 6.12): the whole
 * list gets ONE IOVA allocation; each segment is widened to whole IOVA granules (its offset in the
 * granule kept aside), optionally padded so no segment crosses the device's segment boundary; the
 * IOMMU core maps physically contiguous runs of the widened segments (iommu_map_sg, iommu.c:2616-2674);
 * and __finalise_sg (dma-iommu.c:1248-1310) gives the caller back DMA segments, concatenating a
 * segment into the previous output segment when it starts on a granule boundary, is not at a
 * segment boundary and keeps the output within dma_get_max_seg_size (64 KiB unless the driver set
 * dma_parms, include/linux/dma-mapping.h:517-522).
 *
 * Pure functions of numbers: the kernel glue (src/linux/kernel.ts) allocates the IOVA and maps.
 * A segment boundary mask of `undefined` is the default ULONG_MAX (no device dma_parms), which never
 * pads and only refuses concatenation at DMA address 0.
 */

export interface SgEntry {
  /** sg_phys(): the physical address of the segment's first byte (page + offset). */
  phys: number;
  length: number;
}

/** One segment after the in-place rewrite of the first loop of iommu_dma_map_sg. */
export interface SgLaidOut {
  /** Granule-aligned start (s->offset -= s_iova_off). */
  alignedPhys: number;
  /** s->length after iova_align and any padding added for the next segment's boundary. */
  iovaLen: number;
  /** The offset and length kept aside in the DMA fields (sg_dma_address / sg_dma_len). */
  iovaOff: number;
  length: number;
}

export interface SgLayout {
  segs: SgLaidOut[];
  /** Bytes of IOVA space for the whole list. */
  iovaLen: number;
}

export const DEFAULT_MAX_SEG_SIZE = 64 * 1024;

/** The first loop of iommu_dma_map_sg: align every segment to the granule, pad for the boundary mask. */
export function layoutSg(sg: readonly SgEntry[], granule: number, segBoundaryMask?: number): SgLayout {
  const segs: SgLaidOut[] = [];
  let iovaLen = 0;
  for (const s of sg) {
    const iovaOff = s.phys % granule;
    const aligned = Math.ceil((s.length + iovaOff) / granule) * granule;
    const seg: SgLaidOut = { alignedPhys: s.phys - iovaOff, iovaLen: aligned, iovaOff, length: s.length };
    // pad_len = (mask - iova_len + 1) & mask: the distance to the next boundary. With the default
    // ULONG_MAX mask it is 0 only for the first segment and enormous otherwise, so nothing is padded.
    if (segBoundaryMask !== undefined) {
      const span = segBoundaryMask + 1;
      const pad = (span - (iovaLen % span)) % span;
      if (pad && pad < aligned - 1) {
        // The previous segment's mapping grows to reach the boundary (dma-iommu.c:1466-1477).
        segs[segs.length - 1].iovaLen += pad;
        iovaLen += pad;
      }
    }
    iovaLen += aligned;
    segs.push(seg);
  }
  return { segs, iovaLen };
}

/**
 * iommu_map_sg's walk: consecutive widened segments whose physical ranges touch are mapped with one
 * __iommu_map call. Returns the runs in IOVA order; their lengths add up to the layout's iovaLen.
 */
export function mapRuns(layout: SgLayout): { phys: number; length: number }[] {
  const runs: { phys: number; length: number }[] = [];
  for (const s of layout.segs) {
    const last = runs[runs.length - 1];
    if (last && last.phys + last.length === s.alignedPhys) last.length += s.iovaLen;
    else runs.push({ phys: s.alignedPhys, length: s.iovaLen });
  }
  return runs;
}

/** __finalise_sg: the DMA segments the caller gets back, from the start of the IOVA range. */
export function finaliseSg(layout: SgLayout, iova: number, maxSegSize = DEFAULT_MAX_SEG_SIZE, segBoundaryMask?: number): { dma: number; length: number }[] {
  const out: { dma: number; length: number }[] = [];
  let dmaAddr = iova;
  let curLen = 0;
  const atBoundary = (a: number) => (segBoundaryMask === undefined ? a === 0 : a % (segBoundaryMask + 1) === 0);
  for (const s of layout.segs) {
    if (curLen && !s.iovaOff && !atBoundary(dmaAddr) && maxSegSize - curLen >= s.length) {
      curLen += s.length;
      out[out.length - 1].length = curLen;
    } else {
      curLen = s.length;
      out.push({ dma: dmaAddr + s.iovaOff, length: curLen });
    }
    dmaAddr += s.iovaLen;
    // A segment that stops short of its granule's end leaves a hole: nothing may join it.
    if (s.length + s.iovaOff < s.iovaLen) curLen = 0;
  }
  return out;
}
