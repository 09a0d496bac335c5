import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClientService, buildPeerService } from './services.ts';
import { kvcluster } from './fixture.test-helper.ts';
import { withDefaults } from '../types.ts';

void test('peer Service is headless and publishes not-ready addresses', () => {
  const svc = buildPeerService(kvcluster());
  assert.equal(svc.metadata?.name, 'demo-peers');
  assert.equal(svc.spec?.clusterIP, 'None');
  assert.equal(svc.spec?.publishNotReadyAddresses, true);
  assert.deepEqual(svc.spec?.selector, {
    'app.kubernetes.io/name': 'kv-store',
    'app.kubernetes.io/instance': 'demo',
  });
});

void test('client Service follows spec.service', () => {
  const svc = buildClientService(kvcluster({ service: { type: 'NodePort', port: 9000 } }));
  assert.equal(svc.metadata?.name, 'demo');
  assert.equal(svc.spec?.type, 'NodePort');
  assert.equal(svc.spec?.ports?.[0]?.port, 9000);
  assert.equal(svc.spec?.ports?.[0]?.targetPort, 'http');
  assert.equal(svc.spec?.publishNotReadyAddresses, undefined);
});

void test('with TLS (the default) the peer Service names the separate peer port; without, the one shared port', () => {
  const tls = buildPeerService(kvcluster());
  assert.deepEqual(
    tls.spec?.ports?.map((p) => [p.name, p.port, p.targetPort]),
    [
      ['peer', 8081, 'peer'],
      ['http', 8080, 'http'],
    ],
  );
  const plain = buildPeerService(kvcluster({ tls: { ...withDefaults({}).tls, enabled: false } }));
  assert.deepEqual(
    plain.spec?.ports?.map((p) => [p.name, p.port, p.targetPort]),
    [['peer', 8080, 'http']],
  );
});
