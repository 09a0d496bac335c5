// How spec.backup's full snapshots are scheduled (docs/adr/0075): fullSnapshotInterval or
// fullSnapshotSchedule (cron, UTC), never both. The CRD refuses most bad values; what it cannot
// (a backwards range, both fields on an API server without CEL rules) is found here, with the
// parser the node runs (cron.generated.ts). A bad schedule never reaches the members: they keep
// archiving on the interval (the config they would have without the schedule, so nothing rolls),
// and BackupHealthy says why.
import { BACKUP_DEFAULTS, type BackupSpec } from './types.ts';
import { CronError, longestCronGapMs, parseCron } from './cron.generated.ts';

export type FullSnapshotPlan =
  { kind: 'interval'; interval: string } | { kind: 'schedule'; schedule: string };

export interface ScheduleDecision {
  plan: FullSnapshotPlan;
  /** Why the spec's schedule is not used; null when it is (or there is none). */
  problem: string | null;
}

/** Pure: what the members are told, and what is wrong with the spec. */
export function fullSnapshotPlan(
  b: Pick<BackupSpec, 'fullSnapshotInterval' | 'fullSnapshotSchedule'>,
): ScheduleDecision {
  const interval = b.fullSnapshotInterval ?? BACKUP_DEFAULTS.fullSnapshotInterval;
  const fallback: FullSnapshotPlan = { kind: 'interval', interval };
  if (b.fullSnapshotSchedule === undefined) return { plan: fallback, problem: null };
  if (b.fullSnapshotInterval !== undefined)
    return {
      plan: fallback,
      problem:
        'spec.backup.fullSnapshotSchedule and fullSnapshotInterval are mutually exclusive: remove one ' +
        `(full snapshots every ${interval} until then)`,
    };
  try {
    parseCron(b.fullSnapshotSchedule);
  } catch (e) {
    if (!(e instanceof CronError)) throw e;
    return {
      plan: fallback,
      problem: `spec.backup.fullSnapshotSchedule "${b.fullSnapshotSchedule}" is refused: ${e.message} (full snapshots every ${interval} until it is fixed)`,
    };
  }
  return { plan: { kind: 'schedule', schedule: b.fullSnapshotSchedule }, problem: null };
}

const gaps = new Map<string, number>();

/** How long a full snapshot may take to come, for the overdue check: the interval, or the schedule's longest gap. */
export function fullSnapshotPeriodMs(
  plan: FullSnapshotPlan,
  nowMs: number,
  parseInterval: (t: string) => number | undefined,
): number | undefined {
  if (plan.kind === 'interval') return parseInterval(plan.interval);
  let gap = gaps.get(plan.schedule);
  if (gap === undefined) {
    gap = longestCronGapMs(parseCron(plan.schedule), nowMs);
    if (gaps.size > 100) gaps.clear();
    gaps.set(plan.schedule, gap);
  }
  return gap;
}
