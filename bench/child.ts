import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a target child sends its parent over IPC once it listens. */
export interface ReadyMessage {
  readonly ready: true;
  readonly port: number;
}

/** The loopback address every benchmark process listens on; nothing else is ever bound. */
export const LOOPBACK = '127.0.0.1';

/**
 * Listens on a free loopback port, tells the parent which one, and exits when the parent goes away
 * (IPC disconnect), so a killed benchmark never leaves a target behind.
 */
export async function listenAndAnnounce(server: Server): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
  announce((server.address() as AddressInfo).port);
}

/** Tells the parent (over IPC) which port the target listens on; exits when the parent goes away. */
export function announce(port: number): void {
  // A normal exit on SIGTERM, so that --cpu-prof (BENCH_CPU_PROF) gets to write its profile.
  process.once('SIGTERM', () => process.exit(0));
  if (process.send === undefined) {
    process.stdout.write(`listening on http://${LOOPBACK}:${port}\n`);
    return;
  }
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true, port } satisfies ReadyMessage);
}

/** The upstream the parent passed in, refused unless it is on loopback. */
export function upstreamFromEnv(): URL {
  const raw = process.env.BENCH_UPSTREAM_URL;
  if (raw === undefined) throw new Error('BENCH_UPSTREAM_URL is not set');
  const url = new URL(raw);
  if (url.hostname !== LOOPBACK) throw new Error(`the upstream must be on ${LOOPBACK}, not ${url.hostname}`);
  return url;
}

/** Connections each proxy keeps to the upstream: the quick start's `upstreams.demo.connections`. */
export const UPSTREAM_CONNECTIONS = 64;
