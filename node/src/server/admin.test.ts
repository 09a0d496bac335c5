// AdminOps against a fake node: the membership API's rules (strict reconfiguration,
// learners as the only way in).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKvError } from '../errors.ts';
import type { PeerProgress, RaftStatus } from '../raft/rawnode.ts';
import { ConfChangeType, StateRole, type ConfChange } from '../raft/types.ts';
import { AdminOps, type AdminNode } from './admin.ts';

function fakeLeader(voters: string[], learners: string[], progress: Record<string, Partial<PeerProgress>>) {
  const proposed: ConfChange[] = [];
  const commit = 1000;
  const status = (): RaftStatus => ({
    id: 'a',
    term: 2,
    vote: 'a',
    commit,
    applied: commit,
    lastIndex: commit,
    firstIndex: 1,
    leader: 'a',
    role: StateRole.Leader,
    confState: { voters: [...voters], learners: [...learners] },
    leadTransferee: null,
    joining: false,
    wipedVoter: null,
    progress: new Map(
      [...voters, ...learners].map((id) => [
        id,
        {
          match: commit,
          next: commit + 1,
          state: 'replicate',
          recentActive: true,
          isLearner: learners.includes(id),
          ...progress[id],
        },
      ]),
    ),
  });
  const node: AdminNode = {
    raftStatus: status,
    removed: false,
    opts: { tickMs: 10, electionTicks: 3, proposalTimeoutMs: 1000 },
    clusterId: () => 'c',
    appliedIndex: () => commit,
    member: (id: string) => ({ peerUrl: `http://${id}:1`, clientUrl: `http://${id}:1` }),
    transferLeadershipTo: () => undefined,
    waitForTicks: () => Promise.resolve(false),
    nextRequestId: () => `r${proposed.length}`,
    proposeConf: (cc: ConfChange) => {
      proposed.push(cc);
      if (cc.type === ConfChangeType.AddVoter) {
        if (!voters.includes(cc.nodeId)) voters.push(cc.nodeId);
        learners.splice(learners.indexOf(cc.nodeId) >>> 0, learners.includes(cc.nodeId) ? 1 : 0);
      } else if (cc.type === ConfChangeType.AddLearner) learners.push(cc.nodeId);
      return Promise.resolve({ result: { ok: true }, index: commit });
    },
  };
  return { admin: new AdminOps(node), proposed, voters, learners };
}

const code = (expected: string) => (e: unknown) => {
  assert.ok(isKvError(e), String(e));
  assert.equal(e.code, expected, e.message);
  return true;
};

void test('a brand-new address cannot join as a voter: 409 learner-required, pointing to learner + promote', async () => {
  const { admin, proposed } = fakeLeader(['a', 'b', 'c'], [], {});
  for (const id of ['x', 'y', 'z']) {
    await assert.rejects(admin.addMember({ id, peerUrl: `http://${id}:1`, role: 'voter' }), (e: unknown) => {
      code('learner-required')(e);
      assert.equal((e as { status: number }).status, 409);
      assert.match((e as Error).message, /learner/);
      assert.match((e as Error).message, /promote/);
      return true;
    });
  }
  assert.equal(proposed.length, 0, 'nothing proposed: still 3 voters');
  await admin.addMember({ id: 'x', peerUrl: 'http://x:1', role: 'learner' });
  assert.equal(proposed.length, 1);
  assert.equal(proposed[0]!.type, ConfChangeType.AddLearner);
});

void test('promoting a caught-up learner that would leave fewer healthy voters than the new quorum is refused', async () => {
  // 4 voters, 2 of them dead (2 healthy of 4, below its quorum 3): the healthy learner makes 3 of 5, quorum 3.
  const ok = fakeLeader(['a', 'b', 'c', 'd'], ['x'], {
    c: { recentActive: false },
    d: { recentActive: false },
  });
  await ok.admin.promoteMember('x');
  assert.equal(ok.proposed.length, 1);
  // 5 voters, 3 dead: promoting makes 3 healthy of 6 < 4.
  const bad = fakeLeader(['a', 'b', 'c', 'd', 'e'], ['x'], {
    c: { recentActive: false },
    d: { recentActive: false },
    e: { recentActive: false },
  });
  await assert.rejects(bad.admin.promoteMember('x'), code('would-lose-quorum'));
  assert.equal(bad.proposed.length, 0);
});

void test('a learner behind by more than the shared PROMOTE_MAX_LAG is not promoted', async () => {
  const { PROMOTE_MAX_LAG } = await import('../raft/membership.ts');
  const lagging = fakeLeader(['a', 'b', 'c'], ['x'], { x: { match: 1000 - PROMOTE_MAX_LAG - 1 } });
  await assert.rejects(lagging.admin.promoteMember('x'), code('learner-not-caught-up'));
  const close = fakeLeader(['a', 'b', 'c'], ['x'], { x: { match: 1000 - PROMOTE_MAX_LAG } });
  await close.admin.promoteMember('x');
});

void test('removing a voter that would leave no healthy quorum is refused', async () => {
  const { admin, proposed } = fakeLeader(['a', 'b', 'c'], [], { c: { recentActive: false } });
  await assert.rejects(admin.removeMember('b'), code('would-lose-quorum'));
  await admin.removeMember('c');
  assert.equal(proposed.length, 1);
});

void test('demote (fencing): a follower becomes a learner through AddLearner, carrying its addresses', async () => {
  const { admin, proposed } = fakeLeader(['a', 'b', 'c'], [], {});
  await admin.demoteMember('c');
  assert.equal(proposed.length, 1);
  assert.equal(proposed[0]!.type, ConfChangeType.AddLearner);
  assert.equal(proposed[0]!.nodeId, 'c');
  assert.match(proposed[0]!.context ?? '', /"peerUrl":"http:\/\/c:1"/);
});

void test('demote is refused for the leader, a non-member and when the voters left lose quorum; idempotent for a learner', async () => {
  const { admin, proposed } = fakeLeader(['a', 'b', 'c'], ['d'], { b: { recentActive: false } });
  await assert.rejects(admin.demoteMember('a'), code('invalid-conf-change'));
  await assert.rejects(admin.demoteMember('zz'), code('member-not-found'));
  await assert.rejects(admin.demoteMember('c'), code('would-lose-quorum'));
  await admin.demoteMember('d');
  assert.equal(proposed.length, 0, 'nothing proposed');
});

void test('a learner holding every entry but not yet replicating is refused with a message that says so', async () => {
  const probing = fakeLeader(['a', 'b', 'c'], ['x'], { x: { state: 'probe' } });
  await assert.rejects(probing.admin.promoteMember('x'), (e: Error) => {
    assert.match(
      e.message,
      /holds 1000 of 1000 committed entries but is not yet acknowledging appends steadily \(replication state probe\)/,
    );
    return true;
  });
});
