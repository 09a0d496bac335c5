// `kubectl kv backup CLUSTER [--name N] [--wait]`: creates a KVBackup (docs/adr/0075) and, with
// --wait, follows it to Completed or Failed. The operator asks the cluster's leader for a full
// snapshot; this command only writes and reads the KVBackup, so it needs create/get on kvbackups
// and get on kvclusters, never S3 credentials or member access.
import { API_VERSION } from '../types.ts';
import { BACKUP_KIND, BACKUP_PLURAL, type KVBackupStatus } from '../backup/types.ts';
import { ApiError, type Api } from './api.ts';
import type { BackupCommand } from './backup-args.ts';
import { readCluster } from './gather.ts';

export function backupsPath(namespace: string, name?: string): string {
  return `/apis/${API_VERSION}/namespaces/${encodeURIComponent(namespace)}/${BACKUP_PLURAL}${name !== undefined ? `/${encodeURIComponent(name)}` : ''}`;
}

/** CLUSTER-YYYYMMDD-HHMMSS (UTC): sorts by time, one a second. */
export function defaultBackupName(cluster: string, now: Date): string {
  const t = now.toISOString();
  return `${cluster.slice(0, 236)}-${t.slice(0, 10).replace(/-/g, '')}-${t.slice(11, 19).replace(/:/g, '')}`;
}

/** The KVBackup to create (pure). */
export function backupObject(namespace: string, cluster: string, name: string): Record<string, unknown> {
  return {
    apiVersion: API_VERSION,
    kind: BACKUP_KIND,
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/instance': cluster, 'app.kubernetes.io/created-by': 'kubectl-kv' },
    },
    spec: { cluster },
  };
}

export interface BackupOutcome {
  done: boolean;
  ok: boolean;
  line: string;
}

/** What a KVBackup's status says (pure): final or not, and the line to print. */
export function backupOutcome(name: string, s: KVBackupStatus | undefined): BackupOutcome {
  const phase = s?.phase ?? 'Pending';
  if (phase === 'Completed')
    return {
      done: true,
      ok: true,
      line:
        `kvbackup/${name} Completed: index ${s?.index ?? '?'}, ${s?.size ?? '?'} bytes, ` +
        `${s?.keys ?? '?'} keys, ${s?.object ?? '?'}`,
    };
  if (phase === 'Failed')
    return { done: true, ok: false, line: `kvbackup/${name} Failed: ${s?.message ?? 'no message'}` };
  return { done: false, ok: false, line: `kvbackup/${name} ${phase}${s?.message ? `: ${s.message}` : ''}` };
}

export async function runBackup(
  api: Api,
  namespace: string,
  cluster: string,
  cmd: BackupCommand,
  json: boolean,
  out: (line: string) => void,
  now: () => Date = () => new Date(),
): Promise<void> {
  const kv = await readCluster(api, namespace, cluster);
  if (kv.spec?.backup?.destination === undefined)
    throw new ApiError(
      409,
      `KVCluster ${namespace}/${cluster} has no spec.backup: a KVBackup writes to the bucket it names`,
    );
  const name = cmd.name ?? defaultBackupName(cluster, now());
  const res = await api.request('POST', backupsPath(namespace), backupObject(namespace, cluster, name));
  if (res.status === 409)
    throw new ApiError(409, `KVBackup ${namespace}/${name} already exists; choose another --name`);
  if (res.status < 200 || res.status > 299)
    throw new ApiError(res.status, `creating KVBackup ${namespace}/${name}: ${res.body.slice(0, 300)}`);
  if (!cmd.wait) {
    out(
      `kvbackup/${name} created for ${cluster} (follow it: kubectl get kvbackup ${name} -n ${namespace} -w)`,
    );
    return;
  }
  const deadline = Date.now() + cmd.waitTimeoutMs;
  let last = '';
  for (;;) {
    const b = await api.get<{ status?: KVBackupStatus }>(backupsPath(namespace, name));
    const o = backupOutcome(name, b.status);
    if (o.done) {
      out(json ? JSON.stringify({ name, namespace, cluster, ...b.status }, null, 2) : o.line);
      if (!o.ok) throw new ApiError(0, o.line);
      return;
    }
    if (o.line !== last && !json) out(o.line);
    last = o.line;
    if (Date.now() > deadline)
      throw new ApiError(
        0,
        `${o.line} after ${Math.round(cmd.waitTimeoutMs / 1000)} s; it goes on without us`,
      );
    await new Promise((r) => setTimeout(r, 1000));
  }
}
