import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PlanInput, Step } from './planner.ts';
import { planNextStep } from './planner.ts';
import { World } from './planner.world.test-helper.ts';
import { violations } from './planner.invariants.test-helper.ts';
import { healthy, learner, plan, pod, voter } from './planner.fixtures.test-helper.ts';

void describe('planNextStep: table', () => {
  const cases: { name: string; input: PlanInput; want: Step | Step['kind'] }[] = [
    {
      name: 'fresh cluster: create the StatefulSet with member 0 only',
      input: {
        ...healthy(3),
        bootstrapped: false,
        statefulSetReplicas: null,
        pods: [],
        pvcs: [],
        raft: null,
      },
      want: { kind: 'raise-statefulset', replicas: 1 },
    },
    {
      name: 'member 0 not bootstrapped yet: wait',
      input: {
        ...healthy(3),
        bootstrapped: false,
        statefulSetReplicas: 1,
        pods: [pod(0, { ready: false, dataState: 'unknown' })],
        raft: null,
      },
      want: 'wait',
    },
    { name: 'healthy and as desired: nothing', input: healthy(3), want: { kind: 'nothing' } },
    {
      name: 'no leader after bootstrap: refuse',
      input: { ...healthy(3), raft: null },
      want: 'refuse',
    },
    {
      name: 'StatefulSet deleted by hand after bootstrap: bring all members back',
      input: { ...healthy(3), statefulSetReplicas: null, pods: [], raft: null },
      want: { kind: 'raise-statefulset', replicas: 3 },
    },
    {
      name: 'two of three voters down: refuse',
      input: {
        ...healthy(3, { desiredReplicas: 1 }),
        raft: {
          leader: 'demo-0',
          commitIndex: 100,
          members: [voter(0), voter(1, { healthy: false }), voter(2, { healthy: false })],
        },
      },
      want: 'refuse',
    },
    {
      name: 'scale-up 1 -> 3: add demo-1 as learner first',
      input: { ...healthy(1), desiredReplicas: 3 },
      want: { kind: 'add-learner', member: 'demo-1', ordinal: 1 },
    },
    {
      name: 'learner added: raise the StatefulSet',
      input: {
        ...healthy(1),
        desiredReplicas: 3,
        raft: {
          leader: 'demo-0',
          commitIndex: 100,
          members: [voter(0), learner(1, { healthy: false, matchIndex: 0 })],
        },
      },
      want: { kind: 'raise-statefulset', replicas: 2 },
    },
    {
      name: 'learner pod up but behind: wait',
      input: {
        ...healthy(2),
        desiredReplicas: 3,
        raft: {
          leader: 'demo-0',
          commitIndex: 1000,
          members: [voter(0, { matchIndex: 1000 }), learner(1, { matchIndex: 10 })],
        },
      },
      want: 'wait',
    },
    {
      name: 'learner caught up and ready: promote',
      input: {
        ...healthy(2),
        desiredReplicas: 3,
        raft: { leader: 'demo-0', commitIndex: 100, members: [voter(0), learner(1)] },
      },
      want: { kind: 'promote', member: 'demo-1' },
    },
    {
      name: 'learner caught up but pod not ready: wait',
      input: {
        ...healthy(2),
        desiredReplicas: 3,
        pods: [pod(0), pod(1, { ready: false })],
        raft: { leader: 'demo-0', commitIndex: 100, members: [voter(0), learner(1)] },
      },
      want: 'wait',
    },
    {
      name: 'scale-down 5 -> 3: remove the highest member',
      input: { ...healthy(5), desiredReplicas: 3 },
      want: { kind: 'remove-member', member: 'demo-4' },
    },
    {
      name: 'scale-down: highest member is the leader: transfer first, to a member that stays',
      input: {
        ...healthy(5, { desiredReplicas: 3 }),
        raft: { leader: 'demo-4', commitIndex: 100, members: [0, 1, 2, 3, 4].map((o) => voter(o)) },
      },
      want: { kind: 'transfer-leadership', from: 'demo-4', to: 'demo-0' },
    },
    {
      name: 'scale-down: member removed, pod still there: lower the StatefulSet by one',
      input: {
        ...healthy(5, { desiredReplicas: 3 }),
        raft: { leader: 'demo-0', commitIndex: 100, members: [0, 1, 2, 3].map((o) => voter(o)) },
      },
      want: { kind: 'lower-statefulset', replicas: 4 },
    },
    {
      name: 'scale-down: StatefulSet lowered: delete the PVC (Delete policy)',
      input: {
        ...healthy(4, { desiredReplicas: 3 }),
        pvcs: [0, 1, 2, 3, 4].map((ordinal) => ({ ordinal, markedRemoved: false })),
        raft: { leader: 'demo-0', commitIndex: 100, members: [0, 1, 2, 3].map((o) => voter(o)) },
      },
      want: { kind: 'delete-pvc', member: 'demo-4', ordinal: 4, deletePod: false },
    },
    {
      name: 'scale-down: Retain policy labels the PVC instead',
      input: {
        ...healthy(4, { desiredReplicas: 3, onMemberRemoval: 'Retain' }),
        pvcs: [0, 1, 2, 3, 4].map((ordinal) => ({ ordinal, markedRemoved: false })),
        raft: { leader: 'demo-0', commitIndex: 100, members: [0, 1, 2, 3].map((o) => voter(o)) },
      },
      want: { kind: 'mark-pvc-removed', member: 'demo-4', ordinal: 4 },
    },
    {
      name: 'scale-up onto a retained PVC: delete it before adding the member',
      input: {
        ...healthy(3, { desiredReplicas: 4, onMemberRemoval: 'Retain' }),
        pvcs: [0, 1, 2, 3].map((ordinal) => ({ ordinal, markedRemoved: ordinal === 3 })),
      },
      want: { kind: 'delete-pvc', member: 'demo-3', ordinal: 3, deletePod: false },
    },
    {
      name: 'drift: a pod holding a removed member data below desired: wipe it',
      input: { ...healthy(3), raft: { leader: 'demo-0', commitIndex: 100, members: [voter(0), voter(1)] } },
      want: { kind: 'delete-pvc', member: 'demo-2', ordinal: 2, deletePod: true },
    },
    {
      name: 'drift: a fresh pod that is no member: add it as learner',
      input: {
        ...healthy(3),
        pods: [pod(0), pod(1), pod(2, { dataState: 'empty', ready: false })],
        raft: { leader: 'demo-0', commitIndex: 100, members: [voter(0), voter(1)] },
      },
      want: { kind: 'add-learner', member: 'demo-2', ordinal: 2 },
    },
    {
      name: 'drift: a Raft member without pod slot beyond desired: remove it',
      input: {
        ...healthy(3),
        raft: {
          leader: 'demo-0',
          commitIndex: 100,
          members: [0, 1, 2, 5].map((o) => voter(o, o === 5 ? { healthy: false } : {})),
        },
      },
      want: { kind: 'remove-member', member: 'demo-5' },
    },
    {
      name: 'drift: a Raft member of another name: remove it',
      input: {
        ...healthy(3),
        raft: {
          leader: 'demo-0',
          commitIndex: 100,
          members: [voter(0), voter(1), voter(2), { id: 'stranger', role: 'learner', healthy: false }],
        },
      },
      want: { kind: 'remove-member', member: 'stranger' },
    },
    {
      name: 'drift: a voter below desired whose pod vanished: wait for the StatefulSet',
      input: { ...healthy(3), pods: [pod(0), pod(1)] },
      want: { kind: 'nothing' },
    },
    {
      name: 'PVC lost: a voter answers with empty data: replace it',
      input: { ...healthy(3), pods: [pod(0), pod(1), pod(2, { dataState: 'empty', ready: false })] },
      want: { kind: 'replace-member', member: 'demo-2' },
    },
    {
      name: 'PVC lost but another voter already down: refuse to replace',
      input: {
        ...healthy(3),
        pods: [pod(0), pod(1, { ready: false }), pod(2, { dataState: 'empty', ready: false })],
        raft: {
          leader: 'demo-0',
          commitIndex: 100,
          members: [voter(0), voter(1, { healthy: false }), voter(2)],
        },
      },
      want: 'refuse',
    },
    {
      name: 'roll: image changed: highest follower first',
      input: { ...healthy(3), desiredConfigHash: 'h2' },
      want: { kind: 'roll-pod', member: 'demo-2' },
    },
    {
      name: 'roll: a rolled pod is not ready yet: wait',
      input: {
        ...healthy(3),
        desiredConfigHash: 'h2',
        pods: [pod(0), pod(1), pod(2, { configHash: 'h2', ready: false })],
      },
      want: 'wait',
    },
    {
      name: 'roll: only the leader is outdated: transfer leadership to an updated member',
      input: {
        ...healthy(3),
        desiredConfigHash: 'h2',
        pods: [pod(0), pod(1, { configHash: 'h2' }), pod(2, { configHash: 'h2' })],
      },
      want: { kind: 'transfer-leadership', from: 'demo-0', to: 'demo-1' },
    },
    {
      name: 'roll: single member cluster rolls its only pod',
      input: { ...healthy(1), desiredConfigHash: 'h2' },
      want: { kind: 'roll-pod', member: 'demo-0' },
    },
    {
      name: 'roll: a lagging member blocks the roll',
      input: {
        ...healthy(3),
        desiredConfigHash: 'h2',
        raft: {
          leader: 'demo-0',
          commitIndex: 1000,
          members: [
            voter(0, { matchIndex: 1000 }),
            voter(1, { matchIndex: 1000 }),
            voter(2, { matchIndex: 3 }),
          ],
        },
      },
      want: 'wait',
    },
    {
      name: 'a learner at a higher ordinal is finished before filling a gap',
      input: {
        ...healthy(4, { desiredReplicas: 4 }),
        pods: [pod(0), pod(1), pod(3)],
        raft: { leader: 'demo-0', commitIndex: 100, members: [voter(0), voter(1), learner(3)] },
      },
      want: { kind: 'promote', member: 'demo-3' },
    },
  ];
  for (const c of cases) {
    void test(c.name, () => {
      const step = plan(c.input);
      if (typeof c.want === 'string') assert.equal(step.kind, c.want, JSON.stringify(step));
      else assert.deepEqual(step, c.want);
    });
  }
});

// --- convergence: drive the model world with the planner ------------------------------------
function run(world: World, maxSteps = 200): Step[] {
  const steps: Step[] = [];
  for (let i = 0; i < maxSteps; i++) {
    const input = world.input();
    const step = planNextStep(input);
    assert.deepEqual(
      violations(input, step),
      [],
      `unsafe step ${JSON.stringify(step)} after ${JSON.stringify(steps)}`,
    );
    if (step.kind === 'nothing') return steps;
    assert.notEqual(step.kind, 'refuse', `refused: ${JSON.stringify(step)}`);
    steps.push(step);
    world.apply(step);
  }
  assert.fail(`did not converge: ${JSON.stringify(steps.slice(-10))}`);
}

function assertConverged(world: World): void {
  const ids = [...world.members.values()].map((m) => `${m.id}:${m.role}`).sort();
  assert.deepEqual(ids, Array.from({ length: world.desired }, (_, i) => `demo-${i}:voter`).sort());
  assert.equal(world.sts, world.desired);
  for (const p of world.pods.values()) assert.equal(p.configHash, world.hash);
}

void describe('planNextStep: convergence in a model world', () => {
  void test('create 3, scale to 5, back to 3, roll, with the documented step order', () => {
    const w = new World(3);
    const create = run(w);
    assertConverged(w);
    assert.deepEqual(
      create.map((s) => s.kind),
      [
        'raise-statefulset',
        'add-learner',
        'raise-statefulset',
        'promote',
        'add-learner',
        'raise-statefulset',
        'promote',
      ],
    );

    w.desired = 5;
    run(w);
    assertConverged(w);

    w.desired = 3;
    const down = run(w);
    assertConverged(w);
    assert.deepEqual(
      down.map((s) => s.kind),
      [
        'remove-member',
        'lower-statefulset',
        'delete-pvc',
        'remove-member',
        'lower-statefulset',
        'delete-pvc',
      ],
    );
    assert.deepEqual([...w.pvcs.keys()].sort(), [0, 1, 2]);

    w.hash = 'h2';
    const roll = run(w);
    assertConverged(w);
    assert.deepEqual(
      roll.map((s) => (s.kind === 'roll-pod' ? s.member : s.kind)),
      ['demo-2', 'demo-1', 'transfer-leadership', 'demo-0'],
    );
  });

  void test('scale-down of the leader transfers leadership first', () => {
    const w = new World(5);
    run(w);
    w.leader = 'demo-4';
    w.desired = 3;
    const steps = run(w);
    assert.equal(steps[0]?.kind, 'transfer-leadership');
    assertConverged(w);
    assert.ok(w.leader !== null && Number(w.leader.split('-')[1]) < 3);
  });

  void test('Retain: a later scale-up never reuses a removed member volume', () => {
    const w = new World(5, 'Retain');
    run(w);
    const oldSerial = w.pvcs.get(4)!.serial;
    w.desired = 3;
    run(w);
    assert.equal(w.pvcs.get(4)?.markedRemoved, true, 'retained and labelled');
    w.desired = 5;
    run(w);
    assertConverged(w);
    assert.notEqual(w.pvcs.get(4)!.serial, oldSerial);
  });

  void test('member 0 losing its volume is replaced, not re-bootstrapped', () => {
    const w = new World(3);
    run(w);
    w.leader = 'demo-1';
    // Volume of demo-0 lost: the pod comes back empty (it starts with -join).
    w.pvcs.delete(0);
    w.pods.delete(0);
    w.settle();
    w.members.get('demo-0')!.healthy = false;
    for (const p of w.pods.values()) p.ready = true;
    const steps = run(w);
    assert.deepEqual(
      steps.slice(0, 2).map((s) => s.kind),
      ['replace-member', 'add-learner'],
    );
    assertConverged(w);
  });

  void test('scale while a change is half done (operator restarted between steps) resumes', () => {
    const w = new World(3);
    run(w);
    w.desired = 5;
    const first = planNextStep(w.input());
    w.apply(first); // added demo-3 as learner, then the operator "restarts"
    w.desired = 3; // and the user changed their mind meanwhile
    run(w);
    assertConverged(w);
    assert.equal(w.members.has('demo-3'), false);
  });
});
