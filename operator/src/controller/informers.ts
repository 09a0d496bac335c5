// Informers that never stay dead: @kubernetes/client-node's informer stops on any error other
// than 410 Gone, so each one restarts itself after an error with capped backoff.
import * as k8s from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../observability/log.ts';
import { GROUP, PLURAL, VERSION } from '../types.ts';
import { BACKUP_PLURAL } from '../backup/types.ts';

export type Enqueue = (namespace: string, name: string) => void;

export interface ResilientInformer {
  start(): Promise<void>;
  stop(): Promise<void>;
  synced(): boolean;
}

export function resilient<T extends KubernetesObject>(
  label: string,
  informer: k8s.Informer<T>,
  onObject: (obj: T) => void,
  log: Logger,
): ResilientInformer {
  let stopped = false;
  let synced = false;
  let backoffMs = 500;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const restart = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      informer.start().then(
        () => {
          synced = true;
          backoffMs = 500;
        },
        (err: unknown) => {
          log.warn('informer restart failed', { informer: label, error: err });
          restart();
        },
      );
    }, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 30_000);
  };
  informer.on('add', onObject);
  informer.on('update', onObject);
  informer.on('delete', onObject);
  informer.on('error', (err: unknown) => {
    synced = false;
    log.warn('informer stopped; restarting', { informer: label, error: err });
    restart();
  });
  informer.on('connect', () => {
    synced = true;
  });
  return {
    async start() {
      try {
        await informer.start();
        synced = true;
      } catch (err) {
        log.warn('informer start failed; retrying', { informer: label, error: err });
        restart();
      }
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await informer.stop();
    },
    synced: () => synced,
  };
}

const MANAGED = 'app.kubernetes.io/managed-by=kv-store-operator';
const INSTANCE = 'app.kubernetes.io/instance';

/** Queue key of a KVBackup (a KVCluster's is `namespace/name`). */
export const backupKey = (namespace: string, name: string): string => `${namespace}/${name}/KVBackup`;

/** Informers on KVClusters, KVBackups and the StatefulSets and pods the operator manages. */
export function makeInformers(
  kc: k8s.KubeConfig,
  watchNamespace: string,
  enqueue: Enqueue,
  log: Logger,
  enqueueBackup?: Enqueue,
): ResilientInformer[] {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const ns = watchNamespace;
  const nsPath = ns === '' ? '' : `/namespaces/${ns}`;

  const kvPath = `/apis/${GROUP}/${VERSION}${nsPath}/${PLURAL}`;
  const kvList = () =>
    (ns === ''
      ? custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })
      : custom.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural: PLURAL,
        })) as Promise<k8s.KubernetesListObject<KubernetesObject>>;
  const stsList = () =>
    ns === ''
      ? apps.listStatefulSetForAllNamespaces({ labelSelector: MANAGED })
      : apps.listNamespacedStatefulSet({ namespace: ns, labelSelector: MANAGED });
  const podList = () =>
    ns === ''
      ? core.listPodForAllNamespaces({ labelSelector: MANAGED })
      : core.listNamespacedPod({ namespace: ns, labelSelector: MANAGED });

  const byName = (o: KubernetesObject) => {
    if (o.metadata?.namespace !== undefined && o.metadata.name !== undefined)
      enqueue(o.metadata.namespace, o.metadata.name);
  };
  const byInstance = (o: KubernetesObject) => {
    const instance = o.metadata?.labels?.[INSTANCE];
    if (o.metadata?.namespace !== undefined && instance !== undefined)
      enqueue(o.metadata.namespace, instance);
  };
  const backupList = () =>
    (ns === ''
      ? custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: BACKUP_PLURAL })
      : custom.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: ns,
          plural: BACKUP_PLURAL,
        })) as Promise<k8s.KubernetesListObject<KubernetesObject>>;
  const backups =
    enqueueBackup === undefined
      ? []
      : [
          resilient(
            'kvbackups',
            k8s.makeInformer(kc, `/apis/${GROUP}/${VERSION}${nsPath}/${BACKUP_PLURAL}`, backupList),
            (o: KubernetesObject) => {
              if (o.metadata?.namespace !== undefined && o.metadata.name !== undefined)
                enqueueBackup(o.metadata.namespace, o.metadata.name);
            },
            log,
          ),
        ];
  return [
    ...backups,
    resilient('kvclusters', k8s.makeInformer(kc, kvPath, kvList), byName, log),
    resilient(
      'statefulsets',
      k8s.makeInformer(kc, `/apis/apps/v1${nsPath}/statefulsets`, stsList, MANAGED),
      byInstance,
      log,
    ),
    resilient('pods', k8s.makeInformer(kc, `/api/v1${nsPath}/pods`, podList, MANAGED), byInstance, log),
  ];
}
