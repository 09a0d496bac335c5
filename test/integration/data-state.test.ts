// A member whose data failed its checks serves only its status and metrics, saying why
// (docs/adr/0077), and the forced new configuration over HTTP on a real three-process cluster.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { ProcCluster, http, waitFor } from './harness.ts';

function metricValue(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

async function expectDegraded(c: ProcCluster, id: string, state: 'lost' | 'corrupt', reason: RegExp) {
  const url = c.node(id).url;
  const st = await waitFor(`${id} reports ${state}`, async () => {
    const r = await http('GET', `${url}/v1/status`, undefined, { timeoutMs: 2000 });
    return r.status === 200 && r.body.dataState === state ? r.body : undefined;
  });
  assert.match(st.dataReason, reason);
  assert.match(st.dataReason, /replace the member/);
  assert.equal(st.leader, null);
  const m = await http('GET', `${url}/metrics`);
  assert.equal(metricValue(m.body as string, 'kvstore_data_corrupt'), 1);
  const kv = await http('GET', `${url}/v1/kv/k`);
  assert.equal(kv.status, 503);
  assert.equal(kv.body.error.code, 'data-unusable');
  const put = await http('PUT', `${url}/v1/kv/k`, { value: 'x' });
  assert.equal(put.status, 503);
  assert.equal((await http('GET', `${url}/readyz`)).status, 503);
  assert.equal((await http('GET', `${url}/livez`)).status, 200);
  assert.ok(readFileSync(c.node(id).logFile, 'utf8').includes(`cannot use data directory`));
}

void describe('data state', { timeout: 120_000 }, () => {
  void test('a healthy member reports dataState ok and kvstore_data_corrupt 0', async () => {
    const c = await ProcCluster.start(['fine']);
    try {
      const st = await c.status('fine');
      assert.equal(st.dataState, 'ok');
      assert.ok(st.lastIndex >= st.commitIndex && st.lastLogTerm >= 1, JSON.stringify(st));
      const m = await http('GET', `${c.node('fine').url}/metrics`);
      assert.equal(metricValue(m.body as string, 'kvstore_data_corrupt'), 0);
    } finally {
      await c.close();
    }
  });

  void test('a member whose LevelDB was emptied serves only its status (lost), never bootstraps again', async () => {
    const c = await ProcCluster.start(['amnesiac']);
    try {
      await c.put('amnesiac', 'k', 'v');
      await c.stop('amnesiac');
      const dir = c.node('amnesiac').dataDir;
      // The volume kept the identity file (and snap/), the LevelDB files are gone.
      for (const name of readdirSync(dir))
        if (name !== 'snap' && !name.startsWith('kv-store-')) rmSync(join(dir, name), { recursive: true });
      c.spawn('amnesiac');
      await expectDegraded(c, 'amnesiac', 'lost', /lost its state/);
    } finally {
      await c.close();
    }
  });

  void test('a member whose records fail their checksums serves only its status (corrupt)', async () => {
    const c = await ProcCluster.start(['rotten']);
    try {
      await c.put('rotten', 'k', 'v');
      await c.stop('rotten');
      const raw = new ClassicLevel<Buffer, Buffer>(c.node('rotten').dataDir, {
        keyEncoding: 'buffer',
        valueEncoding: 'buffer',
      });
      let flipped = 0;
      for await (const [k, v] of raw.iterator()) {
        if (k.toString('latin1').includes('hard')) continue;
        // Flip the last byte of one log entry record.
        if (flipped === 0 && k.length > 4 && v.length > 8) {
          v[v.length - 1]! ^= 0x01;
          await raw.put(k, v);
          flipped++;
        }
      }
      await raw.close();
      assert.equal(flipped, 1);
      c.spawn('rotten');
      await expectDegraded(c, 'rotten', 'corrupt', /corrupt data at/);
    } finally {
      await c.close();
    }
  });

  void test('force-new-cluster over HTTP: refused with a quorum; after losing two of three, the survivor leads alone with its data', async () => {
    const c = await ProcCluster.start(['s1', 's2', 's3']);
    try {
      const leader = await c.waitForLeader();
      for (let i = 0; i < 20; i++) assert.equal((await c.put(leader, `k${i}`, `v${i}`)).status, 200);
      const refused = await http('POST', `${c.node('s1').url}/v1/cluster/force-new-cluster`, {
        requestId: 'r1',
      });
      assert.equal(refused.status, 409);
      assert.equal(refused.body.error.code, 'force-refused');
      await waitFor(
        's1 caught up',
        async () => (await c.status('s1')).appliedIndex >= (await c.status(leader)).commitIndex,
      );
      await c.kill9('s2');
      await c.kill9('s3');
      await waitFor('s1 without leader', async () => (await c.status('s1')).leader === null);
      const bad = await http('POST', `${c.node('s1').url}/v1/cluster/force-new-cluster`, { requestId: '' });
      assert.equal(bad.status, 400);
      const ok = await http('POST', `${c.node('s1').url}/v1/cluster/force-new-cluster`, { requestId: 'r1' });
      assert.equal(ok.status, 202, JSON.stringify(ok.body));
      assert.equal(ok.body.member, 's1');
      // The process exits to carry the request out at its next start (a supervisor restarts it).
      const p = c.node('s1').proc!;
      await waitFor('s1 exited', () => Promise.resolve(p.exitCode !== null || p.signalCode !== null));
      c.node('s1').proc = null;
      c.spawn('s1');
      await waitFor('s1 leads alone', async () => {
        const st = await c.status('s1');
        return st.state === 'leader' && st.members.length === 1 ? st : undefined;
      });
      for (let i = 0; i < 20; i++) {
        const r = await c.get('s1', `k${i}`);
        assert.equal(r.status, 200);
        assert.equal(r.body.value, `v${i}`);
      }
      assert.equal((await c.put('s1', 'after', 'x')).status, 200);
      const log = readFileSync(c.node('s1').logFile, 'utf8');
      assert.match(log, /force-new-cluster: rewriting the membership to this member alone/);
    } finally {
      await c.close();
    }
  });
  void test('a voter whose whole data directory was deleted rejoins with -join: no vote, it finds out, and reports lost data', async () => {
    const c = await ProcCluster.start(['w1', 'w2', 'w3']);
    try {
      const leader = await c.waitForLeader();
      const n = await c.defineJoiner('w4');
      c.spawn('w4');
      const add = await http('POST', `${c.node(leader).url}/v1/cluster/members`, {
        id: 'w4',
        peerUrl: n.url,
      });
      assert.equal(add.status, 201, JSON.stringify(add.body));
      await waitFor('w4 promoted', async () => {
        const r = await http('POST', `${c.node(leader).url}/v1/cluster/members/w4/promote`);
        return r.status === 200;
      });
      for (let i = 0; i < 5; i++) assert.equal((await c.put(leader, `k${i}`, 'v')).status, 200);
      await c.stop('w4');
      // The volume survives but everything in it is gone, the identity file too: locally it looks new.
      rmSync(n.dataDir, { recursive: true, force: true });
      c.spawn('w4');
      // The leader notices at its next append; the member then finds it was already a voter.
      await waitFor('w4 stops', async () => {
        await c.put(leader, 'tick', String(Date.now()));
        const r = await http('GET', `${n.url}/livez`, undefined, { timeoutMs: 2000 }).catch(() => undefined);
        return r?.status === 503;
      });
      assert.match(readFileSync(n.logFile, 'utf8'), /this member lost its data/);
      assert.equal((await c.put(leader, 'after', 'v')).status, 200, 'the other three keep serving');
      await c.stop('w4');
      c.spawn('w4');
      await expectDegraded(c, 'w4', 'lost', /already made this member a voter/);
    } finally {
      await c.close();
    }
  });
});
