// Client of the node's HTTP admin API (docs: helper API.md / node README). Behind an interface
// so the reconciler can be tested with a fake.

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
  members: NodeMember[];
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

export class HttpNodeAdmin implements NodeAdmin {
  private readonly timeoutMs: number;
  constructor(opts: HttpNodeAdminOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 3000;
  }

  private async call(baseUrl: string, method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(new URL(path, baseUrl), {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new NodeApiError(0, 'unreachable', `${method} ${baseUrl}${path}: ${(err as Error).message}`);
    }
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // non-JSON body: keep the text for the message
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new NodeApiError(res.status, e?.code ?? `http-${res.status}`, e?.message ?? text.slice(0, 200));
    }
    return json;
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
  async transferLeadership(baseUrl: string, to: string): Promise<string | null> {
    const res = (await this.call(baseUrl, 'POST', '/v1/cluster/leader', { to })) as
      { leader?: string } | undefined;
    return res?.leader ?? null;
  }
}
