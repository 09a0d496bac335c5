// `kubectl kv status`: one screen from what the operator recorded (roles, health, lag,
// conditions, the operation in progress) and what each member says right now (state, term,
// applied index). Pure: formats a Gathered.
import type { Gathered } from './gather.ts';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const yesNo = (b: boolean | undefined): string => (b === undefined ? '-' : b ? 'yes' : 'no');

/** The version a member runs: the tag of its pod's image (the node reports none of its own yet). */
export function imageVersion(image: string): string {
  const at = image.indexOf('@');
  const ref = at >= 0 ? image.slice(0, at) : image;
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? ref.slice(colon + 1) : 'latest';
}

export function formatStatus(g: Gathered): string {
  const { cluster, pods, events, live } = g;
  const st = cluster.status ?? {};
  const out: string[] = [];
  out.push(`KVCluster ${cluster.metadata.namespace}/${cluster.metadata.name}`);
  out.push(
    `  phase ${st.phase ?? 'Unknown'}, ${st.readyReplicas ?? 0}/${cluster.spec.replicas} ready, ` +
      `${st.voters ?? 0} voters, ${st.learners ?? 0} learners, leader ${st.leader ?? '(none)'}`,
  );
  out.push(`  image ${st.image ?? cluster.spec.image}${st.clusterId ? `, cluster id ${st.clusterId}` : ''}`);
  if (cluster.spec.paused) out.push('  reconciliation is PAUSED (spec.paused)');
  if (cluster.spec.hibernate === true) out.push('  HIBERNATING (spec.hibernate): wake with kubectl kv wake');
  const fenced = cluster.metadata.annotations?.['kvstore.io/fenced-members'];
  if (fenced !== undefined && fenced !== '[]') out.push(`  fenced: ${fenced}`);
  const op = st.operation;
  out.push(
    op
      ? `Operation: ${op.kind} ${op.member}, step ${op.step}, since ${op.startedAt}${op.message ? ` (${op.message})` : ''}`
      : 'Operation: none in progress',
  );
  const err = st.lastError;
  if (err !== undefined)
    out.push(
      `Last error: ${err.step}${err.member ? ` of ${err.member}` : ''} at ${err.time}: ${err.message}`,
    );
  out.push('Conditions:');
  for (const c of st.conditions ?? [])
    out.push(
      `  ${c.type}=${c.status} ${c.reason}${c.message ? `: ${c.message}` : ''} (since ${c.lastTransitionTime})`,
    );
  if ((st.conditions ?? []).length === 0) out.push('  (none reported yet)');

  const recorded = new Map((st.members ?? []).map((m) => [m.name, m]));
  const names = [...new Set([...recorded.keys(), ...pods.map((p) => p.name)])].sort((a, b) =>
    a.localeCompare(b, 'en', { numeric: true }),
  );
  const rows = [
    ['MEMBER', 'ROLE', 'LEADER', 'HEALTHY', 'READY', 'LAG', 'STATE', 'TERM', 'APPLIED', 'VERSION', 'POD'],
  ];
  const unreachable: string[] = [];
  for (const name of names) {
    const m = recorded.get(name);
    const pod = pods.find((p) => p.name === name);
    const l = live.get(name);
    if (l && !l.ok) unreachable.push(`${name}: ${l.error}`);
    const isLeader = st.leader === name || (l?.ok === true && l.state === 'leader');
    rows.push([
      name,
      m?.role ?? '-',
      isLeader ? '*' : '',
      yesNo(m?.healthy),
      yesNo(pod?.ready ?? m?.ready),
      m?.lag !== undefined ? String(m.lag) : '-',
      l?.ok ? l.state : '-',
      l?.ok ? String(l.term) : '-',
      l?.ok ? String(l.appliedIndex) : '-',
      pod ? imageVersion(pod.image) : '-',
      pod
        ? `${pod.deleting ? 'Terminating' : pod.phase}${pod.restarts > 0 ? ` (${pod.restarts} restarts)` : ''}`
        : 'missing',
    ]);
  }
  out.push('Members:');
  out.push(table(rows).replace(/^/gm, '  '));
  for (const u of unreachable) out.push(`  (live status not reachable: ${u})`);
  const recent = events.slice(-5);
  if (recent.length > 0) {
    out.push('Recent events:');
    for (const e of recent)
      out.push(`  ${e.lastTime} ${e.type} ${e.reason}${e.count > 1 ? ` x${e.count}` : ''}: ${e.message}`);
  }
  return `${out.join('\n')}\n`;
}

/** The same as JSON, for scripts. */
export function statusJson(g: Gathered): unknown {
  return {
    cluster: { namespace: g.cluster.metadata.namespace, name: g.cluster.metadata.name, spec: g.cluster.spec },
    status: g.cluster.status ?? {},
    pods: g.pods,
    members: Object.fromEntries(g.live),
    events: g.events,
  };
}
