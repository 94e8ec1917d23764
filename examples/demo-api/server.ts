import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The bundled demo API the quick start protects: a tiny order service. It is deliberately naive
 * (it leaks a stack trace on /boom and a Server header everywhere) so the gateway has something to fix.
 */

interface Order {
  id: string;
  item: string;
  quantity: number;
  ownerId: string;
}

const orders = new Map<string, Order>([
  ['42', { id: '42', item: 'portcullis', quantity: 1, ownerId: 'alice' }],
  ['43', { id: '43', item: 'drawbridge', quantity: 2, ownerId: 'bob' }],
]);

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    server: 'demo-api/1.0',
    'x-powered-by': 'node',
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://demo');
  const parts = url.pathname.split('/').filter(Boolean);
  const read = req.method === 'GET' || req.method === 'HEAD';
  if (read && url.pathname === '/hello')
    return send(res, 200, { message: 'hello from the demo API', time: new Date().toISOString() });
  // Naive on purpose: every order of every owner. The gateway filters the list per caller.
  if (read && url.pathname === '/orders') return send(res, 200, [...orders.values()]);
  if (read && parts[0] === 'orders' && parts.length === 2) {
    const order = orders.get(parts[1] as string);
    return order ? send(res, 200, order) : send(res, 404, { error: 'no such order' });
  }
  // A user's own orders, addressed by owner: the demo API trusts the path; the gateway binds it
  // to the caller (request.params.userId == principal.subject).
  if (req.method === 'PUT' && parts[0] === 'users' && parts[2] === 'orders' && parts.length === 4) {
    const order = orders.get(parts[3] as string);
    if (!order || order.ownerId !== parts[1]) return send(res, 404, { error: 'no such order' });
    const body = (await readJson(req)) as Partial<Order>;
    if (body.quantity !== undefined) order.quantity = Number(body.quantity);
    return send(res, 200, order);
  }
  if (req.method === 'PUT' && parts[0] === 'orders' && parts.length === 2) {
    const order = orders.get(parts[1] as string);
    if (!order) return send(res, 404, { error: 'no such order' });
    const body = (await readJson(req)) as Partial<Order>;
    if (body.quantity !== undefined) order.quantity = Number(body.quantity);
    return send(res, 200, order);
  }
  if (req.method === 'POST' && url.pathname === '/orders') {
    const body = (await readJson(req)) as Partial<Order>;
    const subject = req.headers['x-portcullis-subject'];
    const order: Order = {
      id: String(orders.size + 42),
      item: String(body.item ?? 'unknown'),
      quantity: Number(body.quantity ?? 1),
      // The verified caller, as the gateway states it (never a client-sent copy).
      ownerId: typeof subject === 'string' ? subject : 'anonymous',
    };
    orders.set(order.id, order);
    return send(res, 201, order);
  }
  if (url.pathname === '/boom') {
    res.writeHead(500, { 'content-type': 'text/plain', server: 'demo-api/1.0' });
    res.end('Error: database password=hunter2 rejected\n    at query (/srv/app/db.js:12:7)\n');
    return;
  }
  if (url.pathname === '/admin')
    return send(res, 200, { secret: 'the admin page must never be reachable through the gateway' });
  send(res, 404, { error: 'not found' });
}

export async function startDemoApi(
  port = 3001,
  host = '127.0.0.1',
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 400, { error: 'bad request' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const addr = server.address() as AddressInfo;
  return { server, url: `http://${host}:${addr.port}` };
}
