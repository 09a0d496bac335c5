// Member-data and quorum-loss recovery end to end on the test control plane (docs/adr/0077):
// a member whose data directory lost its state is reported (status, metric, condition, events)
// and replaced; two of three members' volumes deleted: QuorumLost, nothing guessed, `kubectl kv
// recover` approves, the cluster comes back to three members with the survivor's data.
// TLS and auth on (the KVCluster defaults); KVSTORE_RECOVERY_E2E_PLAIN=1 runs it plain text.
// Slow (minutes). Run: node --test test/operator/recovery.e2e.test.ts
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { V1Pod } from '@kubernetes/client-node';
import { REPO_ROOT } from '../cluster/cluster.ts';
import {
  Env,
  KvClient,
  NS,
  PLAIN,
  condition,
  eventually,
  get,
  kvclusterYaml,
  put,
  settled,
} from './harness.ts';
import { kubectlKv as runKubectlKv, type KubectlKvRun } from './kubectl-kv-run.ts';

const nodeRuns =
  spawnSync(process.execPath, [path.join(REPO_ROOT, 'node/bin/kv-store.js'), '--help'], { encoding: 'utf8' })
    .status === 0;
const NAME = 'rec';
// The defaults (TLS and auth on) unless KVSTORE_RECOVERY_E2E_PLAIN=1.
const SECURE = process.env.KVSTORE_RECOVERY_E2E_PLAIN !== '1';
const SELECTOR = `app.kubernetes.io/instance=${NAME}`;
const name = (p: V1Pod) => p.metadata?.name ?? '';

interface MemberStatus {
  id: string;
  state: string;
  leader: string | null;
  dataState?: string;
  dataReason?: string;
  members: { id: string; role: string }[];
}

void describe(
  'recovery on a real control plane',
  { skip: nodeRuns ? false : 'the node binary does not run' },
  () => {
    let env: Env;
    /** With SECURE: root's credentials from the Secrets the status names (as an application); else plain HTTP. */
    let client: KvClient = PLAIN;
    /**
     * With SECURE: the operator's client certificate (CN root, in `<name>-ca`), for members without
     * a leader or with unusable data, where a login cannot succeed (it needs a leader); else plain.
     */
    let admin: KvClient = PLAIN;

    before(async () => {
      env = await Env.start();
      await env.kubectl(['create', 'namespace', NS]);
      await env.helmInstall();
      await env.kubectl(['apply', '-f', '-'], kvclusterYaml({ name: NAME, replicas: 3, secure: SECURE }));
      await eventually(
        `${NAME} Available with 3 voters`,
        async () => (settled(await env.kv(NAME), 3) ? true : undefined),
        300_000,
      );
      if (SECURE) {
        await eventually('certificates and auth ready', async () => {
          const k = await env.kv(NAME);
          return condition(k, 'CertificatesReady') === 'True' && condition(k, 'AuthReady') === 'True'
            ? true
            : undefined;
        });
        client = await env.connect(NAME);
        const ca = (await env.secret(`${NAME}-ca-bundle`))!['ca.crt']!;
        const own = (await env.secret(`${NAME}-ca`))!;
        admin = new KvClient({
          ca,
          identity: { cert: own['operator-client.crt']!, key: own['operator-client.key']! },
        });
      }
    });

    after(async () => {
      if (env === undefined) return;
      try {
        console.log(`# operator log tail:\n${(await env.operatorLogs()).split('\n').slice(-60).join('\n')}`);
      } catch {
        // best effort
      }
      await env.stop();
    });

    async function pod(member: string): Promise<V1Pod> {
      const p = (await env.pods(SELECTOR)).find((x) => name(x) === member);
      if (p === undefined) throw new Error(`no pod ${member}`);
      return p;
    }

    async function status(member: string): Promise<MemberStatus> {
      return await env.nodeStatus(await pod(member), admin);
    }

    /** The host directory behind a member's PVC (hostPath on the process-kubelet, local on the real one). */
    async function volumeDir(member: string): Promise<string> {
      const pv = (
        await env.kubectl(['-n', NS, 'get', 'pvc', `data-${member}`, '-o', 'jsonpath={.spec.volumeName}'])
      ).trim();
      const dir = (
        await env.kubectl(['get', 'pv', pv, '-o', 'jsonpath={.spec.hostPath.path}{.spec.local.path}'])
      ).trim();
      assert.ok(dir !== '', `hostPath of ${pv}`);
      return dir;
    }

    async function events(): Promise<string[]> {
      const out = await env.kubectl([
        '-n',
        NS,
        'get',
        'events',
        '--field-selector',
        `involvedObject.name=${NAME},involvedObject.kind=KVCluster`,
        '-o',
        'jsonpath={range .items[*]}{.reason}{"\\n"}{end}',
      ]);
      return out.split('\n').filter((l) => l !== '');
    }

    async function leaderName(): Promise<string> {
      return eventually('a leader', async () => (await env.kv(NAME))?.status?.leader ?? undefined);
    }

    async function writeKeys(prefix: string, n: number): Promise<void> {
      const leader = await pod(await leaderName());
      for (let i = 0; i < n; i++)
        assert.equal(await put(env.podUrl(leader), `${prefix}/${i}`, `v${i}`, client), 200);
    }

    async function assertKeys(member: string, prefix: string, n: number): Promise<void> {
      const url = env.podUrl(await pod(member));
      for (let i = 0; i < n; i++)
        assert.deepEqual(
          await get(url, `${prefix}/${i}`, client),
          { status: 200, value: `v${i}` },
          `${prefix}/${i} on ${member}`,
        );
    }

    const kubectlKv = (args: string[]): Promise<KubectlKvRun> => runKubectlKv(env, args);

    void test('a member whose data directory lost its state: reported (status, metric, condition, events), replaced, data intact', async () => {
      await writeKeys('before-lost', 20);
      const leader = await leaderName();
      const victim = ['rec-0', 'rec-1', 'rec-2'].find((m) => m !== leader)!;
      await eventually(
        `${victim} caught up`,
        async () => {
          await assertKeys(victim, 'before-lost', 20);
          return true;
        },
        60_000,
      );
      // Empty the LevelDB under the running member (the identity file stays), then restart it.
      const dir = await volumeDir(victim);
      const dataDir = readdirSync(dir).includes('kv-store-member.json')
        ? dir
        : path.join(dir, readdirSync(dir)[0] ?? '');
      for (const f of readdirSync(dataDir))
        if (f !== 'snap' && !f.startsWith('kv-store-'))
          rmSync(path.join(dataDir, f), { recursive: true, force: true });
      await env.kubectl(['-n', NS, 'delete', 'pod', victim, '--wait=false']);

      // While it is replaced: it says why, in its status and its metric, and the KVCluster says so.
      const seen = { status: false, metric: false };
      /** The pod that reported its data lost: the replacement is a new pod. */
      let lostPod: string | undefined;
      await eventually(
        `${victim} reported as lost`,
        async () => {
          try {
            // Only a live pod with an address: a request to the deleted pod (or, on a real node, to
            // an address nobody holds any more) waits out its timeout while the operator may
            // already be replacing the one that reports the loss, seconds after it starts.
            const p = await pod(victim);
            if (p.metadata?.deletionTimestamp != null || (p.status?.podIP ?? '') === '')
              throw new Error(`${victim} is terminating or has no address yet`);
            const st = (await env.nodeStatus(p, admin)) as unknown as MemberStatus;
            if (st.dataState === 'lost') {
              assert.match(st.dataReason ?? '', /lost its state/);
              seen.status = true;
              lostPod = p.metadata?.uid;
              const m = await admin.raw('GET', `${env.podUrl(p)}/metrics`);
              if (typeof m.json === 'string' && /^kvstore_data_corrupt 1$/m.test(m.json)) seen.metric = true;
            }
          } catch {
            // not up yet, or already replaced
          }
          const kv = await env.kv(NAME);
          const c = kv?.status?.conditions?.find((x) => x.type === 'MemberDataHealthy');
          return seen.status && seen.metric && c !== undefined ? true : undefined;
        },
        120_000,
      );
      await eventually(`${victim} replaced`, async () => {
        const ev = await events();
        return ev.includes('MemberDataUnusable') && ev.includes('ReplacingMember') ? true : undefined;
      });
      // The operator records these events before it writes that reconcile's status, so a status
      // saying Available with 3 voters from before the replacement may still be there: wait for the
      // replacement itself, a new pod of the victim, Ready, a healthy voter again.
      await eventually(
        `${NAME} settled again with a new ${victim}`,
        async () => {
          const k = await env.kv(NAME);
          const p = (await env.pods(SELECTOR)).find(
            (x) => name(x) === victim && x.metadata?.deletionTimestamp == null,
          );
          const ready = p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
          const member = k?.status?.members?.find((m) => m.name === victim);
          return settled(k, 3) &&
            ready === true &&
            p?.metadata?.uid !== lostPod &&
            member?.role === 'voter' &&
            member.healthy
            ? true
            : undefined;
        },
        300_000,
      );
      assert.equal(condition(await env.kv(NAME), 'MemberDataHealthy'), 'True');
      assert.equal((await status(victim)).dataState, 'ok');
      await eventually(`${victim} has the data`, async () => {
        await assertKeys(victim, 'before-lost', 20);
        return true;
      });
    });

    void test('two of three volumes deleted: QuorumLost and nothing guessed; kubectl kv recover; back to 3 with the survivor data', async () => {
      await writeKeys('before-quorum-loss', 30);
      const survivor = await leaderName();
      await eventually('every member caught up', async () => {
        for (const m of ['rec-0', 'rec-1', 'rec-2']) await assertKeys(m, 'before-quorum-loss', 30);
        return true;
      });
      const victims = ['rec-0', 'rec-1', 'rec-2'].filter((m) => m !== survivor);
      for (const v of victims) await env.kubectl(['-n', NS, 'delete', 'pvc', `data-${v}`, '--wait=false']);
      for (const v of victims) await env.kubectl(['-n', NS, 'delete', 'pod', v, '--wait=false']);

      const lost = await eventually(
        'QuorumLost',
        async () => {
          const kv = await env.kv(NAME);
          const c = kv?.status?.conditions?.find((x) => x.type === 'QuorumLost');
          return c?.status === 'True' ? c : undefined;
        },
        180_000,
      );
      assert.equal(lost.reason, 'AwaitingApproval');
      assert.match(lost.message, new RegExp(`kubectl kv recover ${NAME} --from ${survivor}`));
      await eventually('QuorumLost event', async () =>
        (await events()).includes('QuorumLost') ? true : undefined,
      );
      // Nothing is guessed: the survivor still holds the old three-member configuration and no leader.
      await new Promise((r) => setTimeout(r, 5000));
      const waiting = await status(survivor);
      assert.equal(waiting.leader, null);
      assert.equal(waiting.members.length, 3);

      // A less advanced or a wiped member is refused by the plugin; the survivor is approved.
      const wrong = await kubectlKv([
        'recover',
        NAME,
        '-n',
        NS,
        '--from',
        victims[0]!,
        '--member-access',
        'direct',
      ]);
      assert.equal(wrong.code, 1, wrong.stderr);
      assert.match(wrong.stderr, /not a surviving voter/);
      const ok = await kubectlKv([
        'recover',
        NAME,
        '-n',
        NS,
        '--from',
        survivor,
        '--member-access',
        'direct',
      ]);
      assert.equal(ok.code, 0, `${ok.stdout}${ok.stderr}`);
      // With auth on no member answers the plugin (a login needs a leader): it shows the operator's survivors.
      assert.match(
        ok.stdout,
        SECURE ? new RegExp(`survivors ${survivor} \\(`) : new RegExp(`${survivor}\\t`),
      );

      await eventually(
        `${NAME} back to 3 voters`,
        async () => (settled(await env.kv(NAME), 3) ? true : undefined),
        300_000,
      );
      const kv = await env.kv(NAME);
      assert.equal(condition(kv, 'QuorumLost'), 'False');
      const annotations = (kv?.metadata as { annotations?: Record<string, string> } | undefined)?.annotations;
      assert.equal(annotations?.['kvstore.io/recover-from'], undefined, 'the approval is removed once used');
      const ev = await events();
      for (const r of ['ForceNewCluster', 'Recovered'])
        assert.ok(ev.includes(r), `event ${r}: ${ev.join(',')}`);
      const clusterId = (await status(survivor)) as unknown as { clusterId: string };
      for (const m of ['rec-0', 'rec-1', 'rec-2']) {
        await eventually(`${m} has the survivor's data`, async () => {
          await assertKeys(m, 'before-quorum-loss', 30);
          await assertKeys(m, 'before-lost', 20);
          return true;
        });
        assert.equal(((await status(m)) as unknown as { clusterId: string }).clusterId, clusterId.clusterId);
      }
      const leader = await pod(await leaderName());
      assert.equal(await put(env.podUrl(leader), 'after-recovery', 'x', client), 200);
    });
  },
);
