// Container probes for the process-kubelet: httpGet, tcpSocket and exec, as the kubelet runs them.
import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { V1ContainerPort, V1Probe } from '@kubernetes/client-node';
import { toLoopback } from './pod-network.ts';

export interface ProbeTarget {
  /** Where the container listens; a probe without host goes here. */
  readonly loopbackIp: string;
  /** For named ports. */
  readonly ports: readonly V1ContainerPort[];
  readonly cwd: string;
  /** The container's environment for exec probes. */
  execEnv(): Promise<Record<string, string>>;
  /** mountPath -> local directory in exec arguments. */
  rewriteArg(arg: string): string;
}

function resolvePort(target: ProbeTarget, port: number | string): number {
  if (typeof port === 'number') return port;
  return target.ports.find((p) => p.name === port)?.containerPort ?? Number(port);
}

/** One probe attempt: true on success (HTTP 2xx/3xx, TCP connect, exit 0). */
export async function runProbe(probe: V1Probe, target: ProbeTarget): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  try {
    if (probe.httpGet !== undefined) {
      const get = probe.httpGet;
      const host = toLoopback(get.host ?? target.loopbackIp);
      const port = resolvePort(target, get.port);
      const headers = Object.fromEntries((get.httpHeaders ?? []).map((h) => [h.name, h.value]));
      return await new Promise<boolean>((resolve) => {
        // HTTPS as the kubelet does it: TLS without verifying the certificate (and none presented).
        const client = get.scheme === 'HTTPS' ? https : http;
        const tlsOptions = get.scheme === 'HTTPS' ? { rejectUnauthorized: false } : {};
        const options = { host, port, path: get.path ?? '/', headers, timeout: timeoutMs, ...tlsOptions };
        const req = client.get(options, (res) => {
          res.resume();
          const status = res.statusCode ?? 0;
          resolve(status >= 200 && status < 400);
        });
        req.on('timeout', () => req.destroy());
        req.on('error', () => resolve(false));
      });
    }
    if (probe.tcpSocket !== undefined) {
      const host = toLoopback(probe.tcpSocket.host ?? target.loopbackIp);
      const port = resolvePort(target, probe.tcpSocket.port);
      return await new Promise<boolean>((resolve) => {
        const socket = net.connect({ host, port, timeout: timeoutMs }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('timeout', () => {
          socket.destroy();
          resolve(false);
        });
        socket.on('error', () => resolve(false));
      });
    }
    if (probe.exec?.command !== undefined) {
      const [file, ...args] = probe.exec.command;
      const env = await target.execEnv();
      return await new Promise<boolean>((resolve) => {
        const p = spawn(
          file ?? '',
          args.map((a) => target.rewriteArg(a)),
          {
            cwd: target.cwd,
            stdio: 'ignore',
            timeout: timeoutMs,
            env,
          },
        );
        p.on('error', () => resolve(false));
        p.on('exit', (code) => resolve(code === 0));
      });
    }
  } catch {
    return false;
  }
  // A probe with no handler (e.g. grpc) is treated as passing rather than killing the pod.
  return true;
}
