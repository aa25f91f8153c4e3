/**
 * `iommu-lab walk` on page tables a real kernel built, against the answers of a hardware model that
 * is not ours: Debian's unmodified arm64 Linux 6.12.117 (4K and 16K pages; 6 GiB and 1 GiB of RAM)
 * under QEMU 7.2 `-M virt,iommu=smmuv3`, with virtio-blk and virtio-net doing DMA through the SMMU,
 * memory dumped with `dump-guest-memory` (test/fixtures/qemu-smmuv3, made by bench/qemu-smmuv3.ts;
 * the core is cut down to the pages the stream table, CDs and tables use). One of them also as QEMU
 * writes a kdump-compressed file (`dump-guest-memory -z`: the flattened format, zlib pages).
 *
 * From nothing but the SMMU's STRTAB_BASE / STRTAB_BASE_CFG register values (QEMU's trace of the
 * driver's MMIO writes) and a StreamID, the walk must find the STE, CD and TTB0 QEMU's SMMUv3 found,
 * visit QEMU's tables, indexes and entries level by level for every IOVA QEMU walked, translate every
 * address QEMU translated to QEMU's answer with its permissions, fault where the kernel has since
 * unmapped the IOVA (the leaf now zero), and list mapping runs that hold every live translation.
 */
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'qemu-smmuv3');
const tmp = mkdtempSync(join(tmpdir(), 'iommu-lab-qemu-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface QemuStep {
  level: number;
  base: string;
  index: number;
  pte: string;
}
interface QemuWalk {
  sid: number;
  iova: string;
  steps: QemuStep[];
  leaf: 'page' | 'block' | 'invalid';
  address: string | null;
  now: 'current' | 'unmapped';
}
interface QemuFixture {
  schema: string;
  name: string;
  registers: { STRTAB_BASE: string; STRTAB_BASE_CFG: string };
  streams: { sid: number; ste: string; cd: string; ttb0: string; tsz: number; oas: number; granuleShift: number }[];
  /** StreamIDs QEMU found bypass STEs for (iommu.passthrough=1), with addresses it passed through. */
  bypass?: { sid: number; ste: string; iovas: string[] }[];
  walks: QemuWalk[];
  translations: { sid: number; iova: string; translated: string; perm: number }[];
}
interface OurStep {
  level: number;
  tableAddr: string;
  index: number;
  entryAddr: string;
  entry: string;
  kind: string;
}
interface OurTranslation {
  iova: string;
  phys: string | null;
  prot: number;
  fault: string | null;
  steps: OurStep[];
}
interface OurWalk {
  format: string;
  dump: { kind: string; osrelease?: string };
  root: string;
  smmu: { steps: { what: string; addr: string | null }[]; outcome: { kind: string; granule?: number; ias?: number; oas?: number; root?: string } };
  translations?: OurTranslation[];
  mappings?: { iova: string; phys: string; size: string }[];
  problems?: unknown[];
}

const fixtures = readdirSync(DIR)
  .filter((f) => f.endsWith('.json.gz') && !f.endsWith('.vmcore-sparse.json.gz'))
  .sort()
  .map((f) => JSON.parse(gunzipSync(readFileSync(join(DIR, f))).toString('utf8')) as QemuFixture);

const big = (s: string) => BigInt(s);

describe('the QEMU fixtures', () => {
  it('are there, with walks of live and of since-unmapped IOVAs for both granules', () => {
    expect(fixtures.map((f) => f.name).sort()).toEqual(['arm64-16k-512m-kdump', 'arm64-16k-6g', 'arm64-4k-1g', 'arm64-4k-1g-passthrough', 'arm64-4k-512m-kdump', 'arm64-4k-6g']);
    for (const f of fixtures.filter((x) => x.streams.length)) {
      expect(f.schema).toBe('iommu-lab-qemu-smmuv3/1');
      expect(f.walks.filter((w) => w.now === 'current').length, f.name).toBeGreaterThan(3);
      expect(f.walks.filter((w) => w.now === 'unmapped').length, f.name).toBeGreaterThan(20);
      expect(f.translations.length, f.name).toBeGreaterThan(50);
    }
    expect(new Set(fixtures.flatMap((f) => f.streams.map((s) => s.granuleShift)))).toEqual(new Set([12, 14]));
    expect(dumps.length).toBe(7);
    expect(fixtures.find((f) => f.name === 'arm64-4k-1g-passthrough')!.bypass!.map((b) => b.sid)).toEqual([8, 16]);
  });
});

/**
 * Each fixture's dump: the ELF core, and where the fixture has one, the same pages as QEMU itself
 * wrote them with `dump-guest-memory -z` (makedumpfile's flattened format, zlib pages).
 */
const dumps = fixtures.flatMap((f) =>
  (
    [
      [`${f.name} (ELF core)`, f, `${f.name}.core.gz`],
      [`${f.name} (QEMU kdump-zlib, flattened)`, f, `${f.name}.qemu-kdump-zlib.flat.gz`],
      [`${f.name} (the crash kernel's /proc/vmcore)`, f, `${f.name}.vmcore-sparse.json.gz`],
    ] as const
  ).filter(([, , file]) => existsSync(join(DIR, file))),
);

/** A sparse file (bench/qemu-smmuv3.ts sparseVmcore): its non-zero runs written at their offsets. */
function writeSparse(path: string, doc: { schema: string; size: number; chunks: { offset: number; base64: string }[] }): void {
  expect(doc.schema).toBe('iommu-lab-sparse-file/1');
  const fd = openSync(path, 'w');
  try {
    for (const c of doc.chunks) {
      const b = Buffer.from(c.base64, 'base64');
      writeSync(fd, b, 0, b.length, c.offset);
    }
    ftruncateSync(fd, doc.size);
  } finally {
    closeSync(fd);
  }
}

describe.each(dumps)('walk on QEMU %s', (name, f, file) => {
  const core = join(tmp, file.replace(/\.gz$/, ''));
  const bytes = gunzipSync(readFileSync(join(DIR, file)));
  if (file.endsWith('.vmcore-sparse.json.gz')) writeSparse(core, JSON.parse(bytes.toString('utf8')));
  else writeFileSync(core, bytes);

  // iommu.passthrough=1: identity domains, for which Linux writes bypass STEs.
  describe.each((f.bypass ?? []).map((b) => [b.sid, b] as const))('StreamID %i (bypass)', (sid, b) => {
    it("finds QEMU's bypass STE and passes QEMU's addresses through", async () => {
      const args = ['walk', core, '--smmu-strtab', f.registers.STRTAB_BASE, '--strtab-cfg', f.registers.STRTAB_BASE_CFG, '--sid', String(sid), '--json'];
      const r = await cli([...args, ...b.iovas.flatMap((i) => ['--iova', i])]);
      expect(r.code, r.err).toBe(0);
      const out = JSON.parse(r.out) as OurWalk;
      expect(out.smmu.steps.map((x) => x.addr)).toContain(b.ste);
      expect(out.smmu.outcome.kind).toBe('bypass');
      expect(out.translations!.map((t) => [t.iova, t.phys, t.fault])).toEqual(b.iovas.map((i) => [i, i, null]));
    });
  });

  describe.each(f.streams.map((s) => [s.sid, s] as const))('StreamID %i', (sid, s) => {
    const base = ['walk', core, '--smmu-strtab', f.registers.STRTAB_BASE, '--strtab-cfg', f.registers.STRTAB_BASE_CFG, '--sid', String(sid), '--json'];
    const walks = f.walks.filter((w) => w.sid === sid);
    const translations = f.translations.filter((t) => t.sid === sid);
    const run = async (iovas: string[]): Promise<OurWalk> => {
      const r = await cli([...base, ...iovas.flatMap((i) => ['--iova', i])]);
      expect(r.code, r.err).toBe(0);
      return JSON.parse(r.out) as OurWalk;
    };

    it("finds QEMU's STE, CD and TTB0 from the registers", async () => {
      const out = await run([]);
      const addrs = out.smmu.steps.map((x) => x.addr);
      expect(addrs).toContain(s.ste);
      expect(addrs).toContain(s.cd);
      expect(out.format).toBe('arm-64-lpae-s1');
      // A vmcore carries the kernel's VMCOREINFO: walk names the release it was dumped from.
      if (file.includes('vmcore'))
        expect(out.dump).toEqual({ path: core, kind: 'elf64', osrelease: s.granuleShift === 14 ? '6.12.117+deb12-arm64-16k' : '6.12.117+deb12-arm64' });
      expect(out.smmu.outcome).toMatchObject({ kind: 'translate', granule: 2 ** s.granuleShift, ias: 64 - s.tsz, oas: s.oas, root: s.ttb0 });
    });

    it(`follows QEMU's walk, level by level, for ${walks.length} IOVAs`, async () => {
      const got = (await run(walks.map((w) => w.iova))).translations!;
      expect(got.length).toBe(walks.length);
      walks.forEach((w, k) => {
        const t = got[k];
        const ctx = `${name} sid ${sid} iova ${w.iova} (${w.now})`;
        expect(t.steps.map((x) => [x.level, x.tableAddr, x.index, x.entryAddr]), ctx).toEqual(
          w.steps.map((q) => [q.level, q.base, q.index, '0x' + (big(q.base) + BigInt(q.index * 8)).toString(16)]),
        );
        if (w.now === 'current') {
          expect(t.steps.map((x) => x.entry), ctx).toEqual(w.steps.map((q) => q.pte));
          expect(t.fault, ctx).toBeNull();
          expect(t.steps[t.steps.length - 1].kind, ctx).toBe(w.leaf);
          expect(big(t.phys!) - (big(t.iova) & ((1n << BigInt(s.granuleShift)) - 1n)), ctx).toBe(big(w.address!));
        } else {
          // The kernel unmapped it since: the same tables, a zero leaf, a translation fault.
          expect(t.steps.slice(0, -1).map((x) => x.entry), ctx).toEqual(w.steps.slice(0, -1).map((q) => q.pte));
          expect(t.steps[t.steps.length - 1].entry, ctx).toBe('0x0');
          expect(t.fault, ctx).toBe('translation');
          expect(t.phys, ctx).toBeNull();
        }
      });
    });

    it("explains a live walk in words with QEMU's entry addresses, entries and answer", async () => {
      const w = walks.find((x) => x.now === 'current' && x.leaf === 'page')!;
      const r = await cli(base.filter((a) => a !== '--json').concat(['--iova', w.iova, '--explain']));
      expect(r.code, r.err).toBe(0);
      for (const q of w.steps) {
        const entryAddr = '0x' + (big(q.base) + BigInt(q.index * 8)).toString(16);
        expect(r.out).toContain(`entry address = ${q.base} + ${q.index} * 8 = ${entryAddr}`);
        expect(r.out).toContain(`read ${q.pte} at ${entryAddr}`);
      }
      expect(r.out).toMatch(new RegExp(`physical address = ${w.address} \\+ 0x[0-9a-f]+ = 0x[0-9a-f]+`));
    });

    it(`translates ${translations.length} addresses QEMU translated to QEMU's answer and permissions`, async () => {
      const got = (await run(translations.map((t) => t.iova))).translations!;
      translations.forEach((q, k) => {
        const t = got[k];
        expect([t.iova, t.phys], q.iova).toEqual([q.iova, q.translated]);
        // QEMU's perm: bit 0 read, bit 1 write (IOMMU_RO / IOMMU_WO); ours: IOMMU_READ 1, IOMMU_WRITE 2.
        expect(t.prot & 3, q.iova).toBe(q.perm);
      });
    });

    it('from TTB0 alone, a listing with the default 4K granule hints at the granule that lists the mappings', async () => {
      const r = await cli(['walk', core, '--format', 'arm-64-lpae-s1', '--root', s.ttb0, '--json']);
      expect(r.code, r.err).toBe(0);
      const out = JSON.parse(r.out) as { mappings: unknown[]; hints?: string[] };
      if (s.granuleShift === 12) {
        expect(out.mappings.length).toBeGreaterThan(0);
        expect(out.hints).toBeUndefined();
      } else {
        expect(out.mappings).toEqual([]);
        expect(out.hints).toEqual([expect.stringMatching(/^read with granule 16K \(--granule 16K\) the same root lists \d+ run\(s\) without problems/)]);
        const g = JSON.parse((await cli(['walk', core, '--format', 'arm-64-lpae-s1', '--root', s.ttb0, '--granule', '16K', '--json'])).out) as { mappings: unknown[]; hints?: string[] };
        expect(g.mappings.length).toBeGreaterThan(0);
        expect(g.hints).toBeUndefined();
      }
    });

    it('lists mapping runs that hold every live translation, and finds nothing wrong with the tables', async () => {
      const listing = await run([]);
      expect(listing.problems).toEqual([]);
      const maps = listing.mappings!;
      for (const q of translations) {
        const i = big(q.iova);
        const m = maps.find((r) => big(r.iova) <= i && i < big(r.iova) + big(r.size));
        expect(m, q.iova).toBeDefined();
        expect('0x' + (big(m!.phys) + i - big(m!.iova)).toString(16), q.iova).toBe(q.translated);
      }
    });
  });
});
