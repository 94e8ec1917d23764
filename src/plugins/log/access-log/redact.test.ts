import assert from 'node:assert/strict';
import { it } from 'node:test';
import { REDACTED, redactQuery } from './index.js';

it('redacts configured query parameters by decoded, case-insensitive name', () => {
  const names = new Set(['token', 'api_key']);
  assert.equal(redactQuery('a=1&token=abc&b=2', names), `a=1&token=${REDACTED}&b=2`);
  assert.equal(redactQuery('TOKEN=abc', names), `TOKEN=${REDACTED}`);
  assert.equal(redactQuery('api%5Fkey=abc', names), `api%5Fkey=${REDACTED}`);
  assert.equal(redactQuery('token', names), `token=${REDACTED}`);
  assert.equal(redactQuery('tok%ZZen=abc', names), 'tok%ZZen=abc');
  assert.equal(redactQuery('', names), '');
  assert.equal(redactQuery('token=a&token=b', names), `token=${REDACTED}&token=${REDACTED}`);
});

it('redacts API keys and JWTs under any parameter name', () => {
  const none = new Set<string>();
  assert.equal(redactQuery('auth=pcl_abc&x=1', none), `auth=${REDACTED}&x=1`);
  assert.equal(redactQuery('t=eyJhbGciOiJIUzI1NiJ9.e30.x', none), `t=${REDACTED}`);
  assert.equal(redactQuery('q=pclx&page=2', none), 'q=pclx&page=2');
});
