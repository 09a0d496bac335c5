// Minimal JSON HTTP client over node:http / node:https with keep-alive and a hard per-request
// timeout. It reports whether the request can have reached the server, which is what decides
// between "fail" (certainly not applied) and "unknown".
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';

const plainAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const agents = new Set<http.Agent>([plainAgent]);

/** Who a request is sent as: an HTTPS agent holding a client certificate, and headers (a bearer token). */
export interface Caller {
  agent: http.Agent;
  headers?: () => Record<string, string>;
  /** Names the credential in the run's summary (acknowledged operations per caller). */
  label?: string;
}

export const anonymous: Caller = { agent: plainAgent };

/** A keep-alive HTTPS agent presenting `cert`/`key` and trusting `ca` (closed by closeIdleConnections). */
export function httpsAgent(tls: { ca: Buffer; cert: Buffer; key: Buffer }): https.Agent {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ...tls });
  agents.add(agent);
  return agent;
}

export type HttpResult =
  | { kind: 'response'; status: number; body: unknown; headers: http.IncomingHttpHeaders }
  | { kind: 'error'; code: string; mayHaveBeenSent: boolean };

export function request(
  method: string,
  url: string,
  body: unknown,
  timeoutMs: number,
  caller: Caller = anonymous,
): Promise<HttpResult> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const finish = (result: HttpResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string | number> = {
      ...caller.headers?.(),
      ...(payload === undefined
        ? {}
        : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
    };
    const secure = url.startsWith('https:');
    const req = (secure ? https : http).request(url, { method, agent: caller.agent, headers });
    const timer = setTimeout(() => {
      finish({ kind: 'error', code: 'timeout', mayHaveBeenSent: connected });
      req.destroy();
    }, timeoutMs);
    req.on('socket', (socket) => {
      // Over TLS nothing is sent before the handshake completes: a refused handshake sent nothing.
      // (A reused keep-alive socket is past it: `authorized` is set once the server was verified.)
      if (secure ? (socket as TLSSocket).authorized : !socket.connecting) connected = true;
      else socket.once(secure ? 'secureConnect' : 'connect', () => (connected = true));
    });
    req.on('error', (err: NodeJS.ErrnoException) =>
      finish({ kind: 'error', code: err.code ?? err.message, mayHaveBeenSent: connected }),
    );
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err: NodeJS.ErrnoException) =>
        finish({ kind: 'error', code: err.code ?? err.message, mayHaveBeenSent: true }),
      );
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          // Not JSON: keep the text for the report.
        }
        finish({ kind: 'response', status: res.statusCode ?? 0, body: parsed, headers: res.headers });
      });
    });
    req.end(payload);
  });
}

export function closeIdleConnections(): void {
  for (const a of agents) a.destroy();
  agents.clear();
  agents.add(plainAgent);
}
