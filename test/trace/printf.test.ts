import { describe, expect, it } from 'vitest';
import { kHexAlt, kPad } from '../../src/trace/printf.js';
import { formatTimestamp, SimClock, Tracer, formatDmesg } from '../../src/trace/events.js';

// Expected values from lib/vsprintf.c (6.12): the '#' flag's "0x" counts in the field width and is
// printed for zero too; printk's "[%5lu.%06lu]" timestamp.
describe('kernel printf quirks', () => {
  it('%#08x and %#03x as the kernel prints them', () => {
    expect(kHexAlt(1, 8)).toBe('0x000001');
    expect(kHexAlt(0, 8)).toBe('0x000000');
    expect(kHexAlt(0x12345678, 8)).toBe('0x12345678');
    expect(kHexAlt(5, 3)).toBe('0x5');
    expect(kHexAlt(0x3ff, 3)).toBe('0x3ff');
    expect(kHexAlt(0, 3)).toBe('0x0');
  });
  it('%pad is 16 digits', () => {
    expect(kPad(0xfde4b000)).toBe('0x00000000fde4b000');
  });
  it('timestamps are right-aligned seconds and microseconds', () => {
    expect(formatTimestamp(1_234_567_000)).toBe('[    1.234567]');
    expect(formatTimestamp(0)).toBe('[    0.000000]');
    const clock = new SimClock();
    const t = new Tracer(clock);
    clock.advance(2_000_500);
    t.devPrintk('err', 'rk_iommu', 'fde4b000.iommu', 'BUS_ERROR occurred at 0x0000000000001000');
    expect(formatDmesg(t.log)).toBe('[    0.002000] rk_iommu fde4b000.iommu: BUS_ERROR occurred at 0x0000000000001000\n');
  });
});
