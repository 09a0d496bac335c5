// Real kv-store processes on loopback for integration tests: start, stop,
// kill -9, restart, and a tiny JSON HTTP client.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, rmSync, createWriteStream, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../node/bin/kv-store.js', import.meta.url));

/**
 * Set (e.g. `KVSTORE_IT_IMAGE=localhost/kv-store:dev`): every node ProcCluster starts runs in that
 * image with podman instead (host network, read-only root, uid 1000, the cluster's temp dir mounted
 * at the same path so arguments stay the same). The image smoke test (test/images) uses it.
 */
export const NODE_IMAGE = process.env.KVSTORE_IT_IMAGE;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'));
      const port = addr.port;
      s.close(() => resolve(port));
    });
  });
}

export interface HttpResult {
  status: number;
  body: any;
  headers: Headers;
}

export async function http(
  method: string,
  url: string,
  body?: unknown,
  opts: { timeoutMs?: number; raw?: string; contentType?: string } = {},
): Promise<HttpResult> {
  const res = await fetch(url, {
    method,
    headers:
      body !== undefined || opts.raw !== undefined
        ? { 'content-type': opts.contentType ?? 'application/json' }
        : {},
    ...(opts.raw !== undefined
      ? { body: opts.raw }
      : body !== undefined
        ? { body: JSON.stringify(body) }
        : {}),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: keep the text */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastErr = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
}

export interface ProcNode {
  id: string;
  port: number;
  url: string;
  dataDir: string;
  args: string[];
  proc: ChildProcess | null;
  logFile: string;
  /** The podman container running it (NODE_IMAGE only). */
  container?: string;
}

export class ProcCluster {
  readonly root: string;
  readonly nodes = new Map<string, ProcNode>();
  private readonly logs: WriteStream[] = [];
  readonly extraEnv: Record<string, string>;

  constructor(extraEnv: Record<string, string> = {}) {
    this.root = mkdtempSync(join(tmpdir(), 'kvstore-it-'));
    // The image runs as uid 1000 and creates the data dirs under root itself.
    if (NODE_IMAGE !== undefined) chownSync(this.root, 1000, 1000);
    this.extraEnv = extraEnv;
  }

  /** Starts a cluster of `ids` with the seed's command line (one address per node). */
  static async start(
    ids: string[],
    extraArgs: string[] = [],
    env: Record<string, string> = {},
  ): Promise<ProcCluster> {
    const c = new ProcCluster(env);
    const ports = new Map<string, number>();
    for (const id of ids) ports.set(id, await freePort());
    for (const id of ids) {
      const peers = ids
        .filter((p) => p !== id)
        .map((p) => `${p}=127.0.0.1:${ports.get(p)}`)
        .join(',');
      c.define(id, ports.get(id)!, [
        '-addr',
        `127.0.0.1:${ports.get(id)}`,
        ...(peers ? ['-peers', peers] : []),
        ...extraArgs,
      ]);
    }
    for (const id of ids) c.spawn(id);
    await c.waitForLeader();
    return c;
  }

  define(id: string, port: number, args: string[]): ProcNode {
    const n: ProcNode = {
      id,
      port,
      url: `http://127.0.0.1:${port}`,
      dataDir: join(this.root, id),
      args: ['-id', id, '-data-dir', join(this.root, id), '-tick-ms', '50', ...args],
      proc: null,
      logFile: join(this.root, `${id}.log`),
    };
    this.nodes.set(id, n);
    return n;
  }

  /** Adds a node that starts with -join (to be added through the membership API). */
  async defineJoiner(id: string): Promise<ProcNode> {
    const port = await freePort();
    return this.define(id, port, ['-addr', `127.0.0.1:${port}`, '-join']);
  }

  node(id: string): ProcNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  spawn(id: string): void {
    const n = this.node(id);
    const log = createWriteStream(n.logFile, { flags: 'a' });
    this.logs.push(log);
    let proc: ChildProcess;
    if (NODE_IMAGE === undefined) {
      proc = spawn(process.execPath, [BIN, ...n.args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...this.extraEnv },
      });
    } else {
      // podman run proxies SIGTERM to the container (PID 1 is the image's tini) and exits with its code.
      n.container = `kvit-${id}-${randomBytes(4).toString('hex')}`;
      const env = Object.entries(this.extraEnv).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
      proc = spawn(
        'podman',
        [
          'run',
          '--rm',
          '--name',
          n.container,
          '--network',
          'host',
          '--read-only',
          '--user',
          '1000:1000',
        ].concat(['-v', `${this.root}:${this.root}`, ...env, NODE_IMAGE, ...n.args]),
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
    }
    proc.stdout?.pipe(log, { end: false });
    proc.stderr?.pipe(log, { end: false });
    n.proc = proc;
  }

  kill9(id: string): Promise<void> {
    return this.stopProc(id, 'SIGKILL');
  }

  stop(id: string): Promise<void> {
    return this.stopProc(id, 'SIGTERM');
  }

  private stopProc(id: string, sig: NodeJS.Signals): Promise<void> {
    const n = this.node(id);
    const p = n.proc;
    n.proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      p.once('exit', () => resolve());
      // SIGKILL cannot be proxied into a container: podman kill delivers it to its PID 1.
      if (n.container !== undefined && sig === 'SIGKILL')
        execFile('podman', ['kill', '-s', 'KILL', n.container], () => {});
      else p.kill(sig);
    });
  }

  async status(id: string): Promise<any> {
    return (await http('GET', `${this.node(id).url}/v1/status`, undefined, { timeoutMs: 2000 })).body;
  }

  running(): ProcNode[] {
    return [...this.nodes.values()].filter((n) => n.proc !== null);
  }

  /** Waits until every running node agrees on one leader (other than `not`); returns its id. */
  async waitForLeader(timeoutMs = 20_000, not?: string): Promise<string> {
    return waitFor(
      'a leader all running nodes agree on',
      async () => {
        const leaders = new Set<string | null>();
        for (const n of this.running()) leaders.add((await this.status(n.id)).leader as string | null);
        const [only] = [...leaders];
        return leaders.size === 1 && only && only !== not ? only : undefined;
      },
      timeoutMs,
    );
  }

  async put(
    id: string,
    key: string,
    value: string,
    extra: Record<string, unknown> = {},
  ): Promise<HttpResult> {
    return http('PUT', `${this.node(id).url}/v1/kv/${encodeURIComponent(key)}`, { value, ...extra });
  }

  async get(id: string, key: string, query = ''): Promise<HttpResult> {
    return http('GET', `${this.node(id).url}/v1/kv/${encodeURIComponent(key)}${query}`);
  }

  async close(): Promise<void> {
    await Promise.all([...this.nodes.keys()].map((id) => this.kill9(id)));
    for (const l of this.logs) l.end();
    if (process.env.KVSTORE_KEEP_TEST_DATA !== '1') rmSync(this.root, { recursive: true, force: true });
  }
}
