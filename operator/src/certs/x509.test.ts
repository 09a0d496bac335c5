import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { issueCertificate } from './x509.ts';

const day = 24 * 3600 * 1000;
const now = new Date();
const ca = issueCertificate({
  commonName: 'kv-store demo CA',
  organization: 'kv-store',
  notBefore: now,
  notAfter: new Date(+now + 365 * day),
  isCa: true,
  usage: [],
});
const leaf = issueCertificate(
  {
    commonName: 'demo-0',
    sans: [
      'DNS:demo-0.demo-peer.apps.svc',
      'DNS:localhost',
      'IP:127.0.0.1',
      'IP:::1',
      'URI:urn:kvstore:member:demo-0',
    ],
    notBefore: now,
    notAfter: new Date(+now + 90 * day),
    isCa: false,
    usage: ['server', 'client'],
  },
  ca,
);

test('a self-signed CA verifies itself and is a CA', () => {
  assert.equal(ca.cert.ca, true);
  assert.equal(ca.cert.verify(ca.cert.publicKey), true);
  assert.match(ca.cert.subject, /CN=kv-store demo CA/);
  assert.equal(ca.cert.checkPrivateKey(ca.key), true);
});

test('a leaf is signed by the CA, names its SANs and validity, and is not a CA', () => {
  assert.equal(leaf.cert.verify(ca.cert.publicKey), true);
  assert.equal(leaf.cert.checkIssued(ca.cert), true);
  assert.equal(leaf.cert.ca, false);
  assert.equal(leaf.cert.issuer, ca.cert.subject);
  assert.equal(leaf.cert.checkHost('demo-0.demo-peer.apps.svc'), 'demo-0.demo-peer.apps.svc');
  assert.equal(leaf.cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(leaf.cert.checkIP('::1'), '::1');
  assert.match(leaf.cert.subjectAltName ?? '', /URI:urn:kvstore:member:demo-0/);
  assert.equal(leaf.cert.checkPrivateKey(leaf.key), true);
  const days = (Date.parse(leaf.cert.validTo) - Date.parse(leaf.cert.validFrom)) / day;
  assert.ok(Math.abs(days - 90) < 1, `valid ${days} days`);
  assert.match(leaf.cert.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.1/);
});

test('openssl agrees: the chain verifies for both purposes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'x509-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    writeFileSync(join(dir, 'leaf.pem'), leaf.certPem);
    for (const purpose of ['sslserver', 'sslclient']) {
      const out = execFileSync('openssl', [
        'verify',
        '-purpose',
        purpose,
        '-CAfile',
        join(dir, 'ca.pem'),
        join(dir, 'leaf.pem'),
      ]).toString();
      assert.match(out, /OK/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a TLS handshake with the issued certificate succeeds against the CA and the host name', async () => {
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_q, r) => r.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: '/', ca: ca.certPem, servername: 'localhost' }, (res) => {
          let b = '';
          res.on('data', (c: Buffer) => (b += c.toString()));
          res.on('end', () => resolve(b));
        })
        .on('error', reject);
    });
    assert.equal(body, 'ok');
  } finally {
    server.close();
  }
});

test('a far-future expiry is encoded as GeneralizedTime and still parses', () => {
  const c = issueCertificate({
    commonName: 'x',
    notBefore: now,
    notAfter: new Date('2060-01-01T00:00:00Z'),
    isCa: true,
    usage: [],
  });
  assert.equal(new Date(c.cert.validTo).getUTCFullYear(), 2060);
});

test('unsupported SANs are refused', () => {
  assert.throws(() =>
    issueCertificate(
      {
        commonName: 'x',
        sans: ['email:a@b'],
        notBefore: now,
        notAfter: new Date(+now + day),
        isCa: false,
        usage: [],
      },
      ca,
    ),
  );
  assert.throws(() =>
    issueCertificate(
      {
        commonName: 'x',
        sans: ['DNS:bad name'],
        notBefore: now,
        notAfter: new Date(+now + day),
        isCa: false,
        usage: [],
      },
      ca,
    ),
  );
});
