// Forwarding admin requests to the leader's client API over HTTPS (server/admin.ts `Forwarder`).
// Global fetch cannot take a CA per request, so this uses node:https with the current material:
// the CA bundle to verify the leader with and, when clients must present certificates, this
// member's certificate and key.
import https from 'node:https';
import type { Forwarder } from '../server/admin.ts';

export interface ForwardTls {
  /** CA bundle the leader's client certificate chains to (undefined: the system's roots). */
  ca: () => Buffer | undefined;
  /** A client certificate to present for a request with these headers, or null. */
  identity: (headers: Record<string, string>) => { cert: Buffer; key: Buffer } | null;
}

export function httpsForwarder(tls: ForwardTls): Forwarder {
  return (url, r) =>
    new Promise((resolve, reject) => {
      const ca = tls.ca();
      const id = tls.identity(r.headers);
      const req = https.request(url, {
        method: r.method,
        headers: r.headers,
        agent: false,
        timeout: r.timeoutMs,
        ...(ca !== undefined ? { ca } : {}),
        ...(id !== null ? { cert: id.cert, key: id.key } : {}),
      });
      req.once('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.once('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      });
      req.end(r.body);
    });
}
