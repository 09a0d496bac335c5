import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KvStateMachine } from './state-machine.ts';
import type { Command } from './commands.ts';
import { CorruptionError } from '../storage/errors.ts';
import { WatchLimitError } from './watch-hub.ts';

let nextReq = 0;
const rid = () => `r${++nextReq}`;
const put = (key: string, value: string, extra: Partial<Extract<Command, { op: 'put' }>> = {}): Command => ({
  op: 'put',
  requestId: rid(),
  key,
  value,
  ...extra,
});
const del = (key: string, extra: Partial<Extract<Command, { op: 'delete' }>> = {}): Command => ({
  op: 'delete',
  requestId: rid(),
  key,
  ...extra,
});

/** A state machine with a log index counter, to write tests as a sequence of commands. */
function machine(): {
  sm: KvStateMachine;
  run: (cmd: Command) => ReturnType<KvStateMachine['apply']>;
  index: () => number;
} {
  const sm = new KvStateMachine();
  let i = 0;
  return { sm, run: (cmd) => sm.apply(++i, cmd), index: () => i };
}

void describe('KvStateMachine apply', () => {
  void test('create, update and version counting', () => {
    const { sm, run } = machine();
    const r1 = run(put('a', '1'));
    assert.deepEqual(r1, {
      ok: true,
      kv: { key: 'a', value: '1', createIndex: 1, modifyIndex: 1, version: 1 },
    });
    run(put('b', 'x'));
    const r3 = run(put('a', '2'));
    assert.ok(r3.ok);
    assert.deepEqual(r3.kv, { key: 'a', value: '2', createIndex: 1, modifyIndex: 3, version: 2 });
    assert.equal(r3.prev?.value, '1');
    run(put('a', '3'));
    assert.deepEqual(sm.get('a', 0), { key: 'a', value: '3', createIndex: 1, modifyIndex: 4, version: 3 });
    assert.equal(sm.appliedIndex, 4);
    assert.equal(sm.count(), 2);
    // Recreated after delete: fresh createIndex and version.
    run(del('a'));
    const r6 = run(put('a', 'again'));
    assert.ok(r6.ok);
    assert.deepEqual(r6.kv, { key: 'a', value: 'again', createIndex: 6, modifyIndex: 6, version: 1 });
  });

  void test('cas on put: 0 creates only, otherwise must equal modifyIndex', () => {
    const { sm, run } = machine();
    assert.equal(run(put('k', 'v1', { cas: 0 })).ok, true);
    const clash = run(put('k', 'v2', { cas: 0 }));
    assert.equal(clash.ok, false);
    assert.ok(!clash.ok && clash.code === 'cas-mismatch' && clash.current?.value === 'v1');
    assert.equal(sm.appliedIndex, 2, 'a refused command still consumes its index');
    assert.equal(run(put('k', 'v3', { cas: 2 })).ok, false, 'index 2 was the refused put, not a change');
    const ok = run(put('k', 'v3', { cas: 1 }));
    assert.ok(ok.ok && ok.kv?.version === 2 && ok.kv.modifyIndex === 4);
    assert.equal(run(put('missing', 'x', { cas: 5 })).ok, false);
    assert.equal(sm.get('missing', 0), undefined);
    assert.equal(sm.get('k', 0)?.value, 'v3');
  });

  void test('cas on delete', () => {
    const { sm, run } = machine();
    run(put('k', 'v'));
    const wrong = run(del('k', { cas: 9 }));
    assert.ok(!wrong.ok && wrong.code === 'cas-mismatch' && wrong.current?.modifyIndex === 1);
    assert.equal(run(del('k', { cas: 0 })).ok, false, 'cas=0 means "must not exist"');
    assert.deepEqual(run(del('k', { cas: 1 })), {
      ok: true,
      deleted: 1,
      prev: { key: 'k', value: 'v', createIndex: 1, modifyIndex: 1, version: 1 },
    });
    assert.equal(sm.get('k', 0), undefined);
    assert.deepEqual(run(del('k', { cas: 0 })), { ok: true, deleted: 0 });
    assert.deepEqual(run(del('never')), { ok: true, deleted: 0 });
  });

  void test('recursive delete removes exactly the prefix', () => {
    const { sm, run } = machine();
    for (const k of ['a', 'a/1', 'a/2', 'a/2/x', 'ab', 'b/1']) run(put(k, k));
    assert.deepEqual(run(del('a/', { recurse: true })), { ok: true, deleted: 3 });
    assert.deepEqual(
      sm.list('', Infinity, 0).items.map((kv) => kv.key),
      ['a', 'ab', 'b/1'],
    );
    assert.deepEqual(run(del('zzz/', { recurse: true })), { ok: true, deleted: 0 });
  });

  void test('indexes at or below the applied index are skipped', () => {
    const sm = new KvStateMachine();
    sm.apply(5, put('a', '1'));
    assert.deepEqual(sm.apply(5, put('a', '2')), { ok: true, skipped: true });
    assert.equal(sm.get('a', 0)?.value, '1');
    sm.advanceApplied(9);
    assert.equal(sm.appliedIndex, 9);
    sm.advanceApplied(3);
    assert.equal(sm.appliedIndex, 9);
  });
});

void describe('KvStateMachine expiry', () => {
  void test('reads hide expired keys; expire deletes only unchanged keys', () => {
    const { sm, run } = machine();
    run(put('t1', 'a', { expiresAt: 1000, ttl: '1s' }));
    run(put('t2', 'b', { expiresAt: 1500, ttl: '1.5s' }));
    run(put('forever', 'c'));
    assert.equal(sm.get('t1', 999)?.ttl, '1s');
    assert.equal(sm.get('t1', 1000), undefined);
    assert.deepEqual(sm.expiredKeys(999, 10), []);
    assert.deepEqual(
      sm.expiredKeys(1600, 10).sort((a, b) => a.key.localeCompare(b.key)),
      [
        { key: 't1', modifyIndex: 1 },
        { key: 't2', modifyIndex: 2 },
      ],
    );
    assert.equal(sm.expiredKeys(1600, 1).length, 1, 'max is honoured');
    // Leader decides t1 and t2 expired; meanwhile t2 is rewritten (no TTL).
    const due = sm.expiredKeys(1600, 10);
    run(put('t2', 'rewritten'));
    const r = run({ op: 'expire', requestId: rid(), keys: due });
    assert.deepEqual(r, { ok: true, deleted: 1 });
    assert.equal(sm.get('t1', 0), undefined);
    assert.equal(sm.get('t2', 1e15)?.value, 'rewritten', 'a rewritten key survives its old expiry');
    assert.equal(sm.get('forever', 1e15)?.value, 'c');
    assert.deepEqual(sm.expiredKeys(1e15, 10), []);
  });

  void test('a put without ttl clears the expiry; a new ttl replaces it', () => {
    const { sm, run } = machine();
    run(put('k', 'v', { expiresAt: 100, ttl: '100ms' }));
    run(put('k', 'v2', { expiresAt: 5000, ttl: '5s' }));
    assert.deepEqual(sm.expiredKeys(200, 10), []);
    assert.deepEqual(sm.expiredKeys(5000, 10), [{ key: 'k', modifyIndex: 2 }]);
    run(put('k', 'v3'));
    assert.deepEqual(sm.expiredKeys(1e15, 10), []);
    assert.equal(sm.get('k', 1e15)?.expiresAt, undefined);
  });

  void test('proposedAt makes an expired-but-undeleted key count as absent', () => {
    const { run } = machine();
    run(put('lock', 'holder1', { expiresAt: 1000, ttl: '1s' }));
    assert.equal(run(put('lock', 'holder2', { cas: 0, proposedAt: 900 })).ok, false);
    const r = run(put('lock', 'holder2', { cas: 0, proposedAt: 1000 }));
    assert.ok(r.ok);
    assert.deepEqual(r.kv, { key: 'lock', value: 'holder2', createIndex: 3, modifyIndex: 3, version: 1 });
    assert.equal(r.prev, undefined);
  });

  void test('the expiry index stays bounded when keys are rewritten with long TTLs', () => {
    const { sm, run } = machine();
    for (let i = 0; i < 20_000; i++) run(put(`k${i % 10}`, 'v', { expiresAt: 1e12 + i, ttl: '1h' }));
    const heapSize = (sm as unknown as { expiry: { size: number } }).expiry.size;
    assert.ok(heapSize < 3000, `heap holds ${heapSize} entries for 10 keys`);
    assert.equal(sm.expiredKeys(2e12, 100).length, 10);
  });
});

void describe('KvStateMachine listing', () => {
  function populated(): KvStateMachine {
    const { sm, run } = machine();
    for (const k of ['app/a', 'app/b/1', 'app/b/2', 'app/c/x/y', 'app/d', 'apple', 'b', 'app/', 'app/e'])
      run(put(k, `v-${k}`));
    run(put('app/expired', 'gone', { expiresAt: 10 }));
    run(put('app/b/expired', 'gone', { expiresAt: 10 }));
    return sm;
  }

  void test('list by prefix, sorted, with limit and more', () => {
    const sm = populated();
    const all = sm.list('app/', Infinity, 100);
    assert.deepEqual(
      all.items.map((kv) => kv.key),
      ['app/', 'app/a', 'app/b/1', 'app/b/2', 'app/c/x/y', 'app/d', 'app/e'],
    );
    assert.equal(all.more, false);
    const page = sm.list('app/', 3, 100);
    assert.deepEqual(
      page.items.map((kv) => kv.key),
      ['app/', 'app/a', 'app/b/1'],
    );
    assert.equal(page.more, true);
    const exact = sm.list('app/', 7, 100);
    assert.equal(exact.more, false, 'more is false when the limit is hit exactly');
    assert.equal(sm.list('app/', Infinity, 0).items.length, 9, 'expired keys show before their time');
    assert.deepEqual(sm.list('nothing', 5, 0), { items: [], more: false });
  });

  void test('keys with and without separator (Consul roll-up)', () => {
    const sm = populated();
    assert.deepEqual(sm.keys('app/', undefined, Infinity, 100).items, [
      'app/',
      'app/a',
      'app/b/1',
      'app/b/2',
      'app/c/x/y',
      'app/d',
      'app/e',
    ]);
    assert.deepEqual(sm.keys('app/', '/', Infinity, 100), {
      items: ['app/', 'app/a', 'app/b/', 'app/c/', 'app/d', 'app/e'],
      more: false,
    });
    assert.deepEqual(sm.keys('', '/', Infinity, 100).items, ['app/', 'apple', 'b']);
    assert.deepEqual(sm.keys('app/', '/', 3, 100), { items: ['app/', 'app/a', 'app/b/'], more: true });
    assert.deepEqual(sm.keys('app/b', '/', Infinity, 100).items, ['app/b/']);
  });

  void test('a rolled-up prefix made only of expired keys is hidden', () => {
    const { sm, run } = machine();
    run(put('d/x', '1', { expiresAt: 5 }));
    run(put('e', '2'));
    assert.deepEqual(sm.keys('', '/', Infinity, 10).items, ['e']);
    assert.deepEqual(sm.keys('', '/', Infinity, 0).items, ['d/', 'e']);
  });
});

void describe('KvStateMachine members and snapshots', () => {
  void test('snapshot round-trips keys, TTLs, members and applied index', () => {
    const { sm, run } = machine();
    for (let i = 0; i < 10_000; i++) run(put(`k/${i}`, `value-${i}`));
    run(put('ttl', 'x', { expiresAt: 123, ttl: '5s' }));
    run(put('ключ 🔑', 'ünïcødé'));
    run(del('k/5'));
    run(put('k/7', 'again'));
    sm.setMember('n1', { peerUrl: 'http://a:1', clientUrl: 'http://a:2' });
    sm.setMember('n2', { peerUrl: 'http://b:1', clientUrl: 'http://b:2' });
    sm.setMember('n3', { peerUrl: 'http://c:1', clientUrl: 'http://c:2' });
    sm.removeMember('n3');
    sm.advanceApplied(20_000);
    const bytes = sm.snapshot();

    const copy = new KvStateMachine();
    copy.restore(bytes);
    assert.equal(copy.appliedIndex, 20_000);
    assert.equal(copy.count(), sm.count());
    assert.deepEqual(copy.list('', Infinity, 0), sm.list('', Infinity, 0));
    assert.deepEqual(copy.members(), sm.members());
    assert.deepEqual(
      copy.members().map((m) => m.id),
      ['n1', 'n2'],
    );
    assert.deepEqual(copy.expiredKeys(1000, 10), [
      { key: 'ttl', modifyIndex: sm.get('ttl', 0)!.modifyIndex },
    ]);
    assert.deepEqual(
      Buffer.from(copy.snapshot()),
      Buffer.from(bytes),
      'equal states give identical snapshots',
    );
    // The restored machine keeps working.
    const r = copy.apply(20_001, put('k/7', 'after'));
    assert.ok(r.ok && r.kv?.version === 3);
  });

  void test('a corrupted or truncated snapshot is rejected and changes nothing', () => {
    const { sm, run } = machine();
    for (let i = 0; i < 100; i++) run(put(`k${i}`, `v${i}`));
    const good = sm.snapshot();
    const target = new KvStateMachine();
    target.apply(1, put('mine', 'stays'));
    for (const pos of [0, 5, 40, Math.floor(good.byteLength / 2), good.byteLength - 1]) {
      const bad = Uint8Array.from(good);
      bad[pos]! ^= 0x20;
      assert.throws(() => target.restore(bad), CorruptionError, `flip at ${pos}`);
    }
    assert.throws(() => target.restore(good.subarray(0, good.byteLength - 10)), CorruptionError);
    assert.throws(() => target.restore(new Uint8Array()), CorruptionError);
    assert.equal(target.get('mine', 0)?.value, 'stays');
    assert.equal(target.appliedIndex, 1);
  });
});

void describe('KvStateMachine async snapshots', () => {
  void test('snapshotChunks captures the state at call time while applies continue', () => {
    const { sm, run } = machine();
    for (let i = 0; i < 60_000; i++) run(put(`k/${String(i).padStart(6, '0')}`, `v${i}`));
    const expected = sm.snapshot();
    const { appliedIndex, chunks, release } = sm.snapshotChunks();
    // Changes after the call must not leak into the snapshot, even between chunks:
    // replaced, deleted, deleted and re-created, and new keys.
    run(put('k/000001', 'changed'));
    run(del('k/000003'));
    run(put('k/000003', 'again'));
    const parts: Buffer[] = [];
    for (const chunk of chunks) {
      parts.push(Buffer.from(chunk)); // chunks are reused: copy
      run(del(`k/${String(parts.length * 7).padStart(6, '0')}`));
      run(put(`k/${String(59_999 - parts.length).padStart(6, '0')}`, 'late'));
      run(put('zzz', `new${parts.length}`));
    }
    release();
    assert.equal(appliedIndex, 60_000);
    assert.ok(parts.length > 1, 'more than one chunk');
    assert.ok(
      Buffer.concat(parts).equals(Buffer.from(expected)),
      'the streamed snapshot equals the sync one taken at the same point',
    );
    // The live state has the later changes.
    assert.equal(sm.get('k/000001', 0)?.value, 'changed');
    assert.equal(sm.get('k/000003', 0)?.value, 'again');
    assert.equal(sm.list('k/', Infinity, 0).items.length, 60_000 - parts.length);
  });

  void test('a snapshot in progress keeps the state it started from when a restore replaces it', () => {
    const { sm, run } = machine();
    for (let i = 0; i < 30_000; i++) run(put(`a/${String(i).padStart(6, '0')}`, `v${i}`));
    const expected = sm.snapshot();
    const other = machine();
    other.run(put('b/only', 'x'));
    const { chunks, release } = sm.snapshotChunks();
    const parts: Buffer[] = [];
    for (const chunk of chunks) {
      parts.push(Buffer.from(chunk));
      if (parts.length === 1) {
        run(put('a/000001', 'changed before the restore'));
        sm.restore(other.sm.snapshot());
        assert.equal(sm.count(), 1);
      }
    }
    release();
    assert.ok(Buffer.concat(parts).equals(Buffer.from(expected)));
  });

  void test('restoreAsync refuses applies until it is done, then matches restore()', async () => {
    const { sm, run } = machine();
    for (let i = 0; i < 30_000; i++)
      run(put(`k${i}`, `v${i}`, i % 3 === 0 ? { expiresAt: i, ttl: '1s' } : {}));
    const bytes = sm.snapshot();
    const target = new KvStateMachine();
    const pending = target.restoreAsync(bytes);
    assert.throws(() => target.apply(1, put('x', 'y')), /restoreAsync/);
    await pending;
    assert.equal(target.appliedIndex, 30_000);
    assert.deepEqual(target.list('k1', 50, 0), sm.list('k1', 50, 0));
    assert.deepEqual(target.expiredKeys(100, 1000).length, sm.expiredKeys(100, 1000).length);
    assert.ok(target.apply(30_001, put('x', 'y')).ok);
    const bad = Uint8Array.from(bytes);
    bad[bad.length - 100]! ^= 1;
    await assert.rejects(target.restoreAsync(bad), CorruptionError);
    assert.equal(target.get('x', 0)?.value, 'y', 'a failed restore changes nothing');
  });
});

void describe('KvStateMachine watches', () => {
  void test('resolves at once when a change after the index already happened', async () => {
    const { sm, run } = machine();
    run(put('a', '1'));
    run(put('b', '1'));
    run(put('a', '2'));
    assert.equal(await sm.waitForChange('a', false, 0, 1000), 1);
    assert.equal(await sm.waitForChange('a', false, 1, 1000), 3);
    assert.equal(await sm.waitForChange('b', false, 1, 1000), 2);
    assert.equal(sm.watchers, 0);
  });

  void test('waits for the next change to the key, ignoring other keys', async () => {
    const { sm, run } = machine();
    run(put('a', '1'));
    const w = sm.waitForChange('a', false, 1, 10_000);
    run(put('other', 'x'));
    run(put('a/child', 'x'));
    assert.equal(sm.watchers, 1);
    run(del('a'));
    assert.equal(await w, 4);
    assert.equal(sm.watchers, 0);
  });

  void test('recursive watches fire for any key under the prefix, including expiry', async () => {
    const { sm, run } = machine();
    run(put('dir/x', '1', { expiresAt: 10 }));
    const w1 = sm.waitForChange('dir/', true, 1, 10_000);
    run(put('elsewhere', '1'));
    run({ op: 'expire', requestId: rid(), keys: [{ key: 'dir/x', modifyIndex: 1 }] });
    assert.equal(await w1, 3);
    const w2 = sm.waitForChange('dir/', true, 3, 10_000);
    run(put('dir/y/z', '1'));
    assert.equal(await w2, 4);
  });

  void test('a recursive delete wakes watchers of keys under it', async () => {
    const { sm, run } = machine();
    run(put('p/a', '1'));
    const w = sm.waitForChange('p/a', false, 1, 10_000);
    run(del('p/', { recurse: true }));
    assert.equal(await w, 2);
  });

  void test('a refused cas write is not a change', async () => {
    const { sm, run } = machine();
    run(put('a', '1'));
    const w = sm.waitForChange('a', false, 1, 50);
    run(put('a', '2', { cas: 0 }));
    assert.equal(await w, 2, 'times out with the applied index');
  });

  void test('times out with the current applied index', async () => {
    const { sm, run } = machine();
    run(put('a', '1'));
    const w = sm.waitForChange('a', false, 1, 20);
    run(put('b', '1'));
    assert.equal(await w, 2);
    assert.equal(sm.watchers, 0);
  });

  void test('abort rejects and releases the waiter', async () => {
    const { sm } = machine();
    const ac = new AbortController();
    const w = sm.waitForChange('a', false, 0, 60_000, ac.signal);
    assert.equal(sm.watchers, 1);
    ac.abort();
    await assert.rejects(w, { name: 'AbortError' });
    assert.equal(sm.watchers, 0);
    await assert.rejects(sm.waitForChange('a', false, 0, 1000, ac.signal), { name: 'AbortError' });
  });

  void test('an index older than the history resolves at once with the applied index', async () => {
    const sm = new KvStateMachine({ historySize: 5 });
    for (let i = 1; i <= 20; i++) sm.apply(i, put(`k${i}`, 'v'));
    assert.equal(await sm.waitForChange('unrelated', false, 3, 10_000), 20);
    // Within the history, an unrelated key waits (and times out here).
    assert.equal(await sm.waitForChange('unrelated', false, 17, 10), 20);
    assert.equal(await sm.waitForChange('k19', false, 17, 10_000), 19);
  });

  void test('restoring a snapshot wakes every watcher', async () => {
    const src = new KvStateMachine();
    src.apply(50, put('x', '1'));
    const snap = src.snapshot();
    const { sm } = machine();
    const w = sm.waitForChange('anything', true, 0, 60_000);
    sm.restore(snap);
    assert.equal(await w, 50);
    assert.equal(
      await sm.waitForChange('x', false, 10, 10_000),
      50,
      'history before the snapshot is unknown',
    );
  });

  void test('the number of waiters is capped', async () => {
    const sm = new KvStateMachine({ maxWaiters: 2 });
    const ac = new AbortController();
    const a = sm.waitForChange('a', false, 0, 60_000, ac.signal);
    const b = sm.waitForChange('b', true, 0, 60_000, ac.signal);
    await assert.rejects(sm.waitForChange('c', false, 0, 60_000), WatchLimitError);
    ac.abort();
    await assert.rejects(a);
    await assert.rejects(b);
    assert.equal(sm.watchers, 0);
  });
});
