import type { ValidateFunction } from 'ajv';
import type { LoadedConfig } from '../../config/load.js';
import { pluginSchema } from '../../config/schema.js';
import { compileValidator, createConfigAjv } from '../../config/validate.js';
import { GLOBAL_PHASES } from '../../core/phases.js';
import type { Plan } from '../../core/plan.js';
import type { PluginDefinition } from '../../core/plugin.js';
import type { Registry } from '../../core/registry.js';
import { weakSecretReason } from '../dictionary.js';
import type { Finding, Rule } from '../types.js';
import { Collector } from './collect.js';
import { indexLines, type Segment } from './locate.js';

/**
 * `portcullis lint --config`: a static read of a Portcullis config (after defaults) for what leaves
 * the API in front of it exposed: public routes, no rate limit, rules only watching (monitor mode),
 * guessable secrets, plain HTTP beyond loopback, wildcard CORS with credentials, a reachable admin
 * listener. Each route's chain is resolved exactly as the compiler does (or read from a compiled plan).
 */

export const CONFIG_RULES = {
  noAuth: {
    id: 'lint-config-no-auth',
    category: 'API2',
    severity: 'medium',
    title: 'Route allows anonymous callers',
    why: 'Anyone reaches the upstream through this route without a credential; an API that forgot a check of its own is then open to the internet.',
    fix: 'Enable an authenticator on the route and leave authentication.anonymous false; keep anonymous routes to what is public on purpose (sign-in, health) and give those a tight rate limit.',
    portcullis: `plugins:
  jwt:
    issuers:
      - issuer: https://auth.example.com
        audience: [https://api.example.com]
        jwksUri: https://auth.example.com/.well-known/jwks.json
  authentication:
    anonymous: false
    mode: enforce`,
  },
  noRateLimit: {
    id: 'lint-config-no-rate-limit',
    category: 'API4',
    severity: 'medium',
    title: 'Route without a rate limit',
    why: 'Without a rate limit one client can exhaust the API, brute-force credentials or scrape every object.',
    fix: 'Enable rate-limit (globally or on the route) with at least one limit, quota or concurrency cap, in enforce mode.',
    portcullis: `plugins:
  rate-limit:
    key: principal
    limits:
      - { name: burst, algorithm: gcra, limit: 10, windowSeconds: 1, burst: 20 }
    quotas:
      - { name: daily, limit: 10000, period: day }`,
  },
  monitorMode: {
    id: 'lint-config-monitor-mode',
    category: 'API8',
    severity: 'medium',
    title: 'Security plugin left in monitor mode',
    why: 'A plugin in monitor mode decides and logs but lets every request through: the protection it names is not there.',
    fix: 'Once the logs show no false positives, switch the plugin to mode: enforce (the default).',
    portcullis: `plugins:
  attack-detection:
    mode: enforce
  contract:
    spec: openapi.yaml
    mode: enforce`,
  },
  weakSecret: {
    id: 'lint-config-weak-secret',
    category: 'API2',
    severity: 'high',
    title: 'Weak or guessable secret',
    why: 'An HMAC key, JWT secret or admin token that is short or common is found offline in seconds; with it anyone mints valid tokens or signatures, or drives the admin API.',
    fix: 'Use at least 32 random bytes (e.g. `openssl rand -base64 48`), keep it out of the file with ${env:NAME}, and rotate the one that was weak. Prefer asymmetric JWT keys (jwksUri) to shared secrets.',
    portcullis: `plugins:
  jwt:
    issuers:
      - issuer: https://auth.example.com
        audience: [https://api.example.com]
        algorithms: [HS256]
        secret: \${env:JWT_SECRET}     # 32+ random bytes
admin:
  tokens:
    - { name: ops, role: admin, token: "\${env:ADMIN_TOKEN}" }`,
  },
  tlsOff: {
    id: 'lint-config-tls-off',
    category: 'API8',
    severity: 'medium',
    title: 'Listener beyond loopback without TLS',
    why: 'Credentials and data cross the network in clear text: anyone on the path reads tokens and changes answers.',
    fix: 'Terminate TLS on the listener (tls.cert/key), or make the plain listener redirect or refuse (plaintext: redirect).',
    portcullis: `listeners:
  - name: public
    host: 0.0.0.0
    port: 443
    tls: { cert: certs/api.pem, key: certs/api-key.pem, minVersion: TLSv1.2 }
  - name: redirect
    host: 0.0.0.0
    port: 80
    plaintext: redirect`,
  },
  corsCredentialsWildcard: {
    id: 'lint-config-cors-credentials-wildcard',
    category: 'API8',
    severity: 'medium',
    title: 'CORS allows any origin with credentials',
    why: 'Any web page a signed-in user visits can then call the API with their cookies or token and read the answers.',
    fix: 'List the exact origins of your front ends; never "*" (or a whole top-level domain) with credentials: true.',
    portcullis: `plugins:
  cors:
    origins: [https://app.example.com]
    credentials: true`,
  },
  adminExposed: {
    id: 'lint-config-admin-exposed',
    category: 'API8',
    severity: 'high',
    title: 'Admin listener reachable beyond loopback',
    why: 'The admin API applies configs, creates keys and reads the audit trail; reachable from the network (worse, without TLS) it is one stolen or guessed token away from a takeover.',
    fix: 'Bind the admin listener to 127.0.0.1 (the default) and reach it through SSH or a private network; if it must listen elsewhere, give it TLS, a client CA and a narrow allowFrom.',
    portcullis: `admin:
  enabled: true
  host: 127.0.0.1
  allowFrom: [127.0.0.1/32, ::1/128]`,
  },
} as const satisfies Record<string, Rule>;

export const CONFIG_RULE_LIST: readonly Rule[] = Object.values(CONFIG_RULES);

/** What runLint puts where a ${env:…} variable is not set (URL-shaped, 40 bytes, so most fields accept it); never judged as a secret. */
export const UNSET_ENV_PLACEHOLDER = 'http://portcullis-lint-unset-env.invalid';

type Settings = Record<string, unknown>;
const isObject = (v: unknown): v is Settings => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Route settings over global ones, as the compiler merges them (objects key by key). */
function merge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Settings = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** One plugin on one route: its settings with defaults, and the config place they came from. */
interface Enabled {
  readonly settings: Settings;
  readonly mode: 'enforce' | 'monitor' | undefined;
  /** Where the settings are written: the route's own entry when it has one, else the global one. */
  readonly source: { readonly where: string; readonly doc: readonly Segment[] };
  /** Where `mode` was set (route over global), when it was written at all. */
  readonly modeSource: { readonly where: string; readonly doc: readonly Segment[] } | undefined;
}

interface RouteView {
  readonly index: number;
  readonly id: string;
  readonly label: string;
  readonly plugins: ReadonlyMap<string, Enabled>;
}

const validators = new WeakMap<PluginDefinition, ValidateFunction>();

/** The plugin's settings with its defaults filled in (as compiled); the raw merge when they do not validate. */
function withDefaults(def: PluginDefinition, raw: unknown): Settings {
  let validate = validators.get(def);
  if (validate === undefined) {
    validate = compileValidator(createConfigAjv(), pluginSchema(def));
    validators.set(def, validate);
  }
  const data = structuredClone(isObject(raw) ? raw : {});
  validate(data);
  if (!def.enforcing) delete data.mode;
  return data;
}

/** Every route's chain, resolved as compilePlan does: enabled plugins, merged settings, modes. */
function resolveRoutes(loaded: LoadedConfig, registry: Registry, plan: Plan | undefined): RouteView[] {
  const { config } = loaded;
  const globals = config.plugins as Settings;
  const defs = registry.list().filter((d) => !GLOBAL_PHASES.includes(d.phase));
  return config.routes.map((route, index) => {
    const own = route.plugins as Settings;
    const routeWhere = `routes[${route.id}].plugins`;
    const plugins = new Map<string, Enabled>();
    const compiled = plan?.routes[index]?.chain.stages;
    for (const def of defs) {
      const g = globals[def.name];
      const r = own[def.name];
      const enabled =
        compiled !== undefined
          ? compiled.some((s) => s.plugin === def.name)
          : r === false
            ? false
            : r !== undefined ||
              (def.routeScoped !== true &&
                ((g !== undefined && g !== false) || (g !== false && def.enabledByDefault)));
      if (!enabled) continue;
      const settings = withDefaults(def, merge(g === false ? {} : g, r === false ? undefined : r));
      const fromRoute = isObject(r);
      const source = fromRoute
        ? { where: `${routeWhere}.${def.name}`, doc: ['routes', index, 'plugins', def.name] }
        : { where: `plugins.${def.name}`, doc: ['plugins', def.name] };
      const modeSource =
        isObject(r) && r.mode !== undefined
          ? { where: `${routeWhere}.${def.name}.mode`, doc: ['routes', index, 'plugins', def.name, 'mode'] }
          : isObject(g) && g.mode !== undefined
            ? { where: `plugins.${def.name}.mode`, doc: ['plugins', def.name, 'mode'] }
            : undefined;
      const stage = compiled?.find((s) => s.plugin === def.name);
      const mode = def.enforcing
        ? (stage?.mode ?? (settings.mode === 'monitor' ? 'monitor' : 'enforce'))
        : undefined;
      plugins.set(def.name, { settings, mode, source, modeSource });
    }
    return {
      index,
      id: route.id,
      label: `route ${route.id} (${route.methods.join(',')} ${route.host ?? ''}${route.path})`,
      plugins,
    };
  });
}

/** Secrets the config holds, with a label that never includes the value. */
interface Secret {
  readonly label: string;
  readonly value: string;
  readonly where: string;
  readonly doc: readonly Segment[];
  /** base64 text that stands for bytes (http-signature hmac keys). */
  readonly base64?: boolean;
}

function secretsOf(loaded: LoadedConfig): Secret[] {
  const { config } = loaded;
  const out: Secret[] = [];
  const fromPlugins = (plugins: unknown, where: string, doc: readonly Segment[]): void => {
    if (!isObject(plugins)) return;
    const jwt = plugins.jwt;
    if (isObject(jwt) && Array.isArray(jwt.issuers))
      jwt.issuers.forEach((issuer, k) => {
        if (isObject(issuer) && typeof issuer.secret === 'string' && issuer.secret !== '')
          out.push({
            label: `jwt issuer ${String(issuer.issuer)}`,
            value: issuer.secret,
            where: `${where}.jwt.issuers[${k}].secret`,
            doc: [...doc, 'jwt', 'issuers', k, 'secret'],
          });
      });
    const sig = plugins['http-signature'];
    if (isObject(sig) && isObject(sig.keys))
      for (const [keyid, key] of Object.entries(sig.keys))
        if (isObject(key) && typeof key.secret === 'string' && key.secret !== '')
          out.push({
            label: `http-signature key ${keyid}`,
            value: key.secret,
            where: `${where}.http-signature.keys.${keyid}.secret`,
            doc: [...doc, 'http-signature', 'keys', keyid, 'secret'],
            base64: true,
          });
    const binding = plugins['token-binding'];
    if (isObject(binding) && typeof binding.nonceSecret === 'string' && binding.nonceSecret !== '')
      out.push({
        label: 'token-binding DPoP nonce',
        value: binding.nonceSecret,
        where: `${where}.token-binding.nonceSecret`,
        doc: [...doc, 'token-binding', 'nonceSecret'],
      });
  };
  fromPlugins(config.plugins, 'plugins', ['plugins']);
  config.routes.forEach((r, i) => {
    fromPlugins(r.plugins, `routes[${r.id}].plugins`, ['routes', i, 'plugins']);
  });
  config.admin.tokens.forEach((t, k) => {
    out.push({
      label: `admin token ${t.name}`,
      value: t.token,
      where: `admin.tokens[${k}].token`,
      doc: ['admin', 'tokens', k, 'token'],
    });
  });
  if (config.stores.keys.pepper !== '')
    out.push({
      label: 'API key pepper',
      value: config.stores.keys.pepper,
      where: 'stores.keys.pepper',
      doc: ['stores', 'keys', 'pepper'],
    });
  config.observability.anomaly.webhooks.forEach((w, k) => {
    out.push({
      label: `alert webhook #${k + 1}`,
      value: w.secret,
      where: `observability.anomaly.webhooks[${k}].secret`,
      doc: ['observability', 'anomaly', 'webhooks', k, 'secret'],
    });
  });
  return out;
}

const MIN_SECRET_BYTES = 32;

/** Why a secret is weak (never quoting it), or undefined. */
function judgeSecret(secret: Secret): string | undefined {
  let bytes = Buffer.byteLength(secret.value, 'utf8');
  let text = secret.value;
  if (secret.base64 === true && /^[A-Za-z0-9+/=_-]+$/.test(secret.value)) {
    const decoded = Buffer.from(secret.value, 'base64');
    bytes = decoded.length;
    const reason = weakSecretReason(secret.value);
    if (reason !== undefined) return reason;
    text = decoded.toString('utf8');
  }
  const reason = weakSecretReason(text);
  if (reason !== undefined) return reason;
  if (bytes < MIN_SECRET_BYTES) return `is ${bytes} bytes, shorter than ${MIN_SECRET_BYTES}`;
  return undefined;
}

/** Does this CORS origin list let any site in? ("*", or "https://*.com": a whole top-level domain.) */
function anyOrigin(origins: unknown): string | undefined {
  if (!Array.isArray(origins)) return undefined;
  for (const o of origins) {
    if (o === '*') return '"*"';
    if (typeof o === 'string') {
      const star = o.indexOf('://*.');
      if (star !== -1 && !o.slice(star + 5).includes('.')) return `"${o}" (a whole top-level domain)`;
    }
  }
  return undefined;
}

function wideCidr(list: readonly string[]): boolean {
  return list.some((c) => /^(0\.0\.0\.0\/0|::\/0|0\.0\.0\.0|::)$/.test(c.trim()));
}

export interface LintConfigOptions {
  /** A plan compiled from the same config: route chains are read from it instead of resolved here. */
  readonly plan?: Plan;
  /** Notes about what could not be checked (secrets from unset environment variables) go here. */
  readonly notes?: string[];
}

/** Every lint-config-* finding of a loaded config. Never prints a secret's value. */
export function lintConfig(
  loaded: LoadedConfig,
  registry: Registry,
  options: LintConfigOptions = {},
): Finding[] {
  const { config } = loaded;
  const out = new Collector(loaded.file, indexLines(loaded.text));
  const routes = resolveRoutes(loaded, registry, options.plan);

  for (const route of routes) {
    const routeWhere = `routes[${route.id}]`;
    const routeDoc: Segment[] = ['routes', route.index];

    // Anonymous access: allowed outright, or authentication only watching.
    const auth = route.plugins.get('authentication');
    if (auth === undefined)
      out.add(CONFIG_RULES.noAuth, routeWhere, routeDoc, `${route.label} has no authentication stage`);
    else if (auth.mode === 'monitor')
      out.add(
        CONFIG_RULES.noAuth,
        routeWhere,
        auth.modeSource?.doc ?? routeDoc,
        `${route.label}: authentication is in monitor mode, so requests without a valid credential pass`,
      );
    else if (auth.settings.anonymous === true)
      out.add(
        CONFIG_RULES.noAuth,
        routeWhere,
        isObject(config.routes[route.index]?.plugins.authentication)
          ? [...routeDoc, 'plugins', 'authentication', 'anonymous']
          : ['plugins', 'authentication', 'anonymous'],
        `${route.label} lets anonymous callers through (authentication.anonymous: true, ${auth.source.where})`,
      );

    // Rate limit: a rate-limit stage that limits something, and enforces it.
    const rl = route.plugins.get('rate-limit');
    if (rl === undefined)
      out.add(CONFIG_RULES.noRateLimit, routeWhere, routeDoc, `${route.label} has no rate-limit stage`);
    else if (!limitsAnything(rl.settings))
      out.add(
        CONFIG_RULES.noRateLimit,
        routeWhere,
        rl.source.doc,
        `${route.label}: rate-limit sets no limits, quotas or concurrency`,
      );
    else if (rl.mode === 'monitor')
      out.add(
        CONFIG_RULES.noRateLimit,
        routeWhere,
        rl.modeSource?.doc ?? rl.source.doc,
        `${route.label}: rate-limit is in monitor mode, so nothing is refused`,
      );

    // Monitor mode, reported once where it is written.
    for (const [name, p] of route.plugins) {
      if (p.mode !== 'monitor') continue;
      const src = p.modeSource ?? p.source;
      out.add(
        CONFIG_RULES.monitorMode,
        src.where,
        src.doc,
        `${name} is in monitor mode (${src.where}): it logs what it would refuse and lets it through`,
      );
    }

    // CORS: any origin together with credentials.
    const cors = route.plugins.get('cors');
    if (cors !== undefined && cors.settings.credentials === true) {
      const wild = anyOrigin(cors.settings.origins);
      if (wild !== undefined)
        out.add(
          CONFIG_RULES.corsCredentialsWildcard,
          cors.source.where,
          cors.source.doc,
          `cors (${cors.source.where}) allows origin ${wild} with credentials: true`,
        );
    }
  }

  // Secrets.
  for (const secret of secretsOf(loaded)) {
    if (secret.value.includes(UNSET_ENV_PLACEHOLDER)) {
      options.notes?.push(`config: ${secret.where} comes from an unset environment variable; not checked`);
      continue;
    }
    const reason = judgeSecret(secret);
    if (reason !== undefined)
      out.add(CONFIG_RULES.weakSecret, secret.where, secret.doc, `${secret.label} secret ${reason}`);
  }

  // Listeners beyond loopback in clear text.
  config.listeners.forEach((l, i) => {
    if (l.tls !== undefined || l.plaintext !== 'serve' || isLoopback(l.host)) return;
    out.add(
      CONFIG_RULES.tlsOff,
      `listeners[${l.name}]`,
      ['listeners', i, 'host'],
      `listener ${l.name} serves plain HTTP on ${l.host}:${l.port}`,
    );
  });

  // The admin listener.
  const admin = config.admin;
  if (admin.enabled && !isLoopback(admin.host)) {
    const tls = admin.tls.cert !== '' && admin.tls.key !== '';
    const wide = wideCidr(admin.allowFrom);
    if (!tls)
      out.add(
        CONFIG_RULES.adminExposed,
        'admin',
        ['admin', 'host'],
        `the admin listener binds ${admin.host} without TLS: tokens cross the network in clear text`,
      );
    else
      out.add(
        CONFIG_RULES.adminExposed,
        'admin',
        ['admin', 'host'],
        `the admin listener binds ${admin.host}${wide ? ' and admits any address (allowFrom)' : ''}`,
        wide ? 'medium' : 'low',
      );
  }

  return out.findings();
}

function limitsAnything(s: Settings): boolean {
  const some = (v: unknown): boolean => Array.isArray(v) && v.length > 0;
  const concurrent = (v: unknown): boolean => isObject(v) && typeof v.limit === 'number' && v.limit > 0;
  if (some(s.limits) || some(s.quotas) || concurrent(s.concurrency)) return true;
  const plans = s.plans;
  if (isObject(plans) && isObject(plans.tiers))
    return Object.values(plans.tiers).some(
      (t) => isObject(t) && (some(t.limits) || some(t.quotas) || concurrent(t.concurrency)),
    );
  return false;
}
