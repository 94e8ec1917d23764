import { deref, isObj, type Obj } from '../../openapi/load.js';
import { targetOf } from '../plan.js';
import { isSecretName } from '../redact.js';
import type {
  Check,
  Identity,
  PlannedOperation,
  Rule,
  ScanContext,
  ScanRequest,
  ScanResponse,
} from '../types.js';
import {
  cleanUp,
  createObject,
  findResources,
  is2xx,
  isLogin,
  itemTarget,
  JSON_HEADERS,
  objectOf,
  RealPaths,
  type Resource,
  requestSchema,
  responseSchema,
  shapeOf,
  uniqueBody,
} from './objects.js';

/**
 * API3 — Broken Object Property Level Authorization. Writes carrying privileged fields the request
 * schema does not declare, read back for effect (mass assignment); answers carrying secrets or card
 * numbers (excessive data exposure); answers carrying fields their response schema does not declare.
 * Writes go only to objects the scan created (deleted afterwards) and to the main identity's own
 * singleton resources (/me), which are put back when a privileged field took effect.
 */

const RULES = {
  massAssignment: {
    id: 'api3-mass-assignment',
    category: 'API3',
    severity: 'high',
    title: 'Privileged fields can be set through a write (mass assignment)',
    why: 'A write carrying a field the request schema does not declare (isAdmin, role, permissions…) changed the stored object: a caller can grant itself privileges.',
    fix: 'Bind request bodies to an explicit allowlist of writable fields (a DTO); never copy a body onto a model.',
    portcullis: `plugins:
  contract:
    spec: openapi.yaml
    strict: true   # undeclared body properties are refused with 400 REQUEST_INVALID`,
  },
  sensitiveData: {
    id: 'api3-sensitive-data',
    category: 'API3',
    severity: 'high',
    title: 'Answers expose secrets or card numbers',
    why: 'An answer carries passwords, hashes, secrets, tokens, keys, social security or card numbers: whoever reads it (client, log, cache) holds them.',
    fix: 'Never serialize secrets; build answers from an explicit allowlist of fields per caller.',
    portcullis: `plugins:
  contract:
    spec: openapi.yaml
    response:
      stripUndeclared: true
      mask:
        enabled: true
        patterns: [card-number, us-ssn, jwt, api-key, private-key]`,
  },
  undocumented: {
    id: 'api3-undocumented-fields',
    category: 'API3',
    severity: 'medium',
    title: 'Answers carry fields the description does not declare',
    why: 'The answer has properties its response schema does not list: internal data leaks without anyone having decided to publish it.',
    fix: 'Serialize answers from the documented schema only, or document the fields if they are meant to be public.',
    portcullis: `plugins:
  contract:
    spec: openapi.yaml
    response:
      stripUndeclared: true   # undeclared properties are removed from answers`,
  },
} satisfies Record<string, Rule>;

/** Fields that grant privileges when a model takes them from a body, with the value the scan sends. */
const PRIVILEGED: Readonly<Record<string, unknown>> = {
  isAdmin: true,
  admin: true,
  role: 'admin',
  roles: ['admin'],
  is_admin: true,
  permissions: ['*'],
};

/** The privileged value `sent` for `key` shows in `obj`. */
function privileged(obj: Obj | undefined, key: string): boolean {
  if (obj === undefined) return false;
  const v = obj[key];
  const sent = PRIVILEGED[key];
  if (Array.isArray(sent)) return Array.isArray(v) && v.some((x) => sent.includes(x));
  return v === sent;
}

/** The privileged fields the operation's request schema does not declare. */
function extrasFor(ctx: ScanContext, op: PlannedOperation): Obj {
  const shape = shapeOf(ctx.spec.doc, requestSchema(op));
  const out: Obj = {};
  for (const [k, v] of Object.entries(PRIVILEGED)) if (!shape?.properties.has(k)) out[k] = v;
  return out;
}

/** Every JSON answer the check sees goes through the exposure and schema checks. */
class Answers {
  readonly #ctx: ScanContext;
  readonly #seen = new Set<string>();
  /** Fields the check itself added to writes: their echo is not the API's own undeclared data. */
  readonly #written = new Set<string>();

  constructor(ctx: ScanContext) {
    this.#ctx = ctx;
  }

  wrote(fields: Obj): void {
    for (const k of Object.keys(fields)) this.#written.add(k);
  }

  inspect(op: PlannedOperation, request: ScanRequest, response: ScanResponse | undefined): void {
    if (!is2xx(response) || response.json === undefined) return;
    this.#sensitive(op, request, response);
    this.#undocumented(op, request, response);
  }

  #once(key: string): boolean {
    if (this.#seen.has(key)) return false;
    this.#seen.add(key);
    return true;
  }

  #sensitive(op: PlannedOperation, request: ScanRequest, response: ScanResponse): void {
    const hits = new Set<string>();
    walk(response.json, '', 0, (path, key, value) => {
      // "[3].passwordHash" and "[0].passwordHash" are one finding: "[].passwordHash".
      const at = path.replace(/\[\d+\]/g, '[]');
      if (isSecretKey(key) && isPresent(value)) hits.add(at);
      else if (isCardNumber(key, value)) hits.add(`${at} (card number)`);
    });
    if (hits.size === 0 || !this.#once(`s:${op.label}`)) return;
    const list = [...hits].slice(0, 10).join(', ');
    this.#ctx.report({
      rule: RULES.sensitiveData,
      severity: RULES.sensitiveData.severity,
      where: op.label,
      message: `the answer carries sensitive fields: ${list}`,
      evidence: [this.#ctx.http.evidence(request, response, `fields ${list} (values redacted)`)],
    });
  }

  #undocumented(op: PlannedOperation, request: ScanRequest, response: ScanResponse): void {
    const doc = this.#ctx.spec.doc;
    const schema = responseSchema(op, response.status);
    if (schema === undefined) return;
    let shape = shapeOf(doc, schema);
    let objects: unknown[] = [response.json];
    if (shape === undefined && Array.isArray(response.json)) {
      // A list: compare its first items with the items' schema.
      const s = deref(doc, schema);
      shape = isObj(s) && s.items !== undefined ? shapeOf(doc, s.items) : undefined;
      objects = response.json.slice(0, 5);
    }
    if (shape === undefined || shape.open) return;
    const extra = new Set<string>();
    for (const o of objects)
      if (isObj(o))
        for (const k of Object.keys(o)) if (!shape.properties.has(k) && !this.#written.has(k)) extra.add(k);
    if (extra.size === 0 || !this.#once(`u:${op.label}`)) return;
    const list = [...extra].slice(0, 20).join(', ');
    this.#ctx.report({
      rule: RULES.undocumented,
      severity: RULES.undocumented.severity,
      where: op.label,
      message: `the ${response.status} answer carries fields its schema does not declare: ${list}`,
      evidence: [this.#ctx.http.evidence(request, response, `undeclared fields: ${list}`)],
    });
  }
}

const SECRET_KEY =
  /^(password|passwd|pwd|passwordhash|passwordsalt|hashedpassword|hash|salt|secret|clientsecret|secretkey|apisecret|token|accesstoken|refreshtoken|idtoken|sessiontoken|authtoken|apikey|privatekey|ssn|socialsecuritynumber|cardnumber|creditcard|creditcardnumber|ccnumber|cvv|cvc|pin|otp|mfasecret|totpsecret)$/;

export const isSecretKey = (key: string): boolean => SECRET_KEY.test(key.toLowerCase().replace(/[-_]/g, ''));

/** A masked value ("[REDACTED]", "****") is the fix, not a leak. */
const MASKED = /^(\[?(redacted|masked|hidden|removed|filtered)\]?|<(redacted|masked|hidden)>|[*xX•#.]+)$/i;

const isPresent = (v: unknown): boolean =>
  (typeof v === 'string' && v.trim() !== '' && !MASKED.test(v.trim())) || typeof v === 'number';

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** A 13–19 digit Luhn-valid string (or a number under a card-like key). */
function isCardNumber(key: string, value: unknown): boolean {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' && /(card|pan|^cc)/i.test(key)) text = String(value);
  else return false;
  if (!/^\d(?:[ -]?\d){12,18}$/.test(text)) return false;
  const digits = text.replace(/[ -]/g, '');
  return !/^(\d)\1+$/.test(digits) && luhn(digits);
}

function walk(
  v: unknown,
  path: string,
  depth: number,
  visit: (path: string, key: string, value: unknown) => void,
) {
  if (depth > 8) return;
  if (Array.isArray(v)) {
    for (const [i, x] of v.slice(0, 50).entries()) walk(x, `${path}[${i}]`, depth + 1, visit);
    return;
  }
  if (!isObj(v)) return;
  for (const [k, x] of Object.entries(v)) {
    const p = path === '' ? k : `${path}.${k}`;
    visit(p, k, x);
    walk(x, p, depth + 1, visit);
  }
}

async function send(ctx: ScanContext, request: ScanRequest) {
  return { request, response: await ctx.http.send(request) };
}

const asOf = (a: Identity | undefined) => (a === undefined ? {} : { as: a });

/** Reads the object back (GET on its item) or, without one, takes the write's own answer. */
async function readBack(ctx: ScanContext, answers: Answers, r: Resource, id: string, fallback: unknown) {
  const get = r.items.get('GET');
  if (get === undefined) return { obj: objectOf(fallback), read: undefined };
  const x = await send(ctx, {
    method: 'GET',
    path: itemTarget(r, 'GET', id),
    ...asOf(ctx.auth),
    purpose: 'mass assignment: read the object back',
  });
  answers.inspect(get, x.request, x.response);
  return { obj: is2xx(x.response) ? objectOf(x.response.json) : undefined, read: x };
}

function reportMass(
  ctx: ScanContext,
  op: PlannedOperation,
  fields: string[],
  write: { request: ScanRequest; response: ScanResponse | undefined },
  read: { request: ScanRequest; response: ScanResponse | undefined } | undefined,
) {
  const evidence = [
    ctx.http.evidence(write.request, write.response, `the write carried ${fields.join(', ')}`),
  ];
  if (read !== undefined)
    evidence.push(ctx.http.evidence(read.request, read.response, `read back: ${fields.join(', ')} set`));
  ctx.report({
    rule: RULES.massAssignment,
    severity: RULES.massAssignment.severity,
    where: op.label,
    message: `undeclared privileged field(s) ${fields.join(', ')} sent in the body took effect`,
    evidence,
  });
}

/** Create with privileged extras, then update a plain object with them; compare with a plain one. */
async function testResource(ctx: ScanContext, answers: Answers, r: Resource) {
  ctx.progress(`API3 ${r.create.label}`);
  const a = ctx.auth;
  const created: { id: string; as: Identity | undefined }[] = [];
  try {
    const plain = await createObject(ctx, r, a, 'mass assignment: a plain object (baseline)');
    if (plain !== undefined) {
      created.push({ id: plain.id, as: a });
      answers.inspect(r.create, plain.request, plain.response);
    }
    const base =
      plain === undefined ? undefined : (await readBack(ctx, answers, r, plain.id, plain.response.json)).obj;
    const extras = extrasFor(ctx, r.create);
    answers.wrote(extras);
    if (Object.keys(extras).length > 0) {
      const rich = await createObject(ctx, r, a, 'mass assignment: create with privileged fields', extras);
      if (rich !== undefined) {
        created.push({ id: rich.id, as: a });
        const back = await readBack(ctx, answers, r, rich.id, rich.response.json);
        const took = Object.keys(extras).filter((k) => privileged(back.obj, k) && !privileged(base, k));
        if (took.length > 0) reportMass(ctx, r.create, took, rich, back.read);
      }
    }
    if (plain === undefined) return;
    for (const method of ['PATCH', 'PUT']) {
      const op = r.items.get(method);
      if (op === undefined) continue;
      const more = extrasFor(ctx, op);
      answers.wrote(more);
      if (Object.keys(more).length === 0) continue;
      const body = isObj(op.body) ? { ...(uniqueBody(op.body) as Obj), ...more } : more;
      const write = await send(ctx, {
        method,
        path: itemTarget(r, method, plain.id),
        headers: JSON_HEADERS,
        body: JSON.stringify(body),
        ...asOf(a),
        purpose: 'mass assignment: update with privileged fields',
      });
      if (!is2xx(write.response)) continue;
      answers.inspect(op, write.request, write.response);
      const back = await readBack(ctx, answers, r, plain.id, write.response.json);
      const took = Object.keys(more).filter((k) => privileged(back.obj, k) && !privileged(base, k));
      if (took.length > 0) reportMass(ctx, op, took, write, back.read);
    }
  } finally {
    await cleanUp(ctx, r, created);
  }
}

/** PUT/PATCH on a path without parameters that also has a GET ("/me"): the caller's own record. */
async function testSingleton(
  ctx: ScanContext,
  answers: Answers,
  op: PlannedOperation,
  get: PlannedOperation,
) {
  const extras = extrasFor(ctx, op);
  if (Object.keys(extras).length === 0 || !isObj(op.body)) return;
  answers.wrote(extras);
  ctx.progress(`API3 ${op.label}`);
  const read = () =>
    send(ctx, {
      method: 'GET',
      path: targetOf(get),
      ...asOf(ctx.auth),
      purpose: 'mass assignment: read the record',
    });
  const before = await read();
  if (!is2xx(before.response)) return;
  answers.inspect(get, before.request, before.response);
  const base = objectOf(before.response.json);
  if (base === undefined) return;
  // Write back only what GET returned, so only the privileged fields could change anything: never
  // an example value for a field GET did not show (a password), never a secret-named field.
  const current: Obj = {};
  for (const k of Object.keys(op.body)) if (k in base && !isSecretName(k)) current[k] = base[k];
  const schema = deref(ctx.spec.doc, requestSchema(op));
  const required = isObj(schema) && Array.isArray(schema.required) ? schema.required : [];
  const missing = required.filter((k): k is string => typeof k === 'string' && !(k in current));
  if (missing.length > 0) {
    ctx.note(
      `API3: mass assignment not tested on ${op.label}: its body needs ${missing.join(', ')}, which GET did not return (the scan does not write values it cannot restore)`,
    );
    return;
  }
  const write = await send(ctx, {
    method: op.op.method,
    path: targetOf(op),
    headers: JSON_HEADERS,
    body: JSON.stringify({ ...current, ...extras }),
    ...asOf(ctx.auth),
    purpose: 'mass assignment: update own record with privileged fields',
  });
  if (!is2xx(write.response)) return;
  const after = await read();
  answers.inspect(get, after.request, after.response);
  const obj = is2xx(after.response) ? objectOf(after.response.json) : undefined;
  const took = Object.keys(extras).filter((k) => privileged(obj, k) && !privileged(base, k));
  // Fields written back that read differently now (the API normalized or refused them): restore too.
  const drifted =
    obj !== undefined && Object.keys(current).some((k) => JSON.stringify(obj[k]) !== JSON.stringify(base[k]));
  if (took.length > 0) reportMass(ctx, op, took, write, after);
  if (took.length === 0 && !drifted) return;
  // Put the record back as it was (the same hole that let the field in lets it out).
  const restore: Obj = { ...current };
  for (const k of took)
    restore[k] =
      k in base
        ? base[k]
        : Array.isArray(PRIVILEGED[k])
          ? []
          : typeof PRIVILEGED[k] === 'string'
            ? 'user'
            : false;
  await ctx.http.send({
    method: op.op.method,
    path: targetOf(op),
    headers: JSON_HEADERS,
    body: JSON.stringify(restore),
    ...asOf(ctx.auth),
    purpose: 'mass assignment: restore own record',
  });
}

export const api3Properties: Check = {
  id: 'api3-properties',
  category: 'API3',
  description:
    'Mass assignment of privileged fields, secrets and card numbers in answers, undocumented answer fields.',
  rules: Object.values(RULES),
  async run(ctx) {
    const answers = new Answers(ctx);
    const paths = new RealPaths(ctx);
    // Reads first: every GET as the main identity, its answer inspected.
    for (const op of ctx.operations) {
      if (op.op.method !== 'GET' || ctx.http.remaining <= 0) continue;
      ctx.progress(`API3 ${op.label}`);
      const request: ScanRequest = {
        method: 'GET',
        path: await paths.of(op, ctx.auth),
        ...asOf(ctx.auth),
        purpose: 'data exposure: read as the main identity',
      };
      answers.inspect(op, request, await ctx.http.send(request));
    }
    for (const r of findResources(ctx.operations)) await testResource(ctx, answers, r);
    for (const op of ctx.operations) {
      if (!['PUT', 'PATCH'].includes(op.op.method) || op.op.path.includes('{')) continue;
      const get = ctx.operations.find((g) => g.op.method === 'GET' && g.op.path === op.op.path);
      if (get !== undefined && !isLogin(op)) await testSingleton(ctx, answers, op, get);
    }
  },
};
