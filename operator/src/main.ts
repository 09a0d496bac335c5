// The kv-store operator process: leader election on a Lease, informers feeding a de-duplicating
// work queue, workers running the reconciler, and an HTTP server for /healthz, /readyz and
// /metrics. Configuration through environment variables (see charts/kv-store-operator).
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { ClientKube } from './kube/kube.ts';
import { configSource, OPERATOR_USAGE } from './kube/config-source.ts';
import { WorkQueue } from './controller/queue.ts';
import { LeaderElector } from './controller/leader-election.ts';
import { backupKey, makeInformers } from './controller/informers.ts';
import { KVBackupReconciler } from './backup/kvbackup.ts';
import type { ResilientInformer } from './controller/informers.ts';
import { createLogger } from './observability/log.ts';
import type { Level } from './observability/log.ts';
import { OperatorMetrics } from './observability/metrics.ts';
import { HttpNodeAdmin } from './reconcile/nodeclient.ts';
import { Reconciler, defaultOperatorPeer } from './reconcile/reconciler.ts';

const env = process.env;
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(OPERATOR_USAGE);
  process.exit(0);
}
if (args.length > 0) {
  process.stderr.write(`kv-store-operator: unexpected argument ${JSON.stringify(args[0])} (see --help)\n`);
  process.exit(2);
}
const source = configSource(env, existsSync);
if (source.kind === 'none') {
  process.stderr.write(`kv-store-operator: ${source.message}\n`);
  process.exit(1);
}
const config = {
  identity: env.POD_NAME ?? `${hostname()}-${process.pid}`,
  leaseNamespace: env.POD_NAMESPACE ?? env.LEASE_NAMESPACE ?? 'default',
  leaseName: env.LEASE_NAME ?? 'kv-store-operator',
  watchNamespace: env.WATCH_NAMESPACE ?? '',
  httpPort: Number(env.HTTP_PORT ?? 8081),
  httpHost: env.HTTP_HOST ?? '0.0.0.0',
  workers: Number(env.WORKERS ?? 2),
  logLevel: (env.LOG_LEVEL ?? 'info') as Level,
};

const log = createLogger(config.logLevel, { component: 'kv-store-operator' });
const metrics = new OperatorMetrics();
/**
 * In a pod: the ServiceAccount directory (KUBE_SA_DIR, default the standard mount path; keeping
 * it explicit lets a runtime that mounts volumes elsewhere rewrite it). Otherwise KUBECONFIG or
 * ~/.kube/config (config-source.ts decided which, or refused to start).
 */
function loadKubeConfig(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (source.kind === 'service-account') {
    const { dir, host } = source;
    const server = `https://${host.includes(':') ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`;
    kc.loadFromOptions({
      clusters: [{ name: 'in-cluster', server, caFile: `${dir}/ca.crt`, skipTLSVerify: false }],
      users: [
        {
          name: 'service-account',
          authProvider: { name: 'tokenFile', config: { tokenFile: `${dir}/token` } },
        },
      ],
      contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'service-account' }],
      currentContext: 'in-cluster',
    });
  } else {
    kc.loadFromDefault();
  }
  return kc;
}
const kc = loadKubeConfig();
const kube = new ClientKube(kc);
const queue = new WorkQueue();
const reconciler = new Reconciler({
  kube,
  node: new HttpNodeAdmin(),
  log,
  metrics,
  // The cluster NetworkPolicies admit the operator's pods (this namespace, the chart's name label).
  operatorPeer: defaultOperatorPeer(env.POD_NAMESPACE ?? 'kv-store-system'),
});
const backups = new KVBackupReconciler({
  kube,
  log,
  leaderAccess: (ns, name) => reconciler.leaderAccess(ns, name),
});
let informers: ResilientInformer[] = [];
let shuttingDown = false;

async function worker(): Promise<void> {
  while (true) {
    const key = await queue.get();
    if (key === undefined) return;
    metrics.queueDepth.set(queue.len());
    const [namespace = '', name = '', kind] = key.split('/');
    const end = metrics.reconcileDuration.startTimer();
    if (kind === 'KVBackup') {
      try {
        const res = await backups.reconcile(namespace, name);
        queue.forget(key);
        if (res.requeueAfterMs > 0) queue.addAfter(key, res.requeueAfterMs);
      } catch (err) {
        log.warn('KVBackup reconcile failed', { backup: key, error: err });
        queue.addRateLimited(key);
      } finally {
        end();
        queue.done(key);
      }
      continue;
    }
    try {
      const res = await reconciler.reconcile(namespace, name);
      queue.forget(key);
      if (res.requeueAfterMs > 0) queue.addAfter(key, res.requeueAfterMs);
      metrics.reconciles.inc({
        result: res.step === undefined || res.step.kind === 'nothing' ? 'success' : 'requeue',
      });
    } catch (err) {
      metrics.reconciles.inc({ result: 'error' });
      log.warn('reconcile failed', { cluster: key, error: err, retries: queue.retries(key) });
      queue.addRateLimited(key);
    } finally {
      end();
      queue.done(key);
      metrics.managedClusters.set(reconciler.managedClusters());
      metrics.queueDepth.set(queue.len());
    }
  }
}

function startControllers(): void {
  informers = makeInformers(
    kc,
    config.watchNamespace,
    (ns, name) => queue.add(`${ns}/${name}`),
    log,
    (ns, name) => queue.add(backupKey(ns, name)),
  );
  for (const inf of informers) void inf.start(); // start() logs and retries its own failures
  for (let i = 0; i < config.workers; i++) {
    worker().catch((err: unknown) => log.error('worker crashed', { error: err }));
  }
}

const elector = new LeaderElector({
  kube,
  log,
  namespace: config.leaseNamespace,
  name: config.leaseName,
  identity: config.identity,
  onStartedLeading: () => {
    metrics.isLeader.set(1);
    startControllers();
  },
  onStoppedLeading: () => {
    // Another replica may be acting now: stop at once; Kubernetes restarts us as a follower.
    metrics.isLeader.set(0);
    log.error('leadership lost; exiting');
    process.exit(1);
  },
});

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/healthz' || path === '/livez') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
  } else if (path === '/readyz') {
    // Ready when serving; a follower replica is ready too (it stands by for the Lease).
    const ready = !shuttingDown && (!elector.isLeader() || informers.every((i) => i.synced()));
    res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ok\n' : 'not ready\n');
  } else if (path === '/metrics') {
    metrics.registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  } else {
    res
      .writeHead(404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { code: 'not-found', message: 'no such path' } }));
  }
});

async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  log.info('shutting down', { signal });
  queue.shutdown();
  await Promise.allSettled(informers.map((i) => i.stop()));
  await elector.stop();
  server.close();
  process.exit(0);
}

server.on('error', (err) => {
  log.error('http server failed', { error: err, host: config.httpHost, port: config.httpPort });
  process.exit(1);
});
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
server.listen(config.httpPort, config.httpHost, () => {
  log.info('operator started', { ...config });
  elector.start();
});
