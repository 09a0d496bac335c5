// Auth commands through the log and auth state through snapshots (issue 14).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { hashPassword } from '../auth/password.ts';
import { CorruptionError } from '../storage/errors.ts';
import { CommandDecodeError, decodeCommand, encodeCommand, type Command } from './commands.ts';
import { concatChunks, encodeSnapshotChunks } from './snapshot-codec.ts';
import { KvStateMachine } from './state-machine.ts';

const FAST = { N: 1 << 10, r: 8, p: 1 } as const;

describe('auth in the replicated state', () => {
  test('an auth command round-trips through the binary format; a bad change does not decode', async () => {
    const hash = await hashPassword('pw-12345678', FAST);
    const cmd: Command = {
      op: 'auth',
      requestId: 'r1',
      change: { type: 'add-user', name: 'alice', passwordHash: hash },
    };
    assert.deepEqual(decodeCommand(encodeCommand(cmd)), cmd);
    const bad = Buffer.from(encodeCommand({ op: 'auth', requestId: 'r2', change: { type: 'disable' } }));
    // Corrupt the JSON body: '{"type":"disable"}' -> '{"type":"explode"}'.
    const at = bad.indexOf('disable');
    bad.write('explode', at);
    assert.throws(() => decodeCommand(bad), CommandDecodeError);
  });

  test('users and roles are applied at an index and survive a snapshot restore', async () => {
    const sm = new KvStateMachine();
    const hash = await hashPassword('root-pw-123', FAST);
    let i = 0;
    const auth = (change: Extract<Command, { op: 'auth' }>['change']) =>
      sm.apply(++i, { op: 'auth', requestId: `a${i}`, change });
    assert.deepEqual(auth({ type: 'add-user', name: 'root', passwordHash: hash }), {
      ok: true,
      auth: { ok: true },
    });
    auth({ type: 'grant-role', user: 'root', role: 'root' });
    auth({ type: 'put-role', role: { name: 'app', permissions: [{ prefix: 'app/', access: 'readwrite' }] } });
    const refused = auth({ type: 'grant-role', user: 'nobody', role: 'app' });
    assert.equal(refused.ok, true, 'a refused change still takes its index');
    assert.equal(refused.ok && refused.auth?.ok, false);
    auth({ type: 'enable', tokenKey: randomBytes(32).toString('base64') });
    sm.apply(++i, { op: 'put', requestId: 'p', key: 'app/x', value: 'v' });
    assert.equal(sm.appliedIndex, i);

    const copy = new KvStateMachine();
    copy.restore(sm.snapshot());
    assert.deepEqual(copy.auth.snapshot(), sm.auth.snapshot());
    assert.equal(copy.auth.enabled, true);
    assert.equal(copy.get('app/x', Date.now())?.value, 'v');
  });

  test('a snapshot without auth state restores empty auth (and keeps its old byte layout)', () => {
    const sm = new KvStateMachine();
    sm.apply(1, { op: 'put', requestId: 'p', key: 'k', value: 'v' });
    const withAuth = new KvStateMachine();
    withAuth.apply(1, { op: 'put', requestId: 'p', key: 'k', value: 'v' });
    assert.deepEqual(Buffer.from(sm.snapshot()), Buffer.from(withAuth.snapshot()));
    assert.ok(!Buffer.from(sm.snapshot()).includes('auth'), 'no auth section while there is no auth state');
    const target = new KvStateMachine();
    target.restore(sm.snapshot());
    assert.equal(target.auth.enabled, false);
    assert.deepEqual(target.auth.users(), []);
  });

  test('restoring a snapshot replaces the auth state', async () => {
    const a = new KvStateMachine();
    const b = new KvStateMachine();
    b.apply(1, {
      op: 'auth',
      requestId: 'x',
      change: { type: 'add-user', name: 'bob', passwordHash: await hashPassword('bob-pw-123', FAST) },
    });
    b.restore(a.snapshot());
    assert.equal(b.auth.user('bob'), undefined);
  });

  test('a snapshot whose auth section is malformed is corruption, and changes nothing', () => {
    const bad = concatChunks(
      encodeSnapshotChunks(
        5,
        [],
        [['k']],
        () => ({ key: 'k', value: 'v', createIndex: 1, modifyIndex: 1, version: 1 }),
        {
          enabled: true,
          tokenKey: null,
          users: [{ name: 'root', passwordHash: 'plaintext-password', roles: ['root'], generation: 1 }],
          roles: [],
        },
      ),
    );
    const sm = new KvStateMachine();
    sm.apply(1, { op: 'put', requestId: 'p', key: 'mine', value: 'v' });
    assert.throws(
      () => sm.restore(bad),
      (e: unknown) => e instanceof CorruptionError && /auth/.test(e.message),
    );
    assert.equal(sm.get('mine', Date.now())?.value, 'v');
  });
});
