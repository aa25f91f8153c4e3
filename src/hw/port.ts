/**
 * What a bus master sees of the IOMMU in front of it: a translation port. A master presents (stream or
 * port id, IOVA, read/write) and gets back either the physical address and the bus to use for the data
 * beat, or the reason the transaction did not go through — in hardware terms:
 *
 * - 'ok'        translated (or passed through untranslated when translation is off/bypassed)
 * - 'fault'     the IOMMU raised a translation/permission fault (its status registers say which)
 * - 'bus-error' the walker (or the access itself) hit an address its bus cannot reach or a hole
 * - 'stall'     the IOMMU is stalled or holds an earlier faulting transaction; nothing moves
 * - 'blocked'   translation is disabled for this stream without bypass (DART TCR = 0): the
 *               transaction is dropped without any fault report
 */
import type { DeviceView } from '../mem/device-view.js';

export type AccessKind = 'read' | 'write';
export type TranslationStatus = 'ok' | 'fault' | 'bus-error' | 'stall' | 'blocked';

export interface Translation {
  status: TranslationStatus;
  /** Physical address of the byte at iova (meaningful when status is 'ok'). */
  phys: number;
  /** Bytes from iova to the end of the translated page (how far the master may go without asking again). */
  span: number;
  /** The bus the data beat travels on after the IOMMU (its output address width). */
  bus: DeviceView | undefined;
  /** Where the answer came from: 'tlb', 'walk', 'bypass'. */
  via?: 'tlb' | 'walk' | 'bypass';
  detail?: string;
}

export interface TranslationPort {
  readonly name: string;
  /** Translate one access. `stream` is the master's id on this IOMMU (Rockchip: the instance index). */
  translate(stream: number, iova: number, access: AccessKind): Translation;
}
