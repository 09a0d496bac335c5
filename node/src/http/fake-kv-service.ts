// A Map-backed KvService for the HTTP tests. Records every call so tests can assert that
// rejected requests never reached the service.
import { EventEmitter } from 'node:events';
import { kvError, type KvError } from '../errors.ts';
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
} from './service.ts';

export interface Call {
  method: string;
  args: unknown[];
}

export class FakeKvService implements KvService {
  readonly calls: Call[] = [];
  readonly store = new Map<string, KeyValue>();
  index = 0;
  /** Thrown by the next service call, then cleared. */
  failNext: KvError | Error | null = null;
  ready = true;
  live = true;
  members_: MemberInfo[] = [
    {
      id: 'node1',
      peerUrl: 'http://localhost:8080',
      clientUrl: 'http://localhost:8080',
      role: 'voter',
      isLeader: true,
    },
  ];
  readonly #changes = new EventEmitter();

  #record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
    const f = this.failNext;
    if (f) {
      this.failNext = null;
      throw f;
    }
  }

  get(key: string, o: GetOptions): Promise<{ kv: KeyValue | undefined; index: number }> {
    this.#record('get', key, o);
    return Promise.resolve({ kv: this.store.get(key), index: this.index });
  }

  list(
    prefix: string,
    o: ListOptions,
  ): Promise<{ items: KeyValue[] | string[]; more: boolean; index: number }> {
    this.#record('list', prefix, o);
    const keys = [...this.store.keys()].filter((k) => k.startsWith(prefix)).sort();
    if (o.keysOnly) {
      const names: string[] = [];
      for (const k of keys) {
        const cut = o.separator === undefined ? -1 : k.indexOf(o.separator, prefix.length);
        const name = cut < 0 ? k : k.slice(0, cut + (o.separator?.length ?? 0));
        if (names[names.length - 1] !== name) names.push(name);
      }
      return Promise.resolve({
        items: names.slice(0, o.limit),
        more: names.length > o.limit,
        index: this.index,
      });
    }
    const items = keys.map((k) => this.store.get(k)!);
    return Promise.resolve({
      items: items.slice(0, o.limit),
      more: items.length > o.limit,
      index: this.index,
    });
  }

  put(key: string, value: string, o: PutOptions): Promise<{ kv: KeyValue; index: number }> {
    this.#record('put', key, value, o);
    const old = this.store.get(key);
    if (o.cas !== undefined && (old?.modifyIndex ?? 0) !== o.cas) {
      throw kvError('cas-mismatch', `modifyIndex is ${old?.modifyIndex ?? 0}, not ${o.cas}`);
    }
    const index = ++this.index;
    const kv: KeyValue = {
      key,
      value,
      createIndex: old?.createIndex ?? index,
      modifyIndex: index,
      version: (old?.version ?? 0) + 1,
    };
    if (o.ttlMs !== undefined) {
      kv.ttl = o.ttl!;
      kv.expiresAt = 1_700_000_000_000 + o.ttlMs;
    }
    this.store.set(key, kv);
    this.#changes.emit('change', key);
    return Promise.resolve({ kv, index });
  }

  delete(key: string, o: DeleteOptions): Promise<{ deleted: number; index: number }> {
    this.#record('delete', key, o);
    const victims = o.recurse
      ? [...this.store.keys()].filter((k) => k.startsWith(key))
      : this.store.has(key)
        ? [key]
        : [];
    if (o.cas !== undefined && (this.store.get(key)?.modifyIndex ?? 0) !== o.cas)
      throw kvError('cas-mismatch', 'cas mismatch');
    if (victims.length === 0) return Promise.resolve({ deleted: 0, index: this.index });
    const index = ++this.index;
    for (const k of victims) this.store.delete(k);
    for (const k of victims) this.#changes.emit('change', k);
    return Promise.resolve({ deleted: victims.length, index });
  }

  watch(key: string, o: WatchOptions, signal: AbortSignal): Promise<number> {
    this.#record('watch', key, o);
    if (this.index > o.index) return Promise.resolve(this.index);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#changes.off('change', onChange);
        signal.removeEventListener('abort', done);
        resolve(this.index);
      };
      const onChange = (k: string): void => {
        if (o.recurse ? k.startsWith(key) : k === key) done();
      };
      const timer = setTimeout(done, o.waitMs);
      this.#changes.on('change', onChange);
      signal.addEventListener('abort', done);
    });
  }

  status(): NodeStatus {
    this.#record('status');
    return {
      id: 'node1',
      clusterId: 'c1',
      state: 'leader',
      leader: 'node1',
      term: 2,
      commitIndex: this.index,
      appliedIndex: this.index,
      lastIndex: this.index,
      lastLogTerm: 2,
      dataState: 'ok',
      members: this.members_,
    };
  }

  members(): Promise<{ leader: string | null; members: MemberInfo[] }> {
    this.#record('members');
    return Promise.resolve({ leader: 'node1', members: this.members_ });
  }

  addMember(m: AddMemberRequest): Promise<MemberInfo> {
    this.#record('addMember', m);
    if (this.members_.some((x) => x.id === m.id)) throw kvError('member-exists', `member ${m.id} exists`);
    const info: MemberInfo = {
      id: m.id,
      peerUrl: m.peerUrl,
      clientUrl: m.clientUrl ?? m.peerUrl,
      role: m.role,
      isLeader: false,
    };
    this.members_.push(info);
    return Promise.resolve(info);
  }

  demoteMember(id: string): Promise<void> {
    this.#record('demoteMember', id);
    const m = this.members_.find((x) => x.id === id);
    if (!m) throw kvError('member-not-found', `no member ${id}`);
    m.role = 'learner';
    return Promise.resolve();
  }

  promoteMember(id: string): Promise<void> {
    this.#record('promoteMember', id);
    const m = this.members_.find((x) => x.id === id);
    if (!m) throw kvError('member-not-found', `no member ${id}`);
    m.role = 'voter';
    return Promise.resolve();
  }

  removeMember(id: string): Promise<void> {
    this.#record('removeMember', id);
    if (!this.members_.some((x) => x.id === id)) throw kvError('member-not-found', `no member ${id}`);
    this.members_ = this.members_.filter((x) => x.id !== id);
    return Promise.resolve();
  }

  transferLeadership(to?: string): Promise<{ leader: string }> {
    this.#record('transferLeadership', to);
    return Promise.resolve({ leader: to ?? 'node2' });
  }

  /** Not recorded in `calls`: the app reads it for every response's X-KV-Index header. */
  appliedIndex(): number {
    return this.index;
  }

  livez(): boolean {
    this.#record('livez');
    return this.live;
  }

  readyz(): { ready: boolean; checks: ReadyCheck[] } {
    this.#record('readyz');
    return {
      ready: this.ready,
      checks: [{ name: 'leader', ok: this.ready, ...(this.ready ? {} : { message: 'no leader' }) }],
    };
  }
}
