// What only a real node can show (issue 17, docs/adr/0071): the images as users run them under
// kubelet + containerd + runc — uid 1000 and fsGroup on a local PV, the client Service reached
// through its ClusterIP (kube-proxy), a member container killed behind the API's back (ctr), and a
// node image upgrade between two tags, the second built here. Runs with KVSTORE_KUBELET=containerd
// after `npm run images`; skipped otherwise (the process-kubelet has no images, no ClusterIPs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as dns } from 'node:dns';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { V1Pod } from '@kubernetes/client-node';
import type { RealCluster } from '../cluster/real-cluster.ts';
import { RealNode } from '../cluster/real-node.ts';
import { CLUSTER_DNS_IP } from '../cluster/real-node-dns.ts';
import {
  Env,
  type KvClient,
  NS,
  REAL_KUBELET,
  Writer,
  eventually,
  get,
  kvclusterYaml,
  put,
  seconds,
  settled,
} from './harness.ts';

const run = promisify(execFile);
const skip = REAL_KUBELET
  ? false
  : 'set KVSTORE_KUBELET=containerd (after npm run images) to run on a real kubelet';
const name = (p: V1Pod) => p.metadata?.name ?? '';
const timings: Record<string, string> = {};
const UPGRADE_TAG = 'docker.io/library/kv-store:e2e-upgrade';

void describe('kv-store on a real kubelet (containerd + runc)', { skip }, () => {
  let env: Env;
  let cluster: RealCluster;
  /** root with the cluster's CA bundle: TLS and auth are on by default. */
  let client: KvClient;

  before(async () => {
    const t0 = Date.now();
    env = await Env.start();
    cluster = env.cluster as RealCluster;
    timings['cluster + node + CoreDNS start (s)'] = seconds(Date.now() - t0);
    await env.kubectl(['create', 'namespace', NS]);
    await env.helmInstall();
  });

  after(async () => {
    console.log(`# real-kubelet e2e timings: ${JSON.stringify(timings)}`);
    if (env !== undefined) await env.stop();
  });

  const waitSettled = (voters: number, what: string, timeoutMs = 300_000) =>
    eventually(what, async () => (settled(await env.kv(), voters) ? true : undefined), timeoutMs);

  void test('Available with 3 voters from the real images: uid 1000, data on a local PV owned by the fsGroup', async () => {
    const t0 = Date.now();
    await env.kubectl(['apply', '-f', '-'], kvclusterYaml({ image: 'kv-store:dev' }));
    await waitSettled(3, 'demo Available with 3 voters');
    client = await env.connect('demo');
    timings['apply -> Available, 3 voters (s)'] = seconds(Date.now() - t0);
    const pvs = JSON.parse(await env.kubectl(['get', 'pv', '-o', 'json'])) as {
      items: { spec: { local?: { path: string }; claimRef?: { name: string } } }[];
    };
    const demoPvs = pvs.items.filter((pv) => pv.spec.claimRef?.name.startsWith('data-demo-') === true);
    assert.equal(demoPvs.length, 3);
    for (const pv of demoPvs) {
      assert.ok(pv.spec.local !== undefined, 'a local PV');
      // The kubelet applied fsGroup 1000 (setgid directory), and the member wrote its data there.
      const st = fs.statSync(pv.spec.local.path);
      assert.equal(st.gid, 1000, `${pv.spec.local.path} group`);
      assert.ok(fs.readdirSync(pv.spec.local.path).length > 0, 'the member wrote data');
    }
    for (const pod of await env.readyPods()) {
      const id = RealNode.containerId(pod.status?.containerStatuses?.[0]);
      assert.ok(id !== undefined);
      const pid = (await cluster.node.ctr(['tasks', 'ls']))
        .split('\n')
        .find((l) => l.startsWith(id))
        ?.split(/\s+/)[1];
      assert.ok(pid !== undefined, `task of ${name(pod)}`);
      // tini is PID 1 of the container and node its child, both as uid 1000.
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      assert.match(status, /^Uid:\s+1000\s/m, `${name(pod)} runs as uid 1000`);
      assert.match(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /tini/);
    }
  });

  void test('the client Service answers on its ClusterIP (kube-proxy) and by name inside the cluster (CoreDNS)', async () => {
    const ip = (
      await env.kubectl(['-n', NS, 'get', 'service', 'demo', '-o', 'jsonpath={.spec.clusterIP}'])
    ).trim();
    assert.match(ip, /^10\.96\./);
    // The Service's DNS name (which the members' certificates name) resolves to that ClusterIP
    // through CoreDNS, and kube-proxy routes it from the host to a member.
    const resolver = new dns.Resolver();
    resolver.setServers([CLUSTER_DNS_IP]);
    assert.deepEqual(await resolver.resolve4(`demo.${NS}.svc.cluster.local`), [ip]);
    const base = env.serviceUrl('demo');
    await eventually('PUT through the ClusterIP', async () =>
      (await put(base, 'e2e/cluster-ip', 'via-service', client)) === 200 ? true : undefined,
    );
    for (let i = 0; i < 5; i++)
      assert.deepEqual(await get(base, 'e2e/cluster-ip', client), { status: 200, value: 'via-service' });
    // helm test: a pod resolves demo.<ns>.svc.cluster.local through CoreDNS and writes through it.
    const out = await env.helm(['test', 'kvs', '-n', 'kv-store-system', '--timeout', '5m']);
    assert.match(out, /Succeeded/);
  });

  void test('a member container killed with ctr (not through the API): restarted in place, nothing lost', async () => {
    const leader = (await env.kv())?.status?.leader;
    const victim = (await env.readyPods()).find((p) => name(p) !== leader)!;
    const before = victim.status?.containerStatuses?.[0]?.restartCount ?? 0;
    const id = RealNode.containerId(victim.status?.containerStatuses?.[0])!;
    const writer = new Writer(env, 'ctr-kill', client);
    writer.start();
    try {
      await cluster.node.ctr(['tasks', 'kill', '-s', 'SIGKILL', id]);
      await eventually(`${name(victim)} restarted by the kubelet`, async () => {
        const p = (await env.readyPods()).find((x) => name(x) === name(victim));
        const cs = p?.status?.containerStatuses?.[0];
        return p?.metadata?.uid === victim.metadata?.uid && (cs?.restartCount ?? 0) > before ? cs : undefined;
      });
      await waitSettled(3, 'settled after the kill');
    } finally {
      await writer.stop();
    }
    const pod = (await env.pods()).find((p) => name(p) === name(victim))!;
    assert.equal(pod.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode, 137);
    assert.deepEqual(await writer.lost(), []);
  });

  void test('node image upgrade to a tag built in the test: rolled, every member on the new image, writes kept', async () => {
    // A second image: the same node with one more label, so its ID differs.
    const dir = fs.mkdtempSync(path.join(cluster.stateDir, 'upgrade-'));
    fs.writeFileSync(
      path.join(dir, 'Dockerfile'),
      'FROM localhost/kv-store:dev\nLABEL io.kv-store.test=upgrade\n',
    );
    await run('buildah', ['bud', '--quiet', '--pull=never', '-t', 'localhost/kv-store:e2e-upgrade', dir]);
    await cluster.node.importImages(new Map([['localhost/kv-store:e2e-upgrade', [UPGRADE_TAG]]]));
    const oldIds = new Set((await env.readyPods()).map((p) => p.status?.containerStatuses?.[0]?.imageID));
    const writer = new Writer(env, 'upgrade', client);
    writer.start();
    const t0 = Date.now();
    try {
      await env.kubectl([
        '-n',
        NS,
        'patch',
        'kvcluster',
        'demo',
        '--type=merge',
        '-p',
        '{"spec":{"image":"kv-store:e2e-upgrade"}}',
      ]);
      await eventually(
        'every member runs the new image',
        async () => {
          const pods = await env.readyPods();
          const done =
            pods.length === 3 &&
            pods.every((p) => {
              const cs = p.status?.containerStatuses?.[0];
              return cs?.image === UPGRADE_TAG && !oldIds.has(cs.imageID);
            });
          return done && settled(await env.kv(), 3) ? true : undefined;
        },
        400_000,
      );
    } finally {
      await writer.stop();
    }
    timings['image upgrade roll of 3 members (s)'] = seconds(Date.now() - t0);
    assert.ok(writer.acknowledged.size > 5, `writes continued (${writer.acknowledged.size})`);
    assert.deepEqual(await writer.lost(), []);
  });
});
