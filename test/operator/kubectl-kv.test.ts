// `kubectl kv` (operator/bin/kubectl-kv) on the real control plane: kubectl finds the plugin on
// PATH, it reads the KVCluster and pods through the API with the kubeconfig's credentials, and
// reaches members by pod IP (--member-access direct; this process-kubelet's pod IPs are aliases
// only processes with its network preload can dial, which the API server's pod proxy cannot, so
// through the proxy only the KVCluster-based view is checked).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from '../cluster/cluster.ts';
import { Env, type KvClient, NS, eventually, kvclusterYaml, settled } from './harness.ts';
import { kubectlKv as runKubectlKv, type KubectlKvRun } from './kubectl-kv-run.ts';

const nodeRuns =
  spawnSync(process.execPath, [path.join(REPO_ROOT, 'node/bin/kv-store.js'), '--help'], { encoding: 'utf8' })
    .status === 0;

void describe(
  'kubectl kv on a real control plane',
  { skip: nodeRuns ? false : 'the node binary does not run' },
  () => {
    let env: Env;
    let work: string;
    let client: KvClient;

    /** `kubectl kv ...` as a user would type it. */
    const kubectlKv = (args: string[]): Promise<KubectlKvRun> => runKubectlKv(env, args, work);

    before(async () => {
      work = mkdtempSync(path.join(tmpdir(), 'kubectl-kv-'));
      env = await Env.start();
      await env.kubectl(['create', 'namespace', NS]);
      await env.helmInstall();
      await env.kubectl(['apply', '-f', '-'], kvclusterYaml());
      await eventually(
        'demo settled with 3 voters',
        async () => (settled(await env.kv(), 3) ? true : undefined),
        300_000,
      );
      // TLS and auth are on by default: the test reads members as root with the cluster's CA.
      client = await env.connect('demo');
    });

    after(async () => {
      await env?.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    void test('status: members, roles, the leader, lag, versions, conditions, each member live', async () => {
      const kv = await env.kv();
      const leader = kv?.status?.leader;
      assert.ok(leader);
      const r = await kubectlKv(['status', 'demo', '-n', NS, '--member-access', 'direct']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(
          `KVCluster ${NS}/demo\\n  phase Available, 3/3 ready, 3 voters, 0 learners, leader ${leader}`,
        ),
      );
      assert.match(r.stdout, /Available=True/);
      assert.match(r.stdout, /Operation: none in progress/);
      for (const m of ['demo-0', 'demo-1', 'demo-2']) {
        const state = m === leader ? 'leader' : 'follower';
        assert.match(
          r.stdout,
          new RegExp(
            `\\n  ${m} +voter +${m === leader ? '\\*' : ''} +yes +yes +0 +${state} +\\d+ +\\d+ +dev +Running`,
          ),
          r.stdout,
        );
      }
      assert.doesNotMatch(r.stdout, /not reachable/);

      const json = await kubectlKv(['status', 'demo', '-n', NS, '--member-access', 'direct', '-o', 'json']);
      assert.equal(json.code, 0, json.stderr);
      const parsed = JSON.parse(json.stdout) as { members: Record<string, { ok: boolean; leader: string }> };
      for (const pod of await env.readyPods()) {
        const own = await env.nodeStatus(pod, client);
        assert.equal(parsed.members[pod.metadata!.name!]?.leader, own.leader);
      }
    });

    void test("status through the API server's pod proxy: the view from the KVCluster, members marked unreachable", async () => {
      const r = await kubectlKv(['status', 'demo', '-n', NS]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /phase Available, 3\/3 ready/);
      assert.match(r.stdout, /demo-0 +voter +\*? +yes +yes +0 +- +- +- +dev +Running/);
      // This control plane's pod IPs are aliases the Go API server cannot dial (and its egress may
      // be filtered), so the proxied member requests fail here; on a real cluster this is the live view.
      for (const m of ['demo-0', 'demo-1', 'demo-2'])
        assert.match(r.stdout, new RegExp(`live status not reachable: ${m}: `), r.stdout);
      assert.doesNotMatch(r.stdout, /forbidden|Unauthorized/i);
    });

    void test('move-leader --to a follower: Raft leadership moves there', async () => {
      const before = (await env.kv())?.status?.leader;
      const target = ['demo-0', 'demo-1', 'demo-2'].find((m) => m !== before)!;
      const r = await kubectlKv([
        'move-leader',
        'demo',
        '-n',
        NS,
        '--member-access',
        'direct',
        '--to',
        target,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `leader: ${target}\n`);
      await eventually(
        'every member follows the new leader',
        async () => {
          const statuses = await Promise.all((await env.readyPods()).map((p) => env.nodeStatus(p, client)));
          return statuses.length === 3 && statuses.every((s) => s.leader === target) ? true : undefined;
        },
        30_000,
      );
      const bad = await kubectlKv([
        'move-leader',
        'demo',
        '-n',
        NS,
        '--member-access',
        'direct',
        '--to',
        'demo-9',
      ]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /demo-9 is not a member/);
      const missing = await kubectlKv(['status', 'nope', '-n', NS]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /KVCluster kvtest\/nope not found/);
    });

    void test('report: one archive with the CR, events, pods, member statuses, metrics and logs', async () => {
      const file = path.join(work, 'report.tar.gz');
      const r = await kubectlKv(['report', 'demo', '-n', NS, '--member-access', 'direct', '-f', file]);
      assert.equal(r.code, 0, r.stderr);
      const files = execFileSync('tar', ['-tzf', file], { encoding: 'utf8' }).trim().split('\n');
      for (const f of [
        'kvcluster.json',
        'events.json',
        'pods.json',
        'statefulsets.json',
        'persistentvolumeclaims.json',
        'members/demo-0/status.json',
        'members/demo-1/cluster-members.json',
        'members/demo-2/metrics.txt',
        'logs/demo-0.log',
        'errors.txt',
      ])
        assert.ok(files.includes(`kv-report-demo/${f}`), `${f} in ${files.join(', ')}`);
      assert.ok(
        files.some((f) => /^kv-report-demo\/logs\/operator-.+\.log$/.test(f)),
        'operator log',
      );
      execFileSync('tar', ['-xzf', file], { cwd: work });
      const dir = path.join(work, 'kv-report-demo');
      const cr = JSON.parse(readFileSync(path.join(dir, 'kvcluster.json'), 'utf8')) as {
        metadata: Record<string, unknown>;
      };
      assert.equal(cr.metadata.name, 'demo');
      assert.equal(cr.metadata.managedFields, undefined);
      assert.match(
        readFileSync(path.join(dir, 'members/demo-2/metrics.txt'), 'utf8'),
        /^kvstore_member_info\{/m,
      );
      assert.match(readFileSync(path.join(dir, 'logs/demo-0.log'), 'utf8'), /"member":"demo-0"/);
      assert.equal(readFileSync(path.join(dir, 'errors.txt'), 'utf8'), 'nothing failed\n');
    });
  },
);
