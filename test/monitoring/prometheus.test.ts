// A real Prometheus scraping a real 3-member kv-store cluster on loopback (every second), with the
// shipped alert rules (their `for:` shortened to a few seconds, nothing else changed). Each main
// alert must fire under the fault it is for and clear once the fault is repaired:
//   one member killed  -> KVStoreMembersDown
//   two members killed -> KVStoreInsufficientMembers, KVStoreNoLeader (on the survivor)
//   all three killed   -> KVStoreAllMembersGone
// The static targets carry no label but the job: the rules must work from the node's own
// kvstore_member_info. Also: every dashboard query is valid against this Prometheus and returns
// data, "Members: ... down" counts a killed member, and the operator's members gauge keeps its
// labels when the scrape adds the operator pod's own `namespace` label.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { freePort, ProcCluster, sleep, waitFor } from '../integration/harness.ts';
import { findPrometheus, skipUnless } from './tools.ts';

const monitoring = path.resolve(import.meta.dirname, '../../manifests/monitoring');

/** The part of the operator's OperatorMetrics this test uses. */
interface OperatorRegistry {
  registry: { metrics(): Promise<string>; contentType: string };
  setMembers(namespace: string, cluster: string, counts: Record<'voter' | 'learner' | 'none', number>): void;
}

/** The operator's real registry (imported at run time: the operator is not part of test/'s TS project). */
async function operatorMetrics(): Promise<OperatorRegistry> {
  const file = path.resolve(import.meta.dirname, '../../operator/src/observability/metrics.ts');
  const mod = (await import(pathToFileURL(file).href)) as {
    OperatorMetrics: new (defaults: boolean) => OperatorRegistry;
  };
  return new mod.OperatorMetrics(false);
}
const prometheusBin = findPrometheus();
const skip = skipUnless(prometheusBin, 'prometheus', 'apt-get install prometheus');

/** The shipped rules with every `for:` set to `seconds` (the expressions are what is tested). */
export function shortenedRules(text: string, seconds: number): string {
  const out = text.replace(/^(\s+for: )\d+[smh]$/gm, `$1${seconds}s`);
  assert.notEqual(out, text, 'the rules have for: clauses');
  return out;
}

interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

class Prometheus {
  private proc: ChildProcess | null = null;
  url = '';

  private readonly bin: string;
  private readonly dir: string;

  constructor(bin: string, dir: string) {
    this.bin = bin;
    this.dir = dir;
  }

  async start(config: string, rules: string): Promise<void> {
    writeFileSync(path.join(this.dir, 'rules.yaml'), rules);
    writeFileSync(path.join(this.dir, 'prometheus.yml'), config);
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    const log = createWriteStream(path.join(this.dir, 'prometheus.log'));
    this.proc = spawn(
      this.bin,
      [
        `--config.file=${path.join(this.dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(this.dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc.stdout?.pipe(log);
    this.proc.stderr?.pipe(log);
    await waitFor(
      'prometheus ready',
      async () => (await fetch(`${this.url}/-/ready`)).ok || undefined,
      60_000,
    );
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  }

  async query(expr: string): Promise<PromSample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { result: PromSample[] } };
    if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error}`);
    return body.data?.result ?? [];
  }

  async alerts(): Promise<Alert[]> {
    const body = (await (await fetch(`${this.url}/api/v1/alerts`)).json()) as { data: { alerts: Alert[] } };
    return body.data.alerts;
  }

  async firing(name: string): Promise<Alert[]> {
    return (await this.alerts()).filter((a) => a.labels.alertname === name && a.state === 'firing');
  }

  /**
   * Waits until `name` fires with every series `wanted` asks for (and returns its alerts). The plain
   * and the labelled scrape jobs see a change at different scrapes, so their alerts fire at
   * different rule evaluations: waiting for the first one alone would race the second.
   */
  async untilFiring(
    name: string,
    wanted: (alerts: Alert[]) => boolean = (a) => a.length > 0,
    timeoutMs = 90_000,
  ): Promise<Alert[]> {
    return waitFor(
      `${name} firing`,
      async () => {
        const a = await this.firing(name);
        return a.length > 0 && wanted(a) ? a : undefined;
      },
      timeoutMs,
      500,
    );
  }

  /** Waits until none of `names` is pending or firing. */
  async untilClear(names: string[], timeoutMs = 90_000): Promise<void> {
    await waitFor(
      `${names.join(', ')} clear`,
      async () => {
        const active = (await this.alerts()).filter((a) => names.includes(a.labels.alertname ?? ''));
        return active.length === 0 || undefined;
      },
      timeoutMs,
      500,
    );
  }
}

const MAIN_ALERTS = [
  'KVStoreMembersDown',
  'KVStoreInsufficientMembers',
  'KVStoreNoLeader',
  'KVStoreAllMembersGone',
];

void describe('alerts and dashboards against a real Prometheus and a real cluster', { skip }, () => {
  let cluster: ProcCluster;
  let prom: Prometheus;
  let operatorServer: http.Server;
  let dir: string;
  let clusterId: string;
  const ids = ['m1', 'm2', 'm3'];

  before(async () => {
    assert.ok(prometheusBin, 'prometheus is required (KVSTORE_REQUIRE_MONITORING_TOOLS=1)');
    dir = mkdtempSync(path.join(tmpdir(), 'kv-prometheus-'));
    cluster = await ProcCluster.start(ids);
    clusterId = (await cluster.status('m1')).clusterId as string;
    // The operator's registry, served like the operator does, for the label test.
    const metrics = await operatorMetrics();
    metrics.setMembers('apps', 'demo', { voter: 3, learner: 0, none: 0 });
    operatorServer = http.createServer((_req, res) => {
      void metrics.registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text));
    });
    await new Promise<void>((r) => operatorServer.listen(0, '127.0.0.1', r));
    const operatorPort = (operatorServer.address() as AddressInfo).port;
    const targets = ids.map((id) => `'127.0.0.1:${cluster.node(id).port}'`).join(', ');
    const config = `global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [rules.yaml]
scrape_configs:
  - job_name: kv
    static_configs:
      - targets: [${targets}]
  # What the chart's PodMonitor produces: the KVCluster's namespace and name on every series.
  - job_name: kv-labelled
    static_configs:
      - targets: [${targets}]
        labels: { namespace: apps, kvcluster: demo }
  # The operator pod, with the namespace label Kubernetes service discovery adds.
  - job_name: operator
    static_configs:
      - targets: ['127.0.0.1:${operatorPort}']
        labels: { namespace: kv-store-system, pod: operator-0 }
`;
    prom = new Prometheus(prometheusBin, dir);
    await prom.start(
      config,
      shortenedRules(readFileSync(path.join(monitoring, 'kv-store-alerts.rules.yaml'), 'utf8'), 3),
    );
    await waitFor(
      'every target scraped',
      async () => {
        const up = await prom.query('up == 1');
        return up.length === 2 * ids.length + 1 || undefined;
      },
      60_000,
      500,
    );
  });

  after(async () => {
    await prom?.stop();
    await cluster?.close();
    await new Promise<void>((r) => (operatorServer ? operatorServer.close(() => r()) : r()));
    if (dir && process.env.KVSTORE_KEEP_TEST_DATA !== '1') rmSync(dir, { recursive: true, force: true });
  });

  void test('a healthy cluster: every member identified, no main alert', async () => {
    const info = await prom.query('kvstore_member_info{job="kv"}');
    assert.deepEqual(info.map((s) => s.metric.member).sort(), ids);
    for (const s of info) assert.equal(s.metric.cluster_id, clusterId);
    // Standard process metrics, for stock dashboards.
    assert.equal((await prom.query('process_resident_memory_bytes{job="kv"}')).length, ids.length);
    await sleep(5000); // longer than every shortened for:
    assert.deepEqual(
      (await prom.alerts()).filter((a) => MAIN_ALERTS.includes(a.labels.alertname ?? '')),
      [],
    );
  });

  void test('every dashboard query is valid here and returns data', async () => {
    const vars: Record<string, string> = {
      namespace: 'apps',
      kvcluster: 'demo',
      job: 'kv-labelled',
      instance: '.+',
      __rate_interval: '10s',
      datasource: '',
    };
    const operatorVars: Record<string, string> = { ...vars, job: 'operator' };
    // Panels whose series appear only once something happened (a failure, a snapshot, a slow apply),
    // or only on members that archive (kvstore_backup_*: this cluster runs without -backup-s3-url;
    // test/operator/monitoring.test.ts and the backup e2e cover those series).
    const eventOnly =
      /proposals_failed|snapshot_duration|slow_applies|heartbeat_send_failures|membership_operations|reconcile|kvstore_backup_/;
    for (const file of ['kv-store-cluster.json', 'kv-store-operator.json']) {
      const d = JSON.parse(readFileSync(path.join(monitoring, 'dashboards', file), 'utf8')) as {
        panels: { title: string; targets: { expr: string }[] }[];
      };
      const v = file.includes('operator') ? operatorVars : vars;
      for (const p of d.panels) {
        for (const t of p.targets) {
          const expr = t.expr.replace(/\$(\w+)/g, (_m, name: string) => v[name] ?? `$${name}`);
          const result = await prom.query(expr);
          if (
            !eventOnly.test(expr) &&
            !/kvstore_operator_(managed_clusters|is_leader|queue_depth)/.test(expr)
          )
            assert.ok(result.length > 0, `${file} "${p.title}": ${expr} returned nothing`);
        }
      }
    }
  });

  void test("the operator's members gauge keeps its labels next to the pod's namespace", async () => {
    const members = await prom.query('kvstore_operator_members{role="voter"}');
    assert.equal(members.length, 1);
    const labels = members[0]!.metric;
    assert.equal(labels.kvcluster_namespace, 'apps');
    assert.equal(labels.kvcluster, 'demo');
    assert.equal(labels.namespace, 'kv-store-system');
    assert.equal(labels.exported_namespace, undefined);
  });

  void test('one member killed: KVStoreMembersDown fires (quorum holds), the panel counts it, then clears', async () => {
    const leader = await cluster.waitForLeader();
    const victim = ids.find((id) => id !== leader)!;
    await cluster.kill9(victim);
    const alerts = await prom.untilFiring(
      'KVStoreMembersDown',
      (a) => a.some((x) => x.labels.kvcluster === undefined) && a.some((x) => x.labels.kvcluster === 'demo'),
    );
    const plain = alerts.find((a) => a.labels.kvcluster === undefined);
    assert.equal(plain?.labels.cluster_id, clusterId, JSON.stringify(alerts));
    const labelled = alerts.find((a) => a.labels.kvcluster === 'demo');
    assert.equal(labelled?.labels.namespace, 'apps', JSON.stringify(alerts));
    // The "Members: with a leader, without, down" panel's down query.
    const down = await prom.query(
      'count(up{namespace="apps",kvcluster="demo",job=~"kv-labelled",instance=~".+"} == 0) or vector(0)',
    );
    assert.equal(down[0]?.value[1], '1');
    assert.deepEqual(await prom.firing('KVStoreInsufficientMembers'), []);
    assert.deepEqual(await prom.firing('KVStoreAllMembersGone'), []);
    cluster.spawn(victim);
    await cluster.waitForLeader(30_000);
    await prom.untilClear(MAIN_ALERTS);
  });

  void test('two members killed: KVStoreInsufficientMembers and KVStoreNoLeader fire, then clear', async () => {
    const [survivor, ...victims] = ids as [string, ...string[]];
    for (const v of victims) await cluster.kill9(v);
    const plainSeries = (a: Alert): boolean =>
      a.labels.cluster_id === clusterId && a.labels.kvcluster === undefined;
    const insufficient = await prom.untilFiring('KVStoreInsufficientMembers', (a) => a.some(plainSeries));
    assert.ok(insufficient.some(plainSeries));
    const noLeader = await prom.untilFiring('KVStoreNoLeader', (a) =>
      a.some((x) => x.labels.member === survivor && x.labels.cluster_id === clusterId),
    );
    const survivorPort = String(cluster.node(survivor).port);
    assert.ok(
      noLeader.every((a) => a.labels.instance?.endsWith(`:${survivorPort}`)),
      JSON.stringify(noLeader),
    );
    assert.ok(noLeader.some((a) => a.labels.member === survivor && a.labels.cluster_id === clusterId));
    for (const v of victims) cluster.spawn(v);
    await cluster.waitForLeader(30_000);
    await prom.untilClear(MAIN_ALERTS);
  });

  void test('every member gone: KVStoreAllMembersGone fires, then clears when the cluster is back', async () => {
    for (const id of ids) await cluster.kill9(id);
    const gone = await prom.untilFiring('KVStoreAllMembersGone', (a) =>
      a.some((x) => x.labels.cluster_id === clusterId),
    );
    assert.ok(
      gone.some((a) => a.labels.cluster_id === clusterId),
      JSON.stringify(gone),
    );
    for (const id of ids) cluster.spawn(id);
    await cluster.waitForLeader(30_000);
    await prom.untilClear(MAIN_ALERTS);
  });
});
