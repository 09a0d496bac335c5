// The KvService an HTTP worker's koa app runs on: every call goes to the Raft thread, batched
// per event-loop turn (one postMessage for all requests parsed in that turn). Reads are answered
// there after ReadIndex like in-thread reads; the worker holds no copy of the keys.
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { AuthStore, type AuthChange, type AuthChangeResult } from '../../auth/auth-store.ts';
import type { Caller } from '../../kv/commands.ts';
import { isErrorCode, kvError } from '../../errors.ts';
import { requestContext } from '../request-context.ts';
import type {
  AddMemberRequest,
  DeleteOptions,
  GetOptions,
  KeyValue,
  KvService,
  ListOptions,
  MemberInfo,
  NodeStatus,
  PutOptions,
  ReadyCheck,
  WatchOptions,
} from '../service.ts';
import {
  sharedViews,
  type AuthUpdate,
  type Call,
  type CallMethod,
  type Reply,
  type ToHost,
} from './protocol.ts';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class RemoteKvService implements KvService {
  readonly #post: (m: ToHost) => void;
  readonly #pending = new Map<number, Pending>();
  #queue: Call[] = [];
  #flushScheduled = false;
  #nextId = 1;
  readonly #applied: Float64Array;
  readonly #authRevision: Int32Array;
  readonly #authPort: MessagePort;
  readonly #auth = new AuthStore();
  #authSeen = -1;

  constructor(
    post: (m: ToHost) => void,
    shared: SharedArrayBuffer,
    authPort: MessagePort,
    initial: AuthUpdate,
  ) {
    this.#post = post;
    const v = sharedViews(shared);
    this.#applied = v.applied;
    this.#authRevision = v.authRevision;
    this.#authPort = authPort;
    this.#take(initial);
  }

  /** Answers from the Raft thread (in the order it sent them). */
  onReplies(replies: Reply[]): void {
    for (const r of replies) {
      const p = this.#pending.get(r.id);
      if (!p) continue; // cancelled watch
      this.#pending.delete(r.id);
      if (r.ok) p.resolve(r.v);
      else {
        const code = isErrorCode(r.e.code) ? r.e.code : 'internal';
        p.reject(kvError(code, r.e.message, r.e.headers ? { headers: r.e.headers } : undefined));
      }
    }
  }

  /** Every call still waiting fails (the worker is closing). */
  failAll(message: string): void {
    for (const p of this.#pending.values()) p.reject(kvError('unavailable', message));
    this.#pending.clear();
  }

  call<T>(m: CallMethod, a: unknown[], signal?: AbortSignal): Promise<T> {
    const id = this.#nextId++;
    const authorization = requestContext.getStore()?.authorization;
    this.#queue.push({ id, m, a, ...(authorization !== undefined ? { authorization } : {}) });
    this.#schedule();
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (!signal) return;
      signal.addEventListener(
        'abort',
        () => {
          if (!this.#pending.delete(id)) return;
          this.#queue.push({ id, m: 'cancel', a: [] });
          this.#schedule();
          reject(signal.reason as Error);
        },
        { once: true },
      );
    });
  }

  #schedule(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // After the poll phase: every request parsed in this turn goes in one message.
    setImmediate(() => {
      this.#flushScheduled = false;
      const calls = this.#queue;
      this.#queue = [];
      if (calls.length > 0) this.#post({ t: 'calls', calls });
    });
  }

  // ---- the auth state, mirrored ------------------------------------------------------

  #take(u: AuthUpdate): void {
    this.#auth.restore(u.snapshot);
    this.#authSeen = u.revision;
  }

  /** The auth state as applied on the Raft thread when this was called. */
  auth(): AuthStore {
    const wanted = Atomics.load(this.#authRevision, 0);
    while (this.#authSeen !== wanted) {
      const m = receiveMessageOnPort(this.#authPort);
      if (m === undefined) break; // posted before the revision was published: cannot happen; keep the last
      this.#take(m.message as AuthUpdate);
    }
    return this.#auth;
  }

  proposeAuth(change: AuthChange, caller: Caller): Promise<AuthChangeResult> {
    return this.call('proposeAuth', [change, caller]);
  }

  barrier(): Promise<void> {
    return this.call('barrier', []);
  }

  metrics(): Promise<{ contentType: string; body: string }> {
    return this.call('metrics', []);
  }

  // ---- KvService ---------------------------------------------------------------------

  get(key: string, o: GetOptions): Promise<{ kv: KeyValue | undefined; index: number }> {
    return this.call('get', [key, o]);
  }
  list(
    prefix: string,
    o: ListOptions,
  ): Promise<{ items: KeyValue[] | string[]; more: boolean; index: number }> {
    return this.call('list', [prefix, o]);
  }
  put(key: string, value: string, o: PutOptions): Promise<{ kv: KeyValue; index: number }> {
    return this.call('put', [key, value, o]);
  }
  delete(key: string, o: DeleteOptions): Promise<{ deleted: number; index: number }> {
    return this.call('delete', [key, o]);
  }
  watch(key: string, o: WatchOptions, signal: AbortSignal): Promise<number> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return this.call('watch', [key, o], signal);
  }
  status(): Promise<NodeStatus> {
    return this.call('status', []);
  }
  members(): Promise<{ leader: string | null; members: MemberInfo[] }> {
    return this.call('members', []);
  }
  addMember(m: AddMemberRequest): Promise<MemberInfo> {
    return this.call('addMember', [m]);
  }
  promoteMember(id: string): Promise<void> {
    return this.call('promoteMember', [id]);
  }
  demoteMember(id: string): Promise<void> {
    return this.call('demoteMember', [id]);
  }
  removeMember(id: string): Promise<void> {
    return this.call('removeMember', [id]);
  }
  transferLeadership(to?: string): Promise<{ leader: string }> {
    return this.call('transferLeadership', to === undefined ? [] : [to]);
  }
  livez(): Promise<boolean> {
    return this.call('livez', []);
  }
  readyz(): Promise<{ ready: boolean; checks: ReadyCheck[] }> {
    return this.call('readyz', []);
  }
  appliedIndex(): number {
    return this.#applied[0]!;
  }
}
