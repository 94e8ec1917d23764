import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Canary } from './types.js';

/**
 * A listener on loopback that remembers which of its unique URLs were fetched: an SSRF probe points
 * a URL-taking parameter at one and asks whether the API under test came to get it. Loopback only:
 * it proves a fetch by an API on this machine (the scanner's tests, a local gateway). A remote API
 * cannot reach it: against one, api7-ssrf can only report internal addresses accepted.
 */
export class LoopbackCanary implements Canary {
  readonly #server: Server;
  readonly #hits = new Set<string>();
  readonly #waiters = new Map<string, () => void>();
  #url = '';

  private constructor() {
    this.#server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] as string;
      this.#hits.add(path);
      this.#waiters.get(path)?.();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('portcullis canary');
    });
  }

  static async start(host = '127.0.0.1'): Promise<LoopbackCanary> {
    const c = new LoopbackCanary();
    await new Promise<void>((resolve) => c.#server.listen(0, host, resolve));
    const { port } = c.#server.address() as AddressInfo;
    c.#url = `http://${host}:${port}`;
    return c;
  }

  get url(): string {
    return this.#url;
  }

  token(purpose: string): string {
    const safe = purpose.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 40);
    return `${this.#url}/c/${safe}-${randomBytes(8).toString('hex')}`;
  }

  hit(url: string, ms = 1000): Promise<boolean> {
    const path = new URL(url).pathname;
    if (this.#hits.has(path)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(path);
        resolve(this.#hits.has(path));
      }, ms);
      this.#waiters.set(path, () => {
        clearTimeout(timer);
        this.#waiters.delete(path);
        resolve(true);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }
}
