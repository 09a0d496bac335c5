// Unsigned LEB128 of a safe integer, shared by the command and snapshot encoders.
// Arithmetic, not bitwise: values may exceed 2^32.

/** Writes `v` at `pos` (the caller ensures up to 8 bytes of room); returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}
