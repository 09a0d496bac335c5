import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import tls from 'node:tls';
import { certificateMaySpeakFor, certificateNamesMember } from './peer-identity.ts';
import { TestPki } from './test-certs.test-helper.ts';
import { loadTlsMaterial, ReloadingTls, TlsConfigError } from './tls-material.ts';

const pki = new TestPki();
after(() => pki.cleanup());
const ca1 = pki.ca('ca1');
const ca2 = pki.ca('ca2');

describe('TLS material', () => {
  test('loads a matching certificate and key, and names the bad file otherwise', () => {
    const a = pki.leaf('a', ca1, { sans: ['DNS:localhost'] });
    const b = pki.leaf('b', ca1, { sans: ['DNS:localhost'] });
    const m = loadTlsMaterial({ certFile: a.cert, keyFile: a.key, caFile: ca1.cert });
    assert.equal(m.cas.length, 1);
    assert.throws(
      () => loadTlsMaterial({ certFile: a.cert, keyFile: b.key }),
      (e: unknown) => e instanceof TlsConfigError && /does not belong/.test(e.message),
    );
    assert.throws(() => loadTlsMaterial({ certFile: join(pki.dir, 'nope.crt'), keyFile: a.key }), /ENOENT/);
    const junk = join(pki.dir, 'junk.pem');
    writeFileSync(junk, 'not a pem');
    assert.throws(() => loadTlsMaterial({ certFile: junk, keyFile: a.key }), /does not parse/);
    assert.throws(
      () => loadTlsMaterial({ certFile: a.cert, keyFile: a.key, caFile: junk }),
      /holds no certificate/,
    );
  });

  test('a rotation is picked up without a restart; a half-written update keeps the old set', () => {
    const a = pki.leaf('rot-a', ca1, { sans: ['DNS:localhost'] });
    const b = pki.leaf('rot-b', ca2, { sans: ['DNS:localhost'] });
    const live = { certFile: join(pki.dir, 'live.crt'), keyFile: join(pki.dir, 'live.key') };
    copyFileSync(a.cert, live.certFile);
    copyFileSync(a.key, live.keyFile);
    const errors: Error[] = [];
    const r = new ReloadingTls(live, { pollMs: 1000, onError: (e) => errors.push(e) });
    const seen: string[] = [];
    r.onChange((m) => seen.push(m.leaf.serialNumber));
    assert.equal(r.reloadNow(), false, 'unchanged files');
    copyFileSync(b.cert, live.certFile); // the key has not been swapped yet
    assert.equal(r.reloadNow(), false);
    assert.equal(errors.length, 1, 'reported once');
    assert.equal(r.reloadNow(), false);
    assert.equal(errors.length, 1, 'not every poll');
    copyFileSync(b.key, live.keyFile);
    assert.equal(r.reloadNow(), true);
    assert.deepEqual(seen, [new X509Certificate(readFileSync(b.cert)).serialNumber]);
  });

  test('a server rotated with setSecureContext serves the new certificate to new connections', async () => {
    const a = pki.leaf('srv-a', ca1, { sans: ['IP:127.0.0.1'] });
    const b = pki.leaf('srv-b', ca2, { sans: ['IP:127.0.0.1'] });
    const live = { certFile: join(pki.dir, 'srv.crt'), keyFile: join(pki.dir, 'srv.key') };
    copyFileSync(a.cert, live.certFile);
    copyFileSync(a.key, live.keyFile);
    const r = new ReloadingTls(live, { pollMs: 1000, onError: () => undefined });
    const server = https.createServer({ cert: r.current.cert, key: r.current.key }, (_req, res) =>
      res.end('ok'),
    );
    r.onChange((m) => server.setSecureContext({ cert: m.cert, key: m.key }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const issuer = (ca: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(ca) }, () => {
          resolve(s.getPeerX509Certificate()?.issuer ?? '');
          s.end();
        });
        s.on('error', reject);
      });
    assert.match(await issuer(ca1.cert), /CN=ca1/);
    copyFileSync(b.cert, live.certFile);
    copyFileSync(b.key, live.keyFile);
    assert.equal(r.reloadNow(), true);
    assert.match(await issuer(ca2.cert), /CN=ca2/);
    await assert.rejects(
      issuer(ca1.cert),
      /self-signed|unable to verify|certificate/i,
      'the old CA no longer verifies it',
    );
    server.close();
  });
});

describe('peer identity', () => {
  const cert = (name: string, sans: string[]): X509Certificate =>
    new X509Certificate(readFileSync(pki.leaf(name, ca1, { sans }).cert));

  test('a certificate names a member by its advertised host or by its member URI', () => {
    const c = cert('p1', ['DNS:demo-0.demo-peer.apps.svc', 'IP:10.0.0.7', 'URI:urn:kvstore:member:demo-0']);
    assert.equal(certificateNamesMember(c, { id: 'demo-0', host: 'demo-0.demo-peer.apps.svc' }), true);
    assert.equal(certificateNamesMember(c, { id: 'x', host: '10.0.0.7' }), true);
    assert.equal(certificateNamesMember(c, { id: 'demo-0', host: 'elsewhere' }), true, 'by URI');
    assert.equal(certificateNamesMember(c, { id: 'demo-1', host: 'demo-1.demo-peer.apps.svc' }), false);
    assert.equal(certificateNamesMember(c, { id: 'demo-1', host: '10.0.0.8' }), false);
  });

  test('one wildcard label matches one label only', () => {
    const c = cert('p2', ['DNS:*.demo-peer.apps.svc']);
    assert.equal(certificateNamesMember(c, { id: 'a', host: 'demo-3.demo-peer.apps.svc' }), true);
    assert.equal(certificateNamesMember(c, { id: 'a', host: 'x.demo-3.demo-peer.apps.svc' }), false);
    assert.equal(certificateNamesMember(c, { id: 'a', host: 'demo-peer.apps.svc' }), false);
  });

  test('a certificate without SANs names nobody', () => {
    assert.equal(certificateNamesMember(cert('p3', []), { id: 'p3', host: 'p3' }), false);
  });

  test('a certificate naming member ids by URI speaks for those only, even on a shared host', () => {
    const c = cert('p4', ['IP:127.0.0.1', 'URI:urn:kvstore:member:intruder']);
    assert.equal(certificateNamesMember(c, { id: 'n2', host: '127.0.0.1' }), true, 'the host rule alone');
    assert.equal(certificateMaySpeakFor(c, { id: 'n2', host: '127.0.0.1' }), false);
    assert.equal(certificateMaySpeakFor(c, { id: 'intruder', host: 'elsewhere' }), true);
    const hostOnly = cert('p5', ['DNS:n2.peers.svc']);
    assert.equal(certificateMaySpeakFor(hostOnly, { id: 'n2', host: 'n2.peers.svc' }), true);
    assert.equal(certificateMaySpeakFor(hostOnly, { id: 'n2', host: 'n3.peers.svc' }), false);
  });
});
