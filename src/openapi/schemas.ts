import type { ErrorObject, ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Violation } from '../core/errors.js';
import { guardedRegExp } from '../core/linear-regexp.js';
import { isObj, type Obj, resolvePointer, SpecError } from './load.js';

// ajv-formats ships CJS with a default export; under NodeNext it arrives as the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

/**
 * request: bodies (strict closure, read-only properties refused, default limits);
 * params: parameters (the same, values coerced from strings as OpenAPI serializes them);
 * response: answers (write-only properties refused; no closure: extra properties are stripped).
 */
export type Variant = 'request' | 'params' | 'response';

export interface DefaultLimits {
  readonly maxStringLength: number;
  readonly maxItems: number;
  readonly maxProperties: number;
}

export interface SchemaOptions {
  readonly version: '3.0' | '3.1';
  /** Objects with declared properties refuse undeclared ones (requests only). */
  readonly strict: boolean;
  /** Limits added where the description sets none (requests only); undefined adds none. */
  readonly limits: DefaultLimits | undefined;
}

const BASE = 'https://schemas.portcullis.invalid/';
const DROPPED = new Set([
  'example',
  'examples',
  'xml',
  'externalDocs',
  'deprecated',
  'description',
  'title',
  'readOnly',
  'writeOnly',
  'nullable',
  'discriminator',
  '$schema',
  '$id',
  '$comment',
  'default',
]);
/** Keywords whose value is one schema in a value position (the value of a property or an item). */
const VALUE_SCHEMA = new Set([
  'additionalProperties',
  'items',
  'unevaluatedItems',
  'additionalItems',
  'contains',
]);
/** Keywords whose value is one schema that is not a value of its own. */
const SUB_SCHEMA = new Set(['not', 'if', 'then', 'else', 'propertyNames', 'unevaluatedProperties']);
const SCHEMA_LIST = new Set(['allOf', 'anyOf', 'oneOf']);
const SCHEMA_MAP = new Set(['patternProperties', 'dependentSchemas', '$defs', 'definitions']);

function typesOf(s: Obj): readonly string[] | undefined {
  if (typeof s.type === 'string') return [s.type];
  if (Array.isArray(s.type)) return s.type as string[];
  return undefined;
}

const escapePointer = (s: string): string => s.replaceAll('~', '~0').replaceAll('/', '~1');

/**
 * Turns the schemas of one API description into ajv validators. Every `$ref` target becomes its own
 * ajv resource (compiled once however many operations use it; recursion works), transformed per
 * variant. The description's own objects are never changed.
 */
export class SchemaCompiler {
  readonly #doc: Obj;
  readonly #options: SchemaOptions;
  readonly #ajv = new Map<Variant, Ajv2020>();
  readonly #ids = new Map<string, string>();
  readonly #views = new WeakMap<object, ObjectView>();
  readonly #compiled = new Map<string, ValidateFunction>();
  readonly #targets = new Map<string, unknown>();
  readonly warnings: string[] = [];
  #next = 0;

  constructor(doc: Obj, options: SchemaOptions) {
    this.#doc = doc;
    this.#options = options;
  }

  #ajvFor(v: Variant): Ajv2020 {
    let ajv = this.#ajv.get(v);
    if (ajv === undefined) {
      ajv = new Ajv2020({
        // Requests list every violation; an answer is judged (and logged) by its first one.
        allErrors: v !== 'response',
        strict: false,
        // Parameters are converted by coerce() below, exactly: ajv's coercion reads "1e3", "0x10"
        // and "Infinity" as numbers, which the upstream's parser may read otherwise.
        coerceTypes: false,
        strictNumbers: true,
        useDefaults: false,
        validateSchema: false,
        addUsedSchema: false,
        unicodeRegExp: false,
        // Description patterns run on client data: catastrophic shapes run in linear time or are refused.
        code: { regExp: guardedRegExp },
        logger: false,
        messages: true,
        // Shared components compile once as their own functions instead of once per operation.
        inlineRefs: false,
      });
      addFormats(ajv);
      // OpenAPI's own formats: ranges are checked, the rest only name a representation.
      ajv.addFormat('int32', {
        type: 'number',
        validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
      });
      ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
      ajv.addFormat('float', { type: 'number', validate: () => true });
      ajv.addFormat('double', { type: 'number', validate: () => true });
      ajv.addFormat('byte', { type: 'string', validate: isBase64 });
      ajv.addFormat('binary', true);
      ajv.addFormat('password', true);
      this.#ajv.set(v, ajv);
    }
    return ajv;
  }

  /** Compiles one schema of the description (a body, a parameter object, a response). */
  compile(schema: unknown, v: Variant, where: string): ValidateFunction {
    const transformed = this.#tx(schema, v, true, 0);
    // Operations often share a schema ({$ref: Pet}): one validator serves them all.
    const key = `${v}\u0000${JSON.stringify(transformed)}`;
    const known = this.#compiled.get(key);
    if (known !== undefined) return known;
    try {
      const validate = this.#ajvFor(v).compile(isObj(transformed) ? transformed : { allOf: [transformed] });
      this.#compiled.set(key, validate);
      return validate;
    } catch (err) {
      throw new SpecError(where, [
        `${where}: schema cannot be compiled: ${(err as Error).message.split('\n')[0]}`,
      ]);
    }
  }

  /** Transforms a schema built by the caller (the parameters object) whose leaves are description schemas. */
  compileObject(
    properties: Record<string, unknown>,
    required: readonly string[],
    closed: boolean,
    v: Variant,
    where: string,
  ): ValidateFunction {
    const props: Obj = {};
    for (const [k, s] of Object.entries(properties)) props[k] = s;
    const schema: Obj = { type: 'object', properties: props };
    if (required.length) schema.required = [...required];
    if (closed) schema.additionalProperties = false;
    return this.compile(schema, v, where);
  }

  #resolve(node: unknown, depth = 0): unknown {
    if (isObj(node) && typeof node.$ref === 'string' && depth < 32) {
      // Stripping answers resolves on every request: each pointer is followed once.
      let target = this.#targets.get(node.$ref);
      if (target === undefined && !this.#targets.has(node.$ref)) {
        target = resolvePointer(this.#doc, node.$ref);
        this.#targets.set(node.$ref, target);
      }
      return this.#resolve(target, depth + 1);
    }
    return node;
  }

  #refId(ref: string, v: Variant): string {
    const key = `${v}\u0000${ref}`;
    let id = this.#ids.get(key);
    if (id !== undefined) return id;
    const target = resolvePointer(this.#doc, ref);
    if (target === undefined) throw new SpecError(ref, [`unresolvable $ref "${ref}"`]);
    id = `${BASE}${v}/${this.#next++}`;
    this.#ids.set(key, id);
    const transformed = this.#tx(target, v, false, 0);
    this.#ajvFor(v).addSchema(
      isObj(transformed) ? { ...transformed, $id: id } : { $id: id, allOf: [transformed] },
      id,
    );
    return id;
  }

  /** readOnly in requests, writeOnly in responses: such a property may not be present at all. */
  #hidden(prop: unknown, v: Variant, depth = 0): boolean {
    const flag = v === 'response' ? 'writeOnly' : 'readOnly';
    if (isObj(prop) && prop[flag] === true) return true;
    const target = this.#resolve(prop);
    if (!isObj(target)) return false;
    if (target[flag] === true) return true;
    // OpenAPI 3.0 annotates a $ref by wrapping it: {allOf: [{$ref: Id}], readOnly: true} or the flag inside.
    return (
      depth < 8 && Array.isArray(target.allOf) && target.allOf.some((m) => this.#hidden(m, v, depth + 1))
    );
  }

  /** Names of the hidden properties an allOf composes, across its members (for their `required`). */
  #hiddenNames(node: Obj, v: Variant, depth = 0): Set<string> {
    const out = new Set<string>();
    const visit = (n: unknown, d: number): void => {
      const r = this.#resolve(n);
      if (!isObj(r) || d > 8) return;
      if (isObj(r.properties))
        for (const [name, p] of Object.entries(r.properties)) if (this.#hidden(p, v)) out.add(name);
      if (Array.isArray(r.allOf)) for (const m of r.allOf) visit(m, d + 1);
    };
    visit(node, depth);
    return out;
  }

  /** Would an object here have properties the description never declared closed off? */
  #needsClosure(node: Obj): boolean {
    const target = this.#resolve(node);
    if (!isObj(target)) return false;
    if (
      'additionalProperties' in target ||
      'unevaluatedProperties' in target ||
      'patternProperties' in target
    )
      return false;
    const types = typesOf(target);
    if (types !== undefined && !types.includes('object')) return false;
    // An object with nothing declared is free-form by design.
    return 'properties' in target || 'allOf' in target || 'oneOf' in target || 'anyOf' in target;
  }

  #tx(node: unknown, v: Variant, valuePos: boolean, depth: number, inherited?: ReadonlySet<string>): unknown {
    if (typeof node === 'boolean') return node;
    if (!isObj(node) || depth > 64) return {};
    const { version, strict, limits } = this.#options;
    const out: Obj = {};
    const hasRef = typeof node.$ref === 'string';
    if (hasRef) {
      out.$ref = this.#refId(node.$ref as string, v);
      if (version === '3.0') {
        // OpenAPI 3.0: keywords beside $ref are ignored.
        if (valuePos && strict && v !== 'response' && this.#needsClosure(node))
          out.unevaluatedProperties = false;
        return out;
      }
    }
    const hidden = new Set<string>(inherited);
    // A property made read-only in one allOf member may be required by another: no member may
    // require what a request may not send.
    const composed = Array.isArray(node.allOf) ? this.#hiddenNames(node, v) : undefined;
    if (composed !== undefined) for (const n of composed) hidden.add(n);
    for (const [k, val] of Object.entries(node)) {
      if (k === '$ref' || DROPPED.has(k) || k.startsWith('x-')) continue;
      if (k === 'properties' && isObj(val)) {
        const props: Obj = {};
        for (const [name, p] of Object.entries(val)) {
          if (this.#hidden(p, v)) {
            hidden.add(name);
            props[name] = false;
          } else props[name] = this.#tx(p, v, true, depth + 1);
        }
        out.properties = props;
      } else if (k === 'items' && Array.isArray(val)) {
        out.prefixItems = val.map((s) => this.#tx(s, v, true, depth + 1));
      } else if (VALUE_SCHEMA.has(k)) {
        out[k] = typeof val === 'boolean' ? val : this.#tx(val, v, true, depth + 1);
      } else if (k === 'prefixItems' && Array.isArray(val)) {
        out[k] = val.map((s) => this.#tx(s, v, true, depth + 1));
      } else if (SUB_SCHEMA.has(k)) {
        out[k] = this.#tx(val, v, false, depth + 1);
      } else if (SCHEMA_LIST.has(k) && Array.isArray(val)) {
        out[k] = val.map((s) => this.#tx(s, v, false, depth + 1, k === 'allOf' ? composed : undefined));
      } else if (SCHEMA_MAP.has(k) && isObj(val)) {
        const m: Obj = {};
        for (const [name, s] of Object.entries(val))
          m[name] = this.#tx(s, v, k === 'patternProperties', depth + 1);
        out[k] = m;
      } else out[k] = val;
    }
    if (hidden.size && Array.isArray(out.required))
      out.required = (out.required as string[]).filter((r) => !hidden.has(r));
    if (version === '3.0') fix30(node, out);
    if (isObj(node.discriminator)) this.#discriminator(node, out, v, depth);
    if (limits !== undefined && v !== 'response') {
      const types = typesOf(out);
      if (types !== undefined) {
        if (
          types.includes('string') &&
          out.maxLength === undefined &&
          out.enum === undefined &&
          out.const === undefined
        )
          out.maxLength = limits.maxStringLength;
        if (types.includes('array') && out.maxItems === undefined) out.maxItems = limits.maxItems;
        if (types.includes('object') && out.maxProperties === undefined)
          out.maxProperties = limits.maxProperties;
      }
    }
    if (
      valuePos &&
      strict &&
      v !== 'response' &&
      out.unevaluatedProperties === undefined &&
      this.#needsClosure(node)
    )
      out.unevaluatedProperties = false;
    return out;
  }

  /**
   * A discriminator picks the branch by the tag's value (ajv's own support refuses common shapes):
   * the tag must be one of the mapped values, and the branch of that value applies.
   */
  #discriminator(node: Obj, out: Obj, v: Variant, depth: number): void {
    const d = node.discriminator as Obj;
    const prop = typeof d.propertyName === 'string' ? d.propertyName : undefined;
    const branches = (
      Array.isArray(node.oneOf) ? node.oneOf : Array.isArray(node.anyOf) ? node.anyOf : undefined
    ) as unknown[] | undefined;
    if (prop === undefined || branches === undefined) {
      this.warnings.push(
        'a discriminator without oneOf/anyOf (inheritance through allOf) is not used to pick a subtype; the schemas apply as written',
      );
      return;
    }
    const mapping = new Map<string, string>();
    if (isObj(d.mapping))
      for (const [value, target] of Object.entries(d.mapping))
        if (typeof target === 'string')
          mapping.set(value, target.startsWith('#') ? target : `#/components/schemas/${target}`);
    for (const b of branches) {
      if (!isObj(b) || typeof b.$ref !== 'string') continue;
      const ref = b.$ref;
      if ([...mapping.values()].includes(ref)) continue;
      mapping.set(ref.slice(ref.lastIndexOf('/') + 1), ref);
    }
    if (mapping.size === 0) return;
    delete out.oneOf;
    delete out.anyOf;
    const allOf = Array.isArray(out.allOf) ? [...(out.allOf as unknown[])] : [];
    allOf.push({ required: [prop], properties: { [prop]: { enum: [...mapping.keys()] } } });
    for (const [value, ref] of mapping)
      allOf.push({
        if: { properties: { [prop]: { const: value } }, required: [prop] },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, never awaited
        then: this.#tx({ $ref: ref }, v, false, depth + 1),
      });
    out.allOf = allOf;
  }

  /**
   * Turns parameter and form strings into the JSON types their schema names, exactly: integers only
   * from canonical decimals within the safe range, numbers only from the JSON number grammar and
   * finite, booleans from "true"/"false". Anything else stays a string, so the type check refuses it.
   */
  coerce(value: unknown, schema: unknown, depth = 0): unknown {
    if (depth > 32) return value;
    const s = this.#resolve(schema);
    if (!isObj(s)) return value;
    if (typeof value === 'string') {
      const types = this.#typesDeep(s, 0);
      if (types.has('integer') && isDecimalInteger(value)) {
        const n = Number(value);
        if (Number.isSafeInteger(n)) return n;
      }
      if (types.has('number') && isJsonNumber(value)) {
        const n = Number(value);
        if (Number.isFinite(n)) return n;
      }
      if (types.has('boolean') && (value === 'true' || value === 'false')) return value === 'true';
      return value;
    }
    if (Array.isArray(value)) {
      const items = this.#member(s, 'items');
      return items === undefined ? value : value.map((v) => this.coerce(v, items, depth + 1));
    }
    if (isObj(value)) {
      const out: Obj = Object.create(null);
      for (const [k, v] of Object.entries(value)) {
        const props = this.#member(s, 'properties');
        const prop = isObj(props) ? props[k] : undefined;
        const extra = this.#member(s, 'additionalProperties');
        out[k] = this.coerce(v, prop ?? (isObj(extra) ? extra : undefined), depth + 1);
      }
      return out;
    }
    return value;
  }

  /** The types a schema admits, looking through composition (a union: coercion only tries). */
  #typesDeep(s: Obj, depth: number): Set<string> {
    const out = new Set<string>(typesOf(s) ?? []);
    if (depth < 8)
      for (const k of ['allOf', 'anyOf', 'oneOf'])
        if (Array.isArray(s[k]))
          for (const sub of s[k] as unknown[]) {
            const r = this.#resolve(sub);
            if (isObj(r)) for (const t of this.#typesDeep(r, depth + 1)) out.add(t);
          }
    return out;
  }

  /** A keyword's value on the schema or, failing that, on a composition member. */
  #member(s: Obj, key: string, depth = 0): unknown {
    if (s[key] !== undefined) return s[key];
    if (depth < 8)
      for (const k of ['allOf', 'anyOf', 'oneOf'])
        if (Array.isArray(s[k]))
          for (const sub of s[k] as unknown[]) {
            const r = this.#resolve(sub);
            const found = isObj(r) ? this.#member(r, key, depth + 1) : undefined;
            if (found !== undefined) return found;
          }
    return undefined;
  }

  /**
   * Removes from a JSON answer every property its schema does not declare (excessive data
   * exposure), and write-only ones. Objects the description leaves open (additionalProperties
   * true or a schema, or nothing declared at all) keep their extra members. Returns how many
   * properties were removed.
   */
  strip(value: unknown, schema: unknown, depth = 0): number {
    if (depth > 64) return 0;
    const s = this.#resolve(schema);
    if (!isObj(s)) return 0;
    const view = this.#view(s);
    let removed = 0;
    if (Array.isArray(value)) {
      if (view.items !== undefined)
        for (const item of value) removed += this.strip(item, view.items, depth + 1);
      return removed;
    }
    if (!isObj(value)) return 0;
    for (const key of Object.keys(value)) {
      const p = view.props.get(key);
      if (p === undefined) {
        if (view.open) {
          if (view.additional !== undefined) removed += this.strip(value[key], view.additional, depth + 1);
          continue;
        }
        delete value[key];
        removed++;
      } else if (p === false) {
        delete value[key];
        removed++;
      } else removed += this.strip(value[key], p, depth + 1);
    }
    return removed;
  }

  /** What an object schema declares, across allOf/oneOf/anyOf (a union: stripping must not guess the branch). */
  #view(s: Obj): ObjectView {
    let view = this.#views.get(s);
    if (view !== undefined) return view;
    const props = new Map<string, unknown>();
    let declared = false;
    let open = false;
    let additional: unknown;
    let items: unknown;
    const visit = (node: unknown, depth: number): void => {
      const n = this.#resolve(node);
      if (!isObj(n) || depth > 16) return;
      if (isObj(n.properties)) {
        declared = true;
        for (const [k, p] of Object.entries(n.properties)) {
          if (this.#hidden(p, 'response')) {
            if (!props.has(k)) props.set(k, false);
          } else if (props.get(k) === undefined || props.get(k) === false) props.set(k, p);
        }
      }
      if (n.additionalProperties === true || isObj(n.additionalProperties)) {
        open = true;
        if (isObj(n.additionalProperties)) additional = n.additionalProperties;
      }
      if (isObj(n.patternProperties)) open = true;
      if (items === undefined && n.items !== undefined && !Array.isArray(n.items)) items = n.items;
      for (const k of ['allOf', 'oneOf', 'anyOf'])
        if (Array.isArray(n[k])) {
          declared = true;
          for (const sub of n[k] as unknown[]) visit(sub, depth + 1);
        }
    };
    visit(s, 0);
    view = { props, open: open || !declared, additional, items };
    this.#views.set(s, view);
    return view;
  }
}

interface ObjectView {
  /** Declared properties; false marks a write-only one (never sent to clients). */
  readonly props: Map<string, unknown>;
  readonly open: boolean;
  readonly additional: unknown;
  readonly items: unknown;
}

/** OpenAPI 3.0's dialect → JSON Schema 2020-12: nullable, boolean exclusive bounds. */
function fix30(node: Obj, out: Obj): void {
  if (node.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  }
  for (const [flag, bound] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    if (out[flag] === true && typeof out[bound] === 'number') {
      out[flag] = out[bound];
      delete out[bound];
    } else if (typeof out[flag] === 'boolean') delete out[flag];
  }
}

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/** "-?(0|[1-9][0-9]*)", checked by hand. */
function isDecimalInteger(s: string): boolean {
  let i = s.charCodeAt(0) === 45 ? 1 : 0;
  if (i >= s.length) return false;
  if (s.charCodeAt(i) === 48) return i + 1 === s.length;
  for (; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

/** The JSON number grammar (RFC 8259 §6), checked by hand. */
function isJsonNumber(s: string): boolean {
  let i = 0;
  const n = s.length;
  if (s.charCodeAt(i) === 45) i++;
  if (i >= n) return false;
  if (s.charCodeAt(i) === 48) i++;
  else if (isDigit(s.charCodeAt(i))) while (i < n && isDigit(s.charCodeAt(i))) i++;
  else return false;
  if (i < n && s.charCodeAt(i) === 46) {
    i++;
    if (i >= n || !isDigit(s.charCodeAt(i))) return false;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
  }
  if (i < n && (s.charCodeAt(i) === 101 || s.charCodeAt(i) === 69)) {
    i++;
    if (i < n && (s.charCodeAt(i) === 43 || s.charCodeAt(i) === 45)) i++;
    if (i >= n || !isDigit(s.charCodeAt(i))) return false;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
  }
  return i === n;
}

/** RFC 4648 base64 with padding, checked by hand (linear, no regex on client input). */
function isBase64(s: string): boolean {
  if (s.length % 4 !== 0) return false;
  let pad = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 61) {
      pad++;
      if (i < s.length - 2) return false;
      continue;
    }
    if (pad > 0) return false;
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
    if (!ok) return false;
  }
  return pad <= 2;
}

const MAX_VIOLATIONS = 20;
const MAX_DETAIL = 160;
const MAX_NAME = 64;

/** Ajv's errors as violations: a pointer and a reason each, deduplicated, never the value. */
export function violationsOf(
  errors: readonly ErrorObject[] | null | undefined,
  prefix: string,
  v: Variant,
): Violation[] {
  const out: Violation[] = [];
  const seen = new Set<string>();
  for (const e of errors ?? []) {
    let pointer = prefix + e.instancePath;
    let detail: string;
    switch (e.keyword) {
      case 'additionalProperties':
      case 'unevaluatedProperties': {
        const name = String(e.params.additionalProperty ?? e.params.unevaluatedProperty ?? '');
        pointer += `/${escapePointer(name.slice(0, MAX_NAME))}`;
        detail = 'is not declared in the API description';
        break;
      }
      case 'required':
        pointer += `/${escapePointer(String(e.params.missingProperty ?? '').slice(0, MAX_NAME))}`;
        detail = 'is required';
        break;
      case 'false schema':
        detail = v === 'response' ? 'is write-only' : 'is read-only and may not be sent';
        break;
      case 'if':
      case 'oneOf':
      case 'anyOf':
        // The branch's own errors say more; these summary lines only repeat them.
        if ((errors?.length ?? 0) > 1) continue;
        detail = e.message ?? 'is invalid';
        break;
      default:
        detail = (e.message ?? 'is invalid').slice(0, MAX_DETAIL);
    }
    const key = `${pointer}\u0000${detail}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ pointer, detail });
    if (out.length === MAX_VIOLATIONS) break;
  }
  return out;
}
