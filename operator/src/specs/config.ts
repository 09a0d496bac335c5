// ConfigMap with the node's tuning, consumed as environment variables (envFrom) and expanded
// into the node's command-line flags; plus the hash that tells which pods run an outdated config.
import { createHash } from 'node:crypto';
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { KVCluster } from '../types.ts';
import { withDefaults } from '../types.ts';
import { names, objectMeta } from './names.ts';
import { backupArgs, backupEnv } from './backup.ts';

export function nodeEnvironment(kv: KVCluster): Record<string, string> {
  const t = withDefaults(kv.spec).tuning;
  return {
    KVSTORE_TICK_MS: String(t.tickMs),
    KVSTORE_ELECTION_TICKS: String(t.electionTicks),
    KVSTORE_SNAPSHOT_THRESHOLD: String(t.snapshotThreshold),
    KVSTORE_LOG_LEVEL: t.logLevel,
    // Read by the node when member 0 bootstraps: the cluster id then differs between two
    // incarnations of a KVCluster with the same name, so a leftover volume is seen as foreign.
    KVSTORE_CLUSTER_TOKEN: kv.metadata.uid,
  };
}

export function buildConfigMap(kv: KVCluster): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMeta(kv, names(kv).configMap),
    data: nodeEnvironment(kv),
  };
}

/**
 * Hash of everything that needs a pod restart to take effect. A pod whose template annotation
 * differs from this is rolled (quorum-aware) by the operator; the StatefulSet uses OnDelete.
 */
export function configHash(kv: KVCluster): string {
  const s = withDefaults(kv.spec);
  const material = JSON.stringify({
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    env: nodeEnvironment(kv),
    resources: s.resources ?? null,
    scheduling: s.scheduling,
    // Only when set: clusters without backup keep the hash they had (no roll on an operator upgrade).
    ...(s.backup !== undefined ? { backup: backupArgs(kv), backupEnv: backupEnv(kv) } : {}),
  });
  return createHash('sha256').update(material).digest('hex').slice(0, 16);
}
