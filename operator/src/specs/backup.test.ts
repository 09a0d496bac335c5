import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildStatefulSet, nodeArgs } from './statefulset.ts';
import { configHash } from './config.ts';
import { kvcluster } from './fixture.test-helper.ts';
import type { KVClusterSpec } from '../types.ts';
import { memberUrls, RECOVERY_CONTAINER } from './backup.ts';

const flag = (args: string[], name: string) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const backup = {
  destination: { url: 's3://bkt/demo/', endpoint: 'http://minio:9000', credentialsSecret: 's3-creds' },
} as unknown as KVClusterSpec['backup'];
const recovery = {
  recovery: {
    source: {
      url: 's3://bkt/old/',
      endpoint: 'http://minio:9000',
      credentialsSecret: 'src-creds',
      region: 'eu-1',
    },
    targetTime: '2026-12-01T10:00:00Z',
  },
} as KVClusterSpec['bootstrap'];

void test('spec.backup: the node archives with the flags, defaults filled in', () => {
  const args = nodeArgs(kvcluster({ backup }), true);
  assert.equal(flag(args, '-backup-s3-url'), 's3://bkt/demo/');
  assert.equal(flag(args, '-backup-s3-endpoint'), 'http://minio:9000');
  assert.equal(flag(args, '-backup-rpo'), '10s');
  assert.equal(flag(args, '-backup-full-interval'), '1h');
  assert.equal(flag(args, '-backup-keep-full'), '7');
  assert.ok(!nodeArgs(kvcluster(), true).some((a) => a.startsWith('-backup')), 'none without spec.backup');
});

void test('credentials come from the Secret as environment variables, never in args', () => {
  const sts = buildStatefulSet(kvcluster({ backup }), { replicas: 3, bootstrapped: true });
  const c = sts.spec!.template.spec!.containers[0]!;
  const env = new Map(c.env!.map((e) => [e.name, e]));
  for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
    assert.deepEqual(env.get(key)?.valueFrom?.secretKeyRef, { name: 's3-creds', key });
    assert.equal(env.get(key)?.value, undefined);
  }
  assert.ok(!JSON.stringify(c.args).includes('s3-creds'));
});

void test('enabling backup changes the config hash (a quorum-aware roll); no backup keeps the old hash', () => {
  const plain = kvcluster();
  assert.notEqual(configHash(kvcluster({ backup })), configHash(plain));
  // The hash of a cluster without backup must not move with this feature (no roll on upgrade).
  assert.equal(configHash(plain), configHash(kvcluster({ bootstrap: recovery })));
});

void test('recovery: an init container on the pre-bootstrap template only, restoring into an empty data dir', () => {
  const kv = kvcluster({ bootstrap: recovery });
  const before = buildStatefulSet(kv, { replicas: 1, bootstrapped: false }).spec!.template.spec!;
  const init = before.initContainers?.[0];
  assert.equal(init?.name, RECOVERY_CONTAINER);
  assert.equal(init?.image, before.containers[0]!.image);
  const a = init.args!;
  assert.deepEqual(a.slice(0, 2), ['kvctl', 'restore']);
  assert.equal(flag(a, '--from'), 's3://bkt/old/');
  assert.equal(flag(a, '--s3-endpoint'), 'http://minio:9000');
  assert.equal(flag(a, '--to-time'), '2026-12-01T10:00:00Z');
  assert.ok(a.includes('--if-empty'), 'a restarted pod never restores over its data');
  assert.equal(flag(a, '--data-dir'), '/var/lib/kv-store');
  assert.equal(flag(a, '--peers'), '');
  assert.equal(flag(a, '--peer-url'), memberUrls(kv).peerUrl);
  assert.match(
    flag(a, '--peer-url')!,
    /^https:\/\/\$\(POD_NAME\)\.demo-peers\.\$\(POD_NAMESPACE\)\.svc\.cluster\.local:8081$/,
  );
  assert.equal(flag(a, '--cluster-token'), 'uid-1234');
  const env = new Map(init.env!.map((e) => [e.name, e]));
  assert.equal(env.get('AWS_ACCESS_KEY_ID')?.valueFrom?.secretKeyRef?.name, 'src-creds');
  assert.equal(env.get('AWS_REGION')?.value, 'eu-1');
  assert.ok(init.volumeMounts!.some((m) => m.mountPath === '/var/lib/kv-store'));
  assert.deepEqual(init.securityContext, before.containers[0]!.securityContext);

  const after = buildStatefulSet(kv, { replicas: 3, bootstrapped: true }).spec!.template.spec!;
  assert.equal(after.initContainers, undefined, 'joining members never restore');
  assert.equal(
    buildStatefulSet(kvcluster(), { replicas: 1, bootstrapped: false }).spec!.template.spec!.initContainers,
    undefined,
  );
  const plain = memberUrls(kvcluster({ tls: { enabled: false } } as Partial<KVClusterSpec>));
  assert.equal(plain.peerUrl, plain.clientUrl);
  assert.match(plain.peerUrl, /^http:\/\/.*:8080$/);
});
