// The control plane + process-kubelet end to end (issue 6). Slow: the first run on a machine
// builds the Kubernetes binaries. Run with `npm run test:cluster`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dns from 'node:dns/promises';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, DiscoveryV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { startCluster, type Cluster } from './cluster.ts';

const WAIT_MS = 120_000;

async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

async function httpText(url: string, init?: RequestInit): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

/** Every pid whose command line or environment mentions the state dir: what the cluster started. */
function processesUsing(stateDir: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (cmdline.includes(stateDir) || environ.includes(stateDir)) found.push(pid);
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return found;
}

const CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.kv-store.dev
spec:
  group: test.kv-store.dev
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [replicas]
              properties:
                replicas: { type: integer, minimum: 1, maximum: 7 }
`;

const WEB = `
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  clusterIP: None
  selector: { app: web }
  ports: [{ name: http, port: 8080 }]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: web }
spec:
  serviceName: web
  replicas: 3
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      terminationGracePeriodSeconds: 10
      containers:
        - name: web
          image: kv-store-test/http-server:dev
          ports: [{ name: http, containerPort: 8080 }]
          env:
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
            - { name: POD_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }
            - { name: PORT, value: "8080" }
            - { name: DATA_DIR, value: /data }
          readinessProbe:
            httpGet: { path: /healthz, port: http }
            periodSeconds: 1
          livenessProbe:
            exec: { command: [/bin/sh, -c, 'test ! -e "$KVSTORE_MOUNT_DATA/unhealthy"'] }
            periodSeconds: 1
            failureThreshold: 2
          volumeMounts: [{ name: data, mountPath: /data }]
  volumeClaimTemplates:
    - metadata: { name: data }
      spec:
        accessModes: [ReadWriteOnce]
        resources: { requests: { storage: 10Mi } }
`;

void describe('control plane and process-kubelet', { timeout: 60 * 60_000 }, () => {
  let cluster: Cluster;
  let core: CoreV1Api;
  let discovery: DiscoveryV1Api;

  const webPods = async (): Promise<V1Pod[]> =>
    (await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=web' })).items;
  const readyWebPods = async (n: number): Promise<V1Pod[] | undefined> => {
    const pods = (await webPods()).filter((p) => p.metadata?.deletionTimestamp === undefined);
    const ready = pods.filter(
      (p) =>
        p.status?.phase === 'Running' &&
        p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    return ready.length === n && pods.length === n ? ready : undefined;
  };

  before(async () => {
    const t0 = performance.now();
    cluster = await startCluster({ restartBackoffMs: { base: 500, max: 5000 } });
    console.log(`# cluster started in ${Math.round(performance.now() - t0)} ms (state ${cluster.stateDir})`);
    const kc = new KubeConfig();
    kc.loadFromString(cluster.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    discovery = kc.makeApiClient(DiscoveryV1Api);
  });

  after(async () => {
    await cluster.stop();
  });

  void test('kubectl reaches the API server with the generated admin kubeconfig; RBAC is on', async () => {
    const version = JSON.parse(await cluster.kubectl(['version', '-o', 'json'])) as {
      serverVersion?: { gitVersion?: string };
    };
    assert.match(version.serverVersion?.gitVersion ?? '', /^v1\.\d+\.\d+/);
    assert.equal((await cluster.kubectl(['auth', 'can-i', 'create', 'pods'])).trim(), 'yes');
    // kubectl exits 1 for "no": an unprivileged service account is denied by RBAC.
    await assert.rejects(
      cluster.kubectl(['auth', 'can-i', 'create', 'pods', '--as=system:serviceaccount:default:default']),
      /exited 1: no/,
    );
  });

  void test('a CRD is applied and a custom resource violating its schema is rejected', async () => {
    await cluster.kubectl(['apply', '-f', '-'], CRD);
    await eventually('CRD established', async () => {
      const out = await cluster.kubectl([
        'get',
        'crd',
        'widgets.test.kv-store.dev',
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Established")].status}',
      ]);
      return out === 'True' ? true : undefined;
    });
    await cluster.kubectl(
      ['apply', '-f', '-'],
      'apiVersion: test.kv-store.dev/v1\nkind: Widget\nmetadata: { name: good }\nspec: { replicas: 3 }\n',
    );
    await assert.rejects(
      cluster.kubectl(
        ['apply', '-f', '-'],
        'apiVersion: test.kv-store.dev/v1\nkind: Widget\nmetadata: { name: bad }\nspec: { replicas: 99 }\n',
      ),
      /spec\.replicas.*(less than or equal to 7|Invalid value)/s,
    );
    await assert.rejects(
      cluster.kubectl(
        ['apply', '-f', '-'],
        'apiVersion: test.kv-store.dev/v1\nkind: Widget\nmetadata: { name: worse }\nspec: { replicas: "three" }\n',
      ),
      /spec\.replicas/,
    );
    assert.equal(
      (await cluster.kubectl(['get', 'widgets', '-o', 'name'])).trim(),
      'widget.test.kv-store.dev/good',
    );
  });

  void test('a StatefulSet of 3 gets Running pods with distinct IPs, bound PVCs and ready EndpointSlices', async () => {
    await cluster.kubectl(['apply', '-f', '-'], WEB);
    const pods = await eventually('3 ready web pods', () => readyWebPods(3));
    const ips = pods.map((p) => p.status?.podIP ?? '');
    assert.equal(new Set(ips).size, 3, `distinct pod IPs: ${ips.join(',')}`);
    for (const pod of pods) {
      const res = await httpText(`http://${pod.status?.podIP ?? ''}:8080/hello`);
      assert.equal(res.text, `hello from ${pod.metadata?.name ?? ''}`);
    }
    const pvcs = (await core.listNamespacedPersistentVolumeClaim({ namespace: 'default' })).items.filter(
      (c) => c.metadata?.name?.startsWith('data-web-') === true,
    );
    assert.deepEqual(pvcs.map((c) => c.metadata?.name).sort(), ['data-web-0', 'data-web-1', 'data-web-2']);
    assert.ok(
      pvcs.every((c) => c.status?.phase === 'Bound'),
      'all PVCs Bound',
    );
    const readyAddresses = await eventually('EndpointSlice with 3 ready endpoints', async () => {
      const slices = (
        await discovery.listNamespacedEndpointSlice({
          namespace: 'default',
          labelSelector: 'kubernetes.io/service-name=web',
        })
      ).items;
      const ready = slices.flatMap((s) =>
        (s.endpoints ?? []).filter((e) => e.conditions?.ready === true).flatMap((e) => e.addresses),
      );
      return ready.length === 3 ? ready.sort() : undefined;
    });
    assert.deepEqual(readyAddresses, [...ips].sort());
  });

  void test('a pod reaches another by its headless-service DNS name', async () => {
    const [web0] = (await webPods()).filter((p) => p.metadata?.name === 'web-0');
    const via = `http://${web0?.status?.podIP ?? ''}:8080`;
    const target = 'http://web-1.web.default.svc.cluster.local:8080/hello';
    // DNS follows EndpointSlices, so like CoreDNS it may lag readiness by a moment.
    const res = await eventually('web-0 fetching web-1 by name', async () => {
      const r = await httpText(`${via}/fetch?url=${encodeURIComponent(target)}`);
      return r.status === 200 ? r : undefined;
    });
    assert.equal(res.text, 'hello from web-1');
    const addresses = await eventually('service name resolving to 3 pods', async () => {
      const r = await httpText(`${via}/resolve?name=web.default.svc.cluster.local`);
      const list = r.status === 200 ? (JSON.parse(r.text) as string[]) : [];
      return list.length === 3 ? list : undefined;
    });
    assert.ok(
      addresses.every((a) => a.startsWith('127.0.')),
      `resolved to pod loopback addresses: ${addresses.join(',')}`,
    );
    const unknown = await httpText(`${via}/resolve?name=nope.default.svc.cluster.local`);
    assert.equal(unknown.status, 500);
    assert.match(unknown.text, /ENOTFOUND/);
  });

  void test('a pod killed by a signal is restarted in place and keeps its PVC data', async () => {
    const before = (await webPods()).find((p) => p.metadata?.name === 'web-1');
    const ip = before?.status?.podIP ?? '';
    assert.equal(
      (await httpText(`http://${ip}:8080/data/greeting`, { method: 'PUT', body: 'persisted' })).status,
      204,
    );
    const pid = cluster.kubelet.runner('default', 'web-1')?.containerPid('web');
    assert.ok(pid !== undefined);
    process.kill(pid, 'SIGKILL');
    const restarted = await eventually('web-1 restarted and ready', async () => {
      const pod = (await webPods()).find((p) => p.metadata?.name === 'web-1');
      const status = pod?.status?.containerStatuses?.[0];
      return status !== undefined && status.restartCount >= 1 && status.ready ? pod : undefined;
    });
    assert.equal(restarted.metadata?.uid, before?.metadata?.uid, 'same pod, container restarted');
    assert.equal(restarted.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode, 137);
    assert.equal((await httpText(`http://${ip}:8080/data/greeting`)).text, 'persisted');
    assert.match(cluster.logs('default', 'web-1', { previous: true }), /web-1 listening/);
    // The same through the apiserver and the kubelet API.
    assert.match(await cluster.kubectl(['logs', 'web-1', '--previous']), /web-1 listening/);
    assert.match(
      await cluster.kubectl(['logs', 'web-1', '--tail=1']),
      /^web-1 listening on 10\.127\.\d+\.\d+:8080\n?$/,
    );
  });

  void test('readiness probes drive the Ready condition, EndpointSlices and DNS', async () => {
    const web0 = (await webPods()).find((p) => p.metadata?.name === 'web-0');
    const ip = web0?.status?.podIP ?? '';
    const endpointReady = async (): Promise<boolean | undefined> => {
      const slices = (
        await discovery.listNamespacedEndpointSlice({
          namespace: 'default',
          labelSelector: 'kubernetes.io/service-name=web',
        })
      ).items;
      return slices.flatMap((s) => s.endpoints ?? []).find((e) => e.addresses.includes(ip))?.conditions
        ?.ready;
    };
    await httpText(`http://${ip}:8080/admin/ready?value=false`);
    await eventually('web-0 endpoint not ready', async () =>
      (await endpointReady()) === false ? true : undefined,
    );
    const pod = (await webPods()).find((p) => p.metadata?.name === 'web-0');
    assert.equal(pod?.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'False');
    // (Looked up directly: fetch would reuse a kept-alive connection and never ask DNS again.)
    await eventually('web-0 name dropped from DNS', () =>
      dns.lookup('web-0.web.default.svc.cluster.local').then(
        () => undefined,
        (e: unknown) => (/ENOTFOUND/.test(String(e)) ? true : undefined),
      ),
    );
    await httpText(`http://${ip}:8080/admin/ready?value=true`);
    await eventually('web-0 endpoint ready again', async () =>
      (await endpointReady()) === true ? true : undefined,
    );
    await eventually('web-0 resolvable again', async () => {
      const r = await httpText('http://web-0.web.default.svc.cluster.local:8080/hello');
      return r.text === 'hello from web-0' ? true : undefined;
    });
  });

  void test('a failing liveness probe (exec, using KVSTORE_MOUNT_DATA) restarts the container', async () => {
    const web0 = (await webPods()).find((p) => p.metadata?.name === 'web-0');
    const restartsBefore = web0?.status?.containerStatuses?.[0]?.restartCount ?? 0;
    await httpText(`http://${web0?.status?.podIP ?? ''}:8080/data/unhealthy`, { method: 'PUT', body: 'x' });
    const after = await eventually('web-0 restarted by liveness and ready', async () => {
      const status = (await webPods()).find((p) => p.metadata?.name === 'web-0')?.status
        ?.containerStatuses?.[0];
      return status !== undefined && status.restartCount > restartsBefore && status.ready
        ? status
        : undefined;
    });
    // Graceful: the kubelet sent SIGTERM and the server exited 0 on it.
    assert.equal(after.lastState?.terminated?.exitCode, 0);
    assert.match(cluster.logs('default', 'web-0', { previous: true }), /got SIGTERM/);
  });

  void test('a one-shot pod: env fieldRefs, $(VAR) and mountPath rewriting, restartPolicy Never, exit code', async () => {
    await cluster.kubectl(
      ['apply', '-f', '-'],
      `
apiVersion: v1
kind: Pod
metadata: { name: oneshot, labels: { role: oneshot } }
spec:
  restartPolicy: Never
  containers:
    - name: sh
      image: kv-store-test/shell:dev
      args: [-c, 'echo "name=$(POD_NAME) ns=$POD_NAMESPACE mount=$KVSTORE_MOUNT_SCRATCH"; echo hi > /scratch/f; cat /scratch/f; echo "whoami=$(${cluster.tools.kubectl} auth whoami -o jsonpath={.status.userInfo.username})"; exit 3']
      env:
        - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
        - { name: POD_NAMESPACE, valueFrom: { fieldRef: { fieldPath: metadata.namespace } } }
      volumeMounts: [{ name: scratch, mountPath: /scratch }]
  volumes: [{ name: scratch, emptyDir: {} }]
`,
    );
    const pod = await eventually('oneshot Failed', async () => {
      const p = await core.readNamespacedPod({ name: 'oneshot', namespace: 'default' });
      return p.status?.phase === 'Failed' ? p : undefined;
    });
    const status = pod.status?.containerStatuses?.[0];
    assert.equal(status?.state?.terminated?.exitCode, 3);
    assert.equal(status?.restartCount, 0);
    const log = cluster.logs('default', 'oneshot');
    const mount = /mount=(\S+)/.exec(log)?.[1] ?? '';
    assert.match(log, /^name=oneshot ns=default mount=\//m);
    assert.equal(fs.readFileSync(path.join(mount, 'f'), 'utf8'), 'hi\n');
    assert.match(log, /^hi$/m);
    // The pod talks to the API as its ServiceAccount (KUBECONFIG from its projected token).
    assert.match(log, /^whoami=system:serviceaccount:default:default$/m);
    await cluster.kubectl(['delete', 'pod', 'oneshot', '--wait=true']);
  });

  void test('scaling the StatefulSet down terminates the highest ordinal gracefully', async () => {
    const web2 = cluster.kubelet.runner('default', 'web-2');
    const pid = web2?.containerPid('web');
    assert.ok(pid !== undefined);
    await cluster.kubectl(['scale', 'statefulset/web', '--replicas=2']);
    await eventually('web-2 gone', async () =>
      (await webPods()).some((p) => p.metadata?.name === 'web-2') ? undefined : true,
    );
    assert.deepEqual((await webPods()).map((p) => p.metadata?.name).sort(), ['web-0', 'web-1']);
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
    assert.match(cluster.logs('default', 'web-2'), /got SIGTERM/);
    const pvc = await core.readNamespacedPersistentVolumeClaim({ name: 'data-web-2', namespace: 'default' });
    const pv = await core.readPersistentVolume({ name: pvc.spec?.volumeName ?? '' });
    const lifecycle = fs.readFileSync(path.join(pv.spec?.hostPath?.path ?? '', 'lifecycle.log'), 'utf8');
    assert.match(lifecycle, /web-2 terminated gracefully by SIGTERM/);
  });

  void test('deleting a PVC deletes its volume directory', async () => {
    const pvc = await core.readNamespacedPersistentVolumeClaim({ name: 'data-web-2', namespace: 'default' });
    const pv = await core.readPersistentVolume({ name: pvc.spec?.volumeName ?? '' });
    const dir = pv.spec?.hostPath?.path ?? '';
    assert.ok(fs.existsSync(dir));
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'data-web-2', namespace: 'default' });
    await eventually('volume dir removed', () => Promise.resolve(fs.existsSync(dir) ? undefined : true));
  });

  void test('helm lint and helm template work on a chart', async () => {
    const chart = path.join(import.meta.dirname, 'fixtures', 'charts', 'tiny-web');
    const lint = await cluster.helm(['lint', chart]);
    assert.match(lint, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    const rendered = await cluster.helm(['template', 'demo', chart, '--set', 'replicas=2']);
    assert.match(rendered, /kind: StatefulSet/);
    assert.match(rendered, /replicas: 2/);
    assert.match(rendered, /name: demo-web/);
    // What helm renders is accepted by this API server.
    await cluster.kubectl(['apply', '--dry-run=server', '-f', '-'], rendered);
  });

  void test('stop() tears everything down with no process left behind', async () => {
    const stateDir = cluster.stateDir;
    const pids = [...cluster.controlPlane.processes.map((p) => p.child.pid ?? 0), ...cluster.kubelet.pids()];
    assert.ok(pids.length >= 5, `control plane + pods: ${pids.join(',')}`);
    assert.ok(processesUsing(stateDir).length >= 5);
    await cluster.stop();
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `pid ${pid} still alive`);
    assert.deepEqual(processesUsing(stateDir), []);
  });
});
