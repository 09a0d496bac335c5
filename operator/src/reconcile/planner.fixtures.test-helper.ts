// Builders for hand-written planner states, shared by the planner's, the day-2 rules' and the
// recovery decisions' tests.
import assert from 'node:assert/strict';
import type { ObservedPod, PlanInput, RaftMember, Step } from './planner.ts';
import { planNextStep } from './planner.ts';
import { violations } from './planner.invariants.test-helper.ts';

export const pod = (ordinal: number, over: Partial<ObservedPod> = {}): ObservedPod => ({
  ordinal,
  ready: true,
  terminating: false,
  configHash: 'h1',
  dataState: 'cluster',
  ...over,
});
export const voter = (o: number, over: Partial<RaftMember> = {}): RaftMember => ({
  id: `demo-${o}`,
  role: 'voter',
  healthy: true,
  matchIndex: 100,
  ...over,
});
export const learner = (o: number, over: Partial<RaftMember> = {}): RaftMember => ({
  id: `demo-${o}`,
  role: 'learner',
  healthy: true,
  matchIndex: 100,
  ...over,
});

/** A healthy cluster of `n` voters, demo-0 leading, everything caught up. */
export function healthy(n: number, over: Partial<PlanInput> = {}): PlanInput {
  return {
    clusterName: 'demo',
    desiredReplicas: n,
    desiredConfigHash: 'h1',
    onMemberRemoval: 'Delete',
    bootstrapped: true,
    statefulSetReplicas: n,
    pods: Array.from({ length: n }, (_, i) => pod(i)),
    pvcs: Array.from({ length: n }, (_, i) => ({ ordinal: i, markedRemoved: false })),
    raft: { leader: 'demo-0', commitIndex: 100, members: Array.from({ length: n }, (_, i) => voter(i)) },
    operation: null,
    ...over,
  };
}

/** planNextStep, asserting the step breaks no safety invariant. */
export function plan(input: PlanInput): Step {
  const step = planNextStep(input);
  assert.deepEqual(violations(input, step), [], `unsafe step ${JSON.stringify(step)}`);
  return step;
}
