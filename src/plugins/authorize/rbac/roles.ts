/**
 * Roles → permission sets, compiled once per plugin instance.
 *
 * A permission is one or more segments separated by ":" ("orders:read", "billing:invoices:void").
 * A role may grant a permission exactly, or by wildcard: "orders:*" grants every permission whose
 * first segment is "orders" (any depth: "orders:read", "orders:items:delete", but not "orders"
 * itself), "*" grants every permission. A required permission is always literal. Matching is exact
 * and case-sensitive: no trimming, no case folding, no other patterns.
 *
 * Checking is set lookups only: a granted set holds the role's strings as written (wildcards
 * included), and each required permission is precompiled into the few strings that would grant it
 * ("billing:invoices:void" ← "*", "billing:*", "billing:invoices:*", "billing:invoices:void").
 */

export interface RoleDefinition {
  readonly permissions: readonly string[];
  readonly inherits: readonly string[];
}

/** A granted permission as written in a role: segments, optionally ending in ":*", or "*" alone. */
export const GRANTED_PERMISSION = '^(\\*|[^:*\\s]+(:[^:*\\s]+)*(:\\*)?)$';
/** A required permission: literal segments, no wildcard. */
export const REQUIRED_PERMISSION = '^[^:*\\s]+(:[^:*\\s]+)*$';
/** Role names: visible characters, no separators ("," and whitespace), so a join is unambiguous. */
export const ROLE_NAME = '^[^\\s,]+$';

/** The strings any of which grants `permission` (it must be literal). */
export function grantingStrings(permission: string): string[] {
  const segments = permission.split(':');
  const out = ['*'];
  for (let i = 1; i < segments.length; i++) out.push(`${segments.slice(0, i).join(':')}:*`);
  out.push(permission);
  return out;
}

/**
 * Resolves inheritance: every role's own permissions plus those of every role it inherits,
 * transitively. Throws (naming the role and the path) on an unknown inherited role or a cycle.
 */
export function resolveRoles(
  roles: Readonly<Record<string, RoleDefinition>>,
): ReadonlyMap<string, ReadonlySet<string>> {
  const resolved = new Map<string, ReadonlySet<string>>();
  const visiting: string[] = [];

  function visit(name: string): ReadonlySet<string> {
    const done = resolved.get(name);
    if (done !== undefined) return done;
    const at = visiting.indexOf(name);
    if (at !== -1) {
      const cycle = [...visiting.slice(at), name].join(' → ');
      throw new Error(
        `roles.${visiting.at(-1)}.inherits: role inheritance has a cycle (${cycle}); a role cannot inherit itself, directly or through others`,
      );
    }
    const def = roles[name] as RoleDefinition;
    visiting.push(name);
    const set = new Set<string>(def.permissions);
    def.inherits.forEach((parent, i) => {
      if (!Object.hasOwn(roles, parent))
        throw new Error(
          `roles.${name}.inherits[${i}]: unknown role "${parent}"; declared roles: ${Object.keys(roles).join(', ') || '(none)'}`,
        );
      for (const p of visit(parent)) set.add(p);
    });
    visiting.pop();
    const frozen = Object.freeze(set);
    resolved.set(name, frozen);
    return frozen;
  }

  for (const name of Object.keys(roles)) visit(name);
  return resolved;
}
