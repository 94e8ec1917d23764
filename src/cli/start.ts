import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import { type ConfigHistory, FileConfigHistory } from '../config/history.js';
import { type LoadedConfig, loadConfigFile } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { createDefaultRegistry } from '../plugins/index.js';
import { type BoundListener, Gateway } from '../server/gateway.js';
import { ConfigReloader } from '../server/reload.js';

export interface Started {
  readonly gateway: Gateway;
  readonly listeners: readonly BoundListener[];
  readonly logger: Logger;
  /** Reloads the config file (SIGHUP, file watch). */
  readonly reloader: ConfigReloader;
  /** Stops watching and drains the gateway (what SIGTERM does). */
  stop(graceMs?: number): Promise<void>;
}

/** The history directory of reload.history, created at start (relative to the working directory). */
async function openHistory(loaded: LoadedConfig): Promise<ConfigHistory> {
  const { dir, keep } = loaded.config.reload.history;
  try {
    return await FileConfigHistory.open(dir, keep);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([
      {
        file: loaded.file,
        path: 'reload.history.dir',
        reason: `cannot create the config history directory ${dir} (${code})`,
        hint: 'point reload.history.dir at a writable directory',
      },
    ]);
  }
}

/**
 * Loads, compiles and starts the gateway, records the config in the history, and watches the file
 * (reload.watch); SIGTERM/SIGINT drain and stop it, SIGHUP reloads the file (a bad file keeps the
 * running plan and logs why).
 */
export async function startGateway(
  file: string,
  options: { handleSignals?: boolean; logger?: Logger } = {},
): Promise<Started> {
  const registry = createDefaultRegistry();
  const loaded = await loadConfigFile(file, { registry });
  const logger = options.logger ?? createLogger(loaded.config.log.level);
  const history = await openHistory(loaded);
  const gateway = await Gateway.create({ loaded, logger, registry, history });
  const reloader = new ConfigReloader({
    gateway,
    file,
    registry,
    logger,
    debounceMs: loaded.config.reload.debounceMs,
  });
  const listeners = await gateway.listen();
  if (loaded.config.reload.watch) await reloader.watch();
  for (const [name, u] of Object.entries(loaded.config.upstreams)) {
    if (u.tls.insecureSkipVerify && u.url.startsWith('https:')) {
      process.stderr.write(
        `portcullis: WARNING: certificate verification is OFF for upstream "${name}" (tls.insecureSkipVerify)\n`,
      );
    }
  }
  const stop = async (graceMs?: number): Promise<void> => {
    await reloader.close();
    await gateway.close(graceMs);
  };
  if (options.handleSignals !== false) {
    let stopping = false;
    const onStop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, inFlight: gateway.inFlight }, 'shutting down');
      stop().then(
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
    process.once('SIGTERM', () => onStop('SIGTERM'));
    process.once('SIGINT', () => onStop('SIGINT'));
    // The reloader logs a failure (`reload failed; keeping the running config`) and counts it.
    process.on('SIGHUP', () => void reloader.reload('sighup'));
  }
  return { gateway, listeners, logger, reloader, stop };
}
