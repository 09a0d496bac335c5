// The StatefulSet running the members. The operator, not the StatefulSet controller, decides
// how many pods exist (replicas follows Raft membership one step at a time) and when a pod is
// replaced (updateStrategy OnDelete: rolls are quorum-aware, see reconcile/planner.ts).
import type {
  V1Affinity,
  V1ResourceRequirements,
  V1StatefulSet,
  V1TopologySpreadConstraint,
} from '@kubernetes/client-node';
import type { KVCluster } from '../types.ts';
import { withDefaults } from '../types.ts';
import { configHash } from './config.ts';
import { backupArgs, backupEnv, recoveryInitContainer } from './backup.ts';
import { FENCE_FILE_KEY } from './fence.ts';
import {
  CONFIG_HASH_ANNOTATION,
  DATA_DIR,
  FENCE_DIR,
  NODE_PORT,
  PEER_PORT,
  TLS_DIR,
  commonLabels,
  names,
  objectMeta,
  selectorLabels,
} from './names.ts';

export interface StatefulSetOptions {
  /** Pods the StatefulSet should run (decided by the membership planner). */
  replicas: number;
  /**
   * True once member 0 has bootstrapped the cluster. From then on every pod, member 0
   * included, starts with -join: a recreated member 0 that lost its volume must wait to be
   * re-added, never bootstrap a second cluster under the same name.
   */
  bootstrapped: boolean;
}

export const NODE_UID = 1000;

/** The node's command line. $(VAR) references are expanded by the kubelet from env. */
export function nodeArgs(kv: KVCluster, bootstrapped: boolean): string[] {
  const n = names(kv);
  const args = [
    '-id',
    '$(POD_NAME)',
    // Bind the pod IP, not 0.0.0.0: same behaviour in a real cluster, and lets pods share one
    // host network in the test control plane.
    '-addr',
    `$(POD_IP):${NODE_PORT}`,
    '-advertise-addr',
    `$(POD_NAME).${n.peerService}.$(POD_NAMESPACE).svc.cluster.local:${NODE_PORT}`,
    '-data-dir',
    DATA_DIR,
    '-tick-ms',
    '$(KVSTORE_TICK_MS)',
    '-election-ticks',
    '$(KVSTORE_ELECTION_TICKS)',
    '-snapshot-threshold',
    '$(KVSTORE_SNAPSHOT_THRESHOLD)',
    '-log-level',
    '$(KVSTORE_LOG_LEVEL)',
    // Fencing (ADR 0076): the node refuses clients and reports NotReady while this file names it.
    '-fence-file',
    `${FENCE_DIR}/${FENCE_FILE_KEY}`,
  ];
  // Before bootstrap the StatefulSet has exactly one pod (member 0), which bootstraps a
  // single-member cluster (no -peers). Every later pod is created from the bootstrapped template.
  if (bootstrapped) args.push('-join');
  if (withDefaults(kv.spec).tls.enabled) args.push(...tlsArgs());
  args.push(...backupArgs(kv));
  return args;
}

/**
 * HTTPS on the client port, mutual TLS on a separate peer port. The peer listener is a wildcard so
 * the peer URL keeps the advertised pod DNS name (a pod IP changes when the pod is recreated). One
 * certificate per member serves both ports. The client port verifies a client certificate when one
 * is presented (-trusted-ca-file: the operator's, CN root) and takes tokens otherwise; it does not
 * require one (-client-cert-auth stays off), since kubelet probes cannot present one (ADR 0074).
 */
export function tlsArgs(): string[] {
  const cert = `${TLS_DIR}/$(POD_NAME).crt`;
  const key = `${TLS_DIR}/$(POD_NAME).key`;
  return [
    '-peer-addr',
    `:${PEER_PORT}`,
    '-cert-file',
    cert,
    '-key-file',
    key,
    '-trusted-ca-file',
    `${TLS_DIR}/ca.crt`,
    '-peer-cert-file',
    cert,
    '-peer-key-file',
    key,
    '-peer-trusted-ca-file',
    `${TLS_DIR}/ca.crt`,
  ];
}

export function defaultAffinity(kv: KVCluster): V1Affinity | undefined {
  const sch = withDefaults(kv.spec).scheduling;
  if (sch.affinity !== undefined) return sch.affinity;
  const term = { labelSelector: { matchLabels: selectorLabels(kv) }, topologyKey: 'kubernetes.io/hostname' };
  switch (sch.podAntiAffinity) {
    case 'Disabled':
      return undefined;
    case 'Required':
      return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
    case 'Preferred':
      return {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }],
        },
      };
  }
}

function quantities(r: NonNullable<KVCluster['spec']['resources']>): V1ResourceRequirements {
  const str = (m: Record<string, string | number> | undefined) =>
    m === undefined ? undefined : Object.fromEntries(Object.entries(m).map(([k, v]) => [k, String(v)]));
  const out: V1ResourceRequirements = {};
  const limits = str(r.limits);
  const requests = str(r.requests);
  if (limits !== undefined) out.limits = limits;
  if (requests !== undefined) out.requests = requests;
  return out;
}

export function buildStatefulSet(kv: KVCluster, opts: StatefulSetOptions): V1StatefulSet {
  const spec = withDefaults(kv.spec);
  const n = names(kv);
  const affinity = defaultAffinity(kv);
  const tls = spec.tls.enabled;
  const scheme = tls ? ('HTTPS' as const) : ('HTTP' as const);
  const container = {
    name: 'kv-store',
    image: spec.image,
    imagePullPolicy: spec.imagePullPolicy,
    args: nodeArgs(kv, opts.bootstrapped),
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      ...backupEnv(kv),
    ],
    envFrom: [{ configMapRef: { name: n.configMap } }],
    ports: [
      { name: 'http', containerPort: NODE_PORT, protocol: 'TCP' },
      ...(tls ? [{ name: 'peer', containerPort: PEER_PORT, protocol: 'TCP' }] : []),
    ],
    // Startup: replaying a long log may take a while; liveness only once the server listens.
    startupProbe: {
      httpGet: { path: '/livez', port: 'http', scheme },
      periodSeconds: 2,
      failureThreshold: 150,
    },
    livenessProbe: {
      httpGet: { path: '/livez', port: 'http', scheme },
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 3,
    },
    // Ready = has a leader and caught up; drives the client Service and the planner's waits.
    readinessProbe: {
      httpGet: { path: '/readyz', port: 'http', scheme },
      periodSeconds: 2,
      timeoutSeconds: 2,
      failureThreshold: 3,
    },
    volumeMounts: [
      { name: n.volumeClaimTemplate, mountPath: DATA_DIR },
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'fence', mountPath: FENCE_DIR, readOnly: true },
      ...(tls ? [{ name: 'tls', mountPath: TLS_DIR, readOnly: true }] : []),
    ],
    securityContext: {
      runAsNonRoot: true,
      runAsUser: NODE_UID,
      runAsGroup: NODE_UID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    ...(spec.resources !== undefined ? { resources: quantities(spec.resources) } : {}),
  };
  // Before bootstrap only: member 0 restores the archive into its empty volume (specs/backup.ts).
  const restore = opts.bootstrapped ? null : recoveryInitContainer(kv, container);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: objectMeta(kv, n.statefulSet),
    spec: {
      replicas: opts.replicas,
      serviceName: n.peerService,
      selector: { matchLabels: selectorLabels(kv) },
      // Parallel: after a full restart every member must come back at once to form a quorum;
      // OrderedReady would wait forever for member 0 to become ready alone.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
      persistentVolumeClaimRetentionPolicy: {
        // Scale-down PVCs are handled by the operator (after the member left Raft).
        whenScaled: 'Retain',
        whenDeleted: spec.storage.onClusterDeletion,
      },
      template: {
        metadata: {
          labels: commonLabels(kv),
          annotations: { [CONFIG_HASH_ANNOTATION]: configHash(kv) },
        },
        spec: {
          serviceAccountName: n.serviceAccount,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: NODE_UID,
            runAsGroup: NODE_UID,
            fsGroup: NODE_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          ...(restore !== null ? { initContainers: [restore] } : {}),
          containers: [container],
          volumes: [
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
            // Optional: a pod starts even before the operator first wrote it (nobody fenced then).
            { name: 'fence', configMap: { name: n.fenceConfigMap, optional: true } },
            // Updated in place by the kubelet when the operator renews or rotates; the node re-reads it.
            ...(tls ? [{ name: 'tls', secret: { secretName: n.tlsSecret, defaultMode: 0o440 } }] : []),
          ],
          ...(affinity !== undefined ? { affinity } : {}),
          ...(spec.scheduling.nodeSelector !== undefined
            ? { nodeSelector: spec.scheduling.nodeSelector }
            : {}),
          ...(spec.scheduling.tolerations !== undefined ? { tolerations: spec.scheduling.tolerations } : {}),
          ...(spec.scheduling.topologySpreadConstraints !== undefined
            ? {
                topologySpreadConstraints: spec.scheduling
                  .topologySpreadConstraints as unknown as V1TopologySpreadConstraint[],
              }
            : {}),
          ...(spec.scheduling.priorityClassName !== undefined
            ? { priorityClassName: spec.scheduling.priorityClassName }
            : {}),
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: n.volumeClaimTemplate, labels: commonLabels(kv) },
          spec: {
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: spec.storage.size } },
            ...(spec.storage.storageClassName !== undefined
              ? { storageClassName: spec.storage.storageClassName }
              : {}),
          },
        },
      ],
    },
  };
}
