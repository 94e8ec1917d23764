import type { LoadedSpec } from '../openapi/load.js';
import type { OperationSpec } from '../openapi/operations.js';

/**
 * The scanner's contract: what a check is given, what it reports. `portcullis scan` plans requests
 * from an OpenAPI description, runs every selected check against a target, and reports findings;
 * `portcullis lint` reports findings of the same shape from a static read of a spec and a config.
 * One check module per family under checks/, one reporter per format under reporters/.
 */

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** OWASP API Security Top 10 (2023) categories, plus injection (OWASP Top 10 2021 A03), and lint. */
export const CATEGORIES = {
  API1: 'API1:2023 Broken Object Level Authorization',
  API2: 'API2:2023 Broken Authentication',
  API3: 'API3:2023 Broken Object Property Level Authorization',
  API4: 'API4:2023 Unrestricted Resource Consumption',
  API5: 'API5:2023 Broken Function Level Authorization',
  API6: 'API6:2023 Unrestricted Access to Sensitive Business Flows',
  API7: 'API7:2023 Server Side Request Forgery',
  API8: 'API8:2023 Security Misconfiguration',
  API9: 'API9:2023 Improper Inventory Management',
  API10: 'API10:2023 Unsafe Consumption of APIs',
  INJECTION: 'A03:2021 Injection',
} as const;
export type Category = keyof typeof CATEGORIES;

/**
 * What every finding of one rule shares: the stable id, the category, the default severity, why it
 * matters, how to fix it, and the Portcullis config that blocks it. Kept as data in each check
 * module (and listed by `portcullis scan --list-rules`).
 */
export interface Rule {
  /** Stable, kebab-case, prefixed by family: "api2-jwt-alg-none", "lint-spec-no-security". */
  readonly id: string;
  readonly category: Category;
  readonly severity: Severity;
  readonly title: string;
  /** Why it matters, in one or two sentences. */
  readonly why: string;
  /** How to fix it in the API. */
  readonly fix: string;
  /** The Portcullis config (YAML) that would block or detect it in front of the API. */
  readonly portcullis: string;
}

/** A request or response excerpt, credentials already redacted (Authorization, cookies, keys, tokens). */
export interface HttpExcerpt {
  readonly method?: string;
  readonly url?: string;
  readonly status?: number;
  readonly headers: Readonly<Record<string, string>>;
  /** At most 2 KiB of the body, as text. */
  readonly body?: string;
}

export interface Evidence {
  readonly request: HttpExcerpt;
  readonly response?: HttpExcerpt;
  /** What in the exchange shows the problem ("200 without credentials", "field passwordHash"). */
  readonly note: string;
}

export interface Finding {
  /**
   * Stable across runs for the same problem at the same place: `${rule.id}:${where}` where "where"
   * is the operation ("GET /users/{id}") or the spec/config path. SARIF partial fingerprints use it.
   */
  readonly id: string;
  readonly rule: Rule;
  /** The rule's severity unless the check raised or lowered it for this instance. */
  readonly severity: Severity;
  /** Operation ("GET /users/{id}"), URL path, or spec/config location ("paths./users.get"). */
  readonly where: string;
  /** One line about this instance. */
  readonly message: string;
  readonly evidence: readonly Evidence[];
  /** For lint: file and line of the spec or config, when known. */
  readonly location?: { readonly file: string; readonly line?: number };
}

/** A credential the scanner presents: a header (Authorization: Bearer …, X-Api-Key: …). */
export interface Identity {
  readonly name: string;
  /** Header name, lower case. */
  readonly header: string;
  readonly value: string;
}

/** One request the scanner sends. Headers lower case; body already serialized. */
export interface ScanRequest {
  readonly method: string;
  /** Path and query, starting with "/"; joined to the target's base URL. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** Identity to present (its header is added); undefined: no credentials. */
  readonly as?: Identity;
  /** Per-request timeout; default the scan's (5 s). */
  readonly timeoutMs?: number;
  /** Why the check sends it, for --dry-run and evidence ("BOLA: B reads A's object"). */
  readonly purpose: string;
}

export interface ScanResponse {
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The body as text (at most 256 KiB read; the rest dropped). */
  readonly body: string;
  /** Wall-clock milliseconds from sending to the whole answer (time-based checks). */
  readonly ms: number;
  /** Parsed JSON body, when the body is JSON. */
  readonly json: unknown;
}

/**
 * Sends requests within the scan's budget and rate. Resolves undefined when the request was not
 * sent: in --dry-run (it is recorded instead), when the budget is spent, or on a network error
 * (connection refused, timeout) — a check then skips the steps that need the answer.
 */
export interface ScanHttp {
  send(request: ScanRequest): Promise<ScanResponse | undefined>;
  /** Requests left in the budget. */
  readonly remaining: number;
  readonly dryRun: boolean;
  /** An excerpt of an exchange for evidence, credentials redacted. */
  evidence(request: ScanRequest, response: ScanResponse | undefined, note: string): Evidence;
}

/** An operation of the spec, with a request that should succeed built from its schemas. */
export interface PlannedOperation {
  readonly op: OperationSpec;
  /** "GET /users/{id}". */
  readonly label: string;
  /** Path with example values filled in (path params from examples, defaults, or type-valid values). */
  readonly path: string;
  /** Example query string without "?" ("" when none is needed). */
  readonly query: string;
  /** Example JSON body for operations that take one (undefined otherwise). */
  readonly body: unknown;
  /** The operation declares security (it should refuse anonymous callers). */
  readonly secured: boolean;
  /** Names of the path parameters that look like object ids ("id", "userId", "order_id"). */
  readonly idParams: readonly string[];
}

/** A listener on loopback the scanner runs for SSRF checks: URLs pointed at it prove a fetch. */
export interface Canary {
  /** Base URL ("http://127.0.0.1:PORT"). */
  readonly url: string;
  /** A fresh URL under the canary, unique per probe. */
  token(purpose: string): string;
  /** Whether something fetched that URL (waits up to `ms`). */
  hit(url: string, ms?: number): Promise<boolean>;
}

export interface ScanContext {
  readonly target: URL;
  readonly spec: LoadedSpec;
  readonly operations: readonly PlannedOperation[];
  /** --auth: the main identity. */
  readonly auth: Identity | undefined;
  /** --auth-second: another user of the same privilege (BOLA) — or lower privilege (function level). */
  readonly authSecond: Identity | undefined;
  readonly http: ScanHttp;
  readonly canary: Canary | undefined;
  report(finding: Omit<Finding, 'id'> & { readonly id?: string }): void;
  /** Progress line for the text reporter's progress bar ("API1 GET /users/{id}"). */
  progress(step: string): void;
  /** Says what could not be tested and why ("no create operation: BOLA not tested"); shown with the results. */
  note(text: string): void;
}

/** One family of checks. `run` sends what it needs through ctx.http and reports through ctx.report. */
export interface Check {
  /** "api1-bola", "api2-auth", …: what --checks selects. */
  readonly id: string;
  readonly category: Category;
  readonly description: string;
  readonly rules: readonly Rule[];
  run(ctx: ScanContext): Promise<void>;
}

export interface ScanResult {
  readonly target: string;
  readonly spec: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly requestsSent: number;
  /** Requests the target answered (any status); 0 with requests sent means nothing was listening. */
  readonly requestsAnswered?: number;
  readonly budget: number;
  readonly checks: readonly string[];
  readonly findings: readonly Finding[];
  /** --dry-run: the requests that would have been sent. */
  readonly planned?: readonly { readonly method: string; readonly path: string; readonly purpose: string }[];
  /** What could not be tested and why ("API1: needs --auth and --auth-second"). */
  readonly notes: readonly string[];
}

export type ReportFormat = 'text' | 'json' | 'sarif' | 'junit' | 'html';
