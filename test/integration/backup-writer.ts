// A recorded writer for the backup tests: puts (new keys, overwrites, some with a TTL) and deletes,
// each with the log index its answer reported, so the state at any index can be replayed from the
// history. Unique values make every write tell apart.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { http } from './harness.ts';

export interface Op {
  kind: 'put' | 'del';
  key: string;
  value?: string;
  ttl?: string;
  /** The log index the write was applied at (modifyIndex, or X-KV-Index of a delete). */
  index: number;
  /** Wall clock when the request was sent and when its answer arrived. */
  sentAt: number;
  ackedAt: number;
}

export class RecordingWriter {
  readonly ops: Op[] = [];
  /** Writes whose outcome is unknown (timeouts, connection errors during faults). */
  readonly unknown: { kind: 'put' | 'del'; key: string; value?: string }[] = [];
  failures = 0;
  private n = 0;
  private stopped = false;
  private loops: Promise<void>[] = [];
  private readonly endpoints: () => string[];

  constructor(endpoints: () => string[]) {
    this.endpoints = endpoints;
  }

  start(concurrency = 3, pauseMs = 5): void {
    for (let c = 0; c < concurrency; c++) this.loops.push(this.loop(c, pauseMs));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  private async loop(worker: number, pauseMs: number): Promise<void> {
    let e = worker;
    while (!this.stopped) {
      const n = ++this.n;
      const eps = this.endpoints();
      const url = eps[e++ % eps.length]!;
      const del = n % 7 === 0 && n > 20;
      const key = del || n % 5 === 0 ? `w-${(n * 7919) % Math.max(1, n - 10)}` : `w-${n}`;
      const value = `v-${n}`;
      const ttl = n % 11 === 0 ? '1h' : undefined;
      const sentAt = Date.now();
      try {
        if (del) {
          const r = await http('DELETE', `${url}/v1/kv/${key}`, undefined, { timeoutMs: 5000 });
          if (r.status === 200) {
            this.ops.push({
              kind: 'del',
              key,
              index: Number(r.headers.get('x-kv-index')),
              sentAt,
              ackedAt: Date.now(),
            });
          } else this.failed(r.status, { kind: 'del', key });
        } else {
          const r = await http('PUT', `${url}/v1/kv/${key}`, ttl ? { value, ttl } : { value }, {
            timeoutMs: 5000,
          });
          if (r.status === 200) {
            this.ops.push({
              kind: 'put',
              key,
              value,
              ...(ttl ? { ttl } : {}),
              index: (r.body as { modifyIndex: number }).modifyIndex,
              sentAt,
              ackedAt: Date.now(),
            });
          } else this.failed(r.status, { kind: 'put', key, value });
        }
      } catch {
        this.unknown.push(del ? { kind: 'del', key } : { kind: 'put', key, value });
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }

  private failed(status: number, w: { kind: 'put' | 'del'; key: string; value?: string }): void {
    this.failures++;
    // 503/504-like answers after sending may or may not have applied; 4xx and "no leader" did not.
    if (status >= 500 && status !== 503) this.unknown.push(w);
  }

  /** The key → value map after replaying every acknowledged write at or below `index`. */
  stateAt(index: number): Map<string, string> {
    const state = new Map<string, string>();
    for (const op of [...this.ops].sort((a, b) => a.index - b.index)) {
      if (op.index > index) break;
      if (op.kind === 'put') state.set(op.key, op.value!);
      else state.delete(op.key);
    }
    return state;
  }

  maxIndex(): number {
    return Math.max(0, ...this.ops.map((o) => o.index));
  }
}

/** Every key → value of a member (stale read of the whole key space, paginated by the server's max). */
export async function dumpKeys(url: string): Promise<Map<string, string>> {
  const r = await http('GET', `${url}/v1/kv/?recurse&limit=10000`, undefined, { timeoutMs: 15_000 });
  if (r.status !== 200) throw new Error(`dump ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  const body = r.body as { items: { key: string; value: string }[]; more: boolean };
  if (body.more) throw new Error('more than 10000 keys: the test writes fewer');
  return new Map(body.items.map((kv) => [kv.key, kv.value]));
}

export function diffStates(got: Map<string, string>, want: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of want)
    if (got.get(k) !== v) out.push(`${k}: want ${v}, got ${got.get(k) ?? '(missing)'}`);
  for (const [k, v] of got) if (!want.has(k)) out.push(`${k}: unexpected ${v}`);
  return out;
}

const KVCTL = fileURLToPath(new URL('../../node/bin/kvctl.js', import.meta.url));

export function kvctl(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [KVCTL, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
