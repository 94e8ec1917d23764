import assert from 'node:assert/strict';
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createDefaultRegistry } from '../plugins/index.js';
import { DEFAULT_HISTORY_DIR, FileConfigHistory, MemoryConfigHistory, sha256Of } from './history.js';
import { loadConfigObject } from './load.js';

const fresh = (): string => mkdtempSync(join(tmpdir(), 'portcullis-history-'));
const yaml = (n: number): string => `# config ${n}\nlisteners: []\n`;

describe('file config history', () => {
  it('records each applied config with its exact text, numbered from 1', async () => {
    const h = await FileConfigHistory.open(fresh());
    const a = await h.record(yaml(1), { by: 'startup', source: '/etc/p.yaml' });
    const b = await h.record(yaml(2), { by: 'file', source: '/etc/p.yaml' });
    assert.deepEqual([a.added, a.entry.seq, b.added, b.entry.seq], [true, 1, true, 2]);
    const list = await h.list();
    assert.deepEqual(
      list.map((e) => [e.seq, e.by, e.source, e.sha256]),
      [
        [1, 'startup', '/etc/p.yaml', sha256Of(yaml(1))],
        [2, 'file', '/etc/p.yaml', sha256Of(yaml(2))],
      ],
    );
    assert.equal(await h.read(1), yaml(1));
    assert.equal(await h.read(2), yaml(2));
    assert.equal(await h.read(3), undefined);
  });

  it('skips a config equal to the newest entry, not one equal to an older entry', async () => {
    const h = await FileConfigHistory.open(fresh());
    await h.record(yaml(1), { by: 'startup' });
    const again = await h.record(yaml(1), { by: 'file' });
    assert.deepEqual([again.added, again.entry.seq, again.entry.by], [false, 1, 'startup']);
    await h.record(yaml(2), { by: 'ada' });
    const back = await h.record(yaml(1), { by: 'rollback' });
    assert.deepEqual([back.added, back.entry.seq], [true, 3], 'going back is a new entry');
  });

  it('keeps the `keep` newest entries and deletes the texts of the others', async () => {
    const dir = fresh();
    const h = await FileConfigHistory.open(dir, 3);
    for (let i = 1; i <= 5; i++) await h.record(yaml(i), { by: 'file' });
    assert.deepEqual(
      (await h.list()).map((e) => e.seq),
      [3, 4, 5],
    );
    assert.equal(await h.read(2), undefined);
    const texts = readdirSync(dir).filter((n) => n.endsWith('.yaml'));
    assert.equal(texts.length, 3, texts.join(','));
  });

  it('continues the numbering after a restart (a new instance on the same directory)', async () => {
    const dir = fresh();
    const first = await FileConfigHistory.open(dir);
    await first.record(yaml(1), { by: 'startup' });
    await first.record(yaml(2), { by: 'file' });
    const second = await FileConfigHistory.open(dir);
    const same = await second.record(yaml(2), { by: 'startup' });
    assert.deepEqual([same.added, same.entry.seq], [false, 2], 'a restart with the same file adds nothing');
    const next = await second.record(yaml(3), { by: 'file' });
    assert.equal(next.entry.seq, 3);
  });

  it('two instances sharing a directory (two nodes) never reuse a number', async () => {
    const dir = fresh();
    const a = await FileConfigHistory.open(dir);
    const b = await FileConfigHistory.open(dir);
    await Promise.all([
      ...[1, 2, 3].map((i) => a.record(yaml(i * 10), { by: 'node-a' })),
      ...[1, 2, 3].map((i) => b.record(yaml(i * 10 + 1), { by: 'node-b' })),
    ]);
    const seqs = (await a.list()).map((e) => e.seq);
    assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6]);
  });

  it('hostile: a corrupt index line is skipped, and dropped on the next write', async () => {
    const dir = fresh();
    const h = await FileConfigHistory.open(dir);
    await h.record(yaml(1), { by: 'startup' });
    appendFileSync(join(dir, 'index.jsonl'), '{"seq": 2, "sha256": "torn\n[1,2]\nnot json at all\n');
    assert.deepEqual(
      (await h.list()).map((e) => e.seq),
      [1],
    );
    const next = await h.record(yaml(2), { by: 'file' });
    assert.equal(next.entry.seq, 2);
    const lines = readFileSync(join(dir, 'index.jsonl'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 2, 'the index was rewritten without the malformed lines');
    for (const l of lines) JSON.parse(l);
  });

  it('hostile: a missing or edited text file reads as absent; a lost index never reuses a number', async () => {
    const dir = fresh();
    const h = await FileConfigHistory.open(dir);
    await h.record(yaml(1), { by: 'startup' });
    await h.record(yaml(2), { by: 'file' });
    const [first, second] = readdirSync(dir)
      .filter((n) => n.endsWith('.yaml'))
      .sort();
    unlinkSync(join(dir, first as string));
    assert.equal(await h.read(1), undefined, 'missing file');
    writeFileSync(join(dir, second as string), 'listeners: [evil]\n');
    assert.equal(await h.read(2), undefined, 'a text that no longer matches its sha256');
    // The newest entry's text is gone: the same config again is recorded anew, not deduplicated away.
    assert.equal((await h.record(yaml(2), { by: 'file' })).entry.seq, 3);
    unlinkSync(join(dir, 'index.jsonl'));
    assert.deepEqual(await h.list(), []);
    assert.equal((await h.record(yaml(4), { by: 'file' })).entry.seq, 4, 'numbers on disk are not reused');
  });

  it('hostile: a stale lock left by a dead process is taken over', async () => {
    const dir = fresh();
    const h = await FileConfigHistory.open(dir);
    const lock = join(dir, 'index.lock');
    writeFileSync(lock, '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    const r = await h.record(yaml(1), { by: 'startup' });
    assert.equal(r.entry.seq, 1);
    assert.ok(!readdirSync(dir).includes('index.lock'), 'the lock is released');
  });

  it('a reader of a directory that does not exist lists nothing and creates nothing', async () => {
    const dir = join(fresh(), 'absent');
    const h = FileConfigHistory.reader(dir);
    assert.deepEqual(await h.list(), []);
    assert.equal(await h.read(1), undefined);
    assert.throws(() => readdirSync(dir), /ENOENT/);
  });
});

describe('memory config history', () => {
  it('the same rules: numbering, dedupe against the newest, keep', async () => {
    const h = new MemoryConfigHistory(2);
    assert.equal((await h.record(yaml(1), { by: 'startup' })).entry.seq, 1);
    assert.equal((await h.record(yaml(1), { by: 'file' })).added, false);
    await h.record(yaml(2), { by: 'file' });
    await h.record(yaml(3), { by: 'file' });
    assert.deepEqual(
      (await h.list()).map((e) => e.seq),
      [2, 3],
    );
    assert.equal(await h.read(1), undefined);
    assert.equal(await h.read(3), yaml(3));
  });
});

it('the default directory is the default of reload.history.dir', () => {
  const loaded = loadConfigObject(
    {
      listeners: [{ name: 'main', host: '127.0.0.1', port: 0 }],
      upstreams: { api: { url: 'http://127.0.0.1:9' } },
      routes: [{ id: 'r', path: '/r', upstream: 'api' }],
    },
    { registry: createDefaultRegistry(), env: {} },
  );
  assert.equal(loaded.config.reload.history.dir, DEFAULT_HISTORY_DIR);
  assert.equal(loaded.config.reload.history.keep, 50);
  assert.equal(loaded.config.reload.debounceMs, 250);
  assert.equal(loaded.config.reload.watch, true);
});
