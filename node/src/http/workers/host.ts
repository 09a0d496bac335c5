// The Raft thread's side of the HTTP workers (docs/adr/0063): starts them on the client port,
// answers their calls against the node in batches, mirrors the applied index and the auth state
// to them, forwards TLS rotations, merges their metrics into the process's one /metrics, writes
// their log lines, restarts a worker that died and closes them all on shutdown.
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

type MetricJson = MetricObjectWithValues<MetricValue<string>>[];
import type { AuthChange, AuthChangeResult, AuthStore } from '../../auth/auth-store.ts';
import type { Caller } from '../../kv/commands.ts';
import type { HostPort } from '../../cli/flags.ts';
import { isKvError } from '../../errors.ts';
import type { Logger, LogLevel } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import { requestContext } from '../request-context.ts';
import type { RunningServer, ServerTls, ServerTlsFiles } from '../server.ts';
import type { KvService } from '../service.ts';
import {
  SHARED_BYTES,
  sharedViews,
  type Call,
  type Reply,
  type ToHost,
  type ToWorker,
  type WireError,
  type WorkerInit,
} from './protocol.ts';

/** What the workers call: the node's service, its auth backend, and news of each apply. */
export interface HostedNode extends KvService {
  readonly auth: AuthStore;
  proposeAuth(change: AuthChange, caller: Caller): Promise<AuthChangeResult>;
  barrier(): Promise<void>;
  onApplied(listener: () => void): void;
}

export interface WorkerHostOptions {
  count: number;
  memberId: string;
  logLevel: LogLevel;
  listen: HostPort;
  tls: ServerTls | null;
  auth: boolean;
  upgradePort: number | null;
  /** Writes one log line of a worker (the process's log sink). */
  writeLog: (line: string) => void;
}

/** How long /metrics waits for a worker's share. */
const METRICS_TIMEOUT_MS = 2000;
const WORKER_URL = new URL('./worker.ts', import.meta.url);

interface Slot {
  index: number;
  worker: Worker;
  authPort: MessagePort;
  replies: Reply[];
  flushScheduled: boolean;
  watches: Map<number, AbortController>;
  closed: Promise<void>;
  markClosed: () => void;
}

const files = (m: ServerTlsFiles): ServerTlsFiles => ({ cert: m.cert, key: m.key, ca: m.ca });

export class HttpWorkerHost {
  readonly #node: HostedNode;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #o: WorkerHostOptions;
  readonly #shared = new SharedArrayBuffer(SHARED_BYTES);
  readonly #views = sharedViews(this.#shared);
  readonly #slots: Slot[] = [];
  #port = 0;
  #authRevision = -1;
  #closing = false;
  #rid = 0;
  readonly #metricsWaits = new Map<number, (json: MetricJson | null) => void>();

  constructor(node: HostedNode, metrics: Metrics, log: Logger, o: WorkerHostOptions) {
    this.#node = node;
    this.#metrics = metrics;
    this.#log = log.child({ component: 'http-workers' });
    this.#o = o;
    node.onApplied(() => this.#mirror());
    o.tls?.material.onChange((m) => {
      for (const s of this.#slots) s.worker.postMessage({ t: 'tls', files: files(m) } satisfies ToWorker);
    });
  }

  /** Starts the workers one after the other (the first one fixes the port when 0 was asked for). */
  async start(): Promise<{ port: number }> {
    this.#mirror();
    this.#port = this.#o.listen.port;
    // Port 0: the first worker's bind picks it; the rest start together (each loads the app's modules).
    if (this.#port === 0) this.#port = await this.#spawn(0);
    const rest = Array.from({ length: this.#o.count }, (_, i) => i).filter(
      (i) => this.#slots[i] === undefined,
    );
    await Promise.all(rest.map((i) => this.#spawn(i)));
    return { port: this.#port };
  }

  /** The applied index and auth state, as the workers must see them before any answer that follows. */
  #mirror(): void {
    this.#views.applied[0] = this.#node.appliedIndex();
    const auth = this.#node.auth;
    if (auth.revision === this.#authRevision) return;
    this.#authRevision = auth.revision;
    const update = { revision: auth.revision, snapshot: auth.snapshot() };
    for (const s of this.#slots) s.authPort.postMessage(update);
    // Published after the posts: a worker seeing this revision finds the update on its port.
    Atomics.store(this.#views.authRevision, 0, auth.revision);
  }

  #spawn(index: number): Promise<number> {
    const { port1, port2 } = new MessageChannel();
    const auth = this.#node.auth;
    const init: WorkerInit = {
      index,
      memberId: this.#o.memberId,
      logLevel: this.#o.logLevel,
      listen: { host: this.#o.listen.host, port: this.#port },
      tls: this.#o.tls
        ? { files: files(this.#o.tls.material.current), clientCerts: this.#o.tls.clientCerts }
        : null,
      auth: this.#o.auth,
      upgradePort: this.#o.upgradePort,
      shared: this.#shared,
      authPort: port2,
      initialAuth: { revision: auth.revision, snapshot: auth.snapshot() },
    };
    const worker = new Worker(WORKER_URL, { workerData: init, transferList: [port2] });
    let markClosed!: () => void;
    const closed = new Promise<void>((r) => (markClosed = r));
    const slot: Slot = {
      index,
      worker,
      authPort: port1,
      replies: [],
      flushScheduled: false,
      watches: new Map(),
      closed,
      markClosed,
    };
    this.#slots[index] = slot;
    return new Promise<number>((resolve, reject) => {
      let listening = false;
      worker.on('message', (m: ToHost) => {
        if (m.t === 'listening') {
          listening = true;
          resolve(m.port);
        } else this.#onMessage(slot, m);
      });
      worker.on('error', (e: Error) => {
        this.#log.error('HTTP worker failed', { worker: index, error: e.stack ?? String(e) });
        if (!listening) reject(e);
      });
      worker.on('exit', (code) => {
        for (const c of slot.watches.values()) c.abort();
        slot.watches.clear();
        markClosed();
        if (!listening || this.#closing || this.#slots[index] !== slot) return;
        // A worker that died takes its connections with it; the port stays served by the others.
        this.#log.warn('HTTP worker exited; starting a new one', { worker: index, code });
        this.#spawn(index).catch((e: unknown) =>
          this.#log.error('HTTP worker restart failed', { worker: index, error: String(e) }),
        );
      });
    });
  }

  #onMessage(slot: Slot, m: ToHost): void {
    switch (m.t) {
      case 'calls':
        for (const c of m.calls) this.#call(slot, c);
        return;
      case 'log':
        this.#o.writeLog(m.line);
        return;
      case 'metrics':
        this.#metricsWaits.get(m.rid)?.(m.json as MetricJson);
        return;
      case 'closed':
        slot.markClosed();
        return;
      case 'listening':
        return;
    }
  }

  #call(slot: Slot, c: Call): void {
    if (c.m === 'cancel') {
      slot.watches.get(c.id)?.abort();
      slot.watches.delete(c.id);
      return;
    }
    let result: Promise<unknown>;
    try {
      const run = (): unknown => this.#invoke(slot, c);
      const v =
        c.authorization !== undefined ? requestContext.run({ authorization: c.authorization }, run) : run();
      result = Promise.resolve(v);
    } catch (e) {
      result = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    const watch = slot.watches.get(c.id);
    result.then(
      (v) => this.#reply(slot, { id: c.id, ok: true, v }),
      (e: unknown) => {
        // A watch the worker cancelled (its client left, or the worker closes): nobody waits.
        if (watch?.signal.aborted) return;
        this.#reply(slot, { id: c.id, ok: false, e: this.#wireError(c, e) });
      },
    );
  }

  #invoke(slot: Slot, c: Call): unknown {
    const n = this.#node;
    const a = c.a as [never, never, never];
    switch (c.m) {
      case 'get':
        return n.get(a[0], a[1]);
      case 'list':
        return n.list(a[0], a[1]);
      case 'put':
        return n.put(a[0], a[1], a[2]);
      case 'delete':
        return n.delete(a[0], a[1]);
      case 'watch': {
        const abort = new AbortController();
        slot.watches.set(c.id, abort);
        return n.watch(a[0], a[1], abort.signal).finally(() => slot.watches.delete(c.id));
      }
      case 'status':
        return n.status();
      case 'members':
        return n.members();
      case 'addMember':
        return n.addMember(a[0]);
      case 'promoteMember':
        return n.promoteMember(a[0]);
      case 'demoteMember':
        return n.demoteMember(a[0]);
      case 'removeMember':
        return n.removeMember(a[0]);
      case 'transferLeadership':
        return n.transferLeadership(a[0]);
      case 'livez':
        return n.livez();
      case 'readyz':
        return n.readyz();
      case 'proposeAuth':
        return n.proposeAuth(a[0], a[1]);
      case 'barrier':
        return n.barrier();
      case 'metrics':
        return this.metricsText();
    }
  }

  #wireError(c: Call, e: unknown): WireError {
    if (isKvError(e))
      return { code: e.code, message: e.message, ...(e.headers ? { headers: e.headers } : {}) };
    this.#log.error('unhandled error in a worker call', { method: c.m, err: e });
    return { code: 'internal', message: 'internal error' };
  }

  #reply(slot: Slot, r: Reply): void {
    slot.replies.push(r);
    if (slot.flushScheduled) return;
    slot.flushScheduled = true;
    setImmediate(() => {
      slot.flushScheduled = false;
      const replies = slot.replies;
      slot.replies = [];
      this.#mirror();
      slot.worker.postMessage({ t: 'replies', replies } satisfies ToWorker);
    });
  }

  /** The process's metrics: this thread's registry plus every worker's HTTP metrics. */
  async metricsText(): Promise<{ contentType: string; body: string }> {
    const shares = await Promise.all(
      this.#slots.map(
        (s) =>
          new Promise<MetricJson | null>((resolve) => {
            const rid = ++this.#rid;
            const timer = setTimeout(() => done(null), METRICS_TIMEOUT_MS);
            const done = (json: MetricJson | null): void => {
              clearTimeout(timer);
              this.#metricsWaits.delete(rid);
              resolve(json);
            };
            this.#metricsWaits.set(rid, done);
            s.worker.postMessage({ t: 'metrics', rid } satisfies ToWorker);
          }),
      ),
    );
    const own = await this.#metrics.registry.getMetricsAsJSON();
    const merged = AggregatorRegistry.aggregate([own, ...shares.filter((j): j is MetricJson => j !== null)]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  /** Graceful close of every worker's listener (see RunningServer.close), then the threads end. */
  readonly server: Pick<RunningServer, 'close'> = {
    close: (deadlineMs = 5000) => this.close(deadlineMs),
  };

  async close(deadlineMs = 5000): Promise<void> {
    this.#closing = true;
    for (const s of this.#slots) s.worker.postMessage({ t: 'close', deadlineMs } satisfies ToWorker);
    const all = Promise.all(this.#slots.map((s) => s.closed));
    await Promise.race([all, new Promise((r) => setTimeout(r, deadlineMs + 1000).unref())]);
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
