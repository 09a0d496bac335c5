// The archive's layout in the bucket (docs/adr/0070). Every object is written once under a key
// that names what it holds, never overwritten (object-lock buckets work):
//   PREFIX/snapshots/<index 16 hex>.snap          a saved snapshot (snapshot-file.ts format)
//   PREFIX/segments/<first 16 hex>-<last 16 hex>.seg  committed entries first..last
// Each object carries x-amz-meta-sha256 (hex sha256 of its body); a segment's body also holds the
// sha256 of its entries and a snapshot's footer the sha256 of its state, so a copy that lost its
// metadata is still checked. Two uploaders (an old and a new leader) may upload overlapping
// ranges: committed entries never change, so the restore keeps one entry per index (and refuses
// two different ones).
import { createHash } from 'node:crypto';
import { Packr } from 'msgpackr';
import { BackupError } from './errors.ts';

/** One source of truth for the archiving defaults (cli/flags.ts and the archiver read these). */
export const ARCHIVE_DEFAULTS = {
  /** Recovery-point objective: committed writes reach the bucket within about this long. */
  rpoMs: 10_000,
  /** A full snapshot this often (and when entries needed were compacted). */
  fullEveryMs: 60 * 60_000,
  /** Full snapshots kept (with the segments after the oldest kept). */
  keepFull: 7,
  maxSegmentEntries: 20_000,
  maxSegmentBytes: 16 << 20,
  maxBackoffMs: 30_000,
} as const;

export const SNAPSHOTS = 'snapshots/';
export const SEGMENTS = 'segments/';
export const SEGMENT_FORMAT = 1;

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export interface ArchivedEntry {
  index: number;
  term: number;
  type: number;
  data: Uint8Array;
  /** Wall-clock ms of the entry: the proposer's stamp (writes carry one), else the archiver's clock. */
  time: number;
}

const hex16 = (n: number): string => n.toString(16).padStart(16, '0');

export function snapshotKey(prefix: string, index: number): string {
  return `${prefix}${SNAPSHOTS}${hex16(index)}.snap`;
}

export function segmentKey(prefix: string, first: number, last: number): string {
  return `${prefix}${SEGMENTS}${hex16(first)}-${hex16(last)}.seg`;
}

export function parseSnapshotKey(prefix: string, key: string): number | null {
  const m = new RegExp(`^${escape(prefix + SNAPSHOTS)}([0-9a-f]{16})\\.snap$`).exec(key);
  return m ? parseInt(m[1]!, 16) : null;
}

export function parseSegmentKey(prefix: string, key: string): { first: number; last: number } | null {
  const m = new RegExp(`^${escape(prefix + SEGMENTS)}([0-9a-f]{16})-([0-9a-f]{16})\\.seg$`).exec(key);
  if (!m) return null;
  const first = parseInt(m[1]!, 16);
  const last = parseInt(m[2]!, 16);
  return first <= last ? { first, last } : null;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export function encodeSegment(clusterId: string, entries: ArchivedEntry[]): Buffer {
  const rows = entries.map((e) => [
    e.index,
    e.term,
    e.type,
    e.time,
    Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength),
  ]);
  const body = packr.pack(rows);
  return packr.pack({
    format: SEGMENT_FORMAT,
    clusterId,
    first: entries[0]!.index,
    last: entries.at(-1)!.index,
    sha256: sha256(body),
    body,
  });
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Decodes and checks a segment object (inner checksum, shape, contiguous indexes, the range its key names). */
export function decodeSegment(
  buf: Uint8Array,
  name: string,
  want: { first: number; last: number },
): { clusterId: string; entries: ArchivedEntry[] } {
  const corrupt = (why: string): never => {
    throw new BackupError('corrupt', `segment ${name}: ${why}`);
  };
  let v: unknown;
  try {
    v = packr.unpack(buf);
  } catch {
    corrupt('undecodable');
  }
  const s = v as Record<string, unknown>;
  if (
    typeof s !== 'object' ||
    s === null ||
    s.format !== SEGMENT_FORMAT ||
    !(s.body instanceof Uint8Array) ||
    typeof s.clusterId !== 'string'
  )
    corrupt('not a segment object');
  const body = s.body as Uint8Array;
  if (sha256(body) !== s.sha256) corrupt('entries fail their sha256');
  if (s.first !== want.first || s.last !== want.last)
    corrupt(`holds ${String(s.first)}..${String(s.last)}, its name says ${want.first}..${want.last}`);
  let rows: unknown;
  try {
    rows = packr.unpack(body);
  } catch {
    corrupt('entries undecodable');
  }
  if (!Array.isArray(rows) || rows.length !== want.last - want.first + 1) corrupt('wrong number of entries');
  const entries = (rows as unknown[]).map((r, i): ArchivedEntry => {
    if (
      !Array.isArray(r) ||
      r.length !== 5 ||
      !isIndex(r[0]) ||
      !isIndex(r[1]) ||
      !isIndex(r[2]) ||
      typeof r[3] !== 'number' ||
      !(r[4] instanceof Uint8Array)
    )
      corrupt(`entry ${i} malformed`);
    const row = r as [number, number, number, number, Uint8Array];
    if (row[0] !== want.first + i) corrupt(`entry ${i} has index ${row[0]}, expected ${want.first + i}`);
    return { index: row[0], term: row[1], type: row[2], time: row[3], data: row[4] };
  });
  return { clusterId: s.clusterId as string, entries };
}

/** `s3://bucket/prefix` → bucket and a prefix that is empty or ends with '/'. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new BackupError('invalid-target', `"${url}" is not s3://BUCKET[/PREFIX]`);
  let prefix = m[2] ?? '';
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  return { bucket: m[1]!, prefix };
}
