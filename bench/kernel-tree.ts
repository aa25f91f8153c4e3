/**
 * The kernel's own io-pgtable code, built at run time from a Linux 6.12 tree the user has: where the
 * tree is (--kernel-src, IOMMU_LAB_KERNEL_SRC, the Debian linux-source-6.12 paths), staging the few
 * files needed, and compiling them unmodified with our shims (bench/kernel-c/include) and one of our
 * programs in bench/kernel-c: harness.c (the bench, bench/run.ts), vectors.c (the kernel vectors,
 * bench/kernel-vectors.ts) or rockchip-vectors.c (the same for drivers/iommu/rockchip-iommu.c, which it
 * #includes). Nothing from the kernel enters the repository.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the kernel's io-pgtable sources come from: a source tree or a linux-source tarball. */
export interface KernelTree {
  kind: 'dir' | 'tar';
  path: string;
  /** How it was chosen (the flag, the environment variable, a default path). */
  via: string;
}

/** The kernel files the build needs, relative to the tree's top (only these are read or extracted). */
export const KERNEL_FILES = [
  'drivers/iommu/io-pgtable.c',
  'drivers/iommu/io-pgtable-arm.c',
  'drivers/iommu/io-pgtable-dart.c',
  'drivers/iommu/io-pgtable-arm.h',
  'drivers/iommu/iommu-pages.h',
  'include/linux/io-pgtable.h',
];
/** The three of them compiled (the headers are found next to them or under include/). */
const KERNEL_UNITS = KERNEL_FILES.filter((f) => f.endsWith('.c'));
/**
 * The Rockchip IOMMU driver, which has its own page tables (not io-pgtable): rockchip-vectors.c
 * #includes it whole (its functions are static), finding it through the staged tree's top.
 */
export const ROCKCHIP_FILES = ['drivers/iommu/rockchip-iommu.c', 'drivers/iommu/iommu-pages.h'];

/** Which kernel files a program is built with (compileKernelC); the default is the io-pgtable build. */
export interface KernelBuildSpec {
  /** Kernel files to stage, relative to the tree's top. Default KERNEL_FILES. */
  files?: readonly string[];
  /** Of those, the ones compiled as units of their own. Default the three io-pgtable .c files. */
  units?: readonly string[];
  /** Put the staged top on the include path (last), for a program that #includes a kernel .c file. */
  includeTop?: boolean;
}

function kernelTreeAt(path: string, via: string): KernelTree | null {
  let st;
  try {
    st = statSync(path);
  } catch {
    return null;
  }
  if (st.isDirectory()) return existsSync(join(path, KERNEL_FILES[1])) ? { kind: 'dir', path, via } : null;
  return st.isFile() && /\.tar(\.\w+)?$/.test(path) ? { kind: 'tar', path, via } : null;
}

/**
 * The kernel tree to build from, in the order --kernel-src, IOMMU_LAB_KERNEL_SRC, the tarball the
 * Debian package linux-source-6.12 installs, that tarball extracted. A path given explicitly that holds
 * no tree is reported in `problem` (and not silently replaced by a default).
 */
export function findKernelTree(argv: string[], env: NodeJS.ProcessEnv): { tree: KernelTree | null; problem?: string } {
  let flag: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--kernel-src') flag = argv[i + 1] ?? '';
    else if (argv[i].startsWith('--kernel-src=')) flag = argv[i].slice('--kernel-src='.length);
  }
  const explicit: [string | undefined, string][] = [
    [flag, '--kernel-src'],
    [env.IOMMU_LAB_KERNEL_SRC || undefined, 'IOMMU_LAB_KERNEL_SRC'],
  ];
  for (const [path, via] of explicit) {
    if (path === undefined) continue;
    if (path === '') return { tree: null, problem: `${via} needs a PATH (a kernel tree or a .tar.xz of one)` };
    const tree = kernelTreeAt(resolve(path), via);
    if (tree) return { tree };
    return { tree: null, problem: `${via} ${path}: neither a kernel tree (with ${KERNEL_FILES[1]}) nor a .tar.* of one` };
  }
  for (const path of ['/usr/src/linux-source-6.12.tar.xz', '/usr/src/linux-source-6.12']) {
    const tree = kernelTreeAt(path, 'default path');
    if (tree) return { tree };
  }
  return { tree: null };
}

/** "6.12.117" from the tree's top Makefile, or null when the tree has none. */
function kernelVersion(makefile: string): string | null {
  if (!existsSync(makefile)) return null;
  const text = readFileSync(makefile, 'utf8');
  const v = (name: string): string => new RegExp(`^${name}[ \\t]*=[ \\t]*(\\S*)`, 'm').exec(text)?.[1] ?? '';
  return v('VERSION') ? `${v('VERSION')}.${v('PATCHLEVEL')}.${v('SUBLEVEL')}${v('EXTRAVERSION')}` : null;
}

/**
 * Copies (tree) or extracts (tarball: only these members, with tar) the kernel files into dir/kernel,
 * keeping their relative paths so the files' quoted includes find their neighbours. Returns the staged
 * top and the kernel version if the tree records one.
 */
function stageKernel(tree: KernelTree, dir: string, files: readonly string[]): { top: string; version: string | null } {
  const top = join(dir, 'kernel');
  mkdirSync(top, { recursive: true });
  if (tree.kind === 'dir') {
    for (const f of [...files, 'Makefile']) {
      const src = join(tree.path, f);
      if (!existsSync(src)) continue;
      mkdirSync(dirname(join(top, f)), { recursive: true });
      copyFileSync(src, join(top, f));
    }
  } else {
    // The tarball's members sit under one top directory (linux-source-6.12/): match it with '*' and
    // strip it. tar exits non-zero when a pattern matches nothing; what is missing is checked below.
    const patterns = [...files, 'Makefile'].map((f) => `*/${f}`);
    try {
      execFileSync('tar', ['-xf', tree.path, '-C', top, '--strip-components=1', '--wildcards', '--no-wildcards-match-slash', ...patterns], { stdio: 'pipe' });
    } catch {
      // reported by the existence check
    }
  }
  const missing = files.filter((f) => !existsSync(join(top, f)));
  if (missing.length) throw new Error(`${tree.path} lacks ${missing.join(', ')}`);
  return { top, version: kernelVersion(join(top, 'Makefile')) };
}

/** bench/kernel-c in the checkout, from this file's place (bench/ when run by tsx, dist/bench/ when built). */
export function kernelShimDir(): string | null {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4; up++) {
    for (const cand of [join(d, 'kernel-c'), join(d, 'bench', 'kernel-c')]) if (existsSync(join(cand, 'harness.c'))) return cand;
    d = dirname(d);
  }
  return null;
}

/** The compiled kernel-code harness and a line saying what it was built from. */
export interface KernelBuild {
  exe: string;
  label: string;
}

/**
 * Builds bench/kernel-c/`program` with the kernel's three io-pgtable units (or what `spec` names) into
 * dir/`exeName`: cc -O2 (plus -fno-strict-aliasing, which the kernel always builds with), our shims
 * first on the include path, the staged kernel include/ second (it holds only linux/io-pgtable.h), the
 * staged top last when asked, the two formats' Kconfig options on.
 */
export function compileKernelC(tree: KernelTree, dir: string, program: string, exeName: string, spec: KernelBuildSpec = {}): KernelBuild {
  const shims = kernelShimDir();
  if (shims === null) throw new Error('bench/kernel-c/harness.c not found next to the bench');
  const { top, version } = stageKernel(tree, dir, spec.files ?? KERNEL_FILES);
  const exe = join(dir, exeName);
  const flags = ['-O2', '-fno-strict-aliasing', '-I', join(shims, 'include'), '-I', join(top, 'include'), ...(spec.includeTop ? ['-I', top] : []), '-DCONFIG_IOMMU_IO_PGTABLE_LPAE', '-DCONFIG_IOMMU_IO_PGTABLE_DART'];
  const units = [...(spec.units ?? KERNEL_UNITS).map((f) => join(top, f)), join(shims, 'kshim.c'), join(shims, program)];
  execFileSync('cc', [...flags, '-o', exe, ...units], { stdio: 'pipe' });
  // A partial tree may lack the top Makefile; its directory name (linux-source-6.12) still says which.
  const named = /linux(?:-source)?-(\d+\.\d+(?:\.\d+)?)/.exec(tree.path)?.[1];
  const what = version ? `Linux ${version}` : named ? `Linux ${named} (from the path; no top Makefile)` : 'a Linux tree (version not recorded: no top Makefile)';
  return { exe, label: `${what} from ${tree.path} (${tree.via})` };
}

/** The value of `--name V` or `--name=V` in argv, '' when the flag has none, undefined when absent. */
export function flagValue(argv: string[], name: string): string | undefined {
  let v: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) v = argv[i + 1] ?? '';
    else if (argv[i].startsWith(name + '=')) v = argv[i].slice(name.length + 1);
  }
  return v;
}
