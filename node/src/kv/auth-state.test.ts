// Auth commands through the log and auth state through snapshots (issue 14).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { AuthChange } from '../auth/auth-store.ts';
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

  describe('commands carrying their caller are authorized again where they apply', () => {
    async function enabled(): Promise<{ sm: KvStateMachine; next: () => number }> {
      const sm = new KvStateMachine();
      let i = 0;
      const next = (): number => ++i;
      const hash = await hashPassword('root-pw-123', FAST);
      const auth = (change: Extract<Command, { op: 'auth' }>['change']): void => {
        sm.apply(next(), { op: 'auth', requestId: `a${i}`, change });
      };
      auth({ type: 'add-user', name: 'root', passwordHash: hash });
      auth({ type: 'grant-role', user: 'root', role: 'root' });
      auth({ type: 'add-user', name: 'alice', passwordHash: hash });
      auth({
        type: 'put-role',
        role: { name: 'app', permissions: [{ prefix: 'app/', access: 'readwrite' }] },
      });
      auth({ type: 'grant-role', user: 'alice', role: 'app' });
      auth({ type: 'enable', tokenKey: randomBytes(32).toString('base64') });
      return { sm, next };
    }

    test('the caller round-trips: absent, null (no credentials) or a user name', () => {
      for (const caller of [undefined, null, 'alice']) {
        const put: Command = {
          op: 'put',
          requestId: 'p',
          key: 'k',
          value: 'v',
          proposedAt: 5,
          ...(caller !== undefined ? { caller } : {}),
        };
        assert.deepEqual(decodeCommand(encodeCommand(put)), put);
        const del: Command = {
          op: 'delete',
          requestId: 'd',
          key: 'k',
          recurse: true,
          ...(caller !== undefined ? { caller } : {}),
        };
        assert.deepEqual(decodeCommand(encodeCommand(del)), del);
        const auth: Command = {
          op: 'auth',
          requestId: 'a',
          change: { type: 'disable' },
          ...(caller !== undefined ? { caller } : {}),
        };
        assert.deepEqual(decodeCommand(encodeCommand(auth)), auth);
      }
    });

    test('a write without credentials, accepted where auth was still off, changes nothing once auth is on', async () => {
      const { sm, next } = await enabled();
      const i = next();
      assert.deepEqual(sm.apply(i, { op: 'put', requestId: 'p', key: 'app/x', value: 'v', caller: null }), {
        ok: false,
        code: 'unauthenticated',
        caller: null,
      });
      assert.equal(sm.get('app/x', 0), undefined);
      assert.equal(sm.appliedIndex, i, 'the refused command still takes its index');
      const j = next();
      assert.equal(
        sm.apply(j, { op: 'delete', requestId: 'd', key: 'app/', recurse: true, caller: null }).ok,
        false,
      );
      // A command logged before callers were recorded applies as it always did (replaying an old log).
      assert.equal(sm.apply(next(), { op: 'put', requestId: 'q', key: 'app/old', value: 'v' }).ok, true);
    });

    test('a user may write where a role allows it; outside it, or once removed, nothing changes', async () => {
      const { sm, next } = await enabled();
      assert.equal(
        sm.apply(next(), { op: 'put', requestId: 'p1', key: 'app/x', value: '1', caller: 'alice' }).ok,
        true,
      );
      assert.deepEqual(
        sm.apply(next(), { op: 'put', requestId: 'p2', key: 'other', value: '1', caller: 'alice' }),
        {
          ok: false,
          code: 'permission-denied',
          caller: 'alice',
        },
      );
      assert.equal(
        sm.apply(next(), { op: 'delete', requestId: 'd1', key: '', recurse: true, caller: 'alice' }).ok,
        false,
        'a recursive delete needs the whole range',
      );
      sm.apply(next(), {
        op: 'auth',
        requestId: 'r',
        change: { type: 'revoke-role', user: 'alice', role: 'app' },
        caller: 'root',
      });
      assert.equal(
        sm.apply(next(), { op: 'put', requestId: 'p3', key: 'app/x', value: '2', caller: 'alice' }).ok,
        false,
      );
      assert.equal(sm.get('app/x', 0)?.value, '1');
      assert.equal(
        sm.apply(next(), { op: 'put', requestId: 'p4', key: 'other', value: '1', caller: 'root' }).ok,
        true,
      );
      assert.equal(
        sm.apply(next(), { op: 'put', requestId: 'p5', key: 'x', value: '1', caller: 'ghost' }).ok,
        false,
      );
    });

    test('auth changes need root once auth is on; before that anyone may make them', async () => {
      const { sm, next } = await enabled();
      const change: AuthChange = {
        type: 'put-role',
        role: { name: 'evil', permissions: [{ prefix: '', access: 'readwrite' }] },
      };
      assert.deepEqual(sm.apply(next(), { op: 'auth', requestId: 'x', change, caller: null }), {
        ok: false,
        code: 'unauthenticated',
        caller: null,
      });
      assert.equal(sm.apply(next(), { op: 'auth', requestId: 'y', change, caller: 'alice' }).ok, false);
      assert.equal(sm.auth.roles.has('evil'), false);
      const ok = sm.apply(next(), { op: 'auth', requestId: 'z', change, caller: 'root' });
      assert.ok(ok.ok && ok.auth?.ok);
      sm.apply(next(), { op: 'auth', requestId: 'off', change: { type: 'disable' }, caller: 'root' });
      assert.equal(
        sm.apply(next(), { op: 'put', requestId: 'p', key: 'k', value: 'v', caller: null }).ok,
        true,
      );
    });
  });
});
