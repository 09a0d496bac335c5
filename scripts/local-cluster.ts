// Runs a local 3-node kv-store cluster with the seed's command lines, data in
// ./data/<id>, logs prefixed per node. Ctrl-C stops all three gracefully.
//
// Stopping the whole cluster hands leadership to nobody: the members run in their own process
// group (so the terminal's Ctrl-C reaches only this script), the followers are stopped first,
// and the leader, finding no voter connected any more, stops without a transfer (a transfer to
// members that are stopping too would wait out its 3 s timeout).
//
// Options (for tests and side-by-side runs): --ports 8080,8081,8082 --data-root ./data
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../node/bin/kv-store.js', import.meta.url));

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

const ports = (option('ports') ?? '8080,8081,8082').split(',').map(Number);
if (ports.length !== 3 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
  process.stderr.write('local-cluster: --ports needs three port numbers, e.g. 8080,8081,8082\n');
  process.exit(2);
}
const dataRoot = option('data-root');
const ids = ['node1', 'node2', 'node3'];
const nodes = ids.map((id, i) => ({
  id,
  port: ports[i] ?? 0,
  addr: `:${ports[i]}`,
  peers: ids
    .map((other, j) => (j === i ? '' : `${other}=localhost:${ports[j]}`))
    .filter((p) => p !== '')
    .join(','),
}));

interface Member {
  id: string;
  port: number;
  child: ChildProcess;
  exited: Promise<void>;
}

const members: Member[] = [];
for (const n of nodes) {
  const args = [bin, '-id', n.id, '-addr', n.addr, '-peers', n.peers];
  if (dataRoot !== undefined) args.push('-data-dir', path.join(dataRoot, n.id));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`[${n.id}] ${line}\n`));
  }
  const exited = new Promise<void>((resolve) =>
    child.on('exit', (code, signal) => {
      process.stdout.write(`[${n.id}] exited (${signal ?? code})\n`);
      resolve();
    }),
  );
  members.push({ id: n.id, port: n.port, child, exited });
}
void Promise.all(members.map((m) => m.exited)).then(() => process.exit(0));
// Members in their own process group outlive a crashed script: take them down with it.
process.on('exit', () => {
  for (const m of members)
    if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
});

const [p1, p2, p3] = ports;
process.stdout.write(
  `kv-store: 3 nodes on http://localhost:${p1}, :${p2}, :${p3} (data in ${dataRoot ?? './data'}). Try:\n` +
    `  curl -X PUT http://localhost:${p1}/v1/kv/mykey -H "Content-Type: application/json" -d '{"value": "myvalue", "ttl": "5s"}'\n` +
    `  curl http://localhost:${p2}/v1/kv/mykey\n` +
    'Ctrl-C stops the cluster.\n',
);

/** The leader's id as the members see it, or undefined when none answers. */
async function currentLeader(): Promise<string | undefined> {
  for (const m of members) {
    try {
      const res = await fetch(`http://localhost:${m.port}/v1/status`, { signal: AbortSignal.timeout(500) });
      const status = (await res.json()) as { leader?: string | null };
      if (typeof status.leader === 'string' && status.leader !== '') return status.leader;
    } catch {
      // not up, or stopping: ask the next one
    }
  }
  return undefined;
}

function terminate(m: Member): Promise<void> {
  if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGTERM');
  return m.exited;
}

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void (async () => {
    const leader = await currentLeader();
    await Promise.all(members.filter((m) => m.id !== leader).map(terminate));
    await Promise.all(members.map(terminate));
  })();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
