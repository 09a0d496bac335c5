// Auth bootstrap and declared users and roles (issue 14, ADR 0069). planAuth() decides from what
// the cluster reports (pure, unit-tested); applyAuth() carries the actions out through the node API.
// Passwords travel only in requests to the members, never into logs, events or status.
import { createHash, randomBytes } from 'node:crypto';
import type { AuthRoleSpec, AuthUserSpec } from '../types.ts';
import type { AuthRole } from './nodeclient.ts';

export const ROOT = 'root';

export interface AuthView {
  enabled: boolean;
  users: { name: string; roles: string[] }[];
  roles: AuthRole[];
}

export interface DeclaredUser {
  name: string;
  roles: string[];
  /** undefined: its Secret or key is missing (the user is left as it is). */
  password: string | undefined;
  /** Whether `password` is known to be the one the cluster has (checked by a login, remembered). */
  passwordApplied: boolean;
}

export type AuthAction =
  | { kind: 'add-user'; user: string }
  | { kind: 'set-password'; user: string }
  | { kind: 'grant'; user: string; role: string }
  | { kind: 'revoke'; user: string; role: string }
  | { kind: 'put-role'; role: AuthRole }
  | { kind: 'enable' };

/**
 * The changes that bring the cluster to: root (password from its Secret, role root), auth enabled,
 * every declared role as declared, every declared user with its password and exactly its roles.
 * Roles come before the users that hold them; root is complete before auth is enabled.
 */
export function planAuth(
  view: AuthView,
  root: { passwordApplied: boolean },
  declaredRoles: AuthRoleSpec[],
  declaredUsers: DeclaredUser[],
): AuthAction[] {
  const out: AuthAction[] = [];
  const users = new Map(view.users.map((u) => [u.name, u]));
  const rootUser = users.get(ROOT);
  if (rootUser === undefined) out.push({ kind: 'add-user', user: ROOT });
  else if (!root.passwordApplied) out.push({ kind: 'set-password', user: ROOT });
  if (!(rootUser?.roles ?? []).includes(ROOT)) out.push({ kind: 'grant', user: ROOT, role: ROOT });
  if (!view.enabled) out.push({ kind: 'enable' });
  const roles = new Map(view.roles.map((r) => [r.name, r]));
  for (const r of declaredRoles) {
    const role: AuthRole = { name: r.name, permissions: r.permissions.map((p) => ({ ...p })) };
    if (!sameRole(roles.get(r.name), role)) out.push({ kind: 'put-role', role });
  }
  for (const u of declaredUsers) {
    if (u.password === undefined) continue;
    const have = users.get(u.name);
    if (have === undefined) out.push({ kind: 'add-user', user: u.name });
    else if (!u.passwordApplied) out.push({ kind: 'set-password', user: u.name });
    const held = have?.roles ?? [];
    for (const role of u.roles) if (!held.includes(role)) out.push({ kind: 'grant', user: u.name, role });
    for (const role of held) if (!u.roles.includes(role)) out.push({ kind: 'revoke', user: u.name, role });
  }
  return out;
}

function sameRole(a: AuthRole | undefined, b: AuthRole): boolean {
  if (a === undefined) return false;
  const key = (r: AuthRole) =>
    JSON.stringify(
      r.permissions.map((p) => [p.prefix, p.access]).sort((x, y) => (x.join() < y.join() ? -1 : 1)),
    );
  return key(a) === key(b);
}

/** A root password: 32 random bytes, URL-safe (no quoting needed in a shell or a header). */
export function generatePassword(): string {
  return randomBytes(32).toString('base64url');
}

/** What the operator remembers about a password it applied: a digest, never the password. */
export function passwordDigest(clusterUid: string, user: string, password: string): string {
  return createHash('sha256').update(`${clusterUid}\0${user}\0${password}`).digest('hex');
}

export function declaredUsers(
  users: AuthUserSpec[],
  passwordOf: (ref: AuthUserSpec['passwordSecretRef']) => string | undefined,
  applied: (user: string, password: string) => boolean,
): DeclaredUser[] {
  return users.map((u) => {
    const password = passwordOf(u.passwordSecretRef);
    return {
      name: u.name,
      roles: u.roles ?? [],
      password,
      passwordApplied: password !== undefined && applied(u.name, password),
    };
  });
}
