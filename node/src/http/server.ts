// The node:http server around the koa app. Peer streams arrive on the same server as
// HTTP Upgrade requests and are handed to the transport.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HostPort } from '../cli/flags.ts';
import type { KvApp } from './app.ts';

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

function onUpgrade(transport: UpgradeHandler | null) {
  return (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    if (transport?.handleUpgrade(req, socket, head)) return;
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  };
}

async function listen(server: http.Server, addr: HostPort | string): Promise<AddressInfo> {
  const { host, port } = listenArgs(addr);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    // An empty host listens on all interfaces (IPv6 and IPv4 where available).
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    if (host === '') server.listen(port, done);
    else server.listen(port, host, done);
  });
  return server.address() as AddressInfo;
}

function gracefulClose(server: http.Server, beforeClose: () => void) {
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

export async function startHttpServer(app: KvApp, listenAddr: HostPort | string, transport: UpgradeHandler | null): Promise<RunningServer> {
  const handle = app.callback();
  // koa's callback answers its own errors; the promise never rejects.
  const server = http.createServer((req, res) => void handle(req, res));
  // Blocking watches can last minutes; the app bounds them, not the socket.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  server.on('upgrade', onUpgrade(transport));
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  const address = await listen(server, listenAddr);
  return { server, address, close: gracefulClose(server, () => app.closing.abort()) };
}

/** A listener for peer traffic only (`-peer-addr`): upgrades go to the transport, everything else is 404. */
export async function startPeerServer(listenAddr: HostPort | string, transport: UpgradeHandler): Promise<RunningServer> {
  const server = http.createServer((_req, res) => {
    const body = JSON.stringify({ error: { code: 'not-found', message: 'peer port: only Raft streams are served here' } });
    res.writeHead(404, { 'Content-Type': 'application/json' }).end(body);
  });
  server.on('upgrade', onUpgrade(transport));
  const address = await listen(server, listenAddr);
  return { server, address, close: gracefulClose(server, () => {}) };
}
