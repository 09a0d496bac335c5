import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KVCluster } from '../types.ts';
import type { NodeStatus } from '../reconcile/nodeclient.ts';
import { parseArgs } from './main.ts';
import { operatorVerdict, planRecover } from './recover.ts';
import { decideRecovery, type Approval, type RecoveryDecision } from '../reconcile/recovery.ts';

const five = ['demo-0', 'demo-1', 'demo-2', 'demo-3', 'demo-4'];
function status(id: string, lastIndex: number, lastLogTerm: number): NodeStatus {
  return {
    id,
    clusterId: 'c1',
    state: 'follower',
    leader: null,
    term: 9,
    commitIndex: lastIndex - 2,
    appliedIndex: lastIndex - 2,
    lastIndex,
    lastLogTerm,
    dataState: 'ok',
    members: five.map((v) => ({ id: v, peerUrl: '', role: 'voter' as const, isLeader: false })),
  };
}
const wiped = (id: string): NodeStatus => ({ ...status(id, 0, 0), clusterId: '', members: [] });
function cluster(quorumLost: boolean): KVCluster {
  return {
    metadata: { name: 'demo', namespace: 'ns' },
    spec: {},
    status: {
      clusterId: 'c1',
      conditions: [
        {
          type: 'QuorumLost',
          status: quorumLost ? 'True' : 'False',
          reason: 'x',
          message: '',
          lastTransitionTime: '',
        },
      ],
    },
  } as unknown as KVCluster;
}
const statuses = new Map<string, NodeStatus | null>([
  ['demo-0', status('demo-0', 40, 2)],
  ['demo-1', status('demo-1', 44, 2)],
  ['demo-2', wiped('demo-2')],
  ['demo-3', wiped('demo-3')],
  ['demo-4', null],
]);

void test('kubectl kv recover: survivors by log, refusals, the approval annotations', () => {
  const ok = planRecover(cluster(true), statuses, 'demo-1', false, 'r1');
  assert.equal(ok.error, undefined);
  assert.deepEqual(ok.annotations, { 'kvstore.io/recover-from': 'demo-1', 'kvstore.io/recover-id': 'r1' });
  assert.match(ok.lines[2]!, /demo-1\t2\/44/, 'most advanced first');
  const behind = planRecover(cluster(true), statuses, 'demo-0', false, 'r1');
  assert.equal(behind.annotations, undefined);
  assert.match(behind.error!, /demo-0 is behind demo-1/);
  const accepted = planRecover(cluster(true), statuses, 'demo-0', true, 'r1');
  assert.equal(accepted.annotations?.['kvstore.io/recover-accept-data-loss'], 'true');
  assert.match(planRecover(cluster(true), statuses, 'demo-2', false, 'r1').error!, /not a surviving voter/);
  assert.match(
    planRecover(cluster(false), statuses, 'demo-1', false, 'r1').error!,
    /has not lost its quorum/,
  );
});

void test('kubectl kv recover: arguments', () => {
  const a = parseArgs(['recover', 'demo', '--from', 'demo-1', '--accept-data-loss']);
  assert.equal(a.command, 'recover');
  assert.equal(a.from, 'demo-1');
  assert.equal(a.acceptDataLoss, true);
  assert.throws(() => parseArgs(['recover', 'demo']), /recover needs --from/);
  assert.throws(() => parseArgs(['status', 'demo', '--from', 'x']), /only for recover/);
  assert.equal(parseArgs(['status', 'demo']).command, 'status');
});

void test('kubectl kv recover with auth on (no member readable): the verdict is read from the operator condition', () => {
  // demo-4 wiped too: two survivors of five voters, no quorum even if everything came back.
  const lostStatuses = [...statuses.values()].slice(0, 4).concat([wiped('demo-4')]);
  const members = lostStatuses.map((st, i) => ({ ordinal: i, status: st, terminating: false }));
  const decide = (approval: Approval | null): RecoveryDecision =>
    decideRecovery({
      clusterName: 'demo',
      clusterId: 'c1',
      bootstrapped: true,
      hasLeader: false,
      members,
      approval,
    });
  const withCondition = (status: 'True' | 'False', reason: string, message: string): KVCluster => {
    const kv = cluster(true);
    kv.status!.conditions![0] = { type: 'QuorumLost', status, reason, message, lastTransitionTime: '' };
    return kv;
  };
  const messageOf = (d: RecoveryDecision): string => ('message' in d ? d.message : '');
  // The operator's own messages (decideRecovery), as it puts them in the condition.
  const waiting = decide(null);
  assert.equal(waiting.kind, 'quorum-lost');
  assert.equal(
    operatorVerdict(withCondition('True', 'AwaitingApproval', messageOf(waiting)), 'demo-1'),
    undefined,
  );
  const onWiped = decide({ from: 'demo-2', requestId: 'r1', acceptBehind: false });
  assert.equal(onWiped.kind, 'refuse-approval');
  const refused = withCondition('True', 'ApprovalRefused', messageOf(onWiped));
  assert.equal(operatorVerdict(refused, 'demo-2')?.ok, false);
  assert.match(operatorVerdict(refused, 'demo-2')!.message, /not a surviving voter/);
  // A refusal of another member's approval is not the verdict on this one.
  assert.equal(operatorVerdict(refused, 'demo-1'), undefined);
  const forced = decide({ from: 'demo-1', requestId: 'r2', acceptBehind: false });
  assert.equal(forced.kind, 'force');
  assert.equal(operatorVerdict(withCondition('True', 'Recovering', messageOf(forced)), 'demo-1')?.ok, true);
  assert.equal(operatorVerdict(withCondition('True', 'Recovering', messageOf(forced)), 'demo-0'), undefined);
  assert.equal(operatorVerdict(withCondition('False', 'QuorumHeld', ''), 'demo-1')?.ok, true);
});
