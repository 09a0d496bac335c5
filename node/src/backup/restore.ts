// Offline restore: builds the data directory of one member of a NEW cluster from a state (a saved
// snapshot, or an archived snapshot plus replayed entries). The directory is written through
// DiskStorage itself, the way a follower installs a snapshot from its leader: meta, hard state at
// the state's index and term, the snapshot record and file. `kv-store -id ID -data-dir DIR -peers
// ...` then starts from it like any restarted member, and the members elect a leader at term+1.
//
// The new cluster's id is derived from the source state and the new membership (the same on every
// member restored from the same source, different from the source's), so the source's members and
// any member of another restore are refused by the transport (cluster-id-mismatch).
//
// Expiry: the restored state's TTLs count from the restore point. A key with 30 s left at the point
// (the snapshot's capture time, or the archived time of the last replayed entry) has 30 s left when
// the directory is written; keys already expired at the point are left out (no read could see them).
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { encodeSnapshotChunks, type SnapshotContent } from '../kv/snapshot-codec.ts';
import type { KeyValue, Member } from '../kv/types.ts';
import { DiskStorage } from '../storage/disk-storage.ts';
import { BackupError } from './errors.ts';

export interface RestorePoint {
  content: SnapshotContent;
  index: number;
  term: number;
  sourceClusterId: string;
  /** Identifies the source state (sha256 of a snapshot, plus the replayed range): feeds the new cluster id. */
  fingerprint: string;
  /** Wall-clock ms the state is as of: remaining TTLs are counted from here. */
  pointInTime: number;
}

export interface RestoreTarget {
  dataDir: string;
  memberId: string;
  /** Every member of the new cluster, this one included. */
  members: Member[];
  /** Mixed into the new cluster id: two restores of one source into one membership stay apart. */
  clusterToken?: string;
  /** Wall clock at restore (default Date.now()). */
  now?: number;
}

export interface RestoreResult {
  clusterId: string;
  index: number;
  term: number;
  keys: number;
  /** Keys in the source state whose expiry had passed at the restore point. */
  expiredDropped: number;
}

export function restoredClusterId(point: RestorePoint, members: readonly Member[], token = ''): string {
  const h = createHash('sha256');
  h.update(
    `kv-store/restore/v1\n${token}\n${point.sourceClusterId}\n${point.index}\n${point.term}\n${point.fingerprint}\n`,
  );
  for (const m of [...members].sort((a, b) => (a.id < b.id ? -1 : 1))) h.update(`${m.id}=${m.peerUrl}\n`);
  return h.digest('hex').slice(0, 16);
}

/** The keys as the restored cluster holds them: TTLs shifted to count from now, expired ones left out. */
export function shiftExpiries(
  kvs: readonly KeyValue[],
  pointInTime: number,
  now: number,
): { kvs: KeyValue[]; dropped: number } {
  const out: KeyValue[] = [];
  let dropped = 0;
  for (const kv of kvs) {
    if (kv.expiresAt === undefined) {
      out.push(kv);
    } else if (kv.expiresAt <= pointInTime) {
      dropped++;
    } else {
      out.push({ ...kv, expiresAt: kv.expiresAt - pointInTime + now });
    }
  }
  return { kvs: out, dropped };
}

async function assertEmptyDir(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (names.length > 0) {
    throw new BackupError(
      'data-dir-not-empty',
      `data directory ${dir} is not empty (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''}); a restore only writes into an empty or missing directory`,
    );
  }
}

export async function restoreDataDir(point: RestorePoint, target: RestoreTarget): Promise<RestoreResult> {
  const { dataDir, memberId, members } = target;
  if (!members.some((m) => m.id === memberId))
    throw new BackupError('invalid-target', `member ${memberId} is not in the new membership`);
  await assertEmptyDir(dataDir);
  const now = target.now ?? Date.now();
  const { kvs, dropped } = shiftExpiries(point.content.kvs, point.pointInTime, now);
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : 1));
  const byKey = new Map(kvs.map((kv) => [kv.key, kv]));
  // Each chunk is valid only until the next is asked for (the encoder reuses its buffer): copy as it comes.
  const chunks: Buffer[] = [];
  for (const chunk of encodeSnapshotChunks(
    point.index,
    sorted,
    [kvs.map((kv) => kv.key)],
    (k) => byKey.get(k)!,
    point.content.auth,
  ))
    chunks.push(Buffer.from(chunk));
  const data = Buffer.concat(chunks);
  // The bytes as assembled must carry the checksum the encoder computed chunk by chunk (the member
  // verifies it again when it loads them), before anything is written.
  if (crc32(data.subarray(0, data.byteLength - 4)) !== data.readUInt32BE(data.byteLength - 4))
    throw new Error('restore: the re-encoded state fails its checksum');
  const clusterId = restoredClusterId(point, members, target.clusterToken);
  const voters = sorted.map((m) => m.id);
  const storage = await DiskStorage.open(dataDir, {
    memberId,
    clusterId,
    bootstrap: { voters, learners: [] },
    origin: 'restore',
  });
  try {
    await storage.persist({
      entries: [],
      hardState: { term: point.term, vote: null, commit: point.index },
      snapshot: {
        metadata: { index: point.index, term: point.term, confState: { voters, learners: [] } },
        data,
      },
    });
    await storage.flush();
  } finally {
    await storage.close();
  }
  return { clusterId, index: point.index, term: point.term, keys: kvs.length, expiredDropped: dropped };
}
