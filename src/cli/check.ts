import { Value } from '@sinclair/typebox/value';
import { compilePlan } from '../config/compile.js';
import { loadConfigFile } from '../config/load.js';
import type { CompiledRoute, StageInfo } from '../core/plan.js';
import { createLogger } from '../observability/logger.js';
import { rbacSchema, requirementFor } from '../plugins/authorize/rbac/index.js';
import { createDefaultRegistry } from '../plugins/index.js';
import { loadTls } from '../server/tls.js';

function stageLine(s: StageInfo): string {
  const mode = s.mode === undefined ? '' : `  ${s.mode}`;
  return `    ${s.phase.padEnd(12)} ${s.plugin.padEnd(20)} priority ${String(s.priority).padStart(4)}${mode}`;
}

type Settings = Record<string, unknown>;
const isObject = (v: unknown): v is Settings => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A route's settings of one plugin over the global ones, as compile merges them (objects key by key). */
function merged(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Settings = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merged(base[k], v);
  return out;
}

const WRITE_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Function-level authorization (BFLA): a write method a caller reaches without a permission.
 * Warnings only; the config is valid (deny by default is the authorization gate's job).
 */
function bflaWarnings(route: CompiledRoute, global: Settings, own: Settings): string[] {
  const writes = route.methods.filter((m) => WRITE_METHODS.includes(m));
  if (writes.length === 0) return [];
  const rules = route.chain.stages.filter((s) => s.phase === 'authorize' && s.plugin !== 'authorization');
  const anonymous =
    (merged(global.authentication, own.authentication) as Settings | undefined)?.anonymous === true;
  const authenticates = route.chain.challenges.length > 0;
  const head = `route ${route.id}:`;
  if (rules.length === 0) {
    if (anonymous || !authenticates)
      return [
        `${head} ${writes.join(',')} reachable without authentication (authentication.anonymous: true, no rbac or policy rule)`,
      ];
    return [
      `${head} ${writes.join(',')} reachable by every authenticated caller without a permission (authorization.allow: authenticated, no rbac or policy rule)`,
    ];
  }
  const out: string[] = [];
  if (rules.every((s) => s.mode === 'monitor'))
    out.push(
      `${head} ${writes.join(',')} protected only by rules in monitor mode (${rules.map((s) => s.plugin).join(', ')}): decisions are logged, not enforced`,
    );
  // rbac alone decides and lets every authenticated caller in for these methods.
  if (rules.length === 1 && rules[0]?.plugin === 'rbac') {
    const settings = Value.Default(
      rbacSchema,
      structuredClone(merged(global.rbac === false ? {} : global.rbac, own.rbac) ?? {}),
    ) as Parameters<typeof requirementFor>[0];
    const open = writes.filter((m) => requirementFor(settings, m).requirement.anyAuthenticated);
    if (open.length > 0)
      out.push(
        `${head} ${open.join(',')} reachable by every authenticated caller without a permission (rbac anyAuthenticated: true)`,
      );
  }
  return out;
}

/** Validates the config, compiles it exactly as `start` would, and prints every route's chain. */
export async function checkCommand(file: string, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const registry = createDefaultRegistry();
  const loaded = await loadConfigFile(file, { registry });
  const plan = await compilePlan(loaded, { registry, logger: createLogger('silent'), version: 1 });
  try {
    const { config, secretPaths } = loaded;
    // Whatever came from ${env:…} is a secret: shown as "(from env)", never as its value.
    const show = (path: string, value: string): string => (secretPaths.has(path) ? '(from env)' : value);
    const lines: string[] = [];
    lines.push(
      `${file}: OK — ${config.listeners.length} listener(s), ${Object.keys(config.upstreams).length} upstream(s), ${plan.routes.length} route(s)`,
    );
    lines.push('');
    lines.push('listeners:');
    config.listeners.forEach((l, i) => {
      // The same certificate checks start does: a bad PEM fails check, not the deploy.
      if (l.tls !== undefined) loadTls(l.tls, `listeners[${i}].tls`, loaded.file);
      const scheme =
        l.tls === undefined ? (l.plaintext === 'serve' ? 'http' : `http (${l.plaintext} to https)`) : 'https';
      lines.push(
        `  ${l.name.padEnd(12)} ${scheme.startsWith('http (') ? 'http' : scheme}://${show(`listeners[${i}].host`, l.host)}:${show(`listeners[${i}].port`, String(l.port))}${scheme.startsWith('http (') ? `  ${scheme.slice(5)}` : ''}`,
      );
    });
    lines.push('');
    lines.push('upstreams:');
    for (const [name, u] of Object.entries(config.upstreams))
      lines.push(`  ${name.padEnd(12)} ${show(`upstreams.${name}.url`, new URL(u.url).origin)}`);
    lines.push('');
    lines.push('every request:');
    for (const s of plan.globalStages) lines.push(stageLine(s));
    for (const [i, route] of plan.routes.entries()) {
      lines.push('');
      const host = route.host === undefined ? '' : `${show(`routes[${i}].host`, route.host)} `;
      const path = show(`routes[${i}].path`, route.path);
      lines.push(`route ${route.id}: ${route.methods.join(',')} ${host}${path} → ${route.upstream}`);
      for (const s of route.chain.stages) lines.push(stageLine(s));
    }
    const caveats = [...new Set(plan.routes.flatMap((r) => r.chain.warnings))];
    if (caveats.length > 0) {
      lines.push('');
      lines.push('notes (read with a caveat or not enforced):');
      for (const c of caveats) lines.push(`  - ${c}`);
    }
    const warnings = plan.routes.flatMap((route, i) =>
      bflaWarnings(route, config.plugins as Settings, (config.routes[i]?.plugins ?? {}) as Settings),
    );
    if (warnings.length > 0) {
      lines.push('');
      lines.push('warnings:');
      lines.push('  write method reachable without a permission (function-level authorization, OWASP API5):');
      for (const w of warnings) lines.push(`  - ${w}`);
    }
    out.write(`${lines.join('\n')}\n`);
  } finally {
    await plan.close();
  }
}
