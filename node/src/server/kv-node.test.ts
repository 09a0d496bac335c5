// KvNode over injected I/O (the simulation's disk, world and clock): one voter,
// driven event by event. Each test failed before its fix (issue 13 §4).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvNode, type KvNodeOptions } from './kv-node.ts';
import type { NodeTransport, PersistRequest } from './node-io.ts';
import { SimDisk, freshImage } from './sim/sim-disk.ts';
import { World, settle } from './sim/world.ts';
import { RawNode } from '../raft/rawnode.ts';
import { createLogger } from '../logger.ts';
import { createMetrics, type Metrics } from '../metrics.ts';
import { hashPassword } from '../auth/password.ts';
import { KvError } from '../errors.ts';

/** A disk that can stall a persist (until released by hand) or fail every write. */
class TestDisk extends SimDisk {
  stall = false;
  failing = false;
  rejectStalled: ((e: Error) => void) | null = null;

  override persist(p: PersistRequest): Promise<void> {
    if (this.failing) return Promise.reject(new Error('disk on fire'));
    if (this.stall) {
      return new Promise<void>((_resolve, reject) => {
        this.rejectStalled = reject;
      });
    }
    return super.persist(p);
  }
}

interface Harness {
  world: World;
  disk: TestDisk;
  node: KvNode<NodeTransport>;
  metrics: Metrics;
  lines: string[];
  run(ms: number): Promise<void>;
  until<T>(p: Promise<T>, ms?: number): Promise<T>;
}

async function singleNode(extra: Partial<KvNodeOptions> = {}): Promise<Harness> {
  const world = new World();
  const disk = new TestDisk('a', freshImage({ voters: ['a'], learners: [] }, 'c'), {
    after: (ms, fn) => world.after(ms, fn),
    latency: () => 1,
  });
  const lines: string[] = [];
  const metrics = createMetrics({ defaultMetrics: false });
  const opts: KvNodeOptions = {
    id: 'a',
    dataDir: '/test/a',
    clientUrl: 'http://a:2379',
    peerUrl: 'http://a:2380',
    peers: [],
    join: false,
    tickMs: 10,
    electionTicks: 10,
    snapshotThreshold: 1000,
    clusterToken: '',
    proposalTimeoutMs: 5000,
    readTimeoutMs: 5000,
    unsafeLocalReads: false,
    ...extra,
  };
  const run = async (ms: number): Promise<void> => {
    const end = world.now() + ms;
    while (world.step(end)) await settle();
  };
  const until = async <T>(p: Promise<T>, ms = 5000): Promise<T> => {
    let done = false;
    p.then(
      () => (done = true),
      () => (done = true),
    );
    await settle();
    const end = world.now() + ms;
    while (!done && world.step(end)) await settle();
    if (!done) throw new Error(`still pending after ${ms} virtual ms`);
    return p;
  };
  const opening = KvNode.openOn(
    disk,
    opts,
    createLogger({ level: 'info', write: (l: string) => lines.push(l) }),
    metrics,
    {
      makeTransport: () => ({
        send: () => undefined,
        setPeer: () => undefined,
        removePeer: () => undefined,
        close: () => Promise.resolve(),
      }),
      scheduler: world.scheduler(() => true),
      clock: world,
      random: () => 0.5,
    },
  );
  const h: Harness = {
    world,
    disk,
    node: null as unknown as KvNode<NodeTransport>,
    metrics,
    lines,
    run,
    until,
  };
  h.node = await until(opening);
  h.node.start();
  await run(500);
  assert.equal(h.node.status().state, 'leader');
  return h;
}

async function counter(m: Metrics, name: 'readIndexTotal' | 'readIndexFailedTotal'): Promise<number> {
  return (await m[name].get()).values[0]?.value ?? 0;
}

test('waitForTicks answers false once the node stops', async () => {
  const h = await singleNode();
  const waiting = h.node.waitForTicks(() => false, 1e9);
  await h.until(h.node.stop());
  assert.equal(await h.until(waiting, 1000), false);
  assert.equal(await h.node.waitForTicks(() => true, 1e9), false, 'after stop it answers at once');
});

test('waitForTicks answers false after a fatal error', async () => {
  const h = await singleNode();
  const waiting = h.node.waitForTicks(() => false, 1e9);
  h.disk.failing = true;
  await assert.rejects(h.until(h.node.put('k', 'v', {})));
  assert.ok(h.node.failed);
  assert.equal(await h.until(waiting, 1000), false);
});

test('stop() returns when the loop throws while it waits for it', async () => {
  const h = await singleNode();
  h.disk.stall = true;
  const put = h.node.put('k', 'v', {});
  put.catch(() => undefined);
  await h.run(5);
  assert.ok(h.disk.rejectStalled, 'a persist is in flight');
  h.disk.stall = false;
  const stopping = h.node.stop();
  await h.run(5);
  h.disk.rejectStalled(new Error('disk on fire'));
  await h.until(stopping, 1000);
  assert.ok(h.node.failed);
});

test('linearizable reads count ReadIndex rounds and their failures', async () => {
  const h = await singleNode();
  await h.until(h.node.put('k', 'v', {}));
  const r = await h.until(h.node.get('k', { consistency: 'linearizable' }));
  assert.equal(r.kv?.value, 'v');
  assert.equal(await counter(h.metrics, 'readIndexTotal'), 1);
  assert.equal(await counter(h.metrics, 'readIndexFailedTotal'), 0);
  // A read still waiting for its round when the node stops fails, and is counted.
  const pending = h.node.get('k', { consistency: 'linearizable' });
  const stopping = h.node.stop();
  await assert.rejects(h.until(pending));
  await h.until(stopping);
  assert.equal(await counter(h.metrics, 'readIndexTotal'), 2);
  assert.equal(await counter(h.metrics, 'readIndexFailedTotal'), 1);
});

test('a failed background compaction is logged once and fails readiness', async () => {
  const h = await singleNode();
  await h.run(300);
  assert.equal(h.node.readyz().ready, true);
  (h.disk as { compactionError: Error | null }).compactionError = new Error('EIO: i/o error');
  await h.run(200);
  const ready = h.node.readyz();
  assert.equal(ready.ready, false);
  const check = ready.checks.find((c) => c.name === 'compaction');
  assert.equal(check?.ok, false);
  assert.match(check?.message ?? '', /EIO/);
  const logged = h.lines.filter((l) => l.includes('compacted log entries failed'));
  assert.equal(logged.length, 1, 'logged once, not on every tick');
});

test('ticks and linearizable reads do not build the full raft status', async () => {
  const h = await singleNode();
  // eslint-disable-next-line @typescript-eslint/unbound-method -- restored below, called with its this
  const original = RawNode.prototype.status;
  let calls = 0;
  RawNode.prototype.status = function (this: RawNode) {
    calls++;
    return original.call(this);
  };
  try {
    for (let i = 0; i < 20; i++) {
      await h.until(h.node.get('k', { consistency: 'linearizable' }));
      await h.run(10);
    }
    assert.equal(calls, 0, `rn.status() ran ${calls} times over 20 ticks and 20 reads`);
  } finally {
    RawNode.prototype.status = original;
  }
});

test('fenced (docs/adr/0076): every client operation is refused with fenced and readiness fails; unfenced it serves again', async () => {
  let fenced = false;
  const h = await singleNode({ fenced: () => fenced });
  await h.until(h.node.put('k', 'v', {}));
  fenced = true;
  const code = (e: unknown) => (e as { code?: string }).code === 'fenced';
  await assert.rejects(h.until(h.node.get('k', { consistency: 'stale' })), code);
  await assert.rejects(h.until(h.node.put('k', 'w', {})), code);
  await assert.rejects(h.until(h.node.delete('k', { recurse: false })), code);
  await assert.rejects(h.until(h.node.list('', { consistency: 'stale', limit: 10, keysOnly: false })), code);
  await assert.rejects(
    h.until(h.node.watch('k', { recurse: false, index: 0, waitMs: 10 }, new AbortController().signal)),
    code,
  );
  const ready = h.node.readyz();
  assert.equal(ready.ready, false);
  assert.equal(ready.checks.find((c) => c.name === 'fence')?.ok, false);
  fenced = false;
  assert.equal((await h.until(h.node.get('k', { consistency: 'stale' }))).kv?.value, 'v', 'its data kept');
  assert.equal(h.node.readyz().ready, true);
});

test('a write whose caller the log no longer allows is refused where it applies, and nothing changes (docs/adr/0068)', async () => {
  const h = await singleNode();
  const hash = await hashPassword('root-password', { N: 1 << 10, r: 8, p: 1 });
  for (const change of [
    { type: 'add-user', name: 'root', passwordHash: hash },
    { type: 'grant-role', user: 'root', role: 'root' },
    { type: 'enable', tokenKey: Buffer.alloc(32, 1).toString('base64') },
  ] as const) {
    assert.deepEqual(await h.until(h.node.proposeAuth(change, null)), { ok: true });
  }
  // As a member still applying the log before the enable would have accepted them:
  await assert.rejects(h.until(h.node.put('k', 'v', { caller: null })), (e: unknown) => {
    assert.ok(e instanceof KvError && e.code === 'unauthenticated' && e.status === 401, String(e));
    assert.match(e.message, /nothing was changed/);
    assert.equal(e.headers?.['WWW-Authenticate'], 'Bearer realm="kv-store"');
    return true;
  });
  await assert.rejects(
    h.until(h.node.delete('k', { recurse: false, caller: 'nobody' })),
    (e: unknown) => e instanceof KvError && e.code === 'permission-denied',
  );
  await assert.rejects(
    h.until(h.node.proposeAuth({ type: 'disable' }, null)),
    (e: unknown) => e instanceof KvError && e.code === 'unauthenticated',
  );
  assert.equal((await h.until(h.node.get('k', { consistency: 'linearizable' }))).kv, undefined);
  assert.equal((await h.until(h.node.put('k', 'v', { caller: 'root' }))).kv.value, 'v');
  await h.until(h.node.stop());
});
