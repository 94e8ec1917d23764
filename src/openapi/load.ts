import { resolve } from 'node:path';
import $RefParser from '@apidevtools/json-schema-ref-parser';
import { validate as validateOpenApi } from '@readme/openapi-parser';
import { convertSwagger2 } from './swagger2.js';

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** An API description ready to compile: OpenAPI 3.0 or 3.1, with internal `$ref`s only. */
export interface LoadedSpec {
  /** Absolute path of the main document. */
  readonly file: string;
  readonly doc: Obj;
  readonly version: '3.0' | '3.1';
  /** The document was Swagger 2.0 and was converted. */
  readonly converted: boolean;
  /** Parts that were read with a caveat (conversion gaps, features not enforced). */
  readonly warnings: readonly string[];
}

/** The description cannot be used; each issue says why. Never carries request data. */
export class SpecError extends Error {
  readonly issues: readonly string[];
  constructor(file: string, issues: readonly string[]) {
    super(
      `${file}: ${issues.slice(0, 5).join('; ')}${issues.length > 5 ? ` (+${issues.length - 5} more)` : ''}`,
    );
    this.name = 'SpecError';
    this.issues = issues;
  }
}

/**
 * Reads an API description (JSON or YAML) and the local files its `$ref`s name, into one document
 * with internal references only. Remote (http) references are refused: start-up never goes to the
 * network, and a description is code the gateway trusts.
 */
export async function loadSpec(file: string): Promise<LoadedSpec> {
  const path = resolve(file);
  let doc: Obj;
  try {
    doc = (await $RefParser.bundle(path, {
      resolve: { http: false, external: true },
      dereference: { circular: true },
    })) as Obj;
  } catch (err) {
    const message = (err as Error).message.split('\n')[0] ?? 'unreadable';
    throw new SpecError(path, [`cannot read the description or a file it references: ${message}`]);
  }
  const warnings: string[] = [];
  const isSwagger2 = doc.swagger === '2.0';
  const openapi = typeof doc.openapi === 'string' ? doc.openapi : '';
  if (!isSwagger2 && !/^3\.[01]\.\d+$/.test(openapi))
    throw new SpecError(path, [
      `not an OpenAPI 3.0/3.1 or Swagger 2.0 document (openapi: "${openapi || String(doc.swagger ?? '')}")`,
    ]);
  const result = await validateOpenApi(structuredClone(doc) as never, {
    resolve: { external: false },
    validate: { errors: { colorize: false } },
  });
  if (!result.valid)
    throw new SpecError(
      path,
      result.errors.map((e) => e.message.split('\n')[0] ?? 'invalid'),
    );
  for (const w of result.warnings) warnings.push(w.message.split('\n')[0] ?? '');
  if (isSwagger2) {
    const converted = convertSwagger2(doc, warnings);
    return Object.freeze({ file: path, doc: converted, version: '3.0', converted: true, warnings });
  }
  return Object.freeze({
    file: path,
    doc,
    version: openapi.startsWith('3.1') ? '3.1' : '3.0',
    converted: false,
    warnings,
  });
}

/** Follows a local JSON pointer ("#/components/schemas/Pet") inside the document. */
export function resolvePointer(doc: Obj, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  if (ref === '#' || ref === '#/') return doc;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isObj(node)) node = node[key];
    else return undefined;
  }
  return node;
}

/** An object that may be a `$ref` (parameters, request bodies, responses): followed to its target. */
export function deref(doc: Obj, value: unknown, depth = 0): unknown {
  if (isObj(value) && typeof value.$ref === 'string' && depth < 32)
    return deref(doc, resolvePointer(doc, value.$ref), depth + 1);
  return value;
}
