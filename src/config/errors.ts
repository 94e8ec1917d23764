/** One problem found in a config file, located as precisely as we can. */
export interface ConfigIssue {
  readonly file?: string | undefined;
  readonly line?: number | undefined;
  readonly column?: number | undefined;
  /** Config path, e.g. "routes[2].plugins.request-guard.maxBodyBytes". */
  readonly path?: string | undefined;
  readonly reason: string;
  readonly hint?: string | undefined;
}

/** A config that cannot be used. Thrown at load or compile time; the CLI prints it and exits 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.issues = issues;
  }
}

export function formatIssue(issue: ConfigIssue): string {
  let where = issue.file ?? '<config>';
  if (issue.line !== undefined) where += `:${issue.line}:${issue.column ?? 1}`;
  const path = issue.path ? ` ${issue.path}:` : '';
  const hint = issue.hint ? `\n  hint: ${issue.hint}` : '';
  return `${where}:${path} ${issue.reason}${hint}`;
}

/** JSON-pointer-ish segments → "routes[2].plugins.request-guard". */
export function formatPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}
