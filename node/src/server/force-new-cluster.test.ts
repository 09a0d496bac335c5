// The forced new configuration (docs/adr/0077): the plan on the Raft test cluster (the survivor
// leads alone with every entry it held; an old member restarted with the old configuration cannot
// disrupt it), and on disk through KvNode.open (durable, idempotent across a restart midway).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TestCluster } from '../raft/testing/cluster.ts';
import { StateRole, EntryType, type Entry } from '../raft/types.ts';
import { acceptMessage } from '../transport/peer-filter.ts';
import { DiskStorage } from '../storage/disk-storage.ts';
import { encodeCommand } from '../kv/commands.ts';
import { createLogger } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { bootstrapLog } from './bootstrap.ts';
import { KvNode, type KvNodeOptions } from './kv-node.ts';
import {
  FORCE_REQUEST_FILE,
  ForceNewClusterError,
  latestConfState,
  planForceNewCluster,
  writeForceRequest,
} from './force-new-cluster.ts';

/** a leads a, b, c; `committed` entries commit on all three, then b and c go down and a appends `tail` more. */
function clusterWithLostMajority(committed: number, tail: number): TestCluster {
  // Messages pass the transport's non-member rule (peer-filter.ts), as between real members.
  const c = new TestCluster(['a', 'b', 'c'], { preVote: true, checkQuorum: true, seed: 7 });
  c.filter = (m) => {
    const to = c.nodes.get(m.to);
    return to === undefined || acceptMessage(to.rn.peerView(), m.from, m.type);
  };
  c.campaign('a');
  c.stabilize();
  for (let i = 0; i < committed; i++) c.propose('a', `w${i}`);
  c.stabilize();
  c.down.add('b');
  c.down.add('c');
  for (let i = 0; i < tail; i++) c.propose('a', `tail${i}`);
  c.stabilize();
  return c;
}

function applyPlan(c: TestCluster, id: string, requestId: string): ReturnType<typeof planForceNewCluster> {
  const n = c.node(id);
  const plan = planForceNewCluster(n.storage, id, requestId);
  if (plan.kind === 'rewrite') {
    n.storage.append(plan.entries);
    n.storage.setHardState(plan.hardState);
  }
  n.restart();
  return plan;
}

void test('forced configuration: the survivor leads alone, keeping committed and uncommitted entries', () => {
  const c = clusterWithLostMajority(3, 2);
  const a = c.node('a');
  assert.equal(a.appliedData().length, 3, 'the tail is not committed without b or c');
  const lastBefore = a.storage.lastIndex();
  const plan = applyPlan(c, 'a', 'r1');
  assert.equal(plan.kind, 'rewrite');
  if (plan.kind !== 'rewrite') return;
  assert.deepEqual(plan.removed, ['b', 'c']);
  assert.equal(plan.entries[0]!.index, lastBefore + 1);
  assert.equal(plan.hardState.commit, lastBefore + 2);
  assert.deepEqual(latestConfState(a.storage), { voters: ['a'], learners: [] });

  c.tickUntil(() => a.role() === StateRole.Leader, 500, ['a']);
  c.stabilize();
  assert.equal(a.role(), StateRole.Leader);
  assert.deepEqual(a.status().confState, { voters: ['a'], learners: [] });
  assert.deepEqual(a.appliedData(), ['w0', 'w1', 'w2', 'tail0', 'tail1']);
  c.propose('a', 'after');
  c.stabilize();
  assert.deepEqual(a.appliedData().slice(-1), ['after'], 'the one-member cluster commits on its own');
});

void test('forced configuration: an old member restarted with the old configuration cannot disrupt it', () => {
  const c = clusterWithLostMajority(2, 0);
  applyPlan(c, 'a', 'r1');
  const a = c.node('a');
  c.tickUntil(() => a.role() === StateRole.Leader, 500, ['a']);
  c.stabilize();
  const term = a.status().term;
  // b comes back with its old data: it still believes in voters a, b, c and campaigns.
  c.down.delete('b');
  c.node('b').restart();
  for (let round = 0; round < 200; round++) {
    c.tickAll();
    c.stabilize();
    assert.equal(a.role(), StateRole.Leader, `round ${round}: a was deposed`);
    assert.notEqual(c.node('b').role(), StateRole.Leader, `round ${round}: old b became leader`);
  }
  assert.equal(a.status().term, term, 'the old member moved the new cluster to another term');
  assert.deepEqual(c.node('b').status().confState.voters, ['a', 'b', 'c'], 'b keeps its old view');
  c.propose('a', 'still-writable');
  c.stabilize();
  assert.deepEqual(a.appliedData().slice(-1), ['still-writable']);
  assert.ok(!c.node('b').appliedData().includes('still-writable'), 'nothing of the new cluster reaches b');
});

void test('forced configuration: idempotent, and refused on a learner or without a request id', () => {
  const c = clusterWithLostMajority(1, 0);
  applyPlan(c, 'a', 'r1');
  const a = c.node('a');
  const again = planForceNewCluster(a.storage, 'a', 'r1');
  assert.equal(again.kind, 'already-done');
  assert.equal(planForceNewCluster(a.storage, 'a', 'r2').kind, 'already-done', 'already alone');
  assert.throws(() => planForceNewCluster(a.storage, 'a', ''), ForceNewClusterError);

  const l = new TestCluster(['a', 'b', 'l'], { learners: ['l'] });
  l.campaign('a');
  l.stabilize();
  assert.throws(() => planForceNewCluster(l.node('l').storage, 'l', 'r1'), /not a voter/);
});

// ---- on disk, through KvNode.open -----------------------------------------------------

function options(dataDir: string): KvNodeOptions {
  return {
    id: 'a',
    dataDir,
    clientUrl: 'http://127.0.0.1:1',
    peerUrl: 'http://127.0.0.1:1',
    peers: [],
    join: true,
    tickMs: 10,
    electionTicks: 3,
    snapshotThreshold: 100_000,
    clusterToken: '',
    proposalTimeoutMs: 5_000,
    readTimeoutMs: 5_000,
    unsafeLocalReads: false,
  };
}

/** A data directory of member a of a three-member cluster (a, b, c) holding two committed puts. */
async function survivorDir(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'kv-force-'));
  const members = ['a', 'b', 'c'].map((id) => ({
    id,
    peerUrl: `http://${id}:1`,
    clientUrl: `http://${id}:1`,
  }));
  const s = await DiskStorage.open(dir, {
    memberId: 'a',
    clusterId: 'c0ffee',
    bootstrap: { voters: ['a', 'b', 'c'], learners: [] },
  });
  const { entries } = bootstrapLog(members);
  const puts: Entry[] = ['k1', 'k2'].map((k, i) => ({
    term: 2,
    index: entries.length + 1 + i,
    type: EntryType.Normal,
    data: encodeCommand({ op: 'put', requestId: `r${k}`, key: k, value: `v-${k}` }),
  }));
  await s.persist({
    entries: [...entries, ...puts],
    hardState: { term: 3, vote: 'b', commit: entries.length + 1 },
    snapshot: null,
  });
  await s.close();
  return dir;
}

async function openAndLead(dir: string): Promise<KvNode> {
  const node = await KvNode.open(
    options(dir),
    createLogger({ level: 'error', write: () => undefined }),
    createMetrics(),
  );
  node.start();
  const deadline = Date.now() + 10_000;
  while (node.status().state !== 'leader') {
    if (Date.now() > deadline) {
      await node.stop();
      throw new Error(`no leader: ${JSON.stringify(node.status())}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return node;
}

void test('force-new-cluster on disk: requested by file, done at the next start, durable and idempotent', async () => {
  const dir = await survivorDir();
  try {
    await writeForceRequest(dir, 'req-1');
    let node = await openAndLead(dir);
    try {
      assert.ok(!existsSync(join(dir, FORCE_REQUEST_FILE)), 'the request file is removed once done');
      assert.equal(node.clusterId(), 'c0ffee', 'the cluster id is kept');
      assert.deepEqual(node.raftStatus().confState, { voters: ['a'], learners: [] });
      for (const k of ['k1', 'k2']) {
        const r = await node.get(k, { consistency: 'linearizable' });
        assert.equal(r.kv?.value, `v-${k}`, k);
      }
      await node.put('k3', 'v-k3', {});
    } finally {
      await node.stop();
    }
    // A crash after the rewrite but before the file was removed: the same request is found done.
    await writeForceRequest(dir, 'req-1');
    const before = await DiskStorage.open(dir, { memberId: 'a' });
    const lastIndex = before.lastIndex();
    await before.close();
    node = await openAndLead(dir);
    try {
      assert.ok(node.raftStatus().lastIndex >= lastIndex);
      const status = node.raftStatus();
      assert.deepEqual(status.confState, { voters: ['a'], learners: [] });
      assert.equal((await node.get('k3', { consistency: 'linearizable' })).kv?.value, 'v-k3');
    } finally {
      await node.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('force-new-cluster on disk: without a request nothing changes (the member waits for a quorum)', async () => {
  const dir = await survivorDir();
  try {
    const node = await KvNode.open(
      options(dir),
      createLogger({ level: 'error', write: () => undefined }),
      createMetrics(),
    );
    node.start();
    await new Promise((r) => setTimeout(r, 300));
    assert.notEqual(node.status().state, 'leader');
    assert.deepEqual(node.raftStatus().confState.voters, ['a', 'b', 'c']);
    await node.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
