import { describe, test } from 'node:test';
import { X509Certificate } from 'node:crypto';
import assert from 'node:assert/strict';
import type { KubernetesObject, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type { Kube } from '../kube/kube.ts';
import type { KVCluster, KVClusterStatus } from '../types.ts';
import { withDefaults } from '../types.ts';
import { silentLogger } from '../observability/log.ts';
import { OperatorMetrics } from '../observability/metrics.ts';
import type { NewMember, NodeAdmin, NodeStatus } from './nodeclient.ts';
import { Reconciler } from './reconciler.ts';
import { dataStateOf, leaderStatus, toPlanInput } from './observe.ts';
import { withVolumes } from './status.ts';
import { planNextStep } from './planner.ts';
import { configHash } from '../specs/config.ts';

class FakeKube implements Kube {
  objects = new Map<string, KubernetesObject>();
  statuses: KVClusterStatus[] = [];
  deleted: string[] = [];
  key(
    apiVersion: string | undefined,
    kind: string | undefined,
    ns: string | undefined,
    name: string | undefined,
  ) {
    return `${apiVersion}/${kind}/${ns}/${name}`;
  }
  put(obj: KubernetesObject) {
    this.objects.set(
      this.key(obj.apiVersion, obj.kind, obj.metadata?.namespace, obj.metadata?.name),
      structuredClone(obj),
    );
  }
  apply<T extends KubernetesObject>(obj: T): Promise<T> {
    this.put(obj);
    return Promise.resolve(obj);
  }
  create<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.apply(obj);
  }
  replace<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.apply(obj);
  }
  get<T extends KubernetesObject>(
    apiVersion: string,
    kind: string,
    ns: string,
    name: string,
  ): Promise<T | null> {
    return Promise.resolve((this.objects.get(this.key(apiVersion, kind, ns, name)) as T | undefined) ?? null);
  }
  list<T extends KubernetesObject>(apiVersion: string, kind: string, ns: string): Promise<T[]> {
    return Promise.resolve(
      [...this.objects.values()].filter(
        (o) => o.apiVersion === apiVersion && o.kind === kind && o.metadata?.namespace === ns,
      ) as T[],
    );
  }
  delete(apiVersion: string, kind: string, ns: string, name: string): Promise<boolean> {
    this.deleted.push(`${kind}/${name}`);
    return Promise.resolve(this.objects.delete(this.key(apiVersion, kind, ns, name)));
  }
  mergePatch(): Promise<void> {
    return Promise.resolve();
  }
  applyStatus(kv: KVCluster, status: KVClusterStatus): Promise<void> {
    this.statuses.push(status);
    const stored = this.objects.get(
      this.key(kv.apiVersion, kv.kind, kv.metadata.namespace, kv.metadata.name),
    ) as unknown as KVCluster;
    stored.status = status;
    return Promise.resolve();
  }
}

class FakeNode implements NodeAdmin {
  statusByUrl = new Map<string, NodeStatus>();
  calls: string[] = [];
  status(url: string): Promise<NodeStatus> {
    const s = this.statusByUrl.get(url);
    return s === undefined ? Promise.reject(new Error('unreachable')) : Promise.resolve(s);
  }
  addMember(url: string, m: NewMember): Promise<void> {
    this.calls.push(`add ${m.id} ${m.role} ${m.peerUrl} via ${url}`);
    return Promise.resolve();
  }
  promote(url: string, id: string): Promise<void> {
    this.calls.push(`promote ${id} via ${url}`);
    return Promise.resolve();
  }
  removeMember(url: string, id: string): Promise<void> {
    this.calls.push(`remove ${id} via ${url}`);
    return Promise.resolve();
  }
  transferLeadership(url: string, to: string): Promise<string> {
    this.calls.push(`transfer ${to} via ${url}`);
    return Promise.resolve(to);
  }
  demote(url: string, id: string): Promise<void> {
    this.calls.push(`demote ${id} via ${url}`);
    return Promise.resolve();
  }
}

const kvcluster: KVCluster = {
  apiVersion: 'kvstore.io/v1alpha1',
  kind: 'KVCluster',
  metadata: { name: 'demo', namespace: 'ns1', uid: 'u1', generation: 1 },
  // The membership tests run on a plain cluster; the secure default has its own test below.
  spec: withDefaults({ replicas: 3, tls: { enabled: false }, auth: { enabled: false } }),
};

function runningPod(kv: KVCluster, ordinal: number, ip: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `demo-${ordinal}`,
      namespace: 'ns1',
      annotations: { 'kvstore.io/config-hash': configHash(kv) },
    },
    status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

void describe('Reconciler with fake Kubernetes and nodes', () => {
  void test('creation: owned objects, StatefulSet with member 0 only, then learners through the leader', async () => {
    const kube = new FakeKube();
    const node = new FakeNode();
    kube.put(kvcluster as unknown as KubernetesObject);
    const r = new Reconciler({ kube, node, log: silentLogger, metrics: new OperatorMetrics(false) });

    const first = await r.reconcile('ns1', 'demo');
    assert.deepEqual(first.step, { kind: 'raise-statefulset', replicas: 1 });
    const kinds = [...kube.objects.values()].map((o) => o.kind).sort();
    assert.deepEqual(kinds, [
      'ConfigMap',
      'ConfigMap', // the fence file
      'KVCluster',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Service',
      'Service',
      'ServiceAccount',
      'StatefulSet',
    ]);
    const sts = (await kube.get<V1StatefulSet>('apps/v1', 'StatefulSet', 'ns1', 'demo'))!;
    assert.equal(sts.spec?.replicas, 1);
    assert.ok(!sts.spec.template.spec!.containers[0]!.args!.includes('-join'));
    assert.equal(kube.statuses.at(-1)?.phase, 'Pending');

    // member 0 bootstrapped
    kube.put(runningPod(kvcluster, 0, '127.0.1.1'));
    node.statusByUrl.set('http://127.0.1.1:8080', {
      id: 'demo-0',
      clusterId: 'c1',
      state: 'leader',
      leader: 'demo-0',
      term: 1,
      commitIndex: 5,
      appliedIndex: 5,
      members: [{ id: 'demo-0', peerUrl: 'x', role: 'voter', isLeader: true }],
    });
    const second = await r.reconcile('ns1', 'demo');
    assert.deepEqual(second.step, { kind: 'add-learner', member: 'demo-1', ordinal: 1 });
    assert.deepEqual(node.calls, [
      'add demo-1 learner http://demo-1.demo-peers.ns1.svc.cluster.local:8080 via http://127.0.1.1:8080',
    ]);
    const status = kube.statuses.at(-1)!;
    assert.equal(status.clusterId, 'c1');
    assert.equal(status.leader, 'demo-0');
    assert.equal(status.operation?.kind, 'ScaleUp');
    // From now on every pod, member 0 included, starts with -join.
    const sts2 = (await kube.get<V1StatefulSet>('apps/v1', 'StatefulSet', 'ns1', 'demo'))!;
    assert.ok(sts2.spec!.template.spec!.containers[0]!.args!.includes('-join'));
    assert.equal(sts2.spec?.replicas, 1);
  });

  void test('secure by default: CA, member certificates and bundle Secrets, TLS flags and mounts, https member URLs', async () => {
    const kube = new FakeKube();
    const node = new FakeNode();
    const secure: KVCluster = { ...kvcluster, spec: withDefaults({ replicas: 3 }) };
    kube.put(secure as unknown as KubernetesObject);
    const r = new Reconciler({ kube, node, log: silentLogger, metrics: new OperatorMetrics(false) });
    await r.reconcile('ns1', 'demo');
    const secret = (name: string) =>
      kube.objects.get(`v1/Secret/ns1/${name}`) as { data: Record<string, string> } | undefined;
    const decoded = (name: string) =>
      Object.fromEntries(
        Object.entries(secret(name)!.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
      );
    const ca = new X509Certificate(decoded('demo-ca')['ca.crt']!);
    const tls = decoded('demo-tls');
    assert.deepEqual(Object.keys(tls).sort(), [
      'ca.crt',
      'demo-0.crt',
      'demo-0.key',
      'demo-1.crt',
      'demo-1.key',
      'demo-2.crt',
      'demo-2.key',
    ]);
    assert.equal(decoded('demo-ca-bundle')['ca.crt'], decoded('demo-ca')['ca.crt']);
    assert.equal(decoded('demo-ca-bundle')['ca.key'], undefined, 'clients never get the CA key');
    const member1 = new X509Certificate(tls['demo-1.crt']!);
    assert.ok(member1.verify(ca.publicKey));
    assert.match(member1.subjectAltName ?? '', /DNS:demo-1\.demo-peers\.ns1\.svc\.cluster\.local/);
    assert.match(member1.subjectAltName ?? '', /URI:urn:kvstore:member:demo-1/);
    const sts = (await kube.get<V1StatefulSet>('apps/v1', 'StatefulSet', 'ns1', 'demo'))!;
    const c = sts.spec!.template.spec!.containers[0]!;
    for (const flag of ['-peer-addr', '-cert-file', '-key-file', '-peer-cert-file', '-peer-trusted-ca-file'])
      assert.ok(c.args!.includes(flag), flag);
    assert.equal(c.readinessProbe?.httpGet?.scheme, 'HTTPS');
    assert.deepEqual(
      sts.spec!.template.spec!.volumes!.find((v) => v.name === 'tls')?.secret?.secretName,
      'demo-tls',
    );
    const status = kube.statuses.at(-1)!;
    assert.deepEqual(status.secrets, { caBundle: 'demo-ca-bundle', root: 'demo-root' });
    assert.equal(status.conditions?.find((x) => x.type === 'CertificatesReady')?.status, 'True');
    assert.ok(!JSON.stringify(status).includes('PRIVATE KEY'), 'no key material in status');

    // The leader is reached by its pod DNS name over https; learners get https peer URLs on the peer port.
    kube.put(runningPod(secure, 0, '127.0.1.1'));
    node.statusByUrl.set('https://demo-0.demo-peers.ns1.svc.cluster.local:8080', {
      id: 'demo-0',
      clusterId: 'c1',
      state: 'leader',
      leader: 'demo-0',
      term: 1,
      commitIndex: 5,
      appliedIndex: 5,
      members: [{ id: 'demo-0', peerUrl: 'x', role: 'voter', isLeader: true }],
    });
    await r.reconcile('ns1', 'demo');
    assert.deepEqual(node.calls, [
      'add demo-1 learner https://demo-1.demo-peers.ns1.svc.cluster.local:8081 via https://demo-0.demo-peers.ns1.svc.cluster.local:8080',
    ]);
  });

  void test('paused: observes and writes status, changes nothing', async () => {
    const kube = new FakeKube();
    const node = new FakeNode();
    kube.put({ ...kvcluster, spec: { ...kvcluster.spec, paused: true } } as unknown as KubernetesObject);
    const r = new Reconciler({ kube, node, log: silentLogger, metrics: new OperatorMetrics(false) });
    await r.reconcile('ns1', 'demo');
    assert.equal(await kube.get('apps/v1', 'StatefulSet', 'ns1', 'demo'), null);
    assert.equal(kube.statuses.at(-1)?.phase, 'Paused');
  });

  void test('deleted KVCluster: nothing to do', async () => {
    const kube = new FakeKube();
    const r = new Reconciler({
      kube,
      node: new FakeNode(),
      log: silentLogger,
      metrics: new OperatorMetrics(false),
    });
    const res = await r.reconcile('ns1', 'gone');
    assert.equal(res.requeueAfterMs, 0);
    assert.equal(kube.objects.size, 0);
  });
});

void describe('observe', () => {
  void test('data state from a node status', () => {
    const s = (clusterId: string | null) => ({
      id: 'a',
      clusterId,
      state: 'follower',
      leader: null,
      term: 1,
      commitIndex: 0,
      appliedIndex: 0,
      members: [],
    });
    assert.equal(dataStateOf(null, 'c1'), 'unknown');
    assert.equal(dataStateOf(s(null), 'c1'), 'empty');
    assert.equal(dataStateOf(s(''), 'c1'), 'empty');
    assert.equal(dataStateOf(s('c2'), 'c1'), 'foreign');
    assert.equal(dataStateOf(s('c1'), 'c1'), 'cluster');
    assert.equal(
      dataStateOf({ ...s(''), state: 'removed' }, 'c1'),
      'cluster',
      'a removed member is stale, never "empty"',
    );
    assert.equal(dataStateOf({ ...s('c2'), state: 'removed' }, 'c1'), 'foreign');
  });

  void test('the leader is the one claiming leadership in the highest term', () => {
    const s = (id: string, state: string, term: number): NodeStatus => ({
      id,
      clusterId: 'c',
      state,
      leader: null,
      term,
      commitIndex: 0,
      appliedIndex: 0,
      members: [],
    });
    const obs = {
      kv: kvcluster,
      statefulSet: null,
      pods: [],
      pvcs: [],
      nodeStatuses: new Map<string, NodeStatus | null>([
        ['a', s('a', 'leader', 2)],
        ['b', s('b', 'leader', 3)],
        ['c', s('c', 'follower', 3)],
        ['d', null],
      ]),
    };
    assert.equal(leaderStatus(obs)?.id, 'b');
  });
});

void describe('volume identity', () => {
  const pvc = (ordinal: number, uid: string) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: `data-demo-${ordinal}`, namespace: 'ns1', uid },
  });
  const leader: NodeStatus = {
    id: 'demo-0',
    clusterId: 'c1',
    state: 'leader',
    leader: 'demo-0',
    term: 2,
    commitIndex: 50,
    appliedIndex: 50,
    members: [0, 1, 2].map((o) => ({
      id: `demo-${o}`,
      peerUrl: 'x',
      role: 'voter' as const,
      isLeader: o === 0,
      healthy: true,
      matchIndex: 50,
    })),
  };
  const follower = (id: string): NodeStatus => ({ ...leader, id, state: 'follower', members: [] });
  const pods = [0, 1, 2].map((o) => runningPod(kvcluster, o, `10.0.0.${o + 1}`));
  const statuses = new Map<string, NodeStatus | null>([
    ['demo-0', leader],
    ['demo-1', follower('demo-1')],
    ['demo-2', follower('demo-2')],
  ]);

  void test('a voter found on a different PVC than recorded lost its Raft state and is replaced', () => {
    const recorded = {
      ...kvcluster,
      status: {
        clusterId: 'c1',
        members: [0, 1, 2].map((o) => ({
          name: `demo-${o}`,
          role: 'voter' as const,
          healthy: true,
          ready: true,
          volume: `uid-${o}`,
        })),
      },
    };
    const same = toPlanInput({
      kv: recorded,
      statefulSet: null,
      pods,
      pvcs: [pvc(0, 'uid-0'), pvc(1, 'uid-1'), pvc(2, 'uid-2')],
      nodeStatuses: statuses,
    });
    assert.deepEqual(
      same.pods.map((p) => p.dataState),
      ['cluster', 'cluster', 'cluster'],
    );
    const lost = toPlanInput({
      kv: recorded,
      statefulSet: null,
      pods,
      pvcs: [pvc(0, 'uid-0'), pvc(1, 'uid-1'), pvc(2, 'uid-NEW')],
      nodeStatuses: statuses,
    });
    assert.deepEqual(
      lost.pods.map((p) => p.dataState),
      ['cluster', 'cluster', 'empty'],
    );
    assert.deepEqual(planNextStep({ ...lost, statefulSetReplicas: 3 }), {
      kind: 'replace-member',
      member: 'demo-2',
    });
  });

  void test('status keeps a voter volume and records a new member volume', () => {
    const members = withVolumes(
      [
        { name: 'demo-0', role: 'voter', healthy: true, ready: true },
        { name: 'demo-1', role: 'learner', healthy: true, ready: false },
      ],
      [
        { name: 'demo-0', role: 'voter', healthy: true, ready: true, volume: 'old' },
        { name: 'demo-1', role: 'none', healthy: false, ready: false, volume: 'stale' },
      ],
      new Map([
        [0, 'new'],
        [1, 'fresh'],
      ]),
      'demo',
    );
    assert.deepEqual(
      members.map((m) => m.volume),
      ['old', 'fresh'],
    );
  });
});
