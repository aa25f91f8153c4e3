import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { replayOracleTrace } from '../../../src/linux/dma/oracle-replay.js';

const dir = fileURLToPath(new URL('../../fixtures/oracle-dma/', import.meta.url));
const load = (name: string): unknown => JSON.parse(readFileSync(dir + name, 'utf8'));

describe('kernel-recorded DMA traces replay call by call', () => {
  for (const name of [
    'iova-4k-size-aligned.json',
    'iova-4k-pci-mask48-fill32.json',
    'swiotlb-align.json',
    'swiotlb-bounce-bytes.json',
    'direct-arm64-ram-0-8g.json',
  ]) {
    it(name, () => {
      const r = replayOracleTrace(load(name));
      expect(r.first_mismatch).toBeNull();
      expect(r.matched).toBe(r.calls);
      expect(r.calls).toBeGreaterThan(0);
    });
  }
});

describe('the replay really compares', () => {
  it('a changed byte in a bounce snapshot is the first mismatch', () => {
    const t = load('swiotlb-bounce-bytes.json') as { calls: Record<string, unknown>[] };
    const k = t.calls.findIndex((c) => c.fn === 'bytes' && typeof c.tlb === 'string' && String(c.step).startsWith('cpu wrote'));
    const tlb = String(t.calls[k].tlb);
    t.calls[k].tlb = tlb.slice(0, 20) + (tlb[20] === '0' ? '1' : '0') + tlb.slice(21);
    const r = replayOracleTrace(t);
    expect(r.first_mismatch?.index).toBe(k);
    expect(r.matched).toBe(r.calls - 1);
  });
  it('a changed final rbtree is reported as the final step', () => {
    const t = load('iova-4k-size-aligned.json') as { calls: unknown[]; final: { rbtree: string[][] } };
    t.final.rbtree[0][0] = '0x1';
    const r = replayOracleTrace(t);
    expect(r.first_mismatch?.index).toBe(t.calls.length);
    expect(r.matched).toBe(r.calls);
  });
  it('a changed kernel message is a mismatch of the call that printed it', () => {
    const t = load('iova-4k-pci-mask48-fill32.json') as { kernel_messages: { call: number; text: string }[] };
    t.kernel_messages[0].text = 'Using 47-bit DMA addresses\n';
    const r = replayOracleTrace(t);
    expect(r.first_mismatch?.index).toBe(63);
  });
});
