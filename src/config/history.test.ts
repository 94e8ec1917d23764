import assert from 'node:assert/strict';
import {
  appendFileSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
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

  it('hostile: nodes finding the same stale lock never both hold it (the race, 30 times)', async () => {
    const started = Date.now();
    for (let run = 0; run < 30; run++) {
      const dir = fresh();
      const lock = join(dir, 'index.lock');
      writeFileSync(lock, '');
      const old = new Date(Date.now() - 60_000);
      utimesSync(lock, old, old); // left by a node that died while recording
      const nodes = await Promise.all([1, 2, 3].map(() => FileConfigHistory.open(dir)));
      const results = await Promise.all(nodes.map((h, i) => h.record(yaml(100 + i), { by: `node-${i}` })));
      const seqs = results.map((r) => r.entry.seq).sort();
      assert.deepEqual(seqs, [1, 2, 3], `run ${run}: every node got its own number`);
      const index = readFileSync(join(dir, 'index.jsonl'), 'utf8').trim().split('\n');
      assert.equal(index.length, 3, `run ${run}: one index line per record`);
      assert.deepEqual(
        (await nodes[0]?.list())?.map((e) => [e.seq, e.corrupt]),
        [
          [1, undefined],
          [2, undefined],
          [3, undefined],
        ],
      );
      const left = readdirSync(dir).filter((n) => n.includes('lock') || n.endsWith('.tmp'));
      assert.deepEqual(left, [], `run ${run}: no lock or temp file left behind`);
    }
    assert.ok(Date.now() - started < 5000, 'bounded');
  });

  it('hostile: a lock held by a live node is waited for, not taken over', async () => {
    const dir = fresh();
    const lock = join(dir, 'index.lock');
    writeFileSync(lock, 'another-node-token');
    const h = await FileConfigHistory.open(dir);
    const recorded = h.record(yaml(1), { by: 'file' });
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(readFileSync(lock, 'utf8'), 'another-node-token', 'the lock is still the other node’s');
    assert.deepEqual(await h.list(), [], 'nothing recorded while it is held');
    unlinkSync(lock);
    assert.equal((await recorded).entry.seq, 1);
  });

  it('hostile: a number recorded twice with two texts is corrupt and cannot be read back', async () => {
    const dir = fresh();
    const h = await FileConfigHistory.open(dir);
    await h.record(yaml(1), { by: 'startup' });
    const line = (n: number, text: string) =>
      `${JSON.stringify({ seq: n, sha256: sha256Of(text), appliedAt: Date.now(), by: 'node', source: '/etc/p.yaml' })}\n`;
    // What two writers that both believed they held the lock leave behind.
    appendFileSync(join(dir, 'index.jsonl'), line(2, yaml(20)) + line(2, yaml(21)));
    writeFileSync(join(dir, `00000002-${sha256Of(yaml(20)).slice(0, 12)}.yaml`), yaml(20));
    writeFileSync(join(dir, `00000002-${sha256Of(yaml(21)).slice(0, 12)}.yaml`), yaml(21));
    const two = (await h.list()).find((e) => e.seq === 2);
    assert.match(two?.corrupt ?? '', /entry 2 was recorded twice with different texts/);
    assert.equal((await h.list()).find((e) => e.seq === 1)?.corrupt, undefined);
    assert.equal(await h.read(2), undefined, 'no rollback to a corrupt entry');
    assert.equal(await h.read(1), yaml(1));
    assert.equal((await h.record(yaml(3), { by: 'file' })).entry.seq, 3, 'the numbering goes on');
  });

  it('hostile: a symlink planted at a temp-file name is never followed', async () => {
    const dir = fresh();
    const victim = join(fresh(), 'victim.txt');
    writeFileSync(victim, 'precious\n');
    // Where the old code wrote its temp files (`<name>.<pid>.tmp`): the index rewrite and the texts.
    symlinkSync(victim, join(dir, `index.jsonl.${process.pid}.tmp`));
    for (let n = 1; n <= 4; n++)
      symlinkSync(victim, join(dir, `0000000${n}-${sha256Of(yaml(n)).slice(0, 12)}.yaml.${process.pid}.tmp`));
    const h = await FileConfigHistory.open(dir, 2);
    for (let n = 1; n <= 4; n++) await h.record(yaml(n), { by: 'file' });
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.deepEqual(
      (await h.list()).map((e) => e.seq),
      [3, 4],
    );
    assert.equal(await h.read(4), yaml(4));
    assert.ok(lstatSync(join(dir, 'index.jsonl')).isFile());
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
