// A forced new configuration requested over HTTP (POST /v1/cluster/force-new-cluster) is carried
// out at the next start, before Raft runs (docs/adr/0077): the request file is read, the forced
// configuration written in one synced batch, then the file is removed. A crash in between leaves
// the file, and the next start finds the work done (same request id in the log) and only removes it.
import type { Logger } from '../logger.ts';
import type { DiskStorage } from '../storage/disk-storage.ts';
import { clearForceRequest, forceNewCluster, readForceRequest } from './force-new-cluster.ts';

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
