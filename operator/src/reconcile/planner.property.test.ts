// Randomized property test: over many generated (often inconsistent) observed states, every
// step the planner returns satisfies the safety invariants, and random walks of the model world
// under random user changes and failures never take an unsafe step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DataState, ObservedPod, PlanInput, RaftMember } from './planner.ts';
import { planNextStep } from './planner.ts';
import { violations } from './planner.invariants.test-helper.ts';
import { World } from './planner.world.test-helper.ts';
import { quorum } from '../types.ts';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.PLANNER_SEED ?? 20261124);
const STATES = Number(process.env.PLANNER_STATES ?? 30000);

/** Near-consistent states: a healthy cluster of n with a few random perturbations. */
function nearState(r: () => number): PlanInput {
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const n = 1 + int(7);
  const commitIndex = 1000;
  const members: RaftMember[] = Array.from({ length: n }, (_, o) => ({
    id: `demo-${o}`,
    role: 'voter',
    healthy: true,
    matchIndex: commitIndex,
  }));
  const pods: ObservedPod[] = Array.from({ length: n }, (_, o) => ({
    ordinal: o,
    ready: true,
    terminating: false,
    configHash: 'h1',
    dataState: 'cluster',
  }));
  const pvcs = Array.from({ length: n }, (_, ordinal) => ({ ordinal, markedRemoved: false }));
  let sts = n;
  for (let k = int(3); k > 0; k--) {
    const o = int(n);
    const m = members.find((x) => x.id === `demo-${o}`);
    if (m === undefined) continue;
    switch (int(8)) {
      case 0:
        m.healthy = false;
        pods[o]!.ready = false;
        break;
      case 1:
        m.role = 'learner';
        m.matchIndex = commitIndex - pick([0, 160]);
        break;
      case 2:
        pods[o]!.configHash = 'h0';
        break;
      case 3:
        pods[o]!.dataState = pick<DataState>(['empty', 'foreign', 'unknown']);
        break;
      case 4:
        members.splice(members.indexOf(m), 1);
        break;
      case 5:
        pods[o]!.ready = false;
        break;
      case 6:
        sts = Math.max(0, sts + pick([-1, 1]));
        break;
      case 7:
        pvcs.push({ ordinal: n + int(2), markedRemoved: r() < 0.5 });
        break;
    }
  }
  const voters = members.filter((m) => m.role === 'voter');
  const leader = voters.length > 0 ? pick(voters).id : null;
  return {
    clusterName: 'demo',
    desiredReplicas: Math.max(1, n + pick([-2, -1, 0, 0, 0, 1, 2])),
    desiredConfigHash: pick(['h1', 'h1', 'h0']),
    onMemberRemoval: r() < 0.5 ? 'Delete' : 'Retain',
    bootstrapped: true,
    statefulSetReplicas: sts,
    pods: pods.filter((p) => p.ordinal < sts),
    pvcs,
    raft: leader === null ? null : { leader, commitIndex, members },
    operation: null,
  };
}

function randomState(r: () => number): PlanInput {
  if (r() < 0.5) return nearState(r);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const desired = 1 + int(9);
  const sts = r() < 0.05 ? null : int(10);
  const commitIndex = 1000;
  const members: RaftMember[] = [];
  for (let o = 0; o < 10; o++) {
    if (r() < 0.5) continue;
    members.push({
      id: `demo-${o}`,
      role: r() < 0.75 ? 'voter' : 'learner',
      healthy: r() < 0.8,
      ...(r() < 0.9 ? { matchIndex: commitIndex - pick([0, 0, 10, 99, 101, 500]) } : {}),
    });
  }
  if (r() < 0.1)
    members.push({
      id: pick(['stranger', 'demo-x', 'demo-01']),
      role: r() < 0.5 ? 'voter' : 'learner',
      healthy: r() < 0.5,
    });
  const voters = members.filter((m) => m.role === 'voter');
  const leader = voters.length > 0 && r() < 0.92 ? pick(voters).id : null;
  const pods: ObservedPod[] = [];
  for (let o = 0; o < 10; o++) {
    const expected = o < (sts ?? 0);
    if (r() < (expected ? 0.85 : 0.1)) {
      pods.push({
        ordinal: o,
        ready: r() < 0.75,
        terminating: r() < 0.1,
        configHash: pick(['h1', 'h1', 'h1', 'h2', undefined]),
        dataState: pick<DataState>(['cluster', 'cluster', 'cluster', 'empty', 'foreign', 'unknown']),
      });
    }
  }
  const pvcs = Array.from({ length: 10 }, (_, o) => o)
    .filter(() => r() < 0.6)
    .map((ordinal) => ({ ordinal, markedRemoved: r() < 0.3 }));
  return {
    clusterName: 'demo',
    desiredReplicas: desired,
    desiredConfigHash: r() < 0.7 ? 'h1' : 'h2',
    onMemberRemoval: r() < 0.5 ? 'Delete' : 'Retain',
    bootstrapped: r() < 0.9,
    statefulSetReplicas: sts,
    pods,
    pvcs,
    raft: leader === null ? null : { leader, commitIndex, members },
    operation: null,
  };
}

void test(`random observed states (seed ${SEED}, ${STATES} states): every step is safe`, () => {
  const r = rng(SEED);
  const seen = new Map<string, number>();
  for (let i = 0; i < STATES; i++) {
    const input = randomState(r);
    const step = planNextStep(input);
    const bad = violations(input, step);
    assert.deepEqual(bad, [], `state #${i}: ${JSON.stringify(input)} -> ${JSON.stringify(step)}`);
    seen.set(step.kind, (seen.get(step.kind) ?? 0) + 1);
  }
  // The generator must reach every kind of step, or the property proves little.
  for (const kind of [
    'nothing',
    'wait',
    'refuse',
    'raise-statefulset',
    'lower-statefulset',
    'add-learner',
    'promote',
    'transfer-leadership',
    'remove-member',
    'replace-member',
    'delete-pvc',
    'mark-pvc-removed',
    'roll-pod',
  ]) {
    assert.ok((seen.get(kind) ?? 0) > 0, `no generated state produced ${kind}: ${JSON.stringify([...seen])}`);
  }
});

void test('never removes a voter when the remaining live voters would be below quorum (targeted)', () => {
  const r = rng(SEED + 1);
  let removals = 0;
  for (let i = 0; i < STATES; i++) {
    const input = randomState(r);
    const step = planNextStep(input);
    if ((step.kind !== 'remove-member' && step.kind !== 'replace-member') || input.raft === null) continue;
    const m = input.raft.members.find((x) => x.id === step.member)!;
    if (m.role !== 'voter') continue;
    removals++;
    const voters = input.raft.members.filter((x) => x.role === 'voter');
    const live = (x: RaftMember) =>
      x.healthy && input.pods.some((p) => `demo-${p.ordinal}` === x.id && !p.terminating);
    const remaining = voters.filter((x) => x.id !== m.id && live(x)).length;
    assert.ok(remaining >= quorum(voters.length - 1), JSON.stringify({ input, step }));
  }
  assert.ok(removals > 50, `only ${removals} voter removals generated`);
});

void test('random walks: user changes and failures interleaved with planned steps stay safe and converge', () => {
  const r = rng(SEED + 2);
  const int = (n: number) => Math.floor(r() * n);
  for (let walk = 0; walk < 300; walk++) {
    const w = new World(1 + int(7), r() < 0.5 ? 'Delete' : 'Retain');
    for (let t = 0; t < 120; t++) {
      const event = r();
      if (event < 0.05) w.desired = 1 + int(7);
      else if (event < 0.08) w.hash = `h${1 + int(3)}`;
      else if (event < 0.1 && w.pods.size > 0) {
        // a pod dies and comes back (same volume)
        const o = [...w.pods.keys()][int(w.pods.size)]!;
        w.pods.delete(o);
        w.settle();
      }
      const input = w.input();
      const step = planNextStep(input);
      assert.deepEqual(violations(input, step), [], `walk ${walk} t ${t}: ${JSON.stringify(step)}`);
      w.apply(step);
    }
    // Quiet period: the plan must converge to the desired state.
    let converged = false;
    for (let t = 0; t < 200 && !converged; t++) {
      const input = w.input();
      const step = planNextStep(input);
      assert.deepEqual(violations(input, step), []);
      if (step.kind === 'nothing') converged = true;
      else w.apply(step);
    }
    assert.ok(converged, `walk ${walk} did not converge: ${JSON.stringify(w.log.slice(-8))}`);
    const voters = [...w.members.values()]
      .filter((m) => m.role === 'voter')
      .map((m) => m.id)
      .sort();
    assert.deepEqual(voters, Array.from({ length: w.desired }, (_, i) => `demo-${i}`).sort(), `walk ${walk}`);
    assert.equal(w.members.size, w.desired);
  }
});
