// kvctl snapshot save / status / restore with real processes: a snapshot saved while a writer runs
// holds exactly the writer's acknowledged writes up to the snapshot's index; restored into a new
// 3-member cluster (same ids and addresses as the source) it serves exactly those keys, TTLs
// included, and a member of the source cluster is refused by it.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ProcCluster, http, sleep, waitFor } from './harness.ts';
import { RecordingWriter, diffStates, dumpKeys, kvctl } from './backup-writer.ts';

describe('kvctl snapshot save / restore (real processes)', { timeout: 420_000 }, () => {
  const clusters: ProcCluster[] = [];
  after(async () => {
    for (const c of clusters) await c.close();
  });

  test('save while writing, restore into a new cluster, old member refused', async () => {
    const src = await ProcCluster.start(['n1', 'n2', 'n3']);
    clusters.push(src);
    const urls = [...src.nodes.values()].map((n) => n.url);
    const writer = new RecordingWriter(() => urls);
    writer.start(3, 2);
    await waitFor('writes before the snapshot', () => Promise.resolve(writer.ops.length > 150), 90_000);

    const file = join(src.root, 'backup.snap');
    // From a follower: a snapshot needs no leader-side work beyond the ReadIndex round.
    const leader = await src.waitForLeader();
    const follower = [...src.nodes.keys()].find((id) => id !== leader)!;
    const saved = await kvctl([
      '--endpoints',
      src.node(follower).url,
      'snapshot',
      'save',
      file,
      '-o',
      'json',
    ]);
    assert.equal(saved.code, 0, saved.stderr);
    await waitFor('writes after the snapshot', () => Promise.resolve(writer.ops.length > 300), 90_000);
    await writer.stop();
    assert.equal(writer.unknown.length, 0, 'no fault was injected: every write has a known outcome');

    const status = await kvctl(['snapshot', 'status', file, '-o', 'json']);
    assert.equal(status.code, 0, status.stderr);
    const meta = JSON.parse(status.stdout) as {
      index: number;
      term: number;
      keys: number;
      bytes: number;
      sha256: string;
      verified: boolean;
      clusterId: string;
    };
    assert.equal(meta.verified, true);
    assert.deepEqual(JSON.parse(saved.stdout).sha256, meta.sha256);
    assert.ok(
      meta.index < writer.maxIndex(),
      `the writer went on past the snapshot (${meta.index} < ${writer.maxIndex()})`,
    );
    const want = writer.stateAt(meta.index);
    assert.equal(meta.keys, want.size, 'key count at the snapshot index');
    const human = await kvctl(['snapshot', 'status', file]);
    assert.match(
      human.stdout,
      new RegExp(
        `^INDEX +TERM +KEYS +BYTES[^\\n]*\\n${meta.index} +${meta.term} +${meta.keys} +${meta.bytes} `,
      ),
    );

    // A corrupt copy (one flipped byte) and a truncated one are refused, by status and by restore.
    const bytes = readFileSync(file);
    const flipped = Buffer.from(bytes);
    const mid = Math.floor(bytes.length / 2);
    flipped[mid] = flipped[mid]! ^ 0x01;
    writeFileSync(join(src.root, 'flipped.snap'), flipped);
    writeFileSync(join(src.root, 'cut.snap'), bytes.subarray(0, bytes.length - 100));
    for (const bad of ['flipped.snap', 'cut.snap']) {
      const r = await kvctl(['snapshot', 'status', join(src.root, bad)]);
      assert.equal(r.code, 1, `${bad}: ${r.stdout}`);
      assert.match(r.stderr, /kvctl: corrupt: /);
      const rr = await kvctl([
        'snapshot',
        'restore',
        join(src.root, bad),
        '--data-dir',
        join(src.root, 'never'),
        '--id',
        'n1',
        '--peers',
        'n1=127.0.0.1:1',
      ]);
      assert.equal(rr.code, 1);
      assert.match(rr.stderr, /kvctl: corrupt: /);
    }

    // The new cluster reuses the source's ids and addresses: only its cluster id tells them apart.
    const ports = new Map([...src.nodes.values()].map((n) => [n.id, n.port]));
    const peersAll = [...ports].map(([id, p]) => `${id}=127.0.0.1:${p}`).join(',');
    await src.stop('n1');
    await src.stop('n2');
    const dst = new ProcCluster();
    clusters.push(dst);
    for (const id of ['n1', 'n2', 'n3']) {
      const dir = join(dst.root, id);
      const r = await kvctl([
        'snapshot',
        'restore',
        file,
        '--data-dir',
        dir,
        '--id',
        id,
        '--peers',
        peersAll,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`restored ${want.size} keys at index ${meta.index}`));
      const others = [...ports]
        .filter(([o]) => o !== id)
        .map(([o, p]) => `${o}=127.0.0.1:${p}`)
        .join(',');
      dst.define(id, ports.get(id)!, ['-addr', `127.0.0.1:${ports.get(id)}`, '-peers', others]);
    }
    // A non-empty data directory is refused.
    const again = await kvctl([
      'snapshot',
      'restore',
      file,
      '--data-dir',
      join(dst.root, 'n1'),
      '--id',
      'n1',
      '--peers',
      peersAll,
    ]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /kvctl: data-dir-not-empty: /);

    // Old n3 keeps running on its address with the source's data; new n1 and n2 form a quorum.
    dst.spawn('n1');
    dst.spawn('n2');
    const newLeader = await waitFor(
      'a leader in the restored cluster',
      async () => {
        const s = (await http('GET', `${dst.node('n1').url}/v1/status`, undefined, { timeoutMs: 2000 })).body;
        return s.leader === 'n1' || s.leader === 'n2' ? (s.leader as string) : undefined;
      },
      90_000,
    );
    const newStatus = (await http('GET', `${dst.node(newLeader).url}/v1/status`)).body;
    assert.notEqual(newStatus.clusterId, meta.clusterId, 'the restored cluster has a new cluster id');
    assert.ok(newStatus.commitIndex > meta.index, 'the new leader committed past the snapshot');

    const got = await dumpKeys(dst.node(newLeader).url);
    assert.deepEqual(
      diffStates(got, want),
      [],
      'restored keys equal the replayed history at the snapshot index',
    );
    // TTLs survive: every key written with a TTL still has about an hour left.
    const ttlKeys = writer.ops.filter((o) => o.index <= meta.index && o.ttl && want.get(o.key) === o.value);
    assert.ok(ttlKeys.length > 0, 'the history has TTL keys at the snapshot index');
    for (const op of ttlKeys.slice(0, 5)) {
      const kv = (await http('GET', `${dst.node(newLeader).url}/v1/kv/${op.key}`)).body;
      assert.equal(kv.ttl, '1h');
      const left = kv.expiresAt - Date.now();
      assert.ok(left > 50 * 60_000 && left <= 60 * 60_000, `${op.key}: ${left} ms left`);
    }

    // The old member is refused: its streams to n1/n2 carry the source's cluster id.
    const put = await http('PUT', `${dst.node(newLeader).url}/v1/kv/after-restore`, { value: 'new' });
    assert.equal(put.status, 200);
    await waitFor(
      'the restored members refusing the old n3',
      () =>
        Promise.resolve(
          ['n1', 'n2'].some((id) =>
            /refusing peer stream[^\n]*cluster-id-mismatch/.test(readFileSync(dst.node(id).logFile, 'utf8')),
          ),
        ),
      90_000,
    );
    const oldN3 = (await http('GET', `${src.node('n3').url}/v1/status`)).body;
    assert.equal(oldN3.clusterId, meta.clusterId);
    assert.equal(
      (await http('GET', `${src.node('n3').url}/v1/kv/after-restore?consistency=stale`)).status,
      404,
    );

    // The restored n3 takes the old one's place and catches up.
    await src.stop('n3');
    dst.spawn('n3');
    await waitFor(
      'restored n3 holding the new write',
      async () => {
        const r = await http(
          'GET',
          `${dst.node('n3').url}/v1/kv/after-restore?consistency=stale`,
          undefined,
          { timeoutMs: 2000 },
        );
        return r.status === 200 && r.body.value === 'new';
      },
      90_000,
    );
    await sleep(10);
  });
});
