// The plugin's only way out: HTTPS requests to the Kubernetes API server with the caller's
// kubeconfig credentials (client certificate, token, exec plugin: whatever client-node applies).
// Members are reached through the API server's pod proxy, or directly by pod IP from inside the
// cluster network (--member-access direct). A cluster with TLS and auth on (the default, ADR 0069)
// is spoken to directly over HTTPS with its CA bundle and root's token.
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
  /** The server's Date header (its clock), when it sent one. */
  date?: string;
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
  res.on('end', () =>
    resolve({
      status: res.statusCode ?? 0,
      body: Buffer.concat(chunks).toString('utf8'),
      ...(typeof res.headers.date === 'string' ? { date: res.headers.date } : {}),
    }),
  );
  res.on('error', reject);
}

/** What members of a cluster with TLS and auth on ask of a client: from the Secrets its status names. */
export interface MemberCredentials {
  /** PEM bundle that verifies the members' certificates. */
  ca: string;
  /** The DNS name a member's certificate carries (its pod name under the peer Service). */
  serverName: (pod: string) => string;
  /** root's name and password; undefined when the cluster has auth off. */
  root: { username: string; password: string } | undefined;
  /** root's bearer token, once logged in. */
  token?: string;
}

export class Api {
  readonly kc: KubeConfig;
  readonly timeoutMs: number;
  /** Set for a cluster with TLS on (readMemberCredentials); undefined: members speak plain HTTP. */
  members: MemberCredentials | undefined = undefined;
  constructor(kc: KubeConfig, timeoutMs: number) {
    this.kc = kc;
    this.timeoutMs = timeoutMs;
  }

  /** One request to the API server; the body is JSON when given. */
  async request(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<Response> {
    const cluster = this.kc.getCurrentCluster();
    if (cluster === null) throw new ApiError(0, 'the kubeconfig has no current cluster');
    const url = new URL(path, cluster.server);
    const opts: https.RequestOptions = {
      method,
      headers: {
        accept: 'application/json, */*',
        ...(body !== undefined ? { 'content-type': contentType } : {}),
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
    // The API server does not verify the member's certificate here, nor pass root's token on.
    const scheme = api.members !== undefined ? 'https:' : '';
    const proxied = `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods/${scheme}${encodeURIComponent(pod.name)}:${pod.port}/proxy${path}`;
    return api.request(method, proxied, body);
  }
  if (pod.ip === undefined) throw new ApiError(0, `pod ${pod.name} has no IP yet`);
  const creds = api.members;
  if (creds !== undefined) return tlsMemberRequest(api, creds, pod, pod.ip, method, path, body);
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

/** HTTPS to the pod IP, verified against the member's DNS name; with auth on, as root (logging in once, again on a 401). */
async function tlsMemberRequest(
  api: Api,
  creds: MemberCredentials,
  pod: PodRef,
  ip: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Response> {
  const send = (m: string, p: string, b: unknown, token: string | undefined): Promise<Response> =>
    new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: ip,
          port: pod.port,
          path: p,
          method: m,
          ca: creds.ca,
          servername: creds.serverName(pod.name),
          agent: false,
          headers: {
            ...(b !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
          },
        },
        (res) => collect(res, resolve, reject),
      );
      req.setTimeout(api.timeoutMs, () =>
        req.destroy(new Error(`${m} ${p} on ${pod.name}: no answer in ${api.timeoutMs} ms`)),
      );
      req.on('error', reject);
      req.end(b !== undefined ? JSON.stringify(b) : undefined);
    });
  const login = async (root: { username: string; password: string }): Promise<string> => {
    const res = await send(
      'POST',
      '/v1/auth/token',
      { name: root.username, password: root.password },
      undefined,
    );
    if (res.status !== 200)
      throw new ApiError(res.status, `login as ${root.username} on ${pod.name}: HTTP ${res.status}`);
    return (JSON.parse(res.body) as { token: string }).token;
  };
  const root = creds.root;
  if (root === undefined) return send(method, path, body, undefined);
  creds.token ??= await login(root);
  const res = await send(method, path, body, creds.token);
  if (res.status !== 401) return res;
  creds.token = await login(root);
  return send(method, path, body, creds.token);
}
