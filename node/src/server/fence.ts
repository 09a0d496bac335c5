// Fencing (docs/adr/0076): with -fence-file, the node refuses client requests (503 `fenced`) and
// reports NotReady while the file names it. The operator writes the file through a mounted
// ConfigMap (one member id a line) after demoting the member to learner, so the member keeps
// replicating, and keeping, its data. The file is polled: a kubelet updates mounted ConfigMaps by
// swapping a symlink, which file watchers miss. A missing file means nobody is fenced; a file
// that does not parse keeps the last state and is reported once.
import { readFile } from 'node:fs/promises';
import type { Logger } from '../logger.ts';

/** Larger than any real list (at most 9 members of 63 characters) while bounding what is read. */
export const MAX_FENCE_FILE_BYTES = 64 * 1024;
const MEMBER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export type FenceParse = { ok: true; fenced: boolean } | { ok: false; error: string };

/** Whether `text` (the fence file) names member `id`. Blank lines and `#` comments are ignored. */
export function parseFenceFile(text: string, id: string): FenceParse {
  if (Buffer.byteLength(text) > MAX_FENCE_FILE_BYTES)
    return { ok: false, error: `larger than ${MAX_FENCE_FILE_BYTES} bytes` };
  let fenced = false;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!MEMBER_ID.test(line)) return { ok: false, error: `line ${i + 1} is not a member id` };
    if (line === id) fenced = true;
  }
  return { ok: true, fenced };
}

export interface FenceFileOptions {
  path: string;
  id: string;
  log: Logger;
  pollMs?: number;
  /** Injected for tests; default node:fs/promises readFile. */
  read?: (path: string) => Promise<string>;
}

export class FenceFile {
  #fenced = false;
  #lastError: string | null = null;
  #timer: NodeJS.Timeout | undefined;
  readonly #o: Required<Omit<FenceFileOptions, 'read'>> & { read: (path: string) => Promise<string> };

  constructor(o: FenceFileOptions) {
    this.#o = {
      pollMs: 1000,
      read: async (p) => {
        const buf = await readFile(p);
        // Bounded before decoding: only the first bytes past the limit matter for the refusal.
        return buf.subarray(0, MAX_FENCE_FILE_BYTES + 1).toString('utf8');
      },
      ...o,
    };
  }

  /** Fenced right now (as of the last poll). */
  get fenced(): boolean {
    return this.#fenced;
  }

  async poll(): Promise<void> {
    let text: string;
    try {
      text = await this.#o.read(this.#o.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#set(false);
        this.#lastError = null;
        return;
      }
      this.#report(`cannot read: ${(e as Error).message}`);
      return;
    }
    const r = parseFenceFile(text, this.#o.id);
    if (!r.ok) {
      this.#report(r.error);
      return;
    }
    this.#lastError = null;
    this.#set(r.fenced);
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.poll(), this.#o.pollMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #set(fenced: boolean): void {
    if (fenced !== this.#fenced)
      this.#o.log.warn(fenced ? 'fenced: refusing client requests' : 'unfenced: serving clients again', {
        fenceFile: this.#o.path,
      });
    this.#fenced = fenced;
  }

  #report(error: string): void {
    if (error === this.#lastError) return;
    this.#lastError = error;
    this.#o.log.warn('fence file ignored; keeping the last state', {
      fenceFile: this.#o.path,
      error,
      fenced: this.#fenced,
    });
  }
}
