/** Small helpers shared by the walk/decode CLI tests. */

/** A number from the oracle files, which write addresses as hex strings or plain numbers. */
export function h(v: string | number): number {
  return typeof v === 'number' ? v : Number(BigInt(v));
}
