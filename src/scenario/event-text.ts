/** Trace events as text: "layer:type key=value ..." with addresses in hex (for --trace and --explain). */
import type { TraceEvent } from '../trace/events.js';

/** Fields whose integer values read best in hex (addresses, sizes, register values). */
const HEX_KEY = /addr|iova|phys|dma|pa$|base|pfn|mask|va$|pte|dte|entry|value|val$|reg|status|offset|size|limit|end$|start|slot/i;

export function fieldText(k: string, v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 10 && HEX_KEY.test(k) ? '0x' + v.toString(16) : String(v);
  if (typeof v === 'string') return /^[\w.:/+-]+$/.test(v) ? v : JSON.stringify(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return JSON.stringify(v, jsonReplacer);
}

/** "layer:type key=value ..." without the timestamp. */
export function eventText(e: TraceEvent): string {
  const fields = Object.entries(e.data)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${fieldText(k, v)}`)
    .join(' ');
  return `${e.layer}:${e.type}${fields ? ' ' + fields : ''}`;
}

/** JSON.stringify replacer: byte arrays as hex strings, nothing JSON cannot hold. */
export function jsonReplacer(_k: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (typeof v === 'bigint') return '0x' + v.toString(16);
  if (v instanceof Map) return Object.fromEntries(v);
  return v;
}
