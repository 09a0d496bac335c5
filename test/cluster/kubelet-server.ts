// The process-kubelet's tiny HTTPS API: just enough for `kubectl logs [-f] [--previous]`, which the
// apiserver proxies to https://<node InternalIP>:<kubeletEndpoint>/containerLogs/<ns>/<pod>/<container>.
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface KubeletTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Client certificates (the apiserver's) must chain to this CA. */
  readonly ca: Buffer;
}

export type LogPathLookup = (
  namespace: string,
  pod: string,
  container: string,
  previous: boolean,
) => string | undefined;

function tailLines(text: string, n: number): string {
  const lines = text.split('\n');
  const trailing = lines.at(-1) === '' ? 1 : 0;
  return lines.slice(Math.max(0, lines.length - trailing - n)).join('\n');
}

export async function startKubeletServer(
  tls: KubeletTls,
  logPath: LogPathLookup,
): Promise<{ port: number; close(): void }> {
  const server = https.createServer({ ...tls, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const match = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (url.pathname === '/healthz') {
      res.end('ok');
      return;
    }
    if (match === null) {
      res.writeHead(404).end('not found');
      return;
    }
    const [, namespace = '', pod = '', container = ''] = match.map(decodeURIComponent);
    const file = logPath(namespace, pod, container, url.searchParams.get('previous') === 'true');
    if (file === undefined || !fs.existsSync(file)) {
      res.writeHead(404).end(`no logs for ${namespace}/${pod}/${container}`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    const tail = url.searchParams.get('tailLines');
    let text = fs.readFileSync(file);
    if (tail !== null) text = Buffer.from(tailLines(text.toString('utf8'), Number(tail)));
    res.write(text);
    if (url.searchParams.get('follow') !== 'true') {
      res.end();
      return;
    }
    // Follow: stream what gets appended until the client goes away.
    let offset = fs.statSync(file).size;
    const timer = setInterval(() => {
      const size = fs.statSync(file, { throwIfNoEntry: false })?.size ?? offset;
      if (size <= offset) return;
      const fd = fs.openSync(file, 'r');
      const chunk = Buffer.alloc(size - offset);
      fs.readSync(fd, chunk, 0, chunk.length, offset);
      fs.closeSync(fd);
      offset = size;
      res.write(chunk);
    }, 250);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
