// An HTTP worker (docs/adr/0063): the same koa app and listener as the in-thread path, on the
// client port shared with the other workers (reusePort), over a RemoteKvService. Logs go to the
// Raft thread's sink, metrics are collected there on demand, TLS files come from there.
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { LoginLimiter } from '../../auth/login-limiter.ts';
import { createLogger } from '../../logger.ts';
import { createMetrics } from '../../metrics.ts';
import { createApp } from '../app.ts';
import { certificateUser } from '../certificate-user.ts';
import { startHttpServer, type ServerTlsFiles, type TlsSource, type UpgradeHandler } from '../server.ts';
import type { ToHost, ToWorker, WorkerInit } from './protocol.ts';
import { RemoteKvService } from './remote-service.ts';

const port = parentPort;
if (!port) throw new Error('worker.ts runs as a worker thread');
const init = workerData as WorkerInit;
const post = (m: ToHost): void => port.postMessage(m);

const log = createLogger({ level: init.logLevel, write: (line) => post({ t: 'log', line }) }).child({
  member: init.memberId,
  httpWorker: init.index,
});
// Only HTTP metrics move here; process metrics are the Raft thread's (one process).
const metrics = createMetrics({ defaultMetrics: false });
const service = new RemoteKvService(post, init.shared, init.authPort, init.initialAuth);

const app = createApp(service, {
  metrics,
  logger: log,
  metricsText: () => service.metrics(),
  ...(init.auth
    ? {
        auth: {
          gate: {
            auth: () => service.auth(),
            now: Date.now,
            ...(init.tls !== null && init.tls.clientCerts !== 'none' ? { certificateUser } : {}),
          },
          backend: {
            auth: () => service.auth(),
            proposeAuth: (c, caller) => service.proposeAuth(c, caller),
            barrier: () => service.barrier(),
            now: Date.now,
            limiter: new LoginLimiter(),
          },
        },
      }
    : {}),
});

/** Peer streams on the client port: a byte pipe to the Raft thread's loopback peer listener. */
function upgradePipe(target: number): UpgradeHandler {
  return {
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
      const upstream = net.connect({ host: '127.0.0.1', port: target });
      const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.setNoDelay(true);
      (socket as net.Socket).setNoDelay?.(true);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.byteLength > 0) upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
      const end = (): void => {
        socket.destroy();
        upstream.destroy();
      };
      upstream.on('error', end);
      upstream.on('close', end);
      socket.on('error', end);
      socket.on('close', end);
      return true;
    },
  };
}

let tlsSource: (TlsSource & { set(f: ServerTlsFiles): void }) | undefined;
if (init.tls) {
  let current = init.tls.files;
  const listeners: ((m: ServerTlsFiles) => void)[] = [];
  tlsSource = {
    get current() {
      return current;
    },
    onChange: (fn) => listeners.push(fn),
    set(f) {
      current = f;
      for (const l of listeners) l(f);
    },
  };
}

const running = await startHttpServer(
  app,
  init.listen,
  init.upgradePort === null ? null : upgradePipe(init.upgradePort),
  init.tls && tlsSource ? { material: tlsSource, clientCerts: init.tls.clientCerts } : undefined,
  true,
);

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'replies':
      service.onReplies(m.replies);
      return;
    case 'tls':
      tlsSource?.set(m.files);
      return;
    case 'metrics':
      void metrics.registry.getMetricsAsJSON().then((json) => post({ t: 'metrics', rid: m.rid, json }));
      return;
    case 'close':
      void running.close(m.deadlineMs).then(() => {
        service.failAll('the node is shutting down');
        post({ t: 'closed' });
        port.close();
      });
      return;
  }
});
// Auth updates queue on their port until a request looks; an idle worker takes them too, so that
// queue stays as short as the changes of one second.
setInterval(() => service.auth(), 1000).unref();
post({ t: 'listening', port: running.address.port });
