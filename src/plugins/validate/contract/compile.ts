import type { ValidateFunction } from 'ajv';
import type { PluginDeps } from '../../../core/plugin.js';
import { type LoadedSpec, loadSpec } from '../../../openapi/load.js';
import { type OperationSpec, operationsOf } from '../../../openapi/operations.js';
import { type DefaultLimits, SchemaCompiler } from '../../../openapi/schemas.js';

export type BodyKind = 'json' | 'form' | 'other';

export interface CompiledMedia {
  readonly kind: BodyKind;
  readonly validate: ValidateFunction | undefined;
  /** A wildcard request media type ("*\/*", "application/*"): validators for what may arrive. */
  readonly wildcard?: { readonly json: ValidateFunction; readonly form: ValidateFunction };
  /** The description's schema, for stripping undeclared properties from answers. */
  readonly schema: unknown;
}

export interface CompiledOperation {
  readonly spec: OperationSpec;
  /** Validates {path, query, header, cookie}; undefined when the operation declares no parameter. */
  readonly params: ValidateFunction | undefined;
  readonly body: ReadonlyMap<string, CompiledMedia> | undefined;
  readonly responses: ReadonlyMap<string, ReadonlyMap<string, CompiledMedia>>;
}

export interface CompiledContract {
  readonly spec: LoadedSpec;
  readonly compiler: SchemaCompiler;
  readonly operations: readonly CompiledOperation[];
  /** What is read with a caveat or not enforced, said once at start-up. */
  readonly warnings: readonly string[];
}

export interface ContractOptions {
  readonly strict: boolean;
  readonly limits: DefaultLimits;
  readonly validateResponses: boolean;
}

export function mediaKind(media: string): BodyKind {
  if (media === 'application/json' || media.endsWith('+json')) return 'json';
  if (media === 'application/x-www-form-urlencoded') return 'form';
  return 'other';
}

/** Content-Type → lower-case media type without parameters; '' when absent or unreadable. */
export function mediaTypeOf(header: string | undefined): string {
  if (header === undefined) return '';
  const semi = header.indexOf(';');
  return (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
}

/** The declared entry for a media type: exact, then "type/*", then "*\/*". */
export function matchMedia<T>(map: ReadonlyMap<string, T>, media: string): T | undefined {
  const exact = map.get(media);
  if (exact !== undefined) return exact;
  const slash = media.indexOf('/');
  return map.get(`${media.slice(0, slash)}/*`) ?? map.get('*/*');
}

/** The declared response for a status: exact code, then its range ("2XX"), then "default". */
export function declaredResponse<T>(map: ReadonlyMap<string, T>, status: number): T | undefined {
  return map.get(String(status)) ?? map.get(`${Math.floor(status / 100)}XX`) ?? map.get('DEFAULT');
}

function compileOperation(
  op: OperationSpec,
  compiler: SchemaCompiler,
  options: ContractOptions,
  unchecked: Set<string>,
): CompiledOperation {
  const where = `${op.method} ${op.path}`;
  let params: ValidateFunction | undefined;
  if (op.params.length > 0) {
    const locations: Record<string, { properties: Record<string, unknown>; required: string[] }> = {};
    for (const p of op.params) {
      const loc = locations[p.in] ?? { properties: {}, required: [] };
      locations[p.in] = loc;
      loc.properties[p.name] = p.schema;
      if (p.required) loc.required.push(p.name);
    }
    const properties: Record<string, unknown> = {};
    for (const name of ['path', 'query', 'header', 'cookie']) {
      const loc = locations[name] ?? { properties: {}, required: [] };
      // Open on purpose: undeclared query names are judged by readParams (strict mode); requests
      // always carry headers and cookies the description does not list.
      const s: Record<string, unknown> = {
        type: 'object',
        properties: loc.properties,
        additionalProperties: true,
      };
      if (loc.required.length) s.required = loc.required;
      properties[name] = s;
    }
    params = compiler.compileObject(properties, [], true, 'params', `${where} parameters`);
  }
  let body: Map<string, CompiledMedia> | undefined;
  if (op.body !== undefined) {
    body = new Map();
    for (const [media, schema] of op.body.content) {
      const kind = mediaKind(media);
      if (kind === 'other' && schema !== undefined) unchecked.add(media);
      const validate =
        schema === undefined || kind === 'other'
          ? undefined
          : compiler.compile(
              schema,
              kind === 'form' ? 'params' : 'request',
              `${where} request body ${media}`,
            );
      const wildcard =
        media.includes('*') && schema !== undefined
          ? {
              json: compiler.compile(schema, 'request', `${where} request body ${media}`),
              form: compiler.compile(schema, 'params', `${where} request body ${media}`),
            }
          : undefined;
      body.set(media, { kind, validate, schema, ...(wildcard ? { wildcard } : {}) });
    }
  }
  const responses = new Map<string, Map<string, CompiledMedia>>();
  for (const [status, content] of op.responses) {
    const media = new Map<string, CompiledMedia>();
    for (const [m, schema] of content) {
      const kind = mediaKind(m);
      const validate =
        options.validateResponses && schema !== undefined && kind === 'json'
          ? compiler.compile(schema, 'response', `${where} response ${status} ${m}`)
          : undefined;
      media.set(m, { kind, validate, schema });
    }
    responses.set(status, media);
  }
  return { spec: op, params, body, responses };
}

const cache = new WeakMap<PluginDeps, Map<string, Promise<CompiledContract>>>();

/**
 * Loads and compiles a description once per plan, however many routes use it: every route's
 * contract stage shares the validators (and ajv compiles each shared $ref target once).
 */
export function compiledContract(
  deps: PluginDeps,
  file: string,
  options: ContractOptions,
): Promise<CompiledContract> {
  let perPlan = cache.get(deps);
  if (perPlan === undefined) {
    perPlan = new Map();
    cache.set(deps, perPlan);
  }
  const key = JSON.stringify([file, options]);
  let compiled = perPlan.get(key);
  if (compiled === undefined) {
    compiled = buildContract(file, options).then((c) => {
      for (const w of c.warnings) deps.logger.warn({ spec: c.spec.file }, `OpenAPI: ${w}`);
      return c;
    });
    perPlan.set(key, compiled);
  }
  return compiled;
}

/** Loads a description and compiles every operation's validators (no cache). */
export async function buildContract(file: string, options: ContractOptions): Promise<CompiledContract> {
  const spec = await loadSpec(file);
  const warnings = [...spec.warnings];
  const compiler = new SchemaCompiler(spec.doc, {
    version: spec.version,
    strict: options.strict,
    limits: options.limits,
  });
  const unchecked = new Set<string>();
  const operations = operationsOf(spec, warnings).map((op) =>
    compileOperation(op, compiler, options, unchecked),
  );
  warnings.push(...new Set(compiler.warnings));
  for (const media of unchecked)
    warnings.push(`request bodies in ${media} are checked for their media type only, not their content`);
  return { spec, compiler, operations, warnings };
}
