// Minimal JSON HTTP client over node:http with keep-alive and a hard per-request
// timeout. It reports whether the request can have reached the server, which is
// what decides between "fail" (certainly not applied) and "unknown".
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export type HttpResult =
  | { kind: 'response'; status: number; body: unknown; headers: http.IncomingHttpHeaders }
  | { kind: 'error'; code: string; mayHaveBeenSent: boolean };

export function request(method: string, url: string, body: unknown, timeoutMs: number): Promise<HttpResult> {
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
    const req = http.request(url, {
      method,
      agent,
      headers:
        payload === undefined
          ? {}
          : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    });
    const timer = setTimeout(() => {
      finish({ kind: 'error', code: 'timeout', mayHaveBeenSent: connected });
      req.destroy();
    }, timeoutMs);
    req.on('socket', (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
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
  agent.destroy();
}
