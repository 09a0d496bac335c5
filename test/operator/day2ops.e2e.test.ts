// Day-2 operations on the real control plane (issue 18, docs/adr/0076): events for the operator's
// decisions, hibernation, quorum-aware restarts, fencing and volume growth, each driven the way a
// user would (`kubectl kv ...` through kubectl's plugin lookup, or kubectl patch) and checked
// against Kubernetes and against Raft itself. Slow (minutes): npm run test:operator.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { REPO_ROOT } from '../cluster/cluster.ts';
import {
  Env,
  type KvClient,
  NS,
  Writer,
  condition,
  eventually,
  kvclusterYaml,
  seconds,
  settled,
} from './harness.ts';
import { kubectlKv as runKubectlKv, type KubectlKvRun } from './kubectl-kv-run.ts';

const nodeRuns =
  spawnSync(process.execPath, [path.join(REPO_ROOT, 'node/bin/kv-store.js'), '--help'], { encoding: 'utf8' })
    .status === 0;

interface KvEvent {
  reason: string;
  message: string;
  type: string;
  eventTime?: string;
  firstTimestamp?: string;
}

const uid = (p: V1Pod | undefined) => p?.metadata?.uid ?? '';
const podName = (p: V1Pod) => p.metadata?.name ?? '';

void describe(
  'day-2 operations on a real control plane',
  { skip: nodeRuns ? false : 'the node binary does not run' },
  () => {
    let env: Env;
    let client: KvClient;
    const timings: Record<string, string> = {};

    const kubectlKv = (args: string[]): Promise<KubectlKvRun> => runKubectlKv(env, [...args, '-n', NS]);

    async function kv(args: string[]): Promise<string> {
      const r = await kubectlKv(args);
      assert.equal(r.code, 0, `kubectl kv ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    }

    async function events(): Promise<KvEvent[]> {
      const out = await env.kubectl([
        '-n',
        NS,
        'get',
        'events',
        '--field-selector',
        'involvedObject.kind=KVCluster,involvedObject.name=demo',
        '-o',
        'json',
      ]);
      // Oldest first (names are random): the operator sets eventTime with microseconds.
      const time = (e: KvEvent) => e.eventTime ?? e.firstTimestamp ?? '';
      return (JSON.parse(out) as { items: KvEvent[] }).items.sort((a, b) => time(a).localeCompare(time(b)));
    }

    async function waitEvent(reason: string, match: RegExp = /./, timeoutMs = 180_000): Promise<KvEvent> {
      return eventually(
        `event ${reason} ${String(match)}`,
        async () => (await events()).find((e) => e.reason === reason && match.test(e.message)),
        timeoutMs,
      );
    }

    async function settle(what: string, timeoutMs = 300_000): Promise<void> {
      await eventually(what, async () => (settled(await env.kv(), 3) ? true : undefined), timeoutMs);
    }

    async function podsByName(): Promise<Map<string, V1Pod>> {
      return new Map(
        (await env.pods()).filter((p) => p.metadata?.deletionTimestamp == null).map((p) => [podName(p), p]),
      );
    }

    async function raftRole(member: string): Promise<string | undefined> {
      for (const p of await env.readyPods()) {
        try {
          const s = await env.nodeStatus(p, client);
          if (s.state === 'leader') return s.members.find((m) => m.id === member)?.role;
        } catch {
          // try the next one
        }
      }
      return undefined;
    }

    before(async () => {
      const t0 = Date.now();
      env = await Env.start();
      await env.kubectl(['create', 'namespace', NS]);
      await env.helmInstall();
      await env.kubectl(['apply', '-f', '-'], kvclusterYaml());
      await settle('demo settled with 3 voters');
      client = await env.connect('demo');
      timings['setup (s)'] = seconds(Date.now() - t0);
    });

    after(async () => {
      console.log(`# day-2 e2e timings: ${JSON.stringify(timings)}`);
      if (env !== undefined) {
        try {
          console.log(
            `# operator log tail:\n${(await env.operatorLogs()).split('\n').slice(-40).join('\n')}`,
          );
        } catch {
          // best effort
        }
        await env.stop();
      }
    });

    void test('events: every member added and promoted while the cluster was created', async () => {
      const evs = await events();
      for (const m of ['demo-1', 'demo-2']) {
        assert.ok(
          evs.some((e) => e.reason === 'MemberAdded' && e.message.includes(m)),
          `MemberAdded ${m}: ${JSON.stringify(evs.map((e) => e.reason))}`,
        );
        assert.ok(
          evs.some((e) => e.reason === 'MemberPromoted' && e.message.includes(m)),
          `MemberPromoted ${m}`,
        );
      }
      assert.ok(evs.some((e) => e.reason === 'StatefulSetScaled'));
      assert.equal(
        evs.filter((e) => e.type === 'Warning' && e.reason === 'StepFailed').length,
        0,
        'no step failed',
      );
    });

    void test('hibernate: zero pods, volumes kept; wake: the same cluster with every acknowledged write', async () => {
      const writer = new Writer(env, 'hibernate', client);
      writer.start();
      await eventually('some writes acknowledged', () =>
        Promise.resolve(writer.acknowledged.size >= 30 ? true : undefined),
      );
      await writer.stop();
      const before = await env.kv();
      const clusterId = before?.status?.clusterId;
      assert.ok(clusterId !== undefined && clusterId !== '');
      const removalsBefore = (await events()).filter((e) =>
        /MemberRemoved|MemberReplaced|VolumeDeleted/.test(e.reason),
      ).length;
      const pvcs = async () =>
        (
          await env.kubectl([
            '-n',
            NS,
            'get',
            'pvc',
            '-l',
            'app.kubernetes.io/instance=demo',
            '-o',
            'jsonpath={.items[*].metadata.uid}',
          ])
        )
          .trim()
          .split(' ')
          .sort();
      const volumesBefore = await pvcs();
      assert.equal(volumesBefore.length, 3);

      let t0 = Date.now();
      try {
        assert.match(await kv(['hibernate', 'demo']), /hibernating/);
        await eventually('every pod gone', async () => ((await env.pods()).length === 0 ? true : undefined));
        const asleep = await eventually('phase Hibernated', async () => {
          const k = await env.kv();
          return k?.status?.phase === 'Hibernated' && condition(k, 'Hibernated') === 'True' ? k : undefined;
        });
        timings['hibernate (s)'] = seconds(Date.now() - t0);
        assert.equal(
          (
            await env.kubectl(['-n', NS, 'get', 'statefulset', 'demo', '-o', 'jsonpath={.spec.replicas}'])
          ).trim(),
          '0',
        );
        assert.deepEqual(await pvcs(), volumesBefore, 'the same three volumes are kept');
        assert.equal(asleep.status?.clusterId, clusterId);
        assert.equal(asleep.status?.members?.length, 3, 'the members are still listed');
        await waitEvent('Hibernating');
      } catch (err) {
        await kubectlKv(['wake', 'demo']); // leave a running cluster to the tests that follow
        throw err;
      }

      t0 = Date.now();
      assert.match(await kv(['wake', 'demo']), /waking/);
      await settle('demo awake with 3 voters');
      timings['wake (s)'] = seconds(Date.now() - t0);
      const awake = await env.kv();
      assert.equal(awake?.status?.clusterId, clusterId, 'the same cluster id');
      assert.equal(condition(awake, 'Hibernated'), 'False');
      for (const p of await env.readyPods())
        assert.equal((await env.nodeStatus(p, client)).clusterId, clusterId);
      assert.deepEqual(await pvcs(), volumesBefore, 'woken on the same volumes');
      assert.deepEqual(await writer.lost(), [], 'every acknowledged write is back');
      const removalsAfter = (await events()).filter((e) =>
        /MemberRemoved|MemberReplaced|VolumeDeleted/.test(e.reason),
      ).length;
      assert.equal(removalsAfter, removalsBefore, 'hibernation was not taken for member loss');
    });

    void test('restart one member, then the whole cluster: followers first, the leader last after moving leadership', async () => {
      await settle('settled before restart');
      const leader = (await env.kv())?.status?.leader;
      assert.ok(leader);
      const follower = ['demo-0', 'demo-1', 'demo-2'].find((m) => m !== leader)!;
      const before = await podsByName();
      let t0 = Date.now();
      assert.match(await kv(['restart', 'demo', follower]), /restart requested/);
      await eventually(`${follower} restarted`, async () => {
        const now = await podsByName();
        return now.get(follower) !== undefined && uid(now.get(follower)) !== uid(before.get(follower))
          ? true
          : undefined;
      });
      await settle('settled after the member restart');
      const mid = await podsByName();
      for (const m of ['demo-0', 'demo-1', 'demo-2'].filter((x) => x !== follower))
        assert.equal(uid(mid.get(m)), uid(before.get(m)), `${m} was not restarted`);
      timings['restart one member (s)'] = seconds(Date.now() - t0);

      const writer = new Writer(env, 'restart', client);
      writer.start();
      t0 = Date.now();
      try {
        await kv(['restart', 'demo']);
        await eventually(
          'every pod restarted',
          async () => {
            const now = await podsByName();
            return ['demo-0', 'demo-1', 'demo-2'].every(
              (m) => now.get(m) !== undefined && uid(now.get(m)) !== uid(mid.get(m)),
            )
              ? true
              : undefined;
          },
          600_000,
        );
        await settle('settled after the rolling restart', 600_000);
      } finally {
        await writer.stop();
      }
      timings['rolling restart (s)'] = seconds(Date.now() - t0);
      assert.deepEqual(await writer.lost(), []);
      // The order, from the events: the old leader handed over before it was rolled, and last.
      const evs = (await events()).filter((e) => ['MemberRolled', 'LeaderMoved'].includes(e.reason));
      const rolled = evs
        .filter((e) => e.reason === 'MemberRolled')
        .map((e) => /pod (\S+) /.exec(e.message)?.[1]);
      const last3 = rolled.slice(-3);
      assert.equal(new Set(last3).size, 3, `each member rolled once: ${JSON.stringify(rolled)}`);
      const moved = evs.findLast((e) => e.reason === 'LeaderMoved');
      assert.ok(moved !== undefined, 'leadership was moved');
      const oldLeader = /from (\S+) to/.exec(moved.message)?.[1];
      assert.equal(
        last3[2],
        oldLeader,
        `the leader rolled last: ${JSON.stringify(last3)} after ${moved.message}`,
      );
    });

    void test('fence: leader moved off, demoted to learner, NotReady, refuses clients; a second fence is refused; unfence restores', async () => {
      await settle('settled before fencing');
      const leader = (await env.kv())?.status?.leader;
      assert.ok(leader);
      let t0 = Date.now();
      try {
        assert.match(await kv(['fence', 'demo', leader]), /fence requested/);
        await waitEvent('LeaderMoved', new RegExp(`from ${leader} to`));
        await waitEvent('MemberFenced', new RegExp(leader));
        await eventually(`${leader} is a learner`, async () =>
          (await raftRole(leader)) === 'learner' ? true : undefined,
        );
        const fencedPod = await eventually(`${leader} NotReady`, async () => {
          const p = (await env.pods()).find((x) => podName(x) === leader);
          return p !== undefined &&
            p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'False') === true
            ? p
            : undefined;
        });
        const refused = await eventually('a client request refused as fenced', async () => {
          const r = await client.request('GET', `${env.podUrl(fencedPod)}/v1/kv/fence-probe`);
          return r.status === 503 ? r : undefined;
        });
        assert.equal((refused.json as { error: { code: string } }).error.code, 'fenced');
        const k = await eventually('Fenced condition', async () => {
          const x = await env.kv();
          return condition(x, 'Fenced') === 'True' ? x : undefined;
        });
        assert.equal(k.status?.voters, 2);
        timings['fence (s)'] = seconds(Date.now() - t0);
        // Data keeps flowing to it: writes go on through the other members.
        const writer = new Writer(env, 'fenced', client);
        writer.start();
        await eventually('writes while fenced', () =>
          Promise.resolve(writer.acknowledged.size >= 20 ? true : undefined),
        );
        await writer.stop();

        // A second fence would leave one voter of three: refused, with an event, and nothing changes.
        const second = ['demo-0', 'demo-1', 'demo-2'].find((m) => m !== leader)!;
        await kv(['fence', 'demo', second]);
        await waitEvent('Refused', new RegExp(`fencing ${second}`));
        assert.equal(await raftRole(second), 'voter');
        await kv(['unfence', 'demo', second]);

        t0 = Date.now();
        assert.match(await kv(['unfence', 'demo', leader]), /unfence requested/);
        await settle('settled after unfencing');
        timings['unfence (s)'] = seconds(Date.now() - t0);
        assert.equal(await raftRole(leader), 'voter');
        assert.equal(condition(await env.kv(), 'Fenced'), 'False');
        // It kept its data: it serves what was written while it was fenced.
        const pod = (await env.readyPods()).find((p) => podName(p) === leader);
        assert.ok(pod !== undefined);
        for (const [key, value] of writer.acknowledged) {
          const r = await client.request(
            'GET',
            `${env.podUrl(pod)}/v1/kv/${encodeURIComponent(key)}?consistency=stale`,
          );
          assert.equal((r.json as { value?: string } | undefined)?.value, value, key);
        }
      } finally {
        // Whatever happened, leave nobody fenced for the tests that follow.
        await env
          .kubectl(['-n', NS, 'annotate', 'kvcluster', 'demo', 'kvstore.io/fenced-members-'])
          .catch(() => '');
      }
    });

    void test('volume growth: refused without allowVolumeExpansion, then every PVC grows with no pod restarted; shrinking is refused', async () => {
      await settle('settled before resize');
      const pvcJson = async () =>
        JSON.parse(
          await env.kubectl(['-n', NS, 'get', 'pvc', '-l', 'app.kubernetes.io/instance=demo', '-o', 'json']),
        ) as {
          items: {
            metadata: { name: string };
            spec: { storageClassName: string; resources: { requests: { storage: string } } };
          }[];
        };
      const storageClass = (await pvcJson()).items[0]!.spec.storageClassName;
      const pods = await podsByName();
      const resize = (size: string) =>
        env.kubectl([
          '-n',
          NS,
          'patch',
          'kvcluster',
          'demo',
          '--type',
          'merge',
          '-p',
          JSON.stringify({ spec: { storage: { size } } }),
        ]);

      await resize('128Mi');
      const notAllowed = await waitEvent('VolumeExpansionNotAllowed', /allowVolumeExpansion/);
      assert.match(notAllowed.message, new RegExp(`StorageClass ${storageClass}`));
      assert.equal(
        (await env.kv())?.status?.conditions?.find((c) => c.type === 'StorageResized')?.reason,
        'ExpansionNotAllowed',
      );
      assert.ok(
        (await pvcJson()).items.every((p) => p.spec.resources.requests.storage === '64Mi'),
        'nothing patched',
      );

      const t0 = Date.now();
      await env.kubectl([
        'patch',
        'storageclass',
        storageClass,
        '--type',
        'merge',
        '-p',
        '{"allowVolumeExpansion":true}',
      ]);
      try {
        await eventually('every PVC requests 128Mi', async () =>
          (await pvcJson()).items.every((p) => p.spec.resources.requests.storage === '128Mi')
            ? true
            : undefined,
        );
        await waitEvent('StatefulSetRecreated');
        await eventually('StorageResized True', async () =>
          condition(await env.kv(), 'StorageResized') === 'True' ? true : undefined,
        );
        const template = await env.kubectl([
          '-n',
          NS,
          'get',
          'statefulset',
          'demo',
          '-o',
          'jsonpath={.spec.volumeClaimTemplates[0].spec.resources.requests.storage}',
        ]);
        assert.equal(template.trim(), '128Mi');
        timings['grow volumes (s)'] = seconds(Date.now() - t0);
        await settle('settled after growth');
        const now = await podsByName();
        for (const [m, p] of pods) assert.equal(uid(now.get(m)), uid(p), `${m} kept running`);
        // The re-created StatefulSet owns the pods again.
        await eventually('pods adopted by the new StatefulSet', async () =>
          [...(await podsByName()).values()].every(
            (p) => p.metadata?.ownerReferences?.find((o) => o.kind === 'StatefulSet')?.name === 'demo',
          )
            ? true
            : undefined,
        );

        await resize('64Mi');
        await waitEvent('VolumeShrinkRefused', /never shrink/);
        assert.equal(
          (await env.kv())?.status?.conditions?.find((c) => c.type === 'StorageResized')?.reason,
          'ShrinkRefused',
        );
        assert.ok((await pvcJson()).items.every((p) => p.spec.resources.requests.storage === '128Mi'));
        await resize('128Mi');
        await eventually('StorageResized True again', async () =>
          condition(await env.kv(), 'StorageResized') === 'True' ? true : undefined,
        );
      } finally {
        await env
          .kubectl([
            'patch',
            'storageclass',
            storageClass,
            '--type',
            'json',
            '-p',
            '[{"op":"remove","path":"/allowVolumeExpansion"}]',
          ])
          .catch(() => '');
      }
    });
  },
);
