// The plugin's only way out: HTTPS requests to the Kubernetes API server with the caller's
// kubeconfig credentials (client certificate, token, exec plugin: whatever client-node applies).
// Members are reached through the API server's pod proxy, or directly by pod IP from inside the
// cluster network (--member-access direct).
import https from 'node:https';
import http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface Response {
  status: number;
  body: string;
}

const MAX_BODY_BYTES = 64 << 20;

function collect(
  res: http.IncomingMessage,
  resolve: (r: Response) => void,
  reject: (e: Error) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  res.on('data', (c: Buffer) => {
    size += c.length;
    if (size > MAX_BODY_BYTES) {
      res.destroy(new Error(`response larger than ${MAX_BODY_BYTES} bytes`));
      return;
    }
    chunks.push(c);
  });
  res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
  res.on('error', reject);
}

export class Api {
  readonly kc: KubeConfig;
  readonly timeoutMs: number;
  constructor(kc: KubeConfig, timeoutMs: number) {
    this.kc = kc;
    this.timeoutMs = timeoutMs;
  }

  /** One request to the API server; the body is JSON when given. */
  async request(method: string, path: string, body?: unknown): Promise<Response> {
    const cluster = this.kc.getCurrentCluster();
    if (cluster === null) throw new ApiError(0, 'the kubeconfig has no current cluster');
    const url = new URL(path, cluster.server);
    const opts: https.RequestOptions = {
      method,
      headers: {
        accept: 'application/json, */*',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
    };
    await this.kc.applyToHTTPSOptions(opts);
    const lib = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = lib.request(url, opts, (res) => collect(res, resolve, reject));
      req.setTimeout(this.timeoutMs, () =>
        req.destroy(new Error(`${method} ${url.pathname}: no answer in ${this.timeoutMs} ms`)),
      );
      req.on('error', reject);
      req.end(body !== undefined ? JSON.stringify(body) : undefined);
    });
  }

  /** GET returning parsed JSON; a non-2xx answer is an ApiError with the server's message. */
  async get<T>(path: string): Promise<T> {
    const res = await this.request('GET', path);
    if (res.status < 200 || res.status > 299) throw new ApiError(res.status, apiMessage(res));
    return JSON.parse(res.body) as T;
  }

  async text(path: string): Promise<string> {
    const res = await this.request('GET', path);
    if (res.status < 200 || res.status > 299) throw new ApiError(res.status, apiMessage(res));
    return res.body;
  }
}

function apiMessage(res: Response): string {
  try {
    const s = JSON.parse(res.body) as { message?: string };
    if (typeof s.message === 'string') return `${res.status}: ${s.message}`;
  } catch {
    // not a Status object
  }
  return `${res.status}: ${res.body.slice(0, 200)}`;
}

export type MemberAccess = 'proxy' | 'direct';

export interface PodRef {
  name: string;
  namespace: string;
  ip?: string;
  port: number;
}

/** A request to one member's HTTP API, through the pod proxy or to its pod IP. */
export async function memberRequest(
  api: Api,
  access: MemberAccess,
  pod: PodRef,
  method: string,
  path: string,
  body?: unknown,
): Promise<Response> {
  if (access === 'proxy') {
    const proxied = `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${encodeURIComponent(pod.name)}:${pod.port}/proxy${path}`;
    return api.request(method, proxied, body);
  }
  if (pod.ip === undefined) throw new ApiError(0, `pod ${pod.name} has no IP yet`);
  const host = pod.ip.includes(':') ? `[${pod.ip}]` : pod.ip;
  const res = await fetch(`http://${host}:${pod.port}${path}`, {
    method,
    ...(body !== undefined
      ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }
      : {}),
    signal: AbortSignal.timeout(api.timeoutMs),
  });
  return { status: res.status, body: await res.text() };
}
