/**
 * Renders physical memory as the console output of the board tools `DevmemDump` reads — for round-trip
 * tests, and to show what a transcript of a table looks like. Each form as the tool prints it:
 * busybox devmem (`0x%08X` on the line after the command), Rockchip `io -4 -l` (address, colon, two
 * spaces, four words), and `hexdump -C` (with `*` for repeated lines, as hexdump squeezes them).
 */
import type { PhysMem } from '../mem/phys-mem.js';
import { FRAME_SIZE } from '../mem/phys-mem.js';

export type TranscriptStyle = 'devmem' | 'io' | 'hexdump';

/** Ranges [addr, addr+len) worth dumping: every materialised frame of mem, merged. */
export function usedRanges(mem: PhysMem): [number, number][] {
  const out: [number, number][] = [];
  for (const fn of mem.frameNumbers()) {
    const a = fn * FRAME_SIZE;
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === a) last[1] += FRAME_SIZE;
    else out.push([a, FRAME_SIZE]);
  }
  return out;
}

export function buildTranscript(mem: PhysMem, style: TranscriptStyle, ranges = usedRanges(mem), prompt = 'root@board:/# '): string {
  const lines: string[] = [];
  for (const [base, len] of ranges) {
    const bytes = mem.readBytes(base, len);
    if (!bytes) throw new Error(`range ${base.toString(16)} not readable`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (style === 'devmem') {
      for (let o = 0; o < len; o += 4) {
        lines.push(`${prompt}devmem 0x${(base + o).toString(16)} 32`);
        lines.push('0x' + dv.getUint32(o, true).toString(16).toUpperCase().padStart(8, '0'));
      }
    } else if (style === 'io') {
      lines.push(`${prompt}io -4 -l 0x${len.toString(16)} 0x${base.toString(16)}`);
      for (let o = 0; o < len; o += 16) {
        const words: string[] = [];
        for (let k = 0; k < 16 && o + k < len; k += 4) words.push(dv.getUint32(o + k, true).toString(16).padStart(8, '0'));
        lines.push(`${(base + o).toString(16).padStart(8, '0')}:  ${words.join(' ')}`);
      }
    } else {
      lines.push(`${prompt}hexdump -C -s 0x${base.toString(16)} -n ${len} /dev/mem`);
      let prev = '';
      let squeezed = false;
      for (let o = 0; o < len; o += 16) {
        const row = Array.from(bytes.subarray(o, o + 16), (b) => b.toString(16).padStart(2, '0'));
        const key = row.join(' ');
        if (key === prev && o + 16 < len) {
          if (!squeezed) lines.push('*');
          squeezed = true;
          continue;
        }
        squeezed = false;
        prev = key;
        const ascii = Array.from(bytes.subarray(o, o + 16), (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
        lines.push(`${(base + o).toString(16).padStart(8, '0')}  ${row.slice(0, 8).join(' ')}  ${row.slice(8).join(' ')}  |${ascii}|`);
      }
    }
  }
  return lines.join('\n') + '\n';
}
