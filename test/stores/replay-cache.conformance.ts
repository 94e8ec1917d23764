import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ReplayCache } from '../../src/stores/types.js';

export interface ReplayBackend {
  /** Another instance on the same storage (for memory: the same instance). */
  open(): ReplayCache;
  cleanup(): Promise<void>;
}

/** The one conformance suite every ReplayCache passes. */
export function replayCacheConformance(
  name: string,
  setup: () => Promise<ReplayBackend>,
  skip: string | false = false,
): void {
  describe(`ReplayCache conformance: ${name}`, { skip }, () => {
    let backend: ReplayBackend;
    let cache: ReplayCache;
    const opened: ReplayCache[] = [];
    const open = (): ReplayCache => {
      const c = backend.open();
      opened.push(c);
      return c;
    };
    const fresh = (): string => `jti-${randomBytes(8).toString('hex')}`;

    before(async () => {
      backend = await setup();
      cache = open();
    });
    after(async () => {
      for (const c of opened) await c.close();
      await backend?.cleanup();
    });

    it('the first claim wins, a replay loses', async () => {
      const k = fresh();
      assert.equal(await cache.claim(k, 10_000), true);
      assert.equal(await cache.claim(k, 10_000), false);
      assert.equal(await open().claim(k, 10_000), false, 'another instance sees the claim');
      assert.equal(await cache.claim(fresh(), 10_000), true);
    });

    it('keys are opaque: odd characters and long values', async () => {
      for (const k of ['', ' ', '{tag}', '*', 'a:b:c', 'ü🔑', 'x'.repeat(2000)]) {
        assert.equal(await cache.claim(`${fresh()}${k}`, 10_000), true);
      }
      const odd = `${fresh()}{x}*`;
      assert.equal(await cache.claim(odd, 10_000), true);
      assert.equal(await cache.claim(odd, 10_000), false);
    });

    it('a value may be claimed again once its TTL has passed', async () => {
      const k = fresh();
      assert.equal(await cache.claim(k, 100), true);
      assert.equal(await cache.claim(k, 100), false);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(await cache.claim(k, 100), true);
    });

    it('of many concurrent claims of one value, across instances, exactly one wins', async () => {
      const other = open();
      for (let round = 0; round < 5; round++) {
        const k = fresh();
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => (i % 2 ? cache : other).claim(k, 10_000)),
        );
        assert.equal(results.filter(Boolean).length, 1);
      }
    });
  });
}
