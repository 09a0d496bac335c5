// The process-kubelet's mount-path rewriting (docs/adr/0030, issue 17): a checkout or a state dir
// under /tmp must survive a pod's /tmp emptyDir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerArgv, substituteMounts } from './container-env.ts';

const mounts = [
  { mountPath: '/tmp', localPath: '/tmp/state/pods/p/volumes/tmp' },
  { mountPath: '/var/lib/kv-store', localPath: '/tmp/state/volumes/pvc-1' },
];

void test('a rewritten path is not rewritten again by a shorter mount it lies under', () => {
  assert.equal(
    substituteMounts('--data-dir=/var/lib/kv-store/x', mounts),
    '--data-dir=/tmp/state/volumes/pvc-1/x',
  );
  assert.equal(substituteMounts('/tmp/a.sock', mounts), '/tmp/state/pods/p/volumes/tmp/a.sock');
  assert.equal(
    substituteMounts('--data-dir=/var/lib/kv-store --tmp=/tmp', mounts),
    '--data-dir=/tmp/state/volumes/pvc-1 --tmp=/tmp/state/pods/p/volumes/tmp',
  );
});

void test('path boundaries and the longest mount win', () => {
  const nested = [
    { mountPath: '/data', localPath: '/L/data' },
    { mountPath: '/data/wal', localPath: '/L/wal' },
  ];
  assert.equal(substituteMounts('/data/wal/1 /data/x /database', nested), '/L/wal/1 /L/data/x /database');
});

void test('the image command (host paths) is never rewritten; the container command and args are', () => {
  const image = { command: ['/tmp/checkout/node_modules/.bin/node', '/tmp/checkout/node/bin/kv-store.js'] };
  const expand = (v: string) => substituteMounts(v.replace('$(X)', 'x'), mounts);
  assert.deepEqual(containerArgv(image, { args: ['--data-dir=/var/lib/kv-store/$(X)'] }, expand), [
    '/tmp/checkout/node_modules/.bin/node',
    '/tmp/checkout/node/bin/kv-store.js',
    '--data-dir=/tmp/state/volumes/pvc-1/x',
  ]);
  assert.deepEqual(containerArgv(image, { command: ['/tmp/run'], args: ['/tmp'] }, expand), [
    '/tmp/state/pods/p/volumes/tmp/run',
    '/tmp/state/pods/p/volumes/tmp',
  ]);
  assert.deepEqual(containerArgv({ ...image, args: ['/tmp/keep'] }, {}, expand), [
    ...image.command,
    '/tmp/keep',
  ]);
});
