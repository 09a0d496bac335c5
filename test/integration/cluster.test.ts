// Real node processes on loopback: the seed's command line, replication,
// failover, durability across restarts, TTL, membership and snapshots.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BIN, ProcCluster, freePort, http, sleep, waitFor } from './harness.ts';

describe('three-node cluster from the seed command line', () => {
  let c: ProcCluster;
  before(async () => {
    c = await ProcCluster.start(['node1', 'node2', 'node3']);
  });
  after(async () => {
    await c.close();
  });

  test('the seed curl example works and the value is readable from every node', async () => {
    const put = await c.put('node1', 'mykey', 'myvalue', { ttl: '5s' });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.key, 'mykey');
    assert.equal(put.body.value, 'myvalue');
    assert.equal(put.body.ttl, '5s');
    for (const id of ['node1', 'node2', 'node3']) {
      const got = await c.get(id, 'mykey');
      assert.equal(got.status, 200, `${id}: ${JSON.stringify(got.body)}`);
      assert.equal(got.body.value, 'myvalue');
      assert.ok(Number(got.headers.get('x-kv-index')) >= put.body.modifyIndex);
    }
  });

  test('writes through any node are forwarded and immediately visible (linearizable) everywhere', async () => {
    for (const [i, id] of ['node1', 'node2', 'node3'].entries()) {
      const put = await c.put(id, `through/${id}`, `v${i}`);
      assert.equal(put.status, 200, JSON.stringify(put.body));
      for (const reader of ['node1', 'node2', 'node3']) {
        const got = await c.get(reader, `through/${id}`);
        assert.equal(got.body.value, `v${i}`, `${reader} reading a write made through ${id}`);
      }
    }
  });

  test('a missing key is 404 with a JSON error', async () => {
    const got = await c.get('node2', 'does-not-exist');
    assert.equal(got.status, 404);
    assert.equal(got.body.error.code, 'key-not-found');
  });

  test('bad input gets a 4xx JSON error and changes nothing', async () => {
    assert.equal((await c.put('node1', 'guarded', 'original')).status, 200);
    const url = `${c.node('node1').url}/v1/kv/guarded`;
    const cases: [string, Promise<{ status: number; body: any }>][] = [
      ['malformed JSON', http('PUT', url, undefined, { raw: '{"value": ' })],
      ['value not a string', http('PUT', url, { value: 42 })],
      ['missing value', http('PUT', url, { ttl: '5s' })],
      ['negative ttl', http('PUT', url, { value: 'x', ttl: '-5s' })],
      ['malformed ttl', http('PUT', url, { value: 'x', ttl: 'five seconds' })],
      ['unknown parameter', http('PUT', `${url}?bogus=1`, { value: 'x' })],
      ['oversized value', http('PUT', url, { value: 'x'.repeat(1024 * 1024 + 1) })],
      ['bad cas', http('PUT', `${url}?cas=abc`, { value: 'x' })],
    ];
    for (const [name, p] of cases) {
      const r = await p;
      assert.ok(r.status >= 400 && r.status < 500, `${name}: status ${r.status}`);
      assert.equal(typeof r.body.error?.code, 'string', `${name}: error body ${JSON.stringify(r.body)}`);
      assert.equal(typeof r.body.error?.message, 'string', name);
    }
    const got = await c.get('node3', 'guarded');
    assert.equal(got.body.value, 'original');
    assert.equal(got.body.version, 1);
  });

  test('compare-and-set: create-only, matching index, and mismatch 412', async () => {
    const created = await http('PUT', `${c.node('node2').url}/v1/kv/cas-key?cas=0`, { value: 'a' });
    assert.equal(created.status, 200);
    const again = await http('PUT', `${c.node('node2').url}/v1/kv/cas-key?cas=0`, { value: 'b' });
    assert.equal(again.status, 412);
    assert.equal(again.body.error.code, 'cas-mismatch');
    const ok = await http('PUT', `${c.node('node3').url}/v1/kv/cas-key?cas=${created.body.modifyIndex}`, {
      value: 'c',
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.version, 2);
    assert.equal((await c.get('node1', 'cas-key')).body.value, 'c');
  });

  test('TTL: the key is visible before expiry and gone on every node after', async () => {
    const put = await c.put('node1', 'ephemeral', 'soon-gone', { ttl: '1s' });
    assert.equal(put.status, 200);
    assert.equal((await c.get('node2', 'ephemeral')).status, 200);
    await sleep(2200);
    for (const id of ['node1', 'node2', 'node3']) {
      assert.equal((await c.get(id, 'ephemeral')).status, 404, `${id} linearizable`);
      assert.equal((await c.get(id, 'ephemeral', '?consistency=stale')).status, 404, `${id} stale`);
    }
  });

  test('DELETE removes the key everywhere', async () => {
    await c.put('node1', 'doomed', 'x');
    const del = await http('DELETE', `${c.node('node3').url}/v1/kv/doomed`);
    assert.equal(del.status, 200);
    for (const id of ['node1', 'node2', 'node3']) assert.equal((await c.get(id, 'doomed')).status, 404);
  });
});

describe('failover and durability', () => {
  let c: ProcCluster;
  before(async () => {
    c = await ProcCluster.start(['a', 'b', 'c']);
  });
  after(async () => {
    await c.close();
  });

  test('kill -9 of the leader: a new leader is elected, writes resume, nothing acknowledged is lost', async () => {
    const acked = new Map<string, string>();
    for (let i = 0; i < 20; i++) {
      const r = await c.put('a', `k${i}`, `v${i}`);
      assert.equal(r.status, 200);
      acked.set(`k${i}`, `v${i}`);
    }
    const old = await c.waitForLeader();
    await c.kill9(old);
    const next = await c.waitForLeader(20_000, old);
    assert.notEqual(next, old);
    const survivor = [...c.nodes.keys()].find((id) => id !== old)!;
    await waitFor(
      'a write after failover',
      async () => (await c.put(survivor, 'after', 'failover')).status === 200,
    );
    acked.set('after', 'failover');
    // The old leader restarts from disk and catches up.
    c.spawn(old);
    await c.waitForLeader();
    for (const [k, v] of acked) {
      const got = await waitFor(`${k} on ${old}`, async () => {
        const r = await c.get(old, k);
        return r.status === 200 ? r : undefined;
      });
      assert.equal(got.body.value, v);
    }
  });

  test('all nodes killed -9 and restarted keep every acknowledged write', async () => {
    const acked: [string, string][] = [];
    for (let i = 0; i < 30; i++) {
      const id = ['a', 'b', 'c'][i % 3]!;
      const r = await c.put(id, `restart/${i}`, `value-${i}`);
      assert.equal(r.status, 200);
      acked.push([`restart/${i}`, `value-${i}`]);
    }
    for (const id of ['a', 'b', 'c']) await c.kill9(id);
    for (const id of ['a', 'b', 'c']) c.spawn(id);
    await c.waitForLeader();
    for (const [k, v] of acked) assert.equal((await c.get('b', k)).body.value, v, k);
  });

  test('SIGTERM exits 0 promptly and the node restarts cleanly', async () => {
    const id = 'c';
    const p = c.node(id).proc!;
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill('SIGTERM');
    assert.equal(await exited, 0);
    c.node(id).proc = null;
    c.spawn(id);
    await c.waitForLeader();
    assert.equal((await c.put(id, 'after-restart', 'ok')).status, 200);
  });
});

describe('membership and snapshots', () => {
  let c: ProcCluster;
  before(async () => {
    c = await ProcCluster.start(['m1', 'm2', 'm3'], ['-snapshot-threshold', '100']);
  });
  after(async () => {
    await c.close();
  });

  test('3 -> 5 -> 3: learners join, catch up, are promoted, then removed', async () => {
    for (let i = 0; i < 50; i++) assert.equal((await c.put('m1', `pre/${i}`, String(i))).status, 200);
    for (const id of ['m4', 'm5']) {
      const n = await c.defineJoiner(id);
      c.spawn(id);
      const add = await http('POST', `${c.node('m2').url}/v1/cluster/members`, { id, peerUrl: n.url });
      assert.equal(add.status, 201, JSON.stringify(add.body));
      await waitFor(`${id} promoted`, async () => {
        const r = await http('POST', `${c.node('m1').url}/v1/cluster/members/${id}/promote`);
        return r.status === 200;
      });
    }
    const members = (await http('GET', `${c.node('m3').url}/v1/cluster/members`)).body;
    assert.deepEqual(members.members.map((m: any) => `${m.id}:${m.role}`).sort(), [
      'm1:voter',
      'm2:voter',
      'm3:voter',
      'm4:voter',
      'm5:voter',
    ]);
    // The new members hold the data written before they joined.
    assert.equal((await c.get('m5', 'pre/49', '?consistency=stale')).body.value, '49');
    for (const id of ['m4', 'm5']) {
      const del = await http('DELETE', `${c.node('m1').url}/v1/cluster/members/${id}`);
      assert.equal(del.status, 200, JSON.stringify(del.body));
    }
    const after3 = (await http('GET', `${c.node('m1').url}/v1/cluster/members`)).body;
    assert.deepEqual(after3.members.map((m: any) => m.id).sort(), ['m1', 'm2', 'm3']);
    assert.equal((await c.put('m2', 'after-shrink', 'ok')).status, 200);
    // A removed member refuses to start again with its old data.
    await c.kill9('m4');
    const res = spawnSync(process.execPath, [BIN, ...c.node('m4').args], {
      timeout: 15_000,
      encoding: 'utf8',
    });
    assert.notEqual(res.status, 0);
    assert.match(res.stderr, /removed/);
  });

  test('a removed member id can join again on a fresh data directory', async () => {
    // The previous test removed m4 and left its data marked as removed; an operator replacing a
    // member reuses the id on a new volume.
    rmSync(c.node('m4').dataDir, { recursive: true, force: true });
    c.spawn('m4');
    const add = await http('POST', `${c.node('m1').url}/v1/cluster/members`, {
      id: 'm4',
      peerUrl: c.node('m4').url,
    });
    assert.equal(add.status, 201, JSON.stringify(add.body));
    await waitFor('m4 promoted again', async () => {
      const r = await http('POST', `${c.node('m2').url}/v1/cluster/members/m4/promote`);
      return r.status === 200;
    });
    const st = await waitFor('m4 ready', async () => {
      const s = await c.status('m4');
      return s.state === 'follower' || s.state === 'leader' ? s : undefined;
    });
    assert.ok(st.appliedIndex > 0);
    assert.equal((await c.get('m4', 'after-shrink', '?consistency=stale')).body.value, 'ok');
    const del = await http('DELETE', `${c.node('m1').url}/v1/cluster/members/m4`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    await c.kill9('m4');
  });

  test('removing a voter that would leave no live quorum is refused', async () => {
    const leader = await c.waitForLeader();
    const followers = ['m1', 'm2', 'm3'].filter((id) => id !== leader);
    await c.kill9(followers[0]!);
    await sleep(1500);
    const r = await http('DELETE', `${c.node(leader).url}/v1/cluster/members/${followers[1]}`);
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'would-lose-quorum');
    c.spawn(followers[0]!);
    await c.waitForLeader();
  });

  test('a follower far behind the compaction point catches up by snapshot', async () => {
    const leader = await c.waitForLeader();
    const lagger = ['m1', 'm2', 'm3'].find((id) => id !== leader)!;
    await c.kill9(lagger);
    for (let i = 0; i < 400; i++) assert.equal((await c.put(leader, `bulk/${i}`, `b${i}`)).status, 200);
    c.spawn(lagger);
    const got = await waitFor('lagger caught up', async () => {
      const r = await c.get(lagger, 'bulk/399', '?consistency=stale');
      return r.status === 200 ? r : undefined;
    });
    assert.equal(got.body.value, 'b399');
    assert.equal((await c.get(lagger, 'bulk/0', '?consistency=stale')).body.value, 'b0');
  });
});

describe('command line', () => {
  test('an invalid flag prints one line and exits 2', () => {
    const res = spawnSync(process.execPath, [BIN, '-id', 'x', '-bogus'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(res.status, 2);
    assert.equal(res.stderr.trim().split('\n').length, 1);
  });

  test('data of another cluster or another member is refused with a clear message', async () => {
    const c = await ProcCluster.start(['solo']);
    await c.stop('solo');
    const dir = c.node('solo').dataDir;
    const addr = `127.0.0.1:${await freePort()}`;
    const other = spawnSync(
      process.execPath,
      [BIN, '-id', 'solo', '-data-dir', dir, '-addr', addr, '-peers', 'x=127.0.0.1:1'],
      {
        encoding: 'utf8',
        timeout: 15_000,
      },
    );
    assert.equal(other.status, 1);
    assert.match(other.stderr, /belongs to cluster/);
    const wrongMember = spawnSync(
      process.execPath,
      [BIN, '-id', 'imposter', '-data-dir', dir, '-addr', addr],
      {
        encoding: 'utf8',
        timeout: 15_000,
      },
    );
    assert.equal(wrongMember.status, 1);
    assert.match(wrongMember.stderr, /belongs to member solo/);
    await c.close();
  });

  test('a data directory another kv-store holds is refused naming the lock, exit 1, no stack trace', async () => {
    const c = await ProcCluster.start(['holder']);
    try {
      await c.waitForLeader();
      const dir = c.node('holder').dataDir;
      const addr = `127.0.0.1:${await freePort()}`;
      const second = spawnSync(process.execPath, [BIN, '-id', 'holder', '-data-dir', dir, '-addr', addr], {
        encoding: 'utf8',
        timeout: 15_000,
      });
      assert.equal(second.status, 1, second.stderr);
      assert.ok(second.stderr.includes(join(dir, 'LOCK')), second.stderr);
      assert.match(second.stderr, /another kv-store/);
      assert.doesNotMatch(second.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(second.stderr.trim().split('\n').length, 1);
    } finally {
      await c.close();
    }
  });

  // A member whose LevelDB was emptied: test/integration/data-state.test.ts (it now serves its status).

  test('started by a Node older than 24, the bin says which Node it needs and how to run it, exit 2', (t) => {
    const old = ['/usr/bin/node', '/bin/node', '/usr/local/bin/node'].find((p) => {
      if (!existsSync(p)) return false;
      const v = spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' });
      return v.status === 0 && Number(v.stdout.split('.')[0]) < 24;
    });
    if (old === undefined) {
      t.skip('no Node older than 24 on this machine');
      return;
    }
    const res = spawnSync(old, [BIN, '--help'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(res.status, 2, res.stderr);
    assert.match(res.stderr, /needs Node 24/);
    assert.match(res.stderr, /npx kv-store/);
    assert.match(res.stderr, /node_modules\/\.bin\/node/);
    assert.doesNotMatch(res.stderr, /ERR_UNKNOWN_FILE_EXTENSION/);
  });

  test('--help prints usage and exits 0', () => {
    const res = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(res.status, 0);
    assert.match(res.stdout, /-peers/);
  });
});
