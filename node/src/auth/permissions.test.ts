import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allows, isAdmin, roleProblem, type Role } from './permissions.ts';

const roles = new Map<string, Role>([
  ['app-rw', { name: 'app-rw', permissions: [{ prefix: 'app/', access: 'readwrite' }] }],
  ['cfg-ro', { name: 'cfg-ro', permissions: [{ prefix: 'config/', access: 'read' }] }],
  ['all-ro', { name: 'all-ro', permissions: [{ prefix: '', access: 'read' }] }],
]);

test('a key is allowed by a permission whose prefix it starts with, at the granted access', () => {
  assert.equal(allows(['app-rw'], roles, { kind: 'write', key: 'app/x' }), true);
  assert.equal(allows(['app-rw'], roles, { kind: 'read', key: 'app/x' }), true);
  assert.equal(
    allows(['app-rw'], roles, { kind: 'read', key: 'apple' }),
    false,
    'app/ is not a prefix of apple',
  );
  assert.equal(allows(['cfg-ro'], roles, { kind: 'read', key: 'config/db' }), true);
  assert.equal(allows(['cfg-ro'], roles, { kind: 'write', key: 'config/db' }), false, 'read-only');
  assert.equal(allows(['all-ro'], roles, { kind: 'read', key: 'anything' }), true);
  assert.equal(allows([], roles, { kind: 'read', key: 'app/x' }), false);
  assert.equal(allows(['missing-role'], roles, { kind: 'read', key: 'app/x' }), false);
});

test('a range needs a permission covering the whole range', () => {
  assert.equal(allows(['app-rw'], roles, { kind: 'read', prefix: 'app/sub/' }), true);
  assert.equal(allows(['app-rw'], roles, { kind: 'read', prefix: 'app/' }), true);
  assert.equal(allows(['app-rw'], roles, { kind: 'read', prefix: 'ap' }), false, 'ap covers more than app/');
  assert.equal(allows(['app-rw'], roles, { kind: 'read', prefix: '' }), false, 'every key');
  assert.equal(allows(['app-rw'], roles, { kind: 'write', prefix: 'app/' }), true);
  assert.equal(allows(['cfg-ro'], roles, { kind: 'write', prefix: 'config/' }), false);
});

test('root may do everything', () => {
  assert.equal(allows(['root'], roles, { kind: 'write', prefix: '' }), true);
  assert.equal(isAdmin(['root']), true);
  assert.equal(isAdmin(['app-rw']), false);
});

test('role definitions are validated', () => {
  assert.equal(roleProblem({ name: 'r', permissions: [{ prefix: 'a/', access: 'read' }] }), null);
  assert.match(roleProblem({ name: 'root', permissions: [] }) ?? '', /built in/);
  assert.match(roleProblem({ name: 'bad name', permissions: [] }) ?? '', /role name/);
  assert.match(roleProblem({ name: 'r', permissions: [{ prefix: 'a', access: 'write' }] }) ?? '', /access/);
  assert.match(
    roleProblem({ name: 'r', permissions: [{ prefix: 'a', access: 'read', extra: 1 }] }) ?? '',
    /only prefix/,
  );
  assert.match(roleProblem({ name: 'r' }) ?? '', /array/);
  assert.match(roleProblem(null) ?? '', /object/);
});
