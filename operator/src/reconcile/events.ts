// Kubernetes Events for the operator's decisions: one per step carried out (member added,
// promoted, removed, replaced, rolled, fenced, leader moved, ...), one per step that failed (with
// its cause), one when a refusal starts or changes its reason. The builders are pure; record()
// is the only I/O, and a failure to record never fails a reconcile.
import type { Condition, KVCluster, StepError } from '../types.ts';
import type { Kube } from '../kube/kube.ts';
import type { Logger } from '../observability/log.ts';
import type { Step } from './planner.ts';

export interface OperatorEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** The event for a step the operator just carried out successfully; null for non-actions. */
export function stepEvent(step: Step): OperatorEvent | null {
  const normal = (reason: string, message: string): OperatorEvent => ({ type: 'Normal', reason, message });
  switch (step.kind) {
    case 'raise-statefulset':
    case 'lower-statefulset':
      return normal('StatefulSetScaled', `StatefulSet scaled to ${step.replicas} pods`);
    case 'add-learner':
      return normal('MemberAdded', `${step.member} added to Raft as a learner`);
    case 'promote':
      return normal('MemberPromoted', `learner ${step.member} caught up and promoted to voter`);
    case 'transfer-leadership':
      return normal('LeaderMoved', `Raft leadership moved from ${step.from} to ${step.to}`);
    case 'remove-member':
      return normal('MemberRemoved', `${step.member} removed from Raft membership`);
    case 'replace-member':
      return normal(
        'MemberReplaced',
        `${step.member} lost its data (empty or another cluster's): removed from Raft, its volume and pod deleted to rejoin empty`,
      );
    case 'delete-pvc':
      return normal(
        'VolumeDeleted',
        `volume of ${step.member} deleted (not a member; its data must not be reused)`,
      );
    case 'mark-pvc-removed':
      return normal(
        'VolumeRetained',
        `volume of removed member ${step.member} kept and labelled kvstore.io/removed`,
      );
    case 'roll-pod':
      return normal('MemberRolled', `pod ${step.member} deleted to restart with the current configuration`);
    case 'demote':
      return normal(
        'MemberFenced',
        `${step.member} demoted to learner: fenced (no vote, no client requests)`,
      );
    case 'hibernate':
      return normal('Hibernating', 'StatefulSet scaled to 0; volumes and Raft membership kept');
    case 'nothing':
    case 'wait':
    case 'refuse':
      return null;
  }
}

/** The member a step is about, when it has one. */
export function stepMember(step: Step): string | undefined {
  if ('member' in step) return step.member;
  if (step.kind === 'transfer-leadership') return step.from;
  return undefined;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const prefix = typeof code === 'string' && code !== '' && !err.message.includes(code) ? `${code}: ` : '';
    return `${prefix}${err.message}`.slice(0, 1024);
  }
  return String(err).slice(0, 1024);
}

/** A Warning for a step that failed, with the cause (what status.lastError keeps too). */
export function failureEvent(step: Step, err: unknown): OperatorEvent {
  const member = stepMember(step);
  return {
    type: 'Warning',
    reason: 'StepFailed',
    message: `${step.kind}${member !== undefined ? ` of ${member}` : ''} failed: ${errorMessage(err)}`,
  };
}

export function stepError(step: Step, err: unknown, now: string): StepError {
  const member = stepMember(step);
  return {
    step: step.kind,
    ...(member !== undefined ? { member } : {}),
    message: errorMessage(err),
    time: now,
  };
}

/**
 * A Warning when the planner refuses, only when the refusal is new or its reason changed (the
 * Degraded condition of the last status holds the previous one), so a refusal that lasts does
 * not emit an event every reconcile.
 */
export function refusalEvent(step: Step, previous: Condition[] | undefined): OperatorEvent | null {
  if (step.kind !== 'refuse') return null;
  const prev = previous?.find((c) => c.type === 'Degraded');
  if (prev?.reason === 'Refused' && prev.message === step.reason) return null;
  return { type: 'Warning', reason: 'Refused', message: step.reason };
}

/** Records an event on the KVCluster; logged, never thrown. */
export async function record(kube: Kube, log: Logger, kv: KVCluster, ev: OperatorEvent): Promise<void> {
  const cluster = `${kv.metadata.namespace}/${kv.metadata.name}`;
  log.info('event', { cluster, type: ev.type, reason: ev.reason, message: ev.message });
  try {
    await kube.event?.(kv, ev.type, ev.reason, ev.message);
  } catch (err) {
    log.warn('event not recorded', { cluster, reason: ev.reason, error: err });
  }
}
