// The day-2 requests a user makes by annotating the KVCluster (`kubectl kv fence|unfence|restart`
// write them): which members are fenced, and which pods must restart. Parsing is strict and pure:
// a malformed annotation is reported and ignored, never half-applied.
import type { KVCluster } from '../types.ts';
import { ordinalOf } from '../specs/names.ts';

/** JSON array of member names, as CloudNativePG's cnpg.io/fencedInstances. */
export const FENCED_ANNOTATION = 'kvstore.io/fenced-members';
/**
 * JSON object: member name (or "*" for every member) -> RFC 3339 time. A pod created before the
 * time that applies to it is restarted (quorum-aware, followers first, leader last). The time is
 * the API server's clock (kubectl kv takes it from the server's Date header), the clock that
 * stamps pod creationTimestamp, so client clock skew cannot cause a restart loop.
 */
export const RESTART_ANNOTATION = 'kvstore.io/restart-requests';

export interface Parsed<T> {
  value: T;
  /** Why the annotation was ignored, when it was. */
  problem?: string;
}

const MAX_ANNOTATION = 16 * 1024;

export function fencedMembers(kv: KVCluster): Parsed<string[]> {
  const raw = kv.metadata.annotations?.[FENCED_ANNOTATION];
  if (raw === undefined || raw.trim() === '') return { value: [] };
  const bad = (why: string): Parsed<string[]> => ({
    value: [],
    problem: `${FENCED_ANNOTATION} ignored: ${why}`,
  });
  if (raw.length > MAX_ANNOTATION) return bad('too long');
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return bad('not JSON (expected an array of member names)');
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    return bad('expected a JSON array of member names');
  const names = [...new Set(v)];
  const foreign = names.filter((n) => ordinalOf(kv.metadata.name, n) === undefined);
  if (foreign.length > 0) return bad(`not members of ${kv.metadata.name}: ${foreign.join(', ')}`);
  return { value: names.sort() };
}

export function restartRequests(kv: KVCluster): Parsed<Map<string, number>> {
  const raw = kv.metadata.annotations?.[RESTART_ANNOTATION];
  const out = new Map<string, number>();
  if (raw === undefined || raw.trim() === '') return { value: out };
  const bad = (why: string): Parsed<Map<string, number>> => ({
    value: new Map(),
    problem: `${RESTART_ANNOTATION} ignored: ${why}`,
  });
  if (raw.length > MAX_ANNOTATION) return bad('too long');
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return bad('not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('expected a JSON object');
  for (const [member, at] of Object.entries(v)) {
    if (member !== '*' && ordinalOf(kv.metadata.name, member) === undefined)
      return bad(`${member} is not a member of ${kv.metadata.name}`);
    const t = typeof at === 'string' ? Date.parse(at) : NaN;
    if (!Number.isFinite(t)) return bad(`${member}: not an RFC 3339 time`);
    out.set(member, t);
  }
  return { value: out };
}

/** Whether a pod created at `createdAt` is due for a restart requested for `member`. */
export function restartDue(
  requests: Map<string, number>,
  member: string,
  createdAt: number | undefined,
): boolean {
  const at = Math.max(requests.get('*') ?? -Infinity, requests.get(member) ?? -Infinity);
  if (at === -Infinity || createdAt === undefined || !Number.isFinite(createdAt)) return false;
  return createdAt < at;
}

/**
 * The members whose node must refuse clients and report NotReady (the fence file): those asked to
 * be fenced that are no longer voters. A voter still votes (and may lead) until it is demoted, so
 * its client API stays on until then; an unfenced member is dropped at once.
 */
export function fenceFileMembers(fenced: readonly string[], voters: ReadonlySet<string>): string[] {
  return fenced.filter((m) => !voters.has(m)).sort();
}
