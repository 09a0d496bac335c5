// The kv-store process: parse flags, open the node, serve HTTP (clients and
// peers on one port unless -peer-addr is given), shut down gracefully.
import { FenceFile } from './server/fence.ts';
import { DEFAULT_HTTP_WORKERS, helpText, parseFlags, type NodeOptions } from './cli/flags.ts';
import { isKvError } from './errors.ts';
import { LoginLimiter } from './auth/login-limiter.ts';
import { createApp } from './http/app.ts';
import {
  startHttpServer,
  startPeerServer,
  type ClientCertMode,
  type RunningServer,
  type ServerTls,
} from './http/server.ts';
import { FORWARDED_USER_HEADER } from './http/request-context.ts';
import { startMetricsServer } from './http/metrics-listener.ts';
import { HttpWorkerHost } from './http/workers/host.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { Archiver } from './backup/archiver.ts';
import { parseS3Url } from './backup/archive-layout.ts';
import { ObjectStore } from './backup/s3.ts';
import { readRestoreInfo } from './backup/restore-info.ts';
import { heapGrowthPolicyWanted, startHeapGrowthPolicy } from './runtime/heap-growth.ts';
import { KvNode, type KvNodeOptions } from './server/kv-node.ts';
import { httpsForwarder } from './security/https-forwarder.ts';
import { forwardingMemberOf } from './security/peer-identity.ts';
import { ReloadingTls, TlsConfigError, type TlsMaterial } from './security/tls-material.ts';
import { certificateUser } from './http/certificate-user.ts';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { CorruptionError, DataDirError } from './storage/errors.ts';
import { runForceNewCluster } from './cli/force-new-cluster-cmd.ts';
import { createDegradedApp } from './http/degraded-app.ts';
import { recordForceRequest } from './server/force-request.ts';

const SHUTDOWN_DEADLINE_MS = 8000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

/** How often certificate files are polled for a rotation (KVSTORE_TLS_POLL_MS, for tests). */
function tlsPollMs(): number {
  const v = Number(process.env.KVSTORE_TLS_POLL_MS ?? '2000');
  return Number.isFinite(v) && v >= 10 ? v : 2000;
}

interface Tls {
  client: ReloadingTls | null;
  peer: ReloadingTls | null;
}

/** Loads the TLS files named by the flags (TlsConfigError names the bad file). */
function loadTls(cfg: NodeOptions, log: Logger): Tls {
  const o = {
    pollMs: tlsPollMs(),
    onError: (e: Error) =>
      log.warn('new TLS files not taken; keeping the current ones', { error: e.message }),
  };
  const c = cfg.tls.client;
  const p = cfg.tls.peer;
  const client = c
    ? new ReloadingTls(
        { certFile: c.certFile, keyFile: c.keyFile, ...(c.trustedCaFile ? { caFile: c.trustedCaFile } : {}) },
        o,
      )
    : null;
  const peer = p
    ? new ReloadingTls({ certFile: p.certFile, keyFile: p.keyFile, caFile: p.trustedCaFile }, o)
    : null;
  for (const r of [client, peer]) {
    r?.onChange((m) =>
      log.info('TLS files reloaded', {
        certFile: r.files.certFile,
        notAfter: m.leaf.validTo,
        cas: m.cas.length,
      }),
    );
    r?.start();
  }
  return { client, peer };
}

/** -client-cert-auth: mandatory; -trusted-ca-file alone: verified when presented (ADR 0074). */
function clientCertMode(cfg: NodeOptions): ClientCertMode {
  const c = cfg.tls.client;
  if (c?.clientCertAuth === true) return 'required';
  return c?.trustedCaFile != null ? 'optional' : 'none';
}

/** With a client CA bundle and peer TLS: the member whose peer certificate a client connection presented. */
function forwardingMember(
  peer: () => TlsMaterial,
  memberIds: () => string[],
): (req: IncomingMessage) => string | null {
  return (req) => {
    const socket = req.socket as TLSSocket;
    if (socket.authorized !== true) return null;
    const cert = socket.getPeerX509Certificate?.();
    return cert ? forwardingMemberOf(cert, peer().cas, memberIds()) : null;
  };
}

function nodeOptions(o: NodeOptions): KvNodeOptions {
  return {
    id: o.id,
    dataDir: o.dataDir,
    clientUrl: o.clientUrl,
    peerUrl: o.peerUrl,
    // The seed's -peers gives one address per peer: it serves both their client API and peer traffic.
    peers: o.peers.map((p) => ({ id: p.id, peerUrl: p.peerUrl, clientUrl: p.peerUrl })),
    join: o.join,
    tickMs: o.tickMs,
    electionTicks: o.electionTicks,
    snapshotThreshold: o.snapshotThreshold,
    maxSnapshotBytes: o.maxSnapshotBytes,
    clusterToken: process.env.KVSTORE_CLUSTER_TOKEN ?? '',
    proposalTimeoutMs: 10_000,
    readTimeoutMs: 5_000,
    unsafeLocalReads: process.env.KVSTORE_DEBUG_UNSAFE_LOCAL_READS === '1',
  };
}

/** What an operator can do about a refused data directory (docs/adr/0066). */
function dataDirHint(e: DataDirError | CorruptionError, id: string): string {
  const replace =
    `; replace the member: remove it (DELETE /v1/cluster/members/${id} on a live member), ` +
    'add it back as a learner (POST /v1/cluster/members) and start it with -join on an empty data directory';
  if (e instanceof CorruptionError) return replace;
  switch (e.code) {
    case 'cluster-id-mismatch':
      return ' (the -id/-peers flags describe a different cluster than the one this data belongs to)';
    case 'lost-state':
      return replace;
    default:
      return '';
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'force-new-cluster') {
    process.exit(await runForceNewCluster(process.argv.slice(3), (l) => void process.stdout.write(l + '\n')));
  }
  const parsed = parseFlags(process.argv.slice(2));
  if (!parsed.ok) {
    if (parsed.help) {
      process.stdout.write(helpText);
      process.exit(0);
    }
    process.stderr.write(`kv-store: ${parsed.error} (see kv-store --help)\n`);
    process.exit(2);
  }
  const cfg = parsed.config;
  const log = createLogger({ level: cfg.logLevel }).child({ member: cfg.id });
  const metrics = createMetrics();
  const opts = nodeOptions(cfg);
  let tls: Tls;
  try {
    tls = loadTls(cfg, log);
  } catch (e) {
    if (e instanceof TlsConfigError) {
      process.stderr.write(`kv-store: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  const peerTls = tls.peer;
  const clientTls = tls.client;
  if (peerTls) opts.peerTls = () => peerTls.current;
  if (clientTls) {
    // The leader's client API is verified with our client CA (else the peer CA). This member
    // presents its peer certificate where the leader needs it: always with -client-cert-auth, and
    // when it vouches for a caller it verified by certificate (the leader believes that only from a
    // member's certificate). Otherwise it presents none, so a token is not mixed with its own CN.
    const clientCertAuth = cfg.tls.client?.clientCertAuth === true;
    opts.forwarder = httpsForwarder({
      ca: () => clientTls.current.ca ?? peerTls?.current.ca,
      identity: (headers) =>
        peerTls && (clientCertAuth || headers[FORWARDED_USER_HEADER] !== undefined)
          ? { cert: peerTls.current.cert, key: peerTls.current.key }
          : null,
    });
  }
  if (heapGrowthPolicyWanted(process.env, process.execArgv)) {
    startHeapGrowthPolicy((percent, liveBytes) =>
      log.info(
        percent > 0 ? 'large heap: limiting heap growth' : 'heap no longer large: V8 chooses heap growth',
        {
          heapGrowingPercent: percent,
          liveHeapMiB: Math.round(liveBytes / 2 ** 20),
        },
      ),
    );
  }
  if (opts.unsafeLocalReads)
    log.warn('KVSTORE_DEBUG_UNSAFE_LOCAL_READS=1: reads are NOT linearizable (testing only)');

  if (cfg.fenceFile !== undefined) {
    const fence = new FenceFile({ path: cfg.fenceFile, id: cfg.id, log });
    await fence.poll(); // fenced from the first request on, not after the first poll
    fence.start();
    opts.fenced = () => fence.fenced;
  }
  let node: KvNode;
  try {
    node = await KvNode.open(opts, log, metrics);
  } catch (e) {
    const dataState = e instanceof CorruptionError ? 'corrupt' : isLostState(e) ? 'lost' : null;
    if (dataState !== null && e instanceof Error) {
      // Serve the reason to the operator rather than exit into a crash loop (docs/adr/0077).
      const reason = `${e.message}${dataDirHint(e as DataDirError | CorruptionError, cfg.id)}`;
      log.error('data directory refused: serving only /v1/status and /metrics', { dataState, reason });
      process.stderr.write(`kv-store: cannot use data directory ${cfg.dataDir}: ${reason}\n`);
      const app = createDegradedApp({ id: cfg.id, clusterId: '', dataState, dataReason: reason }, metrics);
      const server = await startHttpServer(app, cfg.listen, null, clientTlsOf(cfg, clientTls));
      // Probes and scrapers on the metrics port must see the degraded state too.
      const metricsServer = cfg.metricsListen ? [await startMetricsServer(app, cfg.metricsListen)] : [];
      installShutdown(null, [server, ...metricsServer], log, null);
      return;
    }
    if (e instanceof DataDirError || e instanceof CorruptionError) {
      process.stderr.write(
        `kv-store: cannot use data directory ${cfg.dataDir}: ${e.message}${dataDirHint(e, cfg.id)}\n`,
      );
      process.exit(1);
    }
    throw e;
  }
  metrics.setIdentity(() => ({ clusterId: node.clusterId(), member: cfg.id }));
  metrics.setDataDir(cfg.dataDir);
  const servers: Pick<RunningServer, 'close'>[] = [];
  // Set once the archiver runs (after the node starts); POST /v1/cluster/backup asks it.
  const archiverRef: { current: (Archiver & { bucketUrl: string }) | null } = { current: null };
  const clientServerTls = clientTlsOf(cfg, clientTls);
  const verifiesClientCerts = clientServerTls !== undefined && clientServerTls.clientCerts !== 'none';
  let shutdown: (signal: string) => void = () => undefined;
  const httpWorkers = cfg.httpWorkers ?? DEFAULT_HTTP_WORKERS;
  if (httpWorkers > 0) {
    // Not yet served by workers (docs/adr/0063): say so at start rather than surprise with a 404 or 401.
    log.warn(
      'HTTP workers do not serve GET /v1/cluster/snapshot, nor carry certificate-only callers across a forward',
      {
        httpWorkers,
      },
    );
    // Peer streams that reach a worker on the shared client port are piped to this thread.
    const upgrade = cfg.peerListen === null ? await startPeerServer('127.0.0.1:0', node.transport) : null;
    if (upgrade) servers.push(upgrade);
    const host = new HttpWorkerHost(node, metrics, log, {
      count: httpWorkers,
      memberId: cfg.id,
      logLevel: cfg.logLevel,
      listen: cfg.listen,
      tls: clientServerTls ?? null,
      auth: true,
      upgradePort: upgrade?.address.port ?? null,
      writeLog: (line) => void process.stderr.write(line),
    });
    await host.start();
    servers.unshift(host.server);
  } else {
    const app = createApp(node, {
      metrics,
      logger: log,
      snapshot: node,
      forceNewCluster: {
        requestForce: (requestId) => recordForceRequest(node, cfg.dataDir, requestId, log),
        afterAccepted: () => shutdown('force-new-cluster'),
      },
      backup: { archiver: () => archiverRef.current },
      auth: {
        gate: {
          auth: () => node.auth,
          now: Date.now,
          ...(verifiesClientCerts ? { certificateUser } : {}),
          ...(verifiesClientCerts && peerTls
            ? {
                forwardingMember: forwardingMember(
                  () => peerTls.current,
                  () => {
                    const cs = node.raftStatus().confState;
                    return [...cs.voters, ...cs.learners];
                  },
                ),
              }
            : {}),
        },
        backend: {
          auth: () => node.auth,
          proposeAuth: (c, caller) => node.proposeAuth(c, caller),
          barrier: () => node.barrier(),
          now: Date.now,
          limiter: new LoginLimiter(),
        },
      },
    });
    servers.push(
      await startHttpServer(
        app,
        cfg.listen,
        cfg.peerListen === null ? node.transport : null,
        clientServerTls,
      ),
    );
  }
  if (cfg.peerListen) {
    servers.push(
      await startPeerServer(
        cfg.peerListen,
        node.transport,
        peerTls ? { material: peerTls, clientCerts: 'required' } : undefined,
      ),
    );
  }
  if (cfg.metricsListen)
    servers.push(await startMetricsServer(createApp(node, { metrics, logger: log }), cfg.metricsListen));
  node.start();
  const archiver = startArchiver(cfg, node, log, metrics);
  archiverRef.current = archiver === null ? null : Object.assign(archiver, { bucketUrl: cfg.backup!.url });
  node.setBackupStatus(archiver === null ? null : () => archiver.status());
  node.setRestoredFrom(await readRestoreInfo(cfg.dataDir));
  log.info('kv-store started', {
    listen: `${cfg.listen.host || '0.0.0.0'}:${cfg.listen.port}`,
    clientUrl: cfg.clientUrl,
    peerUrl: cfg.peerUrl,
    dataDir: cfg.dataDir,
    httpWorkers,
  });
  shutdown = installShutdown(node, servers, log, archiver);
}

function clientTlsOf(cfg: NodeOptions, clientTls: ReloadingTls | null): ServerTls | undefined {
  return clientTls ? { material: clientTls, clientCerts: clientCertMode(cfg) } : undefined;
}

function isLostState(e: unknown): boolean {
  return e instanceof DataDirError && e.code === 'lost-state';
}

/** Continuous archiving (docs/adr/0070): every member runs it; only the leader uploads. */
function startArchiver(cfg: NodeOptions, node: KvNode, log: Logger, metrics: Metrics): Archiver | null {
  if (!cfg.backup) return null;
  const b = cfg.backup;
  const archiver = new Archiver({
    store: new ObjectStore({ ...parseS3Url(b.url), ...(b.endpoint ? { endpoint: b.endpoint } : {}) }),
    source: node.archiveSource(),
    log: log.child({ component: 'archive' }),
    registry: metrics.registry,
    rpoMs: b.rpoMs,
    fullEveryMs: b.fullEveryMs,
    fullSchedule: b.fullSchedule,
    keepFull: b.keepFull,
    keepAgeMs: b.keepAgeMs,
  });
  archiver.start();
  log.info('archiving to S3 while leader', { url: b.url, endpoint: b.endpoint, rpoMs: b.rpoMs });
  return archiver;
}

function installShutdown(
  node: KvNode | null,
  servers: Pick<RunningServer, 'close'>[],
  log: Logger,
  archiver: Archiver | null,
): (signal: string) => void {
  let shuttingDown = false;
  const shutdown = (signal: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info('shutting down', { signal });
    const hardStop = setTimeout(() => {
      log.error('graceful shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    hardStop.unref();
    void (async () => {
      // Stop accepting and let in-flight client requests finish; peer streams stay up so the
      // leader can hand over, then the node closes them and its storage.
      const closing = Promise.all(servers.map((s) => s.close(SHUTDOWN_DEADLINE_MS / 4)));
      await Promise.race([closing, sleep(SHUTDOWN_DEADLINE_MS / 4)]);
      // An upload in flight finishes (or fails) first; the next leader resumes after what landed.
      await Promise.race([archiver?.stop(), sleep(SHUTDOWN_DEADLINE_MS / 4)]);
      await node?.stop();
      await closing;
      log.info('stopped cleanly');
      process.exit(0);
    })().catch((e: unknown) => {
      log.error('error during shutdown', { error: String(e) });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return shutdown;
}

main().catch((e: unknown) => {
  const msg = isKvError(e) || e instanceof Error ? (e.stack ?? e.message) : String(e);
  process.stderr.write(`kv-store: ${msg}\n`);
  process.exit(1);
});
