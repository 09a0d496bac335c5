// KVCluster custom resource types (mirror of manifests/crd/kvclusters.kvstore.io.yaml).
// The API server applies the schema defaults; withDefaults() applies the same ones again so
// the builders never depend on a field being present (e.g. objects written before a default existed).
// The tuning defaults come from the node's table (node/src/defaults.ts, through the generated copy);
// operator/src/defaults-agree.test.ts checks them and this file's shape against the CRD.
import { KUBERNETES_DEFAULTS } from './node-defaults.generated.ts';

import { DEFAULT_CA_LIFETIME_DAYS, DEFAULT_CERT_LIFETIME_DAYS } from './certs/pki.ts';
import type { BackupSpec, BackupStatus, BootstrapSpec, RecoveryStatus } from './backup/types.ts';
import { BACKUP_DEFAULTS } from './backup/types.ts';

export const GROUP = 'kvstore.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'KVCluster';
export const PLURAL = 'kvclusters';

export type PvcPolicy = 'Delete' | 'Retain';
export type AntiAffinityMode = 'Preferred' | 'Required' | 'Disabled';

export interface KVClusterSpec {
  replicas: number;
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  paused: boolean;
  /** Scale every member to zero, keeping volumes and identity; false wakes the same cluster (ADR 0076). */
  hibernate: boolean;
  storage: {
    size: string;
    storageClassName?: string;
    onMemberRemoval: PvcPolicy;
    onClusterDeletion: PvcPolicy;
  };
  resources?: { limits?: Record<string, string | number>; requests?: Record<string, string | number> };
  scheduling: {
    podAntiAffinity: AntiAffinityMode;
    affinity?: Record<string, unknown>;
    nodeSelector?: Record<string, string>;
    tolerations?: Record<string, unknown>[];
    topologySpreadConstraints?: Record<string, unknown>[];
    priorityClassName?: string;
  };
  service: { type: 'ClusterIP' | 'NodePort' | 'LoadBalancer'; port: number };
  tuning: {
    tickMs: number;
    electionTicks: number;
    snapshotThreshold: number;
    logLevel: 'debug' | 'info' | 'warn' | 'error';
  };
  tls: TlsSpec;
  auth: AuthSpec;
  network: NetworkSpec;
  /** Continuous archiving to S3 (backup/types.ts); absent: off. */
  backup?: BackupSpec;
  /** How a new cluster starts: from an archive (recovery) instead of empty. */
  bootstrap?: BootstrapSpec;
}

/** Certificates from a per-cluster CA the operator runs (issue 14, ADR 0069). */
export interface TlsSpec {
  enabled: boolean;
  /** Lifetime of member certificates, a duration such as 2160h (90 days). */
  certificateDuration: string;
  /** Renew this long before expiry; absent: once 2/3 of the lifetime has passed. */
  renewBefore?: string;
  /** Lifetime of the cluster CA. */
  caDuration: string;
  /**
   * How long a written trust bundle or certificate takes to reach every member (kubelet sync of
   * Secret volumes plus the node's file polling); each CA-rotation phase waits this long.
   */
  propagationSeconds: number;
}

export interface SecretKeyRef {
  name: string;
  key: string;
}

export interface AuthUserSpec {
  name: string;
  passwordSecretRef: SecretKeyRef;
  roles: string[];
}

export interface AuthRoleSpec {
  name: string;
  permissions: { prefix: string; access: 'read' | 'readwrite' }[];
}

/** Users and roles in the replicated auth store; root is bootstrapped by the operator. */
export interface AuthSpec {
  enabled: boolean;
  users: AuthUserSpec[];
  roles: AuthRoleSpec[];
}

export interface LabelSelectorSpec {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface AllowedClientSpec {
  namespaceSelector?: LabelSelectorSpec;
  podSelector?: LabelSelectorSpec;
}

export interface NetworkSpec {
  /** Apply the cluster's NetworkPolicy. */
  policy: boolean;
  /** Who may reach the client port; absent: every pod of the cluster's namespace. */
  allowedClients?: AllowedClientSpec[];
}

export type MemberRole = 'voter' | 'learner' | 'none';

export interface MemberStatus {
  name: string;
  id?: string;
  role: MemberRole;
  healthy: boolean;
  ready: boolean;
  lag?: number;
  /** UID of the PVC holding this member's Raft state. */
  volume?: string;
}

export type OperationKind = 'ScaleUp' | 'ScaleDown' | 'Replace' | 'Roll' | 'Fence' | 'Hibernate';

export interface OperationStatus {
  kind: OperationKind;
  member: string;
  step: string;
  startedAt: string;
  message?: string;
}

export interface StepError {
  step: string;
  member?: string;
  message: string;
  time: string;
}

export interface Condition {
  type:
    | 'Available'
    | 'Progressing'
    | 'Degraded'
    | 'MembershipConsistent'
    | 'CertificatesReady'
    | 'AuthReady'
    | 'QuorumLost'
    | 'MemberDataHealthy'
    | 'BackupHealthy'
    | 'Hibernated'
    | 'Fenced'
    | 'StorageResized';
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export type Phase =
  | 'Pending'
  | 'Creating'
  | 'Available'
  | 'Scaling'
  | 'Upgrading'
  | 'Replacing'
  | 'Degraded'
  | 'NoQuorum'
  | 'Paused'
  | 'Hibernated';

export interface KVClusterStatus {
  observedGeneration?: number;
  phase?: Phase;
  replicas?: number;
  readyReplicas?: number;
  voters?: number;
  learners?: number;
  leader?: string;
  clusterId?: string;
  selector?: string;
  image?: string;
  configHash?: string;
  members?: MemberStatus[];
  operation?: OperationStatus;
  /** The last step that failed and why; cleared by the next step that succeeds. */
  lastError?: StepError;
  conditions?: Condition[];
  /** Where clients find how to connect (names only; never secret values). */
  secrets?: ClientSecretsStatus;
  tls?: TlsStatus;
  /** Archiving as the leader reports it (spec.backup). */
  backup?: BackupStatus;
  /** What member 0 was restored from (spec.bootstrap.recovery). */
  recovery?: RecoveryStatus;
}

export interface ClientSecretsStatus {
  /** Secret with ca.crt: the CA bundle that verifies the members' certificates. */
  caBundle?: string;
  /** Secret with username and password of the root user. */
  root?: string;
}

export interface TlsStatus {
  /** CA rotation phase: Stable, TrustBoth, Reissue, DropOld. */
  caPhase?: string;
  /** Earliest notAfter of the member certificates. */
  certificatesExpireAt?: string;
  /** When the member certificates are renewed next. */
  renewAt?: string;
  caExpiresAt?: string;
}

export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string | Date;
  finalizers?: string[];
}

export interface KVCluster {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: KVClusterSpec;
  status?: KVClusterStatus;
}

export const DEFAULT_CERTIFICATE_DURATION = `${DEFAULT_CERT_LIFETIME_DAYS * 24}h`;
export const DEFAULT_CA_DURATION = `${DEFAULT_CA_LIFETIME_DAYS * 24}h`;
export const DEFAULT_PROPAGATION_SECONDS = 120;

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export function withDefaults(spec: DeepPartial<KVClusterSpec> | undefined): KVClusterSpec {
  const s = spec ?? {};
  const out: KVClusterSpec = {
    replicas: s.replicas ?? 3,
    image: s.image ?? 'kv-store:0.1.0',
    imagePullPolicy: s.imagePullPolicy ?? 'IfNotPresent',
    paused: s.paused ?? false,
    hibernate: s.hibernate ?? false,
    storage: {
      size: s.storage?.size ?? '1Gi',
      onMemberRemoval: s.storage?.onMemberRemoval ?? 'Delete',
      onClusterDeletion: s.storage?.onClusterDeletion ?? 'Retain',
    },
    scheduling: {
      podAntiAffinity: s.scheduling?.podAntiAffinity ?? 'Preferred',
    },
    service: { type: s.service?.type ?? 'ClusterIP', port: s.service?.port ?? 8080 },
    tuning: {
      tickMs: s.tuning?.tickMs ?? KUBERNETES_DEFAULTS.tickMs.value,
      electionTicks: s.tuning?.electionTicks ?? KUBERNETES_DEFAULTS.electionTicks.value,
      snapshotThreshold: s.tuning?.snapshotThreshold ?? KUBERNETES_DEFAULTS.snapshotThreshold.value,
      logLevel: s.tuning?.logLevel ?? KUBERNETES_DEFAULTS.logLevel.value,
    },
    tls: {
      enabled: s.tls?.enabled ?? true,
      certificateDuration: s.tls?.certificateDuration ?? DEFAULT_CERTIFICATE_DURATION,
      caDuration: s.tls?.caDuration ?? DEFAULT_CA_DURATION,
      propagationSeconds: s.tls?.propagationSeconds ?? DEFAULT_PROPAGATION_SECONDS,
    },
    auth: {
      enabled: s.auth?.enabled ?? true,
      users: (s.auth?.users ?? []) as AuthUserSpec[],
      roles: (s.auth?.roles ?? []) as AuthRoleSpec[],
    },
    network: { policy: s.network?.policy ?? true },
  };
  if (s.tls?.renewBefore !== undefined) out.tls.renewBefore = s.tls.renewBefore;
  const b = s.backup;
  if (b?.destination?.url !== undefined && b.destination.credentialsSecret !== undefined)
    out.backup = {
      destination: b.destination,
      // The interval's default applies only without a schedule (the two are mutually exclusive).
      ...(b.fullSnapshotSchedule === undefined || b.fullSnapshotInterval !== undefined
        ? { fullSnapshotInterval: b.fullSnapshotInterval ?? BACKUP_DEFAULTS.fullSnapshotInterval }
        : {}),
      ...(b.fullSnapshotSchedule !== undefined ? { fullSnapshotSchedule: b.fullSnapshotSchedule } : {}),
      retention: {
        keepFull: b.retention?.keepFull ?? BACKUP_DEFAULTS.keepFull,
        ...(b.retention?.keepDays !== undefined ? { keepDays: b.retention.keepDays } : {}),
      },
      rpo: b.rpo ?? BACKUP_DEFAULTS.rpo,
    };
  if (s.bootstrap?.recovery?.source !== undefined) out.bootstrap = s.bootstrap;
  if (s.network?.allowedClients !== undefined) out.network.allowedClients = s.network.allowedClients;
  if (s.storage?.storageClassName !== undefined) out.storage.storageClassName = s.storage.storageClassName;
  if (s.resources !== undefined) out.resources = s.resources;
  const sch = s.scheduling;
  if (sch?.affinity !== undefined) out.scheduling.affinity = sch.affinity;
  if (sch?.nodeSelector !== undefined) out.scheduling.nodeSelector = sch.nodeSelector;
  if (sch?.tolerations !== undefined) out.scheduling.tolerations = sch.tolerations;
  if (sch?.topologySpreadConstraints !== undefined)
    out.scheduling.topologySpreadConstraints = sch.topologySpreadConstraints;
  if (sch?.priorityClassName !== undefined) out.scheduling.priorityClassName = sch.priorityClassName;
  return out;
}

/** Majority of n voters: node/src/raft/quorum.ts majority(), copied (see reconcile/rules-agree.test.ts). */
export function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}
