// Membership: learners, promotion, one change at a time, removal (of a
// follower and of the leader itself).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bytes, TestCluster } from '../testing/cluster.ts';
import { ConfChangeType, MessageType, type ProposeResult } from '../types.ts';

function errorOf(r: ProposeResult): string {
  return r.ok ? 'ok' : r.error;
}

describe('membership', () => {
  test('a learner receives the log but never campaigns, even when isolated for long', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd'], { learners: ['d'], seed: 6 });
    c.campaign('a');
    c.propose('a', 'x');
    assert.deepEqual(c.node('d').appliedData(), ['x']);
    assert.equal(c.node('a').status().progress.get('d')?.isLearner, true);

    c.isolate('d');
    c.tickAll(100);
    c.node('d').rn.campaign();
    c.flush();
    assert.equal(c.node('d').role(), 'follower');
    assert.equal(c.node('d').status().term, 1);
    assert.ok(!c.queue.some((m) => m.from === 'd'), 'a learner sends no vote requests');
    assert.equal(c.node('a').role(), 'leader');
  });

  test("a learner's acknowledgement does not count toward the commit quorum", () => {
    const c = new TestCluster(['a', 'b', 'c', 'd'], { learners: ['d'] });
    c.campaign('a');
    c.crash('b');
    c.crash('c');
    c.propose('a', 'y');
    c.tickAll(3);
    assert.deepEqual(c.node('d').logTerms(), [1, 1], 'the learner holds the entry');
    assert.equal(c.node('a').status().commit, 1, 'leader + learner is not a quorum of 3 voters');
    c.restart('b');
    c.tickAll(2);
    assert.equal(c.node('a').status().commit, 2);
  });

  test('a node added as learner catches up, is promoted, and then its vote decides an election', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    c.propose('a', 'x');
    c.addEmptyNode('d');
    assert.ok(c.addLearner('a', 'd').ok);
    c.propose('a', 'y');
    const d = c.node('d');
    assert.deepEqual(d.appliedData(), ['x', 'y']);
    assert.deepEqual(d.status().confState, { voters: ['a', 'b', 'c'], learners: ['d'] });
    assert.deepEqual(d.log(), c.node('a').log());

    assert.ok(c.confChange('a', ConfChangeType.AddVoter, 'd').ok);
    for (const id of ['a', 'b', 'c', 'd']) {
      assert.deepEqual(c.node(id).status().confState, { voters: ['a', 'b', 'c', 'd'], learners: [] }, id);
    }
    // Four voters: b needs c and d to win.
    c.crash('a');
    c.campaign('b');
    assert.equal(c.node('b').role(), 'leader');
    assert.equal(d.status().vote, 'b');
    c.propose('b', 'z');
    assert.deepEqual(d.appliedData(), ['x', 'y', 'z']);
  });

  test('a conf change is refused while another is pending, and accepted once it is applied', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    c.filter = (m) => !(m.type === MessageType.App && m.from === 'a');
    assert.ok(c.addLearner('a', 'd').ok);
    assert.equal(errorOf(c.addLearner('a', 'e')), 'conf-change-pending');
    assert.ok(c.propose('a', 'plain').ok, 'ordinary proposals are not blocked');

    c.heal();
    c.tickAll(2);
    assert.deepEqual(c.node('a').status().confState.learners, ['d']);
    assert.equal(errorOf(c.addLearner('a', 'e')), 'ok');
    assert.deepEqual(c.node('b').status().confState, { voters: ['a', 'b', 'c'], learners: ['d', 'e'] });
  });

  test('a new leader refuses conf changes until the entries it inherited are applied', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    // x reaches b only, and a never hears b's ack: x stays uncommitted.
    c.filter = (m) =>
      !((m.from === 'a' && m.to === 'c') || (m.type === MessageType.AppResp && m.from === 'b'));
    c.propose('a', 'x');
    assert.deepEqual(c.node('b').logTerms(), [1, 1]);
    assert.equal(c.node('b').status().commit, 1);

    // b takes over (its term-2 no-op held back): x is in its log but not applied.
    c.filter = (m) => !(m.type === MessageType.App && m.from === 'b');
    c.campaign('b');
    assert.equal(c.node('b').role(), 'leader');
    assert.equal(errorOf(c.addLearner('b', 'd')), 'conf-change-pending');

    c.heal();
    c.tickAll(1);
    assert.equal(c.node('b').status().applied, 3);
    assert.deepEqual(c.node('b').appliedData(), ['x']);
    assert.equal(errorOf(c.addLearner('b', 'd')), 'ok');
  });

  test('invalid conf changes are refused and change nothing', () => {
    const c = new TestCluster(['a', 'b', 'c'], { learners: ['c'] });
    c.campaign('a');
    assert.equal(errorOf(c.addLearner('a', 'c')), 'invalid-conf-change', 'already a learner');
    assert.equal(errorOf(c.confChange('a', ConfChangeType.AddVoter, 'b')), 'invalid-conf-change');
    assert.equal(errorOf(c.confChange('a', ConfChangeType.RemoveNode, 'zz')), 'invalid-conf-change');
    assert.deepEqual(c.node('a').status().confState, { voters: ['a', 'b'], learners: ['c'] });
    assert.equal(c.node('a').status().lastIndex, 1, 'nothing was appended');

    const solo = new TestCluster(['s']);
    solo.campaign('s');
    assert.equal(errorOf(solo.confChange('s', ConfChangeType.RemoveNode, 's')), 'invalid-conf-change');
    assert.equal(
      errorOf(solo.addLearner('s', 's')),
      'invalid-conf-change',
      'the last voter cannot be demoted',
    );
  });

  test('demotion (fencing): AddLearner on a voter makes it a learner that keeps replicating and never campaigns', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    assert.equal(errorOf(c.addLearner('a', 'c')), 'ok');
    c.stabilize();
    for (const id of ['a', 'b', 'c'])
      assert.deepEqual(c.node(id).status().confState, { voters: ['a', 'b'], learners: ['c'] }, id);
    const x = c.node('a').rn.propose(bytes('x'));
    assert.ok(x.ok);
    c.stabilize();
    assert.deepEqual(c.node('c').appliedData(), ['x'], 'the demoted member keeps its data current');
    // However long it hears nothing, a learner does not campaign.
    c.filter = (m) => m.to !== 'c';
    c.tickAll(50);
    assert.notEqual(c.node('c').role(), 'candidate');
    assert.notEqual(c.node('c').role(), 'leader');
  });

  test('a leader demoted by its own conf change steps down; the remaining voters elect a leader', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    assert.equal(errorOf(c.addLearner('a', 'a')), 'ok');
    c.stabilize();
    assert.notEqual(c.node('a').role(), 'leader');
    c.campaign('b');
    assert.equal(c.node('b').role(), 'leader');
    assert.deepEqual(c.node('b').status().confState, { voters: ['b', 'c'], learners: ['a'] });
  });

  test('removing a peer shrinks the quorum: a pending entry commits without the removed node', () => {
    const c = new TestCluster(['a', 'b']);
    c.campaign('a');
    const a = c.node('a');
    // b receives the removal but never the entry after it.
    c.filter = (m) => !(m.type === MessageType.App && m.to === 'b' && m.entries.some((e) => e.index >= 3));
    const removal = a.rn.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 'b' });
    c.flush(); // the removal leaves in its own append, before x is proposed
    const x = a.rn.propose(bytes('x'));
    assert.ok(removal.ok && 'index' in removal && removal.index === 2);
    assert.ok(x.ok && 'index' in x && x.index === 3);
    c.stabilize();
    assert.equal(c.node('b').status().lastIndex, 2, 'b never saw index 3');
    assert.deepEqual(a.status().confState, { voters: ['a'], learners: [] });
    assert.equal(a.status().commit, 3, 'with b removed, a alone is the quorum');
    assert.deepEqual(a.appliedData(), ['x']);
  });

  test('a removed leader steps down, cannot campaign, and the others elect a leader and commit', () => {
    const c = new TestCluster(['a', 'b', 'c'], { seed: 8 });
    c.campaign('a');
    c.propose('a', 'before');
    assert.ok(c.confChange('a', ConfChangeType.RemoveNode, 'a').ok);
    const a = c.node('a');
    assert.equal(a.role(), 'follower');
    assert.deepEqual(a.status().confState, { voters: ['b', 'c'], learners: [] });

    c.tickUntil(() => c.leader() !== undefined, 200);
    const leader = c.leader()!;
    assert.notEqual(leader.id, 'a');
    c.propose(leader.id, 'after');
    for (const id of ['b', 'c']) {
      assert.deepEqual(c.node(id).status().confState, { voters: ['b', 'c'], learners: [] }, id);
      assert.deepEqual(c.node(id).appliedData(), ['before', 'after'], id);
    }
    a.rn.campaign();
    c.tickAll(50);
    assert.equal(a.role(), 'follower');
    assert.ok(a.status().term <= leader.status().term);
    assert.equal(leader.role(), 'leader');
    assert.equal(leader.status().progress.has('a'), false);
  });

  test('a node that joins with an empty log learns the founding voters and, once promoted, cannot lead alone', () => {
    const c = new TestCluster(['a', 'b', 'c'], { seed: 12 });
    c.campaign('a');
    c.addEmptyNode('d');
    c.addLearner('a', 'd');
    assert.deepEqual(c.node('d').status().confState, { voters: ['a', 'b', 'c'], learners: ['d'] });
    c.confChange('a', ConfChangeType.AddVoter, 'd');
    assert.deepEqual(c.node('d').status().confState, { voters: ['a', 'b', 'c', 'd'], learners: [] });
    // Isolated, d is one voter of four: it may campaign but must never win.
    c.isolate('d');
    c.tick('d', 50);
    c.stabilize();
    assert.notEqual(c.node('d').role(), 'leader');
    assert.equal(c.node('a').role(), 'leader');
    // After a restart it rebuilds the same configuration from its log.
    c.crash('d');
    c.restart('d');
    c.stabilize();
    assert.deepEqual(c.node('d').status().confState, { voters: ['a', 'b', 'c', 'd'], learners: [] });
  });

  test('a removed node that never learned of its removal cannot disrupt the cluster (PreVote + CheckQuorum)', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: true, checkQuorum: true, seed: 10 });
    c.campaign('a');
    // c receives the removal entry but is cut off before it learns that it committed.
    let cGotRemoval = false;
    c.filter = (m) => {
      if (m.to !== 'c') return true;
      if (cGotRemoval) return false;
      if (m.type === MessageType.App && m.entries.length > 0) cGotRemoval = true;
      return true;
    };
    assert.ok(c.confChange('a', ConfChangeType.RemoveNode, 'c').ok);
    assert.ok(cGotRemoval);
    assert.deepEqual(c.node('c').status().confState.voters, ['a', 'b', 'c'], 'c still thinks it is a voter');
    assert.deepEqual(c.node('a').status().confState.voters, ['a', 'b']);
    c.heal();
    c.tickAll(100);
    assert.equal(c.node('a').role(), 'leader');
    assert.equal(c.node('a').status().term, 1);
    assert.equal(c.node('b').status().term, 1);
    assert.notEqual(c.node('c').role(), 'leader');
    assert.ok(c.propose('a', 'undisturbed').ok);
    assert.deepEqual(c.node('b').appliedData(), ['undisturbed']);
  });
});
