// Backup and recovery through the operator on the test control plane with a real MinIO (issue 15,
// docs/adr/0075): a KVCluster archiving to the bucket (scheduled full snapshots + segments,
// BackupHealthy; the API server refusing bad schedules), an on-demand KVBackup taken with
// `kubectl kv backup --wait`, then a NEW KVCluster created by `kubectl kv restore` from the bucket
// at a point in time, its content checked through its Service: every write before the point, none
// after. On the process-kubelet and, with KVSTORE_KUBELET=containerd, on the real node (MinIO then
// listens on its bridge gateway; not yet in test:operator:kubelet, see docs/adr/0071).
// Slow (minutes). Run: node --test test/operator/backup.e2e.test.ts (part of npm run test:operator).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { loadYaml } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { startMinio, type Minio } from '../backup/minio.ts';
import { kubectlKv } from './kubectl-kv-run.ts';
import {
  Env,
  NS,
  REAL_KUBELET,
  condition,
  eventually,
  get,
  kvclusterYaml,
  put,
  seconds,
  settled,
  type KvClient,
  type KVClusterObject,
} from './harness.ts';

const BUCKET = 'kvbackup';
const timings: Record<string, string> = {};

interface BackupView {
  status?: {
    phase?: string;
    index?: number;
    keys?: number;
    size?: number;
    object?: string;
    message?: string;
  };
}
type Archived = KVClusterObject & {
  status?: KVClusterObject['status'] & {
    clusterId?: string;
    backup?: {
      archivedIndex?: number;
      archivedTime?: string;
      lastFullSnapshot?: { index: number; object: string };
    };
    recovery?: { index: number; keys: number; pointInTime: string; target: string };
  };
};

void describe('backup and recovery through the operator (real MinIO)', () => {
  let env: Env;
  let minio: Minio;
  let src: KvClient;
  /** Every write before this instant must be restored, none after. */
  let cut = 0;
  const before1 = new Map<string, string>();
  const after1 = new Map<string, string>();

  before(async () => {
    const t0 = Date.now();
    env = await Env.start();
    // Where the members reach it: loopback for the process-kubelet's pods, the bridge gateway for
    // a real node's (KVSTORE_KUBELET=containerd); the test reaches either from the host.
    minio = await startMinio({ host: env.hostAddressForPods() });
    await minio.createBucket(BUCKET);
    timings[`${REAL_KUBELET ? 'real node' : 'control plane'} + minio start (s)`] = seconds(Date.now() - t0);
    await env.kubectl(['create', 'namespace', NS]);
    await env.helmInstall();
    await env.kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's3-creds', namespace: NS },
        stringData: {
          AWS_ACCESS_KEY_ID: minio.env['AWS_ACCESS_KEY_ID'],
          AWS_SECRET_ACCESS_KEY: minio.env['AWS_SECRET_ACCESS_KEY'],
        },
      }),
    );
  });

  after(async () => {
    console.log(`# backup e2e timings: ${JSON.stringify(timings)}`);
    if (env !== undefined) {
      try {
        console.log(`# operator log tail:\n${(await env.operatorLogs()).split('\n').slice(-30).join('\n')}`);
        // Member 0 of each cluster bootstraps it (src) or restores it (restored): what it said last.
        console.log(`# pods:\n${await env.kubectl(['-n', NS, 'get', 'pods', '-o', 'wide'])}`);
        for (const pod of ['src-0', 'restored-0'])
          console.log(`# ${pod} log tail:\n${env.logs(pod).split('\n').slice(-15).join('\n')}`);
      } catch {
        // best effort
      }
      await env.stop();
    }
    await minio?.stop();
  });

  const kv = async (name: string): Promise<Archived | undefined> => {
    try {
      return (await env.custom.getNamespacedCustomObject({
        group: 'kvstore.io',
        version: 'v1alpha1',
        namespace: NS,
        plural: 'kvclusters',
        name,
      })) as Archived;
    } catch {
      return undefined;
    }
  };
  const objects = async (sub: string): Promise<string[]> => {
    const r = await minio.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: sub }));
    return (r.Contents ?? []).map((o) => o.Key ?? '');
  };

  void test('a KVCluster with spec.backup archives: scheduled full snapshots, segments, BackupHealthy', async () => {
    const t0 = Date.now();
    const yaml =
      kvclusterYaml({ name: 'src', replicas: 3 }) +
      `  backup:
    destination:
      url: s3://${BUCKET}/src
      endpoint: ${minio.endpoint}
      credentialsSecret: s3-creds
    rpo: 2s
    fullSnapshotInterval: 15s
    retention: { keepFull: 20 }
`;
    await env.kubectl(['apply', '-f', '-'], yaml);
    await eventually('src settled', async () => (settled(await kv('src'), 3) ? true : undefined), 300_000);
    timings['src create to Available (s)'] = seconds(Date.now() - t0);
    src = await env.connect('src');
    const service = env.serviceUrl('src');
    for (let i = 0; i < 40; i++) {
      const k = `pitr/a${i}`;
      assert.equal(await put(service, k, `A${i}`, src), 200);
      before1.set(k, `A${i}`);
    }
    cut = Date.now();
    await sleep(1500);
    for (let i = 0; i < 40; i++) {
      // Overwrites of half the first batch, and new keys.
      const k = i < 20 ? `pitr/a${i}` : `pitr/b${i}`;
      assert.equal(await put(service, k, `B${i}`, src), 200);
      after1.set(k, `B${i}`);
    }
    // The leader archives the last write within the RPO (2 s here): its /v1/status says so.
    const ta = Date.now();
    const leaderStatus = async () => {
      const leader = (await kv('src'))?.status?.leader;
      const pod = (await env.pods('app.kubernetes.io/instance=src')).find((p) => p.metadata?.name === leader);
      if (pod === undefined) return undefined;
      return (await src.request('GET', `${env.podUrl(pod)}/v1/status`)).json as {
        state: string;
        appliedIndex: number;
        backup?: { archivedIndex: number | null; uploading: boolean };
      };
    };
    const lastWrite = (await eventually('the leader', leaderStatus)).appliedIndex;
    await eventually(
      'the last write archived',
      async () => {
        const s = await leaderStatus();
        return s?.state === 'leader' && (s.backup?.archivedIndex ?? 0) >= lastWrite ? true : undefined;
      },
      60_000,
    );
    timings['last write to archived, polled on the leader every 0.5 s (s)'] = seconds(Date.now() - ta);
    const status = await eventually(
      'status.backup and BackupHealthy',
      async () => {
        const k = await kv('src');
        return condition(k, 'BackupHealthy') === 'True' &&
          (k?.status?.backup?.archivedIndex ?? 0) >= lastWrite
          ? k
          : undefined;
      },
      120_000,
    );
    assert.ok(status.status?.backup?.archivedTime !== undefined);
    assert.match(status.status?.backup?.lastFullSnapshot?.object ?? '', /^s3:\/\/kvbackup\/src\/snapshots\//);
    // Scheduled: a full snapshot at the leader's start, then every 15 s.
    const snaps = await eventually(
      'two scheduled full snapshots',
      async () => {
        const s = await objects('src/snapshots/');
        return s.length >= 2 ? s : undefined;
      },
      90_000,
    );
    assert.ok((await objects('src/segments/')).length > 0, 'segments archived');
    // No credential in the members' arguments or the cluster's status.
    const secretKey = minio.env['AWS_SECRET_ACCESS_KEY'] ?? 'missing';
    const sts = await env.kubectl(['-n', NS, 'get', 'statefulset', 'src', '-o', 'json']);
    assert.ok(!sts.includes(secretKey), 'no secret key in the StatefulSet');
    assert.ok(!JSON.stringify(status.status).includes(secretKey));
    console.log(`# scheduled snapshots in the bucket: ${snaps.length}`);
  });

  void test('the API server refuses a bad cron schedule and a schedule next to an interval', async () => {
    const patch = (backup: Record<string, unknown>, dryRun = true) =>
      env.kubectl([
        '-n',
        NS,
        'patch',
        'kvcluster',
        'src',
        '--type',
        'merge',
        ...(dryRun ? ['--dry-run=server'] : []),
        '-p',
        JSON.stringify({ spec: { backup } }),
      ]);
    await assert.rejects(patch({ fullSnapshotSchedule: '0 * * * *' }, false), /mutually exclusive/);
    await assert.rejects(
      patch({ fullSnapshotInterval: null, fullSnapshotSchedule: '61 * * * *' }),
      /fullSnapshotSchedule/,
    );
    await assert.rejects(
      patch({ fullSnapshotInterval: null, fullSnapshotSchedule: '0 * * *' }),
      /fullSnapshotSchedule/,
    );
    // Taken (a server-side dry run: src keeps its interval).
    await patch({ fullSnapshotInterval: null, fullSnapshotSchedule: '*/5 9-17 * * MON-FRI' });
    await patch({ fullSnapshotInterval: null, fullSnapshotSchedule: '@daily', retention: { keepDays: 14 } });
    await assert.rejects(patch({ retention: { keepDays: 0 } }), /keepDays/);
  });

  void test('a KVBackup takes a full snapshot now, through the leader, into the bucket', async () => {
    const before = new Set(await objects('src/snapshots/'));
    // A write just before, so the snapshot's index is new.
    assert.equal(await put(env.serviceUrl('src'), 'pitr/late', 'L', src), 200);
    after1.set('pitr/late', 'L');
    const t0 = Date.now();
    // `kubectl kv backup --wait` creates the KVBackup and follows it to Completed.
    const run = await kubectlKv(env, [
      'backup',
      'src',
      '-n',
      NS,
      '--name',
      'now',
      '--wait',
      '--wait-timeout',
      '2m',
    ]);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    timings['kubectl kv backup --wait (s)'] = seconds(Date.now() - t0);
    const b = (await env.custom.getNamespacedCustomObject({
      group: 'kvstore.io',
      version: 'v1alpha1',
      namespace: NS,
      plural: 'kvbackups',
      name: 'now',
    })) as BackupView;
    const s = b.status!;
    assert.equal(s.phase, 'Completed');
    assert.ok(
      run.stdout.includes(
        `kvbackup/now Completed: index ${s.index}, ${s.size} bytes, ${s.keys} keys, ${s.object}`,
      ),
      run.stdout,
    );
    assert.ok((s.size ?? 0) > 0 && (s.index ?? 0) > 0, JSON.stringify(s));
    assert.ok((s.keys ?? 0) >= 61, `keys ${s.keys}`);
    const key = s.object!.replace(`s3://${BUCKET}/`, '');
    assert.ok((await objects('src/snapshots/')).includes(key), `${key} is in the bucket`);
    assert.ok(!before.has(key) || (s.index ?? 0) > 0);
    const printed = await env.kubectl(['-n', NS, 'get', 'kvbackup', 'now']);
    assert.match(printed, /Completed/);
    // A KVBackup of a cluster without spec.backup fails with a reason.
    await env.kubectl(
      ['apply', '-f', '-'],
      `apiVersion: kvstore.io/v1alpha1\nkind: KVBackup\nmetadata: { name: nobucket, namespace: ${NS} }\nspec: { cluster: missing }\n`,
    );
    const pending = await eventually('KVBackup of a missing cluster waits', async () => {
      const o = (await env.custom.getNamespacedCustomObject({
        group: 'kvstore.io',
        version: 'v1alpha1',
        namespace: NS,
        plural: 'kvbackups',
        name: 'nobucket',
      })) as BackupView;
      return o.status?.phase === 'Pending' ? o : undefined;
    });
    assert.match(pending.status?.message ?? '', /not found/);
    // The plugin refuses at once what the operator would fail or wait on.
    const missing = await kubectlKv(env, ['backup', 'missing', '-n', NS]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /KVCluster .*missing not found/);
  });

  void test('a new KVCluster restored from the bucket to a point in time holds exactly the writes before it', async () => {
    const t0 = Date.now();
    const at = new Date(cut).toISOString();
    // --dry-run prints the KVCluster: the source's bucket, endpoint, credentials, root Secret.
    const dry = await kubectlKv(env, [
      'restore',
      'restored',
      '-n',
      NS,
      '--from',
      'src',
      '--to-time',
      at,
      '--dry-run',
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    const planned = loadYaml<{
      spec: { image?: string; bootstrap: { recovery: Record<string, unknown> }; backup?: unknown };
    }>(dry.stdout);
    assert.deepEqual(planned.spec.bootstrap.recovery, {
      source: { url: `s3://${BUCKET}/src`, endpoint: minio.endpoint, credentialsSecret: 's3-creds' },
      targetTime: at,
      rootSecret: 'src-root',
    });
    assert.equal(planned.spec.image, (await kv('src'))?.spec?.image);
    assert.equal(planned.spec.backup, undefined, 'the source archive prefix is not shared');
    assert.equal(await kv('restored'), undefined, '--dry-run creates nothing');
    const created = await kubectlKv(env, ['restore', 'restored', '-n', NS, '--from', 'src', '--to-time', at]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /kvcluster\/restored created: member 0 restores the state as of/);
    const k = await eventually(
      'restored settled with status.recovery',
      async () => {
        const c = await kv('restored');
        return settled(c, 3) && c?.status?.recovery !== undefined && condition(c, 'AuthReady') === 'True'
          ? c
          : undefined;
      },
      300_000,
    );
    timings['restore: create to Available with 3 voters (s)'] = seconds(Date.now() - t0);
    const r = k.status!.recovery!;
    assert.equal(
      r.keys,
      before1.size,
      `restored ${r.keys} keys, ${before1.size} were written before the cut`,
    );
    assert.ok(Date.parse(r.pointInTime) <= cut, `${r.pointInTime} is not after the cut`);
    assert.match(r.target, /^time /);
    const events = await env.kubectl([
      '-n',
      NS,
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=restored',
      '-o',
      'json',
    ]);
    assert.match(events, /"reason": "Restored"/);
    assert.match(events, new RegExp(`restored ${before1.size} keys at index ${r.index}`));
    const wide = await env.kubectl(['-n', NS, 'get', 'kvcluster', 'restored', '-o', 'wide']);
    assert.ok(wide.includes(String(r.index)), wide);

    // Content through the restored cluster's Service, with the source's root (rootSecret).
    const client = await env.connect('restored');
    const service = env.serviceUrl('restored');
    for (const [key, value] of before1) {
      const got = await get(service, key, client);
      assert.deepEqual(got, { status: 200, value }, key);
    }
    for (const key of after1.keys()) {
      if (before1.has(key)) continue;
      assert.equal((await get(service, key, client)).status, 404, `${key} was written after the cut`);
    }
    // The restored cluster is a new cluster: it takes writes, and its members hold them.
    assert.equal(await put(service, 'restored/new', 'yes', client), 200);
    assert.deepEqual(await get(service, 'restored/new', client), { status: 200, value: 'yes' });
    const srcId = (await kv('src'))?.status?.clusterId;
    assert.notEqual(k.status?.clusterId, srcId, 'a new cluster id');
  });
});
