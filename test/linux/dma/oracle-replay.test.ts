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
