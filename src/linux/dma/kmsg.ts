/**
 * Kernel messages of the DMA layer: each is recorded in the oracle's shape (kind, level, device,
 * file:line of a WARN, text with its trailing newline) and forwarded to the run's Tracer as a printk.
 * WARN_ONCE sites fire once per boot, as in the kernel.
 */
import type { LogLevel, Tracer } from '../../trace/events.js';

export interface KMsg {
  kind: 'printk' | 'WARN' | 'BUG';
  level: LogLevel;
  device?: string;
  driver?: string;
  file?: string;
  line?: number;
  cond?: string;
  flags?: 'ratelimited' | 'once';
  text: string;
  /** Which call (replay index) printed it; -1 during setup. */
  call: number;
}

/** A modelled kernel BUG(): the run (or replayed case) ends; the message is already logged. */
export class KernelBugStop extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly cond: string,
  ) {
    super(`kernel BUG at ${file}:${line}!`);
    this.name = 'KernelBugStop';
  }
}

export class KLog {
  readonly messages: KMsg[] = [];
  /** The current call index, stamped on each message. */
  call = -1;
  private readonly onceFired = new Set<string>();

  constructor(readonly tracer?: Tracer) {}

  private forward(m: KMsg): void {
    if (!this.tracer) return;
    const text = m.text.endsWith('\n') ? m.text.slice(0, -1) : m.text;
    if (m.kind === 'WARN') {
      const prefix = m.device ? `${m.driver ?? ''}${m.driver ? ' ' : ''}${m.device}: ` : '';
      this.tracer.printk('warn', `WARNING: CPU: 0 PID: 1 at ${m.file}:${m.line}`);
      this.tracer.printk('warn', prefix + text);
      return;
    }
    if (m.device) this.tracer.printk(m.level, `${m.driver ? m.driver + ' ' : ''}${m.device}: ${text}`);
    else this.tracer.printk(m.level, text);
  }

  /** pr_* / dev_* printk. */
  printk(level: LogLevel, text: string, dev?: { name: string; driverName?: string }, flags?: 'ratelimited' | 'once'): void {
    const m: KMsg = { kind: 'printk', level, text, call: this.call };
    if (dev) {
      m.device = dev.name;
      if (dev.driverName) m.driver = dev.driverName;
    }
    if (flags) m.flags = flags;
    this.messages.push(m);
    this.forward(m);
  }

  /** BUG_ON(cond) at a kernel file:line: logged, then thrown as KernelBugStop. */
  bug(file: string, line: number, cond: string): never {
    const m: KMsg = { kind: 'BUG', level: 'emerg', file, line, cond, text: `kernel BUG at ${file}:${line}!\n`, call: this.call };
    this.messages.push(m);
    this.forward(m);
    throw new KernelBugStop(file, line, cond);
  }

  /** WARN / dev_WARN_ONCE at a kernel file:line. `once` sites fire once per boot. */
  warn(file: string, line: number, cond: string, text: string, dev?: { name: string; driverName?: string }, once = true): void {
    const key = `${file}:${line}`;
    if (once) {
      if (this.onceFired.has(key)) return;
      this.onceFired.add(key);
    }
    const m: KMsg = { kind: 'WARN', level: 'warn', file, line, cond, text, call: this.call };
    if (dev) {
      m.device = dev.name;
      if (dev.driverName) m.driver = dev.driverName;
    }
    this.messages.push(m);
    this.forward(m);
  }
}
