/**
 * The few kernel vsnprintf behaviours our log lines need (lib/vsprintf.c), which differ from C libraries:
 * `%#x` always prints "0x", even for zero, and the field width counts the prefix.
 */

/** Kernel `%#0Nx`: width N includes the "0x" prefix. `kHexAlt(1, 8)` = "0x000001"; `kHexAlt(0, 3)` = "0x0". */
export function kHexAlt(value: number, width = 0): string {
  const digits = value.toString(16);
  const pad = Math.max(0, width - 2 - digits.length);
  return '0x' + '0'.repeat(pad) + digits;
}

/** `%pad` / `%pa` on a 64-bit kernel: "0x" and 16 zero-padded digits. */
export function kPad(value: number): string {
  return '0x' + value.toString(16).padStart(16, '0');
}

/** `%08x`-style: zero-padded hex without prefix. */
export function kHex0(value: number, width: number): string {
  return value.toString(16).padStart(width, '0');
}
