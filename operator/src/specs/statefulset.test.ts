import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildStatefulSet, nodeArgs } from './statefulset.ts';
import { configHash } from './config.ts';
import { kvcluster } from './fixture.test-helper.ts';
import { withDefaults } from '../types.ts';

const flag = (args: string[], name: string) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};

void test('member 0 bootstraps alone before the cluster exists; afterwards every pod joins', () => {
  const before = nodeArgs(kvcluster(), false);
  assert.ok(!before.includes('-join'));
  assert.ok(!before.includes('-peers'));
  const after = nodeArgs(kvcluster(), true);
  assert.ok(after.includes('-join'));
  assert.ok(!after.includes('-peers'));
});

void test('pod identity comes from the downward API', () => {
  const sts = buildStatefulSet(kvcluster(), { replicas: 1, bootstrapped: false });
  const c = sts.spec!.template.spec!.containers[0]!;
  assert.equal(flag(c.args!, '-id'), '$(POD_NAME)');
  assert.equal(
    flag(c.args!, '-advertise-addr'),
    '$(POD_NAME).demo-peers.$(POD_NAMESPACE).svc.cluster.local:8080',
  );
  assert.equal(flag(c.args!, '-data-dir'), '/var/lib/kv-store');
  const env = Object.fromEntries(c.env!.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
  assert.deepEqual(env, {
    POD_NAME: 'metadata.name',
    POD_NAMESPACE: 'metadata.namespace',
    POD_IP: 'status.podIP',
  });
  assert.equal(c.envFrom?.[0]?.configMapRef?.name, 'demo-config');
  assert.equal(c.volumeMounts?.find((m) => m.name === 'data')?.mountPath, '/var/lib/kv-store');
});

void test('probes: liveness on /livez, readiness on /readyz', () => {
  const c = buildStatefulSet(kvcluster(), { replicas: 3, bootstrapped: true }).spec!.template.spec!
    .containers[0]!;
  assert.equal(c.livenessProbe?.httpGet?.path, '/livez');
  assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
  assert.equal(c.startupProbe?.httpGet?.path, '/livez');
});

void test('restricted pod security', () => {
  const pod = buildStatefulSet(kvcluster(), { replicas: 3, bootstrapped: true }).spec!.template.spec!;
  const sc = pod.containers[0]!.securityContext!;
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  assert.equal(sc.runAsNonRoot, true);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities?.drop, ['ALL']);
  assert.equal(sc.seccompProfile?.type, 'RuntimeDefault');
  assert.equal(pod.automountServiceAccountToken, false);
  assert.equal(pod.serviceAccountName, 'demo-node');
});

void test('operator-driven StatefulSet: replicas from the planner, OnDelete, Parallel, PVC template', () => {
  const kv = kvcluster({
    replicas: 5,
    storage: {
      size: '2Gi',
      storageClassName: 'fast',
      onMemberRemoval: 'Delete',
      onClusterDeletion: 'Delete',
    },
  });
  const sts = buildStatefulSet(kv, { replicas: 2, bootstrapped: true });
  assert.equal(sts.spec?.replicas, 2);
  assert.equal(sts.spec?.updateStrategy?.type, 'OnDelete');
  assert.equal(sts.spec?.podManagementPolicy, 'Parallel');
  assert.equal(sts.spec?.serviceName, 'demo-peers');
  assert.deepEqual(sts.spec?.persistentVolumeClaimRetentionPolicy, {
    whenScaled: 'Retain',
    whenDeleted: 'Delete',
  });
  const pvc = sts.spec?.volumeClaimTemplates?.[0];
  assert.equal(pvc?.metadata?.name, 'data');
  assert.equal(pvc?.spec?.resources?.requests?.storage, '2Gi');
  assert.equal(pvc?.spec?.storageClassName, 'fast');
  assert.equal(sts.spec?.template.metadata?.annotations?.['kvstore.io/config-hash'], configHash(kv));
});

void test('default anti-affinity spreads members; explicit affinity replaces it', () => {
  const preferred = buildStatefulSet(kvcluster(), { replicas: 3, bootstrapped: true }).spec!.template.spec!
    .affinity;
  const term = preferred?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0];
  assert.equal(term?.podAffinityTerm.topologyKey, 'kubernetes.io/hostname');
  assert.equal(term?.podAffinityTerm.labelSelector?.matchLabels?.['app.kubernetes.io/instance'], 'demo');

  const sched = withDefaults({}).scheduling;
  const required = buildStatefulSet(kvcluster({ scheduling: { ...sched, podAntiAffinity: 'Required' } }), {
    replicas: 3,
    bootstrapped: true,
  });
  assert.equal(
    required.spec!.template.spec!.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution
      ?.length,
    1,
  );

  const disabled = buildStatefulSet(kvcluster({ scheduling: { ...sched, podAntiAffinity: 'Disabled' } }), {
    replicas: 3,
    bootstrapped: true,
  });
  assert.equal(disabled.spec!.template.spec!.affinity, undefined);

  const custom = {
    nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } },
  };
  const explicit = buildStatefulSet(
    kvcluster({
      scheduling: { ...sched, affinity: custom, tolerations: [{ key: 'k', operator: 'Exists' }] },
    }),
    { replicas: 3, bootstrapped: true },
  );
  assert.deepEqual(explicit.spec!.template.spec!.affinity, custom);
  assert.equal(explicit.spec!.template.spec!.tolerations?.[0]?.key, 'k');
});

void test('resources are passed through as quantities', () => {
  const sts = buildStatefulSet(kvcluster({ resources: { requests: { cpu: '100m', memory: 1024 } } }), {
    replicas: 1,
    bootstrapped: false,
  });
  assert.deepEqual(sts.spec!.template.spec!.containers[0]!.resources, {
    requests: { cpu: '100m', memory: '1024' },
  });
});

void test('TLS flags and mounts only with spec.tls.enabled; a plain cluster keeps the one-port layout', () => {
  const tls = buildStatefulSet(kvcluster(), { replicas: 3, bootstrapped: true });
  const c = tls.spec!.template.spec!.containers[0]!;
  const arg = (flag: string) => c.args![c.args!.indexOf(flag) + 1];
  assert.equal(arg('-peer-addr'), ':8081', 'wildcard: the peer URL keeps the advertised pod DNS name');
  assert.equal(arg('-cert-file'), '/etc/kv-store/tls/$(POD_NAME).crt');
  assert.equal(arg('-peer-key-file'), '/etc/kv-store/tls/$(POD_NAME).key');
  assert.equal(arg('-peer-trusted-ca-file'), '/etc/kv-store/tls/ca.crt');
  assert.ok(!c.args!.includes('-client-cert-auth'), 'kubelet probes cannot present a client certificate');
  assert.equal(arg('-trusted-ca-file'), '/etc/kv-store/tls/ca.crt', "the operator's certificate is verified");
  assert.deepEqual(
    c.ports?.map((p) => [p.name, p.containerPort]),
    [
      ['http', 8080],
      ['peer', 8081],
    ],
  );
  assert.equal(c.livenessProbe?.httpGet?.scheme, 'HTTPS');
  assert.deepEqual(
    c.volumeMounts?.find((m) => m.name === 'tls'),
    {
      name: 'tls',
      mountPath: '/etc/kv-store/tls',
      readOnly: true,
    },
  );
  const plain = buildStatefulSet(kvcluster({ tls: { ...withDefaults({}).tls, enabled: false } }), {
    replicas: 3,
    bootstrapped: true,
  });
  const p = plain.spec!.template.spec!.containers[0]!;
  assert.ok(!p.args!.includes('-peer-addr') && !p.args!.includes('-cert-file'));
  assert.equal(p.readinessProbe?.httpGet?.scheme, 'HTTP');
  assert.equal(
    plain.spec!.template.spec!.volumes!.find((v) => v.name === 'tls'),
    undefined,
  );
});
