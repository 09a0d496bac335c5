// A member that joins with an empty data directory (HardState.joining) casts no vote until the
// log shows it was not already a voter; one that was (its directory wiped, identity file too)
// reports it and does nothing more (docs/adr/0079).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStorage } from '../storage.ts';
import { TestCluster, type TestNode } from '../testing/cluster.ts';
import { ConfChangeType, MessageType } from '../types.ts';

/** What `kv-store -join` on an empty data directory starts from. */
function joinerStorage(): MemoryStorage {
  const s = new MemoryStorage();
  s.setHardState({ term: 0, vote: null, commit: 0, joining: true });
  return s;
}

/** Replaces `id` by a member of the same id whose data directory is empty (wiped, or brand new). */
function startEmpty(c: TestCluster, id: string): TestNode {
  const n = c.makeNode(id, joinerStorage());
  c.nodes.set(id, n);
  return n;
}

/** a, b, c founders; d added as a learner (joining), caught up, then promoted. */
function clusterWithPromotedJoiner(): TestCluster {
  const c = new TestCluster(['a', 'b', 'c'], { seed: 3, preVote: true, checkQuorum: true });
  c.campaign('a');
  c.propose('a', 'x');
  startEmpty(c, 'd');
  assert.ok(c.addLearner('a', 'd').ok);
  c.propose('a', 'y');
  assert.ok(c.confChange('a', ConfChangeType.AddVoter, 'd').ok);
  c.stabilize();
  return c;
}

function voteFrom(c: TestCluster, from: string, to: string, term: number) {
  const last = c.node(from).status().lastIndex;
  return c.inject({ type: MessageType.Vote, from, to, term, index: last + 100, logTerm: term });
}

describe('a member joining with an empty data directory', () => {
  test('is admitted as a learner, promoted later, and then votes', () => {
    const c = clusterWithPromotedJoiner();
    const d = c.node('d');
    assert.equal(d.status().joining, false, 'admitted once it held what was committed before it joined');
    assert.equal(d.status().wipedVoter, null);
    assert.deepEqual(d.appliedData(), ['x', 'y']);
    // Four voters with a down: a new leader needs b, c and d, so d must vote (or win).
    c.crash('a');
    c.tickUntil(() => ['b', 'c', 'd'].some((id) => c.node(id).role() === 'leader'), 300);
    const leader = ['b', 'c', 'd'].find((id) => c.node(id).role() === 'leader')!;
    assert.equal(d.status().vote, leader, 'a promoted member votes');
  });

  test('casts no vote before it has heard from a leader', () => {
    const c = new TestCluster(['a', 'b', 'c'], { seed: 4 });
    c.campaign('a');
    startEmpty(c, 'd');
    const out = voteFrom(c, 'b', 'd', 5);
    const resp = out.find((m) => m.type === MessageType.VoteResp);
    assert.ok(resp?.reject, 'refused: it cannot know whether it voted in term 5 before');
    assert.equal(c.node('d').status().vote, null);
  });

  test('a promoted voter whose directory is wiped finds out from the log, refuses votes and goes quiet', () => {
    const c = clusterWithPromotedJoiner();
    c.propose('a', 'z');
    // d voted in terms up to now; its whole data directory is deleted and it starts with -join.
    const d = startEmpty(c, 'd');
    const early = voteFrom(c, 'b', 'd', 9);
    assert.ok(early.find((m) => m.type === MessageType.VoteResp)?.reject, 'no vote while unverified');
    // The leader notices at its next append (an answer from below what d acknowledged).
    c.propose('a', 'v');
    c.tickUntil(() => d.status().wipedVoter !== null, 50);
    assert.match(d.status().wipedVoter ?? '', /had already made this member a voter \(entry \d+\)/);
    const after = voteFrom(c, 'c', 'd', 12);
    assert.equal(after.length, 0, 'a wiped voter answers nothing at all');
    assert.notEqual(c.node('a').status().role, undefined);
    assert.equal(c.node('a').role(), 'leader', 'the others keep going without it');
    assert.ok(c.propose('a', 'w').ok);
  });

  test('a founding voter wiped is caught as well (its membership comes from the bootstrap configuration)', () => {
    const c = new TestCluster(['a', 'b', 'c'], { seed: 5 });
    c.campaign('a');
    c.propose('a', 'x');
    const cn = startEmpty(c, 'c');
    c.propose('a', 'y');
    c.tickUntil(() => cn.status().wipedVoter !== null, 50);
    assert.match(cn.status().wipedVoter ?? '', /founding members/);
  });

  test('caught up by a snapshot that lists it as a voter, it is caught too', () => {
    const c = clusterWithPromotedJoiner();
    for (const v of ['p', 'q', 'r']) c.propose('a', v);
    c.node('a').compact();
    const d = startEmpty(c, 'd');
    c.propose('a', 's');
    c.tickUntil(() => d.status().wipedVoter !== null, 50);
    assert.match(d.status().wipedVoter ?? '', /the snapshot at \d+/);
  });

  test('a wiped learner is simply admitted again and catches up', () => {
    const c = new TestCluster(['a', 'b', 'c'], { seed: 6 });
    c.campaign('a');
    startEmpty(c, 'e');
    assert.ok(c.addLearner('a', 'e').ok);
    c.propose('a', 'x');
    const e = startEmpty(c, 'e');
    c.propose('a', 'y');
    c.tickUntil(() => e.appliedData().includes('y'), 50);
    assert.deepEqual(e.appliedData(), ['x', 'y']);
    assert.equal(e.status().joining, false);
    assert.equal(e.status().wipedVoter, null);
  });

  test('the admission is durable: it is in the hard state persisted with the entries', () => {
    const c = clusterWithPromotedJoiner();
    const d = c.node('d');
    assert.equal(d.storage.initialState().hardState.joining, undefined);
    d.restart();
    assert.equal(d.status().joining, false);
    const fresh = startEmpty(c, 'f');
    assert.equal(fresh.storage.initialState().hardState.joining, true);
    fresh.restart();
    assert.equal(fresh.status().joining, true, 'a restart before admission keeps withholding votes');
  });
});
