import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { configSource } from './config-source.ts';

const has =
  (...paths: string[]) =>
  (p: string) =>
    paths.includes(p);

test('in a pod: the ServiceAccount, unless KUBECONFIG is set', () => {
  assert.deepEqual(
    configSource(
      { KUBERNETES_SERVICE_HOST: '10.0.0.1' },
      has('/var/run/secrets/kubernetes.io/serviceaccount/token'),
    ),
    {
      kind: 'service-account',
      dir: '/var/run/secrets/kubernetes.io/serviceaccount',
      host: '10.0.0.1',
    },
  );
  assert.equal(configSource({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }, has()).kind, 'none');
  assert.equal(
    configSource({ KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBECONFIG: '/k' }, has('/k')).kind,
    'kubeconfig',
  );
});

test('outside a pod: KUBECONFIG, then ~/.kube/config, else none with a message', () => {
  assert.deepEqual(configSource({ KUBECONFIG: '/a:/b' }, has('/b')), { kind: 'kubeconfig', path: '/a:/b' });
  assert.match(
    (configSource({ KUBECONFIG: '/a' }, has()) as { message: string }).message,
    /names no existing file/,
  );
  assert.deepEqual(configSource({ HOME: '/h' }, has('/h/.kube/config')), {
    kind: 'kubeconfig',
    path: '/h/.kube/config',
  });
  assert.match(
    (configSource({ HOME: '/h' }, has()) as { message: string }).message,
    /no Kubernetes configuration found/,
  );
});

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));

test('the operator without any configuration exits 1 at once with one clear line; --help exits 0', () => {
  const home = mkdtempSync(join(tmpdir(), 'op-home-'));
  try {
    const env = { PATH: process.env.PATH ?? '', HOME: home, HTTP_PORT: '0' };
    const r = spawnSync(process.execPath, [MAIN], { env, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /no Kubernetes configuration found/);
    assert.doesNotMatch(r.stdout + r.stderr, /lease update failed/);
    const help = spawnSync(process.execPath, [MAIN, '--help'], { env, encoding: 'utf8', timeout: 20_000 });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /usage: kv-store-operator/);
    const bad = spawnSync(process.execPath, [MAIN, '--bogus'], { env, encoding: 'utf8', timeout: 20_000 });
    assert.equal(bad.status, 2);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
