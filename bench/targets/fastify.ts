import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';
import { announce, LOOPBACK, UPSTREAM_CONNECTIONS, upstreamFromEnv } from '../child.js';

/**
 * The peer: a gateway assembled from Fastify's own plugins, fastify + @fastify/reply-from, logger
 * off, proxying the quick start's routes with /api stripped, over the same number of upstream
 * connections as Portcullis.
 */

const upstream = upstreamFromEnv();
const app = Fastify({ logger: false });
await app.register(replyFrom, {
  base: upstream.origin,
  undici: { connections: UPSTREAM_CONNECTIONS, pipelining: 1, keepAliveTimeout: 60_000 },
});

const STRIP = '/api'.length;
app.get('/api/hello', (req, reply) => reply.from(req.url.slice(STRIP)));
app.get('/api/orders/:id', (req, reply) => reply.from(req.url.slice(STRIP)));
app.post('/api/orders', (req, reply) => reply.from(req.url.slice(STRIP)));
app.get('/api/boom', (req, reply) => reply.from(req.url.slice(STRIP)));

await app.listen({ port: 0, host: LOOPBACK });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('fastify did not bind a TCP port');
announce(address.port);
