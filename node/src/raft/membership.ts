// Membership rules, in one place: what the admin API (server/admin.ts) accepts
// and what the operator (operator/src/reconcile/planner.ts, which cannot import
// this file from its image and keeps a copy checked by
// operator/src/reconcile/rules-agree.test.ts) plans. docs/adr/0066.
//
// - A brand-new address joins only as a learner; it becomes a voter by promotion
//   once caught up. Adding a voter directly would count an unproven member in
//   the quorum at once: three such adds of dead addresses turn 3 healthy voters
//   into 3 of 6, below the quorum of 4, with no way back.
// - Strict reconfiguration (as etcd's --strict-reconfig-check): a change is
//   refused when the healthy voters of the resulting configuration would be
//   fewer than its quorum.
import type { ProgressState } from './progress.ts';
import { majority } from './quorum.ts';

/** A learner at most this many entries behind the leader's commit index counts as caught up. */
export const PROMOTE_MAX_LAG = 100;

export interface ReplicaProgress {
  /** Heard from within the last election timeout (the leader's recentActive). */
  recentActive: boolean;
  /** The leader's replication state for it: only 'replicate' means appends are flowing. */
  state: ProgressState;
  match: number;
}

/** Caught up: acknowledging appends right now and at most PROMOTE_MAX_LAG entries behind `commit`. */
export function caughtUp(p: ReplicaProgress | undefined, commit: number, maxLag = PROMOTE_MAX_LAG): boolean {
  return p !== undefined && p.recentActive && p.state === 'replicate' && commit - p.match <= maxLag;
}

export interface QuorumCheck {
  ok: boolean;
  /** Healthy voters in the configuration after the change. */
  healthy: number;
  /** Voters after the change. */
  voters: number;
  /** The quorum of the configuration after the change. */
  quorum: number;
}

/** Whether `after` (the voters once the change applies) keeps a quorum of healthy voters. */
export function keepsQuorum(after: readonly string[], healthy: (id: string) => boolean): QuorumCheck {
  const count = after.filter(healthy).length;
  const quorum = majority(after.length);
  return { ok: after.length > 0 && count >= quorum, healthy: count, voters: after.length, quorum };
}

/** Removing voter `id` from `voters`: the remaining healthy voters must be a quorum of the rest. */
export function checkRemoveVoter(
  voters: readonly string[],
  id: string,
  healthy: (id: string) => boolean,
): QuorumCheck {
  return keepsQuorum(
    voters.filter((v) => v !== id),
    healthy,
  );
}

/**
 * Promoting learner `id`: the new configuration has one more voter, so its quorum may grow; the
 * promoted learner counts as healthy only if `healthy` says so (the caller checks it is caught up).
 */
export function checkAddVoter(
  voters: readonly string[],
  id: string,
  healthy: (id: string) => boolean,
): QuorumCheck {
  return keepsQuorum(voters.includes(id) ? voters : [...voters, id], healthy);
}
