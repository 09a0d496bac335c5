// npm run cluster:up / cluster:down. `up` starts a supervisor in the background that owns the
// cluster (state in $KVSTORE_CLUSTER_DIR or <repo>/.cache/cluster) and prints KUBECONFIG; `down`
// asks it to stop pods, controllers, apiserver and etcd, and waits until they are gone.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT, STATE_MARKER, startCluster } from './cluster.ts';

const stateDir = path.resolve(
  process.env['KVSTORE_CLUSTER_DIR'] ?? path.join(REPO_ROOT, '.cache', 'cluster'),
);
const pidFile = path.join(stateDir, 'supervisor.pid');
const readyFile = path.join(stateDir, 'ready.json');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function supervisorPid(): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function printReady(): void {
  const ready = JSON.parse(fs.readFileSync(readyFile, 'utf8')) as {
    kubeconfigPath: string;
    startupMs: number;
    server: string;
  };
  console.log(`cluster up at ${ready.server} (start-up ${(ready.startupMs / 1000).toFixed(1)} s)`);
  console.log(`export KUBECONFIG=${ready.kubeconfigPath}`);
}

/** Wipes a previous run's state, but never a directory that is not ours. */
function resetStateDir(): void {
  if (fs.existsSync(stateDir)) {
    const entries = fs.readdirSync(stateDir);
    if (entries.length > 0 && !entries.includes(STATE_MARKER)) {
      throw new Error(`${stateDir} is not empty and not a kv-store cluster dir; refusing to wipe it`);
    }
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(path.join(stateDir, STATE_MARKER), '');
}

async function up(): Promise<void> {
  if (supervisorPid() !== undefined && fs.existsSync(readyFile)) {
    printReady();
    return;
  }
  resetStateDir();
  const log = fs.openSync(path.join(stateDir, 'supervisor.log'), 'a');
  const child = spawn(process.execPath, [import.meta.filename, 'serve'], {
    detached: true,
    stdio: ['ignore', log, log],
    env: process.env,
  });
  fs.closeSync(log);
  child.unref();
  // The first run builds the binaries (many minutes), so wait as long as the supervisor lives.
  console.log(
    `starting cluster in ${stateDir} (first run on a machine builds the binaries; see supervisor.log)`,
  );
  while (!fs.existsSync(readyFile)) {
    if (child.exitCode !== null || (child.pid !== undefined && !alive(child.pid))) {
      throw new Error(`cluster supervisor exited; see ${path.join(stateDir, 'supervisor.log')}`);
    }
    await sleep(250);
  }
  printReady();
}

async function serve(): Promise<void> {
  fs.writeFileSync(pidFile, String(process.pid));
  const t0 = performance.now();
  const cluster = await startCluster({ stateDir, removeStateOnStop: false });
  const startupMs = Math.round(performance.now() - t0);
  fs.writeFileSync(
    readyFile,
    JSON.stringify({ kubeconfigPath: cluster.kubeconfigPath, server: cluster.server, startupMs }),
  );
  console.log(`ready in ${startupMs} ms`);
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    void cluster.stop().finally(() => {
      fs.rmSync(readyFile, { force: true });
      fs.rmSync(pidFile, { force: true });
      process.exit(0);
    });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

async function down(): Promise<void> {
  const pid = supervisorPid();
  if (pid === undefined) {
    console.log('no cluster running');
    return;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 90_000;
  while (alive(pid) && Date.now() < deadline) await sleep(200);
  if (alive(pid)) {
    process.kill(pid, 'SIGKILL');
    throw new Error('supervisor did not stop in 90 s; killed it');
  }
  console.log('cluster stopped');
}

const command = process.argv[2];
const actions: Record<string, () => Promise<void>> = { up, down, serve };
const action = command !== undefined ? actions[command] : undefined;
if (action === undefined) {
  console.error('usage: cli.ts up|down');
  process.exitCode = 2;
} else {
  await action();
}
