import { Type } from '@sinclair/typebox';
import { hasRequestBody, readBody } from '../../../core/body.js';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/plugin.js';
import { unsafePattern } from '../../../core/safe-pattern.js';
import { compact, htmlDecode, percentDecode } from '../../../detect/decode.js';
import { DEFAULT_SKIP_HEADERS, extractInputs, requestOf } from '../../../detect/inputs.js';
import type { Input } from '../../../detect/types.js';
import { TrustedProxies } from '../../../server/trust.js';

const OPERATORS = [
  'equals',
  'contains',
  'prefix',
  'suffix',
  'pattern',
  'cidr',
  'length-gt',
  'length-lt',
  'exists',
] as const;
const TRANSFORMS = ['lowercase', 'url-decode', 'html-decode', 'compact', 'normalize', 'trim'] as const;
const PATCH_LOCATIONS = [
  'any',
  'path',
  'query',
  'query-name',
  'header',
  'cookie',
  'body',
  'json',
  'client-ip',
  'method',
] as const;

const PatchSchema = Type.Object(
  {
    id: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
      description: 'Stable id, shown in the 403 and the log.',
    }),
    reason: Type.String({
      minLength: 1,
      description: 'Why the patch exists (the weakness it shields, the ticket).',
    }),
    expires: Type.String({
      pattern: '^\\d{4}-\\d{2}-\\d{2}$',
      description:
        'Last day (UTC) the patch applies (YYYY-MM-DD). After it the patch is off and start-up warns: a virtual patch is a bridge to a real fix, not a home.',
    }),
    methods: Type.Array(Type.String({ pattern: '^[A-Z]+$' }), {
      description: 'Only these methods; every method if empty.',
      default: [],
    }),
    path: Type.String({
      description:
        'Only this gateway path ("/orders/search") or prefix ending in "*" ("/admin/*"); every path if empty.',
      default: '',
    }),
    location: Type.Union(
      PATCH_LOCATIONS.map((l) => Type.Literal(l)),
      {
        description:
          'Where the value is read: a request part (query, header, cookie, body form field, JSON string leaf, path segment), the client IP (cidr), the method, or any inspected value.',
        default: 'any',
      },
    ),
    name: Type.String({
      description:
        'Only the value with this name (parameter, header, cookie, JSON path like "$.user.role"); all if empty.',
      default: '',
    }),
    operator: Type.Union(
      OPERATORS.map((o) => Type.Literal(o)),
      {
        description:
          'equals / contains / prefix / suffix (text), pattern (a linear-safe regular expression: no back-references, no quantified groups, at most one unbounded quantifier), cidr (client IP in a range), length-gt / length-lt (characters), exists (the named value is present).',
      },
    ),
    value: Type.String({ description: 'The operand: text, pattern, CIDR, or a length.', default: '' }),
    negate: Type.Boolean({
      description: 'Match when the operator does NOT hold (an allow-list patch).',
      default: false,
    }),
    transforms: Type.Array(Type.Union(TRANSFORMS.map((t) => Type.Literal(t))), {
      description: 'Applied to the value first, in order.',
      default: [],
    }),
    action: Type.Union([Type.Literal('block'), Type.Literal('log')], {
      description: 'block: 403 VIRTUAL_PATCH; log: record the match and let the request pass.',
      default: 'block',
    }),
  },
  { additionalProperties: false },
);

export const virtualPatchSchema = Type.Object(
  {
    patches: Type.Array(PatchSchema, {
      description:
        'Declarative rules that shield a known weakness until the upstream is fixed. Applied on reload, without restart.',
      default: [],
    }),
  },
  { additionalProperties: false },
);

type PatchConfig = (typeof virtualPatchSchema)['static']['patches'][number];

interface Compiled {
  readonly id: string;
  readonly block: boolean;
  readonly expiresAt: number;
  readonly methods: ReadonlySet<string>;
  readonly path: (path: string) => boolean;
  readonly location: PatchConfig['location'];
  readonly name: string;
  readonly negate: boolean;
  readonly transform: (v: string) => string;
  readonly test: (v: string) => boolean;
}

function pathMatcher(path: string): (p: string) => boolean {
  if (path === '') return () => true;
  if (path.endsWith('*')) {
    const prefix = path.slice(0, -1);
    return (p) => p.startsWith(prefix);
  }
  return (p) => p === path;
}

const TRANSFORM_FNS: Record<(typeof TRANSFORMS)[number], (v: string) => string> = {
  lowercase: (v) => v.toLowerCase(),
  'url-decode': percentDecode,
  'html-decode': htmlDecode,
  compact,
  normalize: (v) => v.normalize('NFKC'),
  trim: (v) => v.trim(),
};

function compile(p: PatchConfig, at: string): Compiled {
  const transforms = p.transforms.map((t) => TRANSFORM_FNS[t]);
  const transform = (v: string): string => transforms.reduce((acc, f) => f(acc), v);
  let test: (v: string) => boolean;
  switch (p.operator) {
    case 'equals':
      test = (v) => v === p.value;
      break;
    case 'contains':
      test = (v) => v.includes(p.value);
      break;
    case 'prefix':
      test = (v) => v.startsWith(p.value);
      break;
    case 'suffix':
      test = (v) => v.endsWith(p.value);
      break;
    case 'pattern': {
      const why = unsafePattern(p.value);
      if (why !== undefined) throw new Error(`${at}: the pattern ${why}`);
      const re = new RegExp(p.value);
      test = (v) => re.test(v);
      break;
    }
    case 'cidr': {
      if (p.location !== 'client-ip') throw new Error(`${at}: operator cidr needs location client-ip`);
      const list = new TrustedProxies(p.value.split(',').map((s) => s.trim()));
      test = (v) => list.has(v);
      break;
    }
    case 'length-gt':
    case 'length-lt': {
      const n = Number(p.value);
      if (!Number.isInteger(n) || n < 0)
        throw new Error(`${at}: ${p.operator} needs a whole number as value`);
      test = p.operator === 'length-gt' ? (v) => v.length > n : (v) => v.length < n;
      break;
    }
    case 'exists':
      test = () => true;
      break;
  }
  const expiresAt = Date.parse(`${p.expires}T23:59:59.999Z`);
  if (Number.isNaN(expiresAt)) throw new Error(`${at}: expires is not a date`);
  return {
    id: p.id,
    block: p.action === 'block',
    expiresAt,
    methods: new Set(p.methods),
    path: pathMatcher(p.path),
    location: p.location,
    name: p.name,
    negate: p.negate,
    transform,
    test,
  };
}

const PATCH_INPUTS = {
  skipHeaders: new Set(DEFAULT_SKIP_HEADERS),
  maxInputs: 4096,
  maxValueBytes: Number.POSITIVE_INFINITY,
};

/** The values a patch reads, by its location (inputs extracted once per request, only when needed). */
function valuesFor(patch: Compiled, ctx: RequestContext, inputs: () => readonly Input[]): string[] {
  switch (patch.location) {
    case 'client-ip':
      return [ctx.clientIp];
    case 'method':
      return [ctx.method];
    default: {
      const out: string[] = [];
      for (const i of inputs()) {
        if (patch.location !== 'any' && i.location !== patch.location) continue;
        if (patch.name !== '' && i.name !== patch.name) continue;
        out.push(i.value);
      }
      return out;
    }
  }
}

export default definePlugin({
  name: 'virtual-patch',
  phase: 'validate',
  priority: 600,
  description:
    'Declarative virtual patches (route, method, location, operator, transforms) with an id, a reason and an expiry date: a known weakness of the upstream shielded in seconds, by reload.',
  schema: virtualPatchSchema,
  enabledByDefault: false,
  enforcing: true,
  optional: true,
  create(config, { deps, configPath }) {
    const now = Date.now();
    const all = config.patches.map((p, i) => compile(p, `${configPath}.patches[${i}] (${p.id})`));
    const ids = new Set<string>();
    for (const p of all) {
      if (ids.has(p.id)) throw new Error(`virtual patch id "${p.id}" is used twice`);
      ids.add(p.id);
      if (p.expiresAt < now)
        deps.logger.warn(
          { patch: p.id },
          'virtual patch expired: it no longer applies; fix the upstream and remove it',
        );
    }
    const patches = all.filter((p) => p.expiresAt >= now);
    const needsBody = patches.some(
      (p) => p.location === 'any' || p.location === 'body' || p.location === 'json',
    );
    const logger = deps.logger;
    return {
      summary: `${patches.length} active patch(es)`,
      onRequest: async function applyPatches(ctx: RequestContext): Promise<void> {
        if (patches.length === 0) return;
        const t = Date.now();
        const body =
          needsBody && ctx.parsedBody === undefined && hasRequestBody(ctx) ? await readBody(ctx) : undefined;
        let cache: readonly Input[] | undefined;
        const inputs = (): readonly Input[] => {
          if (cache === undefined) {
            // Every value, whole: a patch must not be slipped past by padding a request with values
            // or a value with bytes (the body is already held to request-guard.maxBodyBytes).
            const read = extractInputs(requestOf(ctx, body), PATCH_INPUTS);
            if (read.dropped > 0)
              throw new GatewayError('BAD_REQUEST', {
                detail: 'The request carries too many values to check.',
              });
            cache = read.inputs;
          }
          return cache;
        };
        for (const p of patches) {
          // A patch that expires while the plan runs stops applying on time.
          if (p.expiresAt < t) continue;
          if (p.methods.size > 0 && !p.methods.has(ctx.method)) continue;
          if (!p.path(ctx.path)) continue;
          const values = valuesFor(p, ctx, inputs);
          const hit = values.some((v) => p.test(p.transform(v)) !== p.negate);
          if (!hit) continue;
          logger.warn(
            { reqId: ctx.id, patch: p.id, action: p.block ? 'block' : 'log' },
            'virtual patch matched',
          );
          if (p.block) throw new GatewayError('VIRTUAL_PATCH', { detail: `Patch ${p.id}.` });
        }
      },
    };
  },
});
