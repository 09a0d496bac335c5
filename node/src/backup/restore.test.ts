import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeSnapshot } from '../kv/snapshot-codec.ts';
import { KvStateMachine } from '../kv/state-machine.ts';
import { DiskStorage } from '../storage/disk-storage.ts';
import { restoreDataDir, restoredClusterId, shiftExpiries, type RestorePoint } from './restore.ts';
import { parseSnapshotFile, verifySnapshotData, writeSnapshotFile } from './snapshot-file.ts';

function sourceState(): KvStateMachine {
  const sm = new KvStateMachine();
  sm.setMember('old1', { peerUrl: 'http://old:1', clientUrl: 'http://old:1' });
  sm.apply(3, { op: 'put', requestId: 'a', key: 'a', value: '1' });
  sm.apply(4, { op: 'put', requestId: 'b', key: 'b', value: '2', expiresAt: 10_000 + 60_000, ttl: '1m' });
  sm.apply(5, { op: 'put', requestId: 'c', key: 'c', value: '3', expiresAt: 9_000, ttl: '1s' });
  return sm;
}

const members = [
  { id: 'm1', peerUrl: 'http://h:1', clientUrl: 'http://h:1' },
  { id: 'm2', peerUrl: 'http://h:2', clientUrl: 'http://h:2' },
];

test('expiries count from the restore point; keys expired at the point are left out', () => {
  const { kvs, dropped } = shiftExpiries(decodeSnapshot(sourceState().snapshot()).kvs, 10_000, 500_000);
  assert.equal(dropped, 1);
  assert.deepEqual(
    kvs.map((kv) => [kv.key, kv.expiresAt]),
    [
      ['a', undefined],
      ['b', 500_000 + 60_000],
    ],
  );
});

test('a restored directory opens as a member of a new cluster, with the new membership', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kv-restore-'));
  try {
    const point: RestorePoint = {
      content: decodeSnapshot(sourceState().snapshot()),
      index: 5,
      term: 3,
      sourceClusterId: 'src',
      fingerprint: 'f',
      pointInTime: 10_000,
    };
    const r = await restoreDataDir(point, {
      dataDir: join(root, 'm1'),
      memberId: 'm1',
      members,
      now: 20_000,
    });
    assert.equal(r.clusterId, restoredClusterId(point, members));
    assert.notEqual(r.clusterId, restoredClusterId(point, members, 'other-token'));
    assert.equal(r.keys, 2);
    // Opened as kv-store does with -peers: its flag-derived cluster id differs, and is not held against it.
    const s = await DiskStorage.open(join(root, 'm1'), {
      memberId: 'm1',
      clusterId: 'from-flags',
      bootstrap: { voters: ['m1', 'm2'], learners: [] },
    });
    try {
      assert.equal(s.meta.clusterId, r.clusterId);
      assert.deepEqual(s.snapshot().metadata, {
        index: 5,
        term: 3,
        confState: { voters: ['m1', 'm2'], learners: [] },
      });
      const sm = new KvStateMachine();
      sm.restore(await s.readSnapshotData());
      assert.equal(sm.appliedIndex, 5);
      assert.deepEqual(sm.members(), members);
      assert.equal(sm.get('b', 20_000)?.expiresAt, 20_000 + 60_000);
      assert.equal(sm.get('c', 0), undefined);
    } finally {
      await s.close();
    }
    // Not into a non-empty directory.
    mkdirSync(join(root, 'busy'));
    writeFileSync(join(root, 'busy', 'x'), 'x');
    await assert.rejects(restoreDataDir(point, { dataDir: join(root, 'busy'), memberId: 'm1', members }), {
      code: 'data-dir-not-empty',
    });
    await assert.rejects(restoreDataDir(point, { dataDir: join(root, 'm3'), memberId: 'm3', members }), {
      code: 'invalid-target',
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a saved snapshot file round-trips and any damage is refused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kv-snapfile-'));
  try {
    const sm = sourceState();
    const { chunks, release } = sm.snapshotChunks();
    const path = join(root, 's.snap');
    const meta = await writeSnapshotFile(
      path,
      { index: 5, term: 3, clusterId: 'c', memberId: 'n', takenAt: 1, keys: 3, members: sm.members() },
      chunks,
    );
    release();
    const { readFileSync } = await import('node:fs');
    const buf = readFileSync(path);
    const parsed = parseSnapshotFile(buf, 's');
    assert.deepEqual(parsed.meta, meta);
    assert.equal(verifySnapshotData(parsed.data, parsed.meta, 's').kvs.length, 3);
    await assert.rejects(
      writeSnapshotFile(
        path,
        { index: 5, term: 3, clusterId: 'c', memberId: 'n', takenAt: 1, keys: 3, members: [] },
        [],
      ),
      { code: 'file-exists' },
    );
    for (let at = 0; at < buf.length; at += 5) {
      const bad = Buffer.from(buf);
      bad[at] = bad[at]! ^ 0x04;
      assert.throws(() => {
        const p = parseSnapshotFile(bad, 's');
        verifySnapshotData(p.data, p.meta, 's');
      }, `flip at ${at}`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a state larger than one encoder chunk restores intact', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kv-restore-big-'));
  try {
    const sm = new KvStateMachine();
    const v = 'v'.repeat(200);
    for (let i = 0; i < 20_000; i++)
      sm.apply(i + 1, { op: 'put', requestId: `r${i}`, key: `k${String(i).padStart(6, '0')}`, value: v });
    const point: RestorePoint = {
      content: decodeSnapshot(sm.snapshot()),
      index: 20_000,
      term: 2,
      sourceClusterId: 's',
      fingerprint: 'f',
      pointInTime: 0,
    };
    await restoreDataDir(point, { dataDir: join(root, 'm1'), memberId: 'm1', members });
    const s = await DiskStorage.open(join(root, 'm1'), { memberId: 'm1' });
    try {
      const back = new KvStateMachine();
      back.restore(await s.readSnapshotData());
      assert.equal(back.count(), 20_000);
      assert.equal(back.get('k019999', 0)?.value, v);
    } finally {
      await s.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
