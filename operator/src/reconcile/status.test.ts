import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KVCluster } from '../types.ts';
import { withDefaults } from '../types.ts';
import type { PlanInput } from './planner.ts';
import { buildStatus, keepMembers } from './status.ts';

const kv: KVCluster = {
  apiVersion: 'kvstore.io/v1alpha1',
  kind: 'KVCluster',
  metadata: { name: 'demo', namespace: 'ns', uid: 'u', generation: 4 },
  spec: withDefaults({ replicas: 3 }),
};

function input(readyPods: number): PlanInput {
  return {
    clusterName: 'demo',
    desiredReplicas: 3,
    desiredConfigHash: 'h',
    onMemberRemoval: 'Delete',
    bootstrapped: true,
    statefulSetReplicas: 3,
    pods: [0, 1, 2].map((o) => ({
      ordinal: o,
      ready: o < readyPods,
      terminating: false,
      configHash: 'h',
      dataState: 'cluster' as const,
    })),
    pvcs: [],
    raft: {
      leader: 'demo-0',
      commitIndex: 10,
      members: [0, 1, 2].map((o) => ({
        id: `demo-${o}`,
        role: 'voter' as const,
        healthy: true,
        matchIndex: 10,
      })),
    },
    operation: null,
  };
}

const obs = { kv, statefulSet: null, pods: [], pvcs: [], nodeStatuses: new Map() };
const now = '2026-11-24T00:00:00.000Z';

void test('healthy cluster: Available, consistent, idle', () => {
  const s = buildStatus(obs, input(3), { kind: 'nothing' }, now);
  assert.equal(s.phase, 'Available');
  assert.equal(s.observedGeneration, 4);
  assert.equal(s.readyReplicas, 3);
  assert.equal(s.leader, 'demo-0');
  const cond = Object.fromEntries((s.conditions ?? []).map((c) => [c.type, c.status]));
  assert.deepEqual(cond, {
    Available: 'True',
    Progressing: 'False',
    Degraded: 'False',
    MembershipConsistent: 'True',
  });
  assert.equal(s.operation, undefined);
});

void test('membership right but only one voter ready: not Available, phase Degraded', () => {
  const s = buildStatus(obs, input(1), { kind: 'nothing' }, now);
  assert.equal(s.phase, 'Degraded');
  assert.equal(s.conditions?.find((c) => c.type === 'Available')?.status, 'False');
});

void test('an action records the operation; a wait keeps it with the reason', () => {
  const adding = buildStatus(
    obs,
    { ...input(3), desiredReplicas: 4 },
    { kind: 'add-learner', member: 'demo-3', ordinal: 3 },
    now,
  );
  assert.deepEqual(adding.operation, {
    kind: 'ScaleUp',
    member: 'demo-3',
    step: 'add-learner',
    startedAt: now,
  });
  assert.equal(adding.phase, 'Scaling');
  const waiting = buildStatus(
    obs,
    { ...input(3), desiredReplicas: 4, operation: adding.operation },
    { kind: 'wait', reason: 'learner catching up' },
    '2026-11-24T00:01:00.000Z',
  );
  assert.equal(waiting.operation?.startedAt, now);
  assert.equal(waiting.operation?.message, 'learner catching up');
});

void test('condition transition times only move when the status changes', () => {
  const first = buildStatus(obs, input(3), { kind: 'nothing' }, now);
  const later = buildStatus(
    { ...obs, kv: { ...kv, status: first } },
    input(3),
    { kind: 'nothing' },
    '2026-11-24T01:00:00.000Z',
  );
  assert.equal(later.conditions?.find((c) => c.type === 'Available')?.lastTransitionTime, now);
  const degraded = buildStatus(
    { ...obs, kv: { ...kv, status: first } },
    input(1),
    { kind: 'nothing' },
    '2026-11-24T01:00:00.000Z',
  );
  assert.equal(
    degraded.conditions?.find((c) => c.type === 'Available')?.lastTransitionTime,
    '2026-11-24T01:00:00.000Z',
  );
});

void test('hibernating: the members seen before stay listed, not ready, with their roles and volumes', () => {
  const prev = [
    { name: 'demo-0', id: 'demo-0', role: 'voter' as const, healthy: true, ready: true, volume: 'v0' },
    { name: 'demo-1', id: 'demo-1', role: 'voter' as const, healthy: true, ready: true, volume: 'v1' },
  ];
  const live = [{ name: 'demo-1', role: 'none' as const, healthy: false, ready: true }];
  assert.deepEqual(keepMembers(prev, live), [
    { name: 'demo-0', id: 'demo-0', role: 'voter', healthy: false, ready: false, volume: 'v0' },
    { name: 'demo-1', id: 'demo-1', role: 'voter', healthy: false, ready: true, volume: 'v1' },
  ]);
});
