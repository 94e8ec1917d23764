import { type Static, Type } from '@sinclair/typebox';

/**
 * The `admin` and `observability` sections of the config. Each part's settings live in its own
 * object so each can grow on its own.
 */

export const AdminTokenSchema = Type.Object(
  {
    name: Type.String({
      pattern: '^[A-Za-z0-9_.-]{1,64}$',
      description: 'Who holds it (audited; never the token).',
    }),
    role: Type.Union([Type.Literal('viewer'), Type.Literal('operator'), Type.Literal('admin')], {
      description:
        'viewer: read everything (traffic, audit, alerts, config with secrets redacted, metrics). operator: also validate configs, create and revoke keys, lift blocks. admin: also apply and roll back configs, export the audit trail.',
    }),
    token: Type.String({
      minLength: 32,
      description:
        'The bearer token (use ${env:NAME}; at least 32 characters). Only its SHA-256 is kept in memory.',
    }),
  },
  { additionalProperties: false },
);

export const AdminSchema = Type.Object(
  {
    enabled: Type.Boolean({
      description: 'Run the admin listener (API, /metrics, dashboard).',
      default: false,
    }),
    host: Type.String({
      description: 'Address to bind. Loopback by default: the admin API is not for the internet.',
      default: '127.0.0.1',
    }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      description: 'Port (0: any free port).',
      default: 9901,
    }),
    allowFrom: Type.Array(Type.String(), {
      description:
        'Client addresses or CIDRs allowed to connect (checked on the peer address; X-Forwarded-For is ignored). Default: loopback only.',
      default: ['127.0.0.1/32', '::1/128'],
    }),
    tokens: Type.Array(AdminTokenSchema, {
      description: 'Bearer tokens and their roles. Without any, every API call is refused (401).',
      default: [],
    }),
    tls: Type.Object(
      {
        cert: Type.String({
          description: 'PEM certificate file; empty: plain HTTP (fine on loopback).',
          default: '',
        }),
        key: Type.String({ description: 'PEM private key file.', default: '' }),
        clientCa: Type.String({
          description:
            'PEM CA bundle: when set, a client certificate signed by it is required (mTLS), besides the token.',
          default: '',
        }),
      },
      { additionalProperties: false, default: {}, description: 'TLS for the admin listener.' },
    ),
  },
  { additionalProperties: false, default: {}, description: 'The admin listener: API, metrics, dashboard.' },
);

export const MetricsSchema = Type.Object(
  {
    enabled: Type.Boolean({
      description: 'Collect Prometheus metrics (served on the admin listener at /metrics).',
      default: true,
    }),
    latencyBuckets: Type.Array(Type.Number({ exclusiveMinimum: 0 }), {
      description: 'Histogram buckets, in seconds.',
      default: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
  },
  { additionalProperties: false, default: {}, description: 'Prometheus metrics.' },
);

export const AuditSchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Keep the audit trail of security events.', default: true }),
    path: Type.String({
      minLength: 1,
      description: 'SQLite file of the audit trail (created if missing).',
      default: '.portcullis/audit.db',
    }),
    retentionDays: Type.Integer({
      minimum: 1,
      description: 'Events older than this are deleted (daily).',
      default: 90,
    }),
  },
  { additionalProperties: false, default: {}, description: 'Audit trail (SQLite, hash-chained).' },
);

export const WebhookSchema = Type.Object(
  {
    url: Type.String({ minLength: 1, description: 'Where alerts are POSTed (JSON).' }),
    secret: Type.String({
      minLength: 16,
      description: 'HMAC-SHA256 key for the X-Portcullis-Signature header (use ${env:NAME}).',
    }),
    minSeverity: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')], {
      description: 'Alerts below this severity are not sent here.',
      default: 'warning',
    }),
    retries: Type.Integer({
      minimum: 0,
      maximum: 10,
      description:
        'Retries after a failed delivery (network error, timeout, non-2xx), with exponential backoff: 1 s, 2 s, 4 s…',
      default: 3,
    }),
    timeoutMs: Type.Integer({
      minimum: 100,
      maximum: 60000,
      description: 'Time allowed for one delivery attempt.',
      default: 5000,
    }),
  },
  { additionalProperties: false },
);

const SeveritySchema = (fallback: 'info' | 'warning' | 'critical', what: string) =>
  Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')], {
    description: `Severity of ${what} alerts.`,
    default: fallback,
  });

const windowSeconds = (fallback: number) =>
  Type.Integer({
    minimum: 10,
    maximum: 3600,
    description: 'Sliding window the counts are taken over, in seconds (rounded up to whole buckets).',
    default: fallback,
  });

export const AnomalyRulesSchema = Type.Object(
  {
    'error-spike': Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'Watch 401/403/429/5xx answers per route and per address.',
        }),
        windowSeconds: windowSeconds(60),
        minCount: Type.Integer({
          minimum: 1,
          description:
            'Answers of one class in the window before anything is said (quiet routes never alert on 2 errors).',
          default: 20,
        }),
        factor: Type.Number({
          minimum: 1,
          description: "How many times the subject's usual count (its slow baseline) the window must reach.",
          default: 5,
        }),
        severity: SeveritySchema('warning', 'error-spike'),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'Spikes of 401/403/429/5xx answers per route and per address group, against their baseline.',
      },
    ),
    'credential-stuffing': Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'Watch failed logins per address and per credential.',
        }),
        windowSeconds: windowSeconds(60),
        failures: Type.Integer({
          minimum: 1,
          description: 'Failed logins from one address in the window.',
          default: 30,
        }),
        distinctCredentials: Type.Integer({
          minimum: 2,
          description:
            'Distinct credential ids (key ids, key ids of signatures…) failing from one address in the window.',
          default: 8,
        }),
        distinctIps: Type.Integer({
          minimum: 2,
          description: 'Distinct addresses failing with one credential id in the window.',
          default: 10,
        }),
        severity: SeveritySchema('critical', 'credential-stuffing'),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'Failed logins across many credentials from one address, or for one credential from many addresses.',
      },
    ),
    enumeration: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description:
            'Watch object-id probing (enumeration, BOLA) per principal, or per address when anonymous.',
        }),
        windowSeconds: windowSeconds(60),
        distinctObjects: Type.Integer({
          minimum: 2,
          description: 'Distinct object ids touched in the window.',
          default: 300,
        }),
        deniedOrMissing: Type.Integer({
          minimum: 1,
          description: '403 and 404 answers on routes with an object id in the window.',
          default: 25,
        }),
        severity: SeveritySchema('warning', 'enumeration'),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'Object-id probing (enumeration, BOLA): many distinct object ids, or many 403/404 on object routes.',
      },
    ),
    scraping: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'Watch request volume per authenticated principal (API key, user).',
        }),
        windowSeconds: windowSeconds(60),
        minCount: Type.Integer({
          minimum: 1,
          description: 'Requests of one principal in the window before anything is said.',
          default: 1200,
        }),
        factor: Type.Number({
          minimum: 1,
          description: 'How many times its usual volume (its slow baseline) the window must reach.',
          default: 10,
        }),
        severity: SeveritySchema('warning', 'scraping'),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'Unusual request volume per authenticated principal (API key, user), against its baseline.',
      },
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Per-rule settings (thresholds, windows, severity); see docs/observability.md.',
  },
);

export const AnomalySchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Watch live traffic for anomalies.', default: true }),
    rules: AnomalyRulesSchema,
    bucketSeconds: Type.Integer({
      minimum: 1,
      maximum: 60,
      description: 'Width of one time bucket of the sliding counters.',
      default: 10,
    }),
    baselineMinutes: Type.Integer({
      minimum: 1,
      maximum: 1440,
      description:
        'Memory of the slow baselines (exponential average over about this long) that spikes are judged against.',
      default: 15,
    }),
    cooldownSeconds: Type.Integer({
      minimum: 1,
      description: 'One alert per rule and subject within this time (later ones are folded into it).',
      default: 300,
    }),
    maxSubjects: Type.Integer({
      minimum: 100,
      description:
        'Addresses, principals, credentials and routes tracked at most, each (the least recently seen are forgotten first).',
      default: 20000,
    }),
    keepAlerts: Type.Integer({
      minimum: 1,
      maximum: 10000,
      description: 'Recent alerts kept in memory for the admin API and the dashboard.',
      default: 500,
    }),
    webhooks: Type.Array(WebhookSchema, { description: 'Alert receivers.', default: [] }),
    autoBlock: Type.Object(
      {
        mode: Type.Union([Type.Literal('off'), Type.Literal('monitor'), Type.Literal('enforce')], {
          description:
            'off: alerts only. monitor: log the block that would be made. enforce: block the offending address group for `seconds` (403 CLIENT_BLOCKED); principal and key blocks are recorded (see docs/observability.md).',
          default: 'off',
        }),
        seconds: Type.Integer({
          minimum: 1,
          description: 'How long an automatic block lasts.',
          default: 900,
        }),
        minSeverity: Type.Union([Type.Literal('warning'), Type.Literal('critical')], {
          description: 'Alerts at or above this severity trigger a block.',
          default: 'critical',
        }),
      },
      { additionalProperties: false, default: {}, description: 'Automatic response to alerts.' },
    ),
  },
  { additionalProperties: false, default: {}, description: 'Anomaly detection and alerts.' },
);

export const ObservabilitySchema = Type.Object(
  {
    metrics: MetricsSchema,
    audit: AuditSchema,
    anomaly: AnomalySchema,
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'Metrics, audit trail and anomaly detection. Traces follow the standard OTEL_* environment variables (no network calls when unset).',
  },
);

export type AdminConfig = Static<typeof AdminSchema>;
export type ObservabilityConfig = Static<typeof ObservabilitySchema>;
