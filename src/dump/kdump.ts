/** makedumpfile kdump-compressed files (placeholder until the reader lands). */
import { InputError } from '../addr.js';
import type { Dump } from './types.js';

const SIGS = ['KDUMP   ', 'DISKDUMP'];

export function isKdump(head: Uint8Array): boolean {
  if (head.length < 8) return false;
  const s = String.fromCharCode(...head.subarray(0, 8));
  return SIGS.includes(s);
}

export class KdumpDump {
  constructor(path: string, _cachePages?: number) {
    throw new InputError('kdump-compressed files are not supported yet; convert with makedumpfile -E', path);
  }
}
export type _Unused = Dump;
