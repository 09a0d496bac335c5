// The thin orchestrator: observe -> plan one step -> carry it out -> write status. Every
// decision is the planner's; every object shape is a builder's; this file only wires them.
import type { V1PersistentVolumeClaim, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type { KVCluster } from '../types.ts';
import { API_VERSION, KIND, withDefaults } from '../types.ts';
import type { Kube } from '../kube/kube.ts';
import type { Logger } from '../observability/log.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import { NODE_PORT, names, selectorString } from '../specs/names.ts';
import type { NodeAdmin, NodeStatus } from './nodeclient.ts';
import type { Observation } from './observe.ts';
import { isBootstrapped, leaderStatus, toPlanInput } from './observe.ts';
import type { Step } from './planner.ts';
import { planNextStep } from './planner.ts';
import { applyOwnedObjects, applyStatefulSet } from './create.ts';
import { executeMembershipStep } from './scale.ts';
import { rollPod } from './upgrade.ts';
import { handleDeletion } from './delete.ts';
import { buildStatus } from './status.ts';

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
}

export const REQUEUE = { afterChange: 1000, waiting: 2000, refused: 10_000, idle: 30_000 };

export class Reconciler {
  private readonly deps: ReconcilerDeps;
  private readonly known = new Set<string>();

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
  }

  managedClusters(): number {
    return this.known.size;
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const { kube, log, metrics } = this.deps;
    const key = `${namespace}/${name}`;
    const kv = (await kube.get(API_VERSION, KIND, namespace, name)) as unknown as KVCluster | null;
    if (kv === null) {
      this.known.delete(key);
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
    const obs = await this.observe(kv);
    const bootstrapped = isBootstrapped(obs);
    const input = toPlanInput(obs);

    await applyOwnedObjects(kube, kv);
    // Keep the StatefulSet template current (OnDelete: no pod restarts) at its current size.
    if (obs.statefulSet !== null)
      await applyStatefulSet(kube, kv, input.statefulSetReplicas ?? 0, bootstrapped);

    const step: Step = spec.paused ? { kind: 'wait', reason: 'paused' } : planNextStep(input);
    const now = (this.deps.now ?? (() => new Date()))().toISOString();
    let result: 'success' | 'error' = 'success';
    if (!spec.paused && isAction(step)) {
      const leader = leaderStatus(obs);
      const leaderUrl = leader === null ? null : this.podUrl(obs, leader.id);
      try {
        if (step.kind === 'roll-pod') await rollPod(kube, kv, step.member);
        else await executeMembershipStep({ kube, node: this.deps.node, kv, leaderUrl, bootstrapped }, step);
        log.info('membership step done', { cluster: key, step });
      } catch (err) {
        result = 'error';
        log.warn('membership step failed', { cluster: key, step, error: err });
      }
      metrics.membershipOperations.inc({ kind: step.kind, result });
    } else if (step.kind !== 'nothing') {
      log.debug('not changing anything', { cluster: key, step });
    }

    const status = buildStatus(obs, input, step, now);
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
    if (result === 'error') throw new StepFailed(step);
    return { requeueAfterMs, step };
  }

  private podUrl(obs: Observation, podName: string): string | null {
    const pod = obs.pods.find((p) => p.metadata?.name === podName);
    const ip = pod?.status?.podIP;
    return ip === undefined || ip === '' ? null : `http://${hostPort(ip)}`;
  }

  private async observe(kv: KVCluster): Promise<Observation> {
    const { kube, node } = this.deps;
    const ns = kv.metadata.namespace;
    const selector = selectorString(kv);
    const [statefulSet, pods, pvcs] = await Promise.all([
      kube.get<V1StatefulSet>('apps/v1', 'StatefulSet', ns, names(kv).statefulSet),
      kube.list<V1Pod>('v1', 'Pod', ns, selector),
      kube.list<V1PersistentVolumeClaim>('v1', 'PersistentVolumeClaim', ns, selector),
    ]);
    const nodeStatuses = new Map<string, NodeStatus | null>();
    await Promise.all(
      pods.map(async (p) => {
        const name = p.metadata?.name ?? '';
        const ip = p.status?.podIP;
        if (ip === undefined || ip === '' || p.status?.phase !== 'Running') {
          nodeStatuses.set(name, null);
          return;
        }
        try {
          nodeStatuses.set(name, await node.status(`http://${hostPort(ip)}`));
        } catch {
          nodeStatuses.set(name, null);
        }
      }),
    );
    return { kv, statefulSet, pods, pvcs, nodeStatuses };
  }
}

function hostPort(ip: string): string {
  return ip.includes(':') ? `[${ip}]:${NODE_PORT}` : `${ip}:${NODE_PORT}`;
}

export function isAction(step: Step): step is Exclude<Step, { kind: 'nothing' | 'wait' | 'refuse' }> {
  return step.kind !== 'nothing' && step.kind !== 'wait' && step.kind !== 'refuse';
}

export class StepFailed extends Error {
  readonly step: Step;
  constructor(step: Step) {
    super(`membership step ${step.kind} failed`);
    this.name = 'StepFailed';
    this.step = step;
  }
}
