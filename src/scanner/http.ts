import { Agent, request } from 'undici';
import { Redactor } from './redact.js';
import type { Evidence, ScanHttp, ScanRequest, ScanResponse } from './types.js';

/** Most of an answer the scanner reads; the rest is dropped (a scan must not be made to hold gigabytes). */
const MAX_BODY = 256 * 1024;

export interface HttpOptions {
  /** Base URL of the API under test (its path prefix is kept: "http://host/api" + "/users"). */
  readonly target: URL;
  /** Most requests the whole scan may send. */
  readonly budget: number;
  /** Most requests per second (0: no limit). */
  readonly rate: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly dryRun: boolean;
  /** Accept any TLS certificate (self-signed staging targets). */
  readonly insecure: boolean;
  /** Secrets to redact from evidence (the identities' values). */
  readonly secrets: readonly string[];
  /** performance.now() after which nothing more is sent (the scan's --max-time). */
  readonly deadline?: number;
}

export interface PlannedRequest {
  readonly method: string;
  readonly path: string;
  readonly purpose: string;
}

/**
 * The scanner's only way out: every request passes the budget, the rate and the concurrency cap;
 * in --dry-run nothing is sent and the request is recorded instead.
 */
export class BudgetedHttp implements ScanHttp {
  readonly dryRun: boolean;
  readonly planned: PlannedRequest[] = [];
  readonly #options: HttpOptions;
  readonly #agent: Agent;
  readonly #redactor: Redactor;
  readonly #base: string;
  #left: number;
  #sent = 0;
  #answered = 0;
  #nextSlot = 0;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(options: HttpOptions) {
    this.#options = options;
    this.dryRun = options.dryRun;
    this.#left = options.budget;
    this.#redactor = new Redactor(options.secrets);
    this.#base = `${options.target.origin}${options.target.pathname.replace(/\/+$/, '')}`;
    this.#agent = new Agent({
      connections: Math.max(1, options.concurrency),
      connect: { rejectUnauthorized: !options.insecure, timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  }

  get remaining(): number {
    return this.#left;
  }

  get sent(): number {
    return this.#sent;
  }

  /** Requests the target answered (any status). */
  get answered(): number {
    return this.#answered;
  }

  /** The scan's time is up: nothing more is sent. */
  get expired(): boolean {
    return this.#options.deadline !== undefined && performance.now() > this.#options.deadline;
  }

  get redactor(): Redactor {
    return this.#redactor;
  }

  async send(req: ScanRequest): Promise<ScanResponse | undefined> {
    if (this.#left <= 0 || this.expired) return undefined;
    this.#left--;
    if (this.dryRun) {
      this.planned.push({ method: req.method, path: this.#redactor.url(req.path), purpose: req.purpose });
      return undefined;
    }
    await this.#acquire();
    try {
      await this.#pace();
      if (this.expired) return undefined;
      this.#sent++;
      const res = await this.#exchange(req);
      if (res !== undefined) this.#answered++;
      return res;
    } finally {
      this.#release();
    }
  }

  async #exchange(req: ScanRequest): Promise<ScanResponse | undefined> {
    const headers: Record<string, string> = { 'user-agent': 'portcullis-scan', ...(req.headers ?? {}) };
    if (req.as !== undefined) headers[req.as.header] = req.as.value;
    const timeout = req.timeoutMs ?? this.#options.timeoutMs;
    const started = performance.now();
    try {
      const res = await request(this.#base + req.path, {
        method: req.method as 'GET',
        headers,
        body: req.body,
        dispatcher: this.#agent,
        signal: AbortSignal.timeout(timeout),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        const c = chunk as Buffer;
        chunks.push(size + c.length > MAX_BODY ? c.subarray(0, MAX_BODY - size) : c);
        size += c.length;
        // Enough to judge: an endless or huge body is cut, never read to its end.
        if (size >= MAX_BODY) {
          res.body.destroy();
          break;
        }
      }
      const body = Buffer.concat(chunks).toString('utf8');
      const flat: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) {
        if (v !== undefined) flat[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      }
      let json: unknown;
      if (/json/i.test(flat['content-type'] ?? '') || /^\s*[[{]/.test(body)) {
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
      }
      return { status: res.statusCode, headers: flat, body, ms: performance.now() - started, json };
    } catch {
      // Refused, reset, timed out: the check sees "no answer" and skips what needed one.
      return undefined;
    }
  }

  evidence(req: ScanRequest, res: ScanResponse | undefined, note: string): Evidence {
    const r = this.#redactor;
    const reqHeaders: Record<string, string> = { ...(req.headers ?? {}) };
    if (req.as !== undefined) reqHeaders[req.as.header] = req.as.value;
    const body = req.body === undefined ? undefined : r.body(req.body.toString());
    return {
      request: {
        method: req.method,
        url: r.url(req.path),
        headers: r.headers(reqHeaders),
        ...(body === undefined ? {} : { body }),
      },
      ...(res === undefined
        ? {}
        : { response: { status: res.status, headers: r.headers(res.headers), body: r.body(res.body) } }),
      note,
    };
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  #acquire(): Promise<void> {
    if (this.#active < this.#options.concurrency) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next();
    else this.#active--;
  }

  /** Spaces requests 1000/rate ms apart, whatever the concurrency. */
  async #pace(): Promise<void> {
    if (this.#options.rate <= 0) return;
    const gap = 1000 / this.#options.rate;
    const now = performance.now();
    const slot = Math.max(now, this.#nextSlot);
    this.#nextSlot = slot + gap;
    if (slot > now) await new Promise((r) => setTimeout(r, slot - now));
  }
}
