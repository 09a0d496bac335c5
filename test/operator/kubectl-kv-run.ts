// Runs `kubectl kv ...` as a user would (kubectl finds operator/bin/kubectl-kv on PATH), against a
// test control plane, asynchronously (the process-kubelet runs in the test's process).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../cluster/cluster.ts';
import type { Env } from './harness.ts';

export interface KubectlKvRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function kubectlKv(env: Env, args: string[], cwd?: string): Promise<KubectlKvRun> {
  const childEnv: NodeJS.ProcessEnv = {
    ...env.cluster.env,
    // The plugin from the checkout, run by the Node 24 npm installed.
    PATH: [path.join(REPO_ROOT, 'operator/bin'), path.dirname(process.execPath), process.env.PATH].join(':'),
    NODE_OPTIONS: `--import ${path.join(REPO_ROOT, 'test/cluster/net-preload.ts')}`,
    // Only the process-kubelet has a hosts file for pod names; a real node has cluster DNS.
    ...('kubelet' in env.cluster ? { KVSTORE_CLUSTER_HOSTS: env.cluster.kubelet.hostsPath } : {}),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(env.cluster.tools.kubectl, ['kv', ...args], {
      env: childEnv,
      ...(cwd ? { cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
