// The replicated authentication state: users (scrypt hashes, roles, a generation that revokes
// tokens), roles (prefix permissions), whether auth is enabled, and the key tokens are signed
// with. Changed only by applying AuthChange commands from the Raft log, so every member holds the
// same state; saved in snapshots with the keys. Passwords never reach the log: the member that
// receives a request hashes it and proposes the hash.
import { isPasswordHash } from './password.ts';
import { isValidAuthName, roleProblem, ROOT_ROLE, ROOT_USER, type Role } from './permissions.ts';

export interface User {
  name: string;
  passwordHash: string;
  roles: string[];
  /** Bumped when the password changes; tokens of an older generation are refused. */
  generation: number;
}

export type AuthChange =
  | { type: 'add-user'; name: string; passwordHash: string }
  | { type: 'delete-user'; name: string }
  | { type: 'set-password'; name: string; passwordHash: string }
  | { type: 'grant-role'; user: string; role: string }
  | { type: 'revoke-role'; user: string; role: string }
  | { type: 'put-role'; role: Role }
  | { type: 'delete-role'; name: string }
  /** `tokenKey`: 32 random bytes (base64) chosen by the proposing member. */
  | { type: 'enable'; tokenKey: string }
  | { type: 'disable' };

export type AuthChangeResult =
  | { ok: true }
  | {
      ok: false;
      code: 'user-exists' | 'user-not-found' | 'role-not-found' | 'auth-not-ready' | 'invalid-auth-change';
      message: string;
    };

export interface AuthSnapshot {
  enabled: boolean;
  tokenKey: string | null;
  users: User[];
  roles: Role[];
}

const fail = (code: Exclude<AuthChangeResult, { ok: true }>['code'], message: string): AuthChangeResult => ({
  ok: false,
  code,
  message,
});

export class AuthStore {
  #enabled = false;
  #tokenKey: Buffer | null = null;
  readonly #users = new Map<string, User>();
  readonly #roles = new Map<string, Role>();
  #revision = 0;

  /** Bumped by every apply and restore: an HTTP worker's copy is current while it holds the same number. */
  get revision(): number {
    return this.#revision;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** The token signing key (null until auth was first enabled). */
  get tokenKey(): Buffer | null {
    return this.#tokenKey;
  }

  user(name: string): User | undefined {
    return this.#users.get(name);
  }

  get roles(): ReadonlyMap<string, Role> {
    return this.#roles;
  }

  users(): User[] {
    return [...this.#users.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  roleList(): Role[] {
    return [...this.#roles.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Applies one change. Refusals change nothing and are the same on every member. */
  apply(c: AuthChange): AuthChangeResult {
    this.#revision++;
    const problem = authChangeProblem(c);
    if (problem) return fail('invalid-auth-change', problem);
    switch (c.type) {
      case 'add-user':
        if (this.#users.has(c.name)) return fail('user-exists', `user ${c.name} already exists`);
        this.#users.set(c.name, { name: c.name, passwordHash: c.passwordHash, roles: [], generation: 1 });
        return { ok: true };
      case 'delete-user':
        if (!this.#users.delete(c.name)) return fail('user-not-found', `no user ${c.name}`);
        return { ok: true };
      case 'set-password': {
        const u = this.#users.get(c.name);
        if (!u) return fail('user-not-found', `no user ${c.name}`);
        u.passwordHash = c.passwordHash;
        u.generation++;
        return { ok: true };
      }
      case 'grant-role': {
        const u = this.#users.get(c.user);
        if (!u) return fail('user-not-found', `no user ${c.user}`);
        if (c.role !== ROOT_ROLE && !this.#roles.has(c.role))
          return fail('role-not-found', `no role ${c.role}`);
        if (!u.roles.includes(c.role)) u.roles = [...u.roles, c.role].sort();
        return { ok: true };
      }
      case 'revoke-role': {
        const u = this.#users.get(c.user);
        if (!u) return fail('user-not-found', `no user ${c.user}`);
        if (this.#enabled && c.user === ROOT_USER && c.role === ROOT_ROLE) {
          return fail('auth-not-ready', 'root keeps the root role while auth is enabled');
        }
        u.roles = u.roles.filter((r) => r !== c.role);
        return { ok: true };
      }
      case 'put-role':
        this.#roles.set(c.role.name, {
          name: c.role.name,
          permissions: c.role.permissions.map((p) => ({ ...p })),
        });
        return { ok: true };
      case 'delete-role':
        if (!this.#roles.delete(c.name)) return fail('role-not-found', `no role ${c.name}`);
        for (const u of this.#users.values()) u.roles = u.roles.filter((r) => r !== c.name);
        return { ok: true };
      case 'enable': {
        const root = this.#users.get(ROOT_USER);
        if (!root || !root.roles.includes(ROOT_ROLE)) {
          return fail(
            'auth-not-ready',
            'auth can be enabled only once a user root with the role root exists',
          );
        }
        this.#enabled = true;
        this.#tokenKey ??= Buffer.from(c.tokenKey, 'base64');
        return { ok: true };
      }
      case 'disable':
        this.#enabled = false;
        return { ok: true };
    }
  }

  /** Deleting root while auth is on would lock everyone out. */
  wouldLockOut(c: AuthChange): boolean {
    return this.#enabled && c.type === 'delete-user' && c.name === ROOT_USER;
  }

  snapshot(): AuthSnapshot {
    return {
      enabled: this.#enabled,
      tokenKey: this.#tokenKey?.toString('base64') ?? null,
      users: this.users().map((u) => ({ ...u, roles: [...u.roles] })),
      roles: this.roleList().map((r) => ({
        name: r.name,
        permissions: r.permissions.map((p) => ({ ...p })),
      })),
    };
  }

  restore(s: AuthSnapshot): void {
    const problem = authSnapshotProblem(s);
    if (problem) throw new Error(`invalid auth snapshot: ${problem}`);
    this.#revision++;
    this.#enabled = s.enabled;
    this.#tokenKey = s.tokenKey === null ? null : Buffer.from(s.tokenKey, 'base64');
    this.#users.clear();
    this.#roles.clear();
    for (const u of s.users) this.#users.set(u.name, { ...u, roles: [...u.roles] });
    for (const r of s.roles)
      this.#roles.set(r.name, { name: r.name, permissions: r.permissions.map((p) => ({ ...p })) });
  }
}

const TOKEN_KEY = /^[A-Za-z0-9+/]{43}=$/;

/** Shape check of a change decoded from the log (or built from a request). */
export function authChangeProblem(c: unknown): string | null {
  if (typeof c !== 'object' || c === null) return 'not an object';
  const v = c as Record<string, unknown>;
  const name = (k: string): string | null =>
    typeof v[k] === 'string' && isValidAuthName(v[k]) ? null : `${k} must be a valid name`;
  switch (v.type) {
    case 'add-user':
    case 'set-password':
      return (
        name('name') ??
        (typeof v.passwordHash === 'string' && isPasswordHash(v.passwordHash) ? null : 'bad password hash')
      );
    case 'delete-user':
    case 'delete-role':
      return name('name');
    case 'grant-role':
    case 'revoke-role':
      return name('user') ?? name('role');
    case 'put-role':
      return roleProblem(v.role);
    case 'enable':
      return typeof v.tokenKey === 'string' && TOKEN_KEY.test(v.tokenKey)
        ? null
        : 'tokenKey must be 32 bytes of base64';
    case 'disable':
      return null;
    default:
      return `unknown auth change ${String(v.type)}`;
  }
}

/** Shape check of auth state read from a snapshot. */
export function authSnapshotProblem(s: unknown): string | null {
  if (typeof s !== 'object' || s === null) return 'not an object';
  const v = s as Record<string, unknown>;
  if (typeof v.enabled !== 'boolean') return 'enabled';
  if (v.tokenKey !== null && (typeof v.tokenKey !== 'string' || !TOKEN_KEY.test(v.tokenKey)))
    return 'tokenKey';
  if (!Array.isArray(v.users) || !Array.isArray(v.roles)) return 'users/roles';
  for (const u of v.users as unknown[]) {
    const x = u as Record<string, unknown>;
    if (
      typeof x !== 'object' ||
      x === null ||
      typeof x.name !== 'string' ||
      !isValidAuthName(x.name) ||
      typeof x.passwordHash !== 'string' ||
      !isPasswordHash(x.passwordHash) ||
      !Array.isArray(x.roles) ||
      !(x.roles as unknown[]).every((r) => typeof r === 'string') ||
      !Number.isSafeInteger(x.generation)
    ) {
      return 'user';
    }
  }
  for (const r of v.roles as unknown[]) if (roleProblem(r) !== null) return 'role';
  return null;
}
