/**
 * QEMU fixtures: page tables built by a real Linux 6.12.117 kernel (Debian's arm64 image, unmodified)
 * for devices behind QEMU's SMMUv3, and the answers QEMU's own SMMUv3 model gave for them - an
 * implementation of the hardware walk that shares nothing with ours. test/cli/walk-qemu-smmuv3.test.ts
 * then runs `iommu-lab walk --smmu-strtab ... --sid ...` on the kernel's tables and requires QEMU's
 * answers.
 *
 *   npm run qemu-fixtures -- [--debs DIR] [--work DIR] [--out DIR] [--only NAME] [--keep] [--kdump-only]
 *
 * Needs qemu-system-aarch64 (Debian: qemu-system-arm) and dpkg-deb; the three Debian arm64 packages
 * (DEBS below) are taken from --debs DIR or fetched with `apt-get download` (after
 * `dpkg --add-architecture arm64 && apt-get update`). For each entry of CONFIGS it:
 * 1. builds an initramfs: busybox (busybox-static) as /init's shell, bench/qemu/init.sh as /init and
 *    the virtio_blk / virtio_net modules of the same kernel package;
 * 2. boots `qemu-system-aarch64 -M virt,iommu=smmuv3` with a virtio-blk and a virtio-net device
 *    (iommu_platform=on: the guest uses the DMA API, so every DMA goes through the SMMU) and QEMU's
 *    trace events of its SMMUv3 model: register writes, stream-table/CD lookups, every table-walk level
 *    and every translation;
 * 3. when the guest prints READY, stops it from the monitor and dumps its memory
 *    (`dump-guest-memory`, an ELF core of all of RAM);
 * 4. keeps QEMU's walks that are still current in the dump (every entry QEMU read holds, in the dump,
 *    the value QEMU read: the mapping was not changed after QEMU walked it), and the translations
 *    they gave;
 * 5. writes <out>/<name>.core.gz, the dump cut down to the pages QEMU's trace names (the stream table,
 *    STEs and CDs it read) and the pages of every table reachable from each context descriptor's TTB0
 *    (found by a plain descriptor crawl here, not by our walker), and <out>/<name>.json.gz, QEMU's
 *    answers (schema iommu-lab-qemu-smmuv3/1, test/fixtures/qemu-smmuv3/README.md);
 * A `crash` config instead has the guest load a crash kernel (kexec -p) and panic once READY; the
 * crash kernel saves /proc/vmcore - the real kdump artefact - to a second disk, and the fixture is
 * that vmcore with every byte outside the kept pages zeroed, stored sparse (sparseVmcore).
 * 6. for a config with `kdump`, has QEMU write the cut-down core's pages as a kdump-compressed file
 *    too (qemuKdump): <out>/<name>.qemu-kdump-zlib.flat.gz. `--kdump-only` remakes just those from
 *    the cores already in --out.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { buildElfCore, type ElfLoad } from '../src/dump/elf-writer.js';
import { openDump } from '../src/dump/index.js';
import type { Dump } from '../src/dump/types.js';
import { flagValue } from './kernel-tree.js';

const KVER = '6.12.117+deb12';
/** The Debian packages: package name (arm64) -> what it is for. */
const DEBS = {
  'linux-image-6.12.117+deb12-arm64-unsigned': 'the 4K-page arm64 kernel',
  'linux-image-6.12.117+deb12-arm64-16k-unsigned': 'the 16K-page arm64 kernel',
  'busybox-static': 'the guest shell (a static arm64 busybox)',
  'kexec-tools': 'kexec, to load the crash kernel of a kdump fixture',
  libc6: "kexec's C library",
  zlib1g: "kexec's zlib",
  'libxenmisc4.17': "kexec's libxenctrl (Debian builds it with Xen support)",
  libxentoollog1: 'a library libxenctrl needs',
  libxencall1: 'a library libxenctrl needs',
  libxenevtchn1: 'a library libxenctrl needs',
  libxengnttab1: 'a library libxenctrl needs',
  libxenforeignmemory1: 'a library libxenctrl needs',
  libxendevicemodel1: 'a library libxenctrl needs',
  libxentoolcore1: 'a library the Xen libraries need',
};
/** The shared objects kexec loads, by file name (looked up in the extracted packages). */
const KEXEC_LIBS = [
  'ld-linux-aarch64.so.1',
  'libc.so.6',
  'libz.so.1',
  'libxenctrl.so.4.17',
  'libxentoollog.so.1',
  'libxencall.so.1',
  'libxenevtchn.so.1',
  'libxengnttab.so.1',
  'libxenforeignmemory.so.1',
  'libxendevicemodel.so.1',
  'libxentoolcore.so.1',
];

export interface QemuConfig {
  name: string;
  /** Kernel package (a key of DEBS) and its flavour suffix. */
  kernelDeb: keyof typeof DEBS;
  flavour: string;
  /** Guest RAM for -m: RAM starts at 1 GiB on virt, so 6G puts most of it above 4 GiB. */
  memory: string;
  /**
   * Also have QEMU write the cut-down core's pages as a kdump-compressed file (qemuKdump): small only
   * for a small RAM, since QEMU writes a page descriptor for every page of RAM.
   */
  kdump?: boolean;
  /** Extra kernel command line (e.g. iommu.passthrough=1: identity domains, bypass STEs). */
  cmdline?: string;
  /**
   * A kdump fixture: the dump is the /proc/vmcore a crash kernel (loaded with kexec -p, booted by a
   * panic) saves, not QEMU's dump-guest-memory; stored as a sparse file (crashDump, sparseVmcore).
   */
  crash?: boolean;
}

export const CONFIGS: QemuConfig[] = [
  { name: 'arm64-4k-6g', kernelDeb: 'linux-image-6.12.117+deb12-arm64-unsigned', flavour: 'arm64', memory: '6G' },
  { name: 'arm64-16k-6g', kernelDeb: 'linux-image-6.12.117+deb12-arm64-16k-unsigned', flavour: 'arm64-16k', memory: '6G' },
  { name: 'arm64-4k-1g', kernelDeb: 'linux-image-6.12.117+deb12-arm64-unsigned', flavour: 'arm64', memory: '1G', kdump: true },
  { name: 'arm64-4k-1g-passthrough', kernelDeb: 'linux-image-6.12.117+deb12-arm64-unsigned', flavour: 'arm64', memory: '1G', cmdline: 'iommu.passthrough=1' },
  { name: 'arm64-4k-512m-kdump', kernelDeb: 'linux-image-6.12.117+deb12-arm64-unsigned', flavour: 'arm64', memory: '512M', cmdline: 'crashkernel=192M panic=1', crash: true },
  { name: 'arm64-16k-512m-kdump', kernelDeb: 'linux-image-6.12.117+deb12-arm64-16k-unsigned', flavour: 'arm64-16k', memory: '512M', cmdline: 'crashkernel=192M panic=1', crash: true },
];

/** Modules /init loads, in order (paths under lib/modules/VER/kernel, .ko.xz in the package). */
const MODULES = ['drivers/block/virtio_blk', 'net/core/failover', 'drivers/net/net_failover', 'drivers/net/virtio_net'];

const TRACE_EVENTS = [
  'smmuv3_write_mmio',
  'smmuv3_find_ste*',
  'smmuv3_get_ste',
  'smmuv3_get_cd',
  'smmuv3_decode_cd*',
  'smmu_ptw_*',
  'smmuv3_translate_*',
  'smmuv3_record_event',
];

// ------------------------------------------------------------------ the initramfs (cpio newc)

interface CpioEntry {
  name: string;
  mode: number;
  data?: Uint8Array;
}

/** A cpio archive in the "newc" format the kernel unpacks (mtime 0, inode numbers in order). */
export function cpioNewc(entries: CpioEntry[]): Uint8Array {
  const parts: Buffer[] = [];
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const h8 = (n: number) => n.toString(16).padStart(8, '0');
  const add = (name: string, mode: number, data: Uint8Array, ino: number) => {
    const nameBytes = Buffer.from(name + '\0');
    const head = '070701' + [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0].map(h8).join('');
    parts.push(Buffer.from(head), nameBytes, pad4(110 + nameBytes.length), Buffer.from(data), pad4(data.length));
  };
  entries.forEach((e, i) => add(e.name, e.mode, e.data ?? new Uint8Array(0), i + 1));
  add('TRAILER!!!', 0, new Uint8Array(0), 0);
  return Buffer.concat(parts);
}

// ------------------------------------------------------------------ QEMU's trace

export interface Step {
  level: number;
  base: string;
  index: number;
  pte: string;
}
export interface Walk {
  sid: number;
  iova: string;
  steps: Step[];
  /** How QEMU's walk ended: a page or block at `address`, or an invalid entry. */
  leaf: 'page' | 'block' | 'invalid';
  address: string | null;
  /** In the fixture: what became of the mapping by the time of the dump (see fate()). */
  now?: 'current' | 'unmapped';
  /** Index in TraceFacts.translations of the translation this walk was made for. */
  at: number;
}
export interface Translation {
  sid: number;
  iova: string;
  translated: string;
  perm: number;
}
export interface StreamInfo {
  sid: number;
  l1ptr: string | null;
  l2ptr: string | null;
  ste: string;
  cd: string;
  oas: number;
  tsz: number;
  ttb0: string;
  granuleShift: number;
}
/** A StreamID whose STE QEMU found to be bypass (STE.Config 0b100: an identity domain). */
export interface BypassStream {
  sid: number;
  l1ptr: string | null;
  l2ptr: string | null;
  ste: string;
  /** Addresses QEMU passed through untranslated, the last few. */
  iovas: string[];
}
export interface TraceFacts {
  strtabBase: string;
  strtabBaseCfg: string;
  streams: StreamInfo[];
  bypass: BypassStream[];
  walks: Walk[];
  translations: Translation[];
}

const hexOf = (s: string) => '0x' + BigInt(s).toString(16);

/** What QEMU's trace says (QEMU 7.2's hw/arm/trace-events formats). */
export function parseTrace(text: string): TraceFacts {
  let strtabBase = '';
  let strtabBaseCfg = '';
  const streams = new Map<number, StreamInfo>();
  const bypass = new Map<number, BypassStream>();
  const walks: Walk[] = [];
  const translations: Translation[] = [];
  let cur: Partial<StreamInfo> & { sid?: number } = {};
  let pending: Omit<Walk, 'sid' | 'at'> | null = null;
  let done: Omit<Walk, 'sid' | 'at'> | null = null;
  for (const line of text.split('\n')) {
    const f = (re: RegExp): RegExpMatchArray | null => line.match(re);
    let m: RegExpMatchArray | null;
    if ((m = f(/^smmuv3_write_mmio addr: (0x[0-9a-f]+) val:(0x[0-9a-f]+)/))) {
      // A second STRTAB_BASE write is a second kernel (the kdump kernel) taking the SMMU over: the
      // dump is of the first one's memory, so its trace ends here.
      if (m[1] === '0x80' && strtabBase) break;
      if (m[1] === '0x80') strtabBase = hexOf(m[2]);
      if (m[1] === '0x88') strtabBaseCfg = hexOf(m[2]);
    } else if ((m = f(/^smmuv3_find_ste sid=(0x[0-9a-f]+)/))) {
      cur = { sid: Number(m[1]), l1ptr: null, l2ptr: null };
    } else if ((m = f(/^smmuv3_find_ste_2lvl .* l1ptr:(0x[0-9a-f]+) .* l2ptr:(0x[0-9a-f]+)/))) {
      cur.l1ptr = hexOf(m[1]);
      cur.l2ptr = hexOf(m[2]);
    } else if ((m = f(/^smmuv3_get_ste STE addr: (0x[0-9a-f]+)/))) {
      cur.ste = hexOf(m[1]);
    } else if ((m = f(/^smmuv3_get_cd CD addr: (0x[0-9a-f]+)/))) {
      cur.cd = hexOf(m[1]);
    } else if ((m = f(/^smmuv3_decode_cd oas=(\d+)/))) {
      cur.oas = Number(m[1]);
    } else if ((m = f(/^smmuv3_decode_cd_tt TT\[0\]:tsz:(\d+) ttb:(0x[0-9a-f]+) granule_sz:(\d+)/))) {
      cur.tsz = Number(m[1]);
      cur.ttb0 = hexOf(m[2]);
      cur.granuleShift = Number(m[3]);
      if (cur.sid !== undefined && !streams.has(cur.sid)) streams.set(cur.sid, cur as StreamInfo);
    } else if ((m = f(/^smmu_ptw_level level=(\d+) iova=(0x[0-9a-f]+) subpage_sz=0x[0-9a-f]+ baseaddr=(0x[0-9a-f]+) offset=(\d+) => pte=(0x[0-9a-f]+)/))) {
      const level = Number(m[1]);
      if (pending === null || level <= pending.steps[pending.steps.length - 1].level)
        pending = { iova: hexOf(m[2]), steps: [], leaf: 'invalid', address: null };
      pending.steps.push({ level, base: hexOf(m[3]), index: Number(m[4]), pte: hexOf(m[5]) });
    } else if ((m = f(/^smmu_ptw_(page|block)_pte .*(?:page|block) address = (0x[0-9a-f]+)/))) {
      if (pending) {
        pending.leaf = m[1] as 'page' | 'block';
        pending.address = hexOf(m[2]);
        done = pending;
        pending = null;
      }
    } else if (f(/^smmu_ptw_invalid_pte/)) {
      if (pending) {
        done = pending;
        pending = null;
      }
    } else if ((m = f(/^smmuv3_translate_success \S+ sid=(0x[0-9a-f]+) iova=(0x[0-9a-f]+) translated=(0x[0-9a-f]+) perm=(0x[0-9a-f]+)/))) {
      const sid = Number(m[1]);
      if (done) walks.push({ sid, ...done, at: translations.length });
      done = null;
      translations.push({ sid, iova: hexOf(m[2]), translated: hexOf(m[3]), perm: Number(m[4]) });
    } else if ((m = f(/^smmuv3_translate_bypass \S+ sid=(0x[0-9a-f]+) STE bypass iova:(0x[0-9a-f]+)/))) {
      const sid = Number(m[1]);
      let b = bypass.get(sid);
      if (b === undefined && cur.sid === sid && cur.ste !== undefined) {
        b = { sid, l1ptr: cur.l1ptr ?? null, l2ptr: cur.l2ptr ?? null, ste: cur.ste, iovas: [] };
        bypass.set(sid, b);
      }
      if (b !== undefined && !b.iovas.includes(hexOf(m[2]))) b.iovas = [...b.iovas, hexOf(m[2])].slice(-8);
      done = null;
      pending = null;
    } else if (f(/^smmuv3_(record_event|translate_(abort|bypass|disable))/)) {
      done = null;
      pending = null;
    }
  }
  if (!strtabBase || !strtabBaseCfg) throw new Error('qemu-fixtures: the trace has no STRTAB_BASE / STRTAB_BASE_CFG write');
  return { strtabBase, strtabBaseCfg, streams: [...streams.values()], bypass: [...bypass.values()], walks, translations };
}

// ------------------------------------------------------------------ the dump

/** The 64-bit word at `addr` in the dump as a hex string, or null where the dump has none. */
function word64(dump: Dump, addr: number): string | null {
  const b = dump.readBytes(addr, 8);
  if (b === null) return null;
  const dv = new DataView(b.buffer, b.byteOffset, 8);
  return hexOf(String((BigInt(dv.getUint32(4, true)) << 32n) | BigInt(dv.getUint32(0, true))));
}

/**
 * What became of QEMU's walk by the time of the dump: 'current' when every entry it read holds, in
 * the dump, the value it read; 'unmapped' when all but the last do and the last is now zero (the
 * kernel unmapped that IOVA afterwards: io-pgtable clears the leaf and keeps the tables); null when
 * anything else changed.
 */
function fate(dump: Dump, w: Walk): 'current' | 'unmapped' | null {
  const now = w.steps.map((s) => word64(dump, Number(s.base) + s.index * 8));
  const n = w.steps.length;
  if (now.every((v, i) => v === w.steps[i].pte)) return 'current';
  if (now.slice(0, n - 1).every((v, i) => v === w.steps[i].pte) && now[n - 1] === '0x0') return 'unmapped';
  return null;
}

/**
 * Table pages reachable from a stream's TTB0: a plain crawl of VMSAv8-64 stage-1 descriptors
 * (bits 1:0 = 0b11 below the last level: a table at bits 47:granule), independent of src/formats.
 */
function tablePages(dump: Dump, s: StreamInfo): Set<number> {
  const g = s.granuleShift;
  const ias = 64 - s.tsz;
  const levels = Math.ceil((ias - g) / (g - 3));
  const pages = new Set<number>();
  const visit = (table: number, level: number, entries: number) => {
    for (let p = table; p < table + 2 ** g; p += 4096) pages.add(p);
    if (level === 3) return;
    for (let i = 0; i < entries; i++) {
      const lo = dump.read32(table + i * 8);
      const hi = dump.read32(table + i * 8 + 4);
      if (lo < 0 || hi < 0 || (lo & 3) !== 3) continue;
      const next = (hi & 0xffff) * 2 ** 32 + ((lo >>> 0) - ((lo >>> 0) % 2 ** g));
      if (!pages.has(next)) visit(next, level + 1, 2 ** (g - 3));
    }
  };
  const startLevel = 4 - levels;
  visit(Number(s.ttb0), startLevel, 2 ** (ias - g - (levels - 1) * (g - 3)));
  return pages;
}

/** The dump cut down to `pages` (4 KiB each), as an ELF core with one PT_LOAD per run of pages. */
function cutDown(dump: Dump, pages: Set<number>): Uint8Array {
  const sorted = [...pages].sort((a, b) => a - b);
  const loads: ElfLoad[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i + 1;
    while (j < sorted.length && sorted[j] === sorted[j - 1] + 4096) j++;
    const data = dump.readBytes(sorted[i], (j - i) * 4096);
    if (data === null) throw new Error(`qemu-fixtures: the dump lacks 0x${sorted[i].toString(16)}`);
    loads.push({ phys: sorted[i], data: Uint8Array.from(data) });
    i = j;
  }
  return buildElfCore({ loads, machine: 183 });
}

/** A file as its length and the byte runs that are not zero (test/fixtures/qemu-smmuv3/README.md). */
export interface SparseFile {
  schema: 'iommu-lab-sparse-file/1';
  size: number;
  chunks: { offset: number; base64: string }[];
}

/**
 * A vmcore kept whole in its layout but not in its contents: the ELF header, program headers and
 * notes as they are, and of the memory only `pages` - at every file offset where a PT_LOAD holds
 * them (the kernel-text PT_LOAD repeats part of RAM) - everything else zero.
 */
function sparseVmcore(path: string, pages: Set<number>): SparseFile {
  const file = readFileSync(path);
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const phoff = Number(dv.getBigUint64(0x20, true));
  const phnum = dv.getUint16(0x38, true);
  const loads: { offset: number; paddr: number; filesz: number }[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * 56;
    if (dv.getUint32(o, true) !== 1) continue;
    loads.push({ offset: Number(dv.getBigUint64(o + 8, true)), paddr: Number(dv.getBigUint64(o + 24, true)), filesz: Number(dv.getBigUint64(o + 32, true)) });
  }
  const headEnd = Math.min(...loads.map((l) => l.offset));
  const chunks = [{ offset: 0, base64: file.subarray(0, headEnd).toString('base64') }];
  for (const p of [...pages].sort((a, b) => a - b))
    for (const l of loads)
      if (p >= l.paddr && p + 4096 <= l.paddr + l.filesz) {
        const at = l.offset + (p - l.paddr);
        chunks.push({ offset: at, base64: file.subarray(at, at + 4096).toString('base64') });
      }
  return { schema: 'iommu-lab-sparse-file/1', size: file.length, chunks };
}

// ------------------------------------------------------------------ booting the guest

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** The extracted packages (dpkg-deb -x) under work/x/<package>. */
function extractDebs(debs: string, work: string): Map<string, string> {
  const out = new Map<string, string>();
  mkdirSync(debs, { recursive: true });
  for (const pkg of Object.keys(DEBS)) {
    let file = readdirSync(debs).find((f) => f.startsWith(pkg + '_') && f.endsWith('_arm64.deb'));
    if (file === undefined) {
      console.error(`qemu-fixtures: fetching ${pkg}:arm64 (${DEBS[pkg as keyof typeof DEBS]})`);
      run('apt-get', ['download', `${pkg}:arm64`], { cwd: debs });
      file = readdirSync(debs).find((f) => f.startsWith(pkg + '_') && f.endsWith('_arm64.deb'));
      if (file === undefined) throw new Error(`qemu-fixtures: apt-get download ${pkg}:arm64 gave no file`);
    }
    const dir = join(work, 'x', pkg);
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      run('dpkg-deb', ['-x', join(debs, file), dir]);
    }
    out.set(pkg, dir);
  }
  return out;
}

function buildInitrd(c: QemuConfig, dirs: Map<string, string>, initScript: Uint8Array): Uint8Array {
  const kdir = dirs.get(c.kernelDeb)!;
  const modDir = join(kdir, 'lib/modules', `${KVER}-${c.flavour}`, 'kernel');
  const entries: CpioEntry[] = [
    { name: 'bin', mode: 0o40755 },
    { name: 'dev', mode: 0o40755 },
    { name: 'proc', mode: 0o40755 },
    { name: 'sys', mode: 0o40755 },
    { name: 'bin/busybox', mode: 0o100755, data: readFileSync(join(dirs.get('busybox-static')!, 'bin/busybox')) },
    { name: 'init', mode: 0o100755, data: initScript },
  ];
  for (const m of MODULES) {
    const ko = execFileSync('xz', ['-dc', join(modDir, m + '.ko.xz')], { maxBuffer: 1 << 28 });
    entries.push({ name: m.split('/').pop() + '.ko', mode: 0o100644, data: ko });
  }
  if (c.crash) {
    // The crash kernel (the same image), its own small initramfs, and kexec with its libraries.
    const crashInit = readFileSync(resolve(fileURLToPath(new URL('.', import.meta.url)), '../../bench/qemu/init-crash.sh'));
    const crash = cpioNewc([
      ...entries.filter((e) => e.mode === 0o40755 || e.name === 'bin/busybox' || e.name === 'virtio_blk.ko'),
      { name: 'init', mode: 0o100755, data: crashInit },
    ]);
    entries.push({ name: 'crash.gz', mode: 0o100644, data: gzipSync(crash) });
    entries.push({ name: 'vmlinuz', mode: 0o100644, data: readFileSync(join(kdir, 'boot', `vmlinuz-${KVER}-${c.flavour}`)) });
    entries.push({ name: 'sbin', mode: 0o40755 }, { name: 'lib', mode: 0o40755 }, { name: 'lib/aarch64-linux-gnu', mode: 0o40755 });
    entries.push({ name: 'sbin/kexec', mode: 0o100755, data: readFileSync(join(dirs.get('kexec-tools')!, 'sbin/kexec')) });
    for (const lib of KEXEC_LIBS) {
      const found = [...dirs.values()]
        .flatMap((d) => ['lib', 'usr/lib', 'lib/aarch64-linux-gnu', 'usr/lib/aarch64-linux-gnu'].map((sub) => join(d, sub, lib)))
        .find((f) => existsSync(f));
      if (found === undefined) throw new Error(`qemu-fixtures: ${lib} is in none of the packages`);
      entries.push({ name: lib.startsWith('ld-') ? `lib/${lib}` : `lib/aarch64-linux-gnu/${lib}`, mode: 0o100755, data: readFileSync(found) });
    }
  }
  return gzipSync(cpioNewc(entries));
}

/**
 * Types `commands` and then `quit` at QEMU's human monitor (a Unix socket), and waits for QEMU to
 * exit: the monitor runs them in order, each to its end (`dump-guest-memory` without -d finishes
 * before `quit` is read).
 */
async function monitor<T>(path: string, commands: string[], exited: Promise<T>): Promise<T> {
  const sock = createConnection(path);
  await new Promise<void>((res, rej) => (sock.on('connect', () => res()), sock.on('error', rej)));
  sock.on('error', () => {});
  sock.write([...commands, 'quit'].map((c) => c + '\n').join(''));
  const code = await exited;
  sock.destroy();
  return code;
}

/**
 * Boots the guest, waits for READY, stops it and dumps its memory to dir/dump.elf; for a `crash`
 * config, waits instead for the crash kernel to save the vmcore and power off, and makes that
 * dir/dump.elf.
 */
async function bootAndDump(c: QemuConfig, dirs: Map<string, string>, dir: string, initrd: string): Promise<void> {
  const kernel = join(dirs.get(c.kernelDeb)!, 'boot', `vmlinuz-${KVER}-${c.flavour}`);
  writeFileSync(join(dir, 'disk.img'), Buffer.alloc(8 << 20, 0x5a));
  const mon = join(dir, 'mon.sock');
  const args = [
    '-M', 'virt,iommu=smmuv3,gic-version=3', '-cpu', 'max,pauth-impdef=on', '-smp', '1', '-m', c.memory,
    '-nographic', '-kernel', kernel, '-initrd', initrd, '-append', `console=ttyAMA0 quiet loglevel=4${c.cmdline ? ' ' + c.cmdline : ''}`,
    '-device', 'virtio-blk-pci,drive=d0,iommu_platform=on,disable-legacy=on',
    '-drive', `if=none,id=d0,file=${join(dir, 'disk.img')},format=raw,readonly=on`,
    '-netdev', 'user,id=n0,restrict=on', '-device', 'virtio-net-pci,netdev=n0,iommu_platform=on,disable-legacy=on',
    // A kdump fixture: the crash kernel writes /proc/vmcore to this disk (/dev/vdb).
    ...(c.crash ? ['-no-reboot', '-device', 'virtio-blk-pci,drive=d1,iommu_platform=on,disable-legacy=on', '-drive', `if=none,id=d1,file=${join(dir, 'vmcore.img')},format=raw`] : []),
    ...TRACE_EVENTS.flatMap((e) => ['-trace', e]), '-D', join(dir, 'trace.log'),
    '-monitor', `unix:${mon},server,nowait`, '-serial', `file:${join(dir, 'console.log')}`,
  ];
  if (c.crash) writeFileSync(join(dir, 'vmcore.img'), '');
  if (c.crash) execFileSync('truncate', ['-s', '2G', join(dir, 'vmcore.img')]);
  const q = spawn('qemu-system-aarch64', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<number | null>((res) => q.on('exit', (code) => res(code)));
  const console_ = join(dir, 'console.log');
  if (c.crash) {
    // The guest panics once READY; the crash kernel saves the vmcore and powers off (-no-reboot).
    const timer = setTimeout(() => q.kill(), 900_000);
    await exited;
    clearTimeout(timer);
    const saved = /IOMMU-LAB-SAVED (\d+)/.exec(existsSync(console_) ? readFileSync(console_, 'utf8') : '');
    if (!saved) throw new Error(`qemu-fixtures: ${c.name}: the crash kernel saved no vmcore; console:\n${existsSync(console_) ? readFileSync(console_, 'utf8') : ''}`);
    execFileSync('truncate', ['-s', saved[1], join(dir, 'vmcore.img')]);
    renameSync(join(dir, 'vmcore.img'), join(dir, 'dump.elf'));
    return;
  }
  for (let t = 0; ; t++) {
    if (existsSync(console_) && readFileSync(console_, 'utf8').includes('IOMMU-LAB-READY')) break;
    if (t > 600 || q.exitCode !== null) {
      q.kill();
      throw new Error(`qemu-fixtures: ${c.name}: no READY from the guest; console:\n${existsSync(console_) ? readFileSync(console_, 'utf8') : ''}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const code = await monitor(mon, ['stop', `dump-guest-memory ${join(dir, 'dump.elf')}`], exited);
  if (!existsSync(join(dir, 'dump.elf'))) throw new Error(`qemu-fixtures: ${c.name}: QEMU exited (${code}) without a dump`);
}

/**
 * The pages of a cut-down core written out by QEMU itself as `dump-guest-memory -z`: a machine with
 * the same RAM, never started (-S), whose RAM holds the core's pages (a `-device loader` per
 * PT_LOAD) and zeros elsewhere. QEMU 7.2 writes makedumpfile's flattened format with zlib pages
 * (Debian's build has no LZO or snappy): a real instance of what `walk` reads from QEMU and libvirt.
 */
async function qemuKdump(c: QemuConfig, core: Uint8Array, dir: string): Promise<Uint8Array> {
  const coreFile = join(dir, 'cut.core');
  writeFileSync(coreFile, core);
  const d = openDump(coreFile);
  const loaders: string[] = [];
  try {
    d.segments().forEach((s, i) => {
      const blob = join(dir, `load${i}.bin`);
      writeFileSync(blob, d.readBytes(s.phys, s.size)!);
      loaders.push('-device', `loader,file=${blob},addr=0x${s.phys.toString(16)},force-raw=on`);
    });
  } finally {
    d.close();
  }
  const mon = join(dir, 'kmon.sock');
  const out = join(dir, 'qemu.kdump');
  rmSync(out, { force: true });
  const q = spawn('qemu-system-aarch64', ['-M', 'virt,iommu=smmuv3', '-m', c.memory, '-nographic', '-S', '-serial', 'none', ...loaders, '-monitor', `unix:${mon},server,nowait`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<number | null>((res) => q.on('exit', (code) => res(code)));
  for (let t = 0; !existsSync(mon); t++) {
    if (t > 100) throw new Error('qemu-fixtures: QEMU did not open its monitor');
    await new Promise((r) => setTimeout(r, 100));
  }
  await monitor(mon, [`dump-guest-memory -z ${out}`], exited);
  if (!existsSync(out)) throw new Error('qemu-fixtures: QEMU wrote no kdump file');
  return readFileSync(out);
}

// ------------------------------------------------------------------ one fixture

async function make(c: QemuConfig, dirs: Map<string, string>, work: string, out: string, keep: boolean): Promise<void> {
  const dir = join(work, c.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const self = fileURLToPath(new URL('.', import.meta.url));
  const initScript = readFileSync(resolve(self, '../../bench/qemu/init.sh'));
  const initrd = join(dir, 'initrd.gz');
  writeFileSync(initrd, buildInitrd(c, dirs, initScript));
  await bootAndDump(c, dirs, dir, initrd);
  const facts = parseTrace(readFileSync(join(dir, 'trace.log'), 'utf8'));
  const dump = openDump(join(dir, 'dump.elf'));
  try {
    // The last walk of each (sid, granule page), kept if the dump still holds it; the translations
    // made after it (through QEMU's IOTLB entry from that walk, or by it), one per (sid, iova).
    const gran = new Map(facts.streams.map((x) => [x.sid, BigInt(x.granuleShift)]));
    const pageOf = (sid: number, iova: string) => `${sid}:${BigInt(iova) >> (gran.get(sid) ?? 64n)}`;
    const last = new Map<string, Walk>();
    for (const w of facts.walks) last.set(pageOf(w.sid, w.iova), w);
    const walks: Walk[] = [];
    for (const w of last.values()) {
      const now = fate(dump, w);
      if (now !== null) walks.push({ ...w, now });
    }
    const live = new Map(walks.filter((w) => w.now === 'current').map((w) => [pageOf(w.sid, w.iova), w]));
    const byIova = new Map<string, Translation>();
    facts.translations.forEach((t, k) => {
      const w = live.get(pageOf(t.sid, t.iova));
      if (w !== undefined && w.leaf !== 'invalid' && w.at <= k) byIova.set(`${t.sid}:${t.iova}`, t);
    });
    const translations = [...byIova.values()];
    const pages = new Set<number>();
    const page = (a: string | null) => a !== null && pages.add(Math.floor(Number(a) / 4096) * 4096);
    page(hexOf(String(BigInt(facts.strtabBase) & 0xffffffffffc0n)));
    for (const b of facts.bypass) [b.l1ptr, b.l2ptr, b.ste].forEach(page);
    for (const s of facts.streams) {
      [s.l1ptr, s.l2ptr, s.ste, s.cd].forEach(page);
      for (const p of tablePages(dump, s)) pages.add(p);
    }
    const qemuVersion = run('qemu-system-aarch64', ['--version']).split('\n')[0];
    const doc = {
      schema: 'iommu-lab-qemu-smmuv3/1',
      name: c.name,
      made: {
        qemu: qemuVersion,
        kernel: `${c.kernelDeb} (Debian, unmodified)`,
        machine: 'virt,iommu=smmuv3,gic-version=3 -cpu max -smp 1',
        memory: c.memory,
        devices: 'virtio-blk-pci and virtio-net-pci, iommu_platform=on, disable-legacy=on',
        guest: 'bench/qemu/init.sh',
        ...(c.cmdline ? { cmdline: c.cmdline } : {}),
        dump: c.crash
          ? "/proc/vmcore as the kdump kernel (kexec -p, after echo c > /proc/sysrq-trigger) read it: bench/qemu/init-crash.sh"
          : 'dump-guest-memory, the machine stopped',
      },
      registers: { STRTAB_BASE: facts.strtabBase, STRTAB_BASE_CFG: facts.strtabBaseCfg },
      streams: facts.streams,
      bypass: facts.bypass,
      walks: walks.map(({ at: _at, ...w }) => w),
      translations,
      counts: {
        walksTraced: facts.walks.length,
        walksKept: walks.length,
        walksCurrent: walks.filter((w) => w.now === 'current').length,
        translationsTraced: facts.translations.length,
        translationsKept: translations.length,
        pagesKept: pages.size,
      },
    };
    mkdirSync(out, { recursive: true });
    if (c.crash) {
      // The vmcore itself, every byte but those of the kept pages zeroed, as a sparse file.
      writeFileSync(join(out, `${c.name}.vmcore-sparse.json.gz`), gzipSync(JSON.stringify(sparseVmcore(join(dir, 'dump.elf'), pages)) + '\n', { level: 9 }));
    } else {
      const core = cutDown(dump, pages);
      writeFileSync(join(out, `${c.name}.core.gz`), gzipSync(core, { level: 9 }));
      if (c.kdump) writeFileSync(join(out, `${c.name}.qemu-kdump-zlib.flat.gz`), gzipSync(await qemuKdump(c, core, dir), { level: 9 }));
    }
    writeFileSync(join(out, `${c.name}.json.gz`), gzipSync(JSON.stringify(doc, null, 1) + '\n', { level: 9 }));
    console.log(`${c.name}: ${facts.streams.length} streams, ${facts.bypass.length} bypass, ${walks.length} of ${facts.walks.length} walks kept (${doc.counts.walksCurrent} current), ${translations.length} translations, ${pages.size} pages kept`);
  } finally {
    dump.close();
    if (!keep) rmSync(join(dir, 'dump.elf'), { force: true });
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const work = resolve(flagValue(argv, '--work') ?? mkdtempSync(join(tmpdir(), 'iommu-lab-qemu-')));
  const debs = resolve(flagValue(argv, '--debs') ?? join(work, 'debs'));
  const out = resolve(flagValue(argv, '--out') ?? 'test/fixtures/qemu-smmuv3');
  const only = flagValue(argv, '--only');
  const keep = argv.includes('--keep');
  const chosen = CONFIGS.filter((c) => !only || only.split(',').includes(c.name));
  if (argv.includes('--kdump-only')) {
    // Remake only the QEMU-written kdump files, from the cut-down cores already in --out.
    for (const c of chosen.filter((x) => x.kdump)) {
      const dir = join(work, c.name);
      mkdirSync(dir, { recursive: true });
      const core = gunzipSync(readFileSync(join(out, `${c.name}.core.gz`)));
      writeFileSync(join(out, `${c.name}.qemu-kdump-zlib.flat.gz`), gzipSync(await qemuKdump(c, core, dir), { level: 9 }));
      console.log(`${c.name}: ${c.name}.qemu-kdump-zlib.flat.gz`);
    }
    return;
  }
  const dirs = extractDebs(debs, work);
  for (const c of chosen) await make(c, dirs, work, out, keep);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
