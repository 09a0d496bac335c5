// Certificate, key and CA bundle read from files and re-read when they change. Kubernetes updates
// a mounted Secret by swapping a symlink, which file watchers miss, so the files are polled: their
// contents are compared, and a new set is taken only once it parses and the key matches the
// certificate (a half-written update keeps the old set and is retried at the next poll). Listeners
// get the new secure context; servers apply it to new connections (`setSecureContext`), so no
// connection is dropped by a rotation. During a CA rotation the bundle holds both CAs.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle that peers' (or clients') certificates must chain to. */
  caFile?: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  context: SecureContext;
  /** The leaf certificate, for expiry metrics and logs. */
  leaf: X509Certificate;
  /** CA certificates in the bundle. */
  cas: X509Certificate[];
  /** Hash of the three files' contents: equal hashes mean nothing changed. */
  fingerprint: string;
}

export class TlsConfigError extends Error {
  override name = 'TlsConfigError';
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new TlsConfigError(`cannot read the ${what} ${path}: ${code}`);
  }
}

/** Every PEM certificate in a bundle. */
export function splitPemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** Reads and checks the files once; throws TlsConfigError with a message naming the bad file. */
export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  const cert = read(files.certFile, 'certificate');
  const key = read(files.keyFile, 'private key');
  const ca = files.caFile !== undefined ? read(files.caFile, 'CA bundle') : undefined;
  let leaf: X509Certificate;
  try {
    const certs = splitPemCertificates(cert.toString('utf8'));
    if (certs.length === 0) throw new Error('no PEM certificate in it');
    leaf = certs[0]!;
  } catch (e) {
    throw new TlsConfigError(`the certificate ${files.certFile} does not parse: ${(e as Error).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new TlsConfigError(`the private key ${files.keyFile} does not parse: ${(e as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsConfigError(
      `the private key ${files.keyFile} does not belong to the certificate ${files.certFile}`,
    );
  }
  let cas: X509Certificate[] = [];
  if (ca !== undefined) {
    try {
      cas = splitPemCertificates(ca.toString('utf8'));
    } catch (e) {
      throw new TlsConfigError(`the CA bundle ${files.caFile} does not parse: ${(e as Error).message}`);
    }
    if (cas.length === 0) throw new TlsConfigError(`the CA bundle ${files.caFile} holds no certificate`);
  }
  let context: SecureContext;
  try {
    context = createSecureContext({ cert, key, ...(ca !== undefined ? { ca } : {}) });
  } catch (e) {
    throw new TlsConfigError(`TLS files rejected: ${(e as Error).message}`);
  }
  const fingerprint = createHash('sha256')
    .update(cert)
    .update('\0')
    .update(key)
    .update('\0')
    .update(ca ?? '')
    .digest('hex');
  return { cert, key, ca, context, leaf, cas, fingerprint };
}

export interface ReloaderOptions {
  pollMs: number;
  onError: (e: Error) => void;
}

/** Holds the current material and polls the files for a new one. */
export class ReloadingTls {
  readonly files: TlsFiles;
  #current: TlsMaterial;
  #timer: NodeJS.Timeout | null = null;
  readonly #listeners = new Set<(m: TlsMaterial) => void>();
  readonly #o: ReloaderOptions;
  /** The last fingerprint that failed to load, so a bad update is reported once, not every poll. */
  #lastBad = '';

  constructor(files: TlsFiles, o: ReloaderOptions) {
    this.files = files;
    this.#o = o;
    this.#current = loadTlsMaterial(files);
  }

  get current(): TlsMaterial {
    return this.#current;
  }

  onChange(fn: (m: TlsMaterial) => void): void {
    this.#listeners.add(fn);
  }

  start(): void {
    this.#timer ??= setInterval(() => this.reloadNow(), this.#o.pollMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Re-reads the files; true if a new set was taken. */
  reloadNow(): boolean {
    let next: TlsMaterial;
    try {
      next = loadTlsMaterial(this.files);
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== this.#lastBad) {
        this.#lastBad = msg;
        this.#o.onError(e as Error);
      }
      return false;
    }
    this.#lastBad = '';
    if (next.fingerprint === this.#current.fingerprint) return false;
    this.#current = next;
    for (const l of this.#listeners) l(next);
    return true;
  }
}
