// `kubectl kv report`: one archive for a bug report. The KVCluster (without managedFields), its
// events, pods, StatefulSet and PVCs, every member's /v1/status, /v1/cluster/members and /metrics
// when reachable, and the member and operator logs the API serves. Never Secrets. Whatever could
// not be read is listed in errors.txt instead of failing the report.
import type { Api } from './api.ts';
import { memberRequest, type MemberAccess } from './api.ts';
import { clusterPath, readPods, type PodInfo } from './gather.ts';
import { tarGz, type TarEntry } from './tar.ts';

const LOG_TAIL_LINES = 20_000;

export interface ReportResult {
  archive: Buffer;
  files: string[];
  errors: string[];
}

function json(v: unknown): string {
  return `${JSON.stringify(v, null, 2)}\n`;
}

function stripManaged(obj: unknown): unknown {
  if (obj !== null && typeof obj === 'object') {
    const o = obj as { metadata?: { managedFields?: unknown }; items?: unknown[] };
    if (o.metadata) delete o.metadata.managedFields;
    if (Array.isArray(o.items)) for (const i of o.items) stripManaged(i);
  }
  return obj;
}

export async function buildReport(
  api: Api,
  access: MemberAccess,
  namespace: string,
  name: string,
  now = new Date(),
): Promise<ReportResult> {
  const dir = `kv-report-${name}`;
  const entries: TarEntry[] = [];
  const errors: string[] = [];
  const add = (path: string, content: string): void => void entries.push({ path: `${dir}/${path}`, content });
  const attempt = async (what: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const ns = encodeURIComponent(namespace);
  const instance = encodeURIComponent(`app.kubernetes.io/instance=${name}`);
  // The resource itself must be readable: without it there is nothing to report on.
  add('kvcluster.json', json(stripManaged(await api.get(clusterPath(namespace, name)))));
  await attempt('events', async () => {
    const field = encodeURIComponent(`involvedObject.name=${name}`);
    add(
      'events.json',
      json(stripManaged(await api.get(`/api/v1/namespaces/${ns}/events?fieldSelector=${field}`))),
    );
  });
  await attempt('pods', async () =>
    add(
      'pods.json',
      json(stripManaged(await api.get(`/api/v1/namespaces/${ns}/pods?labelSelector=${instance}`))),
    ),
  );
  await attempt('statefulsets', async () =>
    add(
      'statefulsets.json',
      json(
        stripManaged(await api.get(`/apis/apps/v1/namespaces/${ns}/statefulsets?labelSelector=${instance}`)),
      ),
    ),
  );
  await attempt('persistentvolumeclaims', async () =>
    add(
      'persistentvolumeclaims.json',
      json(
        stripManaged(
          await api.get(`/api/v1/namespaces/${ns}/persistentvolumeclaims?labelSelector=${instance}`),
        ),
      ),
    ),
  );
  let pods: PodInfo[] = [];
  await attempt('member pods', async () => {
    pods = await readPods(api, namespace, name);
  });
  for (const pod of pods) {
    for (const [file, path] of [
      ['status.json', '/v1/status'],
      ['cluster-members.json', '/v1/cluster/members'],
      ['metrics.txt', '/metrics'],
    ] as const) {
      await attempt(`${pod.name} ${path}`, async () => {
        const res = await memberRequest(api, access, pod, 'GET', path);
        if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body.slice(0, 200)}`);
        add(`members/${pod.name}/${file}`, res.body);
      });
    }
    for (const previous of pod.restarts > 0 ? [false, true] : [false]) {
      await attempt(`${pod.name} log${previous ? ' (previous)' : ''}`, async () => {
        const log = await api.text(
          `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(pod.name)}/log?tailLines=${LOG_TAIL_LINES}${previous ? '&previous=true' : ''}`,
        );
        add(`logs/${pod.name}${previous ? '.previous' : ''}.log`, log);
      });
    }
  }
  await attempt('operator logs', async () => {
    const selector = encodeURIComponent('app.kubernetes.io/name=kv-store-operator');
    const list = await api.get<{ items: { metadata: { name: string; namespace: string } }[] }>(
      `/api/v1/pods?labelSelector=${selector}`,
    );
    for (const p of list.items) {
      const log = await api.text(
        `/api/v1/namespaces/${encodeURIComponent(p.metadata.namespace)}/pods/${encodeURIComponent(p.metadata.name)}/log?tailLines=${LOG_TAIL_LINES}`,
      );
      add(`logs/operator-${p.metadata.name}.log`, log);
    }
  });
  add(
    'README.txt',
    `kubectl kv report for KVCluster ${namespace}/${name}, taken ${now.toISOString()}.\n` +
      `Member files were read through ${access === 'proxy' ? "the API server's pod proxy" : 'pod IPs'}.\n` +
      'Secrets are never included.\n',
  );
  add('errors.txt', errors.length === 0 ? 'nothing failed\n' : `${errors.join('\n')}\n`);
  return { archive: tarGz(entries, now.getTime()), files: entries.map((e) => e.path), errors };
}
