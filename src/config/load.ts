import { readFile } from 'node:fs/promises';
import type { TObject } from '@sinclair/typebox';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { type Document, isMap, isPair, isScalar, LineCounter, parseDocument, stringify } from 'yaml';
import type { Registry } from '../core/registry.js';
import { ConfigError, type ConfigIssue, formatPath } from './errors.js';
import { buildConfigSchema, type GatewayConfig } from './schema.js';
import { compileValidator, createConfigAjv, issuesFromAjv, type LocatedIssue } from './validate.js';

/** A validated, defaulted, deep-frozen config and what is known about where it came from. */
export interface LoadedConfig {
  readonly config: GatewayConfig;
  readonly file: string | undefined;
  /** Config paths whose values came from ${env:…}: treated as secrets, never printed. */
  readonly secretPaths: ReadonlySet<string>;
  /**
   * The YAML text as written, before ${env:…} was filled in (what the config history keeps): the
   * file's exact text, or the object given in code written as YAML.
   */
  readonly text: string;
}

const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Replaces ${env:NAME} (or ${env:NAME:-default}) inside string values, after YAML parsing so an
 * environment value can never change the document's structure.
 */
function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: (string | number)[],
  secrets: Set<string>,
  issues: LocatedIssue[],
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${env:')) return value;
    secrets.add(formatPath(path));
    return value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined) return v;
      if (fallback !== undefined) return fallback;
      issues.push({
        path: formatPath(path),
        segments: [...path],
        reason: `environment variable ${name} is not set`,
        hint: `export ${name}=… before starting, or write \${env:${name}:-default}`,
      });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, [...path, i], secrets, issues));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, [...path, k], secrets, issues);
    return out;
  }
  return value;
}

/**
 * Environment variables are strings; where the schema wants a number or a boolean and the value
 * came whole from ${env:…} ("port: ${env:PORT}"), convert it. Returns true if anything changed.
 */
function coerceEnvScalars(
  data: unknown,
  errors: readonly ErrorObject[],
  secrets: ReadonlySet<string>,
): boolean {
  let changed = false;
  for (const e of errors) {
    if (e.keyword !== 'type') continue;
    const segments = e.instancePath
      .slice(1)
      .split('/')
      .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
    if (!secrets.has(formatPath(segments.map((s) => (/^\d+$/.test(s) ? Number(s) : s))))) continue;
    const key = segments.pop() as string;
    let parent = data as Record<string, unknown>;
    for (const s of segments) parent = parent[s] as Record<string, unknown>;
    const value = parent[key];
    if (typeof value !== 'string') continue;
    const want = String(e.params.type);
    if (
      (want === 'integer' && /^-?\d{1,15}$/.test(value)) ||
      (want === 'number' && value.trim() !== '' && Number.isFinite(Number(value)))
    ) {
      parent[key] = Number(value);
      changed = true;
    } else if (want === 'boolean' && (value === 'true' || value === 'false')) {
      parent[key] = value === 'true';
      changed = true;
    }
  }
  return changed;
}

function locate(
  doc: Document | undefined,
  lc: LineCounter | undefined,
  issue: LocatedIssue,
): { line?: number; column?: number } {
  if (!doc || !lc) return {};
  const segments = [...issue.segments];
  // Walk to the deepest node that exists; for unknown keys, point at the key itself.
  while (segments.length >= 0) {
    const node = segments.length === 0 ? doc.contents : doc.getIn(segments, true);
    if (node && typeof node === 'object') {
      let range: readonly number[] | null | undefined;
      if (issue.key !== undefined && isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === issue.key);
        if (pair && isScalar(pair.key)) range = pair.key.range;
      }
      range ??= (node as { range?: readonly number[] | null }).range;
      if (range) {
        const pos = lc.linePos(range[0] as number);
        return { line: pos.line, column: pos.col };
      }
    }
    if (segments.length === 0) break;
    segments.pop();
  }
  return {};
}

export interface LoadOptions {
  readonly registry: Registry;
  readonly env?: NodeJS.ProcessEnv;
}

const validators = new WeakMap<Registry, ValidateFunction>();

function validatorFor(registry: Registry): ValidateFunction {
  let v = validators.get(registry);
  if (!v) {
    const schema: TObject = buildConfigSchema(registry);
    v = compileValidator(createConfigAjv(), schema);
    validators.set(registry, v);
  }
  return v;
}

/** Validates an already-parsed config object (from YAML or from code). */
export function loadConfigObject(
  raw: unknown,
  options: LoadOptions,
  source?: { file: string; doc: Document; lc: LineCounter; text: string },
): LoadedConfig {
  const file = source?.file;
  const secrets = new Set<string>();
  const envIssues: LocatedIssue[] = [];
  const data = substituteEnv(raw, options.env ?? process.env, [], secrets, envIssues);
  const toIssue = (i: LocatedIssue): ConfigIssue => ({
    file,
    ...locate(source?.doc, source?.lc, i),
    path: i.path,
    reason: i.reason,
    hint: i.hint,
  });
  if (envIssues.length) throw new ConfigError(envIssues.map(toIssue));
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError([
      { file, reason: 'the config must be a YAML mapping', hint: 'see examples/quickstart/portcullis.yaml' },
    ]);
  }
  const validate = validatorFor(options.registry);
  if (!validate(data) && !(coerceEnvScalars(data, validate.errors ?? [], secrets) && validate(data))) {
    throw new ConfigError(issuesFromAjv(validate.errors ?? []).map(toIssue));
  }
  const text = source?.text ?? stringify(raw);
  return { config: deepFreeze(data as GatewayConfig), file, secretPaths: secrets, text };
}

/** read → parse (file:line:column) → validate (path, reason, hint) → defaults → deep-freeze. */
export async function loadConfigFile(file: string, options: LoadOptions): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([
      {
        file,
        reason: code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? 'error'})`,
        hint: 'pass --config FILE, or run from a directory with portcullis.yaml',
      },
    ]);
  }
  return loadConfigText(text, file, options);
}

export function loadConfigText(text: string, file: string, options: LoadOptions): LoadedConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true, merge: false });
  if (doc.errors.length) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return {
          file,
          line: pos?.line,
          column: pos?.col,
          reason: `YAML syntax: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`,
          hint:
            e.code === 'DUPLICATE_KEY'
              ? 'each key may appear once in a mapping'
              : 'check indentation and quoting around this position',
        };
      }),
    );
  }
  const raw = doc.toJS({ maxAliasCount: 100 });
  return loadConfigObject(raw, options, { file, doc, lc, text });
}

/**
 * The environment a config may read, recording every value it hands out: an error message that
 * quotes a bad value ("… is not an IP address") must not become a way to read the gateway's
 * secrets (${env:ADMIN_TOKEN} written where an address is expected). Scrub messages with scrubEnv.
 */
export function recordingEnv(source: NodeJS.ProcessEnv = process.env): {
  env: NodeJS.ProcessEnv;
  seen: Set<string>;
} {
  const seen = new Set<string>();
  const env = new Proxy(source, {
    get(target, name) {
      const v = typeof name === 'string' ? target[name] : undefined;
      if (typeof v === 'string' && v.length >= 4) {
        seen.add(v);
        // A parser quotes the line it stopped on, not the whole value: a PEM key's lines each count.
        for (const line of v.split(/\r?\n/)) if (line.trim().length >= 4) seen.add(line.trim());
        const escaped = JSON.stringify(v).slice(1, -1);
        if (escaped !== v) seen.add(escaped);
      }
      return v;
    },
  });
  return { env, seen };
}

/** `text` with every value handed out by a recordingEnv replaced by "[redacted]". */
export function scrubEnv(text: string, seen: ReadonlySet<string>): string {
  let out = text;
  // Longest first: a value's line must not be cut out before the whole value is.
  for (const v of [...seen].sort((a, b) => b.length - a.length))
    if (out.includes(v)) out = out.split(v).join('[redacted]');
  // A message quoting a part of a long value (a snippet window) is withheld whole.
  for (const v of seen) {
    if (v.length < 16) continue;
    for (let i = 0; i + WINDOW <= v.length; i++) if (out.includes(v.slice(i, i + WINDOW))) return WITHHELD;
  }
  return out;
}

/** Characters of a secret that, found together in a message, withhold it. */
const WINDOW = 12;
const WITHHELD = '[message withheld: it quoted a value read from the environment]';
