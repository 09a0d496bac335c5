// Leader election: the §5.4.1 voting rule, one vote per term, stale terms,
// dueling candidates with and without PreVote, and election liveness.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestCluster } from '../testing/cluster.ts';
import { MessageType, type Message } from '../types.ts';

function voteReplies(out: Message[], to: string): Message[] {
  return out.filter((m) => m.type === MessageType.VoteResp && m.to === to);
}

describe('elections', () => {
  test('a vote is granted only to a candidate whose log is at least as up to date (§5.4.1)', () => {
    // The voter's log ends at index 2, term 2.
    const cases = [
      { index: 1, logTerm: 2, granted: false, why: 'same last term, shorter log' },
      { index: 5, logTerm: 1, granted: false, why: 'older last term, longer log' },
      { index: 2, logTerm: 2, granted: true, why: 'identical last entry' },
      { index: 3, logTerm: 2, granted: true, why: 'same last term, longer log' },
      { index: 1, logTerm: 3, granted: true, why: 'newer last term, shorter log' },
    ];
    for (const k of cases) {
      const c = new TestCluster(['a', 'b', 'c'], { logs: { b: { terms: [1, 2] } } });
      const out = c.inject({
        type: MessageType.Vote,
        from: 'a',
        to: 'b',
        term: 3,
        index: k.index,
        logTerm: k.logTerm,
      });
      const replies = voteReplies(out, 'a');
      assert.equal(replies.length, 1, k.why);
      assert.equal(replies[0]!.reject, !k.granted, k.why);
      const st = c.node('b').status();
      assert.equal(st.term, 3, `${k.why}: the voter adopts the candidate's term either way`);
      assert.equal(st.vote, k.granted ? 'a' : null, k.why);
    }
  });

  test('a node votes at most once per term, and that vote survives in its hard state', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const first = voteReplies(c.inject({ type: MessageType.Vote, from: 'a', to: 'b', term: 1 }), 'a');
    assert.equal(first[0]?.reject, false);
    const second = voteReplies(c.inject({ type: MessageType.Vote, from: 'c', to: 'b', term: 1 }), 'c');
    assert.equal(second[0]?.reject, true, 'a second candidate in the same term is refused');
    const again = voteReplies(c.inject({ type: MessageType.Vote, from: 'a', to: 'b', term: 1 }), 'a');
    assert.equal(again[0]?.reject, false, 'a repeated request from the same candidate is granted again');
    assert.deepEqual(c.node('b').storage.initialState().hardState, { term: 1, vote: 'a', commit: 0 });
  });

  test('a candidate with a stale log loses despite its higher term; an up-to-date node then wins', () => {
    const c = new TestCluster(['a', 'b', 'c'], {
      logs: { a: { terms: [1], term: 2 }, b: { terms: [1, 2] }, c: { terms: [1, 2] } },
    });
    c.campaign('a');
    assert.equal(c.leader(), undefined);
    for (const id of ['a', 'b', 'c']) {
      assert.equal(c.node(id).status().term, 3, id);
      assert.equal(c.node(id).role(), 'follower', id);
    }
    assert.equal(c.node('b').status().vote, null, 'b refused its vote');
    c.campaign('b');
    assert.equal(c.node('b').role(), 'leader');
    assert.equal(c.node('b').status().term, 4);
    for (const id of ['a', 'b', 'c']) assert.deepEqual(c.node(id).logTerms(), [1, 2, 4], id);
  });

  test('messages from a stale term are ignored: no append, no vote, no commit', () => {
    const c = new TestCluster(['a', 'b', 'c'], { logs: { b: { terms: [1, 1, 2], term: 3 } } });
    const before = c.node('b').log();
    const app = c.inject({
      type: MessageType.App,
      from: 'a',
      to: 'b',
      term: 2,
      index: 3,
      logTerm: 2,
      commit: 4,
      entries: [{ index: 4, term: 2, type: 0, data: new Uint8Array([1]) }],
    });
    const vote = c.inject({ type: MessageType.Vote, from: 'c', to: 'b', term: 2, index: 9, logTerm: 2 });
    const hb = c.inject({ type: MessageType.Heartbeat, from: 'a', to: 'b', term: 2, commit: 3 });
    assert.deepEqual([...app, ...vote, ...hb], [], 'without PreVote/CheckQuorum nothing is answered');
    const st = c.node('b').status();
    assert.deepEqual(c.node('b').log(), before);
    assert.equal(st.term, 3);
    assert.equal(st.vote, null);
    assert.equal(st.commit, 0);
    assert.equal(st.leader, null);
  });

  test('dueling candidates without PreVote: the rejoining candidate bumps every term but cannot win', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.cutLink('a', 'c');
    c.cutLink('c', 'a');
    c.campaign('a');
    assert.equal(c.node('a').role(), 'leader');
    c.campaign('c');
    assert.equal(c.node('c').role(), 'candidate', 'b already voted for a in term 1');
    assert.equal(c.node('c').status().term, 1);

    c.heal();
    c.campaign('c');
    // c's term-2 request deposed a, but c's empty log could not collect a vote.
    for (const id of ['a', 'b', 'c']) {
      assert.equal(c.node(id).role(), 'follower', id);
      assert.equal(c.node(id).status().term, 2, id);
    }
    assert.deepEqual(c.node('a').logTerms(), [1]);
    assert.deepEqual(c.node('b').logTerms(), [1]);
    assert.deepEqual(c.node('c').logTerms(), []);

    const leader = c.electLeader();
    assert.notEqual(leader.id, 'c', 'only a node holding the committed entry can win');
    assert.ok(leader.status().term >= 3);
  });

  test('dueling candidates with PreVote: the rejoining pre-candidate concedes and the leader keeps its term', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: true });
    c.cutLink('a', 'c');
    c.cutLink('c', 'a');
    c.campaign('a');
    assert.equal(c.node('a').role(), 'leader');
    c.campaign('c');
    assert.notEqual(c.node('c').role(), 'leader');
    assert.ok(c.node('c').status().term <= 1, 'a pre-vote never raises the term');

    c.heal();
    c.campaign('c');
    assert.equal(c.node('a').role(), 'leader');
    for (const id of ['a', 'b', 'c']) assert.equal(c.node(id).status().term, 1, id);
    assert.notEqual(c.node('c').role(), 'leader');
    c.propose('a', 'after-duel');
    // a's earlier appends to c were lost to the cut; a heartbeat answer resumes the probe.
    c.tickAll(1);
    for (const id of ['a', 'b', 'c']) assert.deepEqual(c.node(id).appliedData(), ['after-duel'], id);
  });

  test('with PreVote an isolated node does not raise its term and does not disrupt the leader on heal', () => {
    const c = new TestCluster(['a', 'b', 'c'], { preVote: true, checkQuorum: true, seed: 3 });
    c.campaign('a');
    assert.equal(c.node('a').status().term, 1);
    c.isolate('c');
    c.tickAll(60);
    c.propose('a', 'while-c-away');
    assert.equal(c.node('c').status().term, 1, 'failed pre-votes leave the term alone');
    assert.notEqual(c.node('c').role(), 'leader');

    c.heal();
    c.tickAll(5);
    assert.equal(c.node('a').role(), 'leader');
    for (const id of ['a', 'b', 'c']) {
      assert.equal(c.node(id).status().term, 1, id);
      assert.equal(c.node(id).status().leader, 'a', id);
      assert.deepEqual(c.node(id).appliedData(), ['while-c-away'], id);
    }
  });

  test('without PreVote a rejoining node with a higher term forces an election it cannot win', () => {
    const c = new TestCluster(['a', 'b', 'c'], { seed: 5 });
    c.campaign('a');
    c.isolate('c');
    c.tickAll(60);
    c.propose('a', 'while-c-away');
    const cTerm = c.node('c').status().term;
    assert.ok(cTerm >= 3, `the isolated node kept campaigning (term ${cTerm})`);
    assert.equal(c.node('a').status().term, 1);

    c.heal();
    c.tickUntil(() => c.node('a').role() !== 'leader' || c.node('a').status().term !== 1, 100);
    assert.ok(c.node('a').status().term > 1, 'the old leader was forced out of term 1');
    const leader = c.electLeader();
    assert.notEqual(leader.id, 'c', 'c lacks the committed entry');
    assert.ok(leader.status().term > cTerm);
    c.stabilize();
    for (const id of ['a', 'b', 'c']) assert.deepEqual(c.node(id).appliedData(), ['while-c-away'], id);
  });

  test('PreVote never deadlocks: a lower-term node with the newest log wins against a higher-term stale node', () => {
    const c = new TestCluster(['a', 'b', 'c'], {
      preVote: true,
      seed: 11,
      logs: { a: { terms: [1, 1] }, b: { terms: [1, 1] }, c: { terms: [1], term: 3 } },
    });
    c.crash('a');
    const leader = c.electLeader(300);
    assert.equal(leader.id, 'b');
    assert.ok(leader.status().term > 3, "b had to move past the stale node's term");
    c.propose('b', 'x');
    assert.deepEqual(c.node('c').logTerms(), c.node('b').logTerms());
    assert.deepEqual(c.node('c').appliedData(), ['i1t1', 'i2t1', 'x']);
  });

  test('a candidate concedes when it hears from a leader of its own term', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.isolate('a');
    c.campaign('a');
    assert.equal(c.node('a').role(), 'candidate');
    c.campaign('c');
    assert.equal(c.node('c').role(), 'leader');
    assert.equal(c.node('c').status().term, 1);
    c.heal();
    c.tick('c');
    c.stabilize();
    assert.equal(c.node('a').role(), 'follower');
    assert.equal(c.node('a').status().leader, 'c');
    assert.equal(c.node('a').status().term, 1);
    c.propose('c', 'x');
    for (const id of ['a', 'b', 'c']) assert.deepEqual(c.node(id).appliedData(), ['x'], id);
  });

  test('a split vote is resolved by randomized election timeouts', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd'], { seed: 21 });
    c.partition(['a', 'b'], ['c', 'd']);
    c.node('a').rn.campaign();
    c.node('c').rn.campaign();
    c.stabilize();
    assert.equal(c.leaders().length, 0, 'two votes of four is no quorum');
    assert.equal(c.node('a').role(), 'candidate');
    assert.equal(c.node('c').role(), 'candidate');

    c.heal();
    c.tickUntil(() => c.leaders().length > 0, 200);
    c.tickAll(2);
    assert.equal(c.leaders().length, 1);
    const leader = c.leader()!;
    assert.ok(leader.status().term >= 2);
    for (const n of c.nodes.values()) {
      assert.equal(n.status().leader, leader.id, n.id);
      assert.equal(n.status().term, leader.status().term, n.id);
    }
  });

  test('five nodes elect a leader with two down but not with three, and PreVote keeps terms still', () => {
    const ok = new TestCluster(['a', 'b', 'c', 'd', 'e'], { preVote: true, seed: 2 });
    ok.crash('d');
    ok.crash('e');
    const leader = ok.electLeader();
    assert.ok(['a', 'b', 'c'].includes(leader.id));

    const stuck = new TestCluster(['a', 'b', 'c', 'd', 'e'], { preVote: true, seed: 2 });
    stuck.crash('c');
    stuck.crash('d');
    stuck.crash('e');
    stuck.tickAll(100);
    assert.equal(stuck.leaders().length, 0);
    assert.equal(stuck.node('a').status().term, 0, 'pre-votes that cannot win do not inflate the term');
    assert.equal(stuck.node('b').status().term, 0);
  });

  test('every node can take its turn as leader and the log stays consistent', () => {
    const ids = ['a', 'b', 'c'];
    const c = new TestCluster(ids);
    const written: string[] = [];
    for (const [i, id] of ids.entries()) {
      c.campaign(id);
      assert.equal(c.node(id).role(), 'leader', id);
      assert.equal(c.node(id).status().term, i + 1);
      for (const other of ids) assert.equal(c.node(other).status().leader, id);
      c.propose(id, `from-${id}`);
      written.push(`from-${id}`);
      for (const other of ids) assert.deepEqual(c.node(other).appliedData(), written, other);
    }
    // Each term left its no-op and one proposal.
    assert.deepEqual(c.node('a').logTerms(), [1, 1, 2, 2, 3, 3]);
  });
});
