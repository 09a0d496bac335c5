// On-disk record format for DiskStorage: every value is
//   crc32(key ++ payload) as u32 big-endian, then the payload.
// Covering the key too means a value copied under another key is detected.
import { crc32 } from 'node:zlib';
import { CorruptionError } from './errors.ts';

const CRC_BYTES = 4;

export function sealRecord(key: Buffer, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(CRC_BYTES + payload.byteLength);
  out.writeUInt32BE(crc32(payload, crc32(key)), 0);
  out.set(payload, CRC_BYTES);
  return out;
}

/** Returns the payload (a view into `value`) or throws CorruptionError. */
export function openRecord(key: Buffer, value: Buffer): Buffer {
  if (value.byteLength < CRC_BYTES)
    throw new CorruptionError(printableKey(key), 'record shorter than its checksum');
  const payload = value.subarray(CRC_BYTES);
  if (value.readUInt32BE(0) !== crc32(payload, crc32(key))) {
    throw new CorruptionError(printableKey(key), 'checksum mismatch');
  }
  return payload;
}

// Key space. One-byte prefixes keep the groups apart and in a fixed order.
const ENTRY_PREFIX = 0x65; // 'e' + u48 index: log entries, in index order
const META_PREFIX = 0x6d; // 'm' + name: small records

export const ENTRY_RANGE = { gte: Buffer.from([ENTRY_PREFIX]), lt: Buffer.from([ENTRY_PREFIX + 1]) };
export const ALL_RANGE = { gte: Buffer.from([0x00]), lt: Buffer.from([0xff]) };

export function entryKey(index: number): Buffer {
  const k = Buffer.alloc(7);
  k[0] = ENTRY_PREFIX;
  k.writeUIntBE(index, 1, 6);
  return k;
}

export function entryIndexOfKey(key: Buffer): number {
  if (key.byteLength !== 7 || key[0] !== ENTRY_PREFIX)
    throw new CorruptionError(printableKey(key), 'malformed entry key');
  return key.readUIntBE(1, 6);
}

export function metaKey(name: string): Buffer {
  return Buffer.concat([Buffer.from([META_PREFIX]), Buffer.from(name, 'utf8')]);
}

export function printableKey(key: Buffer): string {
  if (key[0] === ENTRY_PREFIX && key.byteLength === 7) return `entry/${key.readUIntBE(1, 6)}`;
  if (key[0] === META_PREFIX) return `meta/${key.subarray(1).toString('utf8')}`;
  return `raw/${key.toString('hex')}`;
}

// Entry payload: term (u48), type (u8), data.
/** A sealed entry record (see sealRecord) built in one allocation and copy: the hot path of every write. */
export function sealEntryRecord(key: Buffer, term: number, type: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(CRC_BYTES + 7 + data.byteLength);
  out.writeUIntBE(term, CRC_BYTES, 6);
  out[CRC_BYTES + 6] = type;
  out.set(data, CRC_BYTES + 7);
  out.writeUInt32BE(crc32(out.subarray(CRC_BYTES), crc32(key)), 0);
  return out;
}

export function decodeEntryPayload(
  key: Buffer,
  payload: Buffer,
): { term: number; type: number; data: Uint8Array } {
  if (payload.byteLength < 7) throw new CorruptionError(printableKey(key), 'entry payload too short');
  return { term: payload.readUIntBE(0, 6), type: payload[6]!, data: payload.subarray(7) };
}
