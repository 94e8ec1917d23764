import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../core/errors.js';
import { unsafePattern } from '../core/safe-pattern.js';
import type { ApiVersionConfig, VersioningConfig } from './schema.js';

/** Headers the version stage must never set: framing, hop-by-hop, cookies, the lifecycle headers. */
const RESERVED_HEADERS = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
  'set-cookie',
  'content-type',
  'location',
  'deprecation',
  'sunset',
  'link',
]);

/** One declared API version, with everything its answers need prepared once. */
export interface ApiVersion {
  /** As declared ("v2"). */
  readonly name: string;
  /** Normalized for lookups: lower case, a leading "v" before a digit dropped ("v2", "V2", "2" → "2"). */
  readonly key: string;
  readonly status: 'active' | 'deprecated' | 'retired';
  /** Epoch ms of the sunset, if declared. */
  readonly sunsetMs: number | undefined;
  /**
   * Deprecation, Sunset and Link (RFC 9745, RFC 8594) for answers of a deprecated or retired
   * version; undefined for an active one with no sunset.
   */
  readonly lifecycleHeaders: Readonly<Record<string, string>> | undefined;
  readonly migrationLink: string | undefined;
}

/** "v2", "V2" and "2" name one version; other names ("2024-10-01", "beta") compare case-insensitively. */
export function versionKey(raw: string): string {
  const lower = raw.trim().toLowerCase();
  if (lower.length > 1 && lower.charCodeAt(0) === 118 /* v */) {
    const c = lower.charCodeAt(1);
    if (c >= 48 && c <= 57) return lower.slice(1);
  }
  return lower;
}

/** ISO 8601 date or date-time → epoch ms ("2026-06-30" is midnight UTC). */
function parseTime(text: string): number {
  return Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text);
}

/** RFC 8288 Link values for the version's pages, in a fixed order. */
function linksOf(v: ApiVersionConfig): string[] {
  const links: string[] = [];
  if (v.deprecationLink !== undefined)
    links.push(`<${v.deprecationLink}>; rel="deprecation"; type="text/html"`);
  if (v.sunsetLink !== undefined) links.push(`<${v.sunsetLink}>; rel="sunset"; type="text/html"`);
  if (v.migrationLink !== undefined) links.push(`<${v.migrationLink}>; rel="successor-version"`);
  return links;
}

/** What select() reads of a request (the RequestContext, once the router has set path and query). */
export interface VersionRequest {
  readonly path: string;
  readonly query: string;
  readonly req: { readonly headers: IncomingHttpHeaders };
  apiVersion: ApiVersion | undefined;
}

export interface CatalogIssue {
  readonly path: string;
  readonly reason: string;
  readonly hint?: string;
}

/** What a request named: a version, nothing, or something no selector agrees on. */
interface Named {
  raw: string | undefined;
  from: string | undefined;
}

/**
 * The compiled `versioning` section: the declared versions and the function that reads a request's
 * version. Built once per plan; the router asks it once per request when versioning is on.
 */
export class VersionCatalog {
  readonly enabled: boolean;
  readonly versions: readonly ApiVersion[];
  /** Issues found while compiling; the plan compiler turns them into a ConfigError. */
  readonly issues: readonly CatalogIssue[];
  readonly config: VersioningConfig;
  readonly #byKey = new Map<string, ApiVersion>();
  readonly #default: ApiVersion | undefined;
  readonly #requireVersion: boolean;
  readonly #path: boolean;
  readonly #header: string | undefined;
  readonly #mediaType: string | undefined;
  readonly #query: string | undefined;
  readonly #pathPattern: RegExp | undefined;
  readonly #supported: string;
  readonly #supportedList: readonly string[];

  constructor(config: VersioningConfig) {
    this.config = config;
    const issues: CatalogIssue[] = [];
    const versions: ApiVersion[] = [];
    config.versions.forEach((v, i) => {
      const at = `versioning.versions[${i}]`;
      const key = versionKey(v.name);
      if (this.#byKey.has(key)) {
        issues.push({
          path: `${at}.name`,
          reason: `version "${v.name}" is declared twice ("v2" and "2" are one version)`,
        });
        return;
      }
      const deprecatedMs = v.deprecatedAt === undefined ? undefined : parseTime(v.deprecatedAt);
      const sunsetMs = v.sunset === undefined ? undefined : parseTime(v.sunset);
      if (deprecatedMs !== undefined && Number.isNaN(deprecatedMs))
        issues.push({ path: `${at}.deprecatedAt`, reason: 'is not a valid date' });
      if (sunsetMs !== undefined && Number.isNaN(sunsetMs))
        issues.push({ path: `${at}.sunset`, reason: 'is not a valid date' });
      if (v.status === 'deprecated' && deprecatedMs === undefined)
        issues.push({
          path: `${at}.deprecatedAt`,
          reason: 'a deprecated version needs deprecatedAt',
          hint: 'the Deprecation header (RFC 9745) carries that date',
        });
      if (deprecatedMs !== undefined && sunsetMs !== undefined && sunsetMs < deprecatedMs)
        issues.push({ path: `${at}.sunset`, reason: 'is earlier than deprecatedAt' });
      let lifecycleHeaders: Record<string, string> | undefined;
      if (v.status !== 'active' || (sunsetMs !== undefined && !Number.isNaN(sunsetMs))) {
        lifecycleHeaders = {};
        if (v.status !== 'active' && deprecatedMs !== undefined && !Number.isNaN(deprecatedMs))
          lifecycleHeaders.deprecation = `@${Math.floor(deprecatedMs / 1000)}`;
        if (sunsetMs !== undefined && !Number.isNaN(sunsetMs))
          lifecycleHeaders.sunset = new Date(sunsetMs).toUTCString();
        const links = linksOf(v);
        if (links.length > 0) lifecycleHeaders.link = links.join(', ');
        Object.freeze(lifecycleHeaders);
      }
      const version: ApiVersion = Object.freeze({
        name: v.name,
        key,
        status: v.status,
        sunsetMs: sunsetMs === undefined || Number.isNaN(sunsetMs) ? undefined : sunsetMs,
        lifecycleHeaders,
        migrationLink: v.migrationLink,
      });
      this.#byKey.set(key, version);
      versions.push(version);
    });
    this.versions = Object.freeze(versions);
    this.enabled = versions.length > 0;
    const served = versions.filter((v) => v.status !== 'retired');
    this.#supportedList = Object.freeze(served.map((v) => v.name));
    this.#supported = this.#supportedList.join(', ');

    this.#requireVersion = config.default === 'none';
    if (config.default === 'latest') {
      this.#default = [...versions].reverse().find((v) => v.status === 'active');
      if (this.enabled && this.#default === undefined)
        issues.push({
          path: 'versioning.default',
          reason: '"latest" needs at least one active version',
          hint: 'mark a version active, or name the default version',
        });
    } else if (config.default !== 'none') {
      this.#default = this.#byKey.get(versionKey(config.default));
      if (this.enabled && this.#default === undefined)
        issues.push({
          path: 'versioning.default',
          reason: `"${config.default}" is not a declared version`,
          hint: `declared: ${versions.map((v) => v.name).join(', ')}; or "latest", "none"`,
        });
      else if (this.#default?.status === 'retired')
        issues.push({
          path: 'versioning.default',
          reason: `the default version "${config.default}" is retired`,
        });
    }

    if (RESERVED_HEADERS.has(config.responseHeader.toLowerCase()))
      issues.push({
        path: 'versioning.responseHeader',
        reason: `"${config.responseHeader}" is a header the gateway manages; name another (default Api-Version)`,
      });
    const selectors = new Set(config.selectors);
    this.#path = selectors.has('path');
    this.#header = selectors.has('header') ? config.header.toLowerCase() : undefined;
    this.#mediaType = selectors.has('mediaType') ? config.mediaTypeParameter.toLowerCase() : undefined;
    this.#query = selectors.has('query') ? config.query : undefined;
    if (this.#path && config.pathPattern !== '') {
      const unsafe = unsafePattern(config.pathPattern);
      if (unsafe !== undefined) issues.push({ path: 'versioning.pathPattern', reason: unsafe });
      else this.#pathPattern = new RegExp(config.pathPattern);
    }
    if (this.enabled && selectors.size === 0)
      issues.push({
        path: 'versioning.selectors',
        reason: 'no selector: a request could never name a version',
      });
    this.issues = Object.freeze(issues);
  }

  lookup(name: string): ApiVersion | undefined {
    return this.#byKey.get(versionKey(name));
  }

  /** The version a route path's first segment names ("/v1/orders" → v1), when the path selector is on. */
  versionOfRoutePath(path: string): ApiVersion | undefined {
    if (!this.#path) return undefined;
    const end = path.indexOf('/', 1);
    return this.#byKey.get(versionKey(path.slice(1, end === -1 ? path.length : end)));
  }

  /**
   * The version a request asks for (or the default); throws the problem for an unknown, conflicting,
   * missing or retired version. Undefined: the request named none and the default is "none".
   * Needs ctx.path and ctx.query (the router sets them first).
   */
  select(ctx: VersionRequest): ApiVersion | undefined {
    const named: Named = { raw: undefined, from: undefined };
    if (this.#path) this.#fromPath(ctx.path, named);
    if (this.#header !== undefined) {
      const h = ctx.req.headers[this.#header];
      if (h !== undefined) this.#offer(named, Array.isArray(h) ? h.join(', ') : h, 'header');
    }
    if (this.#mediaType !== undefined) {
      const accept = ctx.req.headers.accept;
      if (accept?.includes('=')) this.#fromMediaTypes(accept, named, 'Accept media type');
      // The body's media type names a version too (frameworks read it): it must agree.
      const type = ctx.req.headers['content-type'];
      if (type?.includes('=')) this.#fromMediaTypes(type, named, 'Content-Type media type');
    }
    if (this.#query !== undefined && ctx.query !== '') this.#fromQuery(ctx.query, named);

    let version: ApiVersion | undefined;
    if (named.raw === undefined) {
      if (this.#requireVersion) return undefined;
      version = this.#default;
    } else {
      version = this.#byKey.get(versionKey(named.raw));
      if (version === undefined) throw this.#unknown();
    }
    if (version === undefined) return undefined;
    ctx.apiVersion = version;
    if (
      version.status === 'retired' ||
      (this.config.retireAtSunset && version.sunsetMs !== undefined && version.sunsetMs <= Date.now())
    )
      throw this.#retired(version);
    return version;
  }

  /** A request that named no version reached a path only versioned routes serve (default "none"). */
  required(): GatewayError {
    return new GatewayError('API_VERSION_REQUIRED', {
      detail: `Name the API version (supported: ${this.#supported}).`,
      extensions: { supportedVersions: this.#supportedList },
    });
  }

  #unknown(): GatewayError {
    // The name the client sent is never echoed: it is client data.
    return new GatewayError('UNKNOWN_API_VERSION', {
      detail: `Supported versions: ${this.#supported}.`,
      extensions: { supportedVersions: this.#supportedList },
    });
  }

  #retired(v: ApiVersion): GatewayError {
    const detail =
      v.migrationLink === undefined
        ? `API version ${v.name} is retired. Supported versions: ${this.#supported}.`
        : `API version ${v.name} is retired; migration guide: ${v.migrationLink}`;
    return new GatewayError('API_VERSION_RETIRED', {
      detail,
      extensions: {
        supportedVersions: this.#supportedList,
        ...(v.migrationLink === undefined ? {} : { migration: v.migrationLink }),
      },
    });
  }

  /** Records what one selector names; two selectors naming different versions conflict. */
  #offer(named: Named, raw: string, from: string): void {
    if (named.raw === undefined) {
      named.raw = raw;
      named.from = from;
      return;
    }
    if (versionKey(named.raw) !== versionKey(raw))
      throw new GatewayError('API_VERSION_CONFLICT', {
        detail: `The ${named.from} and the ${from} name different API versions.`,
      });
  }

  #fromPath(path: string, named: Named): void {
    // The first non-empty segment ("//v0/x" with mergeSlashes off), without matrix parameters
    // ("/v0;jsessionid=1/x"): servers that read the version there must see what the gateway sees.
    let start = 1;
    while (path.charCodeAt(start) === 47) start++;
    const end = path.indexOf('/', start);
    let segment = path.slice(start, end === -1 ? path.length : end);
    const semi = segment.search(/;|%3[Bb]/);
    if (semi !== -1) segment = segment.slice(0, semi);
    if (segment === '') return;
    if (this.#byKey.has(versionKey(segment))) this.#offer(named, segment, 'path');
    else if (this.#pathPattern?.test(segment)) throw this.#unknown();
  }

  /** `Accept: application/vnd.example+json; version=2, text/html` → "2" (quoted values too). */
  #fromMediaTypes(header: string, named: Named, from: string): void {
    const want = this.#mediaType as string;
    for (const range of header.split(',')) {
      const params = range.split(';');
      for (let i = 1; i < params.length; i++) {
        const p = params[i] as string;
        const eq = p.indexOf('=');
        if (eq === -1 || p.slice(0, eq).trim().toLowerCase() !== want) continue;
        let value = p.slice(eq + 1).trim();
        if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
        this.#offer(named, value, from);
      }
    }
  }

  /**
   * Every parameter whose name, decoded and in any case, is the version parameter: frameworks
   * differ in both ("API-VERSION", "api%2Dversion"), and each must see the version the gateway saw.
   */
  #fromQuery(query: string, named: Named): void {
    const name = (this.#query as string).toLowerCase();
    let start = 0;
    while (start <= query.length) {
      let end = query.indexOf('&', start);
      if (end === -1) end = query.length;
      const eq = query.indexOf('=', start);
      if (eq !== -1 && eq < end && eq - start >= name.length && eq - start <= name.length * 3) {
        const raw = query.slice(start, eq);
        let key = raw.toLowerCase();
        try {
          key = decodeURIComponent(raw.replaceAll('+', ' ')).toLowerCase();
        } catch {
          // A name with broken escapes is compared as written.
        }
        if (key === name) {
          let value: string;
          try {
            value = decodeURIComponent(query.slice(eq + 1, end).replaceAll('+', ' '));
          } catch {
            throw this.#unknown();
          }
          this.#offer(named, value, 'query');
        }
      }
      start = end + 1;
    }
  }
}
