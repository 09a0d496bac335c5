// What the plugin reads about one KVCluster: the resource (spec and the operator's status), its
// member pods, the events about it, and each member's own /v1/status when reachable.
import { API_VERSION, PLURAL, type KVCluster } from '../types.ts';
import type { Api, MemberCredentials } from './api.ts';
import { ApiError, memberRequest, type MemberAccess, type PodRef } from './api.ts';
import { BUNDLE_KEY } from '../certs/cluster-pki.ts';
import { names } from '../specs/names.ts';
import { ROOT_PASSWORD_KEY, ROOT_USERNAME_KEY } from '../specs/secrets.ts';

export interface PodInfo extends PodRef {
  phase: string;
  ready: boolean;
  restarts: number;
  image: string;
  deleting: boolean;
}

/** The member's own view (GET /v1/status), or why it could not be read. */
export type LiveStatus =
  | {
      ok: true;
      id: string;
      state: string;
      leader: string | null;
      term: number;
      commitIndex: number;
      appliedIndex: number;
    }
  | { ok: false; error: string };

export interface EventInfo {
  type: string;
  reason: string;
  message: string;
  count: number;
  lastTime: string;
}

export interface Gathered {
  cluster: KVCluster;
  pods: PodInfo[];
  events: EventInfo[];
  live: Map<string, LiveStatus>;
}

const MEMBER_PORT_NAME = 'http';
const DEFAULT_MEMBER_PORT = 8080;

export function clusterPath(namespace: string, name: string): string {
  return `/apis/${API_VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}/${encodeURIComponent(name)}`;
}

export async function readCluster(api: Api, namespace: string, name: string): Promise<KVCluster> {
  try {
    return await api.get<KVCluster>(clusterPath(namespace, name));
  } catch (e) {
    if (e instanceof ApiError && e.status === 404)
      throw new ApiError(404, `KVCluster ${namespace}/${name} not found`);
    throw e;
  }
}

interface RawPod {
  metadata: { name: string; namespace: string; deletionTimestamp?: string };
  spec?: {
    containers?: { name: string; image?: string; ports?: { name?: string; containerPort: number }[] }[];
  };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { restartCount?: number }[];
  };
}

/**
 * The CA bundle and root's credentials of a cluster with TLS on, from the Secrets its status
 * names (ADR 0069); undefined for a plain-text cluster or one that cannot be read (the command
 * itself then says why).
 */
export async function readMemberCredentials(
  api: Api,
  namespace: string,
  name: string,
): Promise<MemberCredentials | undefined> {
  let kv: KVCluster;
  try {
    kv = await readCluster(api, namespace, name);
  } catch {
    return undefined;
  }
  const secrets = kv.status?.secrets;
  if (secrets?.caBundle === undefined) return undefined;
  const data = async (secret: string): Promise<Record<string, string>> => {
    const s = await api.get<{ data?: Record<string, string> }>(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(secret)}`,
    );
    return Object.fromEntries(
      Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  };
  const ca = (await data(secrets.caBundle))[BUNDLE_KEY];
  if (ca === undefined) throw new ApiError(0, `Secret ${secrets.caBundle} has no ${BUNDLE_KEY}`);
  const rootData = secrets.root !== undefined ? await data(secrets.root) : undefined;
  const username = rootData?.[ROOT_USERNAME_KEY];
  const password = rootData?.[ROOT_PASSWORD_KEY];
  const n = names(kv);
  return {
    ca,
    serverName: (pod) => `${pod}.${n.peerService}.${namespace}.svc`,
    root: username !== undefined && password !== undefined ? { username, password } : undefined,
  };
}

export async function readPods(api: Api, namespace: string, name: string): Promise<PodInfo[]> {
  const selector = encodeURIComponent(`app.kubernetes.io/instance=${name},app.kubernetes.io/name=kv-store`);
  const list = await api.get<{ items: RawPod[] }>(
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?labelSelector=${selector}`,
  );
  return list.items
    .map((p): PodInfo => {
      const container = p.spec?.containers?.[0];
      const port =
        container?.ports?.find((x) => x.name === MEMBER_PORT_NAME)?.containerPort ?? DEFAULT_MEMBER_PORT;
      return {
        name: p.metadata.name,
        namespace: p.metadata.namespace,
        ...(p.status?.podIP !== undefined ? { ip: p.status.podIP } : {}),
        port,
        phase: p.status?.phase ?? 'Unknown',
        ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        restarts: (p.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0),
        image: container?.image ?? '',
        deleting: p.metadata.deletionTimestamp !== undefined,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}

interface RawEvent {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
  metadata: { creationTimestamp?: string };
}

export async function readEvents(api: Api, namespace: string, name: string): Promise<EventInfo[]> {
  const field = encodeURIComponent(`involvedObject.kind=KVCluster,involvedObject.name=${name}`);
  const list = await api.get<{ items: RawEvent[] }>(
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/events?fieldSelector=${field}`,
  );
  return list.items
    .map((e) => ({
      type: e.type ?? '',
      reason: e.reason ?? '',
      message: e.message ?? '',
      count: e.count ?? 1,
      lastTime: e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? '',
    }))
    .sort((a, b) => a.lastTime.localeCompare(b.lastTime));
}

export async function readLive(api: Api, access: MemberAccess, pod: PodRef): Promise<LiveStatus> {
  try {
    const res = await memberRequest(api, access, pod, 'GET', '/v1/status');
    if (res.status !== 200) return { ok: false, error: `HTTP ${res.status}: ${res.body.slice(0, 120)}` };
    const s = JSON.parse(res.body) as Record<string, unknown>;
    return {
      ok: true,
      id: typeof s.id === 'string' ? s.id : '',
      state: typeof s.state === 'string' ? s.state : '',
      leader: typeof s.leader === 'string' ? s.leader : null,
      term: Number(s.term ?? 0),
      commitIndex: Number(s.commitIndex ?? 0),
      appliedIndex: Number(s.appliedIndex ?? 0),
    };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

export async function gather(
  api: Api,
  access: MemberAccess,
  namespace: string,
  name: string,
): Promise<Gathered> {
  const cluster = await readCluster(api, namespace, name);
  const [pods, events] = await Promise.all([
    readPods(api, namespace, name),
    readEvents(api, namespace, name).catch((): EventInfo[] => []),
  ]);
  const live = new Map<string, LiveStatus>();
  await Promise.all(pods.map(async (p) => live.set(p.name, await readLive(api, access, p))));
  return { cluster, pods, events, live };
}
