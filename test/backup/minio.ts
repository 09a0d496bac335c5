// A real MinIO server for the archive tests: built once from the Go module proxy by
// test/s3/build-minio.sh (cached outside the checkout), started per test file on a free port with
// a fresh data directory, stopped (SIGKILL) at the end. It listens on loopback unless told an
// address of our own (the real-kubelet node's bridge gateway, which its pods reach).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { waitFor } from '../integration/harness.ts';

const BUILD = fileURLToPath(new URL('../s3/build-minio.sh', import.meta.url));

export interface Minio {
  endpoint: string;
  env: Record<string, string>;
  root: string;
  client: S3Client;
  createBucket(name: string): Promise<void>;
  /** The server's process id (CPU accounting in the backup bench). */
  pid: number | undefined;
  stop(): Promise<void>;
}

/** A port free on `host` right now (the OS picks it). */
function freePortOn(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, host, () => {
      const addr = s.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'));
      const port = addr.port;
      s.close(() => resolve(port));
    });
  });
}

export interface MinioOptions {
  /** IPv4 address to listen on (default 127.0.0.1); only loopback or an interface these tests made. */
  readonly host?: string;
}

export async function startMinio(opts: MinioOptions = {}): Promise<Minio> {
  const host = opts.host ?? '127.0.0.1';
  // Prints the binary's path; builds it first on a machine that has not (minutes, once).
  const bin = execFileSync('bash', [BUILD], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const root = mkdtempSync(join(tmpdir(), 'kvstore-minio-'));
  const port = await freePortOn(host);
  const consolePort = await freePortOn('127.0.0.1');
  const env = {
    AWS_ACCESS_KEY_ID: 'kvstore-test',
    AWS_SECRET_ACCESS_KEY: 'kvstore-test-secret',
    AWS_REGION: 'us-east-1',
  };
  const log = createWriteStream(join(root, 'minio.log'));
  const proc: ChildProcess = spawn(
    bin,
    [
      'server',
      join(root, 'data'),
      '--address',
      `${host}:${port}`,
      '--console-address',
      `127.0.0.1:${consolePort}`,
      '--quiet',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        MINIO_ROOT_USER: env.AWS_ACCESS_KEY_ID,
        MINIO_ROOT_PASSWORD: env.AWS_SECRET_ACCESS_KEY,
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
      },
    },
  );
  proc.stdout!.pipe(log);
  proc.stderr!.pipe(log);
  const endpoint = `http://${host}:${port}`;
  await waitFor(
    'minio to answer',
    async () => (await fetch(`${endpoint}/minio/health/live`, { signal: AbortSignal.timeout(1000) })).ok,
    60_000,
    200,
  );
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: env.AWS_REGION,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
  });
  return {
    endpoint,
    env,
    root,
    client,
    pid: proc.pid,
    async createBucket(name: string) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async stop() {
      client.destroy();
      if (proc.exitCode === null && proc.signalCode === null) {
        await new Promise<void>((resolve) => {
          proc.once('exit', () => resolve());
          proc.kill('SIGKILL');
        });
      }
      log.end();
      if (process.env.KVSTORE_KEEP_TEST_DATA !== '1') rmSync(root, { recursive: true, force: true });
    },
  };
}
