import type { TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { ConfigIssue } from './errors.js';
import { formatPath } from './errors.js';

// ajv-formats ships CJS with a default export; under NodeNext it arrives as the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** One ajv for config: all errors, defaults filled in, no type coercion (a string is not a port). */
export function createConfigAjv(): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    useDefaults: true,
    coerceTypes: false,
    strict: false,
    verbose: true,
  });
  addFormats(ajv);
  return ajv;
}

export function compileValidator(ajv: Ajv, schema: TSchema): ValidateFunction {
  return ajv.compile(schema);
}

function pointerToSegments(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j] as number;
      prev[j] = Math.min(
        (prev[j] as number) + 1,
        (prev[j - 1] as number) + 1,
        diag + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      diag = tmp;
    }
  }
  return prev[b.length] as number;
}

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const score = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export interface LocatedIssue extends ConfigIssue {
  /** Path segments, for locating the YAML node. */
  readonly segments: readonly (string | number)[];
  /** For unknown keys: the key itself (its node is the best location). */
  readonly key?: string | undefined;
}

function describe(schema: unknown): string | undefined {
  if (
    schema &&
    typeof schema === 'object' &&
    'description' in schema &&
    typeof schema.description === 'string'
  ) {
    return schema.description;
  }
  return undefined;
}

/** ajv errors → issues with a config path, a plain reason and a hint. Values are never echoed. */
export function issuesFromAjv(errors: readonly ErrorObject[]): LocatedIssue[] {
  // Unions report every branch. For a union of literals keep the one summary; for "settings | false"
  // keep the settings branch's own errors, which say what is wrong.
  const drop = new Set<ErrorObject>();
  for (const e of errors) {
    if (e.keyword !== 'anyOf') continue;
    const branches = Array.isArray(e.schema) ? (e.schema as unknown[]) : [];
    const allConst = branches.every((b) => b !== null && typeof b === 'object' && 'const' in b);
    const children = errors.filter((o) => o !== e && o.schemaPath.startsWith(`${e.schemaPath}/`));
    if (allConst) {
      for (const c of children) drop.add(c);
    } else {
      drop.add(e);
      for (const c of children) {
        const branch = Number(c.schemaPath.slice(e.schemaPath.length + 1).split('/')[0]);
        const b = branches[branch];
        if (b !== null && typeof b === 'object' && 'const' in b) drop.add(c);
      }
    }
  }
  const filtered = errors.filter((e) => !drop.has(e));
  const seen = new Set<string>();
  const out: LocatedIssue[] = [];
  for (const e of filtered) {
    const segments = pointerToSegments(e.instancePath);
    let reason: string;
    let hint: string | undefined;
    let key: string | undefined;
    let at = segments;
    switch (e.keyword) {
      case 'additionalProperties': {
        key = String(e.params.additionalProperty);
        at = [...segments, key];
        reason = `unknown key "${key}"`;
        const props = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
        const guess = closest(key, props);
        hint = guess
          ? `did you mean "${guess}"?`
          : props.length
            ? `allowed keys: ${props.join(', ')}`
            : undefined;
        break;
      }
      case 'required': {
        const missing = String(e.params.missingProperty);
        reason = `missing required key "${missing}"`;
        hint = describe(
          (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties?.[missing],
        );
        break;
      }
      case 'type':
        reason = `must be ${/^[aeiou]/.test(String(e.params.type)) ? 'an' : 'a'} ${e.params.type}`;
        hint = describe(e.parentSchema);
        break;
      case 'const':
        reason = `must be ${JSON.stringify(e.params.allowedValue)}`;
        hint = describe(e.parentSchema);
        break;
      case 'enum':
        reason = `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
        break;
      case 'anyOf': {
        const options = ((e.schema as unknown[]) ?? [])
          .map((s) => (s && typeof s === 'object' && 'const' in s ? JSON.stringify(s.const) : undefined))
          .filter((s): s is string => s !== undefined);
        reason = options.length ? `must be one of ${options.join(', ')}` : 'does not match any allowed shape';
        hint = describe(e.parentSchema);
        break;
      }
      case 'pattern':
      case 'format':
        reason = 'has an invalid format';
        hint = describe(e.parentSchema);
        break;
      default:
        reason = e.message ?? 'is invalid';
        hint = describe(e.parentSchema);
    }
    const path = formatPath(at) || '(root)';
    const dedupe = `${path}|${reason}`;
    if (seen.has(dedupe)) continue;
    seen.add(dedupe);
    out.push({ path, reason, hint, segments, key });
  }
  return out;
}
