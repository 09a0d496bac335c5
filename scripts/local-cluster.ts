// Runs a local 3-node kv-store cluster with the seed's command lines, data in
// ./data/<id>, logs prefixed per node. Ctrl-C stops all three gracefully.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../node/bin/kv-store.js', import.meta.url));
const nodes = [
  { id: 'node1', addr: ':8080', peers: 'node2=localhost:8081,node3=localhost:8082' },
  { id: 'node2', addr: ':8081', peers: 'node1=localhost:8080,node3=localhost:8082' },
  { id: 'node3', addr: ':8082', peers: 'node1=localhost:8080,node2=localhost:8081' },
];

const children: ChildProcess[] = [];
for (const n of nodes) {
  const child = spawn(process.execPath, [bin, '-id', n.id, '-addr', n.addr, '-peers', n.peers], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`[${n.id}] ${line}\n`));
  }
  child.on('exit', (code, signal) => {
    process.stdout.write(`[${n.id}] exited (${signal ?? code})\n`);
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(0);
  });
}

process.stdout.write(
  'kv-store: 3 nodes on http://localhost:8080, :8081, :8082 (data in ./data). Try:\n' +
    `  curl -X PUT http://localhost:8080/v1/kv/mykey -H "Content-Type: application/json" -d '{"value": "myvalue", "ttl": "5s"}'\n` +
    '  curl http://localhost:8081/v1/kv/mykey\n' +
    'Ctrl-C stops the cluster.\n',
);

const stop = (): void => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
