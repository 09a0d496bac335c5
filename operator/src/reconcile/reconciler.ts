// The thin orchestrator: observe -> plan one step -> carry it out -> write status. Every
// decision is the planner's; every object shape is a builder's; this file only wires them.
import type { V1PersistentVolumeClaim, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type { Condition, KVCluster, KVClusterStatus } from '../types.ts';
import { API_VERSION, KIND, withDefaults } from '../types.ts';
import type { Kube } from '../kube/kube.ts';
import type { Logger } from '../observability/log.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import { NODE_PORT, names, ordinalOf, selectorString } from '../specs/names.ts';
import type { NodeAdmin, NodeStatus } from './nodeclient.ts';
import { HttpNodeAdmin, NodeApiError } from './nodeclient.ts';
import { ClusterSecurity, securedAdmin, type AuthOutcome, type TlsOutcome } from './security.ts';
import type { AllowedClient } from '../specs/networkpolicy.ts';
import type { Observation } from './observe.ts';
import { isBootstrapped, leaderStatus, toPlanInput } from './observe.ts';
import type { Step } from './planner.ts';
import { planNextStep } from './planner.ts';
import { applyOwnedObjects, applyStatefulSet } from './create.ts';
import { executeMembershipStep } from './scale.ts';
import { rollPod } from './upgrade.ts';
import { handleDeletion } from './delete.ts';
import { buildStatus } from './status.ts';
import { runRecovery } from './recovery-run.ts';
import { backupPartOf } from './backup.ts';
import { errorMessage, failureEvent, record, refusalEvent, stepError, stepEvent } from './events.ts';
import { applyFenceFile, day2Status } from './day2-apply.ts';
import { reconcileStorage, templateSizeOf, withTemplateSize } from './storage.ts';

export interface ReconcileResult {
  /** Reconcile again after this many ms (even without events). */
  requeueAfterMs: number;
  step?: Step;
}

export interface ReconcilerDeps {
  kube: Kube;
  node: NodeAdmin;
  log: Logger;
  metrics: OperatorMetrics;
  now?: () => Date;
  /** Who the cluster NetworkPolicies let in besides members and allowed clients: the operator's pods. */
  operatorPeer?: AllowedClient;
}

/** The operator's own pods, as main.ts describes them (namespace from POD_NAMESPACE). */
export function defaultOperatorPeer(namespace: string): AllowedClient {
  return {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
    podSelector: { matchLabels: { 'app.kubernetes.io/name': 'kv-store-operator' } },
  };
}

/** How the operator reaches one cluster's members this reconcile. */
interface Access {
  tls: TlsOutcome | null;
  node: NodeAdmin;
  /** The secured HTTP client when the injected one is HttpNodeAdmin (auth needs it). */
  http: HttpNodeAdmin | null;
  /** How the operator authenticates this reconcile (ADR 0074): its certificate, root's token, or not at all. */
  via: 'certificate' | 'token' | null;
  /** The same without credentials: a joining member has no auth state yet and refuses any token. */
  anonymous: NodeAdmin;
}

export interface LeaderAccess {
  admin: HttpNodeAdmin;
  url: string;
  uid: string;
}

export const REQUEUE = { afterChange: 1000, waiting: 2000, refused: 10_000, idle: 30_000 };

export class Reconciler {
  private readonly deps: ReconcilerDeps;
  private readonly known = new Set<string>();
  /** How the last reconcile reached each cluster's leader (KVBackup asks it: backup/kvbackup.ts). */
  private readonly leaders = new Map<string, LeaderAccess>();
  private readonly security: ClusterSecurity;

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
    this.security = new ClusterSecurity({
      kube: deps.kube,
      log: deps.log,
      now: () => (deps.now ?? (() => new Date()))().getTime(),
    });
  }

  managedClusters(): number {
    return this.known.size;
  }

  /** The leader of a cluster as last reconciled (with its CA and root token), or null. */
  leaderAccess(namespace: string, name: string): LeaderAccess | null {
    return this.leaders.get(`${namespace}/${name}`) ?? null;
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const { kube, log, metrics } = this.deps;
    const key = `${namespace}/${name}`;
    const kv = (await kube.get(API_VERSION, KIND, namespace, name)) as unknown as KVCluster | null;
    if (kv === null) {
      this.known.delete(key);
      this.leaders.delete(key);
      metrics.forgetCluster(namespace, name);
      return { requeueAfterMs: 0 };
    }
    if (kv.metadata.deletionTimestamp !== undefined && kv.metadata.deletionTimestamp !== null) {
      await handleDeletion(kube, kv);
      this.known.delete(key);
      metrics.forgetCluster(namespace, name);
      return { requeueAfterMs: 0 };
    }
    this.known.add(key);
    const spec = withDefaults(kv.spec);
    const observed = await this.observeObjects(kv);
    // Volume growth and orphaned pods before anything applies the StatefulSet (storage.ts).
    const storage = await reconcileStorage(
      kube,
      kv,
      {
        statefulSet: observed.statefulSet,
        pvcs: observed.pvcs,
        podNames: observed.pods
          .filter((p) => p.metadata?.deletionTimestamp == null)
          .map((p) => p.metadata?.name ?? ''),
      },
      (k, replicas) => applyStatefulSet(kube, k, replicas, isBootstrappedBy(k, observed.statefulSet)),
    );
    for (const d of storage.done) await record(kube, log, kv, { type: 'Normal', ...d });
    const objects = { ...observed, statefulSet: storage.statefulSet };
    // The StatefulSet is always built with the volume template in force (it is immutable).
    const stsKv = withTemplateSize(kv, templateSizeOf(storage.statefulSet) ?? spec.storage.size);
    // Certificates before pods: a member's Secret must hold its certificate when it starts.
    const access = await this.access(kv, objects.statefulSet, objects.pods);
    const obs = await this.observeNodes(kv, objects, access);
    const bootstrapped = isBootstrapped(obs);
    const input = toPlanInput(obs);

    await applyOwnedObjects(kube, kv, this.deps.operatorPeer ?? defaultOperatorPeer('kv-store-system'));
    // Keep the StatefulSet template current (OnDelete: no pod restarts) at its current size.
    if (obs.statefulSet !== null)
      await applyStatefulSet(kube, stsKv, input.statefulSetReplicas ?? 0, bootstrapped);
    await applyFenceFile(kube, log, kv, input);

    const planned: Step = spec.paused ? { kind: 'wait', reason: 'paused' } : planNextStep(input);
    const now = (this.deps.now ?? (() => new Date()))().toISOString();
    // Quorum loss and unusable member data (docs/adr/0077): may replace the planner's refusal.
    const recovery = await runRecovery(
      { kube, node: access.node, log, podUrl: (pod) => this.podUrl(kv, obs, pod), now, act: !spec.paused },
      obs,
      input,
      planned,
    );
    const step: Step = spec.paused ? planned : (recovery.step ?? planned);
    let result: 'success' | 'error' = 'success';
    let failure: unknown;
    let lastError = kv.status?.lastError;
    if (!spec.paused && isAction(step)) {
      const leader = leaderStatus(obs);
      const leaderUrl = leader === null ? null : this.podUrl(kv, obs, leader.id);
      try {
        if (step.kind === 'roll-pod') await rollPod(kube, kv, step.member);
        else
          await executeMembershipStep({ kube, node: access.node, kv: stsKv, leaderUrl, bootstrapped }, step);
        log.info('membership step done', { cluster: key, step });
        lastError = undefined;
        const ev = stepEvent(step);
        if (ev !== null) await record(kube, log, kv, ev);
      } catch (err) {
        result = 'error';
        failure = err;
        lastError = stepError(step, err, now);
        log.warn('membership step failed', { cluster: key, step, error: err });
        await record(kube, log, kv, failureEvent(step, err));
      }
      metrics.membershipOperations.inc({ kind: step.kind, result });
    } else if (step.kind !== 'nothing') {
      log.debug('not changing anything', { cluster: key, step });
      const ev = refusalEvent(step, kv.status?.conditions);
      if (ev !== null) await record(kube, log, kv, ev);
    }

    const auth = await this.ensureAuth(kv, obs, access);
    const leaderNow = leaderStatus(obs);
    const leaderNowUrl = leaderNow === null ? null : this.podUrl(kv, obs, leaderNow.id);
    if (access.http !== null && leaderNowUrl !== null)
      this.leaders.set(key, { admin: access.http, url: leaderNowUrl, uid: kv.metadata.uid });
    else this.leaders.delete(key);
    const base = buildStatus(obs, input, step, now);
    const security = securityStatus(kv, access, auth, now);
    const backup = backupPartOf(
      kv,
      leaderNow,
      [...obs.nodeStatuses.values()].map((s) => s?.restoredFrom),
      new Date(now),
    );
    const day2 = await day2Status(kube, log, kv, storage.plan, now);
    const status: KVClusterStatus = {
      ...base,
      ...security,
      ...backup.status,
      ...(lastError !== undefined ? { lastError } : {}),
      conditions: [
        ...(base.conditions ?? []),
        ...security.conditions,
        ...recovery.conditions,
        ...backup.conditions,
        ...day2,
      ],
    };
    if (backup.event !== null) await kube.event?.(kv, 'Normal', 'Restored', backup.event);
    if (backup.warning !== null) await kube.event?.(kv, 'Warning', 'InvalidBackupSpec', backup.warning);
    metrics.setMembers(namespace, name, {
      voter: status.voters ?? 0,
      learner: status.learners ?? 0,
      none: (status.members ?? []).filter((m) => m.role === 'none').length,
    });
    await kube.applyStatus(kv, status);
    const requeueAfterMs =
      step.kind === 'nothing'
        ? REQUEUE.idle
        : step.kind === 'refuse'
          ? REQUEUE.refused
          : isAction(step)
            ? REQUEUE.afterChange
            : REQUEUE.waiting;
    const untilTls =
      access.tls === null
        ? Infinity
        : Math.max(1000, access.tls.recheckAt - (this.deps.now?.() ?? new Date()).getTime());
    if (result === 'error') throw new StepFailed(step, failure);
    return { requeueAfterMs: Math.min(requeueAfterMs, untilTls), step };
  }

  /**
   * A member's client URL: with TLS the pod's DNS name under the peer Service (the name its
   * certificate carries); without, its pod IP.
   */
  private podUrl(kv: KVCluster, obs: { pods: V1Pod[] }, podName: string): string | null {
    const pod = obs.pods.find((p) => p.metadata?.name === podName);
    const ip = pod?.status?.podIP;
    if (ip === undefined || ip === '') return null;
    const ordinal = ordinalOf(kv.metadata.name, podName);
    if (withDefaults(kv.spec).tls.enabled && ordinal !== undefined)
      return `https://${names(kv).memberHost(ordinal)}:${NODE_PORT}`;
    return `http://${hostPort(ip)}`;
  }

  private runningUrls(kv: KVCluster, pods: V1Pod[]): string[] {
    return pods
      .filter((p) => p.status?.phase === 'Running' && p.metadata?.deletionTimestamp == null)
      .map((p) => this.podUrl(kv, { pods }, p.metadata?.name ?? ''))
      .filter((u): u is string => u !== null);
  }

  private async access(kv: KVCluster, statefulSet: V1StatefulSet | null, pods: V1Pod[]): Promise<Access> {
    const spec = withDefaults(kv.spec);
    let tls: TlsOutcome | null = null;
    const base = this.deps.node;
    if (spec.tls.enabled) {
      tls = await this.security.ensureTls(kv, statefulSet, pods, async (bundle, isFromCa) => {
        if (!(base instanceof HttpNodeAdmin)) return false;
        const client = base.secured({ ca: bundle });
        const urls = this.runningUrls(kv, pods);
        if (urls.length === 0) return false;
        const certs = await Promise.all(urls.map((u) => client.servedCertificate(u)));
        return certs.every(isFromCa);
      });
    }
    const plain = securedAdmin(base, tls === null ? {} : { ca: tls.bundle });
    const http = plain instanceof HttpNodeAdmin ? plain : null;
    const credentials =
      http === null ? null : await this.security.credentials(kv, http, tls, this.runningUrls(kv, pods));
    const node =
      credentials === null
        ? plain
        : securedAdmin(plain, { ...(tls ? { ca: tls.bundle } : {}), ...credentials });
    return {
      tls,
      node,
      http: node instanceof HttpNodeAdmin ? node : null,
      via: credentials === null ? null : 'identity' in credentials ? 'certificate' : 'token',
      anonymous: plain,
    };
  }

  /** Root, auth on, declared users and roles, through the leader; a problem to report or null. */
  private async ensureAuth(kv: KVCluster, obs: Observation, access: Access): Promise<AuthOutcome> {
    if (!withDefaults(kv.spec).auth.enabled || access.http === null) return { problem: null, enabled: false };
    const leader = leaderStatus(obs);
    const url = leader === null ? null : this.podUrl(kv, obs, leader.id);
    if (url === null) return { problem: 'waiting for a leader', enabled: false };
    try {
      return await this.security.ensureAuth(kv, access.http, url);
    } catch (err) {
      if (err instanceof NodeApiError && err.status === 401) this.refused(kv, access);
      this.deps.log.warn('auth reconcile failed', {
        cluster: `${kv.metadata.namespace}/${kv.metadata.name}`,
        error: err,
      });
      return {
        problem: `auth not applied yet: ${err instanceof NodeApiError ? err.code : 'error'}`,
        enabled: false,
      };
    }
  }

  /** The members refused the operator's credentials: a token is renewed, a certificate set aside. */
  private refused(kv: KVCluster, access: Access): void {
    if (access.via === 'certificate') this.security.certificateRefused(kv);
    else this.security.forgetToken(kv);
  }

  private async observeObjects(kv: KVCluster) {
    const { kube } = this.deps;
    const ns = kv.metadata.namespace;
    const selector = selectorString(kv);
    const [statefulSet, pods, pvcs] = await Promise.all([
      kube.get<V1StatefulSet>('apps/v1', 'StatefulSet', ns, names(kv).statefulSet),
      kube.list<V1Pod>('v1', 'Pod', ns, selector),
      kube.list<V1PersistentVolumeClaim>('v1', 'PersistentVolumeClaim', ns, selector),
    ]);
    return { statefulSet, pods, pvcs };
  }

  private async observeNodes(
    kv: KVCluster,
    objects: { statefulSet: V1StatefulSet | null; pods: V1Pod[]; pvcs: V1PersistentVolumeClaim[] },
    access: Access,
  ): Promise<Observation> {
    const { statefulSet, pods, pvcs } = objects;
    const node = access.node;
    let unauthorized = false;
    const nodeStatuses = new Map<string, NodeStatus | null>();
    await Promise.all(
      pods.map(async (p) => {
        const name = p.metadata?.name ?? '';
        const ip = p.status?.podIP;
        if (ip === undefined || ip === '' || p.status?.phase !== 'Running') {
          nodeStatuses.set(name, null);
          return;
        }
        const url = this.podUrl(kv, objects, name);
        try {
          if (url === null) throw new Error('no address');
          nodeStatuses.set(name, await node.status(url));
        } catch (err) {
          nodeStatuses.set(name, null);
          if (!(err instanceof NodeApiError && err.status === 401) || url === null) return;
          // An empty member waiting to join has auth off and no token key: it refuses every token
          // but answers without one. Anyone else refusing the token means it expired or was revoked.
          try {
            nodeStatuses.set(name, await access.anonymous.status(url));
          } catch {
            unauthorized = true;
          }
        }
      }),
    );
    // A token refused (expired, revoked, auth re-enabled): log in again next time. A certificate
    // refused: the member does not verify client certificates yet; use a token meanwhile.
    if (unauthorized) this.refused(kv, access);
    return { kv, statefulSet, pods, pvcs, nodeStatuses };
  }
}

/** The same rule as observe.ts isBootstrapped, before the nodes were asked. */
function isBootstrappedBy(kv: KVCluster, sts: V1StatefulSet | null): boolean {
  if (kv.status?.clusterId !== undefined && kv.status.clusterId !== '') return true;
  return (sts?.spec?.template.spec?.containers[0]?.args ?? []).includes('-join');
}

function hostPort(ip: string): string {
  return ip.includes(':') ? `[${ip}]:${NODE_PORT}` : `${ip}:${NODE_PORT}`;
}

export function isAction(step: Step): step is Exclude<Step, { kind: 'nothing' | 'wait' | 'refuse' }> {
  return step.kind !== 'nothing' && step.kind !== 'wait' && step.kind !== 'refuse';
}

export class StepFailed extends Error {
  readonly step: Step;
  constructor(step: Step, cause?: unknown) {
    super(`membership step ${step.kind} failed${cause === undefined ? '' : `: ${errorMessage(cause)}`}`, {
      cause,
    });
    this.name = 'StepFailed';
    this.step = step;
  }
}

/** The security part of the status: Secret names for clients, certificate dates, two conditions. */
function securityStatus(
  kv: KVCluster,
  access: Access,
  auth: AuthOutcome,
  now: string,
): Pick<KVClusterStatus, 'secrets' | 'tls' | 'conditions'> & { conditions: Condition[] } {
  const spec = withDefaults(kv.spec);
  const n = names(kv);
  const prev = kv.status?.conditions ?? [];
  const conditions: Condition[] = [];
  const gen = kv.metadata.generation ?? 0;
  const keep = (c: Omit<Condition, 'lastTransitionTime'>): Condition => {
    const old = prev.find((p) => p.type === c.type);
    return {
      ...c,
      lastTransitionTime: old !== undefined && old.status === c.status ? old.lastTransitionTime : now,
    };
  };
  if (spec.tls.enabled) {
    const phase = access.tls?.status.caPhase ?? 'Stable';
    conditions.push(
      keep({
        type: 'CertificatesReady',
        status: access.tls === null ? 'False' : 'True',
        observedGeneration: gen,
        reason: phase === 'Stable' ? 'Issued' : `CARotation${phase}`,
        message:
          access.tls?.status.renewAt !== undefined
            ? `member certificates renew at ${access.tls.status.renewAt}`
            : 'member certificates issued',
      }),
    );
  }
  if (spec.auth.enabled) {
    conditions.push(
      keep({
        type: 'AuthReady',
        status: auth.problem === null && auth.enabled && access.via !== null ? 'True' : 'False',
        observedGeneration: gen,
        reason:
          auth.problem === null
            ? auth.enabled && access.via !== null
              ? 'Enabled'
              : 'Bootstrapping'
            : 'NotApplied',
        message:
          auth.problem ??
          (auth.enabled && access.via !== null
            ? `root and declared users applied; the operator authenticates by ${access.via === 'certificate' ? 'client certificate' : "root's token"}`
            : 'enabling auth'),
      }),
    );
  }
  return {
    conditions,
    ...(spec.tls.enabled || spec.auth.enabled
      ? {
          secrets: {
            ...(spec.tls.enabled ? { caBundle: n.caBundleSecret } : {}),
            ...(spec.auth.enabled ? { root: n.rootSecret } : {}),
          },
        }
      : {}),
    ...(access.tls !== null ? { tls: access.tls.status } : {}),
  };
}
