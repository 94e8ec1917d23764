import { isObj, type LoadedSpec, type Obj, resolvePointer } from '../../openapi/load.js';
import { type OperationSpec, operationsOf } from '../../openapi/operations.js';
import type { Finding, Rule } from '../types.js';
import { Collector } from './collect.js';
import { indexLines, type Segment } from './locate.js';

/**
 * `portcullis lint --spec`: a static read of an OpenAPI description for what makes an API easy to
 * attack — operations nobody has to authenticate for, plain-HTTP servers, request values with no
 * bound, open request objects, guessable ids, secrets in responses, undeclared 401/403/429 answers.
 */

const CONTRACT_LIMITS = `plugins:
  contract:
    spec: openapi.yaml
    strict: true            # undeclared properties refused (mass assignment)
    limits:                 # added where the description sets none
      maxStringLength: 1000
      maxItems: 100
      maxProperties: 100`;

export const SPEC_RULES = {
  noSecurity: {
    id: 'lint-spec-no-security',
    category: 'API2',
    severity: 'medium',
    title: 'Operation without a security requirement',
    why: 'An operation the description does not secure is one anybody may call; tools, gateways and reviewers that read the description treat it as public.',
    fix: 'Declare a security requirement on the document (and on operations that differ). Mark an operation that is public on purpose with an explicit `security: []`; never list `{}` (credentials optional) beside a real requirement.',
    portcullis: `plugins:
  jwt:
    issuers:
      - issuer: https://auth.example.com
        audience: [https://api.example.com]
        jwksUri: https://auth.example.com/.well-known/jwks.json
  authentication:
    anonymous: false        # the default: no credential, 401`,
  },
  plainHttpServer: {
    id: 'lint-spec-plain-http-server',
    category: 'API8',
    severity: 'medium',
    title: 'Server URL over plain HTTP',
    why: 'Credentials and data sent to an http:// server cross the network readable and changeable by anyone on the path.',
    fix: 'List https:// server URLs only (http:// is fine for localhost).',
    portcullis: `listeners:
  - name: public
    host: 0.0.0.0
    port: 443
    tls: { cert: certs/api.pem, key: certs/api-key.pem }
  - name: redirect
    host: 0.0.0.0
    port: 80
    plaintext: redirect     # 308 to https://`,
  },
  stringUnbounded: {
    id: 'lint-spec-string-unbounded',
    category: 'API4',
    severity: 'low',
    title: 'Request string without a bound',
    why: 'A string with no maxLength, pattern, enum or bounded format accepts megabytes: memory, CPU (regexes, parsers) and storage the client chooses.',
    fix: 'Give every request string a maxLength (or an enum, a pattern, or a format such as uuid or date-time).',
    portcullis: CONTRACT_LIMITS,
  },
  openObject: {
    id: 'lint-spec-open-object',
    category: 'API3',
    severity: 'low',
    title: 'Request object open to undeclared properties',
    why: 'An object without `additionalProperties: false` lets a client send fields the API never meant to take (isAdmin, role, ownerId): mass assignment.',
    fix: 'Set `additionalProperties: false` on request objects (OpenAPI 3.1: `unevaluatedProperties: false` for composed ones); a map says so with an additionalProperties schema.',
    portcullis: CONTRACT_LIMITS,
  },
  integerUnbounded: {
    id: 'lint-spec-integer-unbounded',
    category: 'API4',
    severity: 'low',
    title: 'Request integer without minimum and maximum',
    why: 'Unbounded integers let a client ask for a page of a million items, a negative quantity, or an overflow the upstream does not expect.',
    fix: 'Give every request integer a minimum and a maximum (an enum also bounds it).',
    portcullis: `plugins:
  contract:
    spec: openapi.yaml      # enforces the minimum/maximum the description declares
    mode: enforce`,
  },
  arrayUnbounded: {
    id: 'lint-spec-array-unbounded',
    category: 'API4',
    severity: 'low',
    title: 'Array without maxItems (request, or a list answer)',
    why: 'An array with no maxItems lets one request carry any number of items, each of which costs the API work; a list answer without one has no page size limit, so one call can pull the whole table.',
    fix: 'Give every request array a maxItems, and bound list answers (maxItems on the array a successful response returns, with a page-size parameter that has a maximum).',
    portcullis: CONTRACT_LIMITS,
  },
  sequentialId: {
    id: 'lint-spec-sequential-id',
    category: 'API1',
    severity: 'low',
    title: 'Integer id in the path',
    why: 'Sequential integer ids are guessable: anyone can walk /orders/1, /orders/2 … and every gap in object-level authorization becomes a data leak (enumeration).',
    fix: 'Use random, non-sequential ids (UUIDs) in URLs, and check that the caller owns every object it names.',
    portcullis: `routes:
  - id: orders
    path: /orders/:id
    upstream: api
    plugins:
      policy:
        response:
          rules:
            - name: own-order
              allow: response.body.ownerId == principal.subject
              onDeny: not-found`,
  },
  sensitiveField: {
    id: 'lint-spec-sensitive-field',
    category: 'API3',
    severity: 'medium',
    title: 'Sensitive field in a response',
    why: 'Passwords, hashes, secrets, tokens, SSNs and card numbers in responses reach every client (and its logs and caches) that calls the operation.',
    fix: 'Remove the field from the response schema and from what the API returns; mark fields that are only ever sent as `writeOnly: true`.',
    portcullis: `plugins:
  contract:
    spec: openapi.yaml
    response:
      stripUndeclared: true   # fields not in the response schema are removed
      hideLeaks: true
      mask: { enabled: true } # password, secret, token, ssn, card numbers… masked`,
  },
  missing401403: {
    id: 'lint-spec-missing-401-403',
    category: 'API8',
    severity: 'low',
    title: 'Secured operation declares neither 401 nor 403',
    why: 'A description that does not say how refusals look leaves clients guessing and hides authentication failures from contract checks and tests.',
    fix: 'Declare 401 (no or bad credential) and 403 (not allowed) responses, e.g. as shared components.responses.',
    portcullis: `plugins:
  authentication:
    anonymous: false        # 401 problem+json with WWW-Authenticate
  rbac:
    onDeny: forbidden       # 403 problem+json`,
  },
  missing429: {
    id: 'lint-spec-missing-429',
    category: 'API4',
    severity: 'low',
    title: 'Operation declares no 429 response',
    why: 'An API without a documented rate limit usually has none, and clients are not told to back off (Retry-After).',
    fix: 'Rate-limit the API and declare the 429 response (with Retry-After) on every operation.',
    portcullis: `plugins:
  rate-limit:
    key: principal
    limits:
      - { name: burst, algorithm: gcra, limit: 10, windowSeconds: 1, burst: 20 }`,
  },
} as const satisfies Record<string, Rule>;

export const SPEC_RULE_LIST: readonly Rule[] = Object.values(SPEC_RULES);

/** Schemas looked at in one lint, at most: a huge description is cut off (with a note), never slow. */
const MAX_SCHEMAS = 200_000;
/** Inline nesting deeper than this is not followed (no stack overflow on a hostile description). */
const MAX_DEPTH = 100;

const BOUNDED_FORMATS = new Set(['date', 'date-time', 'time', 'uuid', 'ipv4', 'ipv6']);
/** Patterns that allow any length do not bound a string. */
const UNBOUNDED_PATTERNS = new Set([
  '',
  '.*',
  '^.*$',
  '.+',
  '^.+$',
  '^.*',
  '.*$',
  '[\\s\\S]*',
  '^[\\s\\S]*$',
]);
const REQUEST_MEDIA = /(^application\/(.+\+)?json|^application\/x-www-form-urlencoded|^multipart\/|^\*\/\*)/;
/** Operations that hand out credentials legitimately return tokens and keys (matched on words). */
const ISSUES_CREDENTIALS =
  /\b(log ?in|sign ?in|tokens?|oauth2?|sessions?|auth|authenticate|api ?keys?|credentials)\b/;
/** Pagination cursors are called tokens and are not secrets (the contract plugin keeps them too). */
const CURSOR_TOKENS = new Set([
  'nextpagetoken',
  'pagetoken',
  'prevpagetoken',
  'previouspagetoken',
  'nexttoken',
  'continuationtoken',
  'nextcontinuationtoken',
  'paginationtoken',
  'cursortoken',
  'synctoken',
  'resumetoken',
  'csrftoken',
]);

/** "passwordHash" → ["password", "hash"]; "api_key" → ["api", "key"]. */
function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

const SECRET_LAST_WORDS = new Set([
  'password',
  'passwd',
  'passphrase',
  'pwd',
  'secret',
  'salt',
  'ssn',
  'cvv',
  'cvv2',
  'cvc',
  'cvc2',
  'otp',
]);
const SECRET_JOINED = [
  'apikey',
  'accesskey',
  'secretkey',
  'privatekey',
  'signingkey',
  'encryptionkey',
  'cardnumber',
  'creditcard',
  'ccnumber',
  'cardno',
  'iban',
  'socialsecuritynumber',
  'passworddigest',
  'pincode',
];

/** Why a response field name looks sensitive, or undefined. Tokens only count outside credential operations. */
function sensitiveKind(name: string, tokensAllowed: boolean): string | undefined {
  const w = words(name);
  if (w.length === 0) return undefined;
  const joined = w.join('');
  const last = w[w.length - 1] as string;
  if (SECRET_LAST_WORDS.has(last)) return 'a secret or credential';
  // "hash" alone or of a password/secret; a content or commit hash is not a secret.
  if (last === 'hash' && (w.length === 1 || /pass|pwd|secret/.test(joined))) return 'a password hash';
  if (joined === 'pan' || SECRET_JOINED.some((s) => joined.endsWith(s))) {
    if (!tokensAllowed || !/(apikey|accesskey)$/.test(joined))
      return 'a secret, key or payment/identity number';
  }
  if (!tokensAllowed && last === 'token' && !CURSOR_TOKENS.has(joined)) return 'a token';
  return undefined;
}

function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return (
    h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
  );
}

/** The http:// host of a server URL (variables filled with their defaults), or undefined. */
function plainHttpHost(server: Obj): string | undefined {
  if (typeof server.url !== 'string') return undefined;
  let url = server.url;
  const vars = isObj(server.variables) ? server.variables : {};
  url = url.replace(/\{([^}]*)\}/g, (_m, name: string) => {
    const v = vars[name];
    return isObj(v) && typeof v.default === 'string' ? v.default : 'x';
  });
  if (!/^http:\/\//i.test(url)) return undefined;
  try {
    return new URL(url).hostname;
  } catch {
    return url.slice(7).split(/[/:?#]/)[0];
  }
}

/** A place in the description: what people read ("paths./users.get.parameters.id") and the real path. */
interface Loc {
  readonly show: readonly string[];
  readonly doc: readonly Segment[];
}

const at = (loc: Loc, ...segs: string[]): Loc => ({
  show: [...loc.show, ...segs],
  doc: [...loc.doc, ...segs],
});
const shown = (loc: Loc): string => loc.show.join('.');

/** "#/components/schemas/User" → its place; undefined for a reference outside the document. */
function locOfRef(ref: string): Loc | undefined {
  if (!ref.startsWith('#/')) return undefined;
  const segs = ref
    .slice(2)
    .split('/')
    .map((s) => decodeURIComponent(s).replaceAll('~1', '/').replaceAll('~0', '~'));
  return { show: segs, doc: segs };
}

type Types = ReadonlySet<string>;

function typesOf(s: Obj): Types {
  if (Array.isArray(s.type)) return new Set(s.type.filter((t): t is string => typeof t === 'string'));
  if (typeof s.type === 'string') return new Set([s.type]);
  const out = new Set<string>();
  if (isObj(s.properties) || s.additionalProperties !== undefined) out.add('object');
  if (s.items !== undefined || s.prefixItems !== undefined) out.add('array');
  return out;
}

const isRef = (v: unknown): boolean => isObj(v) && typeof v.$ref === 'string';
const hasEnum = (s: Obj): boolean => Array.isArray(s.enum) || s.const !== undefined;

class SpecLinter {
  private readonly out: Collector;
  private readonly doc: Obj;
  private budget = MAX_SCHEMAS;
  readonly notes: string[] = [];
  /** Request schemas fully checked / checked as an allOf member (open-object left to the whole). */
  private readonly requestSeen = new Set<object>();
  private readonly memberSeen = new Set<object>();
  /** Response schemas checked for secrets: in ordinary operations, and in credential-issuing ones. */
  private readonly responseSeen = new Set<object>();
  private readonly issuingSeen = new Set<object>();

  constructor(
    private readonly spec: LoadedSpec,
    text: string | undefined,
  ) {
    this.doc = spec.doc;
    // A converted Swagger 2.0 document has other paths than its file: no line numbers then.
    this.out = new Collector(spec.file, indexLines(spec.converted ? undefined : text));
  }

  run(): { findings: Finding[]; notes: string[] } {
    this.servers(this.doc.servers, { show: ['servers'], doc: ['servers'] });
    const paths = isObj(this.doc.paths) ? this.doc.paths : {};
    const ops = operationsOf(this.spec);
    for (const op of ops) this.operation(op, paths);
    if (ops.length === 0) this.notes.push('lint: the description declares no operations');
    if (this.budget <= 0)
      this.notes.push(
        `lint: the description has more than ${MAX_SCHEMAS} schema nodes; the rest was not checked`,
      );
    return { findings: this.out.findings(), notes: this.notes };
  }

  private servers(list: unknown, loc: Loc): void {
    if (!Array.isArray(list)) return;
    list.forEach((server, i) => {
      if (!isObj(server)) return;
      const host = plainHttpHost(server);
      if (host === undefined || isLoopbackHost(host)) return;
      const where = at(loc, String(i));
      this.out.add(
        SPEC_RULES.plainHttpServer,
        shown(where),
        where.doc,
        `server ${host} is reached over plain http://`,
      );
    });
  }

  private operation(op: OperationSpec, paths: Obj): void {
    const method = op.method.toLowerCase();
    // A path item may itself be a $ref: shown under its path, located where it is written.
    const item = this.follow(paths[op.path], { show: ['paths', op.path], doc: ['paths', op.path] });
    const itemLoc: Loc = { show: ['paths', op.path], doc: item.loc.doc };
    const opLoc = at(itemLoc, method);
    const rawItem = isObj(item.value) ? item.value : {};
    const rawOp = isObj(rawItem[method]) ? (rawItem[method] as Obj) : {};
    this.servers(rawItem.servers, at(itemLoc, 'servers'));
    this.servers(rawOp.servers, at(opLoc, 'servers'));

    // Security: missing everywhere, or made optional by an empty alternative.
    const security = op.security;
    const secured = security?.some((r) => Object.keys(r).length > 0) === true;
    const optional = security?.some((r) => Object.keys(r).length === 0) === true;
    const explicitPublic = Array.isArray(rawOp.security) && rawOp.security.length === 0;
    const label = `${op.method} ${op.path}`;
    if (security === undefined || (security.length === 0 && !explicitPublic)) {
      this.out.add(
        SPEC_RULES.noSecurity,
        shown(opLoc),
        opLoc.doc,
        `${label} has no security requirement (neither on the operation nor on the document)`,
      );
    } else if (secured && optional) {
      this.out.add(
        SPEC_RULES.noSecurity,
        shown(opLoc),
        Array.isArray(rawOp.security) ? at(opLoc, 'security').doc : ['security'],
        `${label} lists an empty security requirement ({}), so credentials are optional`,
      );
    }

    const codes = new Set(op.responses.keys());
    const respLoc = at(opLoc, 'responses');
    if (secured && !codes.has('401') && !codes.has('403') && !codes.has('4XX'))
      this.out.add(
        SPEC_RULES.missing401403,
        shown(opLoc),
        respLoc.doc,
        `${label} requires credentials but declares neither a 401 nor a 403 response`,
      );
    if (!codes.has('429') && !codes.has('4XX'))
      this.out.add(SPEC_RULES.missing429, shown(opLoc), respLoc.doc, `${label} declares no 429 response`);

    // Parameters: path-level first, the operation's own override them (as operationsOf merges).
    const params = new Map<string, { raw: unknown; loc: Loc }>();
    const collect = (list: unknown, base: Loc): void => {
      if (!Array.isArray(list)) return;
      list.forEach((p, i) => {
        const { value, loc } = this.follow(p, { show: base.show, doc: [...base.doc, i] });
        if (!isObj(value)) return;
        const name = String(value.name);
        // A referenced parameter is reported once, where it is defined; an inline one by its name.
        const own = isRef(p) ? loc : { show: [...base.show, name], doc: loc.doc };
        params.set(`${String(value.in)}:${name}`, { raw: value, loc: own });
      });
    };
    collect(rawItem.parameters, at(itemLoc, 'parameters'));
    collect(rawOp.parameters, at(opLoc, 'parameters'));
    for (const { raw, loc } of params.values()) this.parameter(raw as Obj, loc);

    // Request body.
    const body = this.follow(rawOp.requestBody, at(opLoc, 'requestBody'));
    if (isObj(body.value) && isObj(body.value.content))
      for (const [media, entry] of Object.entries(body.value.content)) {
        if (!isObj(entry) || entry.schema === undefined || !REQUEST_MEDIA.test(media.toLowerCase())) continue;
        const loc = at(body.loc, 'content', media, 'schema');
        this.request(entry.schema, loc, false, 0);
      }

    // Responses: fields that should never leave the API.
    const issuing = ISSUES_CREDENTIALS.test(words(`${op.path} ${op.id}`).join(' '));
    if (isObj(rawOp.responses))
      for (const [status, r] of Object.entries(rawOp.responses)) {
        const resp = this.follow(r, at(respLoc, status));
        if (!isObj(resp.value) || !isObj(resp.value.content)) continue;
        for (const [media, entry] of Object.entries(resp.value.content)) {
          if (!isObj(entry) || entry.schema === undefined) continue;
          const loc = at(resp.loc, 'content', media, 'schema');
          if (status.startsWith('2')) this.page(entry.schema, loc, label);
          this.response(entry.schema, loc, issuing, 0);
        }
      }
  }

  /**
   * A successful answer that is a list: without maxItems nothing says how long a page may be (the
   * scanner's api4-large-page compares against it). Only the top-level array: nested ones are data.
   */
  private page(raw: unknown, where: Loc, label: string): void {
    const { value, loc } = this.follow(raw, where);
    if (!isObj(value) || !typesOf(value).has('array') || typeof value.maxItems === 'number') return;
    this.out.add(
      SPEC_RULES.arrayUnbounded,
      shown(loc),
      loc.doc,
      `${label} answers a list without maxItems: the page size has no bound`,
    );
  }

  /** Follows `$ref`s (a chain of them too, bounded) and says where the target lives. */
  private follow(value: unknown, loc: Loc): { value: unknown; loc: Loc } {
    let v = value;
    let l = loc;
    for (let hops = 0; hops < 32 && isObj(v) && typeof v.$ref === 'string'; hops++) {
      const target = locOfRef(v.$ref);
      v = resolvePointer(this.doc, v.$ref);
      if (target === undefined) return { value: undefined, loc: l };
      l = target;
    }
    return isObj(v) && typeof v.$ref === 'string' ? { value: undefined, loc: l } : { value: v, loc: l };
  }

  private parameter(p: Obj, loc: Loc): void {
    let schemaLoc: Loc = { show: loc.show, doc: [...loc.doc, 'schema'] };
    let schema: unknown = p.schema;
    if (schema === undefined && isObj(p.content)) {
      const [media, entry] = Object.entries(p.content)[0] ?? [];
      if (media !== undefined && isObj(entry)) {
        schema = entry.schema;
        schemaLoc = { show: loc.show, doc: [...loc.doc, 'content', media, 'schema'] };
      }
    }
    if (p.in === 'path') {
      const s = this.follow(schema, schemaLoc);
      if (isObj(s.value) && looksLikeId(String(p.name)) && isIntegerLike(s.value))
        this.out.add(
          SPEC_RULES.sequentialId,
          shown(loc),
          loc.doc,
          `path parameter "${String(p.name)}" is an integer id: neighbouring ids are easy to guess`,
        );
    }
    this.request(schema, schemaLoc, false, 0);
  }

  private spend(): boolean {
    this.budget--;
    return this.budget >= 0;
  }

  /** Request-side checks: bounded strings, integers and arrays; closed objects. */
  private request(raw: unknown, where: Loc, member: boolean, depth: number): void {
    if (depth > MAX_DEPTH) return;
    const { value, loc } = this.follow(raw, where);
    if (!isObj(value)) return;
    const seen = member ? this.memberSeen : this.requestSeen;
    if (seen.has(value) || this.requestSeen.has(value) || !this.spend()) return;
    seen.add(value);
    const s = value;
    if (s.readOnly === true) return; // never sent by a client
    const types = typesOf(s);
    const place = shown(loc);

    if (types.has('string') && !hasEnum(s) && typeof s.maxLength !== 'number') {
      const pattern = typeof s.pattern === 'string' ? s.pattern : undefined;
      const format = typeof s.format === 'string' ? s.format : undefined;
      if ((pattern === undefined || UNBOUNDED_PATTERNS.has(pattern)) && !BOUNDED_FORMATS.has(format ?? ''))
        this.out.add(
          SPEC_RULES.stringUnbounded,
          place,
          loc.doc,
          `${place}: string without maxLength, pattern, enum or a bounded format`,
        );
    }
    if (types.has('integer') && !hasEnum(s)) {
      const min = typeof s.minimum === 'number' || typeof s.exclusiveMinimum === 'number';
      const max = typeof s.maximum === 'number' || typeof s.exclusiveMaximum === 'number';
      if (!min || !max)
        this.out.add(
          SPEC_RULES.integerUnbounded,
          place,
          loc.doc,
          `${place}: integer without ${!min && !max ? 'minimum and maximum' : !min ? 'minimum' : 'maximum'}`,
        );
    }
    if (types.has('array') && !hasEnum(s) && typeof s.maxItems !== 'number')
      this.out.add(SPEC_RULES.arrayUnbounded, place, loc.doc, `${place}: array without maxItems`);
    if ((types.has('object') || Array.isArray(s.allOf)) && !member && !hasEnum(s) && this.open(s, 0))
      this.out.add(
        SPEC_RULES.openObject,
        place,
        loc.doc,
        `${place}: object accepts undeclared properties (no additionalProperties: false)`,
      );

    if (isObj(s.properties))
      for (const [name, sub] of Object.entries(s.properties))
        this.request(sub, at(loc, 'properties', name), false, depth + 1);
    if (isObj(s.additionalProperties))
      this.request(s.additionalProperties, at(loc, 'additionalProperties'), false, depth + 1);
    if (isObj(s.patternProperties))
      for (const [p, sub] of Object.entries(s.patternProperties))
        this.request(sub, at(loc, 'patternProperties', p), false, depth + 1);
    if (s.items !== undefined && !Array.isArray(s.items))
      this.request(s.items, at(loc, 'items'), false, depth + 1);
    for (const key of ['prefixItems', 'oneOf', 'anyOf'] as const) {
      const list = s[key];
      if (Array.isArray(list))
        for (const [i, sub] of list.entries()) this.request(sub, at(loc, key, String(i)), false, depth + 1);
    }
    // Inline allOf members are parts of the whole (judged with it); referenced ones stand alone.
    if (Array.isArray(s.allOf))
      for (const [i, sub] of s.allOf.entries())
        this.request(sub, at(loc, 'allOf', String(i)), !isRef(sub), depth + 1);
  }

  /**
   * Open to undeclared properties: no additionalProperties: false (or unevaluatedProperties: false).
   * A schema-valued additionalProperties or patternProperties is a map on purpose. A composition
   * (allOf) without properties of its own is open when an inline object member is; a referenced
   * member is judged once, at its component.
   */
  private open(s: Obj, depth: number): boolean {
    if (s.additionalProperties === false || s.unevaluatedProperties === false) return false;
    if (isObj(s.additionalProperties) || isObj(s.patternProperties)) return false;
    if (Array.isArray(s.allOf) && !isObj(s.properties)) {
      if (depth > 16) return false;
      const inline = s.allOf.filter((m): m is Obj => isObj(m) && !isRef(m));
      const objects = inline.filter((m) => typesOf(m).has('object') || Array.isArray(m.allOf));
      if (objects.length === 0) return typesOf(s).has('object') && s.allOf.length === inline.length;
      return objects.some((m) => this.open(m, depth + 1));
    }
    return true;
  }

  /** Response-side check: field names that carry secrets. */
  private response(raw: unknown, where: Loc, issuing: boolean, depth: number): void {
    if (depth > MAX_DEPTH) return;
    const { value, loc } = this.follow(raw, where);
    if (!isObj(value)) return;
    const seen = issuing ? this.issuingSeen : this.responseSeen;
    if (seen.has(value) || !this.spend()) return;
    seen.add(value);
    const s = value;
    if (isObj(s.properties))
      for (const [name, sub] of Object.entries(s.properties)) {
        const prop = this.follow(sub, at(loc, 'properties', name)).value;
        if (isObj(prop) && prop.writeOnly === true) continue; // never in a response
        const kind = sensitiveKind(name, issuing);
        if (kind !== undefined) {
          const fieldLoc = at(loc, 'properties', name);
          this.out.add(
            SPEC_RULES.sensitiveField,
            shown(fieldLoc),
            fieldLoc.doc,
            `response field "${name}" looks like ${kind}`,
          );
        }
        this.response(sub, at(loc, 'properties', name), issuing, depth + 1);
      }
    if (isObj(s.additionalProperties))
      this.response(s.additionalProperties, at(loc, 'additionalProperties'), issuing, depth + 1);
    if (s.items !== undefined && !Array.isArray(s.items))
      this.response(s.items, at(loc, 'items'), issuing, depth + 1);
    for (const key of ['prefixItems', 'allOf', 'oneOf', 'anyOf'] as const) {
      const list = s[key];
      if (Array.isArray(list))
        for (const [i, sub] of list.entries())
          this.response(sub, at(loc, key, String(i)), issuing, depth + 1);
    }
  }
}

function looksLikeId(name: string): boolean {
  return /^id$/i.test(name) || /[_-]id$/i.test(name) || /[a-z0-9]I[dD]$/.test(name);
}

function isIntegerLike(s: Obj): boolean {
  const types = typesOf(s);
  if (types.has('integer') || types.has('number')) return true;
  if (types.has('string'))
    return (
      s.format === 'int32' ||
      s.format === 'int64' ||
      (typeof s.pattern === 'string' && /^\^?(\\d|\[0-9\])[+*]\$?$/.test(s.pattern))
    );
  return false;
}

/** Every lint-spec-* finding of a loaded description (`text`, the file's text, gives line numbers). */
export function lintSpecDetailed(spec: LoadedSpec, text?: string): { findings: Finding[]; notes: string[] } {
  return new SpecLinter(spec, text).run();
}

export function lintSpec(spec: LoadedSpec, text?: string): Finding[] {
  return lintSpecDetailed(spec, text).findings;
}
