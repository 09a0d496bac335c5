// Decisions for unusable member data and quorum-loss recovery (docs/adr/0077).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PlanInput } from './planner.ts';
import { planNextStep } from './planner.ts';
import { dataStateOf } from './observe.ts';
import type { NodeStatus } from './nodeclient.ts';
import { decideRecovery, approvalOf, type MemberObservation, type RecoveryInput } from './recovery.ts';
import { runRecovery } from './recovery-run.ts';
import type { Observation } from './observe.ts';
import type { KVCluster } from '../types.ts';
import { healthy, pod, voter } from './planner.fixtures.test-helper.ts';

void describe('planner: a member whose node refuses its data', () => {
  for (const d of ['corrupt', 'lost'] as const) {
    test(`a ${d} voter is replaced while the others hold quorum`, () => {
      const input = healthy(3, {
        pods: [pod(0), pod(1, { ready: false, dataState: d }), pod(2)],
        raft: {
          leader: 'demo-0',
          commitIndex: 100,
          members: [voter(0), voter(1, { healthy: false }), voter(2)],
        },
      });
      assert.deepEqual(planNextStep(input), { kind: 'replace-member', member: 'demo-1' });
    });
  }
  test('replacing a corrupt voter is refused when it would lose quorum', () => {
    const input = healthy(3, {
      pods: [
        pod(0),
        pod(1, { ready: false, dataState: 'corrupt' }),
        pod(2, { ready: false, dataState: 'unknown' }),
      ],
      raft: {
        leader: 'demo-0',
        commitIndex: 100,
        members: [voter(0), voter(1, { healthy: false }), voter(2, { healthy: false })],
      },
    });
    assert.equal(planNextStep(input).kind, 'refuse');
  });
  test('a lost learner is removed; a corrupt pod that is no member is wiped before it joins', () => {
    const withLearner = healthy(3, {
      pods: [pod(0), pod(1), pod(2), pod(3, { dataState: 'lost' })],
      desiredReplicas: 4,
      statefulSetReplicas: 4,
      raft: {
        leader: 'demo-0',
        commitIndex: 100,
        members: [voter(0), voter(1), voter(2), { ...voter(3), role: 'learner' }],
      },
    });
    assert.deepEqual(planNextStep(withLearner), { kind: 'remove-member', member: 'demo-3' });
    const stranger = healthy(3, {
      pods: [pod(0), pod(1), pod(2, { dataState: 'corrupt' })],
      raft: { leader: 'demo-0', commitIndex: 100, members: [voter(0), voter(1)] },
    });
    assert.deepEqual(planNextStep(stranger), {
      kind: 'delete-pvc',
      member: 'demo-2',
      ordinal: 2,
      deletePod: true,
    });
  });
  test('the node status maps to the planner data state', () => {
    const s = (over: Partial<NodeStatus>): NodeStatus => ({ ...status('demo-1', 5, 2, 5), ...over });
    assert.equal(dataStateOf(s({ dataState: 'corrupt', clusterId: '' }), 'c1'), 'corrupt');
    assert.equal(dataStateOf(s({ dataState: 'lost', clusterId: '' }), 'c1'), 'lost');
    assert.equal(dataStateOf(s({ dataState: 'ok' }), 'c1'), 'cluster');
    assert.equal(dataStateOf(s({ clusterId: '' }), 'c1'), 'empty');
  });
});

// ---- quorum loss -------------------------------------------------------------------------

function status(
  id: string,
  lastIndex: number,
  lastLogTerm: number,
  commitIndex: number,
  voters = ['demo-0', 'demo-1', 'demo-2'],
): NodeStatus {
  return {
    id,
    clusterId: 'c1',
    state: 'follower',
    leader: null,
    term: lastLogTerm + 3,
    commitIndex,
    appliedIndex: commitIndex,
    lastIndex,
    lastLogTerm,
    dataState: 'ok',
    members: voters.map((v) => ({ id: v, peerUrl: '', role: 'voter' as const, isLeader: false })),
  };
}
const wiped = (id: string): NodeStatus => ({ ...status(id, 0, 0, 0), clusterId: '', members: [] });
const member = (ordinal: number, s: NodeStatus | null): MemberObservation => ({
  ordinal,
  status: s,
  terminating: false,
});

function lost3(over: Partial<RecoveryInput> = {}): RecoveryInput {
  return {
    clusterName: 'demo',
    clusterId: 'c1',
    bootstrapped: true,
    hasLeader: false,
    members: [member(0, status('demo-0', 40, 2, 38)), member(1, wiped('demo-1')), member(2, wiped('demo-2'))],
    approval: null,
    ...over,
  };
}

void describe('decideRecovery', () => {
  test('two of three voters wiped: QuorumLost, naming the survivor and how to approve', () => {
    const d = decideRecovery(lost3());
    assert.equal(d.kind, 'quorum-lost');
    if (d.kind !== 'quorum-lost') return;
    assert.deepEqual(d.assessment.gone, ['demo-1', 'demo-2']);
    assert.equal(d.assessment.best?.member, 'demo-0');
    assert.match(d.message, /kubectl kv recover demo --from demo-0/);
  });
  test('a voter that is only unreachable may come back: no QuorumLost, nothing is guessed', () => {
    assert.deepEqual(
      decideRecovery(
        lost3({
          members: [member(0, status('demo-0', 40, 2, 38)), member(1, null), member(2, wiped('demo-2'))],
        }),
      ),
      {
        kind: 'none',
      },
    );
    const corruptCountsAsGone = lost3({
      members: [
        member(0, status('demo-0', 40, 2, 38)),
        member(1, { ...status('demo-1', 0, 0, 0), dataState: 'corrupt' }),
        member(2, wiped('demo-2')),
      ],
    });
    assert.equal(decideRecovery(corruptCountsAsGone).kind, 'quorum-lost');
  });
  test('a leader: nothing, and a leftover approval is cleared', () => {
    assert.deepEqual(decideRecovery(lost3({ hasLeader: true })), { kind: 'none' });
    assert.equal(
      decideRecovery(
        lost3({ hasLeader: true, approval: { from: 'demo-0', requestId: 'r', acceptBehind: false } }),
      ).kind,
      'clear-approval',
    );
  });
  test('approved from the survivor: force it, with the approval id', () => {
    const d = decideRecovery(lost3({ approval: { from: 'demo-0', requestId: 'r1', acceptBehind: false } }));
    assert.equal(d.kind, 'force');
    if (d.kind === 'force') {
      assert.equal(d.member, 'demo-0');
      assert.equal(d.requestId, 'r1');
    }
  });
  test('approved from a less advanced survivor: refused unless the loss is accepted', () => {
    const five = ['demo-0', 'demo-1', 'demo-2', 'demo-3', 'demo-4'];
    const input = lost3({
      members: [
        member(0, status('demo-0', 40, 2, 38, five)),
        member(1, status('demo-1', 52, 3, 50, five)),
        member(2, wiped('demo-2')),
        member(3, wiped('demo-3')),
        member(4, wiped('demo-4')),
      ],
    });
    assert.equal(decideRecovery(input).kind, 'quorum-lost');
    const behind = decideRecovery({
      ...input,
      approval: { from: 'demo-0', requestId: 'r1', acceptBehind: false },
    });
    assert.equal(behind.kind, 'refuse-approval');
    if (behind.kind === 'refuse-approval') assert.match(behind.message, /demo-1 holds a longer log/);
    const accepted = decideRecovery({
      ...input,
      approval: { from: 'demo-0', requestId: 'r1', acceptBehind: true },
    });
    assert.equal(accepted.kind, 'force');
    const best = decideRecovery({
      ...input,
      approval: { from: 'demo-1', requestId: 'r1', acceptBehind: false },
    });
    assert.equal(best.kind, 'force');
  });
  test('approval naming a member without data, or without an id: refused', () => {
    assert.equal(
      decideRecovery(lost3({ approval: { from: 'demo-1', requestId: 'r1', acceptBehind: false } })).kind,
      'refuse-approval',
    );
    assert.equal(
      decideRecovery(lost3({ approval: { from: 'demo-0', requestId: '', acceptBehind: false } })).kind,
      'refuse-approval',
    );
  });
  test('no member with usable data: QuorumLost, nothing to rebuild from', () => {
    const d = decideRecovery(
      lost3({ members: [member(0, wiped('demo-0')), member(1, wiped('demo-1')), member(2, null)] }),
    );
    assert.equal(d.kind, 'quorum-lost');
    if (d.kind === 'quorum-lost') assert.match(d.message, /restore from a backup/);
  });
  test('approvalOf reads the annotations', () => {
    assert.equal(approvalOf(undefined), null);
    assert.deepEqual(approvalOf({ 'kvstore.io/recover-from': 'demo-0', 'kvstore.io/recover-id': 'x' }), {
      from: 'demo-0',
      requestId: 'x',
      acceptBehind: false,
    });
  });
});

// ---- carrying it out -------------------------------------------------------------------------

function observation(annotations: Record<string, string>, statuses: (NodeStatus | null)[]): Observation {
  const kv = {
    apiVersion: 'kvstore.io/v1alpha1',
    kind: 'KVCluster',
    metadata: { name: 'demo', namespace: 'ns', uid: 'u1', generation: 1, annotations },
    spec: { replicas: 3 },
    status: { clusterId: 'c1' },
  } as unknown as KVCluster;
  return {
    kv,
    statefulSet: null,
    pods: statuses.map((_, i) => ({
      metadata: { name: `demo-${i}` },
      status: { phase: 'Running', podIP: `10.0.0.${i}` },
    })),
    pvcs: [],
    nodeStatuses: new Map(statuses.map((s, i) => [`demo-${i}`, s])),
  };
}

void test('runRecovery: QuorumLost event once, force request to the approved survivor, approval cleared once it leads', async () => {
  const events: string[] = [];
  const patches: unknown[] = [];
  const forced: string[] = [];
  const kube = {
    event: (_kv: unknown, _t: string, reason: string) => {
      events.push(reason);
      return Promise.resolve();
    },
    mergePatch: (_a: string, _k: string, _ns: string, _n: string, p: unknown) => {
      patches.push(p);
      return Promise.resolve();
    },
  } as never;
  const node = {
    forceNewCluster: (url: string, id: string) => {
      forced.push(`${url} ${id}`);
      return Promise.resolve();
    },
  } as never;
  const log = {
    info: () => undefined,
    warn: () => undefined,
    debug: () => undefined,
    error: () => undefined,
  } as never;
  const ctx = { kube, node, log, podUrl: (p: string) => `http://${p}:8080`, now: 't0', act: true };
  const input = { raft: null } as unknown as PlanInput;
  const refuse = { kind: 'refuse' as const, reason: 'no leader' };

  const obs = observation({}, [status('demo-0', 40, 2, 38), wiped('demo-1'), wiped('demo-2')]);
  const first = await runRecovery(ctx, obs, input, refuse);
  assert.equal(first.conditions[0]!.status, 'True');
  assert.equal(first.conditions[0]!.reason, 'AwaitingApproval');
  assert.deepEqual(events, ['QuorumLost']);
  obs.kv.status = { clusterId: 'c1', conditions: first.conditions };
  await runRecovery(ctx, obs, input, refuse);
  assert.deepEqual(events, ['QuorumLost'], 'no second event for the same condition');

  obs.kv.metadata.annotations = { 'kvstore.io/recover-from': 'demo-0', 'kvstore.io/recover-id': 'r9' };
  const forcing = await runRecovery(ctx, obs, input, refuse);
  assert.equal(forcing.conditions[0]!.reason, 'Recovering');
  assert.deepEqual(forced, ['http://demo-0:8080 r9']);
  assert.deepEqual(events, ['QuorumLost', 'ForceNewCluster']);

  obs.kv.status = { clusterId: 'c1', conditions: forcing.conditions };
  const led = { raft: { leader: 'demo-0', commitIndex: 41, members: [] } } as unknown as PlanInput;
  const done = await runRecovery(ctx, obs, led, { kind: 'nothing' });
  assert.equal(done.conditions[0]!.status, 'False');
  assert.equal(patches.length, 1);
  assert.deepEqual(
    (patches[0] as { metadata: { annotations: Record<string, null> } }).metadata.annotations[
      'kvstore.io/recover-from'
    ],
    null,
  );
  assert.deepEqual(events, ['QuorumLost', 'ForceNewCluster', 'Recovered']);

  // Paused: reported, nothing sent.
  forced.length = 0;
  obs.kv.status = { clusterId: 'c1' };
  await runRecovery({ ...ctx, act: false }, obs, input, refuse);
  assert.deepEqual(forced, []);
});

void test('runRecovery: a corrupt member is reported in MemberDataHealthy with an event, and its replacement announced', async () => {
  const events: string[] = [];
  const kube = {
    event: (_kv: unknown, _t: string, reason: string) => {
      events.push(reason);
      return Promise.resolve();
    },
    mergePatch: () => Promise.resolve(),
  } as never;
  const log = { info: () => undefined, warn: () => undefined } as never;
  const ctx = { kube, node: {} as never, log, podUrl: () => null, now: 't0', act: true };
  const bad = {
    ...status('demo-1', 0, 0, 0),
    clusterId: '',
    dataState: 'corrupt' as const,
    dataReason: 'corrupt data at entry/7',
  };
  const obs = observation({}, [status('demo-0', 40, 2, 40), bad, status('demo-2', 40, 2, 40)]);
  const input = { raft: { leader: 'demo-0', commitIndex: 40, members: [] } } as unknown as PlanInput;
  const out = await runRecovery(ctx, obs, input, { kind: 'replace-member', member: 'demo-1' });
  const c = out.conditions.find((x) => x.type === 'MemberDataHealthy')!;
  assert.equal(c.status, 'False');
  assert.match(c.message, /demo-1: corrupt: corrupt data at entry\/7/);
  assert.deepEqual(events, ['MemberDataUnusable', 'ReplacingMember']);
  obs.kv.status = { clusterId: 'c1', conditions: out.conditions };
  const refused = await runRecovery(ctx, obs, input, {
    kind: 'refuse',
    reason: 'cannot replace demo-1: quorum would not hold',
  });
  assert.equal(refused.conditions[1]!.reason, 'ReplaceRefused');
  assert.deepEqual(events.slice(2), ['ReplaceRefused']);
});
