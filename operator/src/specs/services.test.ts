import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildClientService, buildPeerService } from './services.ts';
import { kvcluster } from './fixture.test-helper.ts';

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
