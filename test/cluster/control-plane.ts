// etcd + kube-apiserver + kube-controller-manager on loopback, from binaries built by
// build-tools.sh (docs/adr/0030). Certificates and the service-account key come from openssl.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');
const BUILD_SCRIPT = path.join(import.meta.dirname, 'build-tools.sh');

export interface ToolPaths {
  readonly binDir: string;
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  readonly helm: string;
  readonly kubectl: string;
}

/**
 * Returns the cached binaries, building them first (minutes, once per pin set) if missing.
 * `node: true` also builds kubelet, kube-proxy, kube-scheduler and CoreDNS (docs/adr/0071).
 */
export function ensureTools(opts: { node?: boolean } = {}): ToolPaths {
  const output = execFileSync(BUILD_SCRIPT, opts.node === true ? ['--node'] : [], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const binDir = output.trim().split('\n').at(-1) ?? '';
  // build-tools.sh builds kubectl only where none is on PATH (or KVSTORE_BUILD_KUBECTL asks for it).
  const builtKubectl = path.join(binDir, 'kubectl');
  const kubectl = fs.existsSync(builtKubectl) ? builtKubectl : (findOnPath('kubectl') ?? builtKubectl);
  return {
    binDir,
    etcd: path.join(binDir, 'etcd'),
    kubeApiserver: path.join(binDir, 'kube-apiserver'),
    kubeControllerManager: path.join(binDir, 'kube-controller-manager'),
    helm: path.join(binDir, 'helm'),
    kubectl,
  };
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function issueCert(dir: string, name: string, subject: string, extensions: string): void {
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(
    ext,
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n${extensions}\n`,
  );
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      subject,
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '3650',
      '-out',
      `${name}.crt`,
      '-extfile',
      ext,
    ],
    dir,
  );
}

export interface Pki {
  readonly dir: string;
  readonly caCert: string;
  readonly file: (name: string) => string;
}

/**
 * CA, apiserver serving cert, client certs for admin and controller-manager, SA signing key.
 * `extraApiserverIps` are added to the serving cert (the real-kubelet node's bridge address and
 * the `kubernetes` Service's ClusterIP, docs/adr/0071).
 */
export function generatePki(dir: string, extraApiserverIps: readonly string[] = []): Pki {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '3650',
      '-subj',
      '/CN=kv-store-test-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  issueCert(
    dir,
    'apiserver',
    '/CN=kube-apiserver',
    'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,' +
      'DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local' +
      extraApiserverIps.map((ip) => `,IP:${ip}`).join(''),
  );
  issueCert(dir, 'admin', '/O=system:masters/CN=kube-admin', 'extendedKeyUsage=clientAuth');
  issueCert(dir, 'controller-manager', '/CN=system:kube-controller-manager', 'extendedKeyUsage=clientAuth');
  // The apiserver calls the process-kubelet (kubectl logs) with this one.
  issueCert(
    dir,
    'apiserver-kubelet-client',
    '/O=system:masters/CN=kube-apiserver-kubelet-client',
    'extendedKeyUsage=clientAuth',
  );
  issueCert(
    dir,
    'kubelet',
    '/O=system:nodes/CN=system:node:process-node',
    'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost',
  );
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
  openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  return { dir, caCert: path.join(dir, 'ca.crt'), file: (name) => path.join(dir, name) };
}

export function kubeconfigYaml(server: string, pki: Pki, user: string): string {
  const b64 = (file: string): string => fs.readFileSync(pki.file(file)).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: kv-store-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64('ca.crt')}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${b64(`${user}.crt`)}`,
    `    client-key-data: ${b64(`${user}.key`)}`,
    'contexts:',
    '- name: kv-store-test',
    '  context:',
    '    cluster: kv-store-test',
    `    user: ${user}`,
    '    namespace: default',
    'current-context: kv-store-test',
    '',
  ].join('\n');
}

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logPath: string;
  readonly exited: Promise<number | null>;
}

/** Spawns a long-running component in its own process group, output appended to a log file. */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  logDir: string,
  env: NodeJS.ProcessEnv = process.env,
): ManagedProcess {
  const logPath = path.join(logDir, `${name}.log`);
  const fd = fs.openSync(logPath, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], detached: true, env });
  fs.closeSync(fd);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? null : 128)));
    child.once('error', () => resolve(null));
  });
  registerForExitCleanup(child);
  return { name, child, logPath, exited };
}

const liveGroups = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A crashed test run must not leave a control plane behind: kill groups synchronously on exit. */
export function registerForExitCleanup(child: ChildProcess): void {
  liveGroups.add(child);
  child.once('exit', () => liveGroups.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const c of liveGroups) killGroup(c, 'SIGKILL');
  };
  process.once('exit', killAll);
  // Ctrl-C or a CI timeout kills by signal, which skips 'exit'. Unless someone else handles the
  // signal (cli.ts shuts down gracefully), clean up and die of the same signal.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      if (process.listenerCount(signal) > 0) return;
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the process has exited. */
export async function stopProcess(p: ManagedProcess, graceMs = 10_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  killGroup(p.child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(p.child, 'SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
  // Anything the component forked into its group goes too.
  if (p.child.pid !== undefined) {
    try {
      process.kill(-p.child.pid, 'SIGKILL');
    } catch {
      // group empty
    }
  }
}

export interface HttpsGetOptions {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly insecure?: boolean;
}

export async function httpsGet(
  url: string,
  opts: HttpsGetOptions,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      url,
      {
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        rejectUnauthorized: opts.insecure !== true,
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  watch: readonly ManagedProcess[] = [],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    for (const p of watch) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) {
        throw new Error(`${p.name} exited while waiting for ${what}; see ${p.logPath}:\n${tail(p.logPath)}`);
      }
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}: ${String(lastError)}`);
}

export function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export interface ControlPlaneOptions {
  readonly stateDir: string;
  readonly tools: ToolPaths;
  /** Extra kube-apiserver flags, e.g. feature gates. */
  readonly apiserverArgs?: readonly string[];
  readonly startTimeoutMs?: number;
  /**
   * Where the apiserver listens and what it advertises (default 127.0.0.1, reachable from this
   * machine only). A real kubelet's pods reach it through the `kubernetes` Service, so the
   * real-kubelet node passes its bridge address; the Service then gets real endpoints.
   */
  readonly bindAddress?: string;
}

/** The `kubernetes` Service's ClusterIP: the first address of --service-cluster-ip-range. */
export const SERVICE_CIDR = '10.96.0.0/16';
export const KUBERNETES_SERVICE_IP = '10.96.0.1';

export interface ControlPlane {
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly kubeconfig: string;
  readonly pki: Pki;
  readonly processes: readonly ManagedProcess[];
  readonly ports: { etcdClient: number; etcdPeer: number; apiserver: number; controllerManager: number };
  stop(): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { stateDir, tools } = opts;
  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  const logDir = path.join(stateDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const bindAddress = opts.bindAddress ?? '127.0.0.1';
  const loopbackOnly = bindAddress === '127.0.0.1';
  const pki = generatePki(
    path.join(stateDir, 'pki'),
    loopbackOnly ? [] : [bindAddress, KUBERNETES_SERVICE_IP],
  );
  const ports = {
    etcdClient: await freePort(),
    etcdPeer: await freePort(),
    apiserver: await freePort(),
    controllerManager: await freePort(),
  };
  const server = `https://${bindAddress}:${ports.apiserver}`;
  const kubeconfigPath = path.join(stateDir, 'admin.kubeconfig');
  const kubeconfig = kubeconfigYaml(server, pki, 'admin');
  fs.writeFileSync(kubeconfigPath, kubeconfig, { mode: 0o600 });
  const cmKubeconfig = path.join(stateDir, 'controller-manager.kubeconfig');
  fs.writeFileSync(cmKubeconfig, kubeconfigYaml(server, pki, 'controller-manager'), { mode: 0o600 });

  const processes: ManagedProcess[] = [];
  const stop = async (): Promise<void> => {
    // Reverse start order: controllers first, etcd last.
    for (const p of [...processes].reverse()) await stopProcess(p);
  };

  try {
    const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
    const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
    processes.push(
      startProcess(
        'etcd',
        tools.etcd,
        [
          '--name=test',
          `--data-dir=${path.join(stateDir, 'etcd')}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=test=${peerUrl}`,
          // Test data only: skipping fsync keeps a shared, slow disk from stalling the apiserver.
          '--unsafe-no-fsync',
          '--log-level=warn',
        ],
        logDir,
      ),
    );

    processes.push(
      startProcess(
        'kube-apiserver',
        tools.kubeApiserver,
        [
          `--etcd-servers=${etcdUrl}`,
          `--bind-address=${bindAddress}`,
          `--secure-port=${ports.apiserver}`,
          `--advertise-address=${bindAddress}`,
          // Nothing can route to 127.0.0.1 from a pod's point of view, and Endpoints reject loopback.
          `--endpoint-reconciler-type=${loopbackOnly ? 'none' : 'lease'}`,
          `--tls-cert-file=${pki.file('apiserver.crt')}`,
          `--tls-private-key-file=${pki.file('apiserver.key')}`,
          `--client-ca-file=${pki.caCert}`,
          // Published in kube-system/extension-apiserver-authentication; controllers complain without it.
          `--kubelet-client-certificate=${pki.file('apiserver-kubelet-client.crt')}`,
          `--kubelet-client-key=${pki.file('apiserver-kubelet-client.key')}`,
          `--kubelet-certificate-authority=${pki.caCert}`,
          '--kubelet-preferred-address-types=InternalIP',
          `--requestheader-client-ca-file=${pki.caCert}`,
          '--requestheader-allowed-names=front-proxy-client',
          '--requestheader-username-headers=X-Remote-User',
          '--requestheader-group-headers=X-Remote-Group',
          '--requestheader-extra-headers-prefix=X-Remote-Extra-',
          // A real kubelet acts as system:node:<name>: the Node authorizer scopes it, as in kubeadm clusters.
          `--authorization-mode=${loopbackOnly ? 'RBAC' : 'Node,RBAC'}`,
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          `--service-account-key-file=${pki.file('sa.pub')}`,
          `--service-account-signing-key-file=${pki.file('sa.key')}`,
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          '--allow-privileged=true',
          '--profiling=false',
          '--v=1',
          ...(opts.apiserverArgs ?? []),
        ],
        logDir,
      ),
    );

    const ca = fs.readFileSync(pki.caCert);
    const cert = fs.readFileSync(pki.file('admin.crt'));
    const key = fs.readFileSync(pki.file('admin.key'));
    await waitFor(
      'kube-apiserver /readyz',
      async () => (await httpsGet(`${server}/readyz`, { ca, cert, key })).status === 200,
      timeoutMs,
      processes,
    );

    processes.push(
      startProcess(
        'kube-controller-manager',
        tools.kubeControllerManager,
        [
          `--kubeconfig=${cmKubeconfig}`,
          `--authentication-kubeconfig=${cmKubeconfig}`,
          `--authorization-kubeconfig=${cmKubeconfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.controllerManager}`,
          '--leader-elect=false',
          '--use-service-account-credentials=true',
          `--service-account-private-key-file=${pki.file('sa.key')}`,
          `--root-ca-file=${pki.caCert}`,
          `--cluster-signing-cert-file=${pki.caCert}`,
          `--cluster-signing-key-file=${pki.file('ca.key')}`,
          '--profiling=false',
          '--v=1',
        ],
        logDir,
      ),
    );
    await waitFor(
      'kube-controller-manager /healthz',
      async () =>
        (await httpsGet(`https://127.0.0.1:${ports.controllerManager}/healthz`, { insecure: true }))
          .status === 200,
      timeoutMs,
      processes,
    );
    // Pods cannot be created before the service-account controller made "default/default".
    await waitFor(
      'default service account',
      async () =>
        (await httpsGet(`${server}/api/v1/namespaces/default/serviceaccounts/default`, { ca, cert, key }))
          .status === 200,
      timeoutMs,
      processes,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { server, kubeconfigPath, kubeconfig, pki, processes, ports, stop };
}
