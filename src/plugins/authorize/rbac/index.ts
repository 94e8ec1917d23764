import { type Static, Type } from '@sinclair/typebox';
import { HTTP_METHODS } from '../../../config/schema.js';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/plugin.js';
import { createAudit } from '../../../observability/audit.js';
import {
  GRANTED_PERMISSION,
  grantingStrings,
  REQUIRED_PERMISSION,
  ROLE_NAME,
  resolveRoles,
} from './roles.js';

const METHOD_KEY = `^(${HTTP_METHODS.join('|')})$`;

const RoleSchema = Type.Object(
  {
    permissions: Type.Array(Type.String({ pattern: GRANTED_PERMISSION }), {
      description:
        'Permissions this role grants: "orders:read" (exact), "orders:*" (every permission under "orders:", at any depth), or "*" (every permission). Case-sensitive.',
      default: [],
    }),
    inherits: Type.Array(Type.String({ pattern: ROLE_NAME }), {
      description:
        'Roles whose permissions this role also has (transitively). Unknown roles and cycles are start-up errors.',
      default: [],
    }),
  },
  { additionalProperties: false },
);

const requirementProperties = {
  permissions: Type.Array(Type.String({ pattern: REQUIRED_PERMISSION }), {
    description:
      'Permissions the caller\'s roles must grant (literal, e.g. "orders:write"; no wildcards here).',
    default: [],
  }),
  scopes: Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$' }), {
    description:
      "OAuth scopes the caller's token must carry (principal.scopes), compared exactly (RFC 6749 scope-token).",
    default: [],
  }),
  match: Type.Union([Type.Literal('all'), Type.Literal('any')], {
    description:
      'all: every listed permission and every listed scope is needed. any: one of the permissions and one of the scopes is enough. Each non-empty list must be satisfied either way: a scope never stands in for a permission or the reverse.',
    default: 'all',
  }),
  anyAuthenticated: Type.Boolean({
    description:
      'Let every authenticated (non-anonymous) caller in without a permission or scope. An empty requirement is a start-up error unless this is set, so an open method is always said in so many words.',
    default: false,
  }),
};

/** A requirement: one shape for the route's `require` and each `methods` entry. */
function requirementSchema(description: string) {
  return Type.Object(requirementProperties, { additionalProperties: false, default: {}, description });
}

export const RequirementSchema = requirementSchema('What a caller needs for one method.');
export type Requirement = Static<typeof RequirementSchema>;

export const rbacSchema = Type.Object(
  {
    roles: Type.Record(Type.String({ pattern: ROLE_NAME }), RoleSchema, {
      additionalProperties: false,
      description:
        'Role name → the permissions it grants and the roles it inherits. Usually set once under plugins.rbac.roles; a principal\'s roles come from its authenticator (e.g. the JWT "roles" claim). Roles not declared here grant nothing.',
      default: {},
    }),
    require: requirementSchema(
      'What a caller needs for every method of the route that has no entry in "methods": permissions and/or scopes, or anyAuthenticated. An empty requirement is a start-up error.',
    ),
    methods: Type.Record(
      Type.String({ pattern: METHOD_KEY }),
      requirementSchema('The requirement for this method.'),
      {
        additionalProperties: false,
        description:
          'Per HTTP method, a requirement that replaces "require" as a whole for that method (e.g. GET: orders:read, POST: orders:write). HEAD uses GET\'s entry when it has none. Entries for methods the route does not serve are ignored.',
        default: {},
      },
    ),
    onDeny: Type.Union([Type.Literal('forbidden'), Type.Literal('not-found')], {
      description:
        'forbidden: a refusal answers 403 FORBIDDEN. not-found: it answers 404 NOT_FOUND, hiding that the operation exists.',
      default: 'forbidden',
    }),
    auditAllowSampleRate: Type.Number({
      minimum: 0,
      maximum: 1,
      description: 'Share of allow decisions written as audit events (every deny is written).',
      default: 0.01,
    }),
  },
  { additionalProperties: false },
);

export type RbacSettings = Static<typeof rbacSchema>;

/** The requirement that applies to `method` on a route: methods[M], HEAD → methods.GET, else require. */
export function requirementFor(
  settings: Pick<RbacSettings, 'require' | 'methods'>,
  method: string,
): { requirement: Requirement; path: string } {
  const own = settings.methods[method];
  if (own !== undefined) return { requirement: own, path: `methods.${method}` };
  const get = method === 'HEAD' ? settings.methods.GET : undefined;
  if (get !== undefined) return { requirement: get, path: 'methods.GET' };
  return { requirement: settings.require, path: 'require' };
}

interface CompiledRequirement {
  /** Per required permission, the granted strings any of which satisfies it. */
  readonly permissions: readonly (readonly string[])[];
  readonly permissionNames: readonly string[];
  readonly scopes: readonly string[];
  readonly all: boolean;
  readonly anyAuthenticated: boolean;
  /** Where it was configured ("require", "methods.POST"), for the audit reason. */
  readonly source: string;
}

/** Caps the grant cache: one entry per distinct combination of declared roles seen. */
const GRANT_CACHE_SIZE = 1024;
const NO_GRANTS: ReadonlySet<string> = new Set();

export default definePlugin({
  name: 'rbac',
  phase: 'authorize',
  priority: 300,
  description:
    'Role-based access control: roles with permissions and inheritance; a route requires permissions or OAuth scopes (any-of or all-of), per route or per HTTP method.',
  schema: rbacSchema,
  enabledByDefault: false,
  enforcing: true,
  optional: true,
  // Roles are defined once under plugins.rbac; only routes that say what they require use them.
  routeScoped: true,
  create(config, { deps, route }) {
    const resolved = resolveRoles(config.roles);
    const monitor = config.mode === 'monitor';
    const audit = createAudit(deps.logger, { allowSampleRate: config.auditAllowSampleRate });
    const denyCode = config.onDeny === 'not-found' ? 'NOT_FOUND' : 'FORBIDDEN';

    // One compiled requirement per method the route serves (GET routes also answer HEAD).
    const served = new Set<string>(route?.methods ?? HTTP_METHODS);
    if (served.has('GET')) served.add('HEAD');
    const byMethod = new Map<string, CompiledRequirement>();
    for (const method of served) {
      const { requirement: r, path } = requirementFor(config, method);
      const empty = r.permissions.length === 0 && r.scopes.length === 0;
      if (empty && !r.anyAuthenticated)
        throw new Error(
          `${path}: the route serves ${method} but rbac requires nothing for it; set ${path}.permissions or ${path}.scopes${path === 'require' ? ` (or methods.${method})` : ''}, or ${path}.anyAuthenticated: true to let every authenticated caller in`,
        );
      if (!empty && r.anyAuthenticated)
        throw new Error(
          `${path}: anyAuthenticated: true cannot be combined with permissions or scopes; keep one or the other`,
        );
      byMethod.set(method, {
        permissions: r.permissions.map(grantingStrings),
        permissionNames: r.permissions,
        scopes: r.scopes,
        all: r.match === 'all',
        anyAuthenticated: r.anyAuthenticated,
        source: path,
      });
    }

    const grantCache = new Map<string, ReadonlySet<string>>();
    /** The union of the permissions of the declared roles among `roles`. */
    function grantsOf(roles: readonly string[]): ReadonlySet<string> {
      // Declared role names hold no ",": the key is unambiguous and bounded by the declared roles.
      let key = '';
      for (let i = 0; i < roles.length; i++) {
        const r = roles[i] as string;
        if (resolved.has(r)) key = key === '' ? r : `${key},${r}`;
      }
      if (key === '') return NO_GRANTS;
      let grants = grantCache.get(key);
      if (grants !== undefined) return grants;
      const union = new Set<string>();
      for (const r of key.split(',')) for (const p of resolved.get(r) as ReadonlySet<string>) union.add(p);
      grants = union;
      if (grantCache.size >= GRANT_CACHE_SIZE) grantCache.delete(grantCache.keys().next().value as string);
      grantCache.set(key, grants);
      return grants;
    }

    function permitted(grants: ReadonlySet<string>, granting: readonly string[]): boolean {
      for (let i = 0; i < granting.length; i++) if (grants.has(granting[i] as string)) return true;
      return false;
    }

    /** undefined: allowed; otherwise the rule that refused and an operator-facing reason. */
    function decide(
      ctx: RequestContext,
      req: CompiledRequirement,
    ): [rule: string, reason: string] | undefined {
      const p = ctx.principal;
      if (p === undefined || p.kind === 'anonymous') {
        const rule = req.anyAuthenticated
          ? 'require.anyAuthenticated'
          : req.permissions.length > 0
            ? 'require.permissions'
            : 'require.scopes';
        return [rule, 'anonymous caller'];
      }
      if (req.anyAuthenticated) return undefined;
      if (req.permissions.length > 0) {
        if (!Array.isArray(p.roles)) throw new TypeError('principal.roles is not an array');
        const grants = grantsOf(p.roles);
        let ok = req.all;
        for (let i = 0; i < req.permissions.length; i++) {
          const has = permitted(grants, req.permissions[i] as readonly string[]);
          if (req.all && !has) {
            ok = false;
            break;
          }
          if (!req.all && has) {
            ok = true;
            break;
          }
        }
        if (!ok)
          return [
            'require.permissions',
            `${req.source} needs ${req.all ? 'all' : 'one'} of permissions ${req.permissionNames.join(' ')}`,
          ];
      }
      if (req.scopes.length > 0) {
        if (!Array.isArray(p.scopes)) throw new TypeError('principal.scopes is not an array');
        const ok = req.all
          ? req.scopes.every((s) => p.scopes.includes(s))
          : req.scopes.some((s) => p.scopes.includes(s));
        if (!ok)
          return [
            'require.scopes',
            `${req.source} needs ${req.all ? 'all' : 'one'} of scopes ${req.scopes.join(' ')}`,
          ];
      }
      return undefined;
    }

    function deny(ctx: RequestContext, rule: string, reason: string): never {
      ctx.deniedBy = `rbac:${rule}`;
      audit(ctx, { plugin: 'rbac', rule, effect: 'deny', monitor, reason });
      throw new GatewayError(denyCode);
    }

    return {
      onRequest: function checkRoles(ctx: RequestContext): void {
        const req = byMethod.get(ctx.method);
        // A method the route does not serve (a CORS preflight no stage answered): nothing to allow.
        if (req === undefined) deny(ctx, 'require.method', `no requirement for method ${ctx.method}`);
        let refused: [string, string] | undefined;
        try {
          refused = decide(ctx, req);
        } catch (err) {
          // An evaluation error denies (fail closed) and is logged; no request data in the log line.
          deps.logger.error({ reqId: ctx.id, plugin: 'rbac', err }, 'rbac evaluation failed; request denied');
          deny(ctx, 'error', `evaluation failed: ${(err as Error).message}`);
        }
        if (refused !== undefined) deny(ctx, refused[0], refused[1]);
        audit(ctx, {
          plugin: 'rbac',
          rule: req.anyAuthenticated ? 'require.anyAuthenticated' : req.source,
          effect: 'allow',
          monitor,
        });
      },
    };
  },
});
