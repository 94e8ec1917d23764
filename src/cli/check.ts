import { compilePlan } from '../config/compile.js';
import { loadConfigFile } from '../config/load.js';
import type { StageInfo } from '../core/plan.js';
import { createLogger } from '../observability/logger.js';
import { createDefaultRegistry } from '../plugins/index.js';

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
    const { config } = loaded;
    const lines: string[] = [];
    lines.push(
      `${file}: OK — ${config.listeners.length} listener(s), ${Object.keys(config.upstreams).length} upstream(s), ${plan.routes.length} route(s)`,
    );
    lines.push('');
    lines.push('listeners:');
    for (const l of config.listeners) lines.push(`  ${l.name.padEnd(12)} http://${l.host}:${l.port}`);
    lines.push('');
    lines.push('upstreams:');
    // Only the origin: a URL may carry credentials from ${env:…}.
    for (const [name, u] of Object.entries(config.upstreams))
      lines.push(`  ${name.padEnd(12)} ${new URL(u.url).origin}`);
    lines.push('');
    lines.push('every request:');
    for (const s of plan.globalStages) lines.push(stageLine(s));
    for (const route of plan.routes) {
      lines.push('');
      const host = route.host === undefined ? '' : `${route.host} `;
      lines.push(`route ${route.id}: ${route.methods.join(',')} ${host}${route.path} → ${route.upstream}`);
      for (const s of route.chain.stages) lines.push(stageLine(s));
    }
    out.write(`${lines.join('\n')}\n`);
  } finally {
    await plan.close();
  }
}
