// `kubectl kv recover CLUSTER --from MEMBER [--accept-data-loss]`: the human approval of a
// quorum-loss recovery (docs/adr/0077). It reads what every member holds, shows the survivors
// ordered by log (the election rule: last term, then last index), refuses a cluster that has not
// lost its quorum and a survivor that is behind another (unless --accept-data-loss), and then
// writes the approval annotations the operator acts on. It changes nothing else itself.
import type { KVCluster } from '../types.ts';
import type { NodeStatus } from '../reconcile/nodeclient.ts';
import {
  RECOVER_ACCEPT_BEHIND_ANNOTATION,
  RECOVER_FROM_ANNOTATION,
  RECOVER_ID_ANNOTATION,
  assessQuorum,
  compareLogs,
  type MemberObservation,
} from '../reconcile/recovery.ts';
import { ordinalOf } from '../specs/names.ts';
import { ApiError, memberRequest, type Api, type MemberAccess } from './api.ts';
import { clusterPath, readCluster, readPods } from './gather.ts';

export interface RecoverPlan {
  /** What to print before acting (or instead, when refused). */
  lines: string[];
  /** The annotations to write; absent when refused. */
  annotations?: Record<string, string>;
  error?: string;
}

/** Pure: from the KVCluster and each member's status (null: no answer), what `recover` does. */
export function planRecover(
  kv: KVCluster,
  statuses: Map<string, NodeStatus | null>,
  from: string,
  acceptDataLoss: boolean,
  requestId: string,
): RecoverPlan {
  const name = kv.metadata.name;
  const members: MemberObservation[] = [];
  for (const [pod, status] of statuses) {
    const ordinal = ordinalOf(name, pod);
    if (ordinal !== undefined) members.push({ ordinal, status, terminating: false });
  }
  const a = assessQuorum({
    clusterName: name,
    clusterId: kv.status?.clusterId,
    bootstrapped: true,
    hasLeader: false,
    members,
    approval: null,
  });
  const lines = [
    `voters (last known): ${a.voters.join(', ') || 'none'}`,
    'survivors, most advanced first (last log term/index, commit):',
    ...a.survivors.map((s) => `  ${s.member}\t${s.lastLogTerm}/${s.lastIndex}\tcommit ${s.commitIndex}`),
    `without usable data: ${a.gone.join(', ') || 'none'}; not answering: ${a.unreachable.join(', ') || 'none'}`,
  ];
  const lost = kv.status?.conditions?.find((c) => c.type === 'QuorumLost');
  if (lost?.status !== 'True')
    return {
      lines,
      error: `${name} has not lost its quorum (condition QuorumLost is ${lost?.status ?? 'absent'}); nothing to recover`,
    };
  const chosen = a.survivors.find((s) => s.member === from);
  if (chosen === undefined) return { lines, error: `${from} is not a surviving voter of ${name}` };
  const best = a.best!;
  if (compareLogs(best, chosen) > 0 && !acceptDataLoss)
    return {
      lines,
      error:
        `${from} is behind ${best.member} (${chosen.lastLogTerm}/${chosen.lastIndex} vs ${best.lastLogTerm}/${best.lastIndex}): ` +
        `recover --from ${best.member}, or pass --accept-data-loss to lose the entries only ${best.member} holds`,
    };
  return {
    lines: [...lines, `approving recovery of ${name} from ${from} (request ${requestId})`],
    annotations: {
      [RECOVER_FROM_ANNOTATION]: from,
      [RECOVER_ID_ANNOTATION]: requestId,
      ...(acceptDataLoss ? { [RECOVER_ACCEPT_BEHIND_ANNOTATION]: 'true' } : {}),
    },
  };
}

export async function recover(
  api: Api,
  access: MemberAccess,
  namespace: string,
  cluster: string,
  from: string,
  acceptDataLoss: boolean,
  out: (line: string) => void,
): Promise<void> {
  const kv = await readCluster(api, namespace, cluster);
  const pods = await readPods(api, namespace, cluster);
  const statuses = new Map<string, NodeStatus | null>();
  await Promise.all(
    pods.map(async (p) => {
      try {
        const res = await memberRequest(api, access, p, 'GET', '/v1/status');
        statuses.set(p.name, res.status === 200 ? (JSON.parse(res.body) as NodeStatus) : null);
      } catch {
        statuses.set(p.name, null);
      }
    }),
  );
  const requestId = `kubectl-${Date.now().toString(36)}`;
  const plan = planRecover(kv, statuses, from, acceptDataLoss, requestId);
  for (const l of plan.lines) out(l);
  if (plan.annotations === undefined) throw new ApiError(409, plan.error ?? 'refused');
  const res = await api.request(
    'PATCH',
    clusterPath(namespace, cluster),
    { metadata: { annotations: plan.annotations } },
    'application/merge-patch+json',
  );
  if (res.status < 200 || res.status > 299)
    throw new ApiError(res.status, `annotating ${namespace}/${cluster}: ${res.body.slice(0, 200)}`);
  out(
    `approved: the operator rebuilds ${cluster} from ${from}, then grows it back (watch: kubectl kv status ${cluster})`,
  );
}
