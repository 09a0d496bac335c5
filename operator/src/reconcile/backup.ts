// spec.backup and spec.bootstrap.recovery in the KVCluster status, decided purely from what the
// members report in /v1/status (docs/adr/0075): the leader's archiver gives the archived-up-to
// index and time, the last full snapshot and its failures; member 0's data directory says what it
// was restored from. The reconciler writes the result and emits the events.
import type {
  BackupSpec,
  BackupStatus,
  NodeBackupStatus,
  NodeRestoreInfo,
  RecoveryStatus,
} from '../backup/types.ts';
import type { Condition, KVCluster, KVClusterStatus } from '../types.ts';
import { withDefaults } from '../types.ts';
import { parseDuration } from '../certs/cluster-pki.ts';
import { fullSnapshotPeriodMs, fullSnapshotPlan } from '../backup/schedule.ts';

function parseGoDuration(text: string): number | undefined {
  try {
    return parseDuration(text);
  } catch {
    return undefined;
  }
}

export type BackupCondition = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** How many RPOs of lag, and full-snapshot intervals of age, before BackupHealthy turns False. */
export const HEALTH_MARGINS = { lagRpos: 2, fullIntervals: 2 } as const;

function bucketOf(url: string): string {
  return /^s3:\/\/([^/]+)/.exec(url)?.[1] ?? '';
}

/** status.backup: the leader's view, or the previous one while no leader reports. */
export function backupStatusOf(
  spec: BackupSpec | undefined,
  leader: { backup?: NodeBackupStatus } | null,
  prev: BackupStatus | undefined,
): BackupStatus | undefined {
  if (spec === undefined) return undefined;
  const b = leader?.backup;
  if (b === undefined || !b.uploading) return prev;
  const full = b.lastFullSnapshot ?? null;
  return {
    ...(b.archivedIndex !== null ? { archivedIndex: b.archivedIndex } : {}),
    ...(b.archivedTime !== null ? { archivedTime: new Date(b.archivedTime).toISOString() } : {}),
    lagSeconds: Math.round(b.lagSeconds * 10) / 10,
    ...(full !== null
      ? {
          lastFullSnapshot: {
            index: full.index,
            time: new Date(full.takenAt).toISOString(),
            object: `s3://${bucketOf(spec.destination.url)}/${full.key}`,
          },
        }
      : prev?.lastFullSnapshot !== undefined
        ? { lastFullSnapshot: prev.lastFullSnapshot }
        : {}),
    ...(b.lastError !== null ? { lastError: b.lastError } : {}),
  };
}

/** The BackupHealthy condition; null without spec.backup. */
export function backupCondition(
  spec: BackupSpec | undefined,
  leader: { backup?: NodeBackupStatus } | null,
  nowMs: number,
): BackupCondition | null {
  if (spec === undefined) return null;
  const schedule = fullSnapshotPlan(spec);
  // A refused schedule first: the members archive on the interval meanwhile, which is not what was asked.
  if (schedule.problem !== null)
    return { type: 'BackupHealthy', status: 'False', reason: 'InvalidSchedule', message: schedule.problem };
  if (leader === null)
    return { type: 'BackupHealthy', status: 'Unknown', reason: 'NoLeader', message: 'no leader to ask' };
  const b = leader.backup;
  if (b === undefined)
    return {
      type: 'BackupHealthy',
      status: 'False',
      reason: 'NotArchiving',
      message: 'the leader runs without -backup-s3-url (its pod has not been rolled to the new spec yet)',
    };
  const rpoMs = parseGoDuration(spec.rpo) ?? b.rpoMs;
  const fullMs = fullSnapshotPeriodMs(schedule.plan, nowMs, parseGoDuration) ?? b.fullEveryMs;
  const sinceSuccess = b.lastSuccessAt === null ? Infinity : nowMs - b.lastSuccessAt;
  if (b.consecutiveFailures > 0 && sinceSuccess > rpoMs)
    return {
      type: 'BackupHealthy',
      status: 'False',
      reason: 'UploadsFailing',
      message: `${b.consecutiveFailures} failed upload round(s) in a row: ${b.lastError ?? 'unknown error'}`,
    };
  if (!b.uploading)
    return {
      type: 'BackupHealthy',
      status: 'False',
      reason: 'Starting',
      message: 'the leader has not found where the archive ends yet',
    };
  if (b.lagSeconds * 1000 > HEALTH_MARGINS.lagRpos * rpoMs)
    return {
      type: 'BackupHealthy',
      status: 'False',
      reason: 'Lagging',
      message: `${b.lagEntries} entries (${b.lagSeconds.toFixed(1)} s) not archived yet; the RPO is ${spec.rpo}`,
    };
  const full = b.lastFullSnapshot;
  if (full === null || nowMs - full.takenAt > HEALTH_MARGINS.fullIntervals * fullMs + rpoMs)
    return {
      type: 'BackupHealthy',
      status: 'False',
      reason: 'FullSnapshotOverdue',
      message:
        full === null
          ? 'no full snapshot in the bucket yet'
          : `the last full snapshot (index ${full.index}) is from ${new Date(full.takenAt).toISOString()}` +
            (schedule.plan.kind === 'schedule' ? ` (schedule "${schedule.plan.schedule}", UTC)` : ''),
    };
  return {
    type: 'BackupHealthy',
    status: 'True',
    reason: 'Archiving',
    message:
      `archived up to index ${b.archivedIndex ?? 0}` +
      (b.archivedTime !== null ? ` (${new Date(b.archivedTime).toISOString()})` : '') +
      `; last full snapshot at index ${full.index}`,
  };
}

/** status.recovery: what a member says its data directory was restored from (kept once seen). */
export function recoveryStatusOf(
  restored: (NodeRestoreInfo | undefined)[],
  prev: RecoveryStatus | undefined,
): RecoveryStatus | undefined {
  if (prev !== undefined) return prev;
  const r = restored.find((x) => x !== undefined);
  if (r === undefined) return undefined;
  return {
    source: r.source,
    target: r.target,
    index: r.index,
    pointInTime: r.pointInTime,
    keys: r.keys,
    restoredAt: r.restoredAt,
  };
}

/** The event for a recovery seen for the first time: what the new cluster holds. */
export function recoveryEvent(
  prev: RecoveryStatus | undefined,
  now: RecoveryStatus | undefined,
): string | null {
  if (prev !== undefined || now === undefined) return null;
  return `restored ${now.keys} keys at index ${now.index} (state as of ${now.pointInTime}) from ${now.source}, target ${now.target}`;
}

/** Everything spec.backup and spec.bootstrap add to the status, and the recovery event to emit. */
export function backupPartOf(
  kv: KVCluster,
  leader: { backup?: NodeBackupStatus } | null,
  restored: (NodeRestoreInfo | undefined)[],
  now: Date,
): {
  status: Pick<KVClusterStatus, 'backup' | 'recovery'>;
  conditions: Condition[];
  event: string | null;
  /** A Warning (InvalidBackupSpec) when the spec's schedule is newly refused. */
  warning: string | null;
} {
  const spec = withDefaults(kv.spec);
  const backup = backupStatusOf(spec.backup, leader, kv.status?.backup);
  const prevRecovery = kv.status?.recovery;
  const recovery =
    spec.bootstrap?.recovery !== undefined ? recoveryStatusOf(restored, prevRecovery) : prevRecovery;
  const c = backupCondition(spec.backup, leader, now.getTime());
  const conditions: Condition[] = [];
  const old = c === null ? undefined : kv.status?.conditions?.find((p) => p.type === c.type);
  const warning =
    c?.reason === 'InvalidSchedule' && (old?.reason !== c.reason || old.message !== c.message)
      ? c.message
      : null;
  if (c !== null) {
    conditions.push({
      ...c,
      observedGeneration: kv.metadata.generation ?? 0,
      lastTransitionTime:
        old !== undefined && old.status === c.status ? old.lastTransitionTime : now.toISOString(),
    });
  }
  return {
    status: { ...(backup !== undefined ? { backup } : {}), ...(recovery !== undefined ? { recovery } : {}) },
    conditions,
    event: recoveryEvent(prevRecovery, recovery),
    warning,
  };
}
