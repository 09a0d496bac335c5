// A candidate's term and vote must be durable before anything counts them
// (issue 13 §1). The node persists each Ready asynchronously and keeps stepping
// peer messages meanwhile, so these scenarios drive RawNodes by hand in that
// order: take a Ready, deliver messages while it is outstanding, crash before
// it lands. On a core that sent vote requests before persisting, or counted its
// own vote at once, node `a` won term T, replicated to `c`, crashed, won term T
// again with a different log, and `c` applied X where `a` and `b` applied Y.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultConfig, seededRandom } from '../config.ts';
import { RawNode } from '../rawnode.ts';
import { MemoryStorage } from '../storage.ts';
import { EntryType, MessageType, StateRole, type Message, type NodeId, type Ready } from '../types.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One member whose persistence is asynchronous: a Ready stays outstanding until `persist()`. */
class AsyncNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  rn: RawNode;
  outstanding: Ready | null = null;
  /** Applied normal entries with data, by index. */
  readonly applied = new Map<number, string>();
  appliedIndex = 0;

  constructor(id: NodeId, voters: NodeId[]) {
    this.id = id;
    this.storage = MemoryStorage.bootstrap(voters);
    this.rn = this.boot();
  }

  private boot(): RawNode {
    const c = defaultConfig(this.id, this.storage, seededRandom(this.id.charCodeAt(0)));
    c.applied = this.appliedIndex;
    return new RawNode(c);
  }

  get role(): StateRole {
    return this.rn.status().role;
  }

  /** Takes a Ready (if any) and returns what may leave before it is persisted. */
  takeReady(): Message[] {
    if (this.outstanding || !this.rn.hasReady()) return [];
    this.outstanding = this.rn.ready();
    return this.outstanding.messagesBeforePersist;
  }

  /** The outstanding Ready lands on disk; returns the messages released after persistence. */
  persist(): Message[] {
    const rd = this.outstanding;
    if (!rd) return [];
    if (rd.snapshot) this.storage.applySnapshot(rd.snapshot);
    this.storage.append(rd.entries);
    if (rd.hardState) this.storage.setHardState(rd.hardState);
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.Normal && e.data.byteLength > 0) this.applied.set(e.index, dec.decode(e.data));
      this.appliedIndex = e.index;
    }
    this.outstanding = null;
    this.rn.advance(rd);
    return rd.messages;
  }

  /** Power loss: the outstanding Ready never lands; memory is rebuilt from storage. */
  crash(): void {
    this.outstanding = null;
    this.applied.clear();
    this.appliedIndex = 0;
    this.rn = this.boot();
  }
}

class Cluster {
  readonly nodes = new Map<NodeId, AsyncNode>();
  /** Messages on the wire, in send order. */
  wire: Message[] = [];

  constructor(ids: NodeId[]) {
    for (const id of ids) this.nodes.set(id, new AsyncNode(id, ids));
  }

  n(id: NodeId): AsyncNode {
    return this.nodes.get(id)!;
  }

  send(msgs: Message[]): void {
    this.wire.push(...msgs);
  }

  /** Delivers the wire messages `pick` selects (the rest stay queued) and returns how many. */
  deliver(pick: (m: Message) => boolean): number {
    const now = this.wire.filter(pick);
    this.wire = this.wire.filter((m) => !pick(m));
    for (const m of now) this.n(m.to).rn.step(m);
    return now.length;
  }

  /** Drops the wire messages `pick` selects. */
  drop(pick: (m: Message) => boolean): void {
    this.wire = this.wire.filter((m) => !pick(m));
  }

  /** Synchronous Ready order for everyone but `skip` (cut off: their traffic is lost) until nothing moves. */
  settle(skip: ReadonlySet<NodeId> = new Set()): void {
    for (let round = 0; round < 200; round++) {
      let moved = false;
      for (const node of this.nodes.values()) {
        if (skip.has(node.id)) continue;
        const before = node.takeReady();
        if (node.outstanding) moved = true;
        this.send(before);
        this.send(node.persist());
      }
      this.drop((m) => skip.has(m.to) || skip.has(m.from));
      if (this.deliver(() => true) > 0) moved = true;
      if (!moved) return;
    }
    throw new Error('cluster did not settle');
  }

  /** No two members applied different data at the same index. */
  assertStateMachineSafety(): void {
    const seen = new Map<number, { id: NodeId; data: string }>();
    for (const node of this.nodes.values()) {
      for (const [index, data] of node.applied) {
        const other = seen.get(index);
        if (other) {
          assert.equal(
            data,
            other.data,
            `index ${index}: ${node.id} applied ${data}, ${other.id} applied ${other.data}`,
          );
        } else seen.set(index, { id: node.id, data });
      }
    }
  }
}

const isVoteRequest = (m: Message): boolean => m.type === MessageType.Vote;

/** Runs the pre-vote round of `id`'s campaign synchronously, leaving the real election's Ready outstanding. */
function campaignUntilElectionReady(c: Cluster, id: NodeId): void {
  const a = c.n(id);
  a.rn.campaign();
  c.send(a.takeReady());
  c.send(a.persist());
  // Pre-votes go out and come back; each voter persists (nothing: pre-votes change no state) and answers.
  c.deliver((m) => m.type === MessageType.PreVote);
  for (const node of c.nodes.values()) {
    if (node.id === id) continue;
    c.send(node.takeReady());
    c.send(node.persist());
  }
  c.deliver((m) => m.type === MessageType.PreVoteResp && m.to === id);
  // The real election: term T and the self-vote are in this Ready, not yet on disk.
  c.send(a.takeReady());
  assert.ok(a.outstanding?.hardState, 'the election Ready carries the new term and vote');
}

describe('a candidate counts nothing before its term and vote are durable (issue 13 §1)', () => {
  for (const size of [3, 5]) {
    test(`${size} voters: the schedule that won the same term twice with different logs`, () => {
      const ids = ['a', 'b', 'c', 'd', 'e'].slice(0, size);
      const c = new Cluster(ids);
      const a = c.n('a');
      const termBefore = a.rn.status().term;

      // 1. `a` campaigns; its election Ready is outstanding. Vote requests that may leave now reach every
      //    voter but `c`, which persist their votes and answer before `a` has persisted anything.
      campaignUntilElectionReady(c, 'a');
      c.deliver((m) => isVoteRequest(m) && m.to !== 'c');
      for (const node of c.nodes.values()) {
        if (node.id === 'a' || node.id === 'c') continue;
        c.send(node.takeReady());
        c.send(node.persist());
      }
      c.deliver((m) => m.type === MessageType.VoteResp && m.to === 'a');
      assert.notEqual(a.role, StateRole.Leader, 'a leads before its own term and vote are on disk');

      // 2. `a` proposes X; whatever it may send while the Ready is outstanding goes to `c` only, and
      //    `c`'s acknowledgements come back (a probing follower gets one append per round trip).
      a.rn.propose(enc.encode('X'));
      const cn = c.n('c');
      for (let round = 0; round < 3; round++) {
        c.send(a.rn.takeMessages(true));
        c.drop((m) => m.from === 'a' && m.to !== 'c');
        c.deliver((m) => m.to === 'c');
        c.send(cn.takeReady());
        c.send(cn.persist());
        c.deliver((m) => m.from === 'c' && m.to === 'a');
      }
      c.drop(() => true);

      // 3. `a` loses power before its Ready lands.
      a.crash();
      assert.equal(a.rn.status().term, termBefore, 'the crash lost the unpersisted term');
      c.drop((m) => m.to === 'a' || m.from === 'a');

      // 4. `a` campaigns again with PreVote and CheckQuorum on while `c` is cut off, commits Y with the
      //    others, then `c` comes back and everything runs to completion.
      const cutOff = new Set(['c']);
      a.rn.campaign();
      c.settle(cutOff);
      assert.equal(a.role, StateRole.Leader, 'a wins with the votes of the members other than c');
      a.rn.propose(enc.encode('Y'));
      c.settle(cutOff);
      a.rn.propose(enc.encode('Z'));
      for (let beat = 0; beat < 3; beat++) {
        a.rn.tick(); // a heartbeat un-pauses the probe of `c`, whose earlier append was lost
        c.settle();
      }

      // 5. Nobody applied X where others applied Y.
      c.assertStateMachineSafety();
      const applied = new Set([...c.nodes.values()].flatMap((n) => [...n.applied.values()]));
      assert.ok(applied.has('Y') && applied.has('Z'), 'Y and Z were committed and applied');
      for (const node of c.nodes.values())
        assert.equal(node.appliedIndex, a.appliedIndex, `${node.id} caught up`);
    });
  }

  test('no vote request leaves before the election Ready is persisted, and the self-vote counts only after it', () => {
    const c = new Cluster(['a', 'b', 'c']);
    campaignUntilElectionReady(c, 'a');
    const a = c.n('a');
    assert.equal(
      c.wire.filter(isVoteRequest).length,
      0,
      'vote requests are released with the after-persist messages',
    );
    assert.equal(
      a.rn.takeMessages(true).filter(isVoteRequest).length,
      0,
      'nor taken out of band during the persist',
    );
    const released = a.persist();
    assert.deepEqual(
      released
        .filter(isVoteRequest)
        .map((m) => m.to)
        .sort(),
      ['b', 'c'],
      'both peers are asked once the vote is durable',
    );
    assert.equal(
      released.filter((m) => m.to === 'a').length,
      0,
      'the self-vote is stepped by the core, not handed to the transport',
    );
  });

  test('a single voter becomes leader only once its term and vote are durable', () => {
    const c = new Cluster(['a']);
    const a = c.n('a');
    a.rn.campaign();
    a.takeReady();
    assert.ok(a.outstanding?.hardState && a.outstanding.hardState.vote === 'a');
    assert.notEqual(a.role, StateRole.Leader);
    a.persist();
    assert.equal(a.role, StateRole.Leader);
    assert.equal(a.storage.initialState().hardState.vote, 'a');
  });
});
