import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/addr.js';
import { DevmemDump } from '../../src/dump/devmem.js';
import { openDump } from '../../src/dump/index.js';
import { buildTranscript } from '../../src/dump/transcript-writer.js';
import { ACCESS_FAULT, PhysMem } from '../../src/mem/phys-mem.js';

const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-devmem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const tmp = (s: string) => {
  const p = join(dir, `t${n++}.txt`);
  writeFileSync(p, s);
  return p;
};

describe('devmem / io / hexdump transcripts', () => {
  it('busybox devmem: answer on the next line (uppercase hex), on the same line, 8/16/64-bit widths', () => {
    const d = openDump(
      tmp(
        [
          'root@rk3568:~# devmem 0xfde4b000 32',
          '0x000010F1',
          '# devmem 0xfde4b010',
          '0xCAFEBABE',
          '# devmem 0x1000 64',
          '0x00000012345678AB',
          '# devmem 0x2001 8',
          '0x7F',
          '# devmem 0x2002 16',
          '0xBEEF',
          '# devmem 0x3000 32 = 0x00000bA7',
          '',
        ].join('\r\n'),
      ),
    );
    expect(d.kind).toBe('devmem');
    expect(d.read32(0xfde4b000)).toBe(0x10f1);
    expect(d.read32(0xfde4b010)).toBe(0xcafebabe);
    expect(d.read32(0x1000)).toBe(0x345678ab);
    expect(d.read32(0x1004)).toBe(0x12);
    expect(d.readBytes(0x2001, 3)).toEqual(Uint8Array.from([0x7f, 0xef, 0xbe]));
    expect(d.read32(0x3000)).toBe(0xba7);
    expect(d.read32(0x2000)).toBe(ACCESS_FAULT);
    expect(d.whyNotBacked(0x2000, 4)).toMatch(/^missing: read 0x2000 \(4 bytes\)/);
    expect(d.missingReads()).toEqual([{ addr: 0x2000, len: 4 }]);
  });

  it('Rockchip io: one or several words per line, odd spacing, 1- and 2-byte forms', () => {
    const d = openDump(
      tmp(
        [
          '[root@rk3399 ~]# io -4 0xff8f3f00',
          'ff8f3f00:  2a0d0001',
          'io -4 -l 16 0x2a0d0000',
          '2a0d0000:\t2a0e0001  00000000 00000000   00000003   ',
          'io -1 -l 4 0x500',
          '00000500:  de ad be ef',
          'io -2 -l 4 0x600',
          '00000600:  1234 5678',
        ].join('\n'),
      ),
    );
    expect(d.read32(0xff8f3f00)).toBe(0x2a0d0001);
    expect(d.read32(0x2a0d0000)).toBe(0x2a0e0001);
    expect(d.read32(0x2a0d000c)).toBe(3);
    expect(d.read32(0x500)).toBe(0xefbeadde);
    expect(d.read32(0x600)).toBe(0x56781234);
    expect((d as DevmemDump).forms).toEqual({ devmem: 0, io: 4, hexdump: 0 });
  });

  it('hexdump -C with a squeezed (*) run of repeated lines', () => {
    const d = openDump(
      tmp(
        [
          '# hexdump -C -s 0xf000001000 -n 64 /dev/mem',
          'f000001000  a7 0b 00 00 a3 1b 00 00  00 00 00 00 00 00 00 00  |................|',
          'f000001010  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|',
          '*',
          'f000001030  01 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|',
          'f000001040',
        ].join('\n'),
      ),
    );
    expect(d.read32(0xf000001000)).toBe(0xba7);
    expect(d.read32(0xf000001004)).toBe(0x1ba3);
    expect(d.read32(0xf000001020)).toBe(0);
    expect(d.read32(0xf00000102c)).toBe(0);
    expect(d.read32(0xf000001030)).toBe(1);
    expect(d.isBacked(0xf000001000, 64)).toBe(true);
    expect(d.isBacked(0xf000001040, 4)).toBe(false);
  });

  it('a later read of the same address wins and is recorded as a conflict', () => {
    const d = openDump(tmp('devmem 0x100 32\n0x00000001\ndevmem 0x100 32\n0x00000002\n')) as DevmemDump;
    expect(d.read32(0x100)).toBe(2);
    expect(d.conflicts).toEqual([{ addr: 0x100, line: 4, old: 1, value: 2 }]);
  });

  it('malformed transcripts: one clear error each', () => {
    expect(() => openDump(tmp('hello\nno reads here\n'))).toThrow(/no reads found: expected lines like "devmem 0xfde4b000 32"/);
    expect(() => openDump(tmp('2a0d0000:  2a0e0001 0001\n'))).toThrow(/line 1: .* mixes value widths \(8\/4 digits\)/);
    expect(() => openDump(tmp('devmem 0x100 8\n0x1FF\n'))).toThrow(/line 2: value 0x1FF does not fit in 8 bits/);
    expect(() => openDump(tmp('devmem 0x100 8\n0x1FF\n'))).toThrow(InputError);
  });

  it.each(['devmem', 'io', 'hexdump'] as const)('round trip through the %s form of a PhysMem', (style) => {
    const mem = new PhysMem([{ base: 0x1_0000_0000, size: 0x10000 }]);
    mem.write32(0x1_0000_0000, 0x2a0e0001);
    mem.write32(0x1_0000_0ffc, 0xdeadbeef);
    mem.write32(0x1_0000_3010, 0x12345678);
    const d = openDump(tmp(buildTranscript(mem, style)));
    for (const fn of mem.frameNumbers())
      for (let a = fn * 4096; a < fn * 4096 + 4096; a += 4) expect(d.read32(a)).toBe(mem.read32(a));
    expect(d.read32(0x1_0000_1000)).toBe(ACCESS_FAULT);
  });
});
