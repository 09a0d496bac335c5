// Binary snapshot of the KV state machine:
//   "KVSN" | u16 format | u32 header length | header (msgpack) | records... | u32 crc32 of all before it
//   header: { appliedIndex, keyCount, members: [id, peerUrl, clientUrl][], auth? }
//           (auth: users, roles, enabled, token key; left out while there are none, see auth/auth-store.ts)
//   record: string key, string value, varint createIndex, varint modifyIndex, varint version,
//           u8 flags (1 = expiresAt, 2 = ttl), [f64 expiresAt], [string ttl]
//   string = varint UTF-8 byte length, bytes; varint = unsigned LEB128
// Records are written straight into a reused buffer handed out chunk by chunk
// (no per-key objects, no giant string, no copy of the whole snapshot in memory),
// in strictly increasing key order, so restoring rebuilds the sorted index in
// linear time and equal states give byte-identical snapshots. Encoding and
// decoding are generators that pause between bounded slices of work, so the
// async users can yield to the event loop (a node with a million keys must keep
// heartbeating while it snapshots); the sync variants just run them through.
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import { authSnapshotProblem, type AuthSnapshot } from '../auth/auth-store.ts';
import { CorruptionError } from '../storage/errors.ts';
import type { KeyValue, Member } from './types.ts';
import { writeVarint } from './varint.ts';

const MAGIC = Buffer.from('KVSN', 'latin1');
export const SNAPSHOT_FORMAT = 1;
const PREAMBLE_BYTES = MAGIC.byteLength + 2 + 4;
const CHUNK_BYTES = 8 << 20;
const FLAG_EXPIRES = 1;
const FLAG_TTL = 2;
/** Records (or 8 MiB of checksum/copy work) between pauses. */
const STEP = 20_000;

/** A computation that pauses (yields) between bounded slices of work. */
export type Steps<T> = Generator<void, T, undefined>;

export function runSync<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/** Runs `steps`, letting other events (timers, I/O) run between slices. */
export async function runAsync<T>(steps: Steps<T>): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export interface SnapshotContent {
  appliedIndex: number;
  members: Member[];
  /** Strictly increasing by key. */
  kvs: KeyValue[];
  auth?: AuthSnapshot;
}

/** Bytes per chunk of the encoded stream (a record larger than this gets a chunk of its own size). */
const STREAM_CHUNK_BYTES = 1 << 20;

/**
 * Writes records into one buffer and hands it out whenever the next record
 * might not fit; the buffer is reused once the consumer asks for more, so
 * encoding a snapshot of any size needs about one chunk of memory.
 */
class ChunkWriter {
  private buf = Buffer.allocUnsafe(STREAM_CHUNK_BYTES);
  private pos = 0;
  crc = 0;

  /** Room for `n` more bytes without a flush. */
  fits(n: number): boolean {
    return this.pos + n <= this.buf.byteLength;
  }

  /** The bytes written since the last take (valid until the writer is used again). */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.crc = crc32(out, this.crc);
    this.pos = 0;
    return out;
  }

  /** After a take: make sure `n` bytes fit (a huge record gets a buffer of its own). */
  reserve(n: number): void {
    if (n > this.buf.byteLength) this.buf = Buffer.allocUnsafe(n);
  }

  u8(v: number): void {
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  varint(v: number): void {
    this.pos = writeVarint(this.buf, this.pos, v);
  }

  f64(v: number): void {
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }

  /** varint byte length, then UTF-8 bytes. */
  str(s: string): void {
    if (s.length <= 42) {
      // At most 3 bytes per UTF-16 code unit, so the length fits one varint byte.
      const n = this.buf.write(s, this.pos + 1, 'utf8');
      this.buf[this.pos] = n;
      this.pos += 1 + n;
      return;
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.buf.write(s, this.pos, n, 'utf8');
    this.pos += n;
  }
}

/** Upper bound of a string's encoded size: varint + at most 3 UTF-8 bytes per UTF-16 unit. */
const strBound = (s: string): number => 9 + 3 * s.length;

/**
 * The snapshot as a stream of chunks, in order. `keys` hold the keys in strictly
 * increasing order and `valueOf` gives each one's key-value as of the snapshot.
 * Each yielded buffer is only valid until the generator is resumed (its memory
 * is reused), so consume (write, copy) it first.
 */
export function* encodeSnapshotChunks(
  appliedIndex: number,
  members: Member[],
  keys: readonly (readonly string[])[],
  valueOf: (key: string) => KeyValue,
  auth?: AuthSnapshot,
): Generator<Buffer, void, undefined> {
  const w = new ChunkWriter();
  let keyCount = 0;
  for (const c of keys) keyCount += c.length;
  const header = packr.pack({
    appliedIndex,
    keyCount,
    members: members.map((m) => [m.id, m.peerUrl, m.clientUrl]),
    ...(auth && hasAuthState(auth) ? { auth } : {}),
  });
  w.reserve(PREAMBLE_BYTES + header.byteLength);
  w.bytes(MAGIC);
  w.u8(SNAPSHOT_FORMAT >> 8);
  w.u8(SNAPSHOT_FORMAT & 0xff);
  w.u32(header.byteLength);
  w.bytes(header);
  for (const chunk of keys) {
    for (const key of chunk) {
      const kv = valueOf(key);
      const bound =
        8 * 3 + 1 + 8 + strBound(kv.key) + strBound(kv.value) + (kv.ttl !== undefined ? strBound(kv.ttl) : 0);
      if (!w.fits(bound)) {
        yield w.take();
        w.reserve(bound);
      }
      w.str(kv.key);
      w.str(kv.value);
      w.varint(kv.createIndex);
      w.varint(kv.modifyIndex);
      w.varint(kv.version);
      w.u8((kv.expiresAt !== undefined ? FLAG_EXPIRES : 0) | (kv.ttl !== undefined ? FLAG_TTL : 0));
      if (kv.expiresAt !== undefined) w.f64(kv.expiresAt);
      if (kv.ttl !== undefined) w.str(kv.ttl);
    }
  }
  const last = w.take();
  const trailer = Buffer.allocUnsafe(4);
  trailer.writeUInt32BE(w.crc, 0);
  yield Buffer.concat([last, trailer]);
}

/** A whole chunk stream as one buffer. */
export function concatChunks(chunks: Iterable<Uint8Array>): Buffer {
  const out: Buffer[] = [];
  for (const part of chunks) out.push(Buffer.from(part));
  return Buffer.concat(out);
}

/** `kvs` in strictly increasing key order. */
export function encodeSnapshot(
  appliedIndex: number,
  members: Member[],
  kvs: readonly KeyValue[],
): Uint8Array {
  const byKey = new Map(kvs.map((kv) => [kv.key, kv]));
  return concatChunks(
    encodeSnapshotChunks(appliedIndex, members, [kvs.map((kv) => kv.key)], (k) => byKey.get(k)!),
  );
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function hasAuthState(a: AuthSnapshot): boolean {
  return a.enabled || a.tokenKey !== null || a.users.length > 0 || a.roles.length > 0;
}

function decodeHeader(buf: Buffer): {
  appliedIndex: number;
  keyCount: number;
  members: Member[];
  auth?: AuthSnapshot;
} {
  let header: unknown;
  try {
    header = packr.unpack(buf);
  } catch (err) {
    throw new CorruptionError('kv-snapshot/header', `undecodable (${String(err)})`);
  }
  const h = header as Record<string, unknown> | null;
  if (
    typeof h !== 'object' ||
    h === null ||
    !isIndex(h.appliedIndex) ||
    !isIndex(h.keyCount) ||
    !Array.isArray(h.members)
  ) {
    throw new CorruptionError('kv-snapshot/header', 'malformed header');
  }
  const members: Member[] = (h.members as unknown[]).map((m) => {
    if (!Array.isArray(m) || m.length !== 3 || !m.every((x) => typeof x === 'string')) {
      throw new CorruptionError('kv-snapshot/header', 'malformed member');
    }
    const [id, peerUrl, clientUrl] = m as [string, string, string];
    return { id, peerUrl, clientUrl };
  });
  if (h.auth === undefined) return { appliedIndex: h.appliedIndex, keyCount: h.keyCount, members };
  const problem = authSnapshotProblem(h.auth);
  if (problem !== null) throw new CorruptionError('kv-snapshot/header', `malformed auth state (${problem})`);
  return { appliedIndex: h.appliedIndex, keyCount: h.keyCount, members, auth: h.auth as AuthSnapshot };
}

export function decodeSnapshot(bytes: Uint8Array): SnapshotContent {
  return runSync(decodeSnapshotSteps(bytes));
}

export function* decodeSnapshotSteps(bytes: Uint8Array): Steps<SnapshotContent> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.byteLength < PREAMBLE_BYTES + 4 || !buf.subarray(0, MAGIC.byteLength).equals(MAGIC)) {
    throw new CorruptionError('kv-snapshot/preamble', 'not a kv-store snapshot');
  }
  const end = buf.byteLength - 4;
  let crc = 0;
  for (let at = 0; at < end; at += CHUNK_BYTES) {
    crc = crc32(buf.subarray(at, Math.min(end, at + CHUNK_BYTES)), crc);
    yield;
  }
  if (crc !== buf.readUInt32BE(end)) {
    throw new CorruptionError('kv-snapshot/checksum', 'snapshot checksum mismatch');
  }
  const format = buf.readUInt16BE(MAGIC.byteLength);
  if (format !== SNAPSHOT_FORMAT)
    throw new CorruptionError('kv-snapshot/preamble', `unknown snapshot format ${format}`);
  const headerBytes = buf.readUInt32BE(MAGIC.byteLength + 2);
  if (PREAMBLE_BYTES + headerBytes > end) throw new CorruptionError('kv-snapshot/header', 'truncated');
  const { appliedIndex, keyCount, members, auth } = decodeHeader(
    buf.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerBytes),
  );
  // Each record takes at least 6 bytes: a count beyond that is impossible.
  if (keyCount * 6 > end) throw new CorruptionError('kv-snapshot/header', 'impossible key count');

  let pos = PREAMBLE_BYTES + headerBytes;
  let n = 0;
  const fail = (reason: string): never => {
    throw new CorruptionError(`kv-snapshot/record-${n}`, reason);
  };
  const need = (bytesNeeded: number): void => {
    if (pos + bytesNeeded > end) fail('truncated record');
  };
  const varint = (): number => {
    let v = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      need(1);
      const b = buf[pos++]!;
      v += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 0x80;
      if (i >= 7) fail('varint too long');
    }
    return v;
  };
  const str = (): string => {
    const len = varint();
    need(len);
    const s = buf.toString('utf8', pos, pos + len);
    pos += len;
    return s;
  };
  const f64 = (): number => {
    need(8);
    const v = buf.readDoubleBE(pos);
    pos += 8;
    return v;
  };

  const kvs = new Array<KeyValue>(keyCount);
  let prevKey: string | undefined;
  for (; n < keyCount; n++) {
    const key = str();
    const value = str();
    const createIndex = varint();
    const modifyIndex = varint();
    const version = varint();
    need(1);
    const flags = buf[pos++]!;
    if (
      !isIndex(createIndex) ||
      !isIndex(modifyIndex) ||
      !isIndex(version) ||
      (flags & ~(FLAG_EXPIRES | FLAG_TTL)) !== 0
    ) {
      fail('malformed record');
    }
    if (prevKey !== undefined && !(prevKey < key)) fail('keys out of order');
    const kv: KeyValue = { key, value, createIndex, modifyIndex, version };
    if ((flags & FLAG_EXPIRES) !== 0) {
      const expiresAt = f64();
      if (!Number.isFinite(expiresAt)) fail('malformed expiry');
      kv.expiresAt = expiresAt;
    }
    if ((flags & FLAG_TTL) !== 0) kv.ttl = str();
    kvs[n] = kv;
    prevKey = key;
    if (n % STEP === STEP - 1) yield;
  }
  if (pos !== end)
    throw new CorruptionError('kv-snapshot/trailer', `${end - pos} unexpected bytes after ${keyCount} keys`);
  return { appliedIndex, members, kvs, ...(auth ? { auth } : {}) };
}
