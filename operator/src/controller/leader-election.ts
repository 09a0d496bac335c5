// Leader election on a coordination.k8s.io/v1 Lease, so two operator replicas never act at
// once. The decision (acquire / renew / wait) is a pure function; the elector does the I/O with
// optimistic concurrency (resourceVersion): of two replicas racing, one write gets a 409.
import type { V1Lease } from '@kubernetes/client-node';
import type { Kube } from '../kube/kube.ts';
import { isConflict } from '../kube/kube.ts';
import type { Logger } from '../observability/log.ts';

export interface LeaseState {
  holderIdentity?: string | undefined;
  leaseDurationSeconds?: number | undefined;
  acquireTime?: string | undefined;
  renewTime?: string | undefined;
  leaseTransitions?: number | undefined;
}

export type LeaseDecision = 'acquire' | 'renew' | 'wait';

export function decide(
  lease: LeaseState | null,
  me: string,
  now: Date,
  defaultDurationSec: number,
): LeaseDecision {
  if (lease === null) return 'acquire';
  const holder = lease.holderIdentity ?? '';
  if (holder === me) return 'renew';
  if (holder === '') return 'acquire';
  const renew = lease.renewTime !== undefined ? Date.parse(lease.renewTime) : NaN;
  if (Number.isNaN(renew)) return 'acquire';
  const duration = (lease.leaseDurationSeconds ?? defaultDurationSec) * 1000;
  return now.getTime() > renew + duration ? 'acquire' : 'wait';
}

export function nextLease(
  lease: LeaseState | null,
  me: string,
  now: Date,
  durationSec: number,
  decision: 'acquire' | 'renew',
): LeaseState {
  const t = now.toISOString();
  if (decision === 'renew' && lease !== null)
    return { ...lease, renewTime: t, leaseDurationSeconds: durationSec };
  const changedHands = lease !== null && (lease.holderIdentity ?? '') !== '' && lease.holderIdentity !== me;
  return {
    holderIdentity: me,
    leaseDurationSeconds: durationSec,
    acquireTime: t,
    renewTime: t,
    leaseTransitions: (lease?.leaseTransitions ?? 0) + (changedHands ? 1 : 0),
  };
}

/** Lease times are RFC 3339 with microseconds (MicroTime). */
function micro(t: string | undefined): string | undefined {
  return t === undefined ? undefined : t.replace(/\.(\d{3})Z$/, '.$1000Z');
}

function fromApi(l: V1Lease): LeaseState {
  const iso = (d: Date | string | undefined) =>
    d === undefined ? undefined : d instanceof Date ? d.toISOString() : d;
  return {
    holderIdentity: l.spec?.holderIdentity,
    leaseDurationSeconds: l.spec?.leaseDurationSeconds,
    acquireTime: iso(l.spec?.acquireTime),
    renewTime: iso(l.spec?.renewTime),
    leaseTransitions: l.spec?.leaseTransitions,
  };
}

export interface ElectorOptions {
  kube: Kube;
  log: Logger;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSec?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  now?: () => Date;
}

export class LeaderElector {
  private readonly o: Required<Omit<ElectorOptions, 'now'>> & { now: () => Date };
  private leading = false;
  private lastRenew = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(opts: ElectorOptions) {
    this.o = {
      leaseDurationSec: 15,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      now: () => new Date(),
      ...opts,
    };
  }

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.loop();
  }

  private async loop(): Promise<void> {
    if (this.stopped) return;
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (err) {
      this.o.log.warn('lease update failed', { lease: this.o.name, error: err });
    }
    const now = this.o.now().getTime();
    if (ok) {
      this.lastRenew = now;
      if (!this.leading) {
        this.leading = true;
        this.o.log.info('became leader', { identity: this.o.identity, lease: this.o.name });
        this.o.onStartedLeading();
      }
    } else if (this.leading && now - this.lastRenew > this.o.renewDeadlineMs) {
      this.leading = false;
      this.o.log.error('lost leadership', { identity: this.o.identity });
      this.o.onStoppedLeading();
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.loop(), this.o.retryPeriodMs);
  }

  /** One attempt; true when we hold the lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { kube, namespace, name, identity, leaseDurationSec } = this.o;
    const now = this.o.now();
    const current = await kube.get<V1Lease>('coordination.k8s.io/v1', 'Lease', namespace, name);
    const state = current === null ? null : fromApi(current);
    const decision = decide(state, identity, now, leaseDurationSec);
    if (decision === 'wait') return false;
    const next = nextLease(state, identity, now, leaseDurationSec, decision);
    const body = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name,
        namespace,
        ...(current?.metadata?.resourceVersion !== undefined
          ? { resourceVersion: current.metadata.resourceVersion }
          : {}),
      },
      spec: { ...next, acquireTime: micro(next.acquireTime), renewTime: micro(next.renewTime) },
    } as unknown as V1Lease;
    try {
      if (current === null) await kube.create(body);
      else await kube.replace(body);
      return true;
    } catch (err) {
      if (isConflict(err)) return false; // someone else wrote first
      throw err;
    }
  }

  /** Stop campaigning; when leading, hand the lease back so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    const { kube, namespace, name } = this.o;
    try {
      const current = await kube.get<V1Lease>('coordination.k8s.io/v1', 'Lease', namespace, name);
      if (current?.spec?.holderIdentity !== this.o.identity) return;
      await kube.replace({
        ...current,
        spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1 },
      });
    } catch (err) {
      this.o.log.warn('could not release the lease', { error: err });
    }
  }
}
