import { compilePlan } from '../config/compile.js';
import { loadConfigFile } from '../config/load.js';
import type { StageInfo } from '../core/plan.js';
import { createLogger } from '../observability/logger.js';
import { createDefaultRegistry } from '../plugins/index.js';
import { loadTls } from '../server/tls.js';

function stageLine(s: StageInfo): string {
  const mode = s.mode === undefined ? '' : `  ${s.mode}`;
  return `    ${s.phase.padEnd(12)} ${s.plugin.padEnd(20)} priority ${String(s.priority).padStart(4)}${mode}`;
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
    out.write(`${lines.join('\n')}\n`);
  } finally {
    await plan.close();
  }
}
