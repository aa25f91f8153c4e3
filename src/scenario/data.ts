/**
 * Data phrases of the scenario format ("fill 0xa5", "word 0xdeadbeef", "hex de ad", "inc", "random 7",
 * "zero") turned into bytes, and byte comparisons described the way a person debugging DMA wants them:
 * where the first difference is, what was expected there, what was found, how many bytes differ.
 */
import { InputError, hex } from '../addr.js';

/** mulberry32: a small, well-known 32-bit PRNG; "random N" is defined as its output bytes from seed N. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** The bytes a data phrase stands for, `size` long. */
export function dataBytes(spec: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const words = spec.trim().split(/\s+/);
  const kind = words[0];
  const num = (s: string | undefined) => {
    const v = s === undefined ? NaN : s.startsWith('0x') ? parseInt(s.slice(2), 16) : parseInt(s, 10);
    if (!Number.isFinite(v)) throw new InputError(`data '${spec}': '${s ?? ''}' is not a number`);
    return v;
  };
  switch (kind) {
    case 'zero':
      break;
    case 'inc':
      for (let i = 0; i < size; i++) out[i] = i & 0xff;
      break;
    case 'fill': {
      const b = num(words[1]);
      if (b > 0xff) throw new InputError(`data '${spec}': a fill byte is at most 0xff`);
      out.fill(b);
      break;
    }
    case 'word': {
      const w = num(words[1]);
      if (w > 0xffffffff) throw new InputError(`data '${spec}': a word is at most 0xffffffff`);
      for (let i = 0; i < size; i++) out[i] = (w >>> (8 * (i & 3))) & 0xff;
      break;
    }
    case 'hex': {
      const digits = words.slice(1).join('');
      if (digits.length % 2) throw new InputError(`data '${spec}': an odd number of hex digits`);
      const pat = new Uint8Array(digits.length / 2);
      for (let i = 0; i < pat.length; i++) pat[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
      for (let i = 0; i < size; i++) out[i] = pat[i % pat.length];
      break;
    }
    case 'random': {
      const next = mulberry32(words[1] === undefined ? 0 : num(words[1]));
      for (let i = 0; i < size; i += 4) {
        const w = next();
        for (let j = 0; j < 4 && i + j < size; j++) out[i + j] = (w >>> (8 * j)) & 0xff;
      }
      break;
    }
    default:
      throw new InputError(`data '${spec}': unknown data phrase (zero, inc, fill B, word W, hex ..., random N)`);
  }
  return out;
}

export interface ByteDiff {
  /** Offset of the first differing byte. */
  offset: number;
  expected: number;
  actual: number;
  /** Number of differing bytes. */
  count: number;
}

export function compareBytes(expected: Uint8Array, actual: Uint8Array): ByteDiff | undefined {
  let first = -1;
  let count = 0;
  const n = Math.max(expected.length, actual.length);
  for (let i = 0; i < n; i++) {
    if (expected[i] !== actual[i]) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (first < 0) return undefined;
  return { offset: first, expected: expected[first] ?? -1, actual: actual[first] ?? -1, count };
}

/** "fill 0xa5 (4K)" for the expected side of a check. */
export function describeData(spec: string, size: number): string {
  return `${spec.trim().replace(/\s+/g, ' ')} (${size} bytes)`;
}

/** A summary of actual bytes relative to what was expected: "identical" or where they differ. */
export function describeDiff(d: ByteDiff | undefined, base?: number): string {
  if (!d) return 'identical';
  const at = base === undefined ? `+${hex(d.offset)}` : hex(base + d.offset);
  const b = (v: number) => (v < 0 ? 'nothing' : '0x' + v.toString(16).padStart(2, '0'));
  return `${d.count} byte${d.count === 1 ? '' : 's'} differ; first at ${at}: expected ${b(d.expected)}, found ${b(d.actual)}`;
}
