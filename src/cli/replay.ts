/** `iommu-lab replay`: check our DMA-layer algorithms against a trace recorded from the kernel's own code. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InputError } from '../addr.js';
import { replayOracleTrace, MalformedTrace, type ReplayResult } from '../linux/dma/oracle-replay.js';
import type { SetExit } from './commands.js';
import { EXIT_MISMATCH, EXIT_OK } from './errors.js';

const HELP = `
A trace (schema "iommu-lab-oracle-dma/1") records calls into the Linux 6.12 DMA code itself — the IOVA
allocator (iova.c with dma-iommu's alloc/free), swiotlb, or dma-direct — compiled unmodified in
userspace, with every result, the allocator state after each call and the kernel's messages. replay runs
the same calls through iommu-lab's implementation and compares every result: IOVA pfns and cached
nodes, bounce addresses and slot indices, the bytes after each bounce copy, dma_capable and zone
answers, and the messages.

Exit status: 0 when every call matched, 1 at the first mismatch (shown with the kernel's answer and
ours), 2 for a file that is not such a trace.

Examples:
  iommu-lab replay test/fixtures/oracle-dma/swiotlb-align.json
  iommu-lab replay test/fixtures/oracle-dma/iova-4k-pci-mask48-fill32.json --json
`;

export function registerReplay(program: Command, setExit: SetExit): void {
  program
    .command('replay')
    .description("replay a DMA-layer trace recorded from the kernel's code and compare every result")
    .argument('<trace>', 'a trace JSON file (iommu-lab-oracle-dma/1: kind iova, swiotlb or direct)')
    .option('--json', 'machine-readable output: {"kind","calls","matched","first_mismatch"}')
    .addHelpText('after', HELP)
    .action((file: string, opts: { json?: boolean }) => {
      const trace = readTrace(file);
      let r: ReplayResult;
      try {
        r = replayOracleTrace(trace);
      } catch (e) {
        if (e instanceof MalformedTrace) throw new InputError(e.message, file);
        // A field of the wrong type deep in a call surfaces as a TypeError: still the trace's fault.
        if (e instanceof TypeError) throw new InputError(`trace does not follow iommu-lab-oracle-dma/1 (${e.message})`, file);
        throw e;
      }
      const summary = { kind: r.kind, calls: r.calls, matched: r.matched, first_mismatch: r.first_mismatch };
      if (opts.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      else process.stdout.write(text(file, summary));
      setExit(r.first_mismatch ? EXIT_MISMATCH : EXIT_OK);
    });
}

function text(file: string, s: Omit<ReplayResult, 'steps'>): string {
  const head = `${file}: ${s.kind} trace, ${s.matched}/${s.calls} calls matched the kernel`;
  if (!s.first_mismatch) return `${head}\n`;
  const m = s.first_mismatch;
  const where = m.index < 0 ? 'setup' : `call #${m.index}`;
  const fn = m.call && typeof m.call === 'object' && !Array.isArray(m.call) ? String(m.call.fn ?? '') : '';
  const lines = [head, `first mismatch at ${where} (${fn}):`];
  const exp = m.expected as Record<string, unknown>;
  const ours = m.ours as Record<string, unknown>;
  for (const k of Object.keys(exp)) {
    const a = JSON.stringify(exp[k]);
    const b = JSON.stringify(ours[k]);
    if (a.toLowerCase() !== b.toLowerCase()) lines.push(`  ${k}: kernel ${a}\n  ${' '.repeat(k.length)}  ours   ${b}`);
  }
  return lines.join('\n') + '\n';
}

function readTrace(file: string): unknown {
  let textIn: string;
  try {
    textIn = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read trace: ${(e as Error).message}`, file);
  }
  try {
    return JSON.parse(textIn);
  } catch (e) {
    const off = jsonErrorOffset(textIn, (e as Error).message);
    const { line, col } = lineCol(textIn, off);
    throw new InputError(`not valid JSON: ${(e as Error).message.split('\n')[0]}`, `${file}:${line}:${col}`);
  }
}

function lineCol(text: string, off: number): { line: number; col: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < off && i < text.length; i++) if (text.charCodeAt(i) === 10) {
    line++;
    last = i;
  }
  return { line, col: off - last };
}

/** Where JSON.parse failed: from V8's "at position N", or by scanning for the first bad token. */
export function jsonErrorOffset(text: string, message: string): number {
  const m = /position (\d+)/.exec(message);
  if (m) return Number(m[1]);
  return scanJson(text);
}

/** A minimal JSON scanner that returns the offset of the first syntax error (or text.length). */
function scanJson(s: string): number {
  let i = 0;
  const ws = (): void => {
    while (i < s.length && ' \t\r\n'.includes(s[i])) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const value = (): void => {
    ws();
    const c = s[i];
    if (c === '{') {
      i++;
      ws();
      if (s[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (s[i] !== '"') fail();
        str();
        ws();
        if (s[i] !== ':') fail();
        i++;
        value();
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === '}') {
          i++;
          return;
        }
        fail();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (s[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === ']') {
          i++;
          return;
        }
        fail();
      }
    } else if (c === '"') str();
    else {
      const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(s.slice(i, i + 64));
      if (!m) fail();
      i += (m as RegExpExecArray)[0].length;
    }
  };
  const str = (): void => {
    i++;
    while (i < s.length && s[i] !== '"') {
      if (s[i] === '\\') i++;
      else if (s.charCodeAt(i) < 0x20) fail();
      i++;
    }
    if (i >= s.length) fail();
    i++;
  };
  try {
    value();
    ws();
    return i < s.length ? i : s.length;
  } catch (pos) {
    return typeof pos === 'number' ? pos : 0;
  }
}
