// Carries out the recovery decision (recovery.ts) and reports it: the QuorumLost and
// MemberDataHealthy conditions, events on every transition and action, the force request to the
// approved survivor, and the removal of a used approval (docs/adr/0077).
import type { Condition } from '../types.ts';
import { API_VERSION, KIND } from '../types.ts';
import type { Kube } from '../kube/kube.ts';
import type { Logger } from '../observability/log.ts';
import { ordinalOf } from '../specs/names.ts';
import type { NodeAdmin } from './nodeclient.ts';
import type { Observation } from './observe.ts';
import { clusterIdOf, isBootstrapped } from './observe.ts';
import type { PlanInput, Step } from './planner.ts';
import {
  RECOVER_ACCEPT_BEHIND_ANNOTATION,
  RECOVER_FROM_ANNOTATION,
  RECOVER_ID_ANNOTATION,
  approvalOf,
  decideRecovery,
  unusableMembers,
  type MemberObservation,
  type RecoveryDecision,
} from './recovery.ts';

export interface RecoveryContext {
  kube: Kube;
  node: NodeAdmin;
  log: Logger;
  podUrl(podName: string): string | null;
  now: string;
  /** False while the KVCluster is paused: report, change nothing. */
  act: boolean;
}

export interface RecoveryOutcome {
  decision: RecoveryDecision;
  /** Replaces the planner's step while the quorum is lost (the status then says why). */
  step: Step | null;
  conditions: Condition[];
}

export function memberObservations(obs: Observation): MemberObservation[] {
  const out: MemberObservation[] = [];
  for (const p of obs.pods) {
    const name = p.metadata?.name ?? '';
    const ordinal = ordinalOf(obs.kv.metadata.name, name);
    if (ordinal === undefined) continue;
    out.push({
      ordinal,
      status: obs.nodeStatuses.get(name) ?? null,
      terminating: p.metadata?.deletionTimestamp !== undefined && p.metadata.deletionTimestamp !== null,
    });
  }
  return out;
}

export async function runRecovery(
  ctx: RecoveryContext,
  obs: Observation,
  input: PlanInput,
  planned: Step,
): Promise<RecoveryOutcome> {
  const kv = obs.kv;
  const members = memberObservations(obs);
  const decision = decideRecovery({
    clusterName: kv.metadata.name,
    clusterId: clusterIdOf(obs),
    bootstrapped: isBootstrapped(obs),
    hasLeader: input.raft !== null,
    members,
    approval: approvalOf(kv.metadata.annotations),
  });
  const prev = kv.status?.conditions ?? [];
  const was = (type: Condition['type']) => prev.find((c) => c.type === type);
  const event = async (type: 'Normal' | 'Warning', reason: string, message: string) => {
    try {
      await ctx.kube.event?.(kv, type, reason, message);
    } catch (err) {
      ctx.log.warn('event not recorded', { reason, error: err });
    }
  };
  const gen = kv.metadata.generation ?? 0;
  const cond = (c: Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>): Condition => {
    const old = was(c.type);
    return {
      ...c,
      observedGeneration: gen,
      lastTransitionTime: old !== undefined && old.status === c.status ? old.lastTransitionTime : ctx.now,
    };
  };

  // --- quorum
  let quorumLost: Condition;
  let step: Step | null = null;
  switch (decision.kind) {
    case 'none':
    case 'clear-approval':
      quorumLost = cond({
        type: 'QuorumLost',
        status: 'False',
        reason: 'QuorumHeld',
        message: 'a quorum of voters holds its data',
      });
      break;
    case 'quorum-lost':
      quorumLost = cond({
        type: 'QuorumLost',
        status: 'True',
        reason: 'AwaitingApproval',
        message: decision.message,
      });
      step = { kind: 'refuse', reason: decision.message };
      break;
    case 'refuse-approval':
      quorumLost = cond({
        type: 'QuorumLost',
        status: 'True',
        reason: 'ApprovalRefused',
        message: decision.message,
      });
      step = { kind: 'refuse', reason: decision.message };
      break;
    case 'force':
      quorumLost = cond({
        type: 'QuorumLost',
        status: 'True',
        reason: 'Recovering',
        message: decision.message,
      });
      step = { kind: 'wait', reason: decision.message };
      break;
  }
  const before = was('QuorumLost');
  const changed = before?.status !== quorumLost.status || before.reason !== quorumLost.reason;
  if (decision.kind === 'quorum-lost' && changed) await event('Warning', 'QuorumLost', decision.message);
  if (decision.kind === 'refuse-approval' && (changed || before?.message !== decision.message))
    await event('Warning', 'RecoveryRefused', decision.message);
  if (decision.kind === 'force' && ctx.act) {
    const url = ctx.podUrl(decision.member);
    if (changed) await event('Warning', 'ForceNewCluster', decision.message);
    try {
      if (url === null) throw new Error(`no address for ${decision.member}`);
      if (ctx.node.forceNewCluster === undefined) throw new Error('node client cannot force a new cluster');
      await ctx.node.forceNewCluster(url, decision.requestId);
      ctx.log.warn('asked a survivor to force a new cluster', {
        member: decision.member,
        requestId: decision.requestId,
      });
    } catch (err) {
      // The survivor may be restarting into the new configuration already; the next pass sees it.
      ctx.log.info('force-new-cluster request not accepted (yet)', { member: decision.member, error: err });
    }
  }
  if (decision.kind === 'clear-approval' && ctx.act) {
    await ctx.kube.mergePatch(API_VERSION, KIND, kv.metadata.namespace, kv.metadata.name, {
      metadata: {
        name: kv.metadata.name,
        namespace: kv.metadata.namespace,
        annotations: {
          [RECOVER_FROM_ANNOTATION]: null,
          [RECOVER_ID_ANNOTATION]: null,
          [RECOVER_ACCEPT_BEHIND_ANNOTATION]: null,
        },
      },
    });
    // Once per approval (it is removed here): the forced survivor leads, or a leader came back anyway.
    await event(
      'Normal',
      'Recovered',
      'the cluster has a leader; recovery approval removed; growing back to spec.replicas',
    );
  }

  // --- member data
  const bad = unusableMembers(kv.metadata.name, members);
  const effective = step ?? planned;
  const list = bad.map((b) => `${b.member}: ${b.dataState}: ${b.reason}`).join('; ');
  const dataCond =
    bad.length === 0
      ? cond({
          type: 'MemberDataHealthy',
          status: 'True',
          reason: 'Healthy',
          message: 'no member refuses its data',
        })
      : cond({
          type: 'MemberDataHealthy',
          status: 'False',
          reason: effective.kind === 'refuse' ? 'ReplaceRefused' : 'Replacing',
          message: effective.kind === 'refuse' ? `${effective.reason}; ${list}` : list,
        });
  const dataBefore = was('MemberDataHealthy');
  if (bad.length > 0 && (dataBefore?.status !== 'False' || dataBefore.reason !== dataCond.reason))
    await event(
      'Warning',
      dataCond.reason === 'ReplaceRefused' ? 'ReplaceRefused' : 'MemberDataUnusable',
      dataCond.message,
    );
  const target = 'member' in effective ? effective.member : undefined;
  const acted = bad.find((b) => b.member === target);
  if (acted !== undefined && effective.kind !== 'refuse' && effective.kind !== 'wait')
    await event(
      'Warning',
      'ReplacingMember',
      `${effective.kind} ${acted.member}: its data is ${acted.dataState} (${acted.reason})`,
    );

  return { decision, step, conditions: [quorumLost, dataCond] };
}
