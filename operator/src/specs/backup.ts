// What spec.backup and spec.bootstrap.recovery add to the member pods (docs/adr/0075): the
// node's archiving flags, the S3 credentials as environment variables from the named Secret (never
// in args, logs or status), and, while the cluster has not bootstrapped, an init container on
// member 0 that restores the archive into its empty data directory (`kv-store kvctl restore
// --if-empty`: a pod restart after the restore finds data and restores nothing).
import type { V1Container, V1EnvVar } from '@kubernetes/client-node';
import type { BackupSpec, S3Destination } from '../backup/types.ts';
import { fullSnapshotPlan } from '../backup/schedule.ts';
import { S3_CREDENTIAL_KEYS } from '../backup/types.ts';
import type { KVCluster } from '../types.ts';
import { withDefaults } from '../types.ts';
import { DATA_DIR, NODE_PORT, PEER_PORT, names } from './names.ts';

/** -backup-* flags of the node (ADR 0070); none without spec.backup. */
export function backupArgs(kv: KVCluster): string[] {
  const b = withDefaults(kv.spec).backup;
  if (b === undefined) return [];
  return [
    '-backup-s3-url',
    b.destination.url,
    ...(b.destination.endpoint !== undefined ? ['-backup-s3-endpoint', b.destination.endpoint] : []),
    '-backup-rpo',
    b.rpo,
    ...fullSnapshotArgs(b),
    '-backup-keep-full',
    String(b.retention.keepFull),
    ...(b.retention.keepDays !== undefined ? ['-backup-keep-age', `${b.retention.keepDays * 24}h`] : []),
  ];
}

/** The interval, or the schedule when it is valid (a refused one leaves the interval: schedule.ts). */
function fullSnapshotArgs(b: BackupSpec): string[] {
  const { plan } = fullSnapshotPlan(b);
  return plan.kind === 'schedule'
    ? ['-backup-full-schedule', plan.schedule]
    : ['-backup-full-interval', plan.interval];
}

/** The AWS SDK's variables, from the credentials Secret (and the region, which is no secret). */
export function s3Env(d: S3Destination): V1EnvVar[] {
  return [
    ...S3_CREDENTIAL_KEYS.map((key) => ({
      name: key,
      valueFrom: { secretKeyRef: { name: d.credentialsSecret, key } },
    })),
    ...(d.region !== undefined ? [{ name: 'AWS_REGION', value: d.region }] : []),
  ];
}

export function backupEnv(kv: KVCluster): V1EnvVar[] {
  const b = withDefaults(kv.spec).backup;
  return b === undefined ? [] : s3Env(b.destination);
}

/**
 * Member 0's URLs as the node will advertise them (nodeArgs: -advertise-addr, -peer-addr): the
 * restored membership must name them exactly, or later members could not reach it.
 */
export function memberUrls(kv: KVCluster): { peerUrl: string; clientUrl: string } {
  const host = `$(POD_NAME).${names(kv).peerService}.$(POD_NAMESPACE).svc.cluster.local`;
  if (withDefaults(kv.spec).tls.enabled)
    return { peerUrl: `https://${host}:${PEER_PORT}`, clientUrl: `https://${host}:${NODE_PORT}` };
  return { peerUrl: `http://${host}:${NODE_PORT}`, clientUrl: `http://${host}:${NODE_PORT}` };
}

export const RECOVERY_CONTAINER = 'restore';

/** kvctl's command line for the restore (the node image's entrypoint runs `kv-store kvctl ...`). */
export function recoveryArgs(kv: KVCluster): string[] | null {
  const r = withDefaults(kv.spec).bootstrap?.recovery;
  if (r === undefined) return null;
  const { peerUrl, clientUrl } = memberUrls(kv);
  return [
    'kvctl',
    'restore',
    '--from',
    r.source.url,
    ...(r.source.endpoint !== undefined ? ['--s3-endpoint', r.source.endpoint] : []),
    ...(r.targetIndex !== undefined ? ['--to-index', String(r.targetIndex)] : []),
    ...(r.targetTime !== undefined ? ['--to-time', r.targetTime] : []),
    '--if-empty',
    '--data-dir',
    DATA_DIR,
    '--id',
    '$(POD_NAME)',
    // Member 0 alone, as a fresh cluster bootstraps; the others join it one by one.
    '--peers',
    '',
    '--peer-url',
    peerUrl,
    '--client-url',
    clientUrl,
    '--cluster-token',
    kv.metadata.uid,
    '-o',
    'json',
  ];
}

/**
 * The init container restoring the archive, for the template used before bootstrap (it runs in
 * member 0 only: the StatefulSet has one pod until the cluster is bootstrapped). `main` is the
 * node container: same image, security context, data volume.
 */
export function recoveryInitContainer(kv: KVCluster, main: V1Container): V1Container | null {
  const args = recoveryArgs(kv);
  const r = withDefaults(kv.spec).bootstrap?.recovery;
  if (args === null || r === undefined) return null;
  return {
    name: RECOVERY_CONTAINER,
    image: main.image!,
    ...(main.imagePullPolicy !== undefined ? { imagePullPolicy: main.imagePullPolicy } : {}),
    args,
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ...s3Env(r.source),
    ],
    volumeMounts: (main.volumeMounts ?? []).filter((m) => m.mountPath === DATA_DIR || m.mountPath === '/tmp'),
    ...(main.securityContext !== undefined ? { securityContext: main.securityContext } : {}),
    ...(main.resources !== undefined ? { resources: main.resources } : {}),
  };
}
