import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { AuthStore, authChangeProblem } from './auth-store.ts';
import { hashPassword } from './password.ts';

const FAST = { N: 1 << 10, r: 8, p: 1 } as const;
const key = (): string => randomBytes(32).toString('base64');

async function storeWithRoot(): Promise<AuthStore> {
  const s = new AuthStore();
  const h = await hashPassword('root-password', FAST);
  assert.deepEqual(s.apply({ type: 'add-user', name: 'root', passwordHash: h }), { ok: true });
  assert.deepEqual(s.apply({ type: 'grant-role', user: 'root', role: 'root' }), { ok: true });
  return s;
}

test('auth is enabled only once root holds the root role, and the first token key stays', async () => {
  const s = new AuthStore();
  assert.equal(s.apply({ type: 'enable', tokenKey: key() }).ok, false);
  const r = await storeWithRoot();
  const k1 = key();
  assert.deepEqual(r.apply({ type: 'enable', tokenKey: k1 }), { ok: true });
  assert.equal(r.enabled, true);
  r.apply({ type: 'disable' });
  r.apply({ type: 'enable', tokenKey: key() });
  assert.equal(r.tokenKey?.toString('base64'), k1, 'tokens stay valid across disable/enable');
});

test('users, roles and grants change deterministically; refusals change nothing', async () => {
  const s = await storeWithRoot();
  const h = await hashPassword('alice-password', FAST);
  assert.equal(s.apply({ type: 'add-user', name: 'alice', passwordHash: h }).ok, true);
  assert.deepEqual(s.apply({ type: 'add-user', name: 'alice', passwordHash: h }), {
    ok: false,
    code: 'user-exists',
    message: 'user alice already exists',
  });
  assert.equal(s.apply({ type: 'grant-role', user: 'alice', role: 'app' }).ok, false, 'no such role yet');
  s.apply({
    type: 'put-role',
    role: { name: 'app', permissions: [{ prefix: 'app/', access: 'readwrite' }] },
  });
  assert.equal(s.apply({ type: 'grant-role', user: 'alice', role: 'app' }).ok, true);
  assert.deepEqual(s.user('alice')?.roles, ['app']);
  s.apply({ type: 'delete-role', name: 'app' });
  assert.deepEqual(s.user('alice')?.roles, [], 'a deleted role is taken from its users');
  const gen = s.user('alice')!.generation;
  s.apply({ type: 'set-password', name: 'alice', passwordHash: h });
  assert.equal(s.user('alice')!.generation, gen + 1, 'a new password revokes old tokens');
});

test('root keeps the root role while auth is on', async () => {
  const s = await storeWithRoot();
  s.apply({ type: 'enable', tokenKey: key() });
  assert.equal(s.apply({ type: 'revoke-role', user: 'root', role: 'root' }).ok, false);
  assert.equal(s.wouldLockOut({ type: 'delete-user', name: 'root' }), true);
});

test('a snapshot restores the same state, and a bad one is refused', async () => {
  const s = await storeWithRoot();
  s.apply({ type: 'put-role', role: { name: 'ro', permissions: [{ prefix: '', access: 'read' }] } });
  s.apply({ type: 'enable', tokenKey: key() });
  const copy = new AuthStore();
  copy.restore(JSON.parse(JSON.stringify(s.snapshot())));
  assert.deepEqual(copy.snapshot(), s.snapshot());
  assert.throws(() =>
    copy.restore({
      ...s.snapshot(),
      users: [{ name: 'x', passwordHash: 'plain', roles: [], generation: 1 }],
    }),
  );
  assert.deepEqual(copy.snapshot(), s.snapshot(), 'a refused restore changes nothing');
});

test('changes from the log are shape-checked', () => {
  const bad: unknown[] = [
    null,
    { type: 'add-user', name: 'a b', passwordHash: 'x' },
    { type: 'add-user', name: 'a', passwordHash: 'plaintext' },
    { type: 'enable', tokenKey: 'short' },
    { type: 'put-role', role: { name: 'root', permissions: [] } },
    { type: 'explode' },
  ];
  for (const c of bad) assert.notEqual(authChangeProblem(c), null, JSON.stringify(c));
  const s = new AuthStore();
  assert.equal(s.apply({ type: 'add-user', name: 'a', passwordHash: 'plain' }).ok, false);
});
