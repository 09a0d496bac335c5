import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ClassicLevel } from 'classic-level';
import { DEFERRED_COMMIT_MS, DiskStorage, mustSync } from './disk-storage.ts';
import { ENTRY_RANGE } from './records.ts';
import { CorruptionError, DataDirError } from './errors.ts';
import { CompactedError, SnapshotOutOfDateError } from '../raft/storage.ts';
import { ConfChangeType, type Entry } from '../raft/types.ts';
import { entryKey, metaKey } from './records.ts';

function ents(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ index: i, term, type: 0, data: Buffer.from(`v${i}t${term}`) });
  return out;
}

function dataOf(s: DiskStorage, lo: number, hi: number): string[] {
  return s.entries(lo, hi, Infinity).map((e) => `${e.index}:${e.term}:${Buffer.from(e.data).toString()}`);
}

const voters = { voters: ['a', 'b', 'c'], learners: [] };

void describe('DiskStorage', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kv-disk-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void test('fresh bootstrap records the initial ConfState as an index-0 snapshot', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1', bootstrap: voters });
    assert.deepEqual(s.initialState().confState, voters);
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
    assert.deepEqual(s.meta, { clusterId: 'c1', memberId: 'a' });
    await s.close();
    const again = await DiskStorage.open(dir, {
      memberId: 'a',
      clusterId: 'c1',
      bootstrap: { voters: ['x'], learners: [] },
    });
    assert.deepEqual(again.initialState().confState, voters, 'bootstrap is ignored once data exists');
    await again.close();
  });

  void test('mustSync: entries, snapshots, term and vote need fsync; a commit index alone does not', () => {
    const hs = { term: 2, vote: 'a', commit: 5 };
    const none = { entries: [], hardState: null, snapshot: null };
    const snapshot = { metadata: { index: 9, term: 2, confState: voters }, data: Buffer.from('s') };
    assert.equal(mustSync(none, hs), false);
    assert.equal(mustSync({ ...none, hardState: { ...hs, commit: 7 } }, hs), false);
    assert.equal(mustSync({ ...none, hardState: { ...hs, term: 3 } }, hs), true);
    assert.equal(mustSync({ ...none, hardState: { ...hs, vote: 'b' } }, hs), true);
    assert.equal(mustSync({ ...none, hardState: { ...hs, vote: null } }, hs), true);
    assert.equal(mustSync({ ...none, entries: ents(6, 6, 2) }, hs), true);
    assert.equal(mustSync({ ...none, snapshot }, hs), true);
  });

  void test('a commit-only hard state rides in the next batch, unsynced, and a clean close syncs the latest', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 'a', commit: 3 }, snapshot: null });
    assert.deepEqual(s.batchesWritten, { synced: 1, unsynced: 0 });
    await s.persist({ entries: [], hardState: { term: 1, vote: 'a', commit: 5 }, snapshot: null });
    assert.deepEqual(s.batchesWritten, { synced: 1, unsynced: 0 }, 'a commit alone waits for the next batch');
    await s.persist({ entries: [], hardState: { term: 2, vote: null, commit: 5 }, snapshot: null });
    assert.deepEqual(s.batchesWritten, { synced: 2, unsynced: 0 }, 'a new term is synced (with the commit)');
    await s.persist({ entries: [], hardState: { term: 2, vote: null, commit: 5 }, snapshot: null });
    assert.deepEqual(s.batchesWritten, { synced: 2, unsynced: 0 });
    await s.close();
    assert.equal(s.batchesWritten.synced, 3, 'close synced the last deferred hard state');
    const r = await DiskStorage.open(dir, { memberId: 'a' });
    assert.deepEqual(r.initialState().hardState, { term: 2, vote: null, commit: 5 });
    await r.close();
  });

  void test('a deferred commit index is written on its own, unsynced, when no batch follows', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 'a', commit: 3 }, snapshot: null });
    await s.persist({ entries: [], hardState: { term: 1, vote: 'a', commit: 5 }, snapshot: null });
    await new Promise((r) => setTimeout(r, DEFERRED_COMMIT_MS * 3));
    assert.deepEqual(s.batchesWritten, { synced: 1, unsynced: 1 });
    await s.close();
    assert.equal(s.batchesWritten.synced, 2, 'close synced it');
    const r = await DiskStorage.open(dir, { memberId: 'a' });
    assert.equal(r.initialState().hardState.commit, 5);
    await r.close();
  });

  void test('a commit index left behind the snapshot (lost unsynced writes) is lifted to the snapshot index', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({
      entries: ents(1, 10, 1),
      hardState: { term: 1, vote: 'a', commit: 10 },
      snapshot: null,
    });
    await s.saveSnapshot(8, voters, Buffer.from('state at 8'), 2);
    // What a power loss can leave: the synced snapshot record, and an older commit index.
    await s.persist({ entries: [], hardState: { term: 1, vote: 'a', commit: 4 }, snapshot: null });
    await s.close();
    const r = await DiskStorage.open(dir, { memberId: 'a' });
    assert.deepEqual(r.initialState().hardState, { term: 1, vote: 'a', commit: 8 });
    assert.equal(r.lastIndex(), 10);
    await r.close();
  });

  void test('entries and hard state round-trip across reopen', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 'a', commit: 3 }, snapshot: null });
    await s.persist({ entries: ents(6, 8, 2), hardState: { term: 2, vote: 'b', commit: 7 }, snapshot: null });
    const before = dataOf(s, 1, 9);
    await s.close();
    const r = await DiskStorage.open(dir, { memberId: 'a' });
    assert.deepEqual(r.initialState().hardState, { term: 2, vote: 'b', commit: 7 });
    assert.equal(r.firstIndex(), 1);
    assert.equal(r.lastIndex(), 8);
    assert.deepEqual(dataOf(r, 1, 9), before);
    assert.equal(r.term(6), 2);
    await r.close();
  });

  void test('memory is updated synchronously when persist is called', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    const p = s.persist({
      entries: ents(1, 3, 1),
      hardState: { term: 1, vote: null, commit: 0 },
      snapshot: null,
    });
    assert.equal(s.lastIndex(), 3);
    assert.equal(s.initialState().hardState.term, 1);
    await p;
    await s.close();
  });

  void test('a conflicting suffix is truncated, on disk too', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({ entries: ents(1, 10, 1), hardState: null, snapshot: null });
    // A new leader overwrites from index 6 with a shorter log of term 2.
    await s.persist({ entries: ents(6, 7, 2), hardState: { term: 2, vote: 'b', commit: 5 }, snapshot: null });
    assert.equal(s.lastIndex(), 7);
    await s.close();
    const r = await DiskStorage.open(dir, { memberId: 'a' });
    assert.equal(r.lastIndex(), 7, 'entries 8..10 must not come back');
    assert.deepEqual(
      r.entries(5, 8, Infinity).map((e) => e.term),
      [1, 2, 2],
    );
    await r.close();
  });

  void test('writes issued without waiting land in call order', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    const order: number[] = [];
    const writes = [
      s.persist({ entries: ents(1, 50, 1), hardState: null, snapshot: null }).then(() => order.push(1)),
      s.persist({ entries: ents(30, 40, 2), hardState: null, snapshot: null }).then(() => order.push(2)),
      s
        .persist({ entries: [], hardState: { term: 2, vote: 'a', commit: 20 }, snapshot: null })
        .then(() => order.push(3)),
    ];
    await Promise.all(writes);
    assert.deepEqual(order, [1, 2, 3]);
    await s.close();
    const r = await DiskStorage.open(dir, { memberId: 'a' });
    assert.equal(r.lastIndex(), 40);
    assert.equal(r.term(30), 2);
    assert.equal(r.term(29), 1);
    await r.close();
  });

  void test('compacted entries are deleted from disk in the background, and leftovers on the next open', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({
      entries: ents(1, 3000, 2),
      hardState: { term: 2, vote: 'a', commit: 3000 },
      snapshot: null,
    });
    await s.saveSnapshot(2900, voters, Buffer.from('state'), 0);
    await s.close(); // waits for the background deletes
    const countEntries = async (): Promise<number> => {
      const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
      let n = 0;
      for await (const _ of raw.keys({ gte: ENTRY_RANGE.gte, lt: ENTRY_RANGE.lt })) n++;
      await raw.close();
      return n;
    };
    assert.equal(await countEntries(), 100, 'only entries 2901..3000 remain');
    // A crash mid-deletion leaves entries below the log start: they are garbage, not corruption.
    const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await raw.put(entryKey(5), Buffer.from('leftover'));
    await raw.close();
    const r = await DiskStorage.open(dir, { memberId: 'a' });
    assert.equal(r.firstIndex(), 2901);
    assert.equal(r.lastIndex(), 3000);
    await r.close();
    assert.equal(await countEntries(), 100, 'the leftover was deleted');
  });

  void test('saveSnapshot compacts memory and disk, and survives reopen', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({
      entries: ents(1, 100, 3),
      hardState: { term: 3, vote: 'a', commit: 100 },
      snapshot: null,
    });
    const big = Buffer.alloc(2.5 * (1 << 20), 7); // several chunks
    await s.saveSnapshot(90, voters, big, 10);
    assert.equal(s.firstIndex(), 81);
    assert.throws(() => s.term(79), CompactedError);
    await s.saveSnapshot(95, { voters: ['a', 'b'], learners: ['c'] }, Buffer.from('small'), 0);
    assert.equal(s.firstIndex(), 96);
    const sizeBefore = await s.diskUsageBytes();
    assert.ok(sizeBefore >= 0);
    await s.close();
    const r = await DiskStorage.open(dir, { memberId: 'a' });
    assert.equal(r.firstIndex(), 96);
    assert.equal(r.lastIndex(), 100);
    assert.equal(r.term(95), 3);
    const snap = r.snapshot();
    assert.equal(snap.metadata.index, 95);
    assert.deepEqual(snap.metadata.confState, { voters: ['a', 'b'], learners: ['c'] });
    assert.equal(snap.data.byteLength, 0, 'the core sees metadata only');
    assert.equal(Buffer.from(await r.readSnapshotData()).toString(), 'small');
    assert.equal(Buffer.from(await r.snapshotDataAt(95)).toString(), 'small');
    await assert.rejects(r.snapshotDataAt(90), SnapshotOutOfDateError);
    assert.deepEqual(r.initialState().confState, { voters: ['a', 'b'], learners: ['c'] });
    await assert.rejects(r.saveSnapshot(95, voters, Buffer.from('x'), 0), SnapshotOutOfDateError);
    await r.close();
    // Only the live snapshot's file is left; a stray file (a crash mid-write) is deleted on open.
    assert.equal(readdirSync(join(dir, 'snap')).length, 1);
    writeFileSync(join(dir, 'snap', '00000000000000aa-00000000.snap.tmp'), 'partial');
    await (await DiskStorage.open(dir, { memberId: 'a' })).close();
    assert.equal(readdirSync(join(dir, 'snap')).length, 1);
  });

  void test('a snapshot received from the leader replaces the log, atomically with entries after it', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 'a', commit: 5 }, snapshot: null });
    const snap = {
      metadata: { index: 50, term: 4, confState: voters },
      data: Buffer.alloc(1.5 * (1 << 20), 3),
    };
    await s.persist({
      entries: ents(51, 52, 4),
      hardState: { term: 4, vote: null, commit: 50 },
      snapshot: snap,
    });
    assert.equal(s.firstIndex(), 51);
    await assert.rejects(
      s.persist({
        entries: [],
        hardState: null,
        snapshot: { ...snap, metadata: { ...snap.metadata, index: 40 } },
      }),
      SnapshotOutOfDateError,
    );
    await s.close();
    const r = await DiskStorage.open(dir, { memberId: 'a' });
    assert.equal(r.firstIndex(), 51);
    assert.equal(r.lastIndex(), 52);
    assert.equal(r.term(50), 4);
    const data = await r.readSnapshotData();
    assert.equal(data.byteLength, snap.data.byteLength);
    assert.ok(Buffer.from(data).equals(snap.data));
    await r.close();
  });

  void test('a snapshot received while the node is saving its own wins, and nothing it needs is deleted', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({
      entries: ents(1, 100, 1),
      hardState: { term: 1, vote: 'a', commit: 100 },
      snapshot: null,
    });
    // Our own snapshot, many chunks (each write yields to the event loop)...
    function* slowChunks(): Generator<Uint8Array> {
      for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024, i);
    }
    // (Its rejection is awaited from the start: it may come before the received snapshot's batch lands.)
    const own = assert.rejects(s.saveSnapshot(90, voters, slowChunks(), 10), SnapshotOutOfDateError);
    // ...while the leader's newer snapshot lands and its clean-up runs.
    const received = { metadata: { index: 500, term: 3, confState: voters }, data: Buffer.alloc(300_000, 9) };
    await s.persist({ entries: [], hardState: { term: 3, vote: null, commit: 500 }, snapshot: received });
    await own;
    await s.close();
    const r = await DiskStorage.open(dir, { memberId: 'a' });
    assert.equal(r.snapshot().metadata.index, 500);
    assert.ok(Buffer.from(await r.readSnapshotData()).equals(received.data));
    assert.equal(readdirSync(join(dir, 'snap')).length, 1);
    await r.close();
  });

  void test('a flipped byte in a stored entry is reported as corruption naming the key', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({ entries: ents(1, 5, 1), hardState: null, snapshot: null });
    await s.close();
    const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    const v = (await raw.get(entryKey(3)))!;
    v[v.length - 1]! ^= 0x01;
    await raw.put(entryKey(3), v);
    await raw.close();
    await assert.rejects(DiskStorage.open(dir, { memberId: 'a' }), (err: unknown) => {
      assert.ok(err instanceof CorruptionError);
      assert.equal(err.key, 'entry/3');
      return true;
    });
  });

  void test('corrupt hard state and a corrupt, truncated or missing snapshot file are detected', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({ entries: ents(1, 5, 1), hardState: { term: 1, vote: 'a', commit: 5 }, snapshot: null });
    await s.saveSnapshot(4, voters, Buffer.alloc(5000, 1), 2);
    await s.close();
    const [file] = readdirSync(join(dir, 'snap'));
    const path = join(dir, 'snap', file!);
    const good = readFileSync(path);
    const isSnapshotCorruption = (pattern: RegExp) => (err: unknown) => {
      assert.ok(err instanceof CorruptionError);
      assert.equal(err.key, 'meta/snapshot');
      assert.match(err.message, pattern);
      return true;
    };
    // A flipped byte: the checksum, verified whenever the data is read (the node reads it at start).
    const flipped = Buffer.from(good);
    flipped[100]! ^= 0xff;
    writeFileSync(path, flipped);
    const r = await DiskStorage.open(dir, { memberId: 'a' });
    await assert.rejects(r.readSnapshotData(), isSnapshotCorruption(/checksum/));
    await r.close();
    // Truncated or missing: refused at open.
    writeFileSync(path, good.subarray(0, 4000));
    await assert.rejects(DiskStorage.open(dir, { memberId: 'a' }), isSnapshotCorruption(/4000 bytes/));
    rmSync(path);
    await assert.rejects(DiskStorage.open(dir, { memberId: 'a' }), isSnapshotCorruption(/missing/));
    writeFileSync(path, good);
    const raw2 = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    const hs = (await raw2.get(metaKey('hard-state')))!;
    hs[5]! ^= 0x10;
    await raw2.put(metaKey('hard-state'), hs);
    await raw2.close();
    await assert.rejects(DiskStorage.open(dir, { memberId: 'a' }), (err: unknown) => {
      assert.ok(err instanceof CorruptionError);
      assert.equal(err.key, 'meta/hard-state');
      return true;
    });
  });

  void test('a missing entry in the middle of the log is a gap, reported as corruption', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({ entries: ents(1, 6, 1), hardState: null, snapshot: null });
    await s.close();
    const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await raw.del(entryKey(4));
    await raw.close();
    await assert.rejects(DiskStorage.open(dir, { memberId: 'a' }), (err: unknown) => {
      assert.ok(err instanceof CorruptionError);
      assert.equal(err.key, 'entry/5');
      assert.match(err.message, /gap/);
      return true;
    });
  });

  void test('a value moved under another key fails its checksum', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({ entries: ents(1, 3, 1), hardState: null, snapshot: null });
    await s.close();
    const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await raw.put(entryKey(2), (await raw.get(entryKey(1)))!);
    await raw.close();
    await assert.rejects(DiskStorage.open(dir, { memberId: 'a' }), CorruptionError);
  });

  void test('data of another member or cluster, or of a removed member, is refused', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1', bootstrap: voters });
    await s.close();
    const code = (expected: string) => (err: unknown) => {
      assert.ok(err instanceof DataDirError, String(err));
      assert.equal(err.code, expected);
      return true;
    };
    await assert.rejects(DiskStorage.open(dir, { memberId: 'b' }), code('member-id-mismatch'));
    await assert.rejects(
      DiskStorage.open(dir, { memberId: 'a', clusterId: 'c2' }),
      code('cluster-id-mismatch'),
    );
    const ok = await DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1' });
    await assert.rejects(ok.setClusterId('c2'), code('cluster-id-mismatch'));
    await ok.markRemoved();
    await ok.close();
    await assert.rejects(DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1' }), code('member-removed'));
  });

  void test('a reused member id that crashed between replaying its old removal and its re-add is not locked out', async () => {
    // A fresh joiner "d" replays the log: d added (1), d removed (2), d added again (3). Applying (2)
    // marks the directory removed; a crash before (3) is applied must not refuse the member forever.
    const { encodeConfChange } = await import('../raft/conf-change.ts');
    const cc = (index: number, type: ConfChangeType): Entry => ({
      index,
      term: 1,
      type: 1,
      data: encodeConfChange({ type, nodeId: 'd', context: '{"peerUrl":"http://d:1"}' }),
    });
    const s = await DiskStorage.open(dir, { memberId: 'd' });
    await s.persist({
      entries: [
        cc(1, ConfChangeType.AddVoter),
        cc(2, ConfChangeType.RemoveNode),
        cc(3, ConfChangeType.AddLearner),
      ],
      hardState: { term: 1, vote: null, commit: 3 },
      snapshot: null,
    });
    await s.markRemoved();
    await s.close();
    const again = await DiskStorage.open(dir, { memberId: 'd' });
    assert.equal(again.removed, false, 'the committed log adds d back after its removal');
    await again.close();
    const third = await DiskStorage.open(dir, { memberId: 'd' });
    assert.equal(third.removed, false, 'the cleared marker is on disk');
    // The last change concerning d is a removal: refused.
    await third.persist({
      entries: [cc(4, ConfChangeType.RemoveNode)],
      hardState: { term: 1, vote: null, commit: 4 },
      snapshot: null,
    });
    await third.markRemoved();
    await third.close();
    await assert.rejects(DiskStorage.open(dir, { memberId: 'd' }), (err: unknown) => {
      assert.ok(err instanceof DataDirError, String(err));
      assert.equal(err.code, 'member-removed');
      return true;
    });
  });

  void describe('a member whose directory lost its state is refused, never bootstrapped again', () => {
    const lostState = (err: unknown) => {
      assert.ok(err instanceof DataDirError, String(err));
      assert.equal(err.code, 'lost-state');
      assert.match(err.message, /lost/);
      return true;
    };
    const bootstrapped = async (): Promise<void> => {
      const s = await DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1', bootstrap: voters });
      await s.persist({
        entries: ents(1, 3, 1),
        hardState: { term: 4, vote: 'a', commit: 3 },
        snapshot: null,
      });
      await s.close();
    };
    const removeLevelDb = (): void => {
      for (const name of readdirSync(dir))
        if (name !== 'snap' && !name.startsWith('kv-store-')) rmSync(join(dir, name), { recursive: true });
    };

    void test('the LevelDB files are gone but the identity file remains', async () => {
      await bootstrapped();
      removeLevelDb();
      await assert.rejects(
        DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1', bootstrap: voters }),
        lostState,
      );
      await assert.rejects(DiskStorage.open(dir, { memberId: 'a' }), lostState, 'with -join too');
    });

    void test('the LevelDB files are gone but snapshot files remain', async () => {
      const s = await DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1', bootstrap: voters });
      await s.persist({
        entries: ents(1, 10, 1),
        hardState: { term: 1, vote: 'a', commit: 10 },
        snapshot: null,
      });
      await s.saveSnapshot(8, voters, Buffer.from('state'), 2);
      await s.close();
      removeLevelDb();
      for (const name of readdirSync(dir)) if (name.startsWith('kv-store-')) rmSync(join(dir, name));
      assert.ok(readdirSync(join(dir, 'snap')).some((n) => n.endsWith('.snap')));
      await assert.rejects(
        DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1', bootstrap: voters }),
        lostState,
      );
    });

    void test('the log entries are gone while the hard state says they were committed', async () => {
      await bootstrapped();
      const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
      await raw.clear(ENTRY_RANGE);
      await raw.close();
      await assert.rejects(
        DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1', bootstrap: voters }),
        lostState,
      );
    });

    void test('the log is empty but the hard state holds a term and vote: bootstrapping would forget the vote', async () => {
      const s = await DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1', bootstrap: voters });
      await s.persist({ entries: [], hardState: { term: 7, vote: 'b', commit: 0 }, snapshot: null });
      await s.close();
      await assert.rejects(
        DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1', bootstrap: voters }),
        lostState,
      );
    });

    void test('an untouched directory, or one whose first open crashed before its records landed, initialises', async () => {
      const fresh = await DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1', bootstrap: voters });
      await fresh.close();
      const again = await DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1', bootstrap: voters });
      assert.equal(again.lastIndex(), 0, 'initialised but not bootstrapped yet: still bootstrappable');
      await again.close();
      await rm(dir, { recursive: true, force: true });
      const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
      await raw.open();
      await raw.close();
      const s = await DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1', bootstrap: voters });
      await s.close();
    });
  });

  void test('a directory another process holds is refused naming the LevelDB LOCK file', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1', bootstrap: voters });
    try {
      await assert.rejects(DiskStorage.open(dir, { memberId: 'a', clusterId: 'c1' }), (err: unknown) => {
        assert.ok(err instanceof DataDirError, String(err));
        assert.equal(err.code, 'locked');
        assert.ok(err.message.includes(join(dir, 'LOCK')), err.message);
        assert.match(err.message, /another kv-store/);
        return true;
      });
    } finally {
      await s.close();
    }
  });

  void test('a read-only data directory is refused with a clear message', async (t) => {
    const { mountTmpfs } = await import('./tmpfs.test-helper.ts');
    const mnt = await mountTmpfs('2m');
    if (mnt === null) {
      t.skip('needs root and tmpfs mounts');
      return;
    }
    try {
      const d = join(mnt.path, 'data');
      const s = await DiskStorage.open(d, { memberId: 'a', clusterId: 'c1', bootstrap: voters });
      await s.close();
      await mnt.remount('ro');
      for (const target of [d, join(mnt.path, 'never-created')]) {
        await assert.rejects(
          DiskStorage.open(target, { memberId: 'a', clusterId: 'c1', bootstrap: voters }),
          (err: unknown) => {
            assert.ok(err instanceof DataDirError, String(err));
            assert.equal(err.code, 'not-writable');
            assert.match(err.message, /read-only|not writable/i);
            return true;
          },
        );
      }
    } finally {
      await mnt.unmount();
    }
  });

  void test(
    'disk full (real ENOSPC on a tmpfs): writes wait, diskFull says so, and everything lands once space returns',
    { timeout: 60_000 },
    async (t) => {
      const { mountTmpfs } = await import('./tmpfs.test-helper.ts');
      const mnt = await mountTmpfs('16m');
      if (mnt === null) {
        t.skip('needs root and tmpfs mounts');
        return;
      }
      const { fillDisk } = await import('./tmpfs.test-helper.ts');
      try {
        const d = join(mnt.path, 'data');
        const s = await DiskStorage.open(d, { memberId: 'a', clusterId: 'c1', bootstrap: voters });
        await s.persist({
          entries: ents(1, 5, 1),
          hardState: { term: 1, vote: 'a', commit: 5 },
          snapshot: null,
        });
        const filler = await fillDisk(mnt.path);
        const big = (from: number, to: number): Entry[] =>
          ents(from, to, 1).map((e) => ({ ...e, data: Buffer.alloc(256 * 1024, e.index) }));
        let landed = false;
        const pending = s.persist({
          entries: big(6, 13),
          hardState: { term: 1, vote: 'a', commit: 5 },
          snapshot: null,
        });
        void pending.then(
          () => (landed = true),
          () => undefined,
        );
        const deadline = Date.now() + 10_000;
        while (s.diskFull === null && !landed && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20));
        assert.equal(landed, false, 'the batch cannot land on a full disk');
        assert.notEqual(s.diskFull, null, 'the storage reports the disk as full');
        assert.match(s.diskFull!.message, /no space/i);
        // Later writes queue behind it, in order; none is lost or reordered.
        const later = s.persist({
          entries: big(14, 15),
          hardState: { term: 2, vote: 'a', commit: 13 },
          snapshot: null,
        });
        filler.remove();
        await pending;
        await later;
        assert.equal(s.diskFull, null, 'recovered');
        await s.close();
        const r = await DiskStorage.open(d, { memberId: 'a', clusterId: 'c1' });
        assert.equal(r.lastIndex(), 15);
        assert.equal(Buffer.from(r.entries(13, 14, Infinity)[0]!.data)[0], 13);
        assert.deepEqual(r.initialState().hardState, { term: 2, vote: 'a', commit: 13 });
        await r.close();
      } finally {
        await mnt.unmount();
      }
    },
  );

  void test('a joiner records the cluster id it learns later', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'd' });
    assert.equal(s.meta.clusterId, null);
    await s.setClusterId('c9');
    await s.close();
    const r = await DiskStorage.open(dir, { memberId: 'd' });
    assert.equal(r.meta.clusterId, 'c9');
    await r.close();
    await assert.rejects(DiskStorage.open(dir, { memberId: 'd', clusterId: 'other' }), DataDirError);
  });

  void test('an unknown format version or foreign database is refused', async () => {
    const raw = new ClassicLevel<string, string>(dir);
    await raw.put('some', 'thing');
    await raw.close();
    await assert.rejects(DiskStorage.open(dir, { memberId: 'a' }), (err: unknown) => {
      assert.ok(err instanceof DataDirError);
      assert.equal(err.code, 'unknown-format');
      return true;
    });
    await rm(dir, { recursive: true, force: true });
    const s = await DiskStorage.open(dir, { memberId: 'a' });
    await s.close();
    const { sealRecord } = await import('./records.ts');
    const { Packr } = await import('msgpackr');
    const raw2 = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    const packed = new Packr({ useRecords: false }).pack({
      formatVersion: 99,
      memberId: 'a',
      clusterId: null,
      removed: false,
    });
    await raw2.put(metaKey('meta'), sealRecord(metaKey('meta'), packed));
    await raw2.close();
    await assert.rejects(DiskStorage.open(dir, { memberId: 'a' }), (err: unknown) => {
      assert.ok(err instanceof DataDirError);
      assert.equal(err.code, 'unknown-format');
      return true;
    });
  });

  void test('close() waits for queued writes', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    const pending = s.persist({
      entries: ents(1, 20, 1),
      hardState: { term: 1, vote: 'a', commit: 20 },
      snapshot: null,
    });
    await s.close();
    await pending;
    await s.close(); // idempotent
    await assert.rejects(s.persist({ entries: ents(21, 21, 1), hardState: null, snapshot: null }), /closed/);
    const r = await DiskStorage.open(dir, { memberId: 'a' });
    assert.equal(r.lastIndex(), 20);
    await r.close();
  });

  void test('after a failed write every later write is refused', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({ entries: ents(1, 2, 1), hardState: null, snapshot: null });
    // Pull the database out from under the storage to make the next batch fail.
    await (s as unknown as { db: { close(): Promise<void> } }).db.close();
    const first = s.persist({ entries: ents(3, 3, 1), hardState: null, snapshot: null });
    await assert.rejects(first);
    await assert.rejects(
      s.persist({ entries: [], hardState: { term: 1, vote: null, commit: 1 }, snapshot: null }),
    );
    await assert.rejects(s.flush());
  });

  void test('an append that would leave a gap is refused and poisons the storage', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    await s.persist({ entries: ents(1, 2, 1), hardState: null, snapshot: null });
    await assert.rejects(
      s.persist({ entries: ents(5, 6, 1), hardState: null, snapshot: null }),
      /missing log entry/,
    );
    await assert.rejects(s.persist({ entries: ents(3, 3, 1), hardState: null, snapshot: null }));
    await s.close();
    const r = await DiskStorage.open(dir, { memberId: 'a' });
    assert.equal(r.lastIndex(), 2);
    await r.close();
  });

  void test('the MemoryStorage mutators cannot bypass the disk', async () => {
    const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
    assert.throws(() => s.append(ents(1, 1, 1)));
    assert.throws(() => s.setHardState({ term: 1, vote: null, commit: 0 }));
    await s.close();
  });

  void test('kill -9 while persisting keeps every acknowledged write and a contiguous log', async (t) => {
    const fixture = new URL('./kill-child.fixture.ts', import.meta.url).pathname;
    const { payloadFor } = {
      payloadFor: (i: number, term: number) => `entry-${i}-term-${term}-`.padEnd(64 + (i % 50), 'x'),
    };
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, [fixture, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      let maxAcked = 0;
      let maxCommit = 0;
      let maxSnapshot = 0;
      let acks = 0;
      const killAfter = 50 + Math.floor(Math.random() * 400);
      const lines = createInterface({ input: child.stdout });
      for await (const line of lines) {
        const m = /^ack (\d+) (\d+) (\d+)$/.exec(line);
        if (m === null) continue;
        // Acks are printed in order, so the last ones are the highest.
        maxAcked = Math.max(maxAcked, Number(m[1]));
        maxCommit = Math.max(maxCommit, Number(m[2]));
        maxSnapshot = Math.max(maxSnapshot, Number(m[3]));
        if (++acks === killAfter) {
          child.kill('SIGKILL');
          break;
        }
      }
      lines.close();
      await exited;
      assert.equal(acks, killAfter, 'the child stopped before it was killed');
      const r = await DiskStorage.open(dir, { memberId: 'n1', clusterId: 'c1' });
      t.diagnostic(`round ${round}: acked up to ${maxAcked}, reopened ${r.firstIndex()}..${r.lastIndex()}`);
      assert.ok(r.lastIndex() >= maxAcked, `lost acknowledged entries: last ${r.lastIndex()} < ${maxAcked}`);
      assert.ok(r.initialState().hardState.commit >= maxCommit);
      assert.ok(r.snapshot().metadata.index >= maxSnapshot);
      const all = r.entries(r.firstIndex(), r.lastIndex() + 1, Infinity);
      all.forEach((e, i) => {
        assert.equal(e.index, r.firstIndex() + i);
        assert.equal(Buffer.from(e.data).toString(), payloadFor(e.index, e.term));
      });
      await r.close();
    }
  });
});
