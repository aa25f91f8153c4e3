import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/addr.js';
import { openDump } from '../../src/dump/index.js';
import { RawDump } from '../../src/dump/raw.js';
import { ACCESS_FAULT } from '../../src/mem/phys-mem.js';

const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-raw-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('raw image', () => {
  it('maps byte 0 of the file to --base', () => {
    const b = new Uint8Array(0x2000);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, 0x10f1, true);
    dv.setUint32(0x1ffc, 0xba7, true);
    const p = join(dir, 'a.bin');
    writeFileSync(p, b);
    const d = openDump(p, { base: 0xf0_0000_0000 });
    expect(d.kind).toBe('raw');
    expect(d.read32(0xf0_0000_0000)).toBe(0x10f1);
    expect(d.read32(0xf0_0000_1ffc)).toBe(0xba7);
    expect(d.read32(0xf0_0000_2000)).toBe(ACCESS_FAULT);
    expect(d.read32(0xef_ffff_fffc)).toBe(ACCESS_FAULT);
    expect(d.segments()).toEqual([{ phys: 0xf0_0000_0000, size: 0x2000, storedSize: 0x2000, source: 'raw image' }]);
    expect(d.whyNotBacked(0xf0_0000_2000, 4)).toMatch(/outside the raw image .* 0xf000000000-0xf000001fff/);
    d.close();
  });

  it('streams a 6 GiB sparse image without reading it into memory', () => {
    const p = join(dir, 'big.bin');
    const fd = openSync(p, 'w');
    const at = 6 * 2 ** 30 - 8;
    writeSync(fd, new Uint8Array([0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0]), 0, 8, at);
    closeSync(fd);
    const before = process.memoryUsage().rss;
    const d = new RawDump(p, 0x1_0000_0000, 4);
    expect(d.read32(0x1_0000_0000 + at)).toBe(0x12345678);
    for (let i = 0; i < 64; i++) expect(d.read32(0x1_0000_0000 + i * 0x600_0000)).toBe(0);
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 2 ** 20);
    d.close();
  });

  it('refuses an empty image and a sniff without --base', () => {
    const p = join(dir, 'empty.bin');
    writeFileSync(p, new Uint8Array(0));
    expect(() => openDump(p, { base: 0 })).toThrow(InputError);
    const q = join(dir, 'zeros.bin');
    writeFileSync(q, new Uint8Array(64));
    expect(() => openDump(q)).toThrow(/give --base PHYS/);
  });
});
