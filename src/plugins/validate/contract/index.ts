import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { hasRequestBody, readBody } from '../../../core/body.js';
import { addResponseBodyCheck, type RequestContext, type ResponseHead } from '../../../core/context.js';
import { GatewayError, type Violation } from '../../../core/errors.js';
import { type JsonLimits, JsonScanError, JsonScanner, scanJson } from '../../../core/json-scan.js';
import { definePlugin, type InventoryOperation } from '../../../core/plugin.js';
import { isObj } from '../../../openapi/load.js';
import { routeCovers, routerPath } from '../../../openapi/operations.js';
import { parseQuery, readParams, UNSAFE_NAMES } from '../../../openapi/params.js';
import { violationsOf } from '../../../openapi/schemas.js';
import {
  type CompiledMedia,
  type CompiledOperation,
  compiledContract,
  declaredResponse,
  matchMedia,
  mediaKind,
  mediaTypeOf,
} from './compile.js';
import { findLeak } from './leaks.js';
import { createMasker } from './mask.js';
import { contractSchema } from './schema.js';

/** Answers are the upstream's: only strictness is checked, not size (maxResponseBytes bounds that). */
const ANSWER_LIMITS: JsonLimits = {
  maxDepth: 10000,
  maxKeys: Number.POSITIVE_INFINITY,
  maxTotalKeys: Number.POSITIVE_INFINITY,
  maxItems: Number.POSITIVE_INFINITY,
  maxStringBytes: Number.POSITIVE_INFINITY,
};

const ROUTER_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'] as const;

function scanError(err: JsonScanError): GatewayError {
  switch (err.reason) {
    case 'unsafe-key':
      return new GatewayError('JSON_UNSAFE_KEY');
    case 'depth':
    case 'keys':
    case 'items':
    case 'string':
      return new GatewayError('JSON_TOO_COMPLEX', { detail: `limit passed: ${err.reason}` });
    case 'duplicate-key':
      return new GatewayError('JSON_INVALID', { detail: 'a key is repeated in one object' });
    default:
      return new GatewayError('JSON_INVALID');
  }
}

export default definePlugin({
  name: 'contract',
  phase: 'validate',
  priority: 500,
  description:
    'Enforces an OpenAPI description: undeclared operations answer 404/405, parameters and bodies are validated (strict by default: no undeclared properties, no read-only ones), JSON is hardened before it is parsed; answers are checked, stripped of undeclared and sensitive data, and never leak stack traces.',
  schema: contractSchema,
  enabledByDefault: false,
  enforcing: true,
  optional: true,
  async create(config, { deps, route, configPath }) {
    if (config.spec === '') throw new Error('"spec" is required: the OpenAPI description to enforce');
    const res = config.response;
    const contract = await compiledContract(deps, config.spec, {
      strict: config.strict,
      limits: config.limits,
      validateResponses: res.validate !== 'off',
    });
    const strict = config.strict;
    const compiler = contract.compiler;
    const enforce = config.mode === 'enforce';
    // API keys the description puts in the query are credentials, not undeclared parameters.
    const components = isObj(contract.spec.doc.components) ? contract.spec.doc.components : {};
    const credentialParams = new Set(
      Object.values(isObj(components.securitySchemes) ? components.securitySchemes : {})
        .filter((s) => isObj(s) && s.type === 'apiKey' && s.in === 'query')
        .map((s) => String((s as { name: unknown }).name)),
    );
    const jsonLimits: JsonLimits = config.json;
    const logger = deps.logger;
    const basePath = config.basePath.replace(/\/+$/, '');

    // Only the operations this route can receive: each route's matcher stays small.
    const router = FindMyWay({ caseSensitive: true, maxParamLength: 1024 });
    let covered = 0;
    const inventory: InventoryOperation[] = [];
    const version = isObj(contract.spec.doc.info) ? String(contract.spec.doc.info.version ?? '') : '';
    for (const op of contract.operations) {
      const full = basePath + op.spec.path;
      if (route !== undefined) {
        if (!routeCovers(route.path, full)) continue;
        const methods = new Set(route.methods);
        if (methods.has('GET')) methods.add('HEAD');
        if (!methods.has(op.spec.method)) continue;
      }
      try {
        router.on(op.spec.method as HTTPMethod, routerPath(full), () => undefined, op);
      } catch (err) {
        throw new Error(`${op.spec.id}: ${(err as Error).message}`);
      }
      covered++;
      inventory.push({
        id: op.spec.id,
        method: op.spec.method,
        path: full,
        version,
        deprecated: op.spec.deprecated,
        security: [...new Set((op.spec.security ?? []).flatMap((r) => Object.keys(r)))],
      });
    }
    if (covered === 0)
      throw new Error(
        `route ${route?.id ?? ''} (${route?.path ?? ''}) serves no operation of ${config.spec}${basePath ? ` under basePath ${basePath}` : ''}: check the route path, its methods and basePath`,
      );

    const masker = res.mask.enabled
      ? createMasker({
          names: res.mask.names,
          patterns: res.mask.patterns,
          replacement: res.mask.replacement,
        })
      : undefined;
    const checksBody = res.validate !== 'off' || res.stripUndeclared || res.hideLeaks || masker !== undefined;

    function find(ctx: RequestContext): {
      op: CompiledOperation;
      params: Record<string, string | undefined>;
    } {
      let found = router.find(ctx.method as HTTPMethod, ctx.path);
      if (found === null && ctx.method === 'HEAD') found = router.find('GET', ctx.path);
      if (found !== null) return { op: found.store as CompiledOperation, params: found.params };
      const allowed = ROUTER_METHODS.filter(
        (m) => router.find(m, ctx.path) !== null || (m === 'HEAD' && router.find('GET', ctx.path) !== null),
      );
      if (allowed.length === 0) throw new GatewayError('ROUTE_NOT_FOUND');
      throw new GatewayError('METHOD_NOT_ALLOWED', { headers: { allow: allowed.join(', ') } });
    }

    async function readJson(ctx: RequestContext): Promise<unknown> {
      const scanner = new JsonScanner(jsonLimits);
      let body: Buffer;
      try {
        // Enforcing, the scanner stops the read at the first hostile byte. Monitoring, the whole
        // body is read first: it must reach the upstream intact whatever the verdict.
        if (enforce) body = await readBody(ctx, (chunk) => scanner.write(chunk));
        else {
          body = await readBody(ctx);
          scanner.write(body);
        }
        scanner.end();
      } catch (err) {
        if (err instanceof JsonScanError) throw scanError(err);
        throw err;
      }
      // The scanner has proved it is one well-formed UTF-8 JSON document within the limits.
      return JSON.parse(body.toString('utf8'));
    }

    async function readForm(ctx: RequestContext, violations: Violation[]): Promise<unknown> {
      const body = await readBody(ctx);
      const pairs = parseQuery(body.toString('latin1'));
      if (pairs === undefined) {
        violations.push({ pointer: '/body', detail: 'is not valid form encoding' });
        return undefined;
      }
      const out = Object.create(null) as Record<string, string | string[]>;
      for (const [k, list] of pairs) {
        if (UNSAFE_NAMES.has(k)) {
          violations.push({ pointer: '/body', detail: 'has a forbidden field name' });
          return undefined;
        }
        out[k] = list.length === 1 ? (list[0] as string) : list;
      }
      return out;
    }

    async function checkBody(
      ctx: RequestContext,
      op: CompiledOperation,
      violations: Violation[],
    ): Promise<void> {
      const declared = op.body;
      const present = hasRequestBody(ctx);
      if (declared === undefined) {
        if (present && strict)
          violations.push({ pointer: '/body', detail: 'this operation takes no request body' });
        return;
      }
      if (!present) {
        if (op.spec.body?.required) violations.push({ pointer: '/body', detail: 'is required' });
        return;
      }
      const contentType = ctx.req.headers['content-type'];
      const media = mediaTypeOf(contentType);
      const entry: CompiledMedia | undefined = media === '' ? undefined : matchMedia(declared, media);
      if (entry === undefined) {
        throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', {
          headers: { 'accept-post': [...declared.keys()].join(', ') },
        });
      }
      // What arrived decides how it is read: a wildcard entry ("*/*") still gets its JSON checked.
      const kind = entry.wildcard !== undefined ? mediaKind(media) : entry.kind;
      const validate =
        entry.wildcard === undefined
          ? entry.validate
          : kind === 'json'
            ? entry.wildcard.json
            : entry.wildcard.form;
      const encoding = ctx.req.headers['content-encoding'];
      if (kind !== 'other' && encoding !== undefined && encoding.trim().toLowerCase() !== 'identity')
        // The contract must judge the bytes the upstream will read: a compressed body would pass
        // unchecked (or be refused as bad JSON for the wrong reason).
        throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', {
          detail: 'Request bodies are sent without Content-Encoding.',
        });
      if (kind === 'json') {
        const charset = /;\s*charset=([^;\s]+)/i.exec(contentType ?? '')?.[1]?.toLowerCase();
        if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8' && charset !== '"utf-8"')
          throw new GatewayError('UNSUPPORTED_MEDIA_TYPE', { detail: 'JSON is sent in UTF-8' });
        const value = await readJson(ctx);
        ctx.parsedBody = { mediaType: media, value };
        if (validate !== undefined && !validate(value))
          violations.push(...violationsOf(validate.errors, '/body', 'request'));
      } else if (kind === 'form') {
        const raw = await readForm(ctx, violations);
        if (raw === undefined) return;
        const value = entry.schema === undefined ? raw : compiler.coerce(raw, entry.schema);
        ctx.parsedBody = { mediaType: media, value };
        if (validate !== undefined && !validate(value))
          violations.push(...violationsOf(validate.errors, '/body', 'request'));
      }
    }

    function checkStatus(ctx: RequestContext, head: ResponseHead, op: CompiledOperation): void {
      const status = head.status;
      if (status >= 500 || status === 304) return;
      if (declaredResponse(op.responses, status) !== undefined) return;
      logger.warn({ reqId: ctx.id, operation: op.spec.id, status }, 'contract: undeclared response status');
      throw new GatewayError('RESPONSE_CONTRACT', {
        detail: 'The upstream answered with an undeclared status.',
      });
    }

    function checkAnswer(
      ctx: RequestContext,
      head: ResponseHead,
      body: Buffer,
      op: CompiledOperation,
    ): Buffer {
      const contentType = head.headers['content-type'];
      const ct = typeof contentType === 'string' ? contentType : undefined;
      const encoding = head.headers['content-encoding'];
      if (encoding !== undefined && String(encoding).trim().toLowerCase() !== 'identity') {
        // Asked for an unencoded answer, the upstream compressed it anyway: it cannot be checked,
        // stripped or masked, so it is not sent (fail closed).
        logger.warn({ reqId: ctx.id, operation: op.spec.id }, 'contract: encoded upstream answer withheld');
        throw new GatewayError('RESPONSE_CONTRACT', {
          detail: 'The upstream answer is encoded and cannot be checked.',
        });
      }
      const media = mediaTypeOf(ct);
      const isJson = media === 'application/json' || media.endsWith('+json');
      if (res.hideLeaks) {
        const leak = findLeak(body, ct);
        // A successful JSON answer may quote an error message as data (a product named after
        // one): there only real stack frames count, so stored text cannot take an endpoint down.
        if (leak !== undefined && (leak === 'stack-trace' || head.status >= 300 || !isJson)) {
          logger.warn(
            { reqId: ctx.id, operation: op.spec.id, status: head.status, leak },
            'contract: upstream leak hidden',
          );
          throw new GatewayError('UPSTREAM_ERROR', { status: head.status >= 400 ? head.status : 502 });
        }
      }
      if (body.length === 0) return body;
      const declared = declaredResponse(op.responses, head.status);
      const entry = declared === undefined || media === '' ? undefined : matchMedia(declared, media);
      if (
        entry === undefined &&
        declared !== undefined &&
        declared.size > 0 &&
        res.undeclaredStatus === 'refuse'
      ) {
        // The description says what this status carries; anything else (HTML from a framework,
        // JSON under another name) would pass unstripped and unmasked.
        logger.warn(
          { reqId: ctx.id, operation: op.spec.id, status: head.status, media },
          'contract: undeclared response media type',
        );
        throw new GatewayError('RESPONSE_CONTRACT', {
          detail: 'The upstream answered with an undeclared media type.',
        });
      }
      if (!isJson) return body;
      const guarded = res.stripUndeclared || masker !== undefined || res.validate === 'enforce';
      let value: unknown;
      try {
        value = JSON.parse(body.toString('utf8'));
      } catch {
        logger.warn(
          { reqId: ctx.id, operation: op.spec.id },
          'contract: upstream JSON answer does not parse',
        );
        // What does not parse cannot be stripped or masked: it is not sent.
        if (guarded)
          throw new GatewayError('RESPONSE_CONTRACT', { detail: 'The upstream answer is not valid JSON.' });
        return body;
      }
      let changed = 0;
      if (res.stripUndeclared && entry?.schema !== undefined) changed += compiler.strip(value, entry.schema);
      if (entry?.validate !== undefined && !entry.validate(value)) {
        const violations = violationsOf(entry.validate.errors, '', 'response');
        logger.warn(
          { reqId: ctx.id, operation: op.spec.id, status: head.status, violations, mode: res.validate },
          'contract: answer does not match the response schema',
        );
        if (res.validate === 'enforce')
          throw new GatewayError('RESPONSE_CONTRACT', {
            detail: 'The upstream answer does not match its schema.',
          });
      }
      if (masker !== undefined) {
        const masked = masker.mask(value);
        value = masked.value;
        changed += masked.masked;
        if (changed === 0) {
          // Sent as it came, the bytes must say what was checked: with a repeated key the parse
          // kept one copy and the client may read the other, unmasked.
          try {
            scanJson(body, ANSWER_LIMITS);
          } catch {
            logger.warn(
              { reqId: ctx.id, operation: op.spec.id },
              'contract: upstream JSON answer repeats a key',
            );
            throw new GatewayError('RESPONSE_CONTRACT', {
              detail: 'The upstream answer is not strict JSON.',
            });
          }
        }
      }
      return changed === 0 ? body : Buffer.from(JSON.stringify(value));
    }

    logger.debug({ configPath, operations: covered }, 'contract: operations enforced');
    return {
      inventory,
      warnings: contract.warnings.map((w) => `${config.spec}: ${w}`),
      summary: `${strict ? 'strict' : 'lenient'}; responses: validate ${res.validate}${res.stripUndeclared ? ', strip' : ''}${masker ? ', mask' : ''}`,
      onRequest: async function enforceContract(ctx: RequestContext): Promise<void> {
        // A CORS preflight is answered by the cors stage, never forwarded: nothing to check.
        if (ctx.preflight) return;
        const { op, params: pathParams } = find(ctx);
        // The answer's checks go on first: in monitor mode a request that breaks the contract
        // still reaches the upstream, and its answer must be guarded all the same.
        if (res.undeclaredStatus === 'refuse')
          ctx.responseHeadCheck = (c: RequestContext, head: ResponseHead) => checkStatus(c, head, op);
        if (checksBody) addResponseBodyCheck(ctx, (c, head, body) => checkAnswer(c, head, body, op));
        const violations: Violation[] = [];
        if (strict && ctx.query.includes(';'))
          // Some servers split the query on ";" too: a parameter hidden behind one would reach
          // the upstream unchecked.
          violations.push({ pointer: '/query', detail: 'has an unencoded ";" (send it as %3B)' });
        if (op.params !== undefined || strict) {
          const query = parseQuery(ctx.query);
          if (query === undefined)
            violations.push({
              pointer: '/query',
              detail: 'is not valid URL encoding or has too many parameters',
            });
          else {
            const values = readParams(
              op.spec.params,
              pathParams,
              query,
              ctx.req.headers,
              strict,
              violations,
              credentialParams,
            );
            for (const p of op.spec.params) {
              const loc = values[p.in];
              const v = loc[p.name];
              if (v !== undefined) loc[p.name] = compiler.coerce(v, p.schema);
            }
            if (op.params !== undefined && !op.params(values))
              violations.push(...violationsOf(op.params.errors, '', 'params'));
          }
        }
        await checkBody(ctx, op, violations);
        if (violations.length > 0) throw new GatewayError('REQUEST_INVALID', { violations });
      },
    };
  },
});
