// The Kubernetes API surface the operator uses, behind an interface (tests fake it), and its
// implementation on @kubernetes/client-node: server-side apply with our field manager for owned
// objects, the status subresource for KVCluster status.
import * as k8s from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KVCluster, KVClusterStatus } from '../types.ts';
import { GROUP, PLURAL, VERSION } from '../types.ts';
import { FIELD_MANAGER } from '../specs/names.ts';
import type { KVBackup, KVBackupStatus } from '../backup/types.ts';
import { BACKUP_KIND, BACKUP_PLURAL } from '../backup/types.ts';

export interface Kube {
  apply<T extends KubernetesObject>(obj: T): Promise<T>;
  create<T extends KubernetesObject>(obj: T): Promise<T>;
  /** Update guarded by metadata.resourceVersion (a 409 means someone else wrote first). */
  replace<T extends KubernetesObject>(obj: T): Promise<T>;
  get<T extends KubernetesObject>(
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
  ): Promise<T | null>;
  list<T extends KubernetesObject>(
    apiVersion: string,
    kind: string,
    namespace: string,
    labelSelector: string,
  ): Promise<T[]>;
  /** True when deleted, false when it was already gone. */
  delete(apiVersion: string, kind: string, namespace: string, name: string): Promise<boolean>;
  /** Delete leaving the dependents (propagationPolicy Orphan): a StatefulSet's pods and PVCs stay. */
  deleteOrphan?(apiVersion: string, kind: string, namespace: string, name: string): Promise<boolean>;
  mergePatch(
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
    patch: Record<string, unknown>,
  ): Promise<void>;
  applyStatus(kv: KVCluster, status: KVClusterStatus): Promise<void>;
  /** Server-side apply of a KVBackup's status (backup/kvbackup.ts). */
  applyBackupStatus?(b: KVBackup, status: KVBackupStatus): Promise<void>;
  /** A Kubernetes Event on the KVCluster (what the operator did; never a secret value). */
  event?(kv: KVCluster, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof k8s.ApiException && err.code === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof k8s.ApiException && err.code === 409;
}

export class ClientKube implements Kube {
  private readonly objects: k8s.KubernetesObjectApi;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;

  constructor(kc: k8s.KubeConfig) {
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  async event(kv: KVCluster, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date();
    await this.core.createNamespacedEvent({
      namespace: kv.metadata.namespace,
      body: {
        metadata: { generateName: `${kv.metadata.name}.`, namespace: kv.metadata.namespace },
        involvedObject: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'KVCluster',
          name: kv.metadata.name,
          namespace: kv.metadata.namespace,
          uid: kv.metadata.uid,
        },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: FIELD_MANAGER },
        reportingComponent: FIELD_MANAGER,
        reportingInstance: process.env['POD_NAME'] ?? FIELD_MANAGER,
        action: reason,
        firstTimestamp: now,
        lastTimestamp: now,
        eventTime: new k8s.V1MicroTime(now),
        count: 1,
      },
    });
  }

  async apply<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.objects.patch(
      obj,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      k8s.PatchStrategy.ServerSideApply,
    );
  }

  async create<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.objects.create(obj, undefined, undefined, FIELD_MANAGER);
  }

  async replace<T extends KubernetesObject>(obj: T): Promise<T> {
    return this.objects.replace(obj, undefined, undefined, FIELD_MANAGER);
  }

  async get<T extends KubernetesObject>(
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
  ): Promise<T | null> {
    try {
      const header = { apiVersion, kind, metadata: { name, namespace } };
      return await this.objects.read<T>(header);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async list<T extends KubernetesObject>(
    apiVersion: string,
    kind: string,
    namespace: string,
    labelSelector: string,
  ): Promise<T[]> {
    const res = await this.objects.list<T>(
      apiVersion,
      kind,
      namespace,
      undefined,
      undefined,
      undefined,
      undefined,
      labelSelector,
    );
    return res.items;
  }

  async delete(apiVersion: string, kind: string, namespace: string, name: string): Promise<boolean> {
    try {
      await this.objects.delete({ apiVersion, kind, metadata: { name, namespace } });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async deleteOrphan(apiVersion: string, kind: string, namespace: string, name: string): Promise<boolean> {
    try {
      await this.objects.delete(
        { apiVersion, kind, metadata: { name, namespace } },
        undefined,
        undefined,
        undefined,
        undefined,
        'Orphan',
      );
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async mergePatch(
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
    patch: Record<string, unknown>,
  ): Promise<void> {
    await this.objects.patch(
      { apiVersion, kind, metadata: { name, namespace }, ...patch },
      undefined,
      undefined,
      FIELD_MANAGER,
      undefined,
      k8s.PatchStrategy.MergePatch,
    );
  }

  async applyStatus(kv: KVCluster, status: KVClusterStatus): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: kv.metadata.namespace,
        plural: PLURAL,
        name: kv.metadata.name,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'KVCluster',
          metadata: { name: kv.metadata.name, namespace: kv.metadata.namespace },
          status,
        },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
    );
  }

  async applyBackupStatus(b: KVBackup, status: KVBackupStatus): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: b.metadata.namespace,
        plural: BACKUP_PLURAL,
        name: b.metadata.name,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: BACKUP_KIND,
          metadata: { name: b.metadata.name, namespace: b.metadata.namespace },
          status,
        },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
    );
  }
}
