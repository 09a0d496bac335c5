import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, isPasswordHash, verifyPassword } from './password.ts';

const FAST = { N: 1 << 10, r: 8, p: 1 } as const;

test('a password verifies against its own hash only', async () => {
  const h = await hashPassword('correct horse', FAST);
  assert.ok(isPasswordHash(h));
  assert.equal(await verifyPassword('correct horse', h), true);
  assert.equal(await verifyPassword('correct horsf', h), false);
  assert.equal(await verifyPassword('', h), false);
});

test('the same password hashes differently each time (salted) and never appears in the hash', async () => {
  const a = await hashPassword('s3cret-pass', FAST);
  const b = await hashPassword('s3cret-pass', FAST);
  assert.notEqual(a, b);
  assert.ok(!a.includes('s3cret-pass'));
});

test('default parameters are memory-hard and recorded in the hash', async () => {
  const h = await hashPassword('pw-for-defaults');
  assert.match(h, /^scrypt\$15\$8\$1\$/);
  assert.equal(await verifyPassword('pw-for-defaults', h), true);
});

test('malformed or hostile stored hashes are refused without deriving', async () => {
  for (const bad of [
    '',
    'plain',
    'scrypt$99$8$1$AAAAAAAAAAA$AAAA',
    'scrypt$15$8$1$$',
    'bcrypt$1$2$3$4$5',
    'scrypt$15$999$1$AAAAAAAAAAAA$AAAA',
  ]) {
    assert.equal(isPasswordHash(bad), false, bad);
    assert.equal(await verifyPassword('x', bad), false, bad);
  }
});

test('unicode passwords are normalised (NFC), so the same text typed differently matches', async () => {
  const h = await hashPassword('caf\u00e9-pass', FAST);
  assert.equal(await verifyPassword('cafe\u0301-pass', h), true);
});
