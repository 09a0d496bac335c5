// The control plane with a real worker node (docs/adr/0071): kubelet + containerd + runc, CNI
// bridge, kube-proxy, kube-scheduler, CoreDNS, local PVs. The counterpart of startCluster()
// (process-kubelet) for suites that must run the real images.
//
//   const cluster = await startRealCluster({ images: new Map([['localhost/kv-store:dev', ['docker.io/library/kv-store:dev']]]) });
//   await cluster.kubectl(['get', 'pods', '-A']);
//   await cluster.node.ctr(['tasks', 'ls']);
//   await cluster.stop();
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTools, startControlPlane, type ControlPlane, type ToolPaths } from './control-plane.ts';
import { createPodBridge, type PodBridge } from './pod-bridge.ts';
import { RealNode } from './real-node.ts';
import { toolRunner, type LogOptions } from './cluster.ts';

export interface StartRealClusterOptions {
  readonly stateDir?: string;
  /** podman image -> names pods use for it, imported into the node's containerd at start. */
  readonly images: ReadonlyMap<string, readonly string[]>;
  readonly removeStateOnStop?: boolean;
  readonly log?: (message: string) => void;
}

export interface RealCluster {
  readonly stateDir: string;
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly kubeconfig: string;
  readonly tools: ToolPaths;
  readonly controlPlane: ControlPlane;
  readonly node: RealNode;
  readonly bridge: PodBridge;
  readonly env: NodeJS.ProcessEnv;
  /** A container's current log (kubectl logs reads the same files through the kubelet). */
  logs(namespace: string, pod: string, opts?: LogOptions): string;
  kubectl(args: readonly string[], input?: string): Promise<string>;
  helm(args: readonly string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startRealCluster(opts: StartRealClusterOptions): Promise<RealCluster> {
  const tools = ensureTools({ node: true });
  const createdTemp = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kv-store-real-'));
  fs.mkdirSync(stateDir, { recursive: true });
  const bridge = createPodBridge();
  let controlPlane: ControlPlane | undefined;
  let node: RealNode | undefined;
  const teardown = async (): Promise<void> => {
    try {
      await node?.stop();
    } finally {
      try {
        await controlPlane?.stop();
      } finally {
        bridge.remove();
      }
    }
  };
  try {
    controlPlane = await startControlPlane({ stateDir, tools, bindAddress: bridge.gateway });
    node = new RealNode({
      stateDir,
      tools,
      controlPlane,
      bridge,
      images: opts.images,
      ...(opts.log !== undefined ? { log: opts.log } : {}),
    });
    await node.start();
  } catch (err) {
    await teardown();
    throw err;
  }
  const cp = controlPlane;
  const realNode = node;
  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: cp.kubeconfigPath };
  const run = toolRunner(env);
  const removeState =
    opts.removeStateOnStop ?? (createdTemp && process.env['KVSTORE_KEEP_CLUSTER'] === undefined);
  let stopping: Promise<void> | undefined;
  return {
    stateDir,
    server: cp.server,
    kubeconfigPath: cp.kubeconfigPath,
    kubeconfig: cp.kubeconfig,
    tools,
    controlPlane: cp,
    node: realNode,
    bridge,
    env,
    logs: (namespace, pod, logOpts = {}) => realNode.logs(namespace, pod, logOpts.container),
    kubectl: (args, input) => run(tools.kubectl, args, input),
    helm: (args) => run(tools.helm, args),
    stop() {
      stopping ??= (async () => {
        await teardown();
        if (removeState) fs.rmSync(stateDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
