// Authorization: roles grant read or read-write access to key prefixes; a user holds roles.
// Pure functions over the replicated auth state, so every member decides the same way.

export type Access = 'read' | 'readwrite';

export interface Permission {
  /** Keys starting with this prefix ("" is every key). */
  prefix: string;
  access: Access;
}

export interface Role {
  name: string;
  permissions: Permission[];
}

/** The built-in role that may do everything, administration included. */
export const ROOT_ROLE = 'root';
export const ROOT_USER = 'root';

export type KeyRequest =
  | { kind: 'read' | 'write'; key: string }
  /** A range: list (`recurse`, `keys`), a recursive delete or a recursive watch. */
  | { kind: 'read' | 'write'; prefix: string };

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function isValidAuthName(name: string): boolean {
  return NAME.test(name);
}

function grants(p: Permission, kind: 'read' | 'write'): boolean {
  return kind === 'read' || p.access === 'readwrite';
}

/** Whether the roles named `roleNames` (looked up in `roles`) allow `req`. */
export function allows(
  roleNames: readonly string[],
  roles: ReadonlyMap<string, Role>,
  req: KeyRequest,
): boolean {
  if (roleNames.includes(ROOT_ROLE)) return true;
  // A range needs one permission covering all of it: a narrower grant inside the range is not enough.
  const target = 'key' in req ? req.key : req.prefix;
  for (const name of roleNames) {
    const role = roles.get(name);
    if (!role) continue;
    for (const p of role.permissions) {
      if (target.startsWith(p.prefix) && grants(p, req.kind)) return true;
    }
  }
  return false;
}

export function isAdmin(roleNames: readonly string[]): boolean {
  return roleNames.includes(ROOT_ROLE);
}

/** Validates a role definition from a client; returns an error message or null. */
export function roleProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null) return 'a role is an object {name, permissions}';
  const r = v as Record<string, unknown>;
  if (typeof r.name !== 'string' || !isValidAuthName(r.name)) {
    return 'role name must be 1-64 characters of letters, digits, ".", "_", "@" or "-"';
  }
  if (r.name === ROOT_ROLE) return 'the root role is built in';
  if (!Array.isArray(r.permissions) || r.permissions.length > 256)
    return 'permissions must be an array of at most 256';
  for (const p of r.permissions as unknown[]) {
    if (typeof p !== 'object' || p === null) return 'each permission is {prefix, access}';
    const q = p as Record<string, unknown>;
    if (typeof q.prefix !== 'string' || Buffer.byteLength(q.prefix) > 4096)
      return 'prefix must be a string of at most 4 KiB';
    if (q.access !== 'read' && q.access !== 'readwrite') return 'access must be "read" or "readwrite"';
    if (Object.keys(q).some((k) => k !== 'prefix' && k !== 'access'))
      return 'a permission has only prefix and access';
  }
  return null;
}
