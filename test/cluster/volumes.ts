// Storage for the process-kubelet: PVCs become directories under the state dir, bound through
// real PersistentVolumes; pod volumes resolve to local directories (docs/adr/0030).
import fs from 'node:fs';
import path from 'node:path';
import type { CoreV1Api, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';

export const PROVISIONER = 'kv-store.test/process-kubelet';
export const STORAGE_CLASS = 'process-local';
const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';

type PodVolume = NonNullable<NonNullable<V1Pod['spec']>['volumes']>[number];

function errorCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'number'
    ? err.code
    : undefined;
}

/**
 * How provisioned volumes look. The process-kubelet's are hostPath PVs of its own class; the
 * real-kubelet node's (docs/adr/0071) are `local` PVs pinned to the node, because the kubelet
 * applies a pod's fsGroup to local volumes and never to hostPath ones.
 */
export interface VolumeFlavour {
  readonly provisioner: string;
  readonly storageClass: string;
  /** Set: `local` PVs with node affinity to this node; unset: hostPath PVs. */
  readonly localNode?: string;
}

export class LocalVolumes {
  private readonly core: CoreV1Api;
  private readonly volumesDir: string;
  private readonly log: (message: string) => void;
  private readonly flavour: VolumeFlavour;

  constructor(
    core: CoreV1Api,
    volumesDir: string,
    log: (message: string) => void,
    flavour: VolumeFlavour = { provisioner: PROVISIONER, storageClass: STORAGE_CLASS },
  ) {
    this.core = core;
    this.volumesDir = volumesDir;
    this.log = log;
    this.flavour = flavour;
  }

  private source(dir: string): Partial<NonNullable<V1PersistentVolume['spec']>> {
    const node = this.flavour.localNode;
    if (node === undefined) return { hostPath: { path: dir, type: 'Directory' } };
    return {
      local: { path: dir },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
          ],
        },
      },
    };
  }

  async provision(
    pvcs: readonly V1PersistentVolumeClaim[],
    pvs: readonly V1PersistentVolume[],
  ): Promise<void> {
    const pvByClaimUid = new Map(pvs.map((pv) => [pv.spec?.claimRef?.uid ?? '', pv]));
    for (const pvc of pvcs) {
      const meta = pvc.metadata ?? {};
      const className = pvc.spec?.storageClassName;
      if (
        pvc.status?.phase !== 'Pending' ||
        pvc.spec?.volumeName !== undefined ||
        meta.deletionTimestamp !== undefined
      )
        continue;
      if (className !== undefined && className !== this.flavour.storageClass) continue;
      if (pvByClaimUid.has(meta.uid ?? '')) continue;
      const name = `pvc-${meta.uid ?? ''}`;
      const dir = path.join(this.volumesDir, name);
      fs.mkdirSync(dir, { recursive: true });
      try {
        await this.core.createPersistentVolume({
          body: {
            apiVersion: 'v1',
            kind: 'PersistentVolume',
            metadata: { name, annotations: { [PROVISIONED_BY]: this.flavour.provisioner } },
            spec: {
              capacity: { storage: pvc.spec?.resources?.requests?.['storage'] ?? '1Gi' },
              accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
              persistentVolumeReclaimPolicy: 'Delete',
              storageClassName: className ?? '',
              volumeMode: pvc.spec?.volumeMode ?? 'Filesystem',
              ...this.source(dir),
              claimRef: {
                apiVersion: 'v1',
                kind: 'PersistentVolumeClaim',
                namespace: meta.namespace ?? 'default',
                name: meta.name ?? '',
                uid: meta.uid ?? '',
              },
            },
          },
        });
        this.log(`provisioned ${name} for ${meta.namespace ?? ''}/${meta.name ?? ''}`);
      } catch (err) {
        if (errorCode(err) !== 409) throw err;
      }
    }
    // A released volume of ours (its claim deleted) goes away with its data, like a cloud disk.
    for (const pv of pvs) {
      const name = pv.metadata?.name ?? '';
      if (pv.metadata?.annotations?.[PROVISIONED_BY] !== this.flavour.provisioner) continue;
      if (pv.status?.phase !== 'Released' || pv.spec?.persistentVolumeReclaimPolicy !== 'Delete') continue;
      const dir = pv.spec.hostPath?.path ?? pv.spec.local?.path;
      if (dir !== undefined && dir.startsWith(this.volumesDir + path.sep))
        fs.rmSync(dir, { recursive: true, force: true });
      try {
        await this.core.deletePersistentVolume({ name });
        this.log(`deleted released volume ${name}`);
      } catch (err) {
        if (errorCode(err) !== 404) throw err;
      }
    }
  }

  /** Volume name -> local directory, or undefined while a claim is unbound. */
  async prepareVolumes(pod: V1Pod, podDir: string): Promise<Map<string, string> | undefined> {
    const namespace = pod.metadata?.namespace ?? 'default';
    const out = new Map<string, string>();
    for (const v of pod.spec?.volumes ?? []) {
      const own = path.join(podDir, 'volumes', v.name);
      if (v.persistentVolumeClaim !== undefined) {
        let pvc: V1PersistentVolumeClaim;
        try {
          pvc = await this.core.readNamespacedPersistentVolumeClaim({
            name: v.persistentVolumeClaim.claimName,
            namespace,
          });
        } catch {
          return undefined;
        }
        if (pvc.status?.phase !== 'Bound' || pvc.spec?.volumeName === undefined) return undefined;
        const pv = await this.core.readPersistentVolume({ name: pvc.spec.volumeName });
        const dir = pv.spec?.hostPath?.path;
        if (dir === undefined) return undefined;
        out.set(v.name, dir);
      } else if (v.hostPath !== undefined) {
        out.set(v.name, v.hostPath.path);
      } else {
        fs.mkdirSync(own, { recursive: true });
        await this.writeVolumeFiles(v, own, namespace, pod);
        out.set(v.name, own);
      }
    }
    return out;
  }

  /**
   * Rewrites the configMap and secret files of a running pod's volumes whose source changed, as the
   * kubelet updates mounted Secrets in place (each file replaced atomically; tokens are not renewed).
   */
  async refreshVolumes(pod: V1Pod, podDir: string): Promise<void> {
    const namespace = pod.metadata?.namespace ?? 'default';
    for (const v of pod.spec?.volumes ?? []) {
      if (v.configMap === undefined && v.secret === undefined && v.projected === undefined) continue;
      const own = path.join(podDir, 'volumes', v.name);
      if (!fs.existsSync(own)) continue;
      await this.writeVolumeFiles(v, own, namespace, pod, true);
    }
  }

  /** configMap, secret, downwardAPI and projected volumes become files; emptyDir stays an empty dir. */
  private async writeVolumeFiles(
    v: PodVolume,
    dir: string,
    namespace: string,
    pod: V1Pod,
    refresh = false,
  ): Promise<void> {
    const write = (file: string, content: string | Buffer): void => {
      const target = path.join(dir, file);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      if (!refresh) {
        fs.writeFileSync(target, content);
        return;
      }
      const next = Buffer.from(content);
      let current: Buffer | undefined;
      try {
        current = fs.readFileSync(target);
      } catch {
        current = undefined;
      }
      if (current !== undefined && current.equals(next)) return;
      const tmp = `${target}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, next);
      fs.renameSync(tmp, target);
    };
    const fromData = async (
      kind: 'configMap' | 'secret',
      name: string,
      items: readonly { key: string; path: string }[] | undefined,
    ): Promise<void> => {
      const data = await this.readKey(kind, namespace, name);
      for (const [key, value] of Object.entries(data ?? {})) {
        const item = items?.find((i) => i.key === key);
        if (items !== undefined && items.length > 0 && item === undefined) continue;
        write(item?.path ?? key, value);
      }
    };
    if (v.configMap?.name !== undefined) await fromData('configMap', v.configMap.name, v.configMap.items);
    if (v.secret?.secretName !== undefined) await fromData('secret', v.secret.secretName, v.secret.items);
    for (const source of v.projected?.sources ?? []) {
      if (source.configMap?.name !== undefined)
        await fromData('configMap', source.configMap.name, source.configMap.items);
      if (source.secret?.name !== undefined)
        await fromData('secret', source.secret.name, source.secret.items);
      for (const item of source.downwardAPI?.items ?? []) {
        if (item.fieldRef?.fieldPath === 'metadata.namespace') write(item.path, namespace);
        if (item.fieldRef?.fieldPath === 'metadata.name') write(item.path, pod.metadata?.name ?? '');
      }
      if (source.serviceAccountToken !== undefined && !refresh) {
        try {
          const token = await this.core.createNamespacedServiceAccountToken({
            name: pod.spec?.serviceAccountName ?? 'default',
            namespace,
            body: {
              spec: {
                audiences:
                  source.serviceAccountToken.audience !== undefined
                    ? [source.serviceAccountToken.audience]
                    : [],
                expirationSeconds: source.serviceAccountToken.expirationSeconds ?? 3600,
                boundObjectRef: {
                  apiVersion: 'v1',
                  kind: 'Pod',
                  name: pod.metadata?.name ?? '',
                  uid: pod.metadata?.uid ?? '',
                },
              },
            },
          });
          write(source.serviceAccountToken.path, token.status?.token ?? '');
        } catch (err) {
          this.log(`token for ${namespace}/${pod.metadata?.name ?? ''}: ${String(err)}`);
        }
      }
    }
  }

  /** All keys of a configMap or secret (secret values decoded), undefined if it does not exist. */
  async readKey(
    kind: 'configMap' | 'secret',
    namespace: string,
    name: string,
  ): Promise<Record<string, string> | undefined> {
    try {
      if (kind === 'configMap') {
        const cm = await this.core.readNamespacedConfigMap({ name, namespace });
        return { ...cm.data };
      }
      const secret = await this.core.readNamespacedSecret({ name, namespace });
      return Object.fromEntries(
        Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
      );
    } catch (err) {
      if (errorCode(err) === 404) return undefined;
      throw err;
    }
  }
}
