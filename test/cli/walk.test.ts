/**
 * `iommu-lab walk` end to end: bad input as one line + exit 2, garbage tables as problems, devmem
 * transcripts with missing reads, and the human output. Expected descriptors are worked out by hand
 * from the kernel's encoders (rockchip-iommu.c:185-186 DTE v1, 259-263 + rk_mk_pte 271-278 PTE v1;
 * io-pgtable-arm.c table/page descriptor bits 1:0).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hexHiLo, suggestReads, table } from '../../src/cli/walk.js';
import { buildElfCore, loadsFromPhysMem } from '../../src/dump/elf-writer.js';
import { buildTranscript } from '../../src/dump/transcript-writer.js';
import { PhysMem } from '../../src/mem/phys-mem.js';
import { formatNames } from '../../src/formats/index.js';
import { cli } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-walk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function tmp(bytes: Uint8Array | string, name = `f${n++}`): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/** A 4 KiB page of little-endian 32-bit words: {index: value}. */
function page32(entries: Record<number, number>): Uint8Array {
  const b = new Uint8Array(4096);
  const dv = new DataView(b.buffer);
  for (const [i, v] of Object.entries(entries)) dv.setUint32(Number(i) * 4, v >>> 0, true);
  return b;
}

/** A 4 KiB page of 64-bit descriptors given as [lo, hi]. */
function page64(entries: Record<number, [number, number]>): Uint8Array {
  const b = new Uint8Array(4096);
  const dv = new DataView(b.buffer);
  for (const [i, [lo, hi]] of Object.entries(entries)) {
    dv.setUint32(Number(i) * 8, lo >>> 0, true);
    dv.setUint32(Number(i) * 8 + 4, hi >>> 0, true);
  }
  return b;
}

const has = (f: string) => formatNames().includes(f);

describe('bad input: one line on stderr, exit 2, no stack trace', () => {
  const good = buildElfCore({ loads: [{ phys: 0x1000, data: page32({ 0: 1 }) }] });
  const cases: [string, () => string, RegExp][] = [
    ['truncated ELF', () => tmp(good.slice(0, 30)), /truncated ELF header: file is 30 bytes/],
    [
      'wrong magic (forced ELF)',
      () => tmp(Uint8Array.from(good, (b, i) => (i === 1 ? 0x58 : b))),
      /give --base PHYS/,
    ],
    [
      'huge p_filesz',
      () => {
        const b = good.slice();
        new DataView(b.buffer).setUint32(64 + 36, 1, true); // p_filesz high word: 4 GiB + 4 KiB
        new DataView(b.buffer).setUint32(64 + 44, 1, true); // p_memsz likewise
        return tmp(b);
      },
      /p_filesz 0x100001000 = 0x100002000 is beyond the end of the file/,
    ],
    ['missing file', () => join(dir, 'nope.core'), /ENOENT|no such file/i],
  ];
  it.each(cases)('%s', async (_name, make, re) => {
    const r = await cli(['walk', make(), '--format', 'rockchip-v1', '--root', '0x1000']);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(re);
    expect(r.err.trim().split('\n').length).toBe(1);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('a forced ELF reader names the magic', async () => {
    const r = await cli(['walk', tmp(new Uint8Array(64).fill(0x41)), '--dump-type', 'elf', '--format', 'x', '--root', '0']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/e_ident magic is 41 41 41 41, expected 7f 45 4c 46/);
  });

  const core = tmp(good);
  it.each([
    [['--format', 'no-such-format', '--root', '0x1000'], /unknown format 'no-such-format'/],
    [['--format', 'rockchip-v1'], /give the top-level table: --root PHYS/],
    [['--format', 'rockchip-v1', '--root', '0x1000', '--root-reg', '0x1001'], /either --root .* or --root-reg/],
    [['--format', 'rockchip-v1', '--root', 'banana'], /--root 'banana' is not a number/],
    [['--format', 'rockchip-v1', '--root', '0x1000', '--explain'], /--explain needs --iova/],
    [['--format', 'rockchip-v1', '--root-reg', '0xffffffffffffffff'], /2\^53 or more; mask off/],
    [['--format', 'rockchip-v1', '--root', '0x1000', '--ias', '99'], /--ias 99 is outside 1..52/],
  ])('usage error %#', async (args, re) => {
    const r = await cli(['walk', core, ...args]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re as RegExp);
  });

  it('--format is required', async () => {
    const r = await cli(['walk', core, '--root', '0x1000']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--format/);
  });
});

describe.skipIf(!has('rockchip-v1'))('rockchip-v1 tables built by hand', () => {
  // DT at 0x2a0d0000: DTE 0 -> PT 0x2a0e0000 (rk_mk_dte: pt & 0xfffff000 | 1), DTE 1 -> itself,
  // DTE 2 -> 0x7000000 (not in the dump). PT: PTE 1 -> page 0x3b000000 R|W (0x3b000007), PTE 2 -> 0x3b001000 R.
  const dt = page32({ 0: 0x2a0e0001, 1: 0x2a0d0001, 2: 0x07000001 });
  const pt = page32({ 1: 0x3b000007, 2: 0x3b001003 });
  const core = tmp(buildElfCore({ elfClass: 32, machine: 40, loads: [{ phys: 0x2a0d0000, data: dt }, { phys: 0x2a0e0000, data: pt }] }));

  it('lists the runs and reports the self-pointing DTE and the DTE outside the dump as problems', async () => {
    const r = await cli(['walk', core, '--format', 'rockchip-v1', '--root-reg', '0x2a0d0001', '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.root).toBe('0x2a0d0000');
    expect(j.mappings).toEqual([
      { iova: '0x1000', phys: '0x3b000000', size: '0x1000', prot: 3, protNames: 'READ|WRITE' },
      { iova: '0x2000', phys: '0x3b001000', size: '0x1000', prot: 1, protNames: 'READ' },
    ]);
    const kinds = j.problems.map((p: { kind: string; addr: string }) => [p.kind, p.addr]);
    expect(kinds).toContainEqual(['cycle', '0x2a0d0004']);
    expect(kinds).toContainEqual(['outside-dump', '0x2a0d0008']);
  });

  it('human output: an aligned table and the problems', async () => {
    const r = await cli(['walk', core, '--format', 'rockchip-v1', '--root', '0x2a0d0000']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('IOVA    PHYS        SIZE    PROT\n0x1000  0x3b000000  0x1000  READ|WRITE\n0x2000  0x3b001000  0x1000  READ\n');
    expect(r.out).toMatch(/problems \(\d+\):/);
    expect(r.out).toMatch(/cycle\s+0x2a0d0004/);
  });

  it('--iova --explain walks it in the guide’s steps, with the flag bits masked', async () => {
    const r = await cli(['walk', core, '--format', 'rockchip-v1', '--root-reg', '0x2a0d0001', '--iova', '0x1abc', '--explain']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('base register 0x2a0d0001 decodes to 0x2a0d0000');
    expect(r.out).toContain('index = IOVA bits 31:22 = (0x1abc >> 22) & 0x3ff = 0');
    expect(r.out).toContain('entry address = 0x2a0d0000 + 0 * 4 = 0x2a0d0000');
    expect(r.out).toContain('read 0x2a0e0001 at 0x2a0d0000: a table descriptor: the next table is at 0x2a0e0000');
    expect(r.out).toContain('index = IOVA bits 21:12 = (0x1abc >> 12) & 0x3ff = 1');
    expect(r.out).toContain('entry address = 0x2a0e0000 + 1 * 4 = 0x2a0e0004');
    expect(r.out).toContain('output address 0x3b000000, READ|WRITE');
    expect(r.out).toContain('physical address = 0x3b000000 + 0xabc = 0x3b000abc (READ|WRITE)');
  });

  it('--iova --json: steps and an unmapped IOVA', async () => {
    const r = await cli(['walk', core, '--format', 'rockchip-v1', '--root', '0x2a0d0000', '--iova', '0x2010', '--iova', '0x3000', '--json']);
    const [a, b] = JSON.parse(r.out).translations;
    expect(a).toMatchObject({ iova: '0x2010', phys: '0x3b001010', prot: 1, fault: null });
    expect(a.steps).toEqual([
      { level: 1, tableAddr: '0x2a0d0000', index: 0, entryAddr: '0x2a0d0000', entry: '0x2a0e0001', kind: 'table' },
      { level: 2, tableAddr: '0x2a0e0000', index: 2, entryAddr: '0x2a0e0008', entry: '0x3b001003', kind: 'page' },
    ]);
    expect(b.phys).toBeNull();
    expect(b.fault).toBe('translation');
    expect(b.steps.at(-1)).toMatchObject({ entryAddr: '0x2a0e000c', entry: '0x0', kind: 'invalid' });
  });

  it('a root outside the dump is a problem, not an exception', async () => {
    const r = await cli(['walk', core, '--format', 'rockchip-v1', '--root', '0x9990000', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.mappings).toEqual([]);
    expect(j.problems[0]).toMatchObject({ kind: 'root', addr: '0x9990000' });
  });

  it('a raw image with --base walks the same', async () => {
    const img = new Uint8Array(0x20000);
    img.set(dt, 0);
    img.set(pt, 0x10000);
    const r = await cli(['walk', tmp(img), '--base', '0x2a0d0000', '--format', 'rockchip-v1', '--root', '0x2a0d0000', '--iova', '0x1004', '--json']);
    expect(JSON.parse(r.out).translations[0].phys).toBe('0x3b000004');
  });

  it('a devmem/io transcript: walks what it holds, names the missing read, suggests the next command', async () => {
    const transcript = [
      'root@rk3399:/# io -4 0xff8f3f00',
      'ff8f3f00:  2a0d0001',
      'root@rk3399:/# devmem 0x2a0d0000 32',
      '0x2A0E0001',
      'root@rk3399:/# io -4 -l 8 0x2a0e0004',
      '2a0e0004:  3b000007 3b001003',
      '',
    ].join('\n');
    const p = tmp(transcript, 'board.txt');
    const ok = await cli(['walk', p, '--format', 'rockchip-v1', '--root-reg', '0x2a0d0001', '--iova', '0x1000', '--iova', '0x2000', '--json']);
    expect(ok.code).toBe(0);
    const j = JSON.parse(ok.out);
    expect(j.dump.kind).toBe('devmem');
    expect(j.translations.map((t: { phys: string }) => t.phys)).toEqual(['0x3b000000', '0x3b001000']);
    expect(j.missing).toEqual([]);

    const miss = await cli(['walk', p, '--format', 'rockchip-v1', '--root-reg', '0x2a0d0001', '--iova', '0x400000', '--suggest']);
    expect(miss.code).toBe(0);
    expect(miss.out).toContain('missing: read 0x2a0d0004 (4 bytes)');
    expect(miss.out).toContain('devmem 0x2a0d0004 32        # or: io -4 0x2a0d0004');
  });
});

describe.skipIf(!has('rockchip-v1'))('the manual procedure as a loop: paste, get the next reads, repeat', () => {
  it('converges on the same mappings as the full dump', async () => {
    const dt = page32({ 0: 0x2a0e0001, 3: 0x2a0f0001 });
    const pt0 = page32({ 1: 0x3b000007, 2: 0x3b001003 });
    const pt3 = page32({ 1023: 0x3c000005 });
    const mem = new PhysMem([{ base: 0, size: 0x4000_0000 }]);
    mem.writeBytes(0x2a0d0000, dt);
    mem.writeBytes(0x2a0e0000, pt0);
    mem.writeBytes(0x2a0f0000, pt3);
    const core = tmp(buildElfCore({ loads: loadsFromPhysMem(mem) }));
    const args = ['--format', 'rockchip-v1', '--root-reg', '0x2a0d0001', '--json'];
    const full = JSON.parse((await cli(['walk', core, ...args])).out);
    expect(full.mappings.map((m: { iova: string }) => m.iova)).toEqual(['0x1000', '0x2000', '0xfff000']);

    // Start from what the guide's steps a-f give: DTE_ADDR, one DTE, one PTE.
    let transcript = 'io -4 0xff8f3f00\nff8f3f00:  2a0d0001\ndevmem 0x2a0d0000 32\n0x2A0E0001\nio -4 0x2a0e0004\n2a0e0004:  3b000007\n';
    let rounds = 0;
    for (; rounds < 6; rounds++) {
      const path = tmp(transcript, `loop${rounds}.txt`);
      const r = await cli(['walk', path, ...args.slice(0, -1), '--suggest']);
      expect(r.code).toBe(0);
      const wanted = [...r.out.matchAll(/^ {2}(?:devmem (0x[0-9a-f]+) 32|io -4 -l (0x[0-9a-f]+) (0x[0-9a-f]+))/gm)];
      if (wanted.length === 0) {
        expect(r.out).toContain('nothing more to read');
        break;
      }
      for (const w of wanted) {
        const [addr, len] = w[1] ? [Number(w[1]), 4] : [Number(w[3]), Number(w[2])];
        transcript += buildTranscript(mem, 'io', [[addr, len]]);
      }
    }
    expect(rounds).toBeGreaterThan(0);
    expect(rounds).toBeLessThan(6);
    const last = JSON.parse((await cli(['walk', tmp(transcript, 'final.txt'), ...args])).out);
    expect(last.mappings).toEqual(full.mappings);
    expect(last.missing).toEqual([]);
  });
});

describe.skipIf(!has('arm-64-lpae-s1'))('arm-64-lpae-s1: a table that points back into itself', () => {
  // 4K granule, ias 39: levels 1..3. Root 0x40000000: entry 0 is a table descriptor (bits 1:0 = 0b11)
  // naming the root itself; entry 1 is a table to 0x40001000 whose entry 0 names the root again.
  const root = page64({ 0: [0x40000003, 0], 1: [0x40001003, 0] });
  const l2 = page64({ 0: [0x40000003, 0] });
  const core = tmp(buildElfCore({ loads: [{ phys: 0x40000000, data: root }, { phys: 0x40001000, data: l2 }] }));
  it('is reported as a problem and the walk ends in a fault', async () => {
    const args = ['walk', core, '--format', 'arm-64-lpae-s1', '--granule', '4K', '--ias', '39', '--oas', '40', '--root', '0x40000000'];
    const r = await cli([...args, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.problems.length).toBeGreaterThan(0);
    expect(j.problems.some((p: { kind: string }) => p.kind === 'cycle' || p.kind === 'loop')).toBe(true);
    const t = await cli([...args, '--iova', '0x0', '--json']);
    expect(JSON.parse(t.out).translations[0].phys).toBeNull();
  });
});

describe.skipIf(!has('arm-64-lpae-s1'))('arm-64-lpae-s1: a table page the dump left out', () => {
  // Root 0x40000000 (ias 39: levels 1..3): entry 0 names a level-2 table at 0x40001000, which is RAM
  // on the board but not in this core (makedumpfile leaves zero pages out, for one).
  const root = page64({ 0: [0x40001003, 0] });
  const core = tmp(buildElfCore({ loads: [{ phys: 0x40000000, data: root }] }));
  const args = ['walk', core, '--format', 'arm-64-lpae-s1', '--granule', '4K', '--ias', '39', '--oas', '40', '--root', '0x40000000'];
  it('is a translation that stops outside the dump, with the dump saying why - not a bus fault', async () => {
    const j = JSON.parse((await cli([...args, '--iova', '0x1234', '--json'])).out);
    const t = j.translations[0];
    expect(t.phys).toBeNull();
    expect(t.fault).toBe('outside-dump');
    expect(t.detail).toMatch(/^level 2 descriptor 0 at 0x40001000 \(table 0x40001000\): not in the dump \(0x40001000 is outside every PT_LOAD of /);
    expect(t.steps.map((s: { level: number; kind: string }) => [s.level, s.kind])).toEqual([[1, 'table']]);
  });
  it('is one problem in the listing', async () => {
    const j = JSON.parse((await cli([...args, '--json'])).out);
    expect(j.mappings).toEqual([]);
    expect(j.problems).toEqual([expect.objectContaining({ kind: 'outside-dump', addr: '0x40000000' })]);
  });
});

describe('printing helpers', () => {
  it('hexHiLo keeps bits above 2^53 (e.g. an LPAE NS table bit 63)', () => {
    expect(hexHiLo(0x80000000, 0x40000003)).toBe('0x8000000040000003');
    expect(hexHiLo(0, 0xba7)).toBe('0xba7');
    expect(hexHiLo(0x1, 0x0)).toBe('0x100000000');
  });
  it('table aligns columns', () => {
    expect(table([['A', 'BB', 'C'], ['aaa', 'b', 'c']])).toBe('A    BB  C\naaa  b   c\n');
  });
  it('suggestReads: devmem for a word, io -4 -l or hexdump for a run', () => {
    expect(suggestReads([{ addr: 0x1004, len: 4 }])).toContain('devmem 0x1004 32        # or: io -4 0x1004');
    expect(suggestReads([{ addr: 0x1000, len: 0x1000 }])).toContain('io -4 -l 0x1000 0x1000        # or: hexdump -C -s 0x1000 -n 4096 /dev/mem');
    expect(suggestReads([])).toMatch(/nothing more to read/);
  });
});

describe('the bundled examples walk as examples/README.md says', () => {
  const ex = (f: string) => join(import.meta.dirname, '../../examples', f);
  it.skipIf(!has('rockchip-v2'))('rockchip-v2: DTE_ADDR 0xf1, the guide’s procedure for IOVA 0x1000', async () => {
    const r = await cli(['walk', ex('rockchip-v2-above-4g.core'), '--format', 'rockchip-v2', '--root-reg', '0xf1', '--iova', '0x1000', '--explain']);
    expect(r.code).toBe(0);
    // The kernel's answer for this probe (examples/rockchip-v2-above-4g.json, tag map-start).
    expect(r.out).toContain('physical address = 0xab00000000 + 0x0 = 0xab00000000 (READ|WRITE)');
  });
  it.skipIf(!has('rockchip-v1'))('rockchip-v1 transcript: the guide’s reads walk, and the next read is named', async () => {
    const args = ['walk', ex('rockchip-v1-transcript.txt'), '--format', 'rockchip-v1', '--root-reg', '0x2a0d0001'];
    const r = await cli([...args, '--iova', '0x1000', '--iova', '0x2008', '--json']);
    expect(r.code).toBe(0);
    // PTE 1 = 0x3b000007 (page 0x3b000000, R|W|valid); PTE 2 = 0x3b001003 (R|valid): rockchip-iommu.c:259-263.
    expect(JSON.parse(r.out).translations.map((t: { phys: string; prot: number }) => [t.phys, t.prot])).toEqual([
      ['0x3b000000', 3],
      ['0x3b001008', 1],
    ]);
    const s = await cli([...args, '--suggest']);
    expect(s.out).toContain('missing: read 0x2a0d0004 (4092 bytes)');
    expect(s.out).toContain('io -4 -l 0xffc 0x2a0d0004');
  });
  it.skipIf(!has('arm-64-lpae-s1'))('arm-64-lpae-s1: four levels, each indexing its own 9 IOVA bits', async () => {
    const r = await cli(['walk', ex('lpae-s1-4k-ias48-oas48.core'), '--format', 'arm-64-lpae-s1', '--granule', '4K', '--ias', '48', '--oas', '48', '--root-reg', '0x400000000000', '--iova', '0x40000000002a', '--explain']);
    expect(r.code).toBe(0);
    // 0x40000000002a = 2^46 + 0x2a: bits 47:39 = 2^7 = 128, every lower level index 0, offset 0x2a.
    expect(r.out).toContain('index = IOVA bits 47:39 = (0x40000000002a >> 39) & 0x1ff = 128');
    expect(r.out).toContain('index = IOVA bits 38:30 = (0x40000000002a >> 30) & 0x1ff = 0');
    expect(r.out).toContain('index = IOVA bits 29:21 = (0x40000000002a >> 21) & 0x1ff = 0');
    expect(r.out).toContain('index = IOVA bits 20:12 = (0x40000000002a >> 12) & 0x1ff = 0');
    // The kernel's answer (examples/lpae-s1-4k-ias48-oas48.json, tag map-start+42).
    expect(r.out).toMatch(/physical address = 0x900000000 \+ 0x2a = 0x90000002a/);
  });
});
