// `kubectl kv recover CLUSTER --from MEMBER [--accept-data-loss]`: the human approval of a
// quorum-loss recovery (docs/adr/0077). It reads what every member holds, shows the survivors
// ordered by log (the election rule: last term, then last index), refuses a cluster that has not
// lost its quorum and a survivor that is behind another (unless --accept-data-loss), and then
// writes the approval annotations the operator acts on. It changes nothing else itself.
// With auth on, no member answers during the loss (reading a status needs a login, and a login needs
// a leader): then it leaves the checks to the operator, which reads the members by its client
// certificate and makes the same ones, and waits for its verdict (operatorVerdict).
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

/** Pure: the approval when no member could be read (auth on, no leader): the operator checks it. */
function operatorChecks(
  kv: KVCluster,
  from: string,
  acceptDataLoss: boolean,
  requestId: string,
): RecoverPlan {
  const lines = [
    'no member answers: with auth on, a status needs a login and a login needs a leader;',
    'the operator checks the approval against what the members hold (it reads them by its client certificate)',
  ];
  const lost = kv.status?.conditions?.find((c) => c.type === 'QuorumLost');
  if (lost?.status !== 'True')
    return {
      lines,
      error: `${kv.metadata.name} has not lost its quorum (condition QuorumLost is ${lost?.status ?? 'absent'}); nothing to recover`,
    };
  lines.push(
    `operator: ${lost.message}`,
    `approving recovery of ${kv.metadata.name} from ${from} (request ${requestId})`,
  );
  return {
    lines,
    annotations: {
      [RECOVER_FROM_ANNOTATION]: from,
      [RECOVER_ID_ANNOTATION]: requestId,
      ...(acceptDataLoss ? { [RECOVER_ACCEPT_BEHIND_ANNOTATION]: 'true' } : {}),
    },
  };
}

/**
 * Pure: what the operator made of the approval of `from`, from the KVCluster's QuorumLost
 * condition; undefined while it has not decided yet (docs/adr/0077 messages).
 */
export function operatorVerdict(kv: KVCluster, from: string): { ok: boolean; message: string } | undefined {
  const c = kv.status?.conditions?.find((x) => x.type === 'QuorumLost');
  if (c === undefined) return undefined;
  if (c.status === 'False') return { ok: true, message: `${kv.metadata.name} has a leader again` };
  if (c.reason === 'Recovering' && c.message.startsWith(`rebuilding from ${from} `))
    return { ok: true, message: c.message };
  if (c.reason === 'ApprovalRefused' && c.message.startsWith(`cannot recover from ${from}:`))
    return { ok: false, message: c.message };
  return undefined;
}

const VERDICT_WAIT_MS = 60_000;

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
  const authOn = api.members?.root !== undefined;
  const unread = authOn && [...statuses.values()].every((s) => s === null);
  const plan = unread
    ? operatorChecks(kv, from, acceptDataLoss, requestId)
    : planRecover(kv, statuses, from, acceptDataLoss, requestId);
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
  if (unread) {
    const deadline = Date.now() + VERDICT_WAIT_MS;
    for (;;) {
      const verdict = operatorVerdict(await readCluster(api, namespace, cluster), from);
      if (verdict !== undefined && !verdict.ok)
        throw new ApiError(409, `the operator refused: ${verdict.message}`);
      if (verdict !== undefined) {
        out(`the operator accepted: ${verdict.message}`);
        break;
      }
      if (Date.now() > deadline) {
        out(`the operator has not decided within ${VERDICT_WAIT_MS / 1000} s; see condition QuorumLost`);
        break;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  out(
    `approved: the operator rebuilds ${cluster} from ${from}, then grows it back (watch: kubectl kv status ${cluster})`,
  );
}
