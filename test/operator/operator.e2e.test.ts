// The operator end to end on a real control plane (issue 7): the chart installed with its own
// RBAC, the example KVCluster applied, and every membership change checked against Raft itself.
// Slow (minutes). Run: npm run test:operator. Needs the node binary (node/bin/kv-store.js).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Pod } from '@kubernetes/client-node';
import { REPO_ROOT } from '../cluster/cluster.ts';
import {
  Env,
  KvClient,
  NS,
  OPERATOR_NS,
  RELEASE,
  Writer,
  condition,
  eventually,
  get,
  kvclusterYaml,
  put,
  seconds,
  settled,
} from './harness.ts';
import {
  checkLeafRenewalUnderWriter,
  checkNothingSecretLeaks,
  checkOperatorCertificateAndDeclaredUsers,
} from './security-checks.ts';

const nodeRuns =
  spawnSync(process.execPath, [path.join(REPO_ROOT, 'node/bin/kv-store.js'), '--help'], { encoding: 'utf8' })
    .status === 0;
const skip = nodeRuns
  ? false
  : 'the node binary (node/bin/kv-store.js --help) does not run on this branch yet';

const name = (p: V1Pod) => p.metadata?.name ?? '';
const sortedNames = (pods: V1Pod[]) => pods.map(name).sort();
const timings: Record<string, string> = {};

void describe('kv-store operator on a real control plane', () => {
  let env: Env;
  /** The demo cluster's client, from the Secrets its status names (set once it is Available). */
  let client: KvClient | undefined;

  before(async () => {
    const t0 = Date.now();
    env = await Env.start();
    timings['control plane start (s)'] = seconds(Date.now() - t0);
  });

  after(async () => {
    console.log(`# operator e2e timings: ${JSON.stringify(timings)}`);
    if (env !== undefined) {
      try {
        console.log(`# operator log tail:\n${(await env.operatorLogs()).split('\n').slice(-40).join('\n')}`);
      } catch {
        // best effort
      }
      await env.stop();
    }
  });

  /** Raft membership as the leader reports it equals the pods; every pod agrees on one leader. */
  async function assertMembershipMatchesPods(voters: number): Promise<void> {
    const pods = await env.readyPods();
    assert.equal(pods.length, voters, `ready pods: ${sortedNames(pods).join(',')}`);
    const secure = pods[0] !== undefined && env.podUrl(pods[0]).startsWith('https://');
    if (secure) client ??= await env.connect('demo');
    const statuses = await Promise.all(pods.map((p) => env.nodeStatus(p, secure ? client : undefined)));
    const leaders = new Set(statuses.map((s) => s.leader));
    assert.equal(leaders.size, 1, `leaders seen: ${[...leaders].join(',')}`);
    const leader = statuses.find((s) => s.state === 'leader');
    assert.ok(leader !== undefined, 'a member is leader');
    assert.deepEqual(leader.members.map((m) => m.id).sort(), sortedNames(pods));
    assert.ok(leader.members.every((m) => m.role === 'voter'));
  }

  async function waitSettled(voters: number, what: string, timeoutMs = 300_000): Promise<number> {
    const t0 = Date.now();
    await eventually(what, async () => (settled(await env.kv(), voters) ? true : undefined), timeoutMs);
    await eventually(
      `${what}: membership equals pods`,
      async () => {
        await assertMembershipMatchesPods(voters);
        return true;
      },
      60_000,
    );
    return Date.now() - t0;
  }

  void test('helm install with the chart RBAC: the operator runs under its own ServiceAccount and takes the Lease', async () => {
    await env.kubectl(['create', 'namespace', NS]);
    await env.helmInstall();
    const lease = await eventually('operator Lease held', async () => {
      const out = (
        await env.kubectl([
          '-n',
          OPERATOR_NS,
          'get',
          'lease',
          `${RELEASE}-kv-store-operator`,
          '-o',
          'jsonpath={.spec.holderIdentity}',
        ])
      ).trim();
      return out === '' ? undefined : out;
    });
    const pods = await env.pods('app.kubernetes.io/name=kv-store-operator', OPERATOR_NS);
    assert.ok(
      pods.some((p) => name(p) === lease),
      `lease holder ${lease} is an operator pod`,
    );
    assert.equal(pods[0]?.spec?.serviceAccountName, `${RELEASE}-kv-store-operator`);
    // least privilege, checked for real
    const sa = `system:serviceaccount:${OPERATOR_NS}:${RELEASE}-kv-store-operator`;
    assert.equal(
      (await env.kubectl(['auth', 'can-i', 'delete', 'pods', '-n', NS, `--as=${sa}`])).trim(),
      'yes',
    );
    await assert.rejects(env.kubectl(['auth', 'can-i', 'create', 'pods', '-n', NS, `--as=${sa}`]), /no/);
    // Secrets it writes and reads by name (CA, certificates, root's credentials); it never lists them.
    assert.equal(
      (await env.kubectl(['auth', 'can-i', 'get', 'secrets', '-n', NS, `--as=${sa}`])).trim(),
      'yes',
    );
    await assert.rejects(env.kubectl(['auth', 'can-i', 'list', 'secrets', '-n', NS, `--as=${sa}`]), /no/);
    assert.equal(
      (await env.kubectl(['auth', 'can-i', 'patch', 'networkpolicies', '-n', NS, `--as=${sa}`])).trim(),
      'yes',
    );
    // StatefulSets are deleted only with the Orphan policy, to replace one when storage.size grows.
    assert.equal(
      (await env.kubectl(['auth', 'can-i', 'delete', 'statefulsets', '-n', NS, `--as=${sa}`])).trim(),
      'yes',
    );
    await assert.rejects(env.kubectl(['auth', 'can-i', 'delete', 'services', '-n', NS, `--as=${sa}`]), /no/);
  });

  void test('the CRD validates: replicas range, defaults, immutable storage class', async () => {
    const bad = (spec: string) =>
      `apiVersion: kvstore.io/v1alpha1\nkind: KVCluster\nmetadata: { name: bad, namespace: ${NS} }\nspec: ${spec}\n`;
    await assert.rejects(env.kubectl(['apply', '-f', '-'], bad('{ replicas: 10 }')), /replicas/);
    await assert.rejects(env.kubectl(['apply', '-f', '-'], bad('{ replicas: 0 }')), /replicas/);
    await assert.rejects(env.kubectl(['apply', '-f', '-'], bad('{ service: { type: Weird } }')), /type/);
    await env.kubectl(
      ['apply', '-f', '-'],
      bad('{ replicas: 1, paused: true, storage: { storageClassName: a } }'),
    );
    const defaulted = JSON.parse(await env.kubectl(['-n', NS, 'get', 'kvcluster', 'bad', '-o', 'json'])) as {
      spec: Record<string, unknown> & { storage: Record<string, unknown> };
    };
    assert.equal(defaulted.spec.image, 'kv-store:0.1.0');
    assert.equal(defaulted.spec.storage.size, '1Gi');
    assert.equal(defaulted.spec.storage.onMemberRemoval, 'Delete');
    await assert.rejects(
      env.kubectl(
        ['apply', '-f', '-'],
        bad('{ replicas: 1, paused: true, storage: { storageClassName: b } }'),
      ),
      /storageClassName is immutable/,
    );
    // storage.size may change (growth is the operator's, shrinking it refuses: day2ops e2e).
    // Secure by default, and the security fields validate: root is the operator's, durations are
    // Go-style, TLS cannot be switched in place.
    assert.equal(
      (
        await env.kubectl([
          '-n',
          NS,
          'get',
          'kvcluster',
          'bad',
          '-o',
          'jsonpath={.spec.tls.enabled}/{.spec.auth.enabled}/{.spec.network.policy}',
        ])
      ).trim(),
      'true/true/true',
    );
    await assert.rejects(
      env.kubectl(
        ['apply', '-f', '-'],
        bad(
          '{ replicas: 1, paused: true, storage: { storageClassName: a }, auth: { users: [{ name: root, passwordSecretRef: { name: s, key: k } }] } }',
        ),
      ),
      /root is managed by the operator/,
    );
    await assert.rejects(
      env.kubectl(
        ['apply', '-f', '-'],
        bad(
          '{ replicas: 1, paused: true, storage: { storageClassName: a }, tls: { certificateDuration: 90d } }',
        ),
      ),
      /certificateDuration/,
    );
    await assert.rejects(
      env.kubectl(
        ['apply', '-f', '-'],
        bad('{ replicas: 1, paused: true, storage: { storageClassName: a }, tls: { enabled: false } }'),
      ),
      /tls.enabled is immutable/,
    );
    const production = readFileSync(
      path.join(REPO_ROOT, 'manifests/examples/kvcluster-5-production.yaml'),
      'utf8',
    );
    await env.kubectl(['-n', NS, 'apply', '--dry-run=server', '-f', '-'], production);
    await env.kubectl(['-n', NS, 'delete', 'kvcluster', 'bad', '--wait=true']);
  });

  void test('server-side apply of every owned object with the chart RBAC; status through the subresource', async () => {
    await env.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: kvstore.io/v1alpha1\nkind: KVCluster\nmetadata: { name: probe, namespace: ${NS} }\nspec: { replicas: 3, image: kv-store:dev, storage: { size: 64Mi, onClusterDeletion: Delete } }\n`,
    );
    const sts = await eventually('StatefulSet probe with member 0 only', async () => {
      const out = (
        await env.kubectl([
          '-n',
          NS,
          'get',
          'statefulset',
          'probe',
          '-o',
          'json',
          '--show-managed-fields',
          '--ignore-not-found',
        ])
      ).trim();
      return Promise.resolve(
        out === ''
          ? undefined
          : (JSON.parse(out) as {
              spec: { replicas: number; updateStrategy: { type: string } };
              metadata: { managedFields: { manager: string; operation: string }[] };
            }),
      );
    });
    assert.equal(sts.spec.replicas, 1);
    assert.equal(sts.spec.updateStrategy.type, 'OnDelete');
    assert.ok(
      sts.metadata.managedFields.some((f) => f.manager === 'kv-store-operator' && f.operation === 'Apply'),
      'server-side applied',
    );
    for (const kind of [
      'service/probe',
      'service/probe-peers',
      'configmap/probe-config',
      'poddisruptionbudget/probe',
      'serviceaccount/probe-node',
    ]) {
      await env.kubectl(['-n', NS, 'get', kind]);
    }
    const kv = await eventually('status written', async () => {
      const k = await env.kv('probe');
      return k?.status?.phase !== undefined ? k : undefined;
    });
    assert.ok(['Pending', 'Creating', 'Scaling', 'Available'].includes(kv.status!.phase!), kv.status!.phase);
    assert.equal(
      (
        await env.kubectl(['-n', NS, 'get', 'kvcluster', 'probe', '-o', 'jsonpath={.status.selector}'])
      ).trim(),
      'app.kubernetes.io/name=kv-store,app.kubernetes.io/instance=probe',
    );
    await env.kubectl(['-n', NS, 'delete', 'kvcluster', 'probe', '--wait=true', '--timeout=120s']);
    await eventually('probe objects garbage-collected', async () => {
      const left = (
        await env.kubectl([
          '-n',
          NS,
          'get',
          'statefulset,service,configmap,poddisruptionbudget,serviceaccount',
          '-l',
          'app.kubernetes.io/instance=probe',
          '-o',
          'name',
        ])
      ).trim();
      return left === '' ? true : undefined;
    });
  });

  void describe('KVCluster lifecycle (needs the node binary)', { skip }, () => {
    void test('kubectl apply the example: Available with 3 voters, Raft membership equal to the pods', async () => {
      const example = readFileSync(path.join(REPO_ROOT, 'manifests/examples/kvcluster-3.yaml'), 'utf8');
      const t0 = Date.now();
      await env.kubectl(['-n', NS, 'apply', '-f', '-'], example);
      await waitSettled(3, 'demo Available with 3 voters');
      timings['apply -> Available, 3 voters (s)'] = seconds(Date.now() - t0);
      const printed = await env.kubectl(['-n', NS, 'get', 'kvcluster', 'demo']);
      assert.match(printed, /REPLICAS\s+READY\s+LEADER\s+PHASE\s+TLS\s+AGE/);
      assert.match(printed, /demo\s+3\s+3\s+demo-\d\s+Available\s+true/);
      for (const kind of [
        'statefulset/demo',
        'service/demo',
        'service/demo-peers',
        'configmap/demo-config',
        'poddisruptionbudget/demo',
        'serviceaccount/demo-node',
      ]) {
        await env.kubectl(['-n', NS, 'get', kind]);
      }
      assert.equal(
        (await env.kubectl(['-n', NS, 'get', 'pdb', 'demo', '-o', 'jsonpath={.spec.maxUnavailable}'])).trim(),
        '1',
      );
    });

    void test('TLS and auth by default: Secrets named in status and describe, anonymous and plain-text refused, root from its Secret reads and writes through the Service', async () => {
      const kv = await eventually('AuthReady', async () => {
        const k = await env.kv();
        return condition(k, 'AuthReady') === 'True' && condition(k, 'CertificatesReady') === 'True'
          ? k
          : undefined;
      });
      assert.deepEqual(kv.status?.secrets, { caBundle: 'demo-ca-bundle', root: 'demo-root' });
      const described = await env.kubectl(['-n', NS, 'describe', 'kvcluster', 'demo']);
      assert.match(described, /Ca Bundle:\s+demo-ca-bundle/);
      assert.match(described, /Root:\s+demo-root/);
      client = await env.connect('demo');
      const service = env.serviceUrl('demo');
      assert.equal(await put(service, 'e2e/secure', 'yes', client), 200);
      assert.deepEqual(await get(service, 'e2e/secure', client), { status: 200, value: 'yes' });
      // No credentials: 401; the CA is still needed to talk at all.
      const anonymous = new KvClient({ ca: (await env.secret('demo-ca-bundle'))!['ca.crt']! });
      assert.equal((await anonymous.raw('GET', `${service}/v1/kv/e2e/secure`)).status, 401);
      assert.equal((await anonymous.raw('POST', `${service}/v1/cluster/leader`, {})).status, 401);
      // Plain HTTP to the TLS port gets no answer from the API; a client without the CA refuses the member.
      const pod = (await env.readyPods())[0]!;
      // (raw() resolves for any HTTP answer, so a rejection means no HTTP exchange happened)
      await assert.rejects(new KvClient().raw('GET', `http://${pod.status!.podIP!}:8080/v1/kv/e2e/secure`));
      await assert.rejects(new KvClient().raw('GET', `${service}/livez`), /certificate/);
      // Nothing secret in the operator's logs or the cluster's events.
      const password = (await env.secret('demo-root'))!['password']!;
      assert.ok(password.length >= 32);
      const events = await env.kubectl(['-n', NS, 'get', 'events', '-o', 'json']);
      assert.match(events, /AuthEnabled/);
      assert.match(events, /CertificateIssued/);
      assert.ok(!events.includes(password), 'no password in events');
      assert.ok(!(await env.operatorLogs()).includes(password), 'no password in operator logs');
      assert.ok(!JSON.stringify(kv.status).includes(password));
      // The NetworkPolicy: peer port from members only, client port from the namespace (and the operator).
      const np = JSON.parse(
        await env.kubectl(['-n', NS, 'get', 'networkpolicy', 'demo-network', '-o', 'json']),
      ) as {
        spec: {
          podSelector: { matchLabels: Record<string, string> };
          ingress: { from: Record<string, unknown>[]; ports: { port: number }[] }[];
        };
      };
      const members = {
        podSelector: {
          matchLabels: { 'app.kubernetes.io/instance': 'demo', 'app.kubernetes.io/name': 'kv-store' },
        },
      };
      assert.deepEqual(np.spec.podSelector, members.podSelector);
      const peerRule = np.spec.ingress.find((r) => r.ports.some((p) => p.port === 8081))!;
      assert.deepEqual(peerRule.from, [members]);
      const clientRule = np.spec.ingress.find((r) => r.ports.some((p) => p.port === 8080))!;
      assert.deepEqual(clientRule.from[0], members);
      assert.deepEqual(clientRule.from.at(-1), { podSelector: {} });
      assert.ok(
        clientRule.from.some((f) => JSON.stringify(f).includes(OPERATOR_NS)),
        'the operator namespace may reach the client port',
      );
    });

    void test('the operator acts by its client certificate, not root password; spec.auth users work through the Service', async () => {
      await checkOperatorCertificateAndDeclaredUsers(env);
    });

    void test('writes and reads through every pod', async () => {
      const pods = await env.readyPods();
      for (const [i, writer] of pods.entries()) {
        assert.equal(await put(env.podUrl(writer), `e2e/through-${i}`, `from-${name(writer)}`, client), 200);
        for (const reader of pods)
          assert.deepEqual(await get(env.podUrl(reader), `e2e/through-${i}`, client), {
            status: 200,
            value: `from-${name(writer)}`,
          });
      }
    });

    void test('helm test writes and reads a key through the client Service', async () => {
      const out = await env.helm(['test', RELEASE, '-n', OPERATOR_NS, '--timeout', '10m']);
      assert.match(out, /Succeeded/);
    });

    void test('kubectl scale to 5 and back to 3: Raft membership follows, no acknowledged write lost', async () => {
      const writer = new Writer(env, 'scale', client);
      writer.start();
      try {
        let t0 = Date.now();
        await env.kubectl(['-n', NS, 'scale', 'kvcluster/demo', '--replicas=5']);
        await waitSettled(5, 'demo scaled to 5');
        timings['scale 3 -> 5 (s)'] = seconds(Date.now() - t0);
        t0 = Date.now();
        await env.kubectl(['-n', NS, 'scale', 'kvcluster/demo', '--replicas=3']);
        await waitSettled(3, 'demo scaled back to 3');
        timings['scale 5 -> 3 (s)'] = seconds(Date.now() - t0);
      } finally {
        await writer.stop();
      }
      assert.ok(
        writer.acknowledged.size > 10,
        `writes continued during the change (${writer.acknowledged.size} acknowledged, ${writer.failures} retried)`,
      );
      assert.deepEqual(await writer.lost(), []);
      // Removed members' volumes are deleted (onMemberRemoval: Delete).
      const pvcs = (
        await env.kubectl(['-n', NS, 'get', 'pvc', '-l', 'app.kubernetes.io/instance=demo', '-o', 'name'])
      )
        .trim()
        .split('\n')
        .sort();
      assert.deepEqual(pvcs, [
        'persistentvolumeclaim/data-demo-0',
        'persistentvolumeclaim/data-demo-1',
        'persistentvolumeclaim/data-demo-2',
      ]);
    });

    void test('delete a follower pod, then the leader pod: recovered each time', async () => {
      for (const which of ['follower', 'leader'] as const) {
        const leaderName = (await env.kv())?.status?.leader;
        assert.ok(leaderName !== undefined);
        const victim =
          which === 'leader' ? leaderName : (await env.readyPods()).map(name).find((n) => n !== leaderName)!;
        const before = (await env.pods()).find((p) => name(p) === victim)?.metadata?.uid;
        await env.kubectl(['-n', NS, 'delete', 'pod', victim, '--wait=false']);
        await eventually(`${victim} recreated`, async () => {
          const p = (await env.readyPods()).find((x) => name(x) === victim);
          return p !== undefined && p.metadata?.uid !== before ? true : undefined;
        });
        await waitSettled(3, `recovered after deleting the ${which}`);
        assert.equal(
          await put(env.podUrl((await env.readyPods())[0]!), `e2e/after-${which}`, 'ok', client),
          200,
        );
      }
    });

    void test('change the image tag: quorum-aware roll, followers first, the leader last, writes continuing', async () => {
      const writer = new Writer(env, 'roll', client);
      const leaderBefore = (await env.kv())?.status?.leader;
      writer.start();
      const t0 = Date.now();
      let minReady = 3;
      try {
        await env.kubectl([
          '-n',
          NS,
          'patch',
          'kvcluster',
          'demo',
          '--type=merge',
          '-p',
          '{"spec":{"image":"kv-store:dev"}}',
        ]);
        await eventually(
          'every pod runs kv-store:dev',
          async () => {
            const pods = await env.pods();
            minReady = Math.min(minReady, (await env.readyPods()).length);
            const done =
              pods.length === 3 && pods.every((p) => p.spec?.containers[0]?.image === 'kv-store:dev');
            return done && settled(await env.kv(), 3) ? true : undefined;
          },
          400_000,
        );
        await waitSettled(3, 'settled after the roll');
      } finally {
        await writer.stop();
      }
      timings['roll of 3 members (s)'] = seconds(Date.now() - t0);
      assert.ok(minReady >= 2, `never below quorum of ready members (min ${minReady})`);
      assert.ok(writer.acknowledged.size > 5, `writes continued (${writer.acknowledged.size})`);
      assert.deepEqual(await writer.lost(), []);
      const rolls = [...(await env.operatorLogs()).matchAll(/"kind":"roll-pod","member":"([^"]+)"/g)].map(
        (m) => m[1],
      );
      assert.equal(rolls.length >= 3, true, `rolls: ${rolls.join(',')}`);
      if (leaderBefore !== undefined)
        assert.equal(
          rolls.at(-1),
          leaderBefore,
          `the leader (${leaderBefore}) rolls last: ${rolls.join(',')}`,
        );
    });

    void test('leaf certificate renewal on request under a writer through the Service: zero failed requests, no restart', async () => {
      await checkLeafRenewalUnderWriter(env, client!);
    });

    void test('CA rotation and certificate reissue under a writer through the Service: zero failed requests, no restart', async () => {
      // Short phases for the test (the default waits 120 s for the kubelet to sync Secrets).
      await env.kubectl([
        '-n',
        NS,
        'patch',
        'kvcluster',
        'demo',
        '--type=merge',
        '-p',
        '{"spec":{"tls":{"propagationSeconds":6}}}',
      ]);
      const podsBefore = new Map((await env.pods()).map((p) => [name(p), p]));
      const caBefore = (await env.secret('demo-ca'))!['ca.crt']!;
      const servedBefore = (await env.secret('demo-tls'))!['demo-0.crt']!;
      const writer = new Writer(env, 'rotate', client, env.serviceUrl('demo'));
      writer.start();
      const t0 = Date.now();
      try {
        await sleep(3000);
        await env.kubectl([
          '-n',
          NS,
          'annotate',
          '--overwrite',
          'kvcluster',
          'demo',
          `kvstore.io/rotate-ca=${Date.now()}`,
        ]);
        await eventually('rotation under way', async () =>
          (await env.kv())?.status?.tls?.caPhase !== 'Stable' ? true : undefined,
        );
        await eventually(
          'rotation done: new CA only in the bundle',
          async () => {
            const k = await env.kv();
            const bundle = (await env.secret('demo-ca-bundle'))?.['ca.crt'] ?? '';
            return k?.status?.tls?.caPhase === 'Stable' && !bundle.includes(caBefore) && bundle !== ''
              ? true
              : undefined;
          },
          300_000,
        );
        await sleep(5000); // writes continue on the new certificates alone
      } finally {
        await writer.stop();
      }
      timings['CA rotation under a writer (s)'] = seconds(Date.now() - t0);
      assert.ok(writer.acknowledged.size > 10, `writes continued (${writer.acknowledged.size})`);
      assert.equal(writer.failures, 0, `failed requests during the rotation: ${writer.failures}`);
      assert.deepEqual(await writer.lost(), []);
      const caAfter = (await env.secret('demo-ca'))!['ca.crt']!;
      assert.notEqual(caAfter, caBefore);
      assert.notEqual((await env.secret('demo-tls'))!['demo-0.crt'], servedBefore);
      for (const p of await env.pods()) {
        const before = podsBefore.get(name(p));
        assert.equal(p.metadata?.uid, before?.metadata?.uid, `${name(p)} not recreated`);
        assert.equal(
          p.status?.containerStatuses?.[0]?.restartCount,
          before?.status?.containerStatuses?.[0]?.restartCount,
          `${name(p)} not restarted`,
        );
      }
      // A client that only trusts the old CA is refused now.
      const stale = new KvClient({ ca: caBefore });
      await assert.rejects(stale.raw('GET', `${env.serviceUrl('demo')}/livez`), /certificate/);
      await waitSettled(3, 'settled after the rotation');
    });

    void test('nothing secret in operator and member logs, events, status or chart NOTES', async () => {
      await checkNothingSecretLeaks(env);
    });

    void test('restart the operator mid-scale: it resumes (a second cluster, 1 -> 3, TLS and auth off)', async () => {
      await env.kubectl(['apply', '-f', '-'], kvclusterYaml({ name: 'second', replicas: 1, secure: false }));
      await eventually(
        'second Available with 1 voter',
        async () => (settled(await env.kv('second'), 1) ? true : undefined),
        300_000,
      );
      await env.kubectl(['-n', NS, 'scale', 'kvcluster/second', '--replicas=3']);
      await eventually('scale-up under way', async () =>
        (await env.kv('second'))?.status?.operation?.kind === 'ScaleUp' ? true : undefined,
      );
      for (const p of await env.pods('app.kubernetes.io/name=kv-store-operator', OPERATOR_NS)) {
        await env.kubectl(['-n', OPERATOR_NS, 'delete', 'pod', name(p), '--wait=false']);
      }
      await eventually(
        'scale to 3 finished by the restarted operator',
        async () => (settled(await env.kv('second'), 3) ? true : undefined),
        300_000,
      );
      const pods = await env.pods('app.kubernetes.io/instance=second');
      const leader = (await Promise.all(pods.map((p) => env.nodeStatus(p)))).find(
        (st) => st.state === 'leader',
      );
      assert.deepEqual(leader?.members.map((m) => m.id).sort(), ['second-0', 'second-1', 'second-2']);
      // Plain text, no credentials: the quick-start layout on Kubernetes.
      const plain = pods[0]!;
      assert.equal(await put(env.podUrl(plain), 'e2e/plain', 'ok'), 200);
      assert.ok(env.podUrl(plain).startsWith('http://'));
      assert.equal((await env.kv('second'))?.status?.secrets, undefined);
      await env.kubectl(['-n', NS, 'delete', 'kvcluster', 'second', '--wait=true', '--timeout=120s']);
    });
    // The replacement reuses the member id on a fresh volume: the new learner replays its own earlier
    // removal from the leader's log, then its re-add (the node treats it as a member again).
    void test('delete a member PVC and pod: replaced by a new member with a new volume', async () => {
      const leaderName = (await env.kv())?.status?.leader;
      const victim = ['demo-0', 'demo-1', 'demo-2'].find((n) => n !== leaderName)!;
      const oldPvc = (
        await env.kubectl(['-n', NS, 'get', 'pvc', `data-${victim}`, '-o', 'jsonpath={.metadata.uid}'])
      ).trim();
      await env.kubectl(['-n', NS, 'delete', 'pvc', `data-${victim}`, '--wait=false']);
      await env.kubectl(['-n', NS, 'delete', 'pod', victim, '--wait=false']);
      await eventually('a new PVC', async () => {
        const uid = (
          await env.kubectl(['-n', NS, 'get', 'pvc', `data-${victim}`, '-o', 'jsonpath={.metadata.uid}'])
        ).trim();
        return uid !== '' && uid !== oldPvc ? true : undefined;
      });
      await waitSettled(3, `${victim} replaced`);
      const ops = await env.operatorLogs();
      assert.match(ops, new RegExp(`"kind":"replace-member","member":"${victim}"`));
      // the new member has the data
      const pod = (await env.readyPods()).find((p) => name(p) === victim)!;
      assert.deepEqual(await get(env.podUrl(pod), 'e2e/through-0', client), {
        status: 200,
        value: (await get(env.podUrl((await env.readyPods())[0]!), 'e2e/through-0', client)).value,
      });
    });

    void test('kubectl delete the KVCluster: owned objects gone, PVCs kept (onClusterDeletion: Retain)', async () => {
      await env.kubectl(['-n', NS, 'delete', 'kvcluster', 'demo', '--wait=true', '--timeout=120s']);
      await eventually('owned objects garbage-collected', async () => {
        const left = (
          await env.kubectl([
            '-n',
            NS,
            'get',
            'statefulset,service,configmap,poddisruptionbudget,serviceaccount',
            '-l',
            'app.kubernetes.io/instance=demo',
            '-o',
            'name',
          ])
        ).trim();
        return left === '' ? true : undefined;
      });
      await eventually('pods gone', async () => ((await env.pods()).length === 0 ? true : undefined));
      const pvcs = (
        await env.kubectl(['-n', NS, 'get', 'pvc', '-l', 'app.kubernetes.io/instance=demo', '-o', 'name'])
      )
        .trim()
        .split('\n')
        .filter((l) => l !== '');
      assert.equal(pvcs.length, 3, `PVCs retained: ${pvcs.join(',')}`);
      await sleep(100);
      assert.equal(condition(await env.kv(), 'Available'), undefined);
    });

    void test('helm uninstall keeps the CRD', async () => {
      await env.helm(['uninstall', RELEASE, '-n', OPERATOR_NS]);
      assert.match(
        await env.kubectl(['get', 'crd', 'kvclusters.kvstore.io', '-o', 'name']),
        /kvclusters.kvstore.io/,
      );
    });
  });
});
