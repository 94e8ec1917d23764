import type { Logger } from 'pino';
import type { Observability } from '../observability/hub.js';
import type { AdminConfig } from '../observability/schema.js';

/** What the admin API may do to the gateway (the gateway implements it). */
export interface AdminGateway {
  readonly obs: Observability;
  readonly logger: Logger;
}

export interface AdminServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The admin listener (being written). */
export async function startAdmin(_config: AdminConfig, _gw: AdminGateway): Promise<AdminServer | undefined> {
  return undefined;
}
