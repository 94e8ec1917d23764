import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import { loadConfigFile } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { createDefaultRegistry } from '../plugins/index.js';
import { type BoundListener, Gateway } from '../server/gateway.js';

export interface Started {
  readonly gateway: Gateway;
  readonly listeners: readonly BoundListener[];
  readonly logger: Logger;
}

/**
 * Loads, compiles and starts the gateway; SIGTERM/SIGINT drain and stop it, SIGHUP reloads the
 * file (a bad file keeps the running plan and logs why).
 */
export async function startGateway(
  file: string,
  options: { handleSignals?: boolean } = {},
): Promise<Started> {
  const registry = createDefaultRegistry();
  const loaded = await loadConfigFile(file, { registry });
  const logger = createLogger(loaded.config.log.level);
  const gateway = await Gateway.create({ loaded, logger, registry });
  const listeners = await gateway.listen();
  for (const [name, u] of Object.entries(loaded.config.upstreams)) {
    if (u.tls.insecureSkipVerify && u.url.startsWith('https:')) {
      process.stderr.write(
        `portcullis: WARNING: certificate verification is OFF for upstream "${name}" (tls.insecureSkipVerify)\n`,
      );
    }
  }
  if (options.handleSignals !== false) {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, inFlight: gateway.inFlight }, 'shutting down');
      gateway.close().then(
        () => {
          logger.flush();
          process.exitCode = 0;
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exitCode = 1;
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      loadConfigFile(file, { registry })
        .then((next) => gateway.reload(next))
        .catch((err: unknown) => {
          const reason = err instanceof ConfigError ? err.issues : String((err as Error).message);
          logger.error({ reason }, 'reload failed; keeping the running config');
        });
    });
  }
  return { gateway, listeners, logger };
}
