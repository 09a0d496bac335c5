// KVBackup: an on-demand full snapshot to the cluster's bucket (docs/adr/0075). The operator asks
// the cluster's leader (POST /v1/cluster/backup, root token, cluster CA); the leader's archiver
// captures its applied state and uploads it with the credentials the members already hold, so the
// operator needs neither S3 access nor a Job, and it works the same on every kubelet. planBackup
// decides (pure); KVBackupReconciler carries it out and writes the status.
import type { KVCluster } from '../types.ts';
import { API_VERSION, KIND, withDefaults } from '../types.ts';
import type { Kube } from '../kube/kube.ts';
import type { Logger } from '../observability/log.ts';
import type { LeaderAccess } from '../reconcile/reconciler.ts';
import { NodeApiError } from '../reconcile/nodeclient.ts';
import type { KVBackup, KVBackupStatus } from './types.ts';
import { BACKUP_KIND } from './types.ts';

/** Attempts before a KVBackup is Failed (a leader change or an S3 hiccup is retried). */
export const MAX_ATTEMPTS = 3;
/** The leader's archiver waits up to 120 s for the upload; the request a little longer. */
export const BACKUP_REQUEST_TIMEOUT_MS = 130_000;

export type BackupStep =
  | { kind: 'done' }
  | { kind: 'fail'; message: string }
  /** Not yet possible; check again later (the status says why). */
  | { kind: 'wait'; message: string }
  | { kind: 'take'; attempt: number };

export function planBackup(b: KVBackup, cluster: KVCluster | null, leaderKnown: boolean): BackupStep {
  const phase = b.status?.phase;
  if (phase === 'Completed' || phase === 'Failed') return { kind: 'done' };
  if (cluster === null) return { kind: 'wait', message: `KVCluster ${b.spec.cluster} not found` };
  if (withDefaults(cluster.spec).backup === undefined)
    return {
      kind: 'fail',
      message: `KVCluster ${b.spec.cluster} has no spec.backup (no bucket to write to)`,
    };
  if (!leaderKnown) return { kind: 'wait', message: `waiting for a leader of ${b.spec.cluster}` };
  const attempts = b.status?.attempts ?? 0;
  if (attempts >= MAX_ATTEMPTS)
    return { kind: 'fail', message: `${attempts} attempts failed: ${b.status?.message ?? ''}` };
  return { kind: 'take', attempt: attempts + 1 };
}

export interface KVBackupDeps {
  kube: Kube;
  log: Logger;
  leaderAccess(namespace: string, name: string): LeaderAccess | null;
  now?: () => Date;
}

export class KVBackupReconciler {
  private readonly d: KVBackupDeps;
  constructor(d: KVBackupDeps) {
    this.d = d;
  }

  /** One step; the result is when to look again (0: never). */
  async reconcile(namespace: string, name: string): Promise<{ requeueAfterMs: number }> {
    const { kube, log } = this.d;
    const now = (this.d.now ?? (() => new Date()))();
    const b = (await kube.get(API_VERSION, BACKUP_KIND, namespace, name)) as unknown as KVBackup | null;
    if (b === null) return { requeueAfterMs: 0 };
    const cluster = (await kube.get(
      API_VERSION,
      KIND,
      namespace,
      b.spec.cluster,
    )) as unknown as KVCluster | null;
    const access = cluster === null ? null : this.d.leaderAccess(namespace, b.spec.cluster);
    // The access must be this incarnation's (a cluster deleted and recreated under the same name).
    const leader = access !== null && access.uid === cluster?.metadata.uid ? access : null;
    const step = planBackup(b, cluster, leader !== null);
    const prev = b.status ?? {};
    const write = (s: KVBackupStatus) => kube.applyBackupStatus?.(b, s);
    switch (step.kind) {
      case 'done':
        return { requeueAfterMs: 0 };
      case 'wait':
        await write({ ...prev, phase: 'Pending', message: step.message });
        return { requeueAfterMs: 2000 };
      case 'fail':
        await write({ ...prev, phase: 'Failed', message: step.message, completedAt: now.toISOString() });
        if (cluster !== null)
          await kube.event?.(cluster, 'Warning', 'BackupFailed', `${name}: ${step.message}`);
        return { requeueAfterMs: 0 };
      case 'take': {
        const startedAt = prev.startedAt ?? now.toISOString();
        await write({
          ...prev,
          phase: 'Running',
          startedAt,
          attempts: step.attempt,
          message: 'taking a full snapshot',
        });
        try {
          const a = await leader!.admin.withTimeout(BACKUP_REQUEST_TIMEOUT_MS).backupNow(leader!.url);
          const done = (this.d.now ?? (() => new Date()))().toISOString();
          await write({
            phase: 'Completed',
            index: a.index,
            keys: a.keys,
            size: a.bytes,
            object: a.object,
            takenAt: a.takenAt,
            startedAt,
            completedAt: done,
            attempts: step.attempt,
            message: `snapshot at index ${a.index} (${a.keys} keys) uploaded`,
          });
          await kube.event?.(
            cluster!,
            'Normal',
            'BackupCompleted',
            `${name}: full snapshot at index ${a.index} (${a.keys} keys, ${a.bytes} bytes) to ${a.object}`,
          );
          log.info('on-demand backup done', {
            backup: `${namespace}/${name}`,
            index: a.index,
            object: a.object,
          });
          return { requeueAfterMs: 0 };
        } catch (err) {
          const message =
            err instanceof NodeApiError ? `${err.code}: ${err.message}` : `error: ${(err as Error).message}`;
          log.warn('on-demand backup failed', {
            backup: `${namespace}/${name}`,
            attempt: step.attempt,
            error: err,
          });
          await write({ ...prev, phase: 'Running', startedAt, attempts: step.attempt, message });
          return { requeueAfterMs: 3000 };
        }
      }
    }
  }
}
