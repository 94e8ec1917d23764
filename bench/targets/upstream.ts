import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenAndAnnounce } from '../child.js';

/**
 * The one shared upstream: answers the quick start's routes the way examples/demo-api does
 * (GET /hello → a ~70-byte JSON body with the same headers), but without a URL parse per request,
 * so the upstream's own cost stays small and equal for every target.
 *
 * POST /items (the POST targets, with and without the OpenAPI contract) reads the body to the end
 * WITHOUT parsing it and answers 201 with a fixed small JSON: what the upstream costs must not
 * depend on the body, so the two targets differ only by the gateway's validation.
 */

const CREATED = JSON.stringify({ id: '123', status: 'accepted' });

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    server: 'demo-api/1.0',
    'x-powered-by': 'node',
  });
  res.end(text);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const read = req.method === 'GET' || req.method === 'HEAD';
  if (read && path === '/hello') {
    send(res, 200, JSON.stringify({ message: 'hello from the demo API', time: new Date().toISOString() }));
    return;
  }
  if (read && path.startsWith('/orders/')) {
    send(res, 200, JSON.stringify({ id: path.slice(8), item: 'portcullis', quantity: 1, ownerId: 'alice' }));
    return;
  }
  if (req.method === 'POST' && path === '/items') {
    req.resume();
    req.once('end', () => send(res, 201, CREATED));
    return;
  }
  // Anything with a body is read to the end before answering, so keep-alive stays usable.
  req.resume();
  req.once('end', () => send(res, 404, '{"error":"not found"}'));
}

const server = createServer({ keepAliveTimeout: 60_000 }, handle);
await listenAndAnnounce(server);
