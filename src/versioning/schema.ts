import { type Static, Type } from '@sinclair/typebox';

/** The `versioning` config section: which API versions exist, how a request names one, their lifecycle. */

const Url = (what: string) => Type.Optional(Type.String({ pattern: '^https?://', description: what }));

const Timestamp = (what: string) =>
  Type.Optional(
    Type.String({
      pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2}))?$',
      description: what,
    }),
  );

export const ApiVersionSchema = Type.Object(
  {
    name: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$',
      description:
        'Version name as clients write it ("v2", "2", "2024-10-01"). "v2", "V2" and "2" name the same version.',
    }),
    status: Type.Union([Type.Literal('active'), Type.Literal('deprecated'), Type.Literal('retired')], {
      description:
        'active: served. deprecated: served with Deprecation, Sunset and Link headers. retired: refused with 410 API_VERSION_RETIRED.',
      default: 'active',
    }),
    deprecatedAt: Timestamp(
      'When the version was (or will be) deprecated, ISO 8601 ("2026-06-30" or "2026-06-30T00:00:00Z"); sent as Deprecation: @<unix seconds> (RFC 9745). Required for a deprecated version.',
    ),
    sunset: Timestamp(
      'When the version stops answering, ISO 8601; sent as Sunset: <HTTP-date> (RFC 8594) on deprecated answers and on the 410 of a retired version.',
    ),
    deprecationLink: Url(
      'Page about the deprecation, sent as Link: <…>; rel="deprecation" (RFC 9745) on deprecated answers.',
    ),
    sunsetLink: Url('Page about the sunset policy, sent as Link: <…>; rel="sunset" (RFC 8594).'),
    migrationLink: Url(
      'Migration guide: in the 410 problem of a retired version ("migration" member) and as Link: <…>; rel="successor-version".',
    ),
  },
  { additionalProperties: false },
);

export const VersioningSchema = Type.Object(
  {
    versions: Type.Array(ApiVersionSchema, {
      description:
        'The API versions, oldest first. Empty: versioning is off (routes serve requests whatever version they name).',
      default: [],
    }),
    selectors: Type.Array(
      Type.Union([
        Type.Literal('path'),
        Type.Literal('header'),
        Type.Literal('mediaType'),
        Type.Literal('query'),
      ]),
      {
        uniqueItems: true,
        description:
          'Where a request may name its version: path (first segment, "/v2/orders"), header (versioning.header), mediaType (a parameter of Accept: "application/vnd.example+json; version=2"), query (versioning.query). Two places naming different versions get 400 API_VERSION_CONFLICT.',
        default: ['path', 'header', 'mediaType', 'query'],
      },
    ),
    header: Type.String({
      pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
      description: 'Request header that names the version (selector "header").',
      default: 'Api-Version',
    }),
    query: Type.String({
      pattern: '^[A-Za-z0-9._~-]+$',
      description: 'Query parameter that names the version (selector "query").',
      default: 'api-version',
    }),
    mediaTypeParameter: Type.String({
      pattern: '^[A-Za-z0-9._-]+$',
      description: 'Parameter of an Accept media range that names the version (selector "mediaType").',
      default: 'version',
    }),
    pathPattern: Type.String({
      description:
        'A first path segment that looks like a version (a regular expression, whole segment): one that names no declared version gets 400 UNKNOWN_API_VERSION instead of 404.',
      default: '^[vV][0-9]+$',
    }),
    default: Type.String({
      description:
        'The version of a request that names none: "latest" (the last active version declared), "none" (such a request only reaches routes without versions; others answer 400 API_VERSION_REQUIRED), or a version name.',
      default: 'latest',
    }),
    retireAtSunset: Type.Boolean({
      description:
        'Treat a version whose sunset time has passed as retired (410) without a config change. Off by default: a date alone never starts refusing traffic.',
      default: false,
    }),
    responseHeader: Type.String({
      pattern: "^([A-Za-z0-9!#$%&'*+.^_`|~-]+)?$",
      description: 'Response header naming the version that served the request ("" to send none).',
      default: 'Api-Version',
    }),
    usage: Type.Object(
      {
        enabled: Type.Boolean({
          description: 'Count requests per version and consumer (for `portcullis versions report`).',
          default: true,
        }),
        path: Type.String({
          minLength: 1,
          description:
            'SQLite file of the counts (relative to the working directory; every node may share it).',
          default: '.portcullis/version-usage.db',
        }),
        flushMs: Type.Integer({
          minimum: 100,
          description: 'Counts are kept in memory and written this often (and at shutdown or reload).',
          default: 5000,
        }),
        maxEntries: Type.Integer({
          minimum: 100,
          description:
            'Most version × consumer pairs held between two writes; past that, new consumers are counted as "(other)".',
          default: 10000,
        }),
      },
      { additionalProperties: false, default: {}, description: 'Usage counting per version and consumer.' },
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'API versions: how a request names one, which routes serve it, deprecation and retirement (docs/versioning.md).',
  },
);

export type VersioningConfig = Static<typeof VersioningSchema>;
export type ApiVersionConfig = Static<typeof ApiVersionSchema>;
