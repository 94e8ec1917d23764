import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { stringify } from 'yaml';
import { isObj, loadSpec, type Obj } from '../openapi/load.js';
import { type OperationSpec, operationsOf, routerPath } from '../openapi/operations.js';

export interface InitOptions {
  readonly spec: string;
  readonly upstream: string;
  readonly out: string;
  readonly force: boolean;
}

type Plugins = Record<string, unknown>;

/** One authenticator's settings for a security scheme, or why the scheme cannot be mapped. */
function schemePlugin(name: string, scheme: Obj): { plugin: string; settings: Plugins } | { note: string } {
  const env = name.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
  switch (scheme.type) {
    case 'apiKey':
      if (scheme.in === 'header')
        return { plugin: 'api-key', settings: { header: String(scheme.name).toLowerCase() } };
      if (scheme.in === 'query')
        return { plugin: 'api-key', settings: { queryParameter: String(scheme.name) } };
      return { note: `securityScheme ${name}: API keys in cookies are not supported; send them in a header` };
    case 'http':
      if (String(scheme.scheme).toLowerCase() === 'bearer')
        return { plugin: 'jwt', settings: jwtSettings(env) };
      return {
        note: `securityScheme ${name}: HTTP ${String(scheme.scheme)} authentication is not supported (use API keys or JWT)`,
      };
    case 'oauth2':
    case 'openIdConnect':
      return { plugin: 'jwt', settings: jwtSettings(env) };
    case 'mutualTLS':
      return {
        note: `securityScheme ${name}: mutual TLS needs a TLS listener with clientCertificates; then add the mtls plugin`,
      };
    default:
      return { note: `securityScheme ${name}: unknown type ${String(scheme.type)}` };
  }
}

function jwtSettings(env: string): Plugins {
  // Placeholders from the environment, so the file is valid as written and no secret is in it.
  return {
    issuers: [
      {
        issuer: `\${env:${env}_ISSUER:-https://issuer.example}`,
        audience: [`\${env:${env}_AUDIENCE:-api}`],
        jwksUri: `\${env:${env}_JWKS_URI:-https://issuer.example/.well-known/jwks.json}`,
      },
    ],
  };
}

function routeId(op: OperationSpec, taken: Set<string>): string {
  let base = op.id
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 60);
  if (base === '') base = 'op';
  let id = base;
  for (let i = 2; taken.has(id); i++) id = `${base}-${i}`;
  taken.add(id);
  return id;
}

/** The path of the description's first server ("https://api.example/v1" → "/v1"), "" for the root. */
function serverPath(doc: Obj): string {
  const servers = Array.isArray(doc.servers) ? doc.servers : [];
  const first = servers[0];
  if (!isObj(first) || typeof first.url !== 'string') return '';
  try {
    const path = new URL(first.url, 'http://placeholder').pathname.replace(/\/+$/, '');
    return path.includes('{') ? '' : path;
  } catch {
    return '';
  }
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Builds a starting config from an API description: a route per operation, authenticators from securitySchemes. */
export async function buildInitConfig(
  specFile: string,
  upstream: string,
): Promise<{ config: Obj; notes: string[] }> {
  const spec = await loadSpec(specFile);
  const notes = [...spec.warnings];
  const doc = spec.doc;
  const components = isObj(doc.components) ? doc.components : {};
  const schemes = isObj(components.securitySchemes) ? components.securitySchemes : {};
  const mapped = new Map<string, { plugin: string; settings: Plugins }>();
  for (const [name, s] of Object.entries(schemes)) {
    if (!isObj(s)) continue;
    const m = schemePlugin(name, s);
    if ('note' in m) notes.push(m.note);
    else mapped.set(name, m);
  }
  const globalPlugins: Plugins = {};
  for (const m of mapped.values()) {
    // Several schemes of one kind share the plugin: the first one's settings are the starting point.
    if (!(m.plugin in globalPlugins)) globalPlugins[m.plugin] = m.settings;
  }
  const base = serverPath(doc);
  const specPath = relative(process.cwd(), spec.file) || spec.file;
  globalPlugins['request-guard'] = { maxBodyBytes: 1048576 };
  globalPlugins.contract = { spec: specPath, basePath: base };
  // Every route below says which authenticators it uses; nothing is anonymous unless the description says so.
  const authPlugins = [...new Set([...mapped.values()].map((m) => m.plugin))];
  const routes: Obj[] = [];
  const taken = new Set<string>();
  for (const op of operationsOf(spec, notes)) {
    if (!METHODS.has(op.method)) {
      notes.push(`${op.method} ${op.path}: the method is not proxied by Portcullis`);
      continue;
    }
    const plugins: Plugins = {};
    const requirements = op.security ?? [];
    const open = requirements.length === 0 || requirements.some((r) => Object.keys(r).length === 0);
    const used = new Set<string>();
    const scopes = new Set<string>();
    for (const r of requirements)
      for (const [name, list] of Object.entries(r)) {
        const m = mapped.get(name);
        if (m !== undefined) used.add(m.plugin);
        for (const s of list) scopes.add(s);
      }
    for (const p of authPlugins) if (!used.has(p)) plugins[p] = false;
    if (open) plugins.authentication = { anonymous: true };
    else if (used.size === 0)
      notes.push(`${op.id}: its security schemes could not be mapped; it needs an authenticator`);
    if (!open) {
      if (scopes.size > 0) plugins.rbac = { require: { scopes: [...scopes] } };
      else plugins.authorization = { allow: 'authenticated' };
    }
    routes.push({
      id: routeId(op, taken),
      path: (base + routerPath(op.path)).replaceAll('::', ':'),
      methods: [op.method],
      upstream: 'api',
      ...(Object.keys(plugins).length ? { plugins } : {}),
    });
  }
  const config: Obj = {
    version: 1,
    listeners: [{ name: 'public', host: '127.0.0.1', port: 8080 }],
    upstreams: { api: { url: upstream } },
    plugins: globalPlugins,
    routes,
  };
  return { config, notes };
}

/** `portcullis init --from-openapi SPEC --upstream URL`: writes a starting portcullis.yaml. */
export async function initCommand(
  options: InitOptions,
  out: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  if (existsSync(options.out) && !options.force)
    throw new Error(`${options.out} exists; pass --force to overwrite it`);
  const { config, notes } = await buildInitConfig(options.spec, options.upstream);
  const header = [
    `# Written by "portcullis init --from-openapi ${options.spec}". A starting point: review it, then`,
    '# run "portcullis check". Authenticator settings are read from the environment (${env:NAME:-default}).',
    ...notes.map((n) => `# NOTE: ${n.replaceAll('\n', ' ')}`),
    '',
  ].join('\n');
  await writeFile(options.out, header + stringify(config, { lineWidth: 0 }), { mode: 0o644 });
  out.write(
    `wrote ${options.out}: ${(config.routes as unknown[]).length} route(s)${notes.length ? `, ${notes.length} note(s) in the file` : ''}\n`,
  );
}
