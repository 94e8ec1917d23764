import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Alert } from './hub.js';
import { createLogger } from './logger.js';
import { signWebhook, WebhookSender } from './webhooks.js';

function capture() {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line));
      cb();
    },
  });
  return { logs, logger: createLogger('info', sink) };
}

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

async function receiver(
  answer: (n: number) => number,
): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      got.push({ url: req.url ?? '', headers: req.headers, body });
      res.writeHead(answer(n++)).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?t=1`, got, server };
}

function alert(severity: Alert['severity'], id = 'a1'): Alert {
  return {
    id,
    at: 1_700_000_000_000,
    rule: 'credential-stuffing',
    severity,
    subject: { kind: 'ip', id: '198.51.100.7' },
    summary: 'test',
    detail: { failures: 30 },
  };
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('webhooks', () => {
  it('signs `${timestamp}.${body}` with HMAC-SHA256', () => {
    const expected = createHmac('sha256', 'k'.repeat(16)).update('1700000000.{"a":1}').digest('hex');
    assert.equal(signWebhook('k'.repeat(16), '1700000000', '{"a":1}'), `sha256=${expected}`);
  });

  it('posts the alert as JSON with a verifiable signature, only at or above minSeverity', async () => {
    const r = await receiver(() => 200);
    const secret = 'receiver-secret-0123456789';
    const { logger } = capture();
    const sender = new WebhookSender(
      [{ url: r.url, secret, minSeverity: 'warning', retries: 3, timeoutMs: 2000 }],
      logger,
      { now: () => 1_700_000_123_456 },
    );
    try {
      sender.send(alert('info', 'low'));
      sender.send(alert('critical', 'high'));
      await until(() => sender.pending === 0 && r.got.length >= 1);
      assert.equal(r.got.length, 1);
      const [got] = r.got;
      assert.ok(got);
      assert.equal(got.url, '/hook?t=1');
      assert.equal(got.headers['content-type'], 'application/json');
      assert.equal(got.headers['x-portcullis-timestamp'], '1700000123');
      const mac = createHmac('sha256', secret).update(`1700000123.${got.body}`).digest('hex');
      assert.equal(got.headers['x-portcullis-signature'], `sha256=${mac}`);
      assert.deepEqual(JSON.parse(got.body), alert('critical', 'high'));
    } finally {
      await sender.close();
      r.server.close();
    }
  });

  it('retries with exponential backoff until the receiver takes it', async () => {
    const r = await receiver((n) => (n < 2 ? 503 : 202));
    const { logger, logs } = capture();
    const sender = new WebhookSender(
      [{ url: r.url, secret: 's'.repeat(16), minSeverity: 'info', retries: 3, timeoutMs: 2000 }],
      logger,
      { baseDelayMs: 40 },
    );
    try {
      const t = Date.now();
      sender.send(alert('warning'));
      await until(() => sender.pending === 0);
      assert.equal(r.got.length, 3);
      assert.ok(Date.now() - t >= 40 + 80 - 5, 'waited 40 ms then 80 ms');
      const failed = logs.filter((l) => l.msg === 'webhook delivery failed; retrying');
      assert.equal(failed.length, 2);
      assert.equal(failed[0]?.failure, 'status 503');
      assert.ok(!JSON.stringify(logs).includes('?t=1'), 'the query of the receiver url is not logged');
    } finally {
      await sender.close();
      r.server.close();
    }
  });

  it('gives up after `retries`, and a timeout or a dead receiver counts as a failure', async () => {
    const r = await receiver(() => 500);
    const { logger, logs } = capture();
    const sender = new WebhookSender(
      [
        { url: r.url, secret: 's'.repeat(16), minSeverity: 'info', retries: 2, timeoutMs: 2000 },
        {
          url: 'http://127.0.0.1:1/',
          secret: 's'.repeat(16),
          minSeverity: 'info',
          retries: 1,
          timeoutMs: 500,
        },
      ],
      logger,
      { baseDelayMs: 10 },
    );
    try {
      sender.send(alert('critical'));
      await until(() => sender.pending === 0);
      assert.equal(r.got.length, 3, 'one try and two retries');
      const gaveUp = logs.filter((l) => l.msg === 'webhook delivery failed; giving up');
      assert.equal(gaveUp.length, 2);
    } finally {
      await sender.close();
      r.server.close();
    }
  });

  it('a full queue drops new deliveries (logged) instead of growing', async () => {
    const { logger, logs } = capture();
    const sender = new WebhookSender(
      [
        {
          url: 'http://127.0.0.1:1/',
          secret: 's'.repeat(16),
          minSeverity: 'info',
          retries: 5,
          timeoutMs: 500,
        },
      ],
      logger,
      { baseDelayMs: 10_000, maxPending: 2 },
    );
    for (let i = 0; i < 5; i++) sender.send(alert('critical', `a${i}`));
    assert.equal(sender.pending, 2);
    assert.equal(logs.filter((l) => l.msg === 'webhook queue full; alert not delivered').length, 3);
    await sender.close();
  });
});
