// Concurrent clients doing get / put / delete / cas against random members,
// recording every operation with monotonic call and return times.
//
// Keys rotate: a key is retired after `opsPerKey` operations and a fresh one
// takes its place, which bounds every per-key history the checker must search
// (the approach of Jepsen's independent-key tests).
import type { Operation, OpKind } from '../checker/history.ts';
import type { Cluster } from './cluster.ts';
import { errorCode } from './cluster.ts';
import { anonymous, request, type Caller, type HttpResult } from './http.ts';

export interface WorkloadOptions {
  clients: number;
  activeKeys: number;
  opsPerKey: number;
  opTimeoutMs: number;
  /** Node error codes meaning "rejected before proposing": such writes count as failed, not unknown. */
  definiteFailureCodes: ReadonlySet<string>;
  prefix: string;
  random: () => number;
  /** Credentials of client i (secure mode alternates certificate and token users). */
  callerFor?: (client: number) => Caller;
}

export class Workload {
  readonly history: Operation[] = [];
  readonly keysUsed: string[] = [];
  /** Acknowledged operations per caller label (secure mode: certificate and token clients). */
  readonly okByCaller = new Map<string, number>();
  readonly #cluster: Cluster;
  readonly #o: WorkloadOptions;
  #active: { key: string; ops: number }[] = [];
  #keySeq = 0;
  #nextProcess = 0;
  #valueSeq = 0;
  #stopping = false;

  constructor(cluster: Cluster, options: WorkloadOptions) {
    this.#cluster = cluster;
    this.#o = options;
    for (let i = 0; i < options.activeKeys; i++) this.#active.push({ key: this.#newKey(), ops: 0 });
  }

  #newKey(): string {
    const key = `${this.#o.prefix}/k${this.#keySeq++}`;
    this.keysUsed.push(key);
    return key;
  }

  #pickKey(): string {
    const i = Math.floor(this.#o.random() * this.#active.length);
    const slot = this.#active[i]!;
    if (++slot.ops > this.#o.opsPerKey) this.#active[i] = { key: this.#newKey(), ops: 1 };
    return this.#active[i]!.key;
  }

  async run(untilMs: number): Promise<void> {
    await Promise.all(
      Array.from({ length: this.#o.clients }, (_, i) =>
        this.#client(untilMs, this.#o.callerFor?.(i) ?? anonymous),
      ),
    );
  }

  stop(): void {
    this.#stopping = true;
  }

  async #client(untilMs: number, caller: Caller): Promise<void> {
    let proc = this.#nextProcess++;
    while (!this.#stopping && performance.now() < untilMs) {
      const slots = this.#cluster.slots();
      const slot = slots[Math.floor(this.#o.random() * slots.length)]!;
      const key = this.#pickKey();
      const r = this.#o.random();
      let op: Operation;
      if (r < 0.45) op = await this.get(proc, slot, key, this.#o.opTimeoutMs, caller);
      else if (r < 0.75) op = await this.#write(proc, slot, key, 'put', caller);
      else if (r < 0.85) op = await this.#write(proc, slot, key, 'delete', caller);
      else {
        // cas = read (recorded as its own op) then compare-and-set against its modifyIndex.
        const read = await this.get(proc, slot, key, this.#o.opTimeoutMs, caller);
        // Without the modifyIndex of what was read, a cas could not be mapped onto the value model.
        if (read.outcome !== 'ok' || (read.result !== null && read.modifyIndex === undefined)) op = read;
        else op = await this.#write(proc, slot, key, 'cas', caller, read);
      }
      // A client whose last op is in limbo is "still busy" with it: continue as a new process.
      if (op.outcome === 'unknown') {
        proc = this.#nextProcess++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      } else if (op.outcome === 'fail') {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  /** A linearizable read, recorded in the history. */
  async get(
    proc: number,
    slot: number,
    key: string,
    timeoutMs = this.#o.opTimeoutMs,
    caller: Caller = this.#cluster.caller,
  ): Promise<Operation> {
    const node = this.#cluster.members.get(slot)?.id ?? `slot${slot}`;
    const call = performance.now();
    const res = await request(
      'GET',
      `${this.#cluster.url(slot)}/v1/kv/${encodeURIComponent(key)}`,
      undefined,
      timeoutMs,
      caller,
    );
    const ret = performance.now();
    const op: Operation = {
      id: this.history.length,
      process: proc,
      key,
      kind: 'get',
      outcome: 'unknown',
      call,
      ret: Infinity,
      node,
    };
    if (res.kind === 'response' && (res.status === 200 || res.status === 404) && caller.label)
      this.okByCaller.set(caller.label, (this.okByCaller.get(caller.label) ?? 0) + 1);
    if (res.kind === 'response' && res.status === 200) {
      const body = res.body as { value?: string; modifyIndex?: number };
      Object.assign(op, { outcome: 'ok', ret, result: body.value ?? null, modifyIndex: body.modifyIndex });
    } else if (res.kind === 'response' && res.status === 404 && errorCode(res.body) === 'key-not-found') {
      Object.assign(op, { outcome: 'ok', ret, result: null });
    } else {
      // Failed and unknown reads carry no information; mark them failed so the checker drops them.
      Object.assign(op, { outcome: 'fail', ret, error: describe(res) });
    }
    this.history.push(op);
    return op;
  }

  async #write(
    proc: number,
    slot: number,
    key: string,
    kind: Exclude<OpKind, 'get'>,
    caller: Caller,
    read?: Operation,
  ): Promise<Operation> {
    const node = this.#cluster.members.get(slot)?.id ?? `slot${slot}`;
    const base = `${this.#cluster.url(slot)}/v1/kv/${encodeURIComponent(key)}`;
    const value = kind === 'delete' ? undefined : `v${proc}.${this.#valueSeq++}`;
    const op: Operation = {
      id: this.history.length,
      process: proc,
      key,
      kind,
      outcome: 'unknown',
      call: 0,
      ret: Infinity,
      node,
    };
    if (value !== undefined) op.value = value;
    let url = base;
    if (kind === 'cas') {
      op.expected = read?.result ?? null;
      url = `${base}?cas=${op.expected === null ? 0 : (read?.modifyIndex ?? 0)}`;
    }
    op.call = performance.now();
    const res = await request(
      kind === 'delete' ? 'DELETE' : 'PUT',
      url,
      value === undefined ? undefined : { value },
      this.#o.opTimeoutMs,
      caller,
    );
    const ret = performance.now();
    op.id = this.history.length;
    this.history.push(op);
    if (res.kind === 'response' && res.status === 200) {
      if (caller.label) this.okByCaller.set(caller.label, (this.okByCaller.get(caller.label) ?? 0) + 1);
      op.outcome = 'ok';
      op.ret = ret;
      const body = res.body as { deleted?: boolean; modifyIndex?: number };
      if (kind === 'delete' && typeof body.deleted === 'boolean') op.deleted = body.deleted;
      if (typeof body.modifyIndex === 'number') op.modifyIndex = body.modifyIndex;
      return op;
    }
    op.error = describe(res);
    const definite =
      (res.kind === 'response' && res.status >= 400 && res.status < 500) ||
      (res.kind === 'response' && this.#o.definiteFailureCodes.has(errorCode(res.body))) ||
      (res.kind === 'error' && !res.mayHaveBeenSent);
    if (definite) {
      op.outcome = 'fail';
      op.ret = ret;
      if (res.kind === 'response' && res.status === 412) op.error = 'cas-mismatch';
    }
    return op;
  }
}

function describe(res: HttpResult): string {
  if (res.kind === 'error') return res.code;
  return `${res.status}${errorCode(res.body) ? ` ${errorCode(res.body)}` : ''}`;
}
