// Backup and recovery in the KVCluster spec and status, and the KVBackup resource (issue 15,
// docs/adr/0075). Mirrors manifests/crd (defaults-agree.test.ts compares the shapes).

/** An S3 location: `s3://bucket/prefix`, an endpoint for S3-compatible stores, credentials. */
export interface S3Destination {
  url: string;
  /** e.g. http://minio.minio:9000; absent: AWS. */
  endpoint?: string;
  region?: string;
  /** Secret in the cluster's namespace with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. */
  credentialsSecret: string;
}

/** Continuous archiving (ADR 0070): the leader uploads every committed entry and full snapshots. */
export interface BackupSpec {
  destination: S3Destination;
  /**
   * A full snapshot this often (a Go duration on the leader's clock). Defaulted to 1h when there is
   * no fullSnapshotSchedule; the two are mutually exclusive.
   */
  fullSnapshotInterval?: string;
  /** A full snapshot at each minute of this 5-field cron schedule, in UTC (e.g. `0 * * * *`). */
  fullSnapshotSchedule?: string;
  /**
   * keepFull: at least this many full snapshots; keepDays: also whatever restoring to any point of
   * the last keepDays days needs (docs/adr/0070). A snapshot goes when neither keeps it.
   */
  retention: { keepFull: number; keepDays?: number };
  /** Committed writes reach the bucket within about this long. */
  rpo: string;
}

/** A new cluster created from an archive: member 0 restores it before its first start. */
export interface RecoverySpec {
  source: S3Destination;
  /** RFC 3339: the state with every write committed at or before it. */
  targetTime?: string;
  /** The state right after this Raft index. */
  targetIndex?: number;
  /**
   * Secret with the SOURCE cluster's root password (key `password`, e.g. `<source>-root`): a
   * restored cluster keeps its users, so the operator logs in with it and keeps it as this
   * cluster's root Secret. Needed when the source had auth on.
   */
  rootSecret?: string;
}

export interface BootstrapSpec {
  recovery?: RecoverySpec;
}

export const BACKUP_DEFAULTS = { fullSnapshotInterval: '1h', keepFull: 7, rpo: '10s' } as const;

/** Keys of the credentials Secret (the AWS SDK's environment variable names). */
export const S3_CREDENTIAL_KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;

/** What a member reports about archiving in /v1/status (node/src/backup/archiver.ts ArchiverStatus). */
export interface NodeBackupStatus {
  uploading: boolean;
  rpoMs: number;
  fullEveryMs: number;
  /** Absent from nodes older than the schedule. */
  fullSchedule?: string | null;
  nextFullAt?: number | null;
  archivedIndex: number | null;
  archivedTime: number | null;
  lagEntries: number;
  lagSeconds: number;
  lastFullSnapshot: { index: number; takenAt: number; key: string; bytes: number; keys: number } | null;
  lastSuccessAt: number | null;
  consecutiveFailures: number;
  lastError: string | null;
}

/** What a member's data directory was restored from (node/src/backup/restore-info.ts). */
export interface NodeRestoreInfo {
  source: string;
  target: string;
  index: number;
  term: number;
  keys: number;
  pointInTime: string;
  clusterId: string;
  restoredAt: string;
}

export interface BackupStatus {
  /** Highest Raft index in the bucket. */
  archivedIndex?: number;
  /** Proposal time of the entry at archivedIndex. */
  archivedTime?: string;
  lagSeconds?: number;
  lastFullSnapshot?: { index: number; time: string; object: string };
  lastError?: string;
}

export interface RecoveryStatus {
  source: string;
  target: string;
  index: number;
  pointInTime: string;
  keys: number;
  restoredAt: string;
}

// ---- KVBackup: an on-demand full snapshot to the cluster's bucket

export const BACKUP_KIND = 'KVBackup';
export const BACKUP_PLURAL = 'kvbackups';

export interface KVBackupSpec {
  /** The KVCluster (same namespace) whose spec.backup names the bucket. */
  cluster: string;
}

export type KVBackupPhase = 'Pending' | 'Running' | 'Completed' | 'Failed';

export interface KVBackupStatus {
  phase?: KVBackupPhase;
  index?: number;
  keys?: number;
  /** Bytes of the object. */
  size?: number;
  /** s3://bucket/key */
  object?: string;
  takenAt?: string;
  startedAt?: string;
  completedAt?: string;
  attempts?: number;
  message?: string;
}

export interface KVBackup {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    creationTimestamp?: string | Date;
  };
  spec: KVBackupSpec;
  status?: KVBackupStatus;
}
