import { randomInt } from 'node:crypto';
import { deref, isObj } from '../../openapi/load.js';
import type {
  Check,
  Identity,
  PlannedOperation,
  Rule,
  ScanContext,
  ScanRequest,
  ScanResponse,
} from '../types.js';
import { sameData } from './answers.js';
import {
  type Created,
  cleanUp,
  createObject,
  findResources,
  idOf,
  is2xx,
  itemTarget,
  JSON_HEADERS,
  marker,
  objectOf,
  type Resource,
  requestSchema,
} from './objects.js';

/**
 * API1 — Broken Object Level Authorization. Identity A creates an object; identity B (another user
 * of the same privilege) reads, changes and deletes it. Only objects the scan created are touched:
 * B's writes and deletes target A's fresh object, and everything left is deleted by its creator.
 * Integer ids are also probed around A's id (reads only) to show that they can be enumerated.
 */

const OWNER_POLICY = `routes:
  - id: pet
    path: /pets/:id
    methods: [GET, PUT, PATCH, DELETE]
    upstream: api
    plugins:
      policy:
        lookups:
          owner: { url: "http://api.internal/pets/{id}", field: ownerId }
        rules:
          - name: own-objects
            onDeny: not-found
            allow: lookup.owner == principal.subject`;

const RULES = {
  read: {
    id: 'api1-bola-read',
    category: 'API1',
    severity: 'high',
    title: 'Another user can read an object they do not own',
    why: "Identity B read an object identity A created, only by knowing its id: any user can read every other user's data.",
    fix: 'Check on every object access that the caller owns the object (or is allowed to see it); answer 404 otherwise.',
    portcullis: OWNER_POLICY,
  },
  write: {
    id: 'api1-bola-write',
    category: 'API1',
    severity: 'critical',
    title: 'Another user can change an object they do not own',
    why: "Identity B changed an object identity A created: any user can tamper with every other user's data.",
    fix: 'Check ownership (or a permission) on every update, before the write; answer 404 to non-owners.',
    portcullis: OWNER_POLICY,
  },
  delete: {
    id: 'api1-bola-delete',
    category: 'API1',
    severity: 'critical',
    title: 'Another user can delete an object they do not own',
    why: "Identity B deleted an object identity A created: any user can destroy every other user's data.",
    fix: 'Check ownership (or a permission) on every delete; answer 404 to non-owners.',
    portcullis: OWNER_POLICY,
  },
  predictable: {
    id: 'api1-predictable-ids',
    category: 'API1',
    severity: 'medium',
    title: 'Sequential object ids can be enumerated',
    why: "Objects have sequential integer ids and neighbours of the caller's own object, created by others, answer 2xx: counting ids walks through everyone's data.",
    fix: 'Enforce ownership on every object access, and prefer random identifiers (UUIDv4/v7) so ids cannot be guessed.',
    portcullis: `routes:
  - id: get-pet
    path: /pets/:id
    methods: [GET]
    upstream: api
    plugins:
      policy:
        response:
          rules:
            - name: own-objects
              onDeny: not-found   # someone else's id looks exactly like a missing one
              allow: response.body.ownerId == principal.subject`,
  },
} satisfies Record<string, Rule>;

/** A body for a write by B: the operation's example with one free-text field set to a marker. */
function writeBody(ctx: ScanContext, op: PlannedOperation): { body: unknown; mark: string | undefined } {
  const body = op.body;
  if (!isObj(body)) return { body: body ?? {}, mark: undefined };
  const schema = deref(ctx.spec.doc, requestSchema(op));
  const props = isObj(schema) && isObj(schema.properties) ? schema.properties : {};
  for (const [k, v] of Object.entries(body)) {
    if (typeof v !== 'string' || /(^id$|id$|_id$|e-?mail|url|uri|date|time)/i.test(k)) continue;
    const p = deref(ctx.spec.doc, props[k]);
    if (isObj(p) && (p.enum !== undefined || p.format !== undefined || p.pattern !== undefined)) continue;
    const maxLength = isObj(p) && typeof p.maxLength === 'number' ? p.maxLength : 64;
    const mark = marker('bola').slice(0, Math.max(8, maxLength));
    return { body: { ...body, [k]: mark }, mark };
  }
  return { body, mark: undefined };
}

async function readAs(ctx: ScanContext, r: Resource, id: string, as: Identity, purpose: string) {
  const request: ScanRequest = { method: 'GET', path: itemTarget(r, 'GET', id), as, purpose };
  return { request, response: await ctx.http.send(request) };
}

const keysOf = (json: unknown): Set<string> => new Set(Object.keys(objectOf(json) ?? {}));

/** Mostly the same keys (at least half of all keys in common): optional fields may be left out. */
function sameKeys(a: unknown, b: unknown): boolean {
  const ka = keysOf(a);
  const kb = keysOf(b);
  const common = [...ka].filter((k) => kb.has(k)).length;
  return common > 0 && common * 2 >= new Set([...ka, ...kb]).size;
}

/**
 * Does the answer carry object `id`, as A's own read of it does? Its parsed id field names the id
 * asked for and its keys are mostly those of A's read — an error page sent with 200 ({"success": false,
 * "code": 404, "timestamp": …}) does not, whatever digits it holds. When A's own read names no id,
 * the answer must be A's read itself (volatile parts aside).
 */
export function showsObject(
  res: ScanResponse | undefined,
  id: string,
  param: string,
  own: ScanResponse,
): boolean {
  if (!is2xx(res)) return false;
  if (idOf(own.json, param) === undefined) return sameData(res, own);
  return idOf(res.json, param) === id && sameKeys(res.json, own.json);
}

/** An id of the same form that names no object: a far-away number, or the same characters shuffled at random. */
export function missingId(id: string): string {
  if (/^\d{1,15}$/.test(id)) return String(Number(id) + 900_000_000 + randomInt(99_999_999));
  const hex = '0123456789abcdef';
  const pick = (set: string) => set[randomInt(set.length)] as string;
  return id.replace(/[0-9a-zA-Z]/g, (c) =>
    /\d/.test(c)
      ? pick('0123456789')
      : /[a-f]/.test(c)
        ? pick(hex)
        : /[A-F]/.test(c)
          ? pick(hex.toUpperCase())
          : /[a-z]/.test(c)
            ? pick('abcdefghijklmnopqrstuvwxyz')
            : pick('ABCDEFGHIJKLMNOPQRSTUVWXYZ'),
  );
}

/**
 * An id that does not exist, read as `as`, does not look like an object (nor like `shown`): else
 * the API answers every id alike and reading someone's id proves nothing.
 */
async function missingLooksEmpty(
  ctx: ScanContext,
  r: Resource,
  as: Identity,
  realId: string,
  shown: ScanResponse,
  own: ScanResponse,
): Promise<boolean> {
  const id = missingId(realId);
  const { response } = await readAs(
    ctx,
    r,
    id,
    as,
    'BOLA: an id that does not exist (what "not found" looks like)',
  );
  if (response === undefined) return false;
  return !showsObject(response, id, r.param, own) && !sameData(response, shown);
}

async function testRead(ctx: ScanContext, r: Resource, obj: Created, own: ScanResponse, b: Identity) {
  const get = r.items.get('GET');
  if (get === undefined) return;
  const { request, response } = await readAs(ctx, r, obj.id, b, "BOLA: B reads A's object");
  if (response === undefined || !showsObject(response, obj.id, r.param, own)) return;
  if (!(await missingLooksEmpty(ctx, r, b, obj.id, response, own))) return;
  ctx.report({
    rule: RULES.read,
    severity: RULES.read.severity,
    where: get.label,
    message: `identity B read an object identity A created (${response.status})`,
    evidence: [ctx.http.evidence(request, response, `B got ${response.status} for A's object`)],
  });
}

async function testWrite(ctx: ScanContext, r: Resource, obj: Created, a: Identity, b: Identity) {
  for (const method of ['PATCH', 'PUT']) {
    const op = r.items.get(method);
    if (op === undefined) continue;
    const { body, mark } = writeBody(ctx, op);
    const request: ScanRequest = {
      method,
      path: itemTarget(r, method, obj.id),
      headers: JSON_HEADERS,
      body: JSON.stringify(body),
      as: b,
      purpose: "BOLA: B changes A's object",
    };
    const response = await ctx.http.send(request);
    if (!is2xx(response)) continue;
    const evidence = [ctx.http.evidence(request, response, `B's ${method} answered ${response.status}`)];
    // Confirm through A's own read that the change landed, when the API lets A read it back.
    if (r.items.has('GET') && mark !== undefined) {
      const check = await readAs(ctx, r, obj.id, a, 'BOLA: A reads back the object B changed');
      if (!is2xx(check.response) || !check.response.body.includes(mark)) continue;
      evidence.push(ctx.http.evidence(check.request, check.response, "A's object now holds B's value"));
    }
    ctx.report({
      rule: RULES.write,
      severity: RULES.write.severity,
      where: op.label,
      message: `identity B changed an object identity A created (${method} ${response.status})`,
      evidence,
    });
  }
}

/** Returns true when the object is gone (B deleted it). */
async function testDelete(
  ctx: ScanContext,
  r: Resource,
  obj: Created,
  own: ScanResponse | undefined,
  a: Identity,
  b: Identity,
) {
  const op = r.items.get('DELETE');
  if (op === undefined) return false;
  const request: ScanRequest = {
    method: 'DELETE',
    path: itemTarget(r, 'DELETE', obj.id),
    as: b,
    purpose: "BOLA: B deletes A's object (one the scan created)",
  };
  const response = await ctx.http.send(request);
  if (!is2xx(response)) return false;
  const evidence = [ctx.http.evidence(request, response, `B's DELETE answered ${response.status}`)];
  if (r.items.has('GET')) {
    const check = await readAs(ctx, r, obj.id, a, 'BOLA: A checks whether its object still exists');
    const after = check.response;
    // Gone means 404/410 to its owner, or a 2xx that no longer shows the object it showed before
    // (a "not found" sent as 200); an error says nothing was deleted.
    const gone =
      after !== undefined &&
      (after.status === 404 ||
        after.status === 410 ||
        (is2xx(after) && is2xx(own) && !showsObject(after, obj.id, r.param, own)));
    if (!gone) return false;
    evidence.push(ctx.http.evidence(check.request, after, `A's object is gone (${after.status})`));
  }
  ctx.report({
    rule: RULES.delete,
    severity: RULES.delete.severity,
    where: op.label,
    message: `identity B deleted an object identity A created (${response.status})`,
    evidence,
  });
  return true;
}

const OWNER_KEYS = [
  'owner',
  'ownerId',
  'owner_id',
  'userId',
  'user_id',
  'createdBy',
  'created_by',
  'author',
  'authorId',
  'accountId',
  'account_id',
];

/** Both objects name the same owner (A's own objects created elsewhere in the scan are not others'). */
function sameOwner(mine: unknown, other: unknown): boolean {
  if (!isObj(mine) || !isObj(other)) return false;
  return OWNER_KEYS.some(
    (k) => mine[k] !== undefined && mine[k] !== null && JSON.stringify(mine[k]) === JSON.stringify(other[k]),
  );
}

/** Integer ids: A reads the ids around its own; objects it did not create answering 2xx → enumerable. */
async function testNeighbours(
  ctx: ScanContext,
  r: Resource,
  obj: Created,
  own: ScanResponse,
  a: Identity,
  mine: ReadonlySet<string>,
) {
  const get = r.items.get('GET');
  if (get === undefined || !/^\d{1,15}$/.test(obj.id)) return;
  const base = Number(obj.id);
  const seen: { id: string; status: number }[] = [];
  let firstShown: ScanResponse | undefined;
  const evidence = [];
  for (const d of [-1, 1, -2, 2, -3, 3]) {
    const id = String(base + d);
    if (base + d < 0 || mine.has(id)) continue;
    const { request, response } = await readAs(ctx, r, id, a, 'BOLA: A reads a neighbouring id');
    if (response === undefined || !showsObject(response, id, r.param, own)) continue;
    // Other checks of this scan create objects as A too: an object that names A's owner is A's.
    if (sameOwner(obj.response.json, response.json)) continue;
    seen.push({ id, status: response.status });
    firstShown ??= response;
    if (evidence.length < 2)
      evidence.push(ctx.http.evidence(request, response, `id ${id} (not A's) answered ${response.status}`));
  }
  if (seen.length === 0) return;
  const shown = firstShown;
  if (shown === undefined || !(await missingLooksEmpty(ctx, r, a, obj.id, shown, own))) return;
  ctx.report({
    rule: RULES.predictable,
    severity: RULES.predictable.severity,
    where: get.label,
    message: `ids are sequential (A created ${obj.id}) and ${seen.length} neighbouring object(s) A did not create were readable: ${seen.map((s) => s.id).join(', ')}`,
    evidence,
  });
}

async function testResource(ctx: ScanContext, r: Resource, a: Identity, b: Identity | undefined) {
  ctx.progress(`API1 ${r.create.label}`);
  const created: { id: string; as: Identity | undefined }[] = [];
  try {
    // B's object first: with sequential ids it is A's neighbour, an object A surely does not own.
    if (b !== undefined) {
      const theirs = await createObject(ctx, r, b, 'BOLA: B creates an object of its own');
      if (theirs !== undefined) created.push({ id: theirs.id, as: b });
    }
    const obj = await createObject(ctx, r, a, 'BOLA: A creates an object');
    if (obj === undefined) return;
    created.push({ id: obj.id, as: a });
    const mine = new Set(created.filter((c) => c.as === a).map((c) => c.id));
    // A's own read: what the object looks like to its owner, for both read tests.
    const own = r.items.has('GET')
      ? (await readAs(ctx, r, obj.id, a, 'BOLA: A reads its own object (baseline)')).response
      : undefined;
    const ownShows = own !== undefined && is2xx(own);
    if (ownShows) await testNeighbours(ctx, r, obj, own, a, mine);
    if (b === undefined) return;
    if (ownShows) await testRead(ctx, r, obj, own, b);
    await testWrite(ctx, r, obj, a, b);
    if (await testDelete(ctx, r, obj, own, a, b))
      created.splice(
        created.findIndex((c) => c.id === obj.id && c.as === a),
        1,
      );
  } finally {
    await cleanUp(ctx, r, created);
  }
}

export const api1Bola: Check = {
  id: 'api1-bola',
  category: 'API1',
  description:
    'Objects created by one identity read, changed or deleted by another; sequential ids enumerated.',
  rules: Object.values(RULES),
  async run(ctx) {
    const a = ctx.auth;
    // Without an identity there is no owner to compare with; the runner's notes say so.
    if (a === undefined) return;
    for (const r of findResources(ctx.operations)) {
      if (ctx.http.remaining <= 0) return;
      await testResource(ctx, r, a, ctx.authSecond);
    }
  },
};
