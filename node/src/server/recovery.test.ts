// KvNode-level checks for recovery and refusal (issue 13 §4): a real single-node KvNode on a
// temporary data directory.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { KvNode, type KvNodeOptions } from './kv-node.ts';

function options(dataDir: string, over: Partial<KvNodeOptions> = {}): KvNodeOptions {
  return {
    id: 'solo',
    dataDir,
    clientUrl: 'http://127.0.0.1:1',
    peerUrl: 'http://127.0.0.1:1',
    peers: [],
    join: false,
    tickMs: 10,
    electionTicks: 3,
    snapshotThreshold: 100_000,
    clusterToken: '',
    proposalTimeoutMs: 5_000,
    readTimeoutMs: 5_000,
    unsafeLocalReads: false,
    ...over,
  };
}

async function startSolo(dataDir: string): Promise<KvNode> {
  const node = await KvNode.open(
    options(dataDir),
    createLogger({ level: 'error', write: () => undefined }),
    createMetrics(),
  );
  node.start();
  const deadline = Date.now() + 5_000;
  while (node.status().state !== 'leader') {
    if (Date.now() > deadline) throw new Error('no leader');
    await new Promise((r) => setTimeout(r, 5));
  }
  return node;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'kv-recovery-'));
}

void test('?cas=0 creates a key whose TTL has elapsed but whose expiry is not applied yet (GET already says 404)', async () => {
  const dir = tempDir();
  const node = await startSolo(dir);
  try {
    await node.put('lock', 'holder1', { ttlMs: 1, ttl: '1ms' });
    const until = Date.now() + 3;
    while (Date.now() < until) {
      /* let the TTL elapse without giving the expiry loop a tick */
    }
    assert.equal(
      (await node.get('lock', { consistency: 'stale' })).kv,
      undefined,
      'GET sees the key as gone',
    );
    const r = await node.put('lock', 'holder2', { cas: 0 });
    assert.equal(r.kv.value, 'holder2');
    assert.equal(r.kv.version, 1);
  } finally {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('a put over an elapsed but undeleted key starts a new key (version 1), and DELETE ?cas=0 of it succeeds', async () => {
  const dir = tempDir();
  const node = await startSolo(dir);
  try {
    await node.put('a', 'old', { ttlMs: 1, ttl: '1ms' });
    await node.put('b', 'old', { ttlMs: 1, ttl: '1ms' });
    const until = Date.now() + 3;
    while (Date.now() < until) {
      /* TTL elapses; no tick runs the expiry */
    }
    const r = await node.put('a', 'new', {});
    assert.equal(r.kv.version, 1);
    assert.equal(r.kv.createIndex, r.kv.modifyIndex);
    assert.equal((await node.delete('b', { cas: 0, recurse: false })).deleted, 0);
  } finally {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

void test(
  'disk full while running (real ENOSPC on a tmpfs): writes get 507 disk-full, the node stays up, and recovers when space returns',
  { timeout: 60_000 },
  async (t) => {
    const { fillDisk, mountTmpfs } = await import('../storage/tmpfs.test-helper.ts');
    const mnt = await mountTmpfs('16m');
    if (mnt === null) {
      t.skip('needs root and tmpfs mounts');
      return;
    }
    const node = await startSolo(join(mnt.path, 'data'));
    let filler: { remove(): void } | undefined;
    try {
      await node.put('before', 'x', {});
      filler = await fillDisk(mnt.path);
      // The write that hits the full disk waits (its batch is held and retried); then new writes are refused.
      const held = node.put('held', 'y'.repeat(512 * 1024), {});
      let heldDone = false;
      void held.then(
        () => (heldDone = true),
        () => undefined,
      );
      let refused: unknown;
      const deadline = Date.now() + 10_000;
      while (refused === undefined && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        try {
          await node.put('probe', 'z', {});
        } catch (e) {
          refused = e;
        }
      }
      assert.ok(refused !== undefined, 'a write was refused while the disk is full');
      assert.equal((refused as { code?: string }).code, 'disk-full', String(refused));
      assert.equal((refused as { status?: number }).status, 507);
      assert.equal(node.livez(), true, 'the process stays up and says so');
      assert.deepEqual(
        node.readyz().checks.find((c) => c.name === 'disk')?.ok,
        false,
        'not ready while full: the client Service sends writers elsewhere',
      );
      assert.equal(heldDone, false);
      filler.remove();
      const r = await held;
      assert.equal(r.kv.key, 'held');
      assert.equal((await node.put('after', 'ok', {})).kv.value, 'ok');
      assert.equal((await node.get('before', { consistency: 'linearizable' })).kv?.value, 'x');
      assert.equal(node.readyz().checks.find((c) => c.name === 'disk')?.ok, true, 'ready again');
    } finally {
      filler?.remove();
      await node.stop();
      await mnt.unmount();
    }
  },
);
