import { Type } from '@sinclair/typebox';
import { hasRequestBody, readBody } from '../../../core/body.js';
import type { RequestContext } from '../../../core/context.js';
import { GatewayError } from '../../../core/errors.js';
import { definePlugin } from '../../../core/plugin.js';
import { CleanMemo, type Exclusion, inspect } from '../../../detect/engine.js';
import { DEFAULT_SKIP_HEADERS, extractInputs, type InputOptions, requestOf } from '../../../detect/inputs.js';
import type { Location, Paranoia } from '../../../detect/types.js';

const LOCATIONS: readonly Location[] = [
  'path',
  'query-name',
  'query',
  'header',
  'cookie-name',
  'cookie',
  'body',
  'body-name',
  'json-key',
  'json',
  'multipart-name',
  'multipart',
  'filename',
  'xml',
];

export const attackDetectionSchema = Type.Object(
  {
    paranoia: Type.Union([Type.Literal(1), Type.Literal(2), Type.Literal(3)], {
      description:
        'How suspicious a value must look: 1 only unmistakable attacks, 2 (default) likely attacks too, 3 also what is merely suspicious (more false positives).',
      default: 2,
    }),
    threshold: Type.Integer({
      minimum: 1,
      description:
        'Anomaly score at which a request is blocked: each match adds its score (5 critical, 3 likely, 2 suspicious), so 5 blocks on one critical match. Raise it for a route that carries rich text (lower sensitivity); lower it where nothing free-form is expected.',
      default: 5,
    }),
    exclusions: Type.Array(
      Type.Object(
        {
          rule: Type.String({
            minLength: 1,
            description: 'A rule id ("sqli-tautology"), a family ("xss"), or "*" for every rule.',
          }),
          location: Type.Optional(
            Type.Union(
              LOCATIONS.map((l) => Type.Literal(l)),
              { description: 'Only values found here; all locations if absent.' },
            ),
          ),
          name: Type.Optional(
            Type.String({
              description:
                'Only the value of this parameter, header, cookie or JSON path ("$.article.body"); all if absent.',
            }),
          ),
        },
        { additionalProperties: false },
      ),
      {
        description:
          'Rules switched off for some values, e.g. { rule: xss, location: json, name: $.post.html } for a rich-text field.',
        default: [],
      },
    ),
    skipHeaders: Type.Array(Type.String({ minLength: 1 }), {
      description:
        'Request headers never inspected (credentials, framing, values other stages check). Every other header is.',
      default: [...DEFAULT_SKIP_HEADERS],
    }),
    inspectBody: Type.Boolean({
      description:
        'Inspect the body (form fields, JSON keys and strings, multipart fields and file names, XML, text). The body is read whole (held to request-guard.maxBodyBytes) before it is forwarded.',
      default: true,
    }),
    maxInputs: Type.Integer({
      minimum: 1,
      description:
        'Values inspected per request at most; a request with more is refused (400 BAD_REQUEST) in enforce mode.',
      default: 1024,
    }),
    cleanCache: Type.Integer({
      minimum: 0,
      description:
        'Values found clean that are remembered so a repeat is not inspected again (JSON keys, header and cookie values, enums, path segments repeat in most traffic): up to twice this many distinct values of at most 256 characters, per gateway process. Only values no rule matched at any paranoia level are kept, so a hit never changes a verdict. 0 turns it off.',
      default: 16384,
    }),
    maxValueBytes: Type.Integer({
      minimum: 64,
      description: 'Characters of one value inspected; the rest of a longer value is not.',
      default: 65536,
    }),
  },
  { additionalProperties: false },
);

export default definePlugin({
  name: 'attack-detection',
  phase: 'validate',
  priority: 400,
  description:
    'Finds hostile content inside values the contract allows: SQL injection, XSS, command and code injection, path traversal and file inclusion, SSRF, NoSQL, LDAP, template and JNDI injection, CRLF, prototype pollution. Every location, decoded; tokenizers, not regex piles; anomaly scoring with paranoia levels and exclusions.',
  schema: attackDetectionSchema,
  enabledByDefault: false,
  enforcing: true,
  optional: true,
  create(config, { deps }) {
    const logger = deps.logger;
    const inputOptions: InputOptions = {
      skipHeaders: new Set(config.skipHeaders.map((h) => h.toLowerCase())),
      maxInputs: config.maxInputs,
      maxValueBytes: config.maxValueBytes,
    };
    const engine = {
      paranoia: config.paranoia as Paranoia,
      threshold: config.threshold,
      exclusions: config.exclusions as readonly Exclusion[],
      memo: config.cleanCache > 0 ? new CleanMemo(config.cleanCache) : undefined,
    };
    const inspectBody = config.inspectBody;
    return {
      summary: `paranoia ${config.paranoia}, threshold ${config.threshold}${config.exclusions.length ? `, ${config.exclusions.length} exclusion(s)` : ''}`,
      onRequest: async function detectAttacks(ctx: RequestContext): Promise<void> {
        if (ctx.preflight) return;
        const body =
          inspectBody && ctx.parsedBody === undefined && hasRequestBody(ctx)
            ? await readBody(ctx)
            : undefined;
        const { inputs, dropped } = extractInputs(requestOf(ctx, body), inputOptions);
        if (dropped > 0) {
          logger.warn({ reqId: ctx.id, dropped }, 'attack-detection: too many values to inspect');
          throw new GatewayError('BAD_REQUEST', {
            detail: 'The request carries too many values to inspect.',
          });
        }
        const verdict = inspect(inputs, engine);
        if (verdict.matches.length === 0) return;
        const rules = [...new Set(verdict.matches.map((m) => m.rule))];
        logger.warn(
          {
            reqId: ctx.id,
            route: ctx.route?.id,
            score: verdict.score,
            blocked: verdict.attack,
            matches: verdict.matches.map((m) => ({
              rule: m.rule,
              location: m.location,
              name: m.name,
              snippet: m.snippet,
            })),
          },
          verdict.attack ? 'attack-detection: request blocked' : 'attack-detection: below threshold',
        );
        if (verdict.attack)
          throw new GatewayError('ATTACK_DETECTED', { detail: `Matched rules: ${rules.join(', ')}.` });
      },
    };
  },
});
