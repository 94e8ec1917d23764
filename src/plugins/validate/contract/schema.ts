import { Type } from '@sinclair/typebox';
import { ALL_PATTERNS, DEFAULT_PATTERNS, DEFAULT_SENSITIVE_NAMES } from './mask.js';

export const contractSchema = Type.Object(
  {
    spec: Type.String({
      description:
        'The OpenAPI 3.0/3.1 or Swagger 2.0 description (JSON or YAML; relative to the working directory). Local $ref files are read; remote ones are refused.',
      default: '',
    }),
    basePath: Type.String({
      description:
        'Gateway path where the description\'s paths begin ("/api" serves "/pets" at "/api/pets"). Empty: at the root.',
      default: '',
    }),
    strict: Type.Boolean({
      description:
        'Positive security model: undeclared query parameters and body properties are refused even where the description forgot additionalProperties: false (mass assignment), a body on an operation that declares none is refused, and read-only properties may not be sent.',
      default: true,
    }),
    limits: Type.Object(
      {
        maxStringLength: Type.Integer({
          minimum: 1,
          description: 'maxLength of request strings whose schema sets none (and no enum/const).',
          default: 10000,
        }),
        maxItems: Type.Integer({
          minimum: 1,
          description: 'maxItems of request arrays whose schema sets none.',
          default: 1000,
        }),
        maxProperties: Type.Integer({
          minimum: 1,
          description: 'maxProperties of request objects whose schema sets none.',
          default: 1000,
        }),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Limits added to request schemas where the description sets none.',
      },
    ),
    json: Type.Object(
      {
        maxDepth: Type.Integer({
          minimum: 1,
          maximum: 1000,
          description: 'Deepest nesting of objects and arrays.',
          default: 32,
        }),
        maxKeys: Type.Integer({ minimum: 1, description: 'Most members of one object.', default: 1000 }),
        maxTotalKeys: Type.Integer({
          minimum: 1,
          description: 'Most members in the whole document.',
          default: 10000,
        }),
        maxItems: Type.Integer({ minimum: 1, description: 'Most items of one array.', default: 10000 }),
        maxStringBytes: Type.Integer({
          minimum: 1,
          description: 'Most bytes of one string (key or value), as sent.',
          default: 1048576,
        }),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'Hardened JSON: limits checked on the stream, before the body is parsed. Duplicate keys, "__proto__"/"constructor"/"prototype" keys, invalid UTF-8 and lone surrogates are always refused.',
      },
    ),
    response: Type.Object(
      {
        validate: Type.Union([Type.Literal('off'), Type.Literal('monitor'), Type.Literal('enforce')], {
          description:
            'Check JSON answers against the declared response schema. monitor: log a violation; enforce: answer 502 RESPONSE_CONTRACT instead.',
          default: 'monitor',
        }),
        stripUndeclared: Type.Boolean({
          description:
            'Remove properties the response schema does not declare (and write-only ones) from JSON answers: excessive data exposure.',
          default: true,
        }),
        undeclaredStatus: Type.Union([Type.Literal('refuse'), Type.Literal('pass')], {
          description:
            'An answer whose status the operation does not declare (no exact code, range like 2XX, or default): refuse answers 502 RESPONSE_CONTRACT. 5xx (masked by response-hygiene) and 304 are exempt.',
          default: 'refuse',
        }),
        hideLeaks: Type.Boolean({
          description:
            'An answer carrying a stack trace, a framework debug page or a database error message is replaced by an UPSTREAM_ERROR problem (status kept; 502 for a 2xx/3xx).',
          default: true,
        }),
        mask: Type.Object(
          {
            enabled: Type.Boolean({ description: 'Mask sensitive values in JSON answers.', default: true }),
            names: Type.Array(Type.String({ minLength: 1 }), {
              description:
                'Field names whose values are replaced, compared without case, "_", "-" or spaces ("api_key" = "apiKey"); password, secret, token, apikey and privatekey also match as name endings ("userPassword").',
              default: [...DEFAULT_SENSITIVE_NAMES],
            }),
            patterns: Type.Array(Type.Union(ALL_PATTERNS.map((p) => Type.Literal(p))), {
              description:
                'Value detectors applied to every string: card numbers (Luhn-checked; last 4 kept), US SSNs, IBANs (mod-97), JWTs, well-known API key formats, PEM private keys, e-mail addresses.',
              default: [...DEFAULT_PATTERNS],
            }),
            replacement: Type.String({
              description: 'What a masked field value becomes.',
              default: '[REDACTED]',
            }),
          },
          { additionalProperties: false, default: {}, description: 'Sensitive data masking.' },
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          "The response side of the contract. Answers are held whole (up to the upstream's maxResponseBytes) while any of these is on.",
      },
    ),
  },
  { additionalProperties: false },
);
