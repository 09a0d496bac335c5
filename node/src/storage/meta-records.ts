// The small msgpack records of DiskStorage (meta, hard state, log start,
// snapshot record): keys, shapes and validating decoders. A record with a good
// checksum but an unexpected shape (e.g. written by a future version) must not
// be half-trusted.
import { Packr } from 'msgpackr';
import type { HardState, SnapshotMetadata } from '../raft/types.ts';
import { CorruptionError, DataDirError } from './errors.ts';
import { metaKey, openRecord, printableKey } from './records.ts';
import type { SnapshotFile } from './snapshot-files.ts';

// 2: snapshot data in files (snapshot-files.ts) instead of chunk records.
export const FORMAT_VERSION = 2;

export const KEY_META = metaKey('meta');
export const KEY_HARD_STATE = metaKey('hard-state');
export const KEY_SNAPSHOT = metaKey('snapshot');
export const KEY_LOG_START = metaKey('log-start');

export const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export interface MetaRecord {
  formatVersion: number;
  memberId: string;
  clusterId: string | null;
  removed: boolean;
  /**
   * 'restore': built by `kvctl snapshot restore`/`kvctl restore`, which chose the cluster id (a new
   * one, so the source's members are refused); the id the node derives from its -peers flags is
   * then not compared with it. Absent for directories a member initialised itself.
   */
  origin?: 'restore';
  /**
   * Set when this member, joining with an empty directory, found the cluster already counted it as
   * a voter (its former directory was wiped, ADR 0079): it never starts normally again.
   */
  lostReason?: string;
}

export interface SnapshotRecord {
  metadata: SnapshotMetadata;
  /** null: the snapshot has no data (the bootstrap snapshot at index 0). */
  file: SnapshotFile | null;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function unpackAt(key: Buffer, payload: Buffer): unknown {
  try {
    return packr.unpack(payload);
  } catch (err) {
    throw new CorruptionError(printableKey(key), `undecodable record (${asError(err).message})`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function decodeMeta(raw: Buffer): MetaRecord {
  const v = unpackAt(KEY_META, openRecord(KEY_META, raw));
  if (!isRecord(v) || typeof v.formatVersion !== 'number') {
    throw new DataDirError('unknown-format', 'data directory metadata is not in a known format');
  }
  if (
    typeof v.memberId !== 'string' ||
    !(v.clusterId === null || typeof v.clusterId === 'string') ||
    typeof v.removed !== 'boolean' ||
    !(v.origin === undefined || v.origin === 'restore') ||
    !(v.lostReason === undefined || typeof v.lostReason === 'string')
  ) {
    if (v.formatVersion !== FORMAT_VERSION) {
      throw new DataDirError(
        'unknown-format',
        `unknown data directory format version ${String(v.formatVersion)}`,
      );
    }
    throw new CorruptionError(printableKey(KEY_META), 'malformed metadata');
  }
  return {
    formatVersion: v.formatVersion,
    memberId: v.memberId,
    clusterId: v.clusterId,
    removed: v.removed,
    ...(v.origin === 'restore' ? { origin: 'restore' as const } : {}),
    ...(typeof v.lostReason === 'string' ? { lostReason: v.lostReason } : {}),
  };
}

export function decodeHardState(payload: Buffer): HardState {
  const v = unpackAt(KEY_HARD_STATE, payload);
  if (
    !isRecord(v) ||
    !isIndex(v.term) ||
    !isIndex(v.commit) ||
    !(v.vote === null || typeof v.vote === 'string') ||
    !(v.joining === undefined || typeof v.joining === 'boolean')
  ) {
    throw new CorruptionError(printableKey(KEY_HARD_STATE), 'malformed hard state');
  }
  return { term: v.term, vote: v.vote, commit: v.commit, ...(v.joining === true ? { joining: true } : {}) };
}

export function decodeLogStart(payload: Buffer): { index: number; term: number } {
  const v = unpackAt(KEY_LOG_START, payload);
  if (!isRecord(v) || !isIndex(v.index) || !isIndex(v.term)) {
    throw new CorruptionError(printableKey(KEY_LOG_START), 'malformed log start');
  }
  return { index: v.index, term: v.term };
}

function isIdList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function isSnapshotFile(v: unknown): v is SnapshotFile {
  // A plain file name: a record must never make us read outside the snapshot directory.
  return (
    isRecord(v) &&
    typeof v.file === 'string' &&
    /^[0-9a-f]{16}-[0-9a-f]{8}\.snap$/.test(v.file) &&
    isIndex(v.size) &&
    isIndex(v.crc)
  );
}

export function decodeSnapshotRecord(payload: Buffer): SnapshotRecord {
  const v = unpackAt(KEY_SNAPSHOT, payload);
  const m = isRecord(v) ? v.metadata : undefined;
  const cs = isRecord(m) ? m.confState : undefined;
  if (
    !isRecord(v) ||
    !isRecord(m) ||
    !isRecord(cs) ||
    !isIndex(m.index) ||
    !isIndex(m.term) ||
    !isIdList(cs.voters) ||
    !isIdList(cs.learners) ||
    !(v.file === null || isSnapshotFile(v.file))
  ) {
    throw new CorruptionError(printableKey(KEY_SNAPSHOT), 'malformed snapshot record');
  }
  return {
    metadata: { index: m.index, term: m.term, confState: { voters: cs.voters, learners: cs.learners } },
    file: v.file === null ? null : { file: v.file.file, size: v.file.size, crc: v.file.crc },
  };
}
