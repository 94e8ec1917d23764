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
  },
  { additionalProperties: false },
);

export const AnomalySchema = Type.Object(
  {
    enabled: Type.Boolean({ description: 'Watch live traffic for anomalies.', default: true }),
    /** Thresholds: the anomaly part owns their exact shape (see docs/observability.md). */
    rules: Type.Record(Type.String(), Type.Unknown(), {
      description:
        'Per-rule settings (thresholds, windows, severity); see docs/observability.md#anomaly-rules.',
      default: {},
    }),
    webhooks: Type.Array(WebhookSchema, { description: 'Alert receivers.', default: [] }),
    autoBlock: Type.Object(
      {
        mode: Type.Union([Type.Literal('off'), Type.Literal('monitor'), Type.Literal('enforce')], {
          description:
            'off: alerts only. monitor: log the block that would be made. enforce: block the offending address or key for `seconds` (403 CLIENT_BLOCKED).',
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
