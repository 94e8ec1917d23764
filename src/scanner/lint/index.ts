import { readFile } from 'node:fs/promises';
import { compilePlan } from '../../config/compile.js';
import { ConfigError } from '../../config/errors.js';
import { type LoadedConfig, loadConfigFile, recordingEnv, scrubEnv } from '../../config/load.js';
import type { Plan } from '../../core/plan.js';
import type { Registry } from '../../core/registry.js';
import { createLogger } from '../../observability/logger.js';
import { loadSpec } from '../../openapi/load.js';
import { createDefaultRegistry } from '../../plugins/index.js';
import type { Finding, Rule } from '../types.js';
import { CONFIG_RULE_LIST, lintConfig, UNSET_ENV_PLACEHOLDER } from './config.js';
import { lintSpecDetailed, SPEC_RULE_LIST } from './spec.js';

export { CONFIG_RULE_LIST, CONFIG_RULES, lintConfig } from './config.js';
export { lintSpec, lintSpecDetailed, SPEC_RULE_LIST, SPEC_RULES } from './spec.js';

/** Every lint rule, spec rules first (for --list-rules and the docs). */
export const LINT_RULES: readonly Rule[] = [...SPEC_RULE_LIST, ...CONFIG_RULE_LIST];

/** Lint was asked to read nothing. */
export class LintError extends Error {
  override name = 'LintError';
  readonly code = 'LINT_NO_INPUT';
}

export interface LintOptions {
  /** OpenAPI description (JSON or YAML). */
  readonly spec?: string;
  /** Portcullis config (YAML). */
  readonly config?: string;
  /** Where ${env:…} references are read (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  readonly registry?: Registry;
}

const UNSET = /^environment variable ([A-Za-z_][A-Za-z0-9_]*) is not set$/;

/**
 * Loads the config as `start` would. Secrets usually live in ${env:…} variables that CI does not
 * set: those are filled with a placeholder (and said so), so the rest of the config is still linted.
 */
async function loadForLint(
  file: string,
  registry: Registry,
  env: NodeJS.ProcessEnv,
  notes: string[],
): Promise<{ loaded: LoadedConfig; seen: ReadonlySet<string> }> {
  const recording = recordingEnv(env);
  try {
    return { loaded: await loadConfigFile(file, { registry, env: recording.env }), seen: recording.seen };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const unset = err.issues.map((i) => UNSET.exec(i.reason)?.[1]);
    if (unset.length === 0 || unset.some((n) => n === undefined)) throw err;
    const names = new Set(unset as string[]);
    notes.push(
      `config: ${[...names].join(', ')} ${names.size === 1 ? 'is' : 'are'} not set here; what they fill was not checked`,
    );
    const filled: NodeJS.ProcessEnv = { ...env };
    for (const n of names) filled[n] = UNSET_ENV_PLACEHOLDER;
    const again = recordingEnv(filled);
    return { loaded: await loadConfigFile(file, { registry, env: again.env }), seen: again.seen };
  }
}

/** `portcullis lint`: the findings of a spec, a config, or both, and notes on what was not checked. */
export async function runLint(options: LintOptions): Promise<{ findings: Finding[]; notes: string[] }> {
  if (options.spec === undefined && options.config === undefined)
    throw new LintError('portcullis lint needs --spec FILE, --config FILE, or both');
  const findings: Finding[] = [];
  const notes: string[] = [];

  if (options.spec !== undefined) {
    const spec = await loadSpec(options.spec);
    let text: string | undefined;
    try {
      text = await readFile(spec.file, 'utf8');
    } catch {
      text = undefined; // lines are a nicety; the findings stand without them
    }
    const result = lintSpecDetailed(spec, text);
    findings.push(...result.findings);
    notes.push(...result.notes);
    if (spec.converted)
      notes.push('spec: Swagger 2.0 converted to OpenAPI 3.0; findings carry no line numbers');
  }

  if (options.config !== undefined) {
    const registry = options.registry ?? createDefaultRegistry();
    const { loaded, seen } = await loadForLint(options.config, registry, options.env ?? process.env, notes);
    // Compiled as `start` would, for the chains it really builds; a config the gateway would refuse
    // is still linted statically, and the reason is noted (scrubbed of environment values).
    let plan: Plan | undefined;
    try {
      plan = await compilePlan(loaded, { registry, logger: createLogger('silent'), version: 1 });
    } catch (err) {
      const reason = (err instanceof Error ? err.message : String(err)).split('\n').slice(0, 3).join('; ');
      notes.push(
        `config: the gateway would refuse this config (${scrubEnv(reason, seen)}); linted as written`,
      );
    }
    try {
      findings.push(...lintConfig(loaded, registry, { plan, notes }));
    } finally {
      await plan?.close(true);
    }
  }
  return { findings, notes };
}
