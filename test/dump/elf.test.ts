import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ElfDump } from '../../src/dump/elf.js';
import { buildElfCore, writeElfCore } from '../../src/dump/elf-writer.js';
import { openDump, vmcoreInfo } from '../../src/dump/index.js';
import { ACCESS_FAULT } from '../../src/mem/phys-mem.js';
import { expectInputError } from '../support/input-error.js';

const dir = mkdtempSync(join(tmpdir(), 'iommu-lab-elf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function tmp(bytes: Uint8Array): string {
  const p = join(dir, `f${n++}`);
  writeFileSync(p, bytes);
  return p;
}

function words(...ws: number[]): Uint8Array {
  const b = new Uint8Array(ws.length * 4);
  const dv = new DataView(b.buffer);
  ws.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  return b;
}

describe('ELF64 core', () => {
  const page = new Uint8Array(4096);
  new DataView(page.buffer).setUint32(0x10, 0xdeadbeef, true);
  const core = buildElfCore({
    loads: [
      { phys: 0x1_2345_6000, data: page },
      // p_filesz 8 < p_memsz 0x2000: the rest of the segment reads as zero
      { phys: 0x40000000, data: words(0x11111111, 0x22222222), memSize: 0x2000 },
    ],
    notes: [
      { name: 'VMCOREINFO', type: 0, desc: 'OSRELEASE=6.12.117\nPAGESIZE=4096\n' },
      { name: 'CORE', type: 1, desc: new Uint8Array(5) },
    ],
  });
  const path = tmp(core);

  it('reads words at their physical addresses, zero past p_filesz, ACCESS_FAULT outside', () => {
    const d = openDump(path);
    expect(d.kind).toBe('elf64');
    expect(d.read32(0x1_2345_6010)).toBe(0xdeadbeef);
    expect(d.read32(0x1_2345_6014)).toBe(0);
    expect(d.read32(0x40000000)).toBe(0x11111111);
    expect(d.read32(0x40000004)).toBe(0x22222222);
    expect(d.read32(0x40000008)).toBe(0);
    expect(d.read32(0x40001ffc)).toBe(0);
    expect(d.read32(0x40002000)).toBe(ACCESS_FAULT);
    expect(d.read32(0x1_2345_5ffc)).toBe(ACCESS_FAULT);
    expect(d.isBacked(0x40001ffc, 4)).toBe(true);
    expect(d.isBacked(0x40001ffe, 4)).toBe(false);
    expect(d.whyNotBacked(0x40002000, 4)).toMatch(/0x40002000 is outside every PT_LOAD .* 0x40000000-0x40001fff/);
    expect(d.missingReads()).toEqual([
      { addr: 0x40002000, len: 4 },
      { addr: 0x1_2345_5ffc, len: 4 },
    ]);
    expect(d.segments().map((s) => [s.phys, s.size, s.storedSize])).toEqual([
      [0x40000000, 0x2000, 8],
      [0x1_2345_6000, 0x1000, 0x1000],
    ]);
    d.close();
  });

  it('parses notes and VMCOREINFO', () => {
    const d = openDump(path);
    expect(d.notes().map((x) => [x.name, x.type, x.desc.length])).toEqual([
      ['VMCOREINFO', 0, 33],
      ['CORE', 1, 5],
    ]);
    expect(vmcoreInfo(d)?.get('OSRELEASE')).toBe('6.12.117');
    d.close();
  });

  it('reads an unaligned word across two pages', () => {
    const data = new Uint8Array(0x2000);
    data.set([1, 2, 3, 4], 0xffe);
    const d = openDump(tmp(buildElfCore({ loads: [{ phys: 0x8000_0000, data }] })));
    expect(d.read32(0x8000_0ffe)).toBe(0x04030201);
    d.close();
  });
});

describe('ELF32 core', () => {
  it('reads p_paddr of 32-bit program headers', () => {
    const path = tmp(
      buildElfCore({
        elfClass: 32,
        machine: 40,
        loads: [
          { phys: 0x6000_0000, data: words(0xcafeb000, 0x1) },
          { phys: 0xffff_f000, data: words(7), memSize: 0x1000 },
        ],
        notes: [{ name: 'VMCOREINFO', type: 0, desc: 'PAGESIZE=4096\n' }],
      }),
    );
    const d = openDump(path) as ElfDump;
    expect(d.kind).toBe('elf32');
    expect(d.header.machine).toBe(40);
    expect(d.read32(0x6000_0000)).toBe(0xcafeb000);
    expect(d.read32(0x6000_0004)).toBe(1);
    expect(d.read32(0xffff_f000)).toBe(7);
    expect(d.read32(0xffff_fffc)).toBe(0);
    expect(d.read32(0x6000_0008)).toBe(ACCESS_FAULT);
    expect(vmcoreInfo(d)?.get('PAGESIZE')).toBe('4096');
    d.close();
  });
});

describe('the kernel-built oracle cores', () => {
  const fx = join(import.meta.dirname, '../fixtures/dumps');
  const cases = readdirSync(fx).filter((f) => f.endsWith('.json'));
  it.each(cases)('%s: every descriptor the kernel read is at its pte_addr', (jf) => {
    const c = JSON.parse(readFileSync(join(fx, jf), 'utf8'));
    const d = openDump(join(fx, c.core));
    expect(d.kind).toBe('elf64');
    expect(d.segments().length).toBe(c.core_segments);
    const info = new TextDecoder().decode(d.notes().find((x) => x.name === 'IOMMULAB')!.desc);
    expect(info).toContain(`format=${c.format}`);
    const wide = !c.format.startsWith('rockchip');
    let checked = 0;
    for (const p of c.probes) {
      if (!p.final || p.left_dump) continue;
      for (const s of p.walk) {
        const a = Number(BigInt(s.pte_addr));
        const v = BigInt(s.pte);
        expect(d.read32(a)).toBe(Number(v & 0xffffffffn));
        if (wide) expect(d.read32(a + 4)).toBe(Number(v >> 32n));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
    d.close();
  });
});

describe('streaming with a small page cache', () => {
  it('agrees with the bytes written, whatever the access order (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 63 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 60 }),
        (pageSlots, reads) => {
          const loads = pageSlots.map((slot, i) => {
            const data = new Uint8Array(0x3000);
            for (let k = 0; k < data.length; k++) data[k] = (k * 7 + i * 13 + slot) & 0xff;
            return { phys: 0x2_0000_0000 + slot * 0x10000, data, memSize: 0x3000 + (i % 2) * 0x1000 };
          });
          const d = new ElfDump(tmp(buildElfCore({ loads })), 2);
          for (const [which, off] of reads) {
            const l = loads[which % loads.length];
            const o = (off % (l.memSize / 4)) * 4;
            const want = o < l.data.length ? new DataView(l.data.buffer).getUint32(o, true) : 0;
            if (d.read32(l.phys + o) !== want) return false;
          }
          d.close();
          return true;
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('bad ELF input is one clear InputError naming the file and field', () => {
  const good = buildElfCore({ loads: [{ phys: 0x1000, data: words(1, 2, 3, 4) }] });
  const patched = (f: (dv: DataView, b: Uint8Array) => void, len = good.length): string => {
    const b = good.slice(0, len);
    f(new DataView(b.buffer), b);
    return tmp(b);
  };

  it('empty file', () => expectInputError(() => openDump(tmp(new Uint8Array(0))), /f\d+: file is empty/));
  it('truncated header', () => expectInputError(() => openDump(patched(() => {}, 40)), /truncated ELF header: file is 40 bytes.*64/));
  it('wrong magic with --type elf', () =>
    expectInputError(() => openDump(tmp(new Uint8Array(100).fill(0x41)), { type: 'elf' }), /e_ident magic is 41 41 41 41/));
  it('unknown bytes without --base', () =>
    expectInputError(() => openDump(tmp(new Uint8Array(100).fill(0x99))), /give --base PHYS/));
  it('big-endian', () => expectInputError(() => openDump(patched((_, b) => (b[5] = 2))), /EI_DATA.*little-endian/));
  it('not a core', () => expectInputError(() => openDump(patched((dv) => dv.setUint16(16, 2, true))), /e_type is 2, expected ET_CORE/));
  it('absurd phnum', () =>
    expectInputError(() => openDump(patched((dv) => dv.setUint16(0x38, 0xfff0, true))), /e_phnum 65520 .*beyond the end of the file/));
  it('program headers cut off', () =>
    expectInputError(() => openDump(patched(() => {}, 100)), /program header table .* beyond the end of the file/));
  it('huge p_filesz', () =>
    expectInputError(
      () => openDump(patched((dv) => (dv.setUint32(64 + 32, 0x10000000, true), dv.setUint32(64 + 40, 0x10000000, true)))),
      /program header 0 \(PT_LOAD\): p_offset 0x1000 \+ p_filesz 0x10000000 = 0x10001000 is beyond the end/,
    ));
  it('p_filesz > p_memsz', () =>
    expectInputError(() => openDump(patched((dv) => dv.setUint32(64 + 40, 4, true))), /p_filesz 0x10 is larger than p_memsz 0x4/));
  it('p_paddr at 2^52 or more', () =>
    expectInputError(() => openDump(patched((dv) => dv.setUint32(64 + 28, 0x00100000, true))), /p_paddr 0x10000000001000 is 2\^52 or more/));
  it('partly overlapping PT_LOADs', () =>
    expectInputError(
      () => openDump(tmp(buildElfCore({ loads: [{ phys: 0x1000, data: new Uint8Array(0x2000) }, { phys: 0x2000, data: new Uint8Array(0x2000) }] }))),
      /PT_LOAD 1 .* partly overlaps PT_LOAD 0/,
    ));
  it('a contained PT_LOAD with other bytes', () =>
    expectInputError(
      () => openDump(tmp(buildElfCore({ loads: [{ phys: 0x1000, data: new Uint8Array(0x3000) }, { phys: 0x2000, data: words(5) }] }))),
      /PT_LOAD 1 \(p_paddr 0x2000\) overlaps PT_LOAD 0 with different contents/,
    ));
  it('a core without physical addresses (every p_paddr 0)', () =>
    expectInputError(
      () => openDump(tmp(buildElfCore({ loads: [{ phys: 0, data: words(1), vaddr: 0x400000 }, { phys: 0, data: words(2), vaddr: 0x600000 }] }))),
      /p_paddr is 0 in all 2 PT_LOADs: this core gives virtual addresses only/,
    ));
  it('accepts a contained duplicate (the vmcore kernel-text PT_LOAD, crash_core.c:224-231)', () => {
    const ram = new Uint8Array(0x4000);
    ram.set(words(0xabcdef01, 0x2), 0x1000);
    const d = openDump(tmp(buildElfCore({ loads: [{ phys: 0x2000, data: ram.slice(0x1000, 0x2000), vaddr: 0xffff8000 }, { phys: 0x1000, data: ram }] }))) as ElfDump;
    expect(d.segments().length).toBe(1);
    expect(d.duplicates.map((s) => s.source)).toEqual(['PT_LOAD 0']);
    expect(d.read32(0x2000)).toBe(0xabcdef01);
    d.close();
  });
  it('a note running past its segment', () => {
    const b = buildElfCore({ loads: [], notes: [{ name: 'VMCOREINFO', type: 0, desc: 'A=1\n' }] });
    new DataView(b.buffer).setUint32(64 + 56 + 4, 0x1000, true); // descsz of the first note
    expectInputError(() => openDump(tmp(b)), /PT_NOTE\): note 0 \(namesz 11, descsz 4096\) runs past the end/);
  });
  it('PN_XNUM: the program header count from section header 0 (sh_info)', () => {
    const b = buildElfCore({ loads: [{ phys: 0x1000, data: words(0x5a5a5a5a) }] });
    const withSh = new Uint8Array(b.length + 64);
    withSh.set(b);
    const dv = new DataView(withSh.buffer);
    dv.setUint16(0x38, 0xffff, true); // e_phnum = PN_XNUM
    dv.setUint32(0x28, b.length, true); // e_shoff
    dv.setUint32(b.length + 0x2c, 1, true); // sh_info of section 0 = 1 program header
    expect(openDump(tmp(withSh)).read32(0x1000)).toBe(0x5a5a5a5a);
    dv.setUint32(0x28, 0, true);
    expectInputError(() => openDump(tmp(withSh)), /PN_XNUM .* section header 0 .* missing or truncated/);
  });
  it('writeElfCore writes what buildElfCore builds', () => {
    const p = join(dir, 'w.core');
    writeElfCore(p, { loads: [{ phys: 0x1000, data: words(9) }] });
    expect(openDump(p).read32(0x1000)).toBe(9);
  });
});
