/**
 * LZO1X decompression, for makedumpfile's `-l` pages (RHEL's and Fedora's default kdump compression).
 * No well-kept pure-JS LZO reader exists on npm, so this is written from the bitstream description in
 * the kernel's Documentation/staging/lzo.rst (the instruction table is summarised below), with every
 * read and write bounds-checked: a corrupt page is an LzoError, never an out-of-range access or a hang.
 *
 * The stream is a sequence of instructions; after each dictionary copy, 0..3 literals follow (their
 * count S is in the instruction), and that count ("state") changes how the next 0..15 opcode reads:
 *   first byte 17 (and >= 5 bytes)   bitstream version in the next byte (1 = zero-run extension)
 *   first byte 18..255               copy (byte - 17) literals
 *   0000LLLL, state 0                copy 3 + len(L, 4 bits) literals; state = 4
 *   0000DDSS + H, state 1..3         copy 2 bytes from distance (H << 2) + D + 1
 *   0000DDSS + H, state 4            copy 3 bytes from distance (H << 2) + D + 2049
 *   0001HLLL + LE16(D:14, S:2)       copy 2 + len(L, 3 bits) from 16384 + (H << 14) + D; distance 16384
 *                                    ends the stream; version 1: H = 1 and D all ones is a zero run of
 *                                    ((X << 3) | L) + 4 bytes with a further byte X
 *   001LLLLL + LE16(D:14, S:2)       copy 2 + len(L, 5 bits) from distance D + 1
 *   01LDDDSS + H                     copy 3 + L from distance (H << 3) + D + 1
 *   1LLDDDSS + H                     copy 5 + L from distance (H << 3) + D + 1
 * where len(L, n) is L, or when L is 0: (2^n - 1) + 255 per zero byte that follows + the first non-zero byte.
 */

export class LzoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LzoError';
  }
}

/** Decompress one LZO1X stream that must expand to exactly `outLen` bytes. */
export function lzo1xDecompress(src: Uint8Array, outLen: number): Uint8Array {
  const out = new Uint8Array(outLen);
  const end = src.length;
  let ip = 0;
  let op = 0;

  const need = (n: number): void => {
    if (ip + n > end) throw new LzoError(`input overrun at byte ${ip} (need ${n} more of ${end})`);
  };
  const room = (n: number): void => {
    if (op + n > outLen) throw new LzoError(`output overrun: ${op} + ${n} bytes exceeds ${outLen}`);
  };
  const literals = (n: number): void => {
    if (n === 0) return;
    need(n);
    room(n);
    out.set(src.subarray(ip, ip + n), op);
    ip += n;
    op += n;
  };
  const match = (dist: number, len: number): void => {
    if (dist > op) throw new LzoError(`look-behind overrun: distance ${dist} at output byte ${op}`);
    room(len);
    // Byte by byte: a copy may overlap its own output (distance < length repeats a pattern).
    for (let i = 0; i < len; i++, op++) out[op] = out[op - dist];
  };
  /** The variable-length count of an opcode field of `bits` bits that read as zero. */
  const extended = (bits: number): number => {
    let zeros = 0;
    need(1);
    while (src[ip] === 0) {
      zeros++;
      ip++;
      need(1);
    }
    return (1 << bits) - 1 + zeros * 255 + src[ip++];
  };
  const le16 = (): number => {
    need(2);
    const v = src[ip] | (src[ip + 1] << 8);
    ip += 2;
    return v;
  };

  if (end < 3) throw new LzoError(`stream of ${end} bytes is too short`);
  let version = 0;
  if (end >= 5 && src[0] === 17) {
    version = src[1];
    ip = 2;
  }
  let state = 0;
  if (src[ip] > 17) {
    const t = src[ip++] - 17;
    literals(t);
    state = t < 4 ? t : 4;
  }

  for (;;) {
    need(1);
    const b = src[ip++];
    let s: number;
    if (b < 16) {
      if (state === 0) {
        literals(3 + ((b & 15) || extended(4)));
        state = 4;
        continue;
      }
      need(1);
      const h = src[ip++];
      s = b & 3;
      const d = (b >> 2) & 3;
      if (state < 4) match((h << 2) + d + 1, 2);
      else match((h << 2) + d + 2049, 3);
    } else if (b < 32) {
      const hbit = (b >> 3) & 1;
      const l = b & 7;
      need(2);
      const peek = src[ip] | (src[ip + 1] << 8);
      if (version !== 0 && hbit === 1 && (peek & 0xfffc) === 0xfffc) {
        need(3);
        const run = ((src[ip + 2] << 3) | l) + 4;
        room(run);
        out.fill(0, op, op + run);
        op += run;
        s = peek & 3;
        ip += 3;
      } else {
        const len = 2 + (l || extended(3));
        const v = le16();
        const dist = 16384 + (hbit << 14) + (v >> 2);
        if (dist === 16384) {
          if (len !== 3) throw new LzoError(`end-of-stream marker with length ${len}`);
          if (ip !== end) throw new LzoError(`${end - ip} bytes after the end-of-stream marker`);
          if (op !== outLen) throw new LzoError(`stream ends after ${op} bytes, expected ${outLen}`);
          return out;
        }
        s = v & 3;
        match(dist, len);
      }
    } else if (b < 64) {
      const len = 2 + ((b & 31) || extended(5));
      const v = le16();
      s = v & 3;
      match((v >> 2) + 1, len);
    } else {
      need(1);
      const h = src[ip++];
      s = b & 3;
      const d = (b >> 2) & 7;
      const len = b < 128 ? 3 + ((b >> 5) & 1) : 5 + ((b >> 5) & 3);
      match((h << 3) + d + 1, len);
    }
    literals(s);
    state = s;
  }
}
