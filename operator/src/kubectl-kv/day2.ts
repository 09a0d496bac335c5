// `kubectl kv hibernate|wake|fence|unfence|restart`: each writes the KVCluster (spec.hibernate or
// an annotation) and leaves the work to the operator, which carries it out quorum-aware and
// reports it in status and events (docs/adr/0076). Writes are merge patches guarded by the
// resourceVersion read, so two people fencing at once cannot drop each other's member.
import type { KVCluster } from '../types.ts';
import { FENCED_ANNOTATION, RESTART_ANNOTATION } from '../reconcile/day2.ts';
import { ordinalOf } from '../specs/names.ts';
import type { Api } from './api.ts';
import { ApiError } from './api.ts';
import { clusterPath, readCluster } from './gather.ts';

const MERGE = 'application/merge-patch+json';

async function patch(api: Api, namespace: string, name: string, body: unknown): Promise<void> {
  const res = await api.request('PATCH', clusterPath(namespace, name), body, MERGE);
  if (res.status >= 200 && res.status < 300) return;
  let message = res.body.slice(0, 300);
  try {
    message = (JSON.parse(res.body) as { message?: string }).message ?? message;
  } catch {
    // not a Status
  }
  if (res.status === 409)
    throw new ApiError(409, `KVCluster ${namespace}/${name} changed while writing it; run the command again`);
  throw new ApiError(res.status, `${res.status}: ${message}`);
}

/** Read-modify-write attempts before a conflict is reported (the operator writes status often). */
const CONFLICT_ATTEMPTS = 5;

/**
 * Runs a read-modify-write again, from a fresh read, when the resourceVersion it read went stale
 * (409): the operator updates the KVCluster's status on every reconcile, so a first attempt during
 * a busy moment often loses that race. Another person's edit is never overwritten: each attempt
 * re-reads and recomputes.
 */
export async function retryOnConflict<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 409 || i >= CONFLICT_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, 100 * i));
    }
  }
}

export async function setHibernate(api: Api, namespace: string, name: string, on: boolean): Promise<string> {
  const kv = await readCluster(api, namespace, name);
  if ((kv.spec?.hibernate ?? false) === on) return `${name} is already ${on ? 'hibernating' : 'awake'}`;
  await patch(api, namespace, name, { spec: { hibernate: on } });
  return on
    ? `${name}: hibernating (members stop; volumes and membership are kept). Wake it with: kubectl kv wake ${name}`
    : `${name}: waking (the members start on their volumes and elect a leader)`;
}

/** The members the fence annotation lists now (an unparsable annotation is an error to fix first). */
export function fencedList(kv: KVCluster): string[] {
  const raw = kv.metadata.annotations?.[FENCED_ANNOTATION];
  if (raw === undefined || raw.trim() === '') return [];
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new ApiError(
      0,
      `annotation ${FENCED_ANNOTATION} is not a JSON array of member names: ${raw.slice(0, 100)}`,
    );
  return v;
}

export async function setFenced(
  api: Api,
  namespace: string,
  name: string,
  member: string,
  on: boolean,
): Promise<string> {
  if (ordinalOf(name, member) === undefined)
    throw new ApiError(404, `${member} is not a member name of ${name} (${name}-0, ${name}-1, ...)`);
  return retryOnConflict(() => fenceOnce(api, namespace, name, member, on));
}

async function fenceOnce(
  api: Api,
  namespace: string,
  name: string,
  member: string,
  on: boolean,
): Promise<string> {
  const kv = await readCluster(api, namespace, name);
  const current = fencedList(kv);
  const next = on ? [...new Set([...current, member])].sort() : current.filter((m) => m !== member);
  if (next.length === current.length && next.every((m, i) => m === [...current].sort()[i]))
    return `${member} is already ${on ? 'fenced' : 'not fenced'}`;
  await patch(api, namespace, name, {
    metadata: {
      resourceVersion: kv.metadata.resourceVersion,
      annotations: { [FENCED_ANNOTATION]: next.length === 0 ? null : JSON.stringify(next) },
    },
  });
  return on
    ? `${member}: fence requested. The operator moves leadership off it, demotes it to learner (it keeps its data) and ` +
        'its node refuses clients; a fence that would leave too few voters is refused (see kubectl kv status and events)'
    : `${member}: unfence requested. It serves clients again and is promoted back to voter once caught up`;
}

/**
 * Asks for a rolling restart of every member (member undefined) or one. The time is the API
 * server's (its Date header), the clock that stamps pods' creationTimestamp: a pod created before
 * it is restarted. Both have whole seconds, so a pod created in the second of the request counts
 * as fresh already, and the restarted pod is never due again.
 */
export async function requestRestart(
  api: Api,
  namespace: string,
  name: string,
  member: string | undefined,
): Promise<string> {
  if (member !== undefined && ordinalOf(name, member) === undefined)
    throw new ApiError(404, `${member} is not a member name of ${name}`);
  return retryOnConflict(() => restartOnce(api, namespace, name, member));
}

async function restartOnce(
  api: Api,
  namespace: string,
  name: string,
  member: string | undefined,
): Promise<string> {
  const res = await api.request('GET', clusterPath(namespace, name));
  if (res.status === 404) throw new ApiError(404, `KVCluster ${namespace}/${name} not found`);
  if (res.status < 200 || res.status > 299)
    throw new ApiError(res.status, `${res.status}: ${res.body.slice(0, 200)}`);
  const kv = JSON.parse(res.body) as KVCluster;
  const serverNow = res.date !== undefined ? Date.parse(res.date) : NaN;
  if (!Number.isFinite(serverNow))
    throw new ApiError(0, 'the API server sent no Date header to take the time from');
  const at = new Date(serverNow).toISOString();
  let requests: Record<string, string> = {};
  const raw = kv.metadata.annotations?.[RESTART_ANNOTATION];
  if (raw !== undefined && raw.trim() !== '') {
    try {
      const v = JSON.parse(raw) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) requests = v as Record<string, string>;
    } catch {
      requests = {}; // unparsable: replaced by this request
    }
  }
  requests[member ?? '*'] = at;
  await patch(api, namespace, name, {
    metadata: {
      resourceVersion: kv.metadata.resourceVersion,
      annotations: { [RESTART_ANNOTATION]: JSON.stringify(requests) },
    },
  });
  return `${member ?? name}: restart requested at ${at}. The operator restarts ${
    member === undefined
      ? 'one member at a time, followers first and the leader last after moving leadership'
      : 'it once the cluster is healthy (leadership is moved off it first)'
  }`;
}
