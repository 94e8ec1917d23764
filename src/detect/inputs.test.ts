import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SKIP_HEADERS, extractInputs, type RawRequest } from './inputs.js';

const OPTIONS = { skipHeaders: new Set(DEFAULT_SKIP_HEADERS), maxInputs: 100, maxValueBytes: 1000 };

function req(over: Partial<RawRequest>): RawRequest {
  return { method: 'GET', path: '/', query: '', headers: {}, body: undefined, ...over };
}

const view = (r: RawRequest) =>
  extractInputs(r, OPTIONS).inputs.map((i) => `${i.location}:${i.name}=${i.value}`);

describe('input extraction', () => {
  it('path segments and query names and values, decoded once', () => {
    assert.deepEqual(view(req({ path: '/a/b%20c', query: 'q=x%27y&n+m=1' })), [
      'path:$path=/a/b c',
      'path:=a',
      'path:=b c',
      'query-name:q=q',
      "query:q=x'y",
      'query-name:n m=n m',
      'query:n m=1',
    ]);
  });

  it('headers except credentials and framing; cookie names and values', () => {
    const out = view(
      req({
        headers: { authorization: 'Bearer secret', 'user-agent': 'ua', cookie: 'a=1; b=x%3Cy', host: 'h' },
      }),
    );
    assert.deepEqual(out, [
      'header:user-agent=ua',
      'cookie-name:a=a',
      'cookie:a=1',
      'cookie-name:b=b',
      'cookie:b=x<y',
    ]);
  });

  it('form, JSON (keys and string leaves with their path), multipart and raw bodies', () => {
    const form = view(
      req({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from('a=1+2') }),
    );
    assert.deepEqual(form, ['body-name:a=a', 'body:a=1 2']);
    const json = view(
      req({
        headers: { 'content-type': 'application/json' },
        body: Buffer.from('{"u":{"n":"x","k":[1,"y"]}}'),
      }),
    );
    assert.deepEqual(json, [
      'json-key:$=u',
      'json-key:$.u=n',
      'json:$.u.n=x',
      'json-key:$.u=k',
      'json:$.u.k[1]=y',
    ]);
    const mp = view(
      req({
        headers: { 'content-type': 'multipart/form-data; boundary=XX' },
        body: Buffer.from(
          '--XX\r\nContent-Disposition: form-data; name="f"; filename="../a.php"\r\n\r\n<?php\r\n--XX--\r\n',
        ),
      }),
    );
    assert.deepEqual(mp, ['multipart-name:f=f', 'filename:f=../a.php', 'multipart:f=<?php']);
    assert.deepEqual(view(req({ headers: { 'content-type': 'text/plain' }, body: Buffer.from('hi') })), [
      'body:=hi',
    ]);
  });

  it('the parsed body of the contract stage is used as it is; limits cut values and count what is dropped', () => {
    assert.deepEqual(view(req({ parsedBody: { mediaType: 'application/json', value: { a: 'b' } } })), [
      'json-key:$=a',
      'json:$.a=b',
    ]);
    const many = extractInputs(
      req({ query: Array.from({ length: 80 }, (_, i) => `k${i}=v`).join('&') }),
      OPTIONS,
    );
    assert.equal(many.inputs.length, 100);
    assert.equal(many.dropped, 60);
    const long = extractInputs(req({ query: `q=${'x'.repeat(5000)}` }), OPTIONS);
    assert.equal(long.inputs[1]?.value.length, 1000);
  });
});
