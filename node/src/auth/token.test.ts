import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CLOCK_SKEW_MS, issueToken, verifyToken } from './token.ts';

const key = randomBytes(32);
const now = 1_800_000_000_000;
const claims = { sub: 'alice', gen: 3, iat: now, exp: now + 60_000 };

test('a token verifies with the key it was issued with and carries its claims', () => {
  const t = issueToken(key, claims);
  assert.match(t, /^kv1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  assert.deepEqual(verifyToken(key, t, now + 1000), { ok: true, claims });
});

test('another key, a changed payload or a cut signature is refused', () => {
  const t = issueToken(key, claims);
  assert.deepEqual(verifyToken(randomBytes(32), t, now), { ok: false, reason: 'bad-signature' });
  const [v, , sig] = t.split('.');
  const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'root' })).toString('base64url');
  assert.deepEqual(verifyToken(key, `${v}.${forged}.${sig}`, now), { ok: false, reason: 'bad-signature' });
  assert.deepEqual(verifyToken(key, t.slice(0, -4), now), { ok: false, reason: 'bad-signature' });
});

test('expiry and issue times are checked with a bounded clock skew', () => {
  const t = issueToken(key, claims);
  assert.equal(verifyToken(key, t, claims.exp + CLOCK_SKEW_MS - 1).ok, true);
  assert.deepEqual(verifyToken(key, t, claims.exp + CLOCK_SKEW_MS), { ok: false, reason: 'expired' });
  assert.deepEqual(verifyToken(key, t, now - CLOCK_SKEW_MS - 1), { ok: false, reason: 'not-yet-valid' });
});

test('garbage is malformed, never an exception', () => {
  for (const bad of ['', 'kv1', 'kv1..', 'kv2.a.b', 'a.b.c.d', 'x'.repeat(5000), 'kv1.%%%.###']) {
    const r = verifyToken(key, bad, now);
    assert.equal(r.ok, false, bad.slice(0, 20));
  }
  // A correctly signed payload that is not a claims object.
  const payload = Buffer.from('[1,2]').toString('base64url');
  const sig = createHmac('sha256', key).update(`kv1.${payload}`).digest('base64url');
  assert.deepEqual(verifyToken(key, `kv1.${payload}.${sig}`, now), { ok: false, reason: 'malformed' });
});
