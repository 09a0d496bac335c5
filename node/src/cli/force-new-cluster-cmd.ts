// `kv-store force-new-cluster -data-dir DIR -id ID [-request-id ID]`: the offline form of the forced
// new configuration (docs/adr/0077), for a member stopped by hand (outside Kubernetes). It opens
// the data directory (refusing corrupt or lost data as a start would), rewrites the membership to
// this member alone in one synced batch, prints what it did and exits; start the member normally
// afterwards. Running it again does nothing (already alone, or same request id).
import { randomBytes } from 'node:crypto';
import { DiskStorage } from '../storage/disk-storage.ts';
import { ForceNewClusterError, forceNewCluster, latestConfState } from '../server/force-new-cluster.ts';
import { CorruptionError, DataDirError } from '../storage/errors.ts';
import { IDENTITY_FILE, hasIdentity } from '../storage/identity.ts';

export const FORCE_USAGE =
  'usage: kv-store force-new-cluster -data-dir DIR -id MEMBER [-request-id ID]\n' +
  '  Rewrites the membership stored in DIR to MEMBER alone, keeping the cluster id and every entry.\n' +
  '  Only after a permanent loss of quorum, on the most up-to-date survivor, with the process stopped;\n' +
  '  the other old members must never start again with their old data.\n';

export async function runForceNewCluster(args: string[], out: (line: string) => void): Promise<number> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    const k = args[i]!.replace(/^--?/, '');
    const v = args[i + 1];
    if (!['data-dir', 'id', 'request-id'].includes(k) || v === undefined) {
      out(`kv-store force-new-cluster: bad argument ${JSON.stringify(args[i])}\n${FORCE_USAGE}`);
      return 2;
    }
    flags.set(k, v);
  }
  const dir = flags.get('data-dir');
  const id = flags.get('id');
  if (!dir || !id) {
    out(FORCE_USAGE);
    return 2;
  }
  const requestId = flags.get('request-id') ?? `offline-${randomBytes(6).toString('hex')}`;
  // Never initialise a new directory here: there must be a member's data to force.
  if (!(await hasIdentity(dir).catch(() => false))) {
    out(`kv-store force-new-cluster: ${dir} holds no member's data (no ${IDENTITY_FILE})`);
    return 1;
  }
  let storage: DiskStorage;
  try {
    storage = await DiskStorage.open(dir, { memberId: id });
  } catch (e) {
    if (e instanceof DataDirError || e instanceof CorruptionError) {
      out(`kv-store force-new-cluster: cannot use ${dir}: ${e.message}`);
      return 1;
    }
    throw e;
  }
  try {
    const log = {
      info: (msg: string, f?: Record<string, unknown>) => out(`${msg} ${JSON.stringify(f ?? {})}`),
      warn: (msg: string, f?: Record<string, unknown>) => out(`${msg} ${JSON.stringify(f ?? {})}`),
    };
    try {
      await forceNewCluster(storage, id, requestId, log);
    } catch (e) {
      if (!(e instanceof ForceNewClusterError)) throw e;
      out(`kv-store force-new-cluster: refused: ${e.message}`);
      return 1;
    }
    const cs = latestConfState(storage);
    out(
      `membership now: voters ${cs.voters.join(',')}; learners ${cs.learners.join(',') || 'none'}; cluster id ${storage.meta.clusterId ?? '(none)'}`,
    );
  } finally {
    await storage.close();
  }
  return 0;
}
