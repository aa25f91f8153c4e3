/**
 * Table walks compiled for one page-table geometry: the source of a function with the geometry's
 * shifts and masks written in as numeric literals, made once with `new Function` and cached.
 *
 * Why: `iovaToPhys` on a PhysMem is the simulator's translation hot path and issue 3 holds it to 2x
 * the kernel's own C. The same walk reading its shifts, masks and root from fields of the table object
 * measured ~1.5-2x the time of this one (bench/README.md): each field is a load and a check, and a
 * shift by a variable count ties up the one register x86 shifts by, where a literal shift is an
 * immediate. The kernel's C gets the same effect for free (`-O2` folds what it can see). The emitted
 * source holds nothing but integer literals from a validated configuration and fixed text, never a
 * string from a user, and the result is checked against the kernel-shaped walk by
 * test/formats/iova-to-phys-fast.test.ts for every granule, start level and concatenation.
 *
 * A compiled walk handles the common case (a chain of tables down to a page; DART: every outcome of
 * its two levels) and hands everything else - an LPAE block, an invalid entry the kernel's loop
 * follows - to the format's generic walk, which is the kernel's loop itself (the walk returns -1 for
 * that): the answers are identical by construction, and the test checks it.
 */
import type { PhysMem } from '../mem/phys-mem.js';

/**
 * A compiled walk: (memory, root address high half, root address low half as int32, iova) -> the
 * walk's answer, or -1 where the caller must take its generic walk. One function per distinct
 * geometry, shared by every table with that geometry: the table's memory and root are arguments, not
 * literals or captured variables, so a call site that serves many tables still calls one function
 * (V8 inlines a call only while its target stays the same; a closure per table made a second table
 * through the same caller twice as slow, and captured variables are slower to read than arguments).
 */
export type CompiledWalk = (mem: PhysMem, rootHi: number, rootLo: number, iova: number) => number;

/** Walks by source text (a handful: one per geometry and kind in a process). */
const walks = new Map<string, CompiledWalk>();

/**
 * The walk made by `source`: JS statements that end by returning the walk function (see the
 * callers). Compiled once per distinct source.
 */
export function compileWalk(source: string): CompiledWalk {
  let f = walks.get(source);
  if (f === undefined) {
    f = new Function(`"use strict";\n${source}`)() as CompiledWalk;
    walks.set(source, f);
  }
  return f;
}

/** The walk of memory that is not a PhysMem: always "take the generic walk". */
export const NO_COMPILED_WALK: CompiledWalk = () => -1;

/**
 * V8 inlines a function into its caller only below 460 bytes of bytecode (and 920 for everything
 * inlined into one caller); a walk that is not inlined is a call whose 64-bit result is boxed on the
 * heap. So a walk of more than two levels is emitted as a chain of functions of at most two levels
 * each, `stage0` calling `stage1`..., every one small enough to be inlined into the one before.
 */
export const MAX_LEVELS_PER_STAGE = 2;

/**
 * The IOVA as two uint32 halves `ilo`, `ihi`. iova * 2^-32 is exact (a power-of-two scaling of an
 * integer below 2^53) and `>>> 0` truncates it, so ihi is floor(iova / 2^32) from one multiply that
 * does not wait for ilo (the first index of a walk needs ihi: it is on the walk's critical path);
 * below 4 GiB (every 32-bit IOVA space) a predictable branch makes it 0 with no arithmetic at all.
 */
export const SPLIT_IOVA = 'const ilo = iova >>> 0;\nconst ihi = iova < 4294967296 ? 0 : (iova * 2.3283064365386963e-10) >>> 0;';

/** IOVA bits [s, s + 32) as an int32 expression over ilo/ihi, for a literal shift s < 64. */
export function iovaBits(s: number): string {
  if (!Number.isInteger(s) || s < 0 || s >= 64) throw new Error(`compiled walk: bad shift ${s}`);
  if (s >= 32) return `(ihi >>> ${s - 32})`;
  if (s === 0) return '(ilo | 0)';
  return `((ilo >>> ${s}) | (ihi << ${32 - s}))`;
}

/**
 * The address hi * 2^32 + (lo as uint32), as the walk's result: an expression over two int32
 * expressions. The `/ 1` is deliberate. Without it V8 types both terms as safe integers and adds them
 * as 64-bit integers: the product goes double -> int64 and the sum int64 -> double again, and the
 * `>>> 0` gets a check that deoptimises on a low half >= 2^31. A quotient may be fractional, so V8
 * adds in floating point instead. The division itself folds away (x / 1 is x), which leaves two
 * int-to-double conversions, a multiply and an add. Measured: DART iova_to_phys about 0.5 ns faster
 * (bench/README.md).
 */
export function joinHalves(hi: string, lo: string): string {
  return `${hi} * 4294967296 + ((${lo}) >>> 0) / 1`;
}

/** An integer literal for the emitted source (checked: nothing but an int32 or uint32 goes in). */
export function lit(n: number): string {
  if (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 32) throw new Error(`compiled walk: bad literal ${n}`);
  return String(n);
}
