// Volume growth (ADR 0076): spec.storage.size may grow, never shrink. The decision is pure
// (planStorage); resizeVolumes() carries it out: it patches every member PVC when the StorageClass
// allows expansion, then replaces the StatefulSet, whose volumeClaimTemplates are immutable, by
// deleting it with the Orphan policy (pods and PVCs stay, running) and creating it again at the
// same size. Until then the StatefulSet keeps the size it was created with.
import type { V1PersistentVolumeClaim, V1StatefulSet } from '@kubernetes/client-node';
import type { Condition, KVCluster } from '../types.ts';
import { withDefaults } from '../types.ts';
import type { Kube } from '../kube/kube.ts';
import { names, ordinalOf } from '../specs/names.ts';

const UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Bytes of a Kubernetes quantity such as 64Mi or 1.5G; undefined when it is not one. */
export function quantityBytes(q: string | undefined): number | undefined {
  if (q === undefined) return undefined;
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.exec(q.trim());
  if (m === null) return undefined;
  return Math.ceil(Number(m[1]) * UNITS[m[2] ?? '']!);
}

export interface MemberVolume {
  name: string;
  /** spec.resources.requests.storage */
  requested: string | undefined;
  storageClass: string | undefined;
}

export interface StorageInput {
  desired: string;
  /** The StatefulSet's volumeClaimTemplate size; undefined when there is no StatefulSet. */
  templateSize: string | undefined;
  volumes: MemberVolume[];
  /** StorageClass name -> allowVolumeExpansion; a class missing here could not be read. */
  expandable: ReadonlyMap<string, boolean>;
}

export type StoragePlan =
  | { kind: 'steady'; templateSize: string; condition?: undefined }
  | { kind: 'refuse-shrink'; templateSize: string; message: string }
  | { kind: 'not-expandable'; templateSize: string; message: string }
  | { kind: 'expand'; templateSize: string; pvcs: string[]; message: string }
  | { kind: 'recreate-statefulset'; templateSize: string; message: string };

export function planStorage(input: StorageInput): StoragePlan {
  const desired = quantityBytes(input.desired) ?? 0;
  const current = input.templateSize ?? input.desired;
  const sizes = input.volumes.map((v) => quantityBytes(v.requested) ?? 0);
  const largest = Math.max(quantityBytes(input.templateSize) ?? 0, ...sizes);
  if (desired < largest) {
    const biggest = input.volumes.find((v) => (quantityBytes(v.requested) ?? 0) === largest)?.requested;
    return {
      kind: 'refuse-shrink',
      templateSize: current,
      message: `storage.size ${input.desired} is smaller than the volumes (${biggest ?? current}): volumes never shrink; set it back to at least ${biggest ?? current}`,
    };
  }
  const small = input.volumes.filter((v) => (quantityBytes(v.requested) ?? 0) < desired);
  if (small.length > 0) {
    const refused = small.filter(
      (v) => v.storageClass !== undefined && input.expandable.get(v.storageClass) === false,
    );
    if (refused.length > 0) {
      const classes = [...new Set(refused.map((v) => v.storageClass))].join(', ');
      return {
        kind: 'not-expandable',
        templateSize: current,
        message: `cannot grow ${refused.map((v) => v.name).join(', ')} to ${input.desired}: StorageClass ${classes} does not set allowVolumeExpansion`,
      };
    }
    return {
      kind: 'expand',
      templateSize: current,
      pvcs: small.map((v) => v.name).sort(),
      message: `growing ${small.map((v) => v.name).join(', ')} to ${input.desired}`,
    };
  }
  if (input.templateSize !== undefined && quantityBytes(input.templateSize) !== desired)
    return {
      kind: 'recreate-statefulset',
      templateSize: current,
      message: `every volume requests ${input.desired}; replacing the StatefulSet (orphaning its pods) for the new volume template`,
    };
  return { kind: 'steady', templateSize: input.desired };
}

/** The StorageResized condition for a plan; undefined while nothing was ever resized. */
export function storageCondition(
  plan: StoragePlan,
  desired: string,
  prev: Condition[] | undefined,
): Omit<Condition, 'lastTransitionTime'> | undefined {
  const had = prev?.some((c) => c.type === 'StorageResized') === true;
  switch (plan.kind) {
    case 'steady':
      return had
        ? {
            type: 'StorageResized',
            status: 'True',
            reason: 'AsRequested',
            message: `every volume requests ${desired}`,
          }
        : undefined;
    case 'refuse-shrink':
      return { type: 'StorageResized', status: 'False', reason: 'ShrinkRefused', message: plan.message };
    case 'not-expandable':
      return {
        type: 'StorageResized',
        status: 'False',
        reason: 'ExpansionNotAllowed',
        message: plan.message,
      };
    case 'expand':
    case 'recreate-statefulset':
      return { type: 'StorageResized', status: 'False', reason: 'Resizing', message: plan.message };
  }
}

export function templateSizeOf(sts: V1StatefulSet | null): string | undefined {
  const t = sts?.spec?.volumeClaimTemplates?.find((c) => c.metadata?.name === 'data');
  return t?.spec?.resources?.requests?.['storage'];
}

/** The member PVCs (data-<cluster>-<n>) that are not being deleted. */
export function memberVolumes(kv: KVCluster, pvcs: V1PersistentVolumeClaim[]): MemberVolume[] {
  const prefix = `${names(kv).volumeClaimTemplate}-`;
  const out: MemberVolume[] = [];
  for (const c of pvcs) {
    const name = c.metadata?.name ?? '';
    if (c.metadata?.deletionTimestamp != null || !name.startsWith(prefix)) continue;
    if (ordinalOf(kv.metadata.name, name.slice(prefix.length)) === undefined) continue;
    if (c.metadata?.labels?.['kvstore.io/removed'] === 'true') continue;
    out.push({
      name,
      requested: c.spec?.resources?.requests?.['storage'],
      storageClass: c.spec?.storageClassName ?? withDefaults(kv.spec).storage.storageClassName,
    });
  }
  return out;
}

/** A copy of the KVCluster whose StatefulSet would be built with `size` (the template in force). */
export function withTemplateSize(kv: KVCluster, size: string): KVCluster {
  if (withDefaults(kv.spec).storage.size === size) return kv;
  return { ...kv, spec: { ...kv.spec, storage: { ...kv.spec.storage, size } } };
}

/** Reads allowVolumeExpansion of each class; a class that cannot be read is left out. */
export async function expandableClasses(kube: Kube, volumes: MemberVolume[]): Promise<Map<string, boolean>> {
  const out = new Map<string, boolean>();
  for (const cls of new Set(volumes.map((v) => v.storageClass).filter((c): c is string => c !== undefined))) {
    try {
      const sc = await kube.get<{ apiVersion: string; kind: string; allowVolumeExpansion?: boolean }>(
        'storage.k8s.io/v1',
        'StorageClass',
        '',
        cls,
      );
      if (sc !== null) out.set(cls, sc.allowVolumeExpansion === true);
    } catch {
      // Not readable (e.g. a namespaced install without cluster-scoped rights): try, and let the
      // API server's answer say why not.
    }
  }
  return out;
}

export async function expandPvcs(kube: Kube, kv: KVCluster, pvcs: string[], size: string): Promise<void> {
  for (const pvc of pvcs)
    await kube.mergePatch('v1', 'PersistentVolumeClaim', kv.metadata.namespace, pvc, {
      spec: { resources: { requests: { storage: size } } },
    });
}

/**
 * Deletes the StatefulSet with the Orphan policy and waits until it is gone (its pods and PVCs
 * keep running, unowned); the caller then creates it again. Returns false when it did not go in time.
 */
export async function orphanStatefulSet(kube: Kube, kv: KVCluster, timeoutMs = 15_000): Promise<boolean> {
  if (kube.deleteOrphan === undefined) throw new Error('this Kube cannot delete with the Orphan policy');
  const ns = kv.metadata.namespace;
  const name = names(kv).statefulSet;
  await kube.deleteOrphan('apps/v1', 'StatefulSet', ns, name);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await kube.get('apps/v1', 'StatefulSet', ns, name)) === null) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/**
 * Pods left without a StatefulSet (orphaned by a resize, or by `kubectl delete --cascade=orphan`):
 * how many pods the re-created StatefulSet must keep so it adopts them all and deletes none.
 */
export function replicasForOrphans(clusterName: string, podNames: string[]): number {
  let top = -1;
  for (const p of podNames) top = Math.max(top, ordinalOf(clusterName, p) ?? -1);
  return top + 1;
}

export interface StorageOutcome {
  plan: StoragePlan;
  /** The StatefulSet after this reconcile's storage work (re-created or unchanged). */
  statefulSet: V1StatefulSet | null;
  /** What was done, for events. */
  done: { reason: string; message: string }[];
}

/**
 * One reconcile's storage work: re-create a StatefulSet whose pods were orphaned, grow PVCs, or
 * replace the StatefulSet for a new volume template. `apply` builds and applies the StatefulSet
 * for a KVCluster at a replica count (reconcile/create.ts).
 */
export async function reconcileStorage(
  kube: Kube,
  kv: KVCluster,
  objects: { statefulSet: V1StatefulSet | null; pvcs: V1PersistentVolumeClaim[]; podNames: string[] },
  apply: (kv: KVCluster, replicas: number) => Promise<void>,
): Promise<StorageOutcome> {
  const spec = withDefaults(kv.spec);
  const done: StorageOutcome['done'] = [];
  let statefulSet = objects.statefulSet;
  const volumes = memberVolumes(kv, objects.pvcs);
  const desired = quantityBytes(spec.storage.size) ?? 0;
  const needsClass = volumes.some((v) => (quantityBytes(v.requested) ?? 0) < desired);
  const expandable = needsClass ? await expandableClasses(kube, volumes) : new Map<string, boolean>();
  const plan = planStorage({
    desired: spec.storage.size,
    templateSize: templateSizeOf(statefulSet),
    volumes,
    expandable,
  });
  const ns = kv.metadata.namespace;
  const refetch = () => kube.get<V1StatefulSet>('apps/v1', 'StatefulSet', ns, names(kv).statefulSet);
  // Pods without their StatefulSet, in a cluster that exists: adopt them at their own count.
  if (statefulSet === null && kv.status?.clusterId !== undefined && objects.podNames.length > 0) {
    const replicas = replicasForOrphans(kv.metadata.name, objects.podNames);
    await apply(withTemplateSize(kv, plan.templateSize), replicas);
    statefulSet = await refetch();
    done.push({
      reason: 'StatefulSetRecreated',
      message: `StatefulSet created again at ${replicas} pods, adopting the running members`,
    });
    return { plan, statefulSet, done };
  }
  try {
    if (plan.kind === 'expand') {
      await expandPvcs(kube, kv, plan.pvcs, spec.storage.size);
      done.push({
        reason: 'VolumeResized',
        message: `${plan.pvcs.join(', ')} now request ${spec.storage.size}`,
      });
    } else if (plan.kind === 'recreate-statefulset' && statefulSet !== null) {
      const replicas = statefulSet.spec?.replicas ?? 0;
      if (await orphanStatefulSet(kube, kv)) {
        await apply(kv, replicas);
        done.push({
          reason: 'StatefulSetRecreated',
          message: `StatefulSet replaced for the ${spec.storage.size} volume template (pods and volumes kept running)`,
        });
      }
      // Not gone in time: the next reconcile adopts the pods (above) once it is.
      statefulSet = await refetch();
    }
  } catch (err) {
    // The API server's refusal (e.g. a class that does not allow expansion) is the reason to show;
    // the rest of the reconcile goes on.
    const what = plan.kind === 'expand' ? 'resizing the PVCs' : 'replacing the StatefulSet';
    const message = `${what} failed: ${err instanceof Error ? err.message : String(err)}`.slice(0, 1024);
    return {
      plan: { kind: 'not-expandable', templateSize: plan.templateSize, message },
      statefulSet: await refetch(),
      done,
    };
  }
  return { plan, statefulSet, done };
}
