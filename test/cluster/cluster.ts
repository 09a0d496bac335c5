// The entry point test suites import: a real control plane plus the process-kubelet.
//
//   const cluster = await startCluster();
//   await cluster.kubectl(['get', 'pods']);      // KUBECONFIG already set
//   cluster.logs('default', 'web-0');            // container output
//   await cluster.stop();                        // every process gone
//
// See docs/adr/0030 for pod IPs, DNS and how volume mounts reach a process.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_IMAGE_MAP, loadImageMap } from './image-map.ts';
import {
  ensureTools,
  REPO_ROOT,
  startControlPlane,
  type ControlPlane,
  type ToolPaths,
} from './control-plane.ts';
import { installClusterNetwork } from './pod-network.ts';
import { ProcessKubelet } from './process-kubelet.ts';

export { REPO_ROOT } from './control-plane.ts';
export { mountEnvName } from './container-env.ts';
export { toLoopback } from './pod-network.ts';

/** Marks a directory as ours so cluster:up may wipe it. */
export const STATE_MARKER = '.kv-store-cluster';

export interface StartClusterOptions {
  /** Where certs, etcd data, logs, volumes and the hosts file live. Default: a fresh temp dir. */
  readonly stateDir?: string;
  /** Image -> command map (default test/cluster/images.json). */
  readonly imageMapPath?: string;
  readonly nodeName?: string;
  readonly restartBackoffMs?: { base: number; max: number };
  /** Patch this process's dns/net so it reaches pods by DNS name and pod IP (default true). */
  readonly patchProcessNetwork?: boolean;
  /** Remove the state dir on stop() (default: only if it was a temp dir we created and KVSTORE_KEEP_CLUSTER is unset). */
  readonly removeStateOnStop?: boolean;
}

export interface LogOptions {
  readonly container?: string;
  /** The previous run's output, like `kubectl logs --previous`. */
  readonly previous?: boolean;
}

export interface Cluster {
  readonly stateDir: string;
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly kubeconfig: string;
  readonly kubelet: ProcessKubelet;
  readonly tools: ToolPaths;
  readonly controlPlane: ControlPlane;
  /** Environment for child commands (KUBECONFIG set). */
  readonly env: NodeJS.ProcessEnv;
  /** A container's log; pods that were deleted keep theirs until the state dir goes. */
  logs(namespace: string, pod: string, opts?: LogOptions): string;
  /** Runs kubectl against the cluster; rejects with stderr on a non-zero exit. */
  kubectl(args: readonly string[], input?: string): Promise<string>;
  helm(args: readonly string[]): Promise<string>;
  /** Stops pods (graceful), then controller-manager, apiserver and etcd. */
  stop(): Promise<void>;
}

/** Runs a CLI (kubectl, helm) with `env` asynchronously: stdout, or an error with its output. */
export function toolRunner(
  env: NodeJS.ProcessEnv,
): (file: string, args: readonly string[], input?: string) => Promise<string> {
  return (file, args, input) =>
    new Promise((resolve, reject) => {
      const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve(stdout);
        else
          reject(
            new Error(`${path.basename(file)} ${args.join(' ')} exited ${String(code)}: ${stderr}${stdout}`),
          );
      });
      child.stdin.end(input ?? '');
    });
}

export async function startCluster(opts: StartClusterOptions = {}): Promise<Cluster> {
  const tools = ensureTools();
  const createdTemp = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kv-store-cluster-'));
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(path.join(stateDir, STATE_MARKER), '');
  const imageMap = loadImageMap(
    opts.imageMapPath ?? process.env['KVSTORE_IMAGE_MAP'] ?? DEFAULT_IMAGE_MAP,
    REPO_ROOT,
  );

  const controlPlane = await startControlPlane({ stateDir, tools });
  const kubelet = new ProcessKubelet({
    kubeconfig: controlPlane.kubeconfig,
    stateDir,
    imageMap,
    repoRoot: REPO_ROOT,
    apiserverPort: controlPlane.ports.apiserver,
    tls: {
      cert: fs.readFileSync(controlPlane.pki.file('kubelet.crt')),
      key: fs.readFileSync(controlPlane.pki.file('kubelet.key')),
      ca: fs.readFileSync(controlPlane.pki.caCert),
    },
    ...(opts.nodeName !== undefined ? { nodeName: opts.nodeName } : {}),
    ...(opts.restartBackoffMs !== undefined ? { restartBackoffMs: opts.restartBackoffMs } : {}),
  });
  try {
    await kubelet.start();
  } catch (err) {
    await controlPlane.stop();
    throw err;
  }
  if (opts.patchProcessNetwork ?? true) installClusterNetwork(kubelet.hostsPath);

  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: controlPlane.kubeconfigPath };
  // Asynchronous on purpose: the process-kubelet lives in this process, and a blocking exec would
  // freeze it (kubectl logs is served by it, and pods only progress while it runs).
  const run = toolRunner(env);
  const removeState =
    opts.removeStateOnStop ?? (createdTemp && process.env['KVSTORE_KEEP_CLUSTER'] === undefined);

  let stopping: Promise<void> | undefined;
  return {
    stateDir,
    server: controlPlane.server,
    kubeconfigPath: controlPlane.kubeconfigPath,
    kubeconfig: controlPlane.kubeconfig,
    kubelet,
    tools,
    controlPlane,
    env,
    logs(namespace, pod, logOpts = {}) {
      const runner = kubelet.runner(namespace, pod);
      let file = runner?.logPath(logOpts.container, logOpts.previous ?? false);
      if (file === undefined) {
        // Deleted pod: newest log of that name on disk.
        const prefix = `${namespace}_${pod}_`;
        const dirs = fs.existsSync(kubelet.podsDir)
          ? fs.readdirSync(kubelet.podsDir).filter((d) => d.startsWith(prefix))
          : [];
        const candidates = dirs
          .flatMap((d) => {
            const base = path.join(kubelet.podsDir, d);
            const containers =
              logOpts.container !== undefined
                ? [logOpts.container]
                : fs
                    .readdirSync(base, { withFileTypes: true })
                    .filter((e) => e.isDirectory() && e.name !== 'volumes')
                    .map((e) => e.name);
            return containers.flatMap((c) =>
              fs.statSync(path.join(base, c), { throwIfNoEntry: false })?.isDirectory() === true
                ? fs.readdirSync(path.join(base, c)).map((f) => path.join(base, c, f))
                : [],
            );
          })
          .filter((f) => f.endsWith('.log'));
        candidates.sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs);
        file = candidates.at(-1);
      }
      return file !== undefined && fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    },
    kubectl: (args, input) => run(tools.kubectl, args, input),
    helm: (args) => run(tools.helm, args),
    stop() {
      stopping ??= (async () => {
        try {
          await kubelet.stop();
        } finally {
          await controlPlane.stop();
        }
        if (removeState) fs.rmSync(stateDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
