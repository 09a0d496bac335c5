import assert from 'node:assert/strict';
import { test } from 'node:test';
import { declaredUsers, generatePassword, passwordDigest, planAuth, type AuthView } from './auth.ts';

const empty: AuthView = { enabled: false, users: [], roles: [] };

void test('bootstrap: root created with role root before auth is enabled, then nothing', () => {
  assert.deepEqual(planAuth(empty, { passwordApplied: false }, [], []), [
    { kind: 'add-user', user: 'root' },
    { kind: 'grant', user: 'root', role: 'root' },
    { kind: 'enable' },
  ]);
  const done: AuthView = { enabled: true, users: [{ name: 'root', roles: ['root'] }], roles: [] };
  assert.deepEqual(planAuth(done, { passwordApplied: true }, [], []), []);
});

void test('a root whose password is not the Secret one gets it set (and keeps its role)', () => {
  const view: AuthView = { enabled: false, users: [{ name: 'root', roles: [] }], roles: [] };
  assert.deepEqual(planAuth(view, { passwordApplied: false }, [], []), [
    { kind: 'set-password', user: 'root' },
    { kind: 'grant', user: 'root', role: 'root' },
    { kind: 'enable' },
  ]);
});

void test('declared roles and users: roles applied when different, users created, roles granted and revoked to match', () => {
  const view: AuthView = {
    enabled: true,
    users: [
      { name: 'root', roles: ['root'] },
      { name: 'bob', roles: ['old', 'reader'] },
      { name: 'someone-else', roles: ['x'] },
    ],
    roles: [{ name: 'reader', permissions: [{ prefix: 'app/', access: 'read' }] }],
  };
  const roles = [
    { name: 'reader', permissions: [{ prefix: 'app/', access: 'read' as const }] },
    { name: 'writer', permissions: [{ prefix: 'app/', access: 'readwrite' as const }] },
  ];
  const users = [
    { name: 'alice', roles: ['writer'], password: 'alice-password', passwordApplied: false },
    { name: 'bob', roles: ['reader'], password: 'bob-password', passwordApplied: true },
    { name: 'carol', roles: ['reader'], password: undefined, passwordApplied: false },
  ];
  assert.deepEqual(planAuth(view, { passwordApplied: true }, roles, users), [
    { kind: 'put-role', role: roles[1] },
    { kind: 'add-user', user: 'alice' },
    { kind: 'grant', user: 'alice', role: 'writer' },
    { kind: 'revoke', user: 'bob', role: 'old' },
  ]);
});

void test('a changed password in the Secret is set; the operator remembers digests, never passwords', () => {
  const view: AuthView = {
    enabled: true,
    users: [
      { name: 'root', roles: ['root'] },
      { name: 'bob', roles: [] },
    ],
    roles: [],
  };
  const applied = new Set([passwordDigest('uid', 'bob', 'first-password')]);
  const users = declaredUsers(
    [{ name: 'bob', passwordSecretRef: { name: 's', key: 'k' }, roles: [] }],
    () => 'second-password',
    (u, pw) => applied.has(passwordDigest('uid', u, pw)),
  );
  assert.deepEqual(planAuth(view, { passwordApplied: true }, [], users), [
    { kind: 'set-password', user: 'bob' },
  ]);
  assert.ok(!passwordDigest('uid', 'bob', 'second-password').includes('second-password'));
  assert.notEqual(passwordDigest('uid-a', 'bob', 'pw'), passwordDigest('uid-b', 'bob', 'pw'));
});

void test('generated passwords: long, URL-safe, different every time', () => {
  const a = generatePassword();
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, generatePassword());
});
