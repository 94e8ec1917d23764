import { type Static, type TObject, type TSchema, Type } from '@sinclair/typebox';
import type { Registry } from '../core/registry.js';
import { AdminSchema, ObservabilitySchema } from '../observability/schema.js';
import { VersioningSchema } from '../versioning/schema.js';

/**
 * The config schema. TypeScript types come from the same definitions (Static<…>), and
 * `npm run schema` writes schema/portcullis.schema.json from it for editors.
 */

const NAME = '^[a-z0-9][a-z0-9_-]*$';

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const PemFile = (what: string) =>
  Type.String({ minLength: 1, description: `Path to the PEM ${what} (relative to the working directory).` });

export const TlsSchema = Type.Object(
  {
    cert: PemFile('certificate chain (leaf first)'),
    key: PemFile('private key'),
    sni: Type.Array(
      Type.Object(
        {
          hostname: Type.String({
            pattern: '^(\\*\\.)?[A-Za-z0-9.-]+$',
            description: 'Host name (or *.domain) this certificate answers for.',
          }),
          cert: PemFile('certificate chain'),
          key: PemFile('private key'),
        },
        { additionalProperties: false },
      ),
      {
        description: 'Extra certificates chosen by SNI; the default cert/key answer any other name.',
        default: [],
      },
    ),
    minVersion: Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], {
      description: 'Oldest protocol accepted. TLS 1.0 and 1.1 are never offered.',
      default: 'TLSv1.2',
    }),
    clientCertificates: Type.Object(
      {
        mode: Type.Union([Type.Literal('off'), Type.Literal('optional'), Type.Literal('required')], {
          description:
            'off: no client certificates. required: the handshake fails without a certificate that verifies against ca (and is not in crl). optional: a certificate is asked for and verified, but the connection stays up without one; routes that need it use the client-certificate plugin.',
          default: 'off',
        }),
        ca: Type.Array(Type.String({ minLength: 1 }), {
          description: 'PEM CA bundles that may sign client certificates.',
          default: [],
        }),
        crl: Type.Array(Type.String({ minLength: 1 }), {
          description: 'PEM CRL files; a revoked certificate fails verification.',
          default: [],
        }),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Mutual TLS: client certificates on this listener.',
      },
    ),
    ticketKeyRotationMinutes: Type.Integer({
      minimum: 1,
      description:
        'Session ticket keys are replaced this often (random, in memory), so a stolen key opens little.',
      default: 720,
    }),
  },
  { additionalProperties: false, description: 'Terminate TLS on this listener (HTTPS).' },
);

export const ListenerSchema = Type.Object(
  {
    name: Type.String({
      pattern: NAME,
      description: 'Listener name, used in logs and metrics.',
      default: 'public',
    }),
    host: Type.String({
      description: 'Address to bind. Loopback by default; use 0.0.0.0 or :: to expose.',
      default: '127.0.0.1',
    }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      description: 'TCP port (0 picks a free one).',
      default: 8080,
    }),
    trustedProxies: Type.Array(Type.String({ description: 'IP address or CIDR.' }), {
      description:
        'Peers whose X-Forwarded-For/-Proto/-Host and X-Request-Id are believed. From anyone else those headers are replaced.',
      default: [],
    }),
    maxConnections: Type.Integer({
      minimum: 1,
      description: 'Open connections at most; more get 503 CONNECTION_LIMIT.',
      default: 10000,
    }),
    maxHeaderBytes: Type.Integer({
      minimum: 1024,
      maximum: 1048576,
      description: 'Largest request line plus header section; larger gets 431.',
      default: 16384,
    }),
    maxPipelinedRequests: Type.Integer({
      minimum: 1,
      maximum: 1024,
      description:
        'Requests one connection may have in flight at once (HTTP/1.1 pipelining); more get 503 PIPELINE_LIMIT and the connection is closed.',
      default: 16,
    }),
    headersTimeoutMs: Type.Integer({
      minimum: 100,
      description: 'Time a client has to send all headers (slowloris guard).',
      default: 10000,
    }),
    requestTimeoutMs: Type.Integer({
      minimum: 100,
      description: 'Time a client has to send the whole request, body included.',
      default: 30000,
    }),
    keepAliveTimeoutMs: Type.Integer({
      minimum: 0,
      description: 'Idle time before a keep-alive connection is closed.',
      default: 5000,
    }),
    tls: Type.Optional(TlsSchema),
    plaintext: Type.Union([Type.Literal('serve'), Type.Literal('redirect'), Type.Literal('refuse')], {
      description:
        'For a listener without tls: "serve" proxies as usual; "redirect" answers every request 308 to https:// on redirectPort; "refuse" answers 403 HTTPS_REQUIRED.',
      default: 'serve',
    }),
    redirectPort: Type.Integer({
      minimum: 1,
      maximum: 65535,
      description: 'HTTPS port that "plaintext: redirect" sends clients to (omitted from the URL when 443).',
      default: 443,
    }),
  },
  { additionalProperties: false },
);

export const UpstreamSchema = Type.Object(
  {
    url: Type.String({
      pattern: '^https?://[^/?#@]+(/[^?#]*)?$',
      description: 'Base URL of the upstream (scheme, host, port, optional base path).',
    }),
    connections: Type.Integer({
      minimum: 1,
      maximum: 4096,
      description: 'Pool size: keep-alive connections at most.',
      default: 128,
    }),
    pipelining: Type.Integer({
      minimum: 1,
      maximum: 16,
      description: 'HTTP/1.1 pipelining depth per connection (1 = off).',
      default: 1,
    }),
    keepAliveTimeoutMs: Type.Integer({
      minimum: 100,
      description: 'Idle time before a pooled connection is closed.',
      default: 4000,
    }),
    connectTimeoutMs: Type.Integer({
      minimum: 10,
      description: 'Time to open a connection; beyond it 504.',
      default: 5000,
    }),
    headersTimeoutMs: Type.Integer({
      minimum: 10,
      description: 'Time for the upstream to send its response headers; beyond it 504.',
      default: 30000,
    }),
    bodyTimeoutMs: Type.Integer({
      minimum: 10,
      description: 'Largest gap between two response body chunks.',
      default: 30000,
    }),
    maxResponseBytes: Type.Integer({
      minimum: 1,
      description: 'Largest response body accepted from the upstream.',
      default: 104857600,
    }),
    preserveHost: Type.Boolean({
      description: "Send the client's Host to the upstream instead of the upstream's own.",
      default: false,
    }),
    tls: Type.Object(
      {
        ca: Type.Array(Type.String({ minLength: 1 }), {
          description:
            "PEM CA bundles that may sign the upstream's certificate; empty means the system's trusted CAs.",
          default: [],
        }),
        servername: Type.String({
          description:
            'SNI name sent to the upstream and checked against its certificate; empty means the URL host.',
          default: '',
        }),
        cert: Type.String({
          description: 'Client certificate (PEM) presented to the upstream (mTLS); empty for none.',
          default: '',
        }),
        key: Type.String({ description: 'Private key (PEM) of that client certificate.', default: '' }),
        insecureSkipVerify: Type.Boolean({
          description:
            "Do NOT verify the upstream's certificate. For a lab only: anyone on the path can then read and change the traffic. Logged loudly at start.",
          default: false,
        }),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'TLS towards an https:// upstream. Certificates are verified by default.',
      },
    ),
  },
  { additionalProperties: false },
);

export const RouteSchema = Type.Object(
  {
    id: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
      description: 'Unique route id, used in logs, metrics and errors.',
    }),
    host: Type.Optional(
      Type.String({
        description: 'Host name this route answers for (Host header, no port). Any host if absent.',
      }),
    ),
    path: Type.String({
      pattern: '^/',
      description: 'Path pattern: static segments, ":param" segments and a trailing "*".',
    }),
    methods: Type.Array(Type.Union(HTTP_METHODS.map((m) => Type.Literal(m))), {
      minItems: 1,
      uniqueItems: true,
      description: 'Allowed methods; others get 405 with Allow.',
      default: ['GET', 'HEAD'],
    }),
    upstream: Type.String({ description: 'Name of an entry of "upstreams".' }),
    versions: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1,
        uniqueItems: true,
        description:
          'API versions this route serves (names from versioning.versions). Absent: the version its path prefix names ("/v2/…", with the path selector), else every version. Several routes may share a path and method with different versions.',
      }),
    ),
    stripPrefix: Type.Optional(
      Type.String({ pattern: '^/', description: 'Removed from the start of the path before forwarding.' }),
    ),
    plugins: Type.Record(Type.String(), Type.Unknown(), {
      description:
        'Per-route plugin settings, merged over the global "plugins" section; false turns an optional plugin off.',
      default: {},
    }),
  },
  { additionalProperties: false },
);

export const StoresSchema = Type.Object(
  {
    redis: Type.Object(
      {
        url: Type.String({
          description:
            'Redis URL (redis:// or rediss://). Empty: the REDIS_URL environment variable, else redis://127.0.0.1:6379.',
          default: '',
        }),
        keyPrefix: Type.String({
          description: 'Prefix of every Redis key Portcullis writes (several gateways may share one Redis).',
          default: 'portcullis:',
        }),
        connectTimeoutMs: Type.Integer({
          minimum: 1,
          description: 'Give up connecting after this long (the stage using Redis then fails closed).',
          default: 2000,
        }),
        commandTimeoutMs: Type.Integer({
          minimum: 1,
          description: 'A Redis command that takes longer fails (and the stage using it fails closed).',
          default: 500,
        }),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'The shared Redis, used by stores set to "redis".',
      },
    ),
    keys: Type.Object(
      {
        backend: Type.Union([Type.Literal('sqlite'), Type.Literal('redis')], {
          description: 'sqlite: one machine (embedded default). redis: several gateway nodes share the keys.',
          default: 'sqlite',
        }),
        path: Type.String({
          minLength: 1,
          description: 'SQLite database file (created if missing; relative to the working directory).',
          default: '.portcullis/portcullis.db',
        }),
        pepper: Type.String({
          description:
            'Server-side secret mixed into every API key hash (use ${env:NAME}; at least 32 characters). Empty: read pepperFile.',
          default: '',
        }),
        pepperFile: Type.String({
          minLength: 1,
          description:
            'File holding the pepper when "pepper" is empty; created with 32 random bytes (mode 0600) if missing.',
          default: '.portcullis/pepper',
        }),
        pollMs: Type.Integer({
          minimum: 50,
          maximum: 500,
          description:
            'How often a node looks for key changes made elsewhere. A revocation reaches every node within this (Redis: at once by pub/sub; a lost message is caught within two polls, so at most 500 keeps the one-second promise).',
          default: 250,
        }),
      },
      { additionalProperties: false, default: {}, description: 'API key store.' },
    ),
    replay: Type.Object(
      {
        backend: Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
          description:
            'Where one-time values (DPoP proof ids, signature nonces) are remembered. Use redis when several nodes run.',
          default: 'memory',
        }),
        maxEntries: Type.Integer({
          minimum: 1000,
          description: 'Memory backend: most values remembered at once (the oldest are dropped first).',
          default: 1000000,
        }),
      },
      { additionalProperties: false, default: {}, description: 'Replay cache.' },
    ),
    rateLimit: Type.Object(
      {
        maxKeys: Type.Integer({
          minimum: 1000,
          description:
            'Memory backend (and the local fallback of the Redis one): most counters kept at once on this node. Idle counters go first; past that the least recently used is dropped (its client starts afresh) and counted.',
          default: 100000,
        }),
        clock: Type.Union([Type.Literal('redis'), Type.Literal('local')], {
          description:
            "Redis backend: whose clock times the windows. redis (default): the Redis server's, so nodes whose clocks drift apart still count the same windows. local: each node's own.",
          default: 'redis',
        }),
      },
      { additionalProperties: false, default: {}, description: 'Rate-limit counters (plugins.rate-limit).' },
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'Shared state: API keys, replay caches and rate-limit counters.',
  },
);

export const ConfigSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String({ description: 'Editor hint; ignored.' })),
    version: Type.Literal(1, { description: 'Config format version.', default: 1 }),
    listeners: Type.Array(ListenerSchema, {
      minItems: 1,
      description: 'Where the gateway listens.',
      default: [{}],
    }),
    upstreams: Type.Record(Type.String({ pattern: NAME }), UpstreamSchema, {
      description: 'Named upstream services.',
    }),
    routes: Type.Array(RouteSchema, {
      minItems: 1,
      description: 'Declared routes. Anything else is answered 404 and never proxied.',
    }),
    plugins: Type.Record(Type.String(), Type.Unknown(), {
      description: 'Global plugin settings, applied to every route.',
      default: {},
    }),
    errors: Type.Object(
      {
        typeBase: Type.String({
          description:
            'Prefix of the problem+json "type" URI; point it at your own error docs if you publish them.',
          default: 'urn:portcullis:error:',
        }),
      },
      { additionalProperties: false, default: {}, description: 'Problem+json settings.' },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { description: 'Gateway log level (the access log is written at info).', default: 'info' },
        ),
      },
      { additionalProperties: false, default: {}, description: 'Logging.' },
    ),
    stores: StoresSchema,
    admin: AdminSchema,
    observability: ObservabilitySchema,
    versioning: VersioningSchema,
    shutdown: Type.Object(
      {
        graceMs: Type.Integer({
          minimum: 0,
          description: 'On SIGTERM/SIGINT, time in-flight requests get to finish.',
          default: 10000,
        }),
      },
      { additionalProperties: false, default: {}, description: 'Graceful shutdown.' },
    ),
    reload: Type.Object(
      {
        watch: Type.Boolean({
          description:
            'Watch the config file (and the OpenAPI files plugins.contract.spec names) and reload when its content changes. SIGHUP and the admin API reload either way.',
          default: true,
        }),
        debounceMs: Type.Integer({
          minimum: 0,
          maximum: 60000,
          description:
            'Wait this long after the last change event before reloading (an editor writes a file in several steps).',
          default: 250,
        }),
        history: Type.Object(
          {
            dir: Type.String({
              minLength: 1,
              description:
                'Directory of the applied-config history (each applied config as a file, plus index.jsonl), relative to the working directory. Several nodes may share it.',
              default: '.portcullis/config-history',
            }),
            keep: Type.Integer({
              minimum: 1,
              maximum: 10000,
              description: 'How many applied configs the history keeps (the oldest leave first).',
              default: 50,
            }),
          },
          {
            additionalProperties: false,
            default: {},
            description:
              'History of applied configs, for `portcullis config history|rollback` and the admin API.',
          },
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'Hot reload: a new config is compiled beside the running one and swapped in whole; a config that does not compile leaves the running one serving. Read at start only.',
      },
    ),
  },
  { additionalProperties: false },
);

export type ListenerConfig = Static<typeof ListenerSchema>;
export type TlsConfig = Static<typeof TlsSchema>;
export type UpstreamConfig = Static<typeof UpstreamSchema>;
export type RouteConfig = Static<typeof RouteSchema>;
export type GatewayConfig = Static<typeof ConfigSchema>;
export type StoresConfig = Static<typeof StoresSchema>;

/**
 * A deep copy of a plugin's settings schema for the config file: no `default`s and nothing
 * required, at any depth, because the file holds overrides; defaults are applied when the plan is
 * compiled, on the merged settings.
 */
export function withoutDefaults<T extends TObject>(schema: T): T {
  return JSON.parse(
    JSON.stringify(schema, (key, value) =>
      key === 'default' || (key === 'required' && Array.isArray(value)) ? undefined : value,
    ),
  ) as T;
}

/** The mode setting the core adds to every enforcing plugin. */
export const ModeSchema = Type.Union([Type.Literal('enforce'), Type.Literal('monitor')], {
  description:
    'enforce: reject what the plugin forbids. monitor: decide, log and count, but let the request pass.',
  default: 'enforce',
});

/** A plugin's full settings schema (its own plus the core's `mode` for enforcing plugins). */
export function pluginSchema(def: { schema: TObject; enforcing: boolean }): TObject {
  if (!def.enforcing) return def.schema;
  return Type.Object({ ...def.schema.properties, mode: ModeSchema }, { additionalProperties: false });
}

/**
 * The full, closed schema with every registered plugin's settings in place of the open records:
 * what the loader validates against and what editors get.
 */
export function buildConfigSchema(registry: Registry): TObject {
  const globalProps: Record<string, TSchema> = {};
  const routeProps: Record<string, TSchema> = {};
  for (const def of registry.list()) {
    const settings = withoutDefaults(pluginSchema(def));
    const entry = def.optional ? Type.Union([settings, Type.Literal(false)]) : settings;
    globalProps[def.name] = Type.Optional({ ...entry, description: def.description });
    routeProps[def.name] = Type.Optional({ ...entry, description: def.description });
  }
  const route = Type.Object(
    {
      ...RouteSchema.properties,
      plugins: Type.Object(routeProps, {
        additionalProperties: false,
        default: {},
        description: RouteSchema.properties.plugins.description,
      }),
    },
    { additionalProperties: false },
  );
  return Type.Object(
    {
      ...ConfigSchema.properties,
      routes: Type.Array(route, { minItems: 1, description: ConfigSchema.properties.routes.description }),
      plugins: Type.Object(globalProps, {
        additionalProperties: false,
        default: {},
        description: ConfigSchema.properties.plugins.description,
      }),
    },
    {
      additionalProperties: false,
      $id: 'https://portcullis.dev/schema/portcullis.schema.json',
      title: 'Portcullis gateway config',
    },
  );
}
