// Peer mutual TLS in the transport: an outbound stream is opened only to a server whose
// certificate names the member being dialled (checkServerIdentity), presenting our certificate.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createLogger } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { TestPki } from '../security/test-certs.test-helper.ts';
import { loadTlsMaterial } from '../security/tls-material.ts';
import { PeerTransport } from './peer-transport.ts';

const pki = new TestPki();
after(() => pki.cleanup());
const ca = pki.ca('ca');
const memberCert = (id: string) =>
  pki.leaf(id, ca, { sans: ['IP:127.0.0.1', `URI:urn:kvstore:member:${id}`] });

test('outbound: dials only a server whose certificate names the member dialled, with our certificate', async () => {
  const n1 = memberCert('n1');
  const n2 = memberCert('n2');
  const caPem = pki.bundle('bundle', [ca]);
  const upgrades: string[] = [];
  const server = https.createServer(
    {
      ...loadTlsMaterial({ certFile: n2.cert, keyFile: n2.key, caFile: caPem }),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (_req, res) => res.writeHead(404).end(),
  );
  server.on('upgrade', (req, socket) => {
    const peer = (req.socket as TLSSocket).getPeerX509Certificate();
    upgrades.push(`${String(req.headers['x-raft-to'])} from ${peer?.subject ?? 'nobody'}`);
    socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const material = loadTlsMaterial({ certFile: n1.cert, keyFile: n1.key, caFile: caPem });
  const t = new PeerTransport({
    selfId: 'n1',
    clusterId: () => 'c',
    logger: createLogger({ level: 'error', write: () => {} }),
    metrics: createMetrics({ defaultMetrics: false }),
    onMessages: () => {},
    tls: () => material,
    backoffBaseMs: 50,
    backoffMaxMs: 100,
  });
  try {
    // The server at that address is n2: dialling it as n3 must fail before any request is sent.
    t.setPeer('n3', url);
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(upgrades, []);
    t.removePeer('n3');
    t.setPeer('n2', url);
    const deadline = Date.now() + 5000;
    while (upgrades.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(upgrades[0] ?? '', /^n2 from CN=n1/);
  } finally {
    await t.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
