// -listen-metrics-addr (ADR 0074, after etcd's --listen-metrics-urls): /metrics, /livez and
// /readyz on a port of their own, plain HTTP and open, for kubelet probes and scrapers when the
// client port requires client certificates (-client-cert-auth). Nothing else is served there: the
// same koa app answers these three routes, anything else is 404 before it reaches the app.
import http from 'node:http';
import type { HostPort } from '../cli/flags.ts';
import type { KvApp } from './app.ts';
import { gracefulClose, HEADERS_TIMEOUT_MS, listen, onClientError, type RunningServer } from './server.ts';

const SERVED = new Set(['/metrics', '/livez', '/readyz']);

function pathOf(url: string | undefined): string {
  const q = (url ?? '/').indexOf('?');
  return q < 0 ? (url ?? '/') : (url ?? '/').slice(0, q);
}

export async function startMetricsServer(app: KvApp, addr: HostPort): Promise<RunningServer> {
  const handle = app.callback();
  const server = http.createServer(
    { requestTimeout: 30_000, headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 1000 },
    (req, res) => {
      if ((req.method === 'GET' || req.method === 'HEAD') && SERVED.has(pathOf(req.url))) {
        void handle(req, res);
        return;
      }
      const body = JSON.stringify({
        error: {
          code: 'not-found',
          message: 'metrics port: only /metrics, /livez and /readyz are served here',
        },
      });
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(body);
    },
  );
  server.on('clientError', onClientError);
  // No peer streams here: an upgrade request is closed.
  server.on('upgrade', (_req, socket) => socket.destroy());
  const address = await listen(server, addr);
  return { server, address, close: gracefulClose(server, () => app.closing.abort()) };
}
