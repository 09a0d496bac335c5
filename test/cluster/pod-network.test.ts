// Fast checks of the process-kubelet's address, DNS and mount conventions (no cluster needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import {
  installClusterNetwork,
  loopbackForIndex,
  parseHosts,
  resolveClusterName,
  toLoopback,
  toPodIp,
  writeHostsFile,
} from './pod-network.ts';
import { expandVars, mountEnvName, substituteMounts } from './container-env.ts';

void test('pod addresses: loopback per index, alias round trip, control-plane block skipped', () => {
  assert.equal(loopbackForIndex(1), '127.0.1.1');
  assert.equal(loopbackForIndex(255), '127.0.1.255');
  assert.equal(loopbackForIndex(256), '127.0.2.0');
  assert.equal(toPodIp('127.0.1.7'), '10.127.1.7');
  assert.equal(toLoopback('10.127.1.7'), '127.0.1.7');
  assert.equal(toLoopback('10.128.1.7'), '10.128.1.7');
  assert.equal(toLoopback('example.com'), 'example.com');
  assert.throws(() => toPodIp('10.0.0.1'));
});

void test('hosts file: several lines per name give several addresses; comments ignored', () => {
  const table = parseHosts('# c\n10.127.1.1 a.svc b\n10.127.1.2\ta.svc # tail\nnot-an-ip x\n');
  assert.deepEqual(table.get('a.svc'), ['10.127.1.1', '10.127.1.2']);
  assert.deepEqual(table.get('b'), ['10.127.1.1']);
  assert.equal(table.get('x'), undefined);
});

void test('$(VAR) expansion follows Kubernetes: $$ escapes, unknown stays', () => {
  assert.equal(
    expandVars('--id=$(POD_NAME) $(NOPE) $$(POD_NAME)', { POD_NAME: 'web-0' }),
    '--id=web-0 $(NOPE) $(POD_NAME)',
  );
});

void test('mount paths are rewritten at path boundaries only, longest first', () => {
  const mounts = [
    { mountPath: '/data', localPath: '/tmp/pv1' },
    { mountPath: '/data/wal', localPath: '/tmp/pv2' },
  ];
  assert.equal(substituteMounts('/data', mounts), '/tmp/pv1');
  assert.equal(substituteMounts('--dir=/data/db', mounts), '--dir=/tmp/pv1/db');
  assert.equal(substituteMounts('--wal=/data/wal/x', mounts), '--wal=/tmp/pv2/x');
  assert.equal(substituteMounts('/database', mounts), '/database');
  assert.equal(mountEnvName('kv-data'), 'KVSTORE_MOUNT_KV_DATA');
});

void test('installed network patch: names from the hosts file and pod IP aliases reach loopback', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kv-hosts-'));
  const hosts = path.join(dir, 'hosts');
  writeHostsFile(hosts, [{ ip: '10.127.0.1', names: ['api.default.svc.cluster.local'] }]);
  installClusterNetwork(hosts);
  try {
    assert.deepEqual(resolveClusterName('api.default.svc.cluster.local'), { addresses: ['127.0.0.1'] });
    assert.deepEqual(resolveClusterName('missing.default.svc.cluster.local'), { notFound: true });
    assert.equal(resolveClusterName('registry.npmjs.org'), undefined);
    const looked = await dns.promises.lookup('api.default.svc.cluster.local');
    assert.equal(looked.address, '127.0.0.1');
    await assert.rejects(dns.promises.lookup('missing.default.svc.cluster.local'), /ENOTFOUND/);
    const server = http.createServer((_req, res) => res.end('pong'));
    await new Promise<void>((resolve) => server.listen(0, '10.127.0.1', resolve)); // alias -> 127.0.0.1
    const { port } = server.address() as { port: number };
    try {
      assert.equal(await (await fetch(`http://api.default.svc.cluster.local:${port}/`)).text(), 'pong');
      assert.equal(await (await fetch(`http://10.127.0.1:${port}/`)).text(), 'pong');
    } finally {
      server.close();
    }
  } finally {
    installClusterNetwork(undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

void test('inside a pod a wildcard listen binds the pod address, as in its own network namespace', () => {
  const preload = path.join(import.meta.dirname, 'net-preload.ts');
  const script = `
    const net = require('node:net');
    const addr = (s) => new Promise((r) => s.listen(...s.args, () => { r(s.address().address); s.close(); }));
    (async () => {
      const out = [];
      for (const args of [[0], [0, '0.0.0.0'], [{ port: 0 }], [{ port: 0, host: '::' }], [0, '10.127.1.78']]) {
        const s = net.createServer(); s.args = args; out.push(await addr(s));
      }
      console.log(out.join(','));
    })();`;
  const res = spawnSync(process.execPath, [`--import=${preload}`, '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, KVSTORE_POD_LOOPBACK_IP: '127.0.1.77' },
  });
  assert.equal(res.stdout.trim(), '127.0.1.77,127.0.1.77,127.0.1.77,127.0.1.77,127.0.1.78', res.stderr);
});
