import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideMemberCert, memberSans, nextCaPhase, renewAt } from './pki.ts';

const day = 86_400_000;
const names = { namespace: 'apps', member: 'demo-1', peerService: 'demo-peers', clientService: 'demo' };

test('a member certificate names its pod under the peer Service, the client Service and its member URI', () => {
  const sans = memberSans(names);
  assert.ok(sans.includes('DNS:demo-1.demo-peers.apps.svc'));
  assert.ok(sans.includes('DNS:demo-1.demo-peers.apps.svc.cluster.local'));
  assert.ok(sans.includes('DNS:demo.apps.svc'));
  assert.ok(sans.includes('URI:urn:kvstore:member:demo-1'));
});

test('renewal at two thirds of the lifetime: a 90-day certificate is renewed after 60 days', () => {
  assert.equal(renewAt({ notBefore: 0, notAfter: 90 * day }), 60 * day);
});

test('member certificate decisions', () => {
  const want = memberSans(names);
  const good = { validity: { notBefore: 0, notAfter: 90 * day }, sans: want, issuedByCurrentCa: true };
  assert.deepEqual(decideMemberCert(null, want, 0), { action: 'issue', reason: 'missing' });
  assert.deepEqual(decideMemberCert(good, want, 10 * day), { action: 'keep', recheckAt: 60 * day });
  assert.deepEqual(decideMemberCert(good, want, 61 * day), { action: 'issue', reason: 'renewal-due' });
  assert.deepEqual(decideMemberCert(good, want, 91 * day), { action: 'issue', reason: 'expired' });
  assert.deepEqual(decideMemberCert({ ...good, sans: want.slice(1) }, want, day), {
    action: 'issue',
    reason: 'wrong-names',
  });
  assert.deepEqual(decideMemberCert({ ...good, issuedByCurrentCa: false }, want, day), {
    action: 'issue',
    reason: 'wrong-issuer',
  });
  assert.equal(
    decideMemberCert({ ...good, sans: [...want, 'DNS:extra'] }, want, day).action,
    'keep',
    'extra names are harmless',
  );
});

test('a CA rotation trusts both CAs until every certificate comes from the new one', () => {
  const s = { oldCaRenewalDue: true, allMembersSeeBundle: false, allCertsFromNewCa: false };
  assert.equal(nextCaPhase({ ...s, phase: 'stable' }), 'trust-both');
  assert.equal(
    nextCaPhase({ ...s, phase: 'trust-both' }),
    'trust-both',
    'wait until every member reads the bundle',
  );
  assert.equal(nextCaPhase({ ...s, phase: 'trust-both', allMembersSeeBundle: true }), 'reissue');
  assert.equal(
    nextCaPhase({ ...s, phase: 'reissue', allMembersSeeBundle: true }),
    'reissue',
    'some certificates are old',
  );
  assert.equal(
    nextCaPhase({ ...s, phase: 'reissue', allMembersSeeBundle: true, allCertsFromNewCa: true }),
    'drop-old',
  );
  assert.equal(nextCaPhase({ ...s, phase: 'drop-old', allMembersSeeBundle: true }), 'stable');
  assert.equal(nextCaPhase({ ...s, phase: 'stable', oldCaRenewalDue: false }), 'stable');
});
