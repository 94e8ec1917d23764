import { fileURLToPath } from 'node:url';
import { startGateway } from '../../src/cli/start.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { createDefaultRegistry } from '../../src/plugins/index.js';
import { openStores } from '../../src/stores/index.js';
import { KeyService } from '../../src/stores/key-service.js';
import { startDemoApi } from '../demo-api/server.js';

/**
 * A fresh demo API key for the routes that need one (the previous demo keys are revoked), through
 * the same key store and service as `portcullis keys create`. Undefined if the config has no keys.
 */
async function demoKey(file: string): Promise<string | undefined> {
  const loaded = await loadConfigFile(file, { registry: createDefaultRegistry() });
  const usesKeys = loaded.config.routes.some((r) => (r.plugins as Record<string, unknown>)['api-key']);
  if (!usesKeys) return undefined;
  const stores = openStores(loaded.config.stores, createLogger('warn', process.stderr));
  try {
    const service = new KeyService(stores.keys(), stores.keyPepper());
    for (const old of await service.list({ consumer: 'quickstart-demo' }))
      if (old.revokedAt === null) await service.revoke(old.id);
    const { key } = await service.create({
      consumer: 'quickstart-demo',
      name: 'npm start',
      scopes: ['orders'],
    });
    return key;
  } finally {
    await stores.close();
  }
}

/**
 * `npm start`: the demo API on 127.0.0.1:3001 (DEMO_API_PORT), then Portcullis on
 * examples/quickstart/portcullis.yaml (port 8080, or PORTCULLIS_PORT; PORTCULLIS_CONFIG picks
 * another file, e.g. the HTTPS variant), then three curl commands.
 */
const config =
  process.env.PORTCULLIS_CONFIG ??
  fileURLToPath(new URL('../../../examples/quickstart/portcullis.yaml', import.meta.url));

try {
  const demo = await startDemoApi(Number(process.env.DEMO_API_PORT ?? 3001));
  process.env.DEMO_API_URL = demo.url;
  const key = await demoKey(config);
  const { listeners, gateway } = await startGateway(config);
  const url = (listeners[0] as { url: string }).url;
  // Over HTTPS with the dev certificates, curl needs to trust the dev CA.
  const curl = url.startsWith('https:')
    ? `curl --cacert ${process.env.PORTCULLIS_CA ?? 'certs/ca.crt'} -i`
    : 'curl -i';
  process.stderr.write(
    [
      '',
      `Portcullis is running on ${url}  (demo API on ${demo.url}, loopback only)`,
      '',
      'Try it:',
      `  ${curl} ${url}/api/hello                 # passes: 200 from the demo API`,
      `  ${curl} -X DELETE ${url}/api/orders/42   # rejected: 405 problem+json METHOD_NOT_ALLOWED`,
      `  ${curl} ${url}/admin                     # undeclared: 404 ROUTE_NOT_FOUND, never proxied`,
      ...(key === undefined
        ? []
        : [
            `  ${curl} ${url}/api/orders/42            # no credential: 401 UNAUTHENTICATED`,
            `  ${curl} -H 'Authorization: ApiKey ${key}' ${url}/api/orders/42`,
            '                                            # the demo API key (made for this run): 200',
            `  ${curl} -H 'Authorization: ApiKey ${key}' -H 'Content-Type: application/json' \\`,
            `       -d '{"item":"moat","ownerId":"mallory"}' ${url}/api/orders`,
            '                                            # mass assignment: 400 REQUEST_INVALID (/body/ownerId is read-only)',
          ]),
      '',
      'Access log lines follow as JSON. Ctrl-C stops (in-flight requests finish first).',
      '',
      '',
    ].join('\n'),
  );
  const stopDemo = (): void => {
    // The gateway drains first; the demo API goes once the gateway is done with it.
    const wait = setInterval(() => {
      if (gateway.inFlight === 0) {
        clearInterval(wait);
        demo.server.close();
        demo.server.closeAllConnections();
      }
    }, 50);
  };
  process.once('SIGTERM', stopDemo);
  process.once('SIGINT', stopDemo);
} catch (err) {
  if (err instanceof ConfigError) process.stderr.write(`portcullis: invalid config\n${err.message}\n`);
  else process.stderr.write(`portcullis: ${(err as Error).message}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
}
