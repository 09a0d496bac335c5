// A saved snapshot (`kvctl snapshot save FILE`, and every full snapshot in the archive):
//   the state machine's own snapshot bytes (kv/snapshot-codec.ts: "KVSN" ... crc32), then
//   a JSON footer | u32 footer length | sha256 of the footer (32 bytes) | "KVBACKUP".
// The footer carries what the state machine's bytes do not: the Raft term of the applied index,
// the source cluster, when the state was captured, and a sha256 of the snapshot bytes. Written as
// a footer so the file can be streamed to disk as it arrives (the checksum is known at the end).
import { createHash } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { decodeSnapshot, type SnapshotContent } from '../kv/snapshot-codec.ts';
import type { Member } from '../kv/types.ts';
import { BackupError } from './errors.ts';

const MAGIC = Buffer.from('KVBACKUP', 'latin1');
export const SNAPSHOT_FILE_FORMAT = 1;
/** A footer is a few hundred bytes plus the member list; anything larger is not ours. */
const MAX_FOOTER_BYTES = 1 << 20;

export interface SnapshotMeta {
  format: number;
  /** Applied index the state is at. */
  index: number;
  /** Term of the entry at `index`. */
  term: number;
  clusterId: string;
  /** The member it was streamed from. */
  memberId: string;
  /** Wall-clock ms at capture on that member: restore counts remaining TTLs from here. */
  takenAt: number;
  keys: number;
  /** Bytes of the snapshot part (without the footer). */
  bytes: number;
  /** sha256 (hex) of the snapshot part. */
  sha256: string;
  members: Member[];
}

/** Everything in the footer but what the writer computes (bytes, sha256, format). */
export type SnapshotHeader = Omit<SnapshotMeta, 'bytes' | 'sha256' | 'format'>;

export function footerBytes(meta: SnapshotMeta): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(json.byteLength, 0);
  return Buffer.concat([json, len, createHash('sha256').update(json).digest(), MAGIC]);
}

/**
 * Streams `chunks` (the snapshot bytes) to `path` under a temporary name, then the footer,
 * fsyncs and renames: a reader never sees a partial file. Memory: one chunk at a time.
 * Refuses to replace an existing file.
 */
export async function writeSnapshotFile(
  path: string,
  header: SnapshotHeader,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<SnapshotMeta> {
  if (await exists(path))
    throw new BackupError('file-exists', `${path} already exists; refusing to overwrite it`);
  const tmp = `${path}.partial`;
  const f = await open(tmp, 'wx');
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of chunks) {
      hash.update(chunk);
      bytes += chunk.byteLength;
      await f.write(chunk);
    }
    const meta: SnapshotMeta = { format: SNAPSHOT_FILE_FORMAT, ...header, bytes, sha256: hash.digest('hex') };
    await f.write(footerBytes(meta));
    await f.sync();
    await f.close();
    await rename(tmp, path);
    return meta;
  } catch (e) {
    await f.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** Splits a saved snapshot into its footer and snapshot bytes; checks the footer's shape only. */
export function parseSnapshotFile(buf: Buffer, name: string): { meta: SnapshotMeta; data: Buffer } {
  const corrupt = (why: string): never => {
    throw new BackupError('corrupt', `${name} is not a usable kv-store snapshot: ${why}`);
  };
  const tail = MAGIC.byteLength + 32 + 4;
  if (buf.byteLength < tail || !buf.subarray(buf.byteLength - MAGIC.byteLength).equals(MAGIC))
    corrupt('no kv-store snapshot footer (truncated, or not a snapshot file)');
  const lenAt = buf.byteLength - tail;
  const len = buf.readUInt32BE(lenAt);
  if (len > MAX_FOOTER_BYTES || len > lenAt) corrupt('footer length out of range');
  const json = buf.subarray(lenAt - len, lenAt);
  if (
    !createHash('sha256')
      .update(json)
      .digest()
      .equals(buf.subarray(lenAt + 4, lenAt + 36))
  )
    corrupt('footer fails its sha256');
  let meta: unknown;
  try {
    meta = JSON.parse(json.toString('utf8'));
  } catch {
    corrupt('footer is not JSON');
  }
  const problem = metaProblem(meta);
  if (problem !== null) corrupt(`footer: ${problem}`);
  const m = meta as SnapshotMeta;
  if (m.bytes !== lenAt - len)
    corrupt(`footer says ${m.bytes} snapshot bytes, the file holds ${lenAt - len}`);
  return { meta: m, data: buf.subarray(0, lenAt - len) };
}

/**
 * Verifies snapshot bytes against their metadata: sha256, then the state machine's own decoder
 * (crc32, every record, key order), then that the content is at the claimed index with the claimed
 * key count. Returns the decoded content.
 */
export function verifySnapshotData(data: Buffer, meta: SnapshotMeta, name: string): SnapshotContent {
  const sha = createHash('sha256').update(data).digest('hex');
  if (sha !== meta.sha256) {
    throw new BackupError('corrupt', `${name}: sha256 mismatch (recorded ${meta.sha256}, computed ${sha})`);
  }
  let content: SnapshotContent;
  try {
    content = decodeSnapshot(data);
  } catch (e) {
    throw new BackupError('corrupt', `${name}: ${(e as Error).message}`);
  }
  if (content.appliedIndex !== meta.index)
    throw new BackupError(
      'corrupt',
      `${name}: data is at index ${content.appliedIndex}, metadata says ${meta.index}`,
    );
  if (content.kvs.length !== meta.keys)
    throw new BackupError(
      'corrupt',
      `${name}: data holds ${content.kvs.length} keys, metadata says ${meta.keys}`,
    );
  return content;
}

export async function readSnapshotFile(
  path: string,
): Promise<{ meta: SnapshotMeta; data: Buffer; content: SnapshotContent }> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new BackupError('not-found', `cannot read ${path}: ${(e as Error).message}`);
  }
  const { meta, data } = parseSnapshotFile(buf, path);
  return { meta, data, content: verifySnapshotData(data, meta, path) };
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function metaProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null) return 'not an object';
  const m = v as Record<string, unknown>;
  if (m.format !== SNAPSHOT_FILE_FORMAT) return `unknown format ${String(m.format)}`;
  for (const k of ['index', 'term', 'takenAt', 'keys', 'bytes'] as const)
    if (!isIndex(m[k])) return `field ${k} is not a non-negative integer`;
  for (const k of ['clusterId', 'memberId'] as const)
    if (typeof m[k] !== 'string') return `field ${k} is not a string`;
  if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) return 'field sha256 is not a sha256';
  if (
    !Array.isArray(m.members) ||
    !m.members.every(
      (x: unknown) =>
        typeof x === 'object' &&
        x !== null &&
        ['id', 'peerUrl', 'clientUrl'].every((k) => typeof (x as Record<string, unknown>)[k] === 'string'),
    )
  )
    return 'field members is malformed';
  return null;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
