// Reads the archive back (docs/adr/0070): picks the newest full snapshot at or before the target,
// fetches the segments that continue it, verifies every object (sha256 in its metadata, the
// checksum inside it, the range its key names), checks the chain is contiguous, and replays the
// entries onto the snapshot's state with the state machine itself. A missing or damaged object,
// or a gap, is refused with an error naming it; nothing is guessed.
import { decodeCommand } from '../kv/commands.ts';
import { decodeSnapshot } from '../kv/snapshot-codec.ts';
import { KvStateMachine } from '../kv/state-machine.ts';
import { EntryType } from '../raft/types.ts';
import {
  decodeSegment,
  parseSegmentKey,
  parseSnapshotKey,
  SEGMENTS,
  SNAPSHOTS,
  type ArchivedEntry,
} from './archive-layout.ts';
import { BackupError } from './errors.ts';
import type { RestorePoint } from './restore.ts';
import type { ObjectStore } from './s3.ts';
import { parseSnapshotFile, verifySnapshotData, type SnapshotMeta } from './snapshot-file.ts';

export interface RestoreGoal {
  /** Restore the state right after this index. */
  toIndex?: number;
  /** Restore the longest log prefix whose entries are stamped at or before this time (ms). */
  toTime?: number;
}

export interface ArchiveIndex {
  snapshots: { key: string; index: number }[];
  segments: { key: string; first: number; last: number }[];
}

export async function listArchive(store: ObjectStore): Promise<ArchiveIndex> {
  const prefix = store.loc.prefix;
  const snapshots = (await store.list(SNAPSHOTS))
    .map(({ key }) => ({ key, index: parseSnapshotKey(prefix, key) }))
    .filter((s): s is { key: string; index: number } => s.index !== null)
    .sort((a, b) => a.index - b.index);
  const segments = (await store.list(SEGMENTS))
    .map(({ key }) => ({ key, range: parseSegmentKey(prefix, key) }))
    .filter((s) => s.range !== null)
    .map((s) => ({ key: s.key, first: s.range!.first, last: s.range!.last }))
    .sort((a, b) => a.first - b.first || a.last - b.last);
  return { snapshots, segments };
}

/**
 * The segments that carry (from, to] without a gap, fewest first-come; throws naming the first
 * missing range. `to` undefined: as far as the segments reach contiguously, and a later segment
 * beyond a gap is an error (the chain is broken, not finished).
 */
export function chainSegments(
  segments: ArchiveIndex['segments'],
  from: number,
  to: number | undefined,
): ArchiveIndex['segments'] {
  const out: ArchiveIndex['segments'] = [];
  let reached = from;
  for (;;) {
    if (to !== undefined && reached >= to) return out;
    // Of the segments that start at or before the next needed index, the one reaching furthest.
    let best: ArchiveIndex['segments'][number] | undefined;
    for (const s of segments)
      if (s.first <= reached + 1 && s.last > reached && (!best || s.last > best.last)) best = s;
    if (!best) {
      const later = segments.find((s) => s.first > reached + 1);
      if (to === undefined && later === undefined) return out;
      const until = to !== undefined ? Math.min(to, (later?.first ?? to + 1) - 1) : later!.first - 1;
      throw new BackupError(
        'broken-chain',
        `the archive has no segment with entries ${reached + 1}..${until} (needed after ${from === reached ? `the snapshot at ${from}` : `entry ${reached}`}${to !== undefined ? ` to reach ${to}` : ''})`,
      );
    }
    out.push(best);
    reached = best.last;
  }
}

export interface ReplayedState {
  point: RestorePoint;
  snapshotIndex: number;
  replayed: number;
  /** The newest index the archive holds (for reporting). */
  archivedIndex: number;
}

export async function stateFromArchive(store: ObjectStore, goal: RestoreGoal): Promise<ReplayedState> {
  const idx = await listArchive(store);
  if (idx.snapshots.length === 0)
    throw new BackupError(
      'broken-chain',
      `no full snapshot under s3://${store.loc.bucket}/${store.loc.prefix}${SNAPSHOTS}`,
    );
  const archivedIndex = Math.max(idx.snapshots.at(-1)!.index, ...idx.segments.map((s) => s.last));
  // Newest snapshot that does not pass the target (for a time: read the candidates' footers).
  let chosen: { key: string; meta: SnapshotMeta; data: Buffer } | undefined;
  for (let i = idx.snapshots.length - 1; i >= 0 && !chosen; i--) {
    const s = idx.snapshots[i]!;
    if (goal.toIndex !== undefined && s.index > goal.toIndex) continue;
    const { meta, data } = parseSnapshotFile(await store.getVerified(s.key), s.key);
    if (meta.index !== s.index) throw new BackupError('corrupt', `${s.key} holds the state at ${meta.index}`);
    if (goal.toTime !== undefined && meta.takenAt > goal.toTime) continue;
    chosen = { key: s.key, meta, data };
  }
  if (!chosen) {
    throw new BackupError(
      'broken-chain',
      `no full snapshot at or before ${goal.toIndex !== undefined ? `index ${goal.toIndex}` : new Date(goal.toTime!).toISOString()} (oldest: index ${idx.snapshots[0]!.index})`,
    );
  }
  const { meta } = chosen;
  verifySnapshotData(chosen.data, meta, chosen.key);
  if (goal.toIndex !== undefined && goal.toIndex > archivedIndex)
    throw new BackupError(
      'broken-chain',
      `index ${goal.toIndex} is beyond the archive, which reaches ${archivedIndex}`,
    );
  const chain = chainSegments(idx.segments, meta.index, goal.toIndex);
  const sm = new KvStateMachine();
  sm.restore(chosen.data);
  let term = meta.term;
  let time = meta.takenAt;
  let replayed = 0;
  let lastIndex = meta.index;
  outer: for (const seg of chain) {
    const { clusterId, entries } = decodeSegment(await store.getVerified(seg.key), seg.key, seg);
    if (clusterId !== meta.clusterId)
      throw new BackupError(
        'corrupt',
        `segment ${seg.key} is from cluster ${clusterId}, the snapshot from ${meta.clusterId}`,
      );
    for (const e of entries) {
      if (e.index <= lastIndex) continue; // an overlap another uploader wrote: the same committed entry
      if (goal.toIndex !== undefined && e.index > goal.toIndex) break outer;
      if (goal.toTime !== undefined && e.time > goal.toTime) break outer;
      applyEntry(sm, e);
      term = e.term;
      time = e.time;
      lastIndex = e.index;
      replayed++;
    }
  }
  if (goal.toIndex !== undefined && lastIndex !== goal.toIndex)
    throw new BackupError('broken-chain', `the chain reaches ${lastIndex}, not ${goal.toIndex}`);
  const state = decodeSnapshot(sm.snapshot());
  return {
    point: {
      content: state,
      index: lastIndex,
      term,
      sourceClusterId: meta.clusterId,
      fingerprint: `${meta.sha256}:${lastIndex}`,
      // State as of the target time, or of the last replayed write.
      pointInTime: goal.toTime ?? time,
    },
    snapshotIndex: meta.index,
    replayed,
    archivedIndex,
  };
}

function applyEntry(sm: KvStateMachine, e: ArchivedEntry): void {
  // Membership changes only move addresses, which the restore replaces; empty entries carry nothing.
  if (e.type === EntryType.ConfChange || e.data.byteLength === 0) {
    sm.advanceApplied(e.index);
    return;
  }
  let cmd;
  try {
    cmd = decodeCommand(e.data);
  } catch (err) {
    throw new BackupError('corrupt', `archived entry ${e.index} does not decode: ${(err as Error).message}`);
  }
  sm.apply(e.index, cmd);
}
