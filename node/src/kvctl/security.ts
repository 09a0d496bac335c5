// kvctl's TLS and authentication options (etcdctl's names): --cacert FILE verifies the members'
// certificates (https endpoints), --cert/--key present a client certificate, --user NAME[:PASSWORD]
// (--password, $KVCTL_PASSWORD) logs in for a bearer token, --token TOKEN ($KVCTL_TOKEN) uses one.
// Parsing is pure (args.ts); the files are read when the command runs (loadTls).
import { readFile } from 'node:fs/promises';
import { UsageError } from './errors.ts';

export interface SecurityOptions {
  /** CA bundle file: https endpoints are verified against it (and only it). */
  cacert?: string;
  /** Client certificate and key files (both or neither). */
  cert?: string;
  key?: string;
  user?: string;
  password?: string;
  token?: string;
}

export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export type Credentials = { user: string; password: string } | { token: string } | undefined;

const TOKEN = /^[A-Za-z0-9._-]{1,1024}$/;

/** Checks the combination; `value(name)` is an option's value as given. */
export function parseSecurityOptions(
  value: (name: string) => string | undefined,
  env: Record<string, string | undefined>,
): SecurityOptions {
  const out: SecurityOptions = {};
  for (const name of ['cacert', 'cert', 'key'] as const) {
    const v = value(name);
    if (v === undefined) continue;
    if (v.trim() === '') throw new UsageError(`--${name} needs a file name`);
    out[name] = v;
  }
  if ((out.cert === undefined) !== (out.key === undefined))
    throw new UsageError('--cert and --key go together');
  const userText = value('user');
  const token = value('token') ?? (userText === undefined ? nonEmpty(env.KVCTL_TOKEN) : undefined);
  if (userText !== undefined && value('token') !== undefined)
    throw new UsageError('give --user or --token, not both');
  if (token !== undefined) {
    if (!TOKEN.test(token)) throw new UsageError('--token is not a token (letters, digits, . _ -)');
    out.token = token;
  }
  if (userText !== undefined) {
    const colon = userText.indexOf(':');
    const user = colon < 0 ? userText : userText.slice(0, colon);
    const inline = colon < 0 ? undefined : userText.slice(colon + 1);
    if (user === '') throw new UsageError('--user needs a user name');
    if (inline !== undefined && value('password') !== undefined)
      throw new UsageError('the password is given twice (--user NAME:PASSWORD and --password)');
    const password = inline ?? value('password') ?? nonEmpty(env.KVCTL_PASSWORD);
    if (password === undefined)
      throw new UsageError(
        `--user ${user} needs a password: --user NAME:PASSWORD, --password or $KVCTL_PASSWORD`,
      );
    out.user = user;
    out.password = password;
  } else if (value('password') !== undefined) {
    throw new UsageError('--password needs --user');
  }
  return out;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

export function credentialsOf(o: SecurityOptions): Credentials {
  if (o.token !== undefined) return { token: o.token };
  if (o.user !== undefined && o.password !== undefined) return { user: o.user, password: o.password };
  return undefined;
}

/** Reads the files named by --cacert, --cert and --key; a missing file is a usage error. */
export async function loadTls(o: SecurityOptions): Promise<TlsFiles> {
  const read = async (name: 'cacert' | 'cert' | 'key'): Promise<Buffer | undefined> => {
    const file = o[name];
    if (file === undefined) return undefined;
    try {
      return await readFile(file);
    } catch (e) {
      throw new UsageError(`--${name} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const [ca, cert, key] = await Promise.all([read('cacert'), read('cert'), read('key')]);
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}
