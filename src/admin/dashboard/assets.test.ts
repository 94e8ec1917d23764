import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { dashboardAsset, SOURCE_STATIC, staticDir } from './assets.js';
import { copyStatic } from './copy-static.js';

describe('dashboard assets', () => {
  it('serves the page at / and its files under /assets/, with their types', () => {
    const page = dashboardAsset('/');
    assert.ok(page);
    assert.equal(page.type, 'text/html; charset=utf-8');
    assert.match(page.body.toString('utf8'), /<title>Portcullis admin<\/title>/);
    assert.equal(dashboardAsset('/index.html')?.body, page.body);
    assert.equal(dashboardAsset('/?x=1')?.body, page.body);
    assert.equal(dashboardAsset('/assets/app.js')?.type, 'text/javascript; charset=utf-8');
    assert.equal(dashboardAsset('/assets/app.css')?.type, 'text/css; charset=utf-8');
    assert.equal(dashboardAsset('/assets/favicon.svg')?.type, 'image/svg+xml');
  });

  it('serves nothing else: no traversal, no other path, no unknown name', () => {
    for (const p of [
      '/assets/',
      '/assets/../assets.ts',
      '/assets/..%2Fassets.ts',
      '/assets/%2e%2e/package.json',
      '/assets/sub/app.js',
      '/assets/.hidden',
      '/assets/assets.ts',
      '/assets/nope.js',
      '/app.js',
      '/api/v1/overview',
      '//assets/app.js',
    ])
      assert.equal(dashboardAsset(p), undefined, p);
  });

  it('loads only its own files: no inline script or style, no external URL', () => {
    const html = dashboardAsset('/')?.body.toString('utf8') ?? '';
    assert.doesNotMatch(html, /<script>|<style|\sstyle=|\son[a-z]+=/i);
    for (const m of html.matchAll(/(?:src|href)="([^"]*)"/g)) assert.match(m[1] as string, /^\/assets\/|^#/);
    for (const name of ['app.js', 'app.css']) {
      const text = dashboardAsset(`/assets/${name}`)?.body.toString('utf8') ?? '';
      assert.doesNotMatch(text, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, name);
      assert.doesNotMatch(
        text,
        /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/,
        name,
      );
    }
  });

  it('reads the source tree in a checkout', () => {
    assert.equal(staticDir(), SOURCE_STATIC);
  });

  it('copyStatic puts every static file in the build output, replacing what was there', () => {
    const to = mkdtempSync(join(tmpdir(), 'portcullis-static-'));
    try {
      writeFileSync(join(to, 'stale.js'), 'old');
      const names = copyStatic(SOURCE_STATIC, to);
      assert.deepEqual(readdirSync(to).sort(), names);
      assert.deepEqual(names, readdirSync(SOURCE_STATIC).sort());
      for (const n of names)
        assert.deepEqual(readFileSync(join(to, n)), readFileSync(join(SOURCE_STATIC, n)));
    } finally {
      rmSync(to, { recursive: true, force: true });
    }
  });
});
