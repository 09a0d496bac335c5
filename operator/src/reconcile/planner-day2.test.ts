// The planner's day-2 rules (ADR 0076): hibernation touches no membership, fencing demotes a voter
// only with leadership moved off it and enough voters left, restarts roll followers first.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { operationKindOf } from './planner.ts';
import { healthy, plan, pod, voter } from './planner.fixtures.test-helper.ts';

void describe('planner: hibernation', () => {
  test('a running cluster asked to hibernate scales the StatefulSet to zero, nothing else', () => {
    assert.deepEqual(plan(healthy(3, { hibernate: true })), { kind: 'hibernate' });
  });
  test('while its pods stop, it waits, even with members the leader no longer hears (not member loss)', () => {
    const input = healthy(3, {
      hibernate: true,
      statefulSetReplicas: 0,
      pods: [pod(0, { terminating: true }), pod(2, { terminating: true, ready: false })],
      raft: {
        leader: 'demo-0',
        commitIndex: 100,
        members: [voter(0), voter(1, { healthy: false }), voter(2, { healthy: false })],
      },
    });
    const step = plan(input);
    assert.equal(step.kind, 'wait');
  });
  test('hibernated: nothing to do, and no leader is not a reason to refuse', () => {
    assert.deepEqual(plan(healthy(3, { hibernate: true, statefulSetReplicas: 0, pods: [], raft: null })), {
      kind: 'nothing',
    });
  });
  test('waking: the StatefulSet comes back at the full size with no membership change', () => {
    assert.deepEqual(plan(healthy(3, { statefulSetReplicas: 0, pods: [], raft: null })), {
      kind: 'raise-statefulset',
      replicas: 3,
    });
  });
  test('a hibernate step is recorded as a Hibernate operation', () => {
    const input = healthy(3, { hibernate: true });
    assert.equal(operationKindOf(plan(input), input), 'Hibernate');
  });
});

void describe('planner: fencing', () => {
  test('a fenced follower is demoted to learner', () => {
    assert.deepEqual(plan(healthy(3, { fenced: ['demo-2'] })), { kind: 'demote', member: 'demo-2' });
  });
  test('a fenced leader first hands leadership to an unfenced voter', () => {
    const step = plan(healthy(3, { fenced: ['demo-0'] }));
    assert.equal(step.kind, 'transfer-leadership');
    assert.ok(step.kind === 'transfer-leadership' && step.to !== 'demo-0');
  });
  test('a fenced leader is not moved when the demotion that follows would be refused', () => {
    // demo-1 is fenced (already a learner), demo-0 leads and is fenced too: only demo-2 may lead.
    const input = healthy(3, {
      fenced: ['demo-0', 'demo-1'],
      desiredReplicas: 3,
      raft: {
        leader: 'demo-0',
        commitIndex: 100,
        members: [voter(0), { ...voter(1), role: 'learner' }, voter(2)],
      },
    });
    // Two voters left of three desired: fencing demo-0 as well would leave one voter, refused.
    assert.equal(plan(input).kind, 'refuse');
  });
  test('fencing that would leave fewer than a majority of the desired size voting is refused', () => {
    const input = healthy(3, {
      fenced: ['demo-1', 'demo-2'],
      raft: {
        leader: 'demo-0',
        commitIndex: 100,
        members: [voter(0), voter(1), { ...voter(2), role: 'learner' }],
      },
    });
    const step = plan(input);
    assert.equal(step.kind, 'refuse');
    assert.match(step.kind === 'refuse' ? step.reason : '', /fencing demo-1/);
  });
  test('fencing a voter while another voter is down (quorum would be lost) is refused', () => {
    const input = healthy(5, {
      fenced: ['demo-4'],
      raft: {
        leader: 'demo-0',
        commitIndex: 100,
        members: [voter(0), voter(1, { healthy: false }), voter(2, { healthy: false }), voter(3), voter(4)],
      },
    });
    assert.equal(plan(input).kind, 'refuse');
  });
  test('a single-member cluster cannot be fenced', () => {
    assert.equal(plan(healthy(1, { fenced: ['demo-0'] })).kind, 'refuse');
  });
  test('a fenced learner is never promoted; unfenced it is', () => {
    const fencedLearner = {
      leader: 'demo-0',
      commitIndex: 100,
      members: [voter(0), voter(1), { ...voter(2), role: 'learner' as const }],
    };
    const notReady = [pod(0), pod(1), pod(2, { ready: false })];
    assert.equal(
      plan(healthy(3, { fenced: ['demo-2'], raft: fencedLearner, pods: notReady })).kind,
      'nothing',
    );
    assert.deepEqual(plan(healthy(3, { raft: fencedLearner })), { kind: 'promote', member: 'demo-2' });
  });
  test('a rolling update goes around a fenced member (not ready by design)', () => {
    const input = healthy(3, {
      fenced: ['demo-2'],
      desiredConfigHash: 'h2',
      pods: [pod(0), pod(1), pod(2, { ready: false })],
      raft: {
        leader: 'demo-0',
        commitIndex: 100,
        members: [voter(0), voter(1), { ...voter(2), role: 'learner' }],
      },
    });
    assert.deepEqual(plan(input), { kind: 'roll-pod', member: 'demo-1' });
  });
});

void describe('planner: restart requests', () => {
  test('followers first, highest ordinal first', () => {
    const input = healthy(3, { pods: [0, 1, 2].map((o) => pod(o, { restartDue: true })) });
    assert.deepEqual(plan(input), { kind: 'roll-pod', member: 'demo-2' });
  });
  test('the leader last, after moving leadership to a restarted member', () => {
    const input = healthy(3, { pods: [pod(0, { restartDue: true }), pod(1), pod(2)] });
    const step = plan(input);
    assert.equal(step.kind, 'transfer-leadership');
    assert.equal(operationKindOf(step, input), 'Roll');
  });
  test('no restart while a member is not ready (quorum-aware)', () => {
    const input = healthy(3, { pods: [pod(0), pod(1, { ready: false }), pod(2, { restartDue: true })] });
    assert.equal(plan(input).kind, 'wait');
  });
  test('a pod not due is left alone', () => {
    assert.deepEqual(plan(healthy(3)), { kind: 'nothing' });
  });
});

void describe('planner: day-2 invariants over random states', () => {
  test('random fenced sets, health, readiness, leaders, restarts and hibernation: every step is safe', () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
    const kinds = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const n = pick([1, 3, 5]);
      const members = Array.from({ length: n }, (_, o) =>
        rand() < 0.2 ? { ...voter(o), role: 'learner' as const } : voter(o, { healthy: rand() < 0.85 }),
      );
      const voters = members.filter((m) => m.role === 'voter');
      if (voters.length === 0) continue;
      const leader = pick(voters);
      leader.healthy = true; // the leader always hears itself
      const input = healthy(n, {
        hibernate: rand() < 0.1,
        fenced: members.filter(() => rand() < 0.3).map((m) => m.id),
        pods: Array.from({ length: n }, (_, o) =>
          pod(o, { ready: rand() < 0.85, restartDue: rand() < 0.2, configHash: rand() < 0.1 ? 'h0' : 'h1' }),
        ),
        raft: { leader: leader.id, commitIndex: 100, members },
      });
      kinds.add(plan(input).kind);
    }
    for (const k of ['demote', 'transfer-leadership', 'refuse', 'roll-pod', 'hibernate', 'promote'])
      assert.ok(kinds.has(k), `explored ${k}: ${[...kinds].join(',')}`);
  });
});
