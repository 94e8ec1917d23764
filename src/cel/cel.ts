import { Environment } from '@marcbachmann/cel-js';
import type { RequestContext } from '../core/context.js';
import { ANONYMOUS, type Principal } from '../core/principal.js';
import { unsafePattern } from '../core/safe-pattern.js';

/**
 * The CEL side of the policy plugin: one environment with typed variables (so `principal.subjct`
 * or `principal.roles + 1` is refused when the config is compiled), the views the expressions
 * read, and the compile-time checks on what an expression may do.
 */

type StringMap = Record<string, string>;

function nullMap(): StringMap {
  return Object.create(null) as StringMap;
}

/** `principal` as expressions see it: absent optional fields read as "" so comparisons simply fail. */
export class PrincipalView {
  readonly id: string;
  readonly kind: string;
  readonly subject: string;
  readonly consumer: string;
  readonly tenant: string;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  readonly claims: Readonly<Record<string, unknown>>;
  readonly method: string;
  constructor(p: Principal) {
    this.id = p.id;
    this.kind = p.kind;
    this.subject = p.subject;
    this.consumer = p.consumer ?? '';
    this.tenant = p.tenant ?? '';
    this.roles = p.roles;
    this.scopes = p.scopes;
    this.claims = p.claims;
    this.method = p.method;
  }
}

/** Principals are frozen and often cached by their authenticator: one view each, kept weakly. */
const principalViews = new WeakMap<Principal, PrincipalView>();

export function principalView(p: Principal | undefined): PrincipalView {
  const principal = p ?? ANONYMOUS;
  let view = principalViews.get(principal);
  if (view === undefined) {
    view = new PrincipalView(principal);
    principalViews.set(principal, view);
  }
  return view;
}

/**
 * Request headers never shown to policies: credentials and anything that looks like one. A policy
 * decides on who the caller is (principal), not on the secret it proved it with.
 */
const CREDENTIAL_HEADER = /auth|cookie|token|secret|key|signature|session|password|credential|dpop/;

/** Where `request.time` comes from; `portcullis policy test` states it per case. */
export const policyClock: { now: () => Date } = { now: () => new Date() };

/** What a test or the CLI states about a request instead of a live RequestContext. */
export interface RequestFacts {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string | undefined>>;
  /** Raw query string without "?". */
  readonly query: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly clientIp: string;
  /** Now, unless a test states the time. */
  readonly time?: Date;
}

/**
 * `request` as expressions see it. Params, query, headers and time are built on first use and
 * kept for the other rules of the same request, so a rule that reads only params costs no query
 * parsing and no header copying.
 */
export class RequestView {
  readonly #facts: RequestFacts;
  #params: StringMap | undefined;
  #query: StringMap | undefined;
  #headers: StringMap | undefined;
  #time: Date | undefined;
  constructor(facts: RequestFacts) {
    this.#facts = facts;
    this.#time = facts.time;
  }
  get method(): string {
    return this.#facts.method;
  }
  get path(): string {
    return this.#facts.path;
  }
  get clientIp(): string {
    return this.#facts.clientIp;
  }
  get params(): StringMap {
    if (this.#params === undefined) {
      const out = nullMap();
      const src = this.#facts.params;
      for (const k in src) {
        const v = src[k];
        if (v !== undefined) out[k] = v;
      }
      this.#params = out;
    }
    return this.#params;
  }
  get query(): StringMap {
    if (this.#query === undefined) {
      const out = nullMap();
      const raw = this.#facts.query;
      if (raw !== '') {
        // A repeated name is ambiguous (upstreams read the first, the last or all): reading the
        // query then fails, and a rule that does so denies (HTTP parameter pollution).
        for (const [k, v] of new URLSearchParams(raw)) {
          if (k in out)
            throw Object.assign(new Error('repeated query parameter'), { name: 'AmbiguousQuery' });
          out[k] = v;
        }
      }
      this.#query = out;
    }
    return this.#query;
  }
  get headers(): StringMap {
    if (this.#headers === undefined) {
      const out = nullMap();
      const src = this.#facts.headers;
      for (const name in src) {
        const v = src[name];
        if (v === undefined) continue;
        const lower = name.toLowerCase();
        // Client-sent copies of the gateway's identity headers are not the caller: use principal.
        if (CREDENTIAL_HEADER.test(lower) || lower.replaceAll('_', '-').startsWith('x-portcullis-')) continue;
        out[lower] = Array.isArray(v) ? v.join(', ') : v;
      }
      this.#headers = out;
    }
    return this.#headers;
  }
  get time(): Date {
    this.#time ??= policyClock.now();
    return this.#time;
  }
}

export function requestFactsOf(ctx: RequestContext): RequestFacts {
  return {
    method: ctx.method,
    path: ctx.path,
    params: ctx.params,
    query: ctx.query,
    headers: ctx.req.headers,
    clientIp: ctx.clientIp,
  };
}

/** `route` as expressions see it. */
export class RouteView {
  readonly id: string;
  readonly path: string;
  constructor(id: string, path: string) {
    this.id = id;
    this.path = path;
  }
}

export interface Activation {
  readonly principal: PrincipalView;
  readonly request: RequestView;
  readonly route: RouteView;
  /** Values fetched by the policy's ownership lookups (empty when it has none). */
  readonly lookup: Readonly<Record<string, unknown>>;
}

/** The upstream's answer as response rules see it: the status and the parsed JSON body. */
export class ResponseView {
  /** CEL ints are BigInts in cel-js: `response.status == 200` then type-checks and compares. */
  readonly status: bigint;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    this.status = BigInt(status);
    this.body = body;
  }
}

/** What response rules and list filters see besides principal, request and route. */
export interface ResponseActivation extends Activation {
  readonly response: ResponseView;
  /** The list item being filtered (filters only). */
  readonly item?: unknown;
}

/** One environment per kind of expression: request rules, response rules, list filters. */
function environment(kind: 'request' | 'response' | 'item'): Environment {
  let env = new Environment({
    limits: {
      maxAstNodes: 2000,
      maxDepth: 64,
      maxListElements: 500,
      maxMapEntries: 200,
      maxCallArguments: 16,
    },
  })
    .registerType('portcullis.Principal', {
      ctor: PrincipalView,
      fields: {
        id: 'string',
        kind: 'string',
        subject: 'string',
        consumer: 'string',
        tenant: 'string',
        roles: 'list<string>',
        scopes: 'list<string>',
        claims: 'map<string, dyn>',
        method: 'string',
      },
    })
    .registerType('portcullis.Request', {
      ctor: RequestView,
      fields: {
        method: 'string',
        path: 'string',
        params: 'map<string, string>',
        query: 'map<string, string>',
        headers: 'map<string, string>',
        clientIp: 'string',
        time: 'google.protobuf.Timestamp',
      },
    })
    .registerType('portcullis.Route', { ctor: RouteView, fields: { id: 'string', path: 'string' } })
    .registerVariable('principal', 'portcullis.Principal')
    .registerVariable('request', 'portcullis.Request')
    .registerVariable('route', 'portcullis.Route')
    .registerVariable('lookup', 'map<string, dyn>');
  if (kind !== 'request') {
    env = env
      .registerType('portcullis.Response', { ctor: ResponseView, fields: { status: 'int', body: 'dyn' } })
      .registerVariable('response', 'portcullis.Response');
  }
  if (kind === 'item') env = env.registerVariable('item', 'dyn');
  return env;
}

/** The one environment every request rule compiles against (built once, at import). */
export const policyEnv = environment('request');
const responseEnv = environment('response');
const itemEnv = environment('item');

export type CompiledExpression = (activation: Activation) => unknown;

interface AstNode {
  readonly op: string;
  readonly args: unknown;
}

function isNode(v: unknown): v is AstNode {
  return typeof v === 'object' && v !== null && 'op' in v && 'args' in v;
}

function walk(node: unknown, visit: (n: AstNode) => void): void {
  if (Array.isArray(node)) {
    for (const n of node) walk(n, visit);
    return;
  }
  if (!isNode(node)) return;
  visit(node);
  if (Array.isArray(node.args)) for (const a of node.args) walk(a, visit);
  else walk(node.args, visit);
}

function checkPatterns(ast: unknown): void {
  walk(ast, (n) => {
    const args = n.args as unknown[];
    let pattern: unknown;
    if (n.op === 'rcall' && args[0] === 'matches') pattern = (args[2] as unknown[])[0];
    else if (n.op === 'call' && args[0] === 'matches') pattern = (args[1] as unknown[])[1];
    else return;
    if (!isNode(pattern) || pattern.op !== 'value' || typeof pattern.args !== 'string')
      throw new Error('matches() needs a string literal as its pattern (patterns are checked at start-up)');
    const why = unsafePattern(pattern.args);
    if (why !== undefined) throw new Error(`matches() pattern ${JSON.stringify(pattern.args)} ${why}`);
  });
}

/**
 * Parses and type-checks one expression: it must give a bool (or dyn, checked per request).
 * Throws an Error whose message says what is wrong and where in the expression.
 */
export function compileExpression(
  source: string,
  kind: 'request' | 'response' | 'item' = 'request',
  result: 'bool' | 'string' = 'bool',
): CompiledExpression {
  const env = kind === 'request' ? policyEnv : kind === 'response' ? responseEnv : itemEnv;
  let parsed: ReturnType<typeof policyEnv.parse>;
  try {
    parsed = env.parse(source);
  } catch (err) {
    throw new Error(`syntax error: ${(err as Error).message}`);
  }
  const checked = parsed.check();
  if (!checked.valid) {
    const e = checked.error as Error | undefined;
    throw new Error(`type error: ${e ? e.message : 'invalid expression'}`);
  }
  const type = String(checked.type);
  if (type !== result && type !== 'dyn')
    throw new Error(
      result === 'bool'
        ? `the expression gives ${type}, not bool; an allow condition must be true or false`
        : `the expression gives ${type}, not string`,
    );
  checkPatterns(parsed.ast);
  return parsed as unknown as CompiledExpression;
}

/** What may be logged of an evaluation error: its kind, never a value from the request. */
export function errorKind(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.name}:${code}` : err.name;
  }
  return typeof err;
}
