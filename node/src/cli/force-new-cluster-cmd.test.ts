import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DiskStorage } from '../storage/disk-storage.ts';
import { bootstrapLog } from '../server/bootstrap.ts';
import { latestConfState } from '../server/force-new-cluster.ts';
import { runForceNewCluster } from './force-new-cluster-cmd.ts';

void test('kv-store force-new-cluster (offline): rewrites the membership once, then does nothing; bad usage is exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-force-cmd-'));
  try {
    const members = ['a', 'b', 'c'].map((id) => ({
      id,
      peerUrl: `http://${id}:1`,
      clientUrl: `http://${id}:1`,
    }));
    const s = await DiskStorage.open(dir, {
      memberId: 'a',
      clusterId: 'c1',
      bootstrap: { voters: ['a', 'b', 'c'], learners: [] },
    });
    const { entries, hardState } = bootstrapLog(members);
    await s.persist({ entries, hardState, snapshot: null });
    await s.close();

    const out: string[] = [];
    assert.equal(await runForceNewCluster(['-data-dir', dir, '-id', 'a'], (l) => out.push(l)), 0);
    assert.match(out.join('\n'), /rewriting the membership to this member alone/);
    assert.match(out.at(-1)!, /membership now: voters a; learners none; cluster id c1/);
    const after = await DiskStorage.open(dir, { memberId: 'a' });
    const last = after.lastIndex();
    assert.deepEqual(latestConfState(after), { voters: ['a'], learners: [] });
    assert.equal(after.initialState().hardState.commit, last, 'the forced entries are committed');
    await after.close();

    out.length = 0;
    assert.equal(await runForceNewCluster(['--data-dir', dir, '--id', 'a'], (l) => out.push(l)), 0);
    assert.match(out.join('\n'), /nothing to do/);
    const again = await DiskStorage.open(dir, { memberId: 'a' });
    assert.equal(again.lastIndex(), last, 'a second run writes nothing');
    await again.close();

    assert.equal(await runForceNewCluster(['-data-dir', dir], () => undefined), 2);
    assert.equal(await runForceNewCluster(['-frob', 'x'], () => undefined), 2);
    const refused: string[] = [];
    assert.equal(await runForceNewCluster(['-data-dir', dir, '-id', 'b'], (l) => refused.push(l)), 1);
    assert.match(refused.join('\n'), /cannot use .*belongs to member a/);
    const empty = join(dir, 'nothing-here');
    assert.equal(await runForceNewCluster(['-data-dir', empty, '-id', 'a'], (l) => refused.push(l)), 1);
    assert.match(refused.at(-1)!, /holds no member's data/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
