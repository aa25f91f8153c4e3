import { describe, expect, it } from 'vitest';
import { dmaDir, gfpNames, parseDuration, protBits } from '../../src/scenario/values.js';

describe('scenario values', () => {
  it('prot letters are the bits of include/linux/iommu.h:18-32', () => {
    expect(protBits('r')).toBe(1);
    expect(protBits('rw')).toBe(3);
    expect(protBits('rwc')).toBe(7);
    expect(protBits('n')).toBe(8);
    expect(protBits('m')).toBe(16);
    expect(protBits('p')).toBe(32);
  });
  it('directions in both spellings', () => {
    expect(dmaDir('DMA_TO_DEVICE')).toBe('to-device');
    expect(dmaDir('from-device')).toBe('from-device');
    expect(dmaDir('DMA_BIDIRECTIONAL')).toBe('bidirectional');
  });
  it('gfp names', () => {
    expect(gfpNames('GFP_KERNEL | __GFP_ZERO')).toEqual(['GFP_KERNEL', '__GFP_ZERO']);
    expect(gfpNames('0')).toEqual([]);
    expect(gfpNames('GFP_ATOMIC|GFP_DMA32')).toEqual(['GFP_ATOMIC', 'GFP_DMA32']);
  });
  it('durations in ns', () => {
    expect(parseDuration('10us')).toBe(10_000);
    expect(parseDuration('5ms')).toBe(5_000_000);
    expect(parseDuration('1s')).toBe(1e9);
    expect(parseDuration(7)).toBe(7);
  });
});
