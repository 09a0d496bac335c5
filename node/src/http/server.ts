// The node:http server around the koa app. Peer streams arrive on the same server as
// HTTP Upgrade requests and are handed to the transport.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { HostPort } from '../cli/flags.ts';
import type { KvApp } from './app.ts';
import type { TlsMaterial } from '../security/tls-material.ts';

/** What a listener needs of TLS material: the files in use, and news of a rotation. */
export type ServerTlsFiles = Pick<TlsMaterial, 'cert' | 'key' | 'ca'>;
export interface TlsSource {
  readonly current: ServerTlsFiles;
  onChange(fn: (m: ServerTlsFiles) => void): void;
}

/**
 * Client certificates on a listener (ADR 0068, ADR 0074):
 * - `none`: none is asked for (no CA bundle);
 * - `optional`: one is asked for; a presented certificate must chain to the CA bundle (else the
 *   connection is closed before any request is read), a connection without one goes on and
 *   authenticates with a token (kubelet probes, Prometheus, password clients);
 * - `required`: a certificate chaining to the bundle is mandatory (-client-cert-auth, peer port).
 */
export type ClientCertMode = 'none' | 'optional' | 'required';

/** TLS for a listener: the material (re-read on change) and what it asks of client certificates. */
export interface ServerTls {
  /** A ReloadingTls on the Raft thread; in an HTTP worker, the copy the Raft thread sends (workers/). */
  material: TlsSource;
  clientCerts: ClientCertMode;
}

function secureOptions(m: ServerTlsFiles, mode: ClientCertMode): https.ServerOptions {
  return {
    cert: m.cert,
    key: m.key,
    ...(mode !== 'none' && m.ca !== undefined ? { ca: m.ca } : {}),
  };
}

/** A TLS connection that presented a certificate the CA bundle does not verify (expired, other CA). */
function presentedInvalidCertificate(socket: TLSSocket): boolean {
  return socket.authorized !== true && socket.getPeerX509Certificate() !== undefined;
}

/** An http or https server with the same options; with TLS, a new file set applies to new connections. */
function createServer(
  options: http.ServerOptions,
  handler: http.RequestListener,
  tls: ServerTls | undefined,
): http.Server {
  if (!tls) return http.createServer(options, handler);
  const mode = tls.clientCerts;
  const guarded: http.RequestListener =
    mode === 'optional'
      ? (req, res) => {
          // Belt and braces: the connection is closed at 'secureConnection' already.
          if (presentedInvalidCertificate(req.socket as TLSSocket)) req.socket.destroy();
          else handler(req, res);
        }
      : handler;
  const server = https.createServer(
    {
      ...options,
      ...secureOptions(tls.material.current, mode),
      requestCert: mode !== 'none',
      // Node then closes a connection without a valid certificate as soon as the handshake ends.
      rejectUnauthorized: mode === 'required',
    },
    guarded,
  );
  if (mode === 'optional') {
    // The same check Node makes with rejectUnauthorized, but only for a certificate that was
    // presented: a wrong one is never mistaken for "no certificate, use a token".
    server.on('secureConnection', (socket: TLSSocket) => {
      if (presentedInvalidCertificate(socket)) socket.destroy();
    });
  }
  // Rotation: established connections keep their session; new handshakes use the new set.
  tls.material.onChange((m) => server.setSecureContext(secureOptions(m, mode)));
  // A handshake failure (no certificate, wrong CA, expired, plain HTTP) just closes that connection.
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  return server;
}

/** What the server needs from the peer transport. */
export interface UpgradeHandler {
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean;
}

export interface RunningServer {
  server: http.Server;
  /** The bound address (the real port when 0 was asked for). */
  address: AddressInfo;
  /**
   * Graceful close: stop accepting, end blocking watches, let in-flight requests finish,
   * and after `deadlineMs` drop whatever is left. Resolves when the listener is closed.
   */
  close(deadlineMs?: number): Promise<void>;
}

function listenArgs(addr: HostPort | string): HostPort {
  if (typeof addr !== 'string') return addr;
  const colon = addr.lastIndexOf(':');
  const host = addr.slice(0, colon).replace(/^\[|\]$/g, '');
  return { host, port: Number(addr.slice(colon + 1)) };
}

/** Headers must be complete this soon after a request starts (slow-header clients get 408). */
export const HEADERS_TIMEOUT_MS = 10_000;

/** A raw JSON error answer for a connection the HTTP parser gave up on, then close. */
function rawError(status: number, reason: string, code: string, message: string): string {
  const body = JSON.stringify({ error: { code, message } });
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * Errors of the HTTP parser (malformed requests, oversized headers, headers too slow) answered
 * as JSON like every other error. A connection whose response already started is just closed.
 */
export function onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const started = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (!socket.writable || started || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  let answer: string;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    answer = rawError(
      408,
      'Request Timeout',
      'request-timeout',
      `the request headers did not arrive within ${HEADERS_TIMEOUT_MS} ms`,
    );
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    answer = rawError(
      431,
      'Request Header Fields Too Large',
      'headers-too-large',
      'the request headers are too large',
    );
  } else {
    answer = rawError(
      400,
      'Bad Request',
      'bad-request',
      `malformed HTTP request (${err.code ?? 'parse error'})`,
    );
  }
  socket.end(answer);
  setTimeout(() => socket.destroy(), 1000).unref();
}

function onUpgrade(transport: UpgradeHandler | null) {
  return (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    if ('getPeerX509Certificate' in socket && presentedInvalidCertificate(socket as TLSSocket)) {
      socket.destroy();
      return;
    }
    if (transport?.handleUpgrade(req, socket, head)) return;
    socket.end(rawError(400, 'Bad Request', 'bad-request', 'unknown upgrade'));
  };
}

export async function listen(
  server: http.Server,
  addr: HostPort | string,
  reusePort = false,
): Promise<AddressInfo> {
  const { host, port } = listenArgs(addr);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    // An empty host listens on all interfaces (IPv6 and IPv4 where available).
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    // reusePort: HTTP workers each bind the same port and the kernel spreads connections (Linux).
    if (host === '') server.listen({ port, reusePort }, done);
    else server.listen({ port, host, reusePort }, done);
  });
  return server.address() as AddressInfo;
}

export function gracefulClose(server: http.Server, beforeClose: () => void) {
  let closing: Promise<void> | null = null;
  return (deadlineMs = 5000): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      beforeClose();
      const timer = setTimeout(() => server.closeAllConnections(), deadlineMs);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      // Keep-alive connections with no request in flight would hold close() open.
      server.closeIdleConnections();
    });
    return closing;
  };
}

export async function startHttpServer(
  app: KvApp,
  listenAddr: HostPort | string,
  transport: UpgradeHandler | null,
  tls?: ServerTls,
  reusePort = false,
): Promise<RunningServer> {
  const handle = app.callback();
  // koa's callback answers its own errors; the promise never rejects.
  // Blocking watches can last minutes; the app bounds them (and slow bodies, see readBody), not
  // the socket. Headers must arrive within HEADERS_TIMEOUT_MS, checked every second.
  const server = createServer(
    { requestTimeout: 0, headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 1000 },
    (req, res) => void handle(req, res),
    tls,
  );
  server.keepAliveTimeout = 65_000;
  server.on('upgrade', onUpgrade(transport));
  server.on('clientError', onClientError);
  const address = await listen(server, listenAddr, reusePort);
  return { server, address, close: gracefulClose(server, () => app.closing.abort()) };
}

/** A listener for peer traffic only (`-peer-addr`): upgrades go to the transport, everything else is 404. */
export async function startPeerServer(
  listenAddr: HostPort | string,
  transport: UpgradeHandler,
  tls?: ServerTls,
): Promise<RunningServer> {
  const server = createServer(
    { headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 1000 },
    (_req, res) => {
      const body = JSON.stringify({
        error: { code: 'not-found', message: 'peer port: only Raft streams are served here' },
      });
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(body);
    },
    tls,
  );
  server.on('upgrade', onUpgrade(transport));
  server.on('clientError', onClientError);
  const address = await listen(server, listenAddr);
  return { server, address, close: gracefulClose(server, () => {}) };
}
