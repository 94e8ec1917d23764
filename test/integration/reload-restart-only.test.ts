import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfigObject } from '../../src/config/load.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import { baseConfig, startGateway, startUpstream, waitForLog } from '../helpers.js';

describe('reload of settings read at start only', () => {
  it('says which sections keep their running values until a restart; trusted proxies do reload', async () => {
    const up = await startUpstream();
    const config = baseConfig(up.url);
    const gw = await startGateway(config);
    try {
      const registry = createDefaultRegistry();
      const listeners = config.listeners as Record<string, unknown>[];
      // Only trusted proxies change: no warning.
      await gw.gateway.reload(
        loadConfigObject(
          { ...config, listeners: [{ ...listeners[0], trustedProxies: ['10.0.0.1'] }] },
          { registry },
        ),
      );
      // A timeout of the listener changes: applied to the plan, but the listener keeps its own.
      await gw.gateway.reload(
        loadConfigObject(
          {
            ...config,
            listeners: [{ ...listeners[0], trustedProxies: ['10.0.0.1'], keepAliveTimeoutMs: 1234 }],
          },
          { registry },
        ),
      );
      const line = await waitForLog(
        gw,
        (l) => typeof l.msg === 'string' && l.msg.includes('take effect only on restart'),
      );
      assert.deepEqual(line.sections, ['listeners']);
      assert.equal(
        gw.logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('take effect only on restart'))
          .length,
        1,
        'the trusted-proxies reload warned too',
      );
      assert.equal((await fetch(`${gw.url}/items`)).status, 200);
    } finally {
      await gw.close();
      await up.close();
    }
  });
});
