// A forced new configuration requested over HTTP (POST /v1/cluster/force-new-cluster) is carried
// out at the next start, before Raft runs (docs/adr/0077): the request file is read, the forced
// configuration written in one synced batch, then the file is removed. A crash in between leaves
// the file, and the next start finds the work done (same request id in the log) and only removes it.
import type { Logger } from '../logger.ts';
import type { DiskStorage } from '../storage/disk-storage.ts';
import { kvError } from '../errors.ts';
import {
  clearForceRequest,
  forceNewCluster,
  readForceRequest,
  writeForceRequest,
} from './force-new-cluster.ts';

export async function runRequestedForce(
  storage: DiskStorage,
  opts: { id: string; dataDir: string },
  log: Logger,
): Promise<void> {
  const req = await readForceRequest(opts.dataDir);
  if (req === null) return;
  log.warn('force-new-cluster requested', { requestId: req.requestId, requestedAt: req.requestedAt });
  await forceNewCluster(storage, opts.id, req.requestId, log);
  await clearForceRequest(opts.dataDir);
}

/** The member side of POST /v1/cluster/force-new-cluster: refuse unless quorum is lost here, else record it. */
export async function recordForceRequest(
  node: {
    raftStatus(): {
      id: string;
      leader: string | null;
      confState: { voters: string[] };
      lastIndex: number;
      commit: number;
    };
  },
  dataDir: string,
  requestId: string,
  log: Logger,
): Promise<{ member: string; lastIndex: number; commitIndex: number }> {
  const s = node.raftStatus();
  if (s.leader !== null)
    throw kvError(
      'force-refused',
      `member ${s.id} ${s.leader === s.id ? 'leads' : `follows leader ${s.leader}`}: the cluster has a quorum; change membership instead`,
    );
  if (!s.confState.voters.includes(s.id))
    throw kvError('force-refused', `member ${s.id} is not a voter; force a new cluster from a voter`);
  await writeForceRequest(dataDir, requestId);
  log.warn('force-new-cluster request recorded; restarting to carry it out', {
    requestId,
    lastIndex: s.lastIndex,
    commitIndex: s.commit,
  });
  return { member: s.id, lastIndex: s.lastIndex, commitIndex: s.commit };
}
