// `kubectl kv restore NEW --from CLUSTER|s3://BUCKET/PREFIX [--to-time T | --to-index N] ...`:
// creates a new KVCluster whose spec.bootstrap.recovery restores the archive (docs/adr/0075).
// From a KVCluster it takes that cluster's bucket, endpoint, region and credentials Secret, and its
// TLS, auth, network, image, storage, tuning and resources, so the restored cluster is configured
// like the source; the source's root Secret becomes recovery.rootSecret (the restored state keeps
// the source's users). spec.backup is not copied: two clusters must not archive to one prefix.
// --dry-run prints the object and creates nothing.
import { dumpYaml } from '@kubernetes/client-node';
import type { S3Destination } from '../backup/types.ts';
import { API_VERSION, KIND, PLURAL, withDefaults, type KVCluster } from '../types.ts';
import { ApiError, type Api } from './api.ts';
import type { RestoreCommand } from './backup-args.ts';
import { readCluster } from './gather.ts';

export interface RestorePlan {
  object: Record<string, unknown>;
  /** What the user should know (printed to stderr). */
  notes: string[];
}

/** Spec fields copied from a source KVCluster as the user wrote them (defaults stay defaults). */
const COPIED = [
  'image',
  'imagePullPolicy',
  'storage',
  'tuning',
  'resources',
  'tls',
  'auth',
  'network',
] as const;

/** Pure: the KVCluster to create. `source` is the KVCluster --from names (null for an s3:// URL). */
export function restoreObject(
  name: string,
  namespace: string,
  cmd: RestoreCommand,
  source: KVCluster | null,
): RestorePlan {
  const notes: string[] = [];
  let dest: S3Destination;
  const spec: Record<string, unknown> = {};
  let rootSecret = cmd.rootSecret;
  if (source === null) {
    dest = { url: cmd.from, credentialsSecret: cmd.credentialsSecret! };
    if (rootSecret === undefined)
      notes.push(
        'no --root-secret: if the source cluster had auth on (the default), give its root Secret (<source>-root) ' +
          'or the operator cannot log in to the restored cluster',
      );
  } else {
    if (source.metadata.name === name)
      throw new ApiError(409, `restore into a NEW cluster, not ${name} itself`);
    const b = source.spec?.backup;
    if (b?.destination === undefined)
      throw new ApiError(
        409,
        `KVCluster ${namespace}/${source.metadata.name} has no spec.backup; give --from s3://BUCKET/PREFIX and --credentials-secret`,
      );
    dest = { ...b.destination };
    for (const key of COPIED) if (source.spec[key] !== undefined) spec[key] = source.spec[key];
    spec.replicas = source.spec.replicas ?? 3;
    if (rootSecret === undefined && withDefaults(source.spec).auth.enabled)
      rootSecret = source.status?.secrets?.root ?? `${source.metadata.name}-root`;
    notes.push(`spec.backup is not copied: give ${name} a bucket prefix of its own to archive it`);
  }
  if (cmd.endpoint !== undefined) dest.endpoint = cmd.endpoint;
  if (cmd.region !== undefined) dest.region = cmd.region;
  if (cmd.credentialsSecret !== undefined) dest.credentialsSecret = cmd.credentialsSecret;
  if (cmd.replicas !== undefined) spec.replicas = cmd.replicas;
  spec.bootstrap = {
    recovery: {
      source: dest,
      ...(cmd.toTime !== undefined ? { targetTime: cmd.toTime } : {}),
      ...(cmd.toIndex !== undefined ? { targetIndex: cmd.toIndex } : {}),
      ...(rootSecret !== undefined ? { rootSecret } : {}),
    },
  };
  return {
    object: {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: {
        name,
        namespace,
        ...(source !== null ? { labels: { 'kvstore.io/restored-from': source.metadata.name } } : {}),
      },
      spec,
    },
    notes,
  };
}

export function targetText(cmd: RestoreCommand): string {
  return cmd.toTime !== undefined
    ? `the state as of ${cmd.toTime}`
    : cmd.toIndex !== undefined
      ? `the state after index ${cmd.toIndex}`
      : 'the latest archived state';
}

export async function runRestore(
  api: Api,
  namespace: string,
  name: string,
  cmd: RestoreCommand,
  output: 'text' | 'json' | 'yaml',
  out: (text: string) => void,
  err: (line: string) => void,
): Promise<void> {
  const source = cmd.from.startsWith('s3://') ? null : await readCluster(api, namespace, cmd.from);
  const plan = restoreObject(name, namespace, cmd, source);
  for (const n of plan.notes) err(`note: ${n}`);
  if (cmd.dryRun) {
    out(output === 'json' ? `${JSON.stringify(plan.object, null, 2)}\n` : dumpYaml(plan.object));
    return;
  }
  const path = `/apis/${API_VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}`;
  const res = await api.request('POST', path, plan.object);
  if (res.status === 409) throw new ApiError(409, `KVCluster ${namespace}/${name} already exists`);
  if (res.status < 200 || res.status > 299) {
    let message = res.body.slice(0, 500);
    try {
      message = (JSON.parse(res.body) as { message?: string }).message ?? message;
    } catch {
      // not a Status
    }
    throw new ApiError(res.status, `creating KVCluster ${namespace}/${name}: ${message}`);
  }
  const url = (plan.object.spec as { bootstrap: { recovery: { source: S3Destination } } }).bootstrap.recovery
    .source.url;
  out(
    `kvcluster/${name} created: member 0 restores ${targetText(cmd)} from ${url}, then the others join ` +
      `(watch: kubectl kv status ${name}; status.recovery says what was restored)\n`,
  );
}
