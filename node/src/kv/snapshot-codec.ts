// Binary snapshot of the KV state machine:
//   "KVSN" | u16 format | frames... | u32 crc32 of everything before it
//   frame = u32 length | msgpack payload
//   frame 0: { appliedIndex, keyCount, members: [id, peerUrl, clientUrl][] }
//   frames 1..n: up to BATCH tuples [key, value, createIndex, modifyIndex, version, expiresAt|null, ttl|null]
// Keys come in strictly increasing order, so restoring rebuilds the sorted
// index in linear time, and equal states give byte-identical snapshots.
// Many small msgpack frames keep the encoder away from one giant string/buffer
// build and would let a streaming transport cut the payload anywhere.
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import { CorruptionError } from '../storage/errors.ts';
import type { KeyValue, Member } from './types.ts';

const MAGIC = Buffer.from('KVSN', 'latin1');
export const SNAPSHOT_FORMAT = 1;
const BATCH = 4096;
const HEADER_BYTES = MAGIC.byteLength + 2;

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export interface SnapshotContent {
  appliedIndex: number;
  members: Member[];
  /** Strictly increasing by key. */
  kvs: KeyValue[];
}

type Tuple = [string, string, number, number, number, number | null, string | null];

export function encodeSnapshot(appliedIndex: number, members: Member[], keyCount: number, kvs: Iterable<KeyValue>): Uint8Array {
  const frames: Uint8Array[] = [
    packr.pack({ appliedIndex, keyCount, members: members.map((m) => [m.id, m.peerUrl, m.clientUrl]) }),
  ];
  let batch: Tuple[] = [];
  for (const kv of kvs) {
    batch.push([kv.key, kv.value, kv.createIndex, kv.modifyIndex, kv.version, kv.expiresAt ?? null, kv.ttl ?? null]);
    if (batch.length === BATCH) {
      frames.push(packr.pack(batch));
      batch = [];
    }
  }
  if (batch.length > 0) frames.push(packr.pack(batch));

  let total = HEADER_BYTES + 4;
  for (const f of frames) total += 4 + f.byteLength;
  const out = Buffer.allocUnsafe(total);
  MAGIC.copy(out, 0);
  out.writeUInt16BE(SNAPSHOT_FORMAT, MAGIC.byteLength);
  let pos = HEADER_BYTES;
  for (const f of frames) {
    out.writeUInt32BE(f.byteLength, pos);
    out.set(f, pos + 4);
    pos += 4 + f.byteLength;
  }
  out.writeUInt32BE(crc32(out.subarray(0, pos)), pos);
  return out;
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function decodeSnapshot(bytes: Uint8Array): SnapshotContent {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.byteLength < HEADER_BYTES + 4 || !buf.subarray(0, MAGIC.byteLength).equals(MAGIC)) {
    throw new CorruptionError('kv-snapshot/header', 'not a kv-store snapshot');
  }
  const format = buf.readUInt16BE(MAGIC.byteLength);
  if (format !== SNAPSHOT_FORMAT) throw new CorruptionError('kv-snapshot/header', `unknown snapshot format ${format}`);
  const end = buf.byteLength - 4;
  if (crc32(buf.subarray(0, end)) !== buf.readUInt32BE(end)) {
    throw new CorruptionError('kv-snapshot/checksum', 'snapshot checksum mismatch');
  }

  let pos = HEADER_BYTES;
  let frameNo = 0;
  const nextFrame = (): unknown => {
    if (pos + 4 > end) throw new CorruptionError(`kv-snapshot/frame-${frameNo}`, 'truncated frame header');
    const len = buf.readUInt32BE(pos);
    if (pos + 4 + len > end) throw new CorruptionError(`kv-snapshot/frame-${frameNo}`, 'truncated frame');
    const frame = buf.subarray(pos + 4, pos + 4 + len);
    pos += 4 + len;
    frameNo++;
    try {
      return packr.unpack(frame);
    } catch (err) {
      throw new CorruptionError(`kv-snapshot/frame-${frameNo - 1}`, `undecodable (${String(err)})`);
    }
  };

  const header = nextFrame() as Record<string, unknown> | null;
  if (
    typeof header !== 'object' ||
    header === null ||
    !isIndex(header.appliedIndex) ||
    !isIndex(header.keyCount) ||
    !Array.isArray(header.members)
  ) {
    throw new CorruptionError('kv-snapshot/frame-0', 'malformed header');
  }
  if (header.keyCount > buf.byteLength) throw new CorruptionError('kv-snapshot/frame-0', 'impossible key count');
  const members: Member[] = (header.members as unknown[]).map((m) => {
    if (!Array.isArray(m) || m.length !== 3 || !m.every((x) => typeof x === 'string')) {
      throw new CorruptionError('kv-snapshot/frame-0', 'malformed member');
    }
    const [id, peerUrl, clientUrl] = m as [string, string, string];
    return { id, peerUrl, clientUrl };
  });

  const kvs: KeyValue[] = new Array<KeyValue>(header.keyCount);
  let n = 0;
  let prevKey: string | undefined;
  while (pos < end) {
    const where = `kv-snapshot/frame-${frameNo}`;
    const tuples = nextFrame();
    if (!Array.isArray(tuples)) throw new CorruptionError(where, 'malformed key batch');
    for (const t of tuples as unknown[]) {
      if (!Array.isArray(t) || t.length !== 7) throw new CorruptionError(where, 'malformed key record');
      const [key, value, createIndex, modifyIndex, version, expiresAt, ttl] = t as unknown[];
      if (
        typeof key !== 'string' ||
        typeof value !== 'string' ||
        !isIndex(createIndex) ||
        !isIndex(modifyIndex) ||
        !isIndex(version) ||
        !(expiresAt === null || (typeof expiresAt === 'number' && Number.isFinite(expiresAt))) ||
        !(ttl === null || typeof ttl === 'string')
      ) {
        throw new CorruptionError(where, 'malformed key record');
      }
      if (prevKey !== undefined && !(prevKey < key)) throw new CorruptionError(where, 'keys out of order');
      if (n >= header.keyCount) throw new CorruptionError(where, 'more keys than the header announced');
      const kv: KeyValue = { key, value, createIndex, modifyIndex, version };
      if (expiresAt !== null) kv.expiresAt = expiresAt;
      if (ttl !== null) kv.ttl = ttl;
      kvs[n++] = kv;
      prevKey = key;
    }
  }
  if (n !== header.keyCount) {
    throw new CorruptionError('kv-snapshot/trailer', `expected ${header.keyCount} keys, found ${n}`);
  }
  return { appliedIndex: header.appliedIndex, members, kvs };
}
