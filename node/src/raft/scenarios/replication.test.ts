// Log replication: the §5.3 consistency check, conflict resolution, fast
// backtracking, and the paper's Figure 7 follower logs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bytes, TestCluster } from '../testing/cluster.ts';
import { EntryType, MessageType, type Message } from '../types.ts';

function appResps(out: Message[]): Message[] {
  return out.filter((m) => m.type === MessageType.AppResp);
}

describe('replication: the follower side of AppendEntries', () => {
  test('an append whose previous entry does not match is rejected with a hint where to retry', () => {
    const c = new TestCluster(['a', 'b', 'c'], { logs: { b: { terms: [1, 1, 2, 2, 2] } } });
    const before = c.node('b').log();
    const cases = [
      { index: 5, logTerm: 3, hint: 5, hintTerm: 2, why: 'same index, different term' },
      { index: 7, logTerm: 3, hint: 5, hintTerm: 2, why: 'beyond the end of the log' },
      { index: 4, logTerm: 1, hint: 2, hintTerm: 1, why: 'skips the whole term-2 run' },
    ];
    for (const k of cases) {
      const out = appResps(
        c.inject({ type: MessageType.App, from: 'a', to: 'b', term: 3, index: k.index, logTerm: k.logTerm }),
      );
      assert.equal(out.length, 1, k.why);
      const r = out[0]!;
      assert.equal(r.reject, true, k.why);
      assert.equal(r.index, k.index, `${k.why}: names the rejected append`);
      assert.equal(r.rejectHint, k.hint, k.why);
      assert.equal(r.hintTerm, k.hintTerm, k.why);
      assert.deepEqual(c.node('b').log(), before, `${k.why}: log untouched`);
    }
  });

  test("a conflicting suffix is deleted and replaced by the leader's entries", () => {
    const c = new TestCluster(['a', 'b', 'c'], { logs: { b: { terms: [1, 1, 2, 2, 2] } } });
    const out = appResps(
      c.inject({
        type: MessageType.App,
        from: 'a',
        to: 'b',
        term: 3,
        index: 3,
        logTerm: 2,
        entries: [
          { index: 4, term: 3, type: EntryType.Normal, data: bytes('new4') },
          { index: 5, term: 3, type: EntryType.Normal, data: bytes('new5') },
        ],
      }),
    );
    assert.equal(out[0]?.reject, false);
    assert.equal(out[0]?.index, 5);
    assert.deepEqual(
      c
        .node('b')
        .log()
        .map((e) => `${e.index}:${e.term}:${e.data}`),
      ['1:1:i1t1', '2:1:i2t1', '3:2:i3t2', '4:3:new4', '5:3:new5'],
    );
  });

  test('an append of entries the follower already has truncates nothing, and commit stops at what it vouched for', () => {
    const c = new TestCluster(['a', 'b', 'c'], { logs: { b: { terms: [1, 1, 2, 2, 2], term: 2 } } });
    const before = c.node('b').log();
    const out = appResps(
      c.inject({
        type: MessageType.App,
        from: 'a',
        to: 'b',
        term: 2,
        index: 1,
        logTerm: 1,
        commit: 5,
        entries: [{ index: 2, term: 1, type: EntryType.Normal, data: bytes('i2t1') }],
      }),
    );
    assert.equal(out[0]?.reject, false);
    assert.equal(out[0]?.index, 2);
    assert.deepEqual(c.node('b').log(), before, 'a delayed, shorter append must not cut the log');
    // Entries 3..5 might not be the leader's: only what this append matched may commit.
    assert.equal(c.node('b').status().commit, 2);
    assert.deepEqual(c.node('b').appliedData(), ['i1t1', 'i2t1']);
  });
});

describe("replication: Figure 7 follower logs converge to the leader's", () => {
  // Raft paper, Figure 7: the leader of term 8 and six possible follower logs.
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: { name: string; terms: number[]; rejections: number }[] = [
    { name: '(a) missing one entry', terms: [1, 1, 1, 4, 4, 5, 5, 6, 6], rejections: 1 },
    { name: '(b) missing many entries', terms: [1, 1, 1, 4], rejections: 1 },
    { name: '(c) one extra uncommitted entry', terms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], rejections: 0 },
    { name: '(d) extra entries of a later term', terms: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], rejections: 0 },
    { name: '(e) missing entries and extra term-4 entries', terms: [1, 1, 1, 4, 4, 4, 4], rejections: 1 },
    { name: '(f) extra entries of terms 2 and 3', terms: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], rejections: 1 },
  ];
  for (const f of followers) {
    test(`follower ${f.name} ends with exactly the leader's log, backtracking one term per round trip`, () => {
      // A third node with the leader's log supplies the vote that (c) and (d) refuse.
      const c = new TestCluster(['lead', 'f', 'x'], {
        logs: {
          lead: { terms: leaderLog, term: 8 },
          f: { terms: f.terms, term: 8 },
          x: { terms: leaderLog, term: 8 },
        },
      });
      let rejections = 0;
      c.filter = (m) => {
        if (m.type === MessageType.AppResp && m.from === 'f' && m.reject) rejections++;
        return true;
      };
      c.campaign('lead');
      assert.equal(c.node('lead').role(), 'leader');
      assert.equal(c.node('lead').status().term, 9);
      c.propose('lead', 'after');
      const want = c.node('lead').log();
      assert.deepEqual(
        want.map((e) => e.term),
        [...leaderLog, 9, 9],
      );
      assert.deepEqual(c.node('f').log(), want);
      assert.equal(c.node('f').status().commit, want.length);
      assert.deepEqual(c.node('f').appliedData(), c.node('lead').appliedData());
      assert.equal(rejections, f.rejections);
    });
  }
});

describe('replication: leaders and proposals', () => {
  test("a deposed leader's uncommitted entries are overwritten when it rejoins", () => {
    const c = new TestCluster(['a', 'b', 'c'], { seed: 9 });
    c.campaign('a');
    c.propose('a', 'committed');
    c.isolate('a');
    const lost1 = c.propose('a', 'lost-1');
    const lost2 = c.propose('a', 'lost-2');
    assert.ok(lost1.ok && lost2.ok, 'an isolated leader still appends locally');
    assert.equal(c.node('a').status().commit, 2);

    c.tickUntil(() => c.leaders().some((n) => n.id !== 'a'), 200, ['b', 'c']);
    const leader = c.leaders().find((n) => n.id !== 'a')!;
    c.propose(leader.id, 'kept');

    c.heal();
    c.tickAll(3);
    assert.equal(c.node('a').role(), 'follower');
    assert.deepEqual(c.node('a').log(), leader.log());
    for (const id of ['a', 'b', 'c']) assert.deepEqual(c.node(id).appliedData(), ['committed', 'kept'], id);
    assert.ok(
      !c
        .node('a')
        .log()
        .some((e) => e.data.startsWith('lost')),
    );
  });

  test('followers forward proposals to the leader; with no leader known they refuse, and conf changes need the leader', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    const early = c.propose('b', 'too-early');
    assert.deepEqual(early.ok ? 'ok' : early.error, 'no-leader');

    c.campaign('a');
    const cc = c.addLearner('b', 'd');
    assert.deepEqual(cc.ok ? 'ok' : cc.error, 'not-leader');
    assert.deepEqual(c.node('a').status().confState, { voters: ['a', 'b', 'c'], learners: [] });

    assert.deepEqual(c.propose('b', 'via-b'), { ok: true, forwarded: true });
    assert.deepEqual(c.propose('c', 'via-c'), { ok: true, forwarded: true });
    for (const id of ['a', 'b', 'c']) assert.deepEqual(c.node(id).appliedData(), ['via-b', 'via-c'], id);
    // Forwarded entries were appended by the leader in its own term.
    assert.deepEqual(c.node('b').logTerms(), [1, 1, 1]);
  });

  test('a follower learns the commit index only up to what it is known to hold', () => {
    const c = new TestCluster(['a', 'b', 'c']);
    c.campaign('a');
    c.isolate('c');
    c.propose('a', 'x');
    c.propose('a', 'y');
    assert.equal(c.node('a').status().commit, 3);
    c.heal();
    // Deliver only the heartbeats, not the appends that would catch c up.
    c.node('a').rn.tick();
    c.flush();
    const heartbeats = c.take((m) => m.type === MessageType.Heartbeat && m.to === 'c');
    assert.equal(heartbeats.length, 1);
    assert.equal(heartbeats[0]!.commit, 1, "the leader caps the commit at c's match");
    c.queue = [];
    c.deliver(heartbeats[0]!);
    c.node('c').process();
    assert.equal(c.node('c').status().commit, 1);
    c.tickAll(1);
    assert.equal(c.node('c').status().commit, 3);
    assert.deepEqual(c.node('c').appliedData(), ['x', 'y']);
  });
});
