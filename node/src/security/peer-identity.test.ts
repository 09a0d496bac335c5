// forwardingMemberOf: which member (if any) a client-port connection's certificate speaks for when
// it asserts a forwarded user (ADR 0068). Certificates made with openssl (TestPki).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { forwardingMemberOf } from './peer-identity.ts';
import { TestPki } from './test-certs.test-helper.ts';

describe('forwardingMemberOf', () => {
  const pki = new TestPki();
  after(() => pki.cleanup());
  const peerCa = pki.ca('peer-ca');
  const clientCa = pki.ca('client-ca');
  const x509 = (f: { cert: string }): X509Certificate => new X509Certificate(readFileSync(f.cert));
  const cas = [x509(peerCa)];
  const members = ['n1', 'n2'];

  test('a peer-CA certificate naming a current member by URI speaks for it', () => {
    const n2 = pki.leaf('n2', peerCa, { sans: ['DNS:n2.svc', 'URI:urn:kvstore:member:n2'] });
    assert.equal(forwardingMemberOf(x509(n2), cas, members), 'n2');
  });

  test('refused: another CA, no member URI (host SANs do not count), a member no longer configured', () => {
    const otherCa = pki.leaf('n1-other', clientCa, { sans: ['URI:urn:kvstore:member:n1'] });
    assert.equal(forwardingMemberOf(x509(otherCa), cas, members), null);
    const hostOnly = pki.leaf('host-only', peerCa, { sans: ['IP:127.0.0.1', 'DNS:n1.svc'] });
    assert.equal(forwardingMemberOf(x509(hostOnly), cas, members), null);
    const gone = pki.leaf('n3', peerCa, { sans: ['URI:urn:kvstore:member:n3'] });
    assert.equal(forwardingMemberOf(x509(gone), cas, members), null);
    // Issued by a CA of the same name (CN=peer-ca) but another key: the signature decides.
    const elsewhere = new TestPki();
    try {
      const impostorCa = elsewhere.ca('peer-ca');
      const forged = elsewhere.leaf('n1-forged', impostorCa, { sans: ['URI:urn:kvstore:member:n1'] });
      assert.equal(x509(forged).issuer, x509(peerCa).subject);
      assert.equal(forwardingMemberOf(x509(forged), cas, members), null);
    } finally {
      elsewhere.cleanup();
    }
  });

  test('during a CA rotation either CA of the bundle is accepted', () => {
    const next = pki.ca('peer-ca-2');
    const n1 = pki.leaf('n1-next', next, { sans: ['URI:urn:kvstore:member:n1'] });
    assert.equal(forwardingMemberOf(x509(n1), cas, members), null);
    assert.equal(forwardingMemberOf(x509(n1), [...cas, x509(next)], members), 'n1');
  });
});
