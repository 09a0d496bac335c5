// Client of the node's HTTP admin API (docs: helper API.md / node README). Behind an interface
// so the reconciler can be tested with a fake.
import type { X509Certificate } from 'node:crypto';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { NodeBackupStatus, NodeRestoreInfo } from '../backup/types.ts';

export interface NodeMember {
  id: string;
  peerUrl: string;
  clientUrl?: string;
  role: 'voter' | 'learner';
  isLeader: boolean;
  matchIndex?: number;
  healthy?: boolean;
}

export interface NodeStatus {
  id: string;
  clusterId: string | null;
  /** 'leader' | 'follower' | 'candidate' | 'learner' */
  state: string;
  leader: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  /** The last log entry (older nodes do not report it). */
  lastIndex?: number;
  lastLogTerm?: number;
  /** "ok", or "corrupt"/"lost" when the node refused its data and serves only its status. */
  dataState?: 'ok' | 'corrupt' | 'lost';
  dataReason?: string;
  members: NodeMember[];
  /** Archiving (members started with -backup-s3-url). */
  backup?: NodeBackupStatus;
  /** What the member's data directory was restored from. */
  restoredFrom?: NodeRestoreInfo;
}

export interface NewMember {
  id: string;
  peerUrl: string;
  clientUrl?: string;
  role: 'learner' | 'voter';
}

export interface NodeAdmin {
  status(baseUrl: string): Promise<NodeStatus>;
  addMember(baseUrl: string, member: NewMember): Promise<void>;
  promote(baseUrl: string, id: string): Promise<void>;
  removeMember(baseUrl: string, id: string): Promise<void>;
  transferLeadership(baseUrl: string, to: string): Promise<string | null>;
  /** Quorum-loss recovery: ask a survivor to restart into a one-member configuration (docs/adr/0077). */
  forceNewCluster?(baseUrl: string, requestId: string): Promise<void>;
  /** Voter -> learner (fencing): it keeps replicating its data but no longer votes. */
  demote(baseUrl: string, id: string): Promise<void>;
}

/** A node answered with an error (status >= 400) or could not be reached (status 0). */
export class NodeApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'NodeApiError';
    this.status = status;
    this.code = code;
  }
}

export interface HttpNodeAdminOptions {
  timeoutMs?: number;
}

/**
 * How to reach a secure cluster: the CA bundle its members' certificates chain to, and who the
 * operator is: its client certificate (the members take its CN as the user) or a bearer token.
 */
export interface NodeSecurity {
  /** PEM bundle; with it, https:// URLs are verified against it (and nothing else). */
  ca?: string;
  /** Client certificate and key (PEM) presented on https:// connections. */
  identity?: { cert: string; key: string };
  /** `Bearer <token>`, sent with every request. */
  authorization?: string;
}

const MAX_RESPONSE_BYTES = 4 << 20;

export class HttpNodeAdmin implements NodeAdmin {
  private readonly timeoutMs: number;
  private readonly security: NodeSecurity;
  constructor(opts: HttpNodeAdminOptions = {}, security: NodeSecurity = {}) {
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.security = security;
  }

  /** Whether calls present the operator's client certificate (rather than a token or nothing). */
  get presentsCertificate(): boolean {
    return this.security.identity !== undefined;
  }

  /** The same client with another timeout per request (an on-demand snapshot upload takes a while). */
  withTimeout(timeoutMs: number): HttpNodeAdmin {
    return new HttpNodeAdmin({ timeoutMs }, this.security);
  }

  /** POST /v1/cluster/backup on the leader: a full snapshot to the archive now (node/src/backup/backup-route.ts). */
  async backupNow(baseUrl: string): Promise<BackupAnswer> {
    return (await this.call(baseUrl, 'POST', '/v1/cluster/backup')) as BackupAnswer;
  }

  /** The same client for a secure cluster (its CA, its certificate or token). */
  secured(security: NodeSecurity): HttpNodeAdmin {
    return new HttpNodeAdmin({ timeoutMs: this.timeoutMs }, security);
  }

  protected async call(baseUrl: string, method: string, path: string, body?: unknown): Promise<unknown> {
    const url = new URL(path, baseUrl);
    let res: { status: number; text: string };
    try {
      res = await this.request(url, method, body === undefined ? undefined : JSON.stringify(body));
    } catch (err) {
      throw new NodeApiError(0, 'unreachable', `${method} ${baseUrl}${path}: ${(err as Error).message}`);
    }
    let json: unknown = undefined;
    try {
      json = res.text.length > 0 ? JSON.parse(res.text) : undefined;
    } catch {
      // non-JSON body: keep the text for the message
    }
    if (res.status >= 400) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new NodeApiError(
        res.status,
        e?.code ?? `http-${res.status}`,
        e?.message ?? res.text.slice(0, 200),
      );
    }
    return json;
  }

  /** node:http(s) rather than fetch: a CA per cluster needs per-request TLS options. */
  private request(
    url: URL,
    method: string,
    body: string | undefined,
  ): Promise<{ status: number; text: string }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.security.authorization !== undefined) headers['authorization'] = this.security.authorization;
    const https = url.protocol === 'https:';
    if (https && this.security.ca === undefined)
      return Promise.reject(new Error('https needs the cluster CA bundle'));
    const options: RequestOptions = {
      method,
      headers,
      timeout: this.timeoutMs,
      ...(https ? { ca: this.security.ca, rejectUnauthorized: true } : {}),
      ...(https && this.security.identity !== undefined
        ? { cert: this.security.identity.cert, key: this.security.identity.key }
        : {}),
    };
    return new Promise((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(url, options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  async status(baseUrl: string): Promise<NodeStatus> {
    return (await this.call(baseUrl, 'GET', '/v1/status')) as NodeStatus;
  }
  async addMember(baseUrl: string, member: NewMember): Promise<void> {
    await this.call(baseUrl, 'POST', '/v1/cluster/members', member);
  }
  async promote(baseUrl: string, id: string): Promise<void> {
    await this.call(baseUrl, 'POST', `/v1/cluster/members/${encodeURIComponent(id)}/promote`, {});
  }
  async removeMember(baseUrl: string, id: string): Promise<void> {
    await this.call(baseUrl, 'DELETE', `/v1/cluster/members/${encodeURIComponent(id)}`);
  }
  async forceNewCluster(baseUrl: string, requestId: string): Promise<void> {
    await this.call(baseUrl, 'POST', '/v1/cluster/force-new-cluster', { requestId });
  }

  async demote(baseUrl: string, id: string): Promise<void> {
    await this.call(baseUrl, 'POST', `/v1/cluster/members/${encodeURIComponent(id)}/demote`, {});
  }
  async transferLeadership(baseUrl: string, to: string): Promise<string | null> {
    const res = (await this.call(baseUrl, 'POST', '/v1/cluster/leader', { to })) as
      { leader?: string } | undefined;
    return res?.leader ?? null;
  }

  // ---- auth administration (root only once auth is on) ----

  async authStatus(baseUrl: string): Promise<{ enabled: boolean; user?: string }> {
    return (await this.call(baseUrl, 'GET', '/v1/auth/status')) as { enabled: boolean; user?: string };
  }
  async users(baseUrl: string): Promise<{ name: string; roles: string[] }[]> {
    return (
      (await this.call(baseUrl, 'GET', '/v1/auth/users')) as { users: { name: string; roles: string[] }[] }
    ).users;
  }
  async roles(baseUrl: string): Promise<AuthRole[]> {
    return ((await this.call(baseUrl, 'GET', '/v1/auth/roles')) as { roles: AuthRole[] }).roles;
  }
  async addUser(baseUrl: string, name: string, password: string): Promise<void> {
    await this.call(baseUrl, 'POST', '/v1/auth/users', { name, password });
  }
  async setPassword(baseUrl: string, name: string, password: string): Promise<void> {
    await this.call(baseUrl, 'POST', `/v1/auth/users/${encodeURIComponent(name)}/password`, { password });
  }
  async grantRole(baseUrl: string, user: string, role: string): Promise<void> {
    await this.call(baseUrl, 'POST', `/v1/auth/users/${encodeURIComponent(user)}/roles`, { role });
  }
  async revokeRole(baseUrl: string, user: string, role: string): Promise<void> {
    await this.call(
      baseUrl,
      'DELETE',
      `/v1/auth/users/${encodeURIComponent(user)}/roles/${encodeURIComponent(role)}`,
    );
  }
  async putRole(baseUrl: string, role: AuthRole): Promise<void> {
    await this.call(baseUrl, 'POST', '/v1/auth/roles', role);
  }
  async enableAuth(baseUrl: string): Promise<void> {
    await this.call(baseUrl, 'POST', '/v1/auth/enable', {});
  }
  /** A bearer token for `name`; null when the password is wrong (401). */
  async login(
    baseUrl: string,
    name: string,
    password: string,
  ): Promise<{ token: string; expiresAt: string } | null> {
    try {
      return (await this.call(baseUrl, 'POST', '/v1/auth/token', { name, password })) as {
        token: string;
        expiresAt: string;
      };
    } catch (err) {
      if (err instanceof NodeApiError && err.status === 401) return null;
      throw err;
    }
  }

  /** The certificate a member's HTTPS port presents (verified against the CA bundle). */
  servedCertificate(baseUrl: string): Promise<X509Certificate> {
    const url = new URL(baseUrl);
    return new Promise((resolve, reject) => {
      const socket = tlsConnect(
        {
          host: url.hostname,
          port: Number(url.port || 443),
          servername: url.hostname,
          ca: this.security.ca,
          rejectUnauthorized: true,
          timeout: this.timeoutMs,
        },
        () => {
          const cert = socket.getPeerX509Certificate();
          socket.destroy();
          if (cert === undefined) reject(new Error('no certificate presented'));
          else resolve(cert);
        },
      );
      socket.on('timeout', () => socket.destroy(new Error('timed out')));
      socket.on('error', reject);
    });
  }
}

export interface BackupAnswer {
  index: number;
  takenAt: string;
  keys: number;
  bytes: number;
  key: string;
  object: string;
}

export interface AuthRole {
  name: string;
  permissions: { prefix: string; access: 'read' | 'readwrite' }[];
}
