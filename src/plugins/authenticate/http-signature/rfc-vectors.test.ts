import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { ReplayCache } from '../../../stores/types.js';
import { type Algorithm, importKey, verifySignature } from './algorithms.js';
import { buildSignatureBase, viewOf } from './base.js';
import { checkContentDigest, contentDigest } from './digest.js';
import { signatureBytes } from './sign.js';
import { parseDictionary } from './structured.js';
import { createVerifier } from './verifier.js';

interface Vectors {
  keys: Record<
    string,
    { algorithm: Algorithm; publicKeyPem?: string; privateKeyPem?: string; secret?: string }
  >;
  request: {
    method: string;
    scheme: 'http' | 'https';
    target: string;
    headers: [string, string][];
    body: string;
  };
  examples: {
    section: string;
    message: 'request' | 'response';
    label: string;
    keyid: string;
    deterministic: boolean;
    signatureInput: string;
    base: string;
    signature: string;
  }[];
}

const vectorFile = (name: string) => new URL(`../../../../../test/vectors/${name}`, import.meta.url);
const v = JSON.parse(readFileSync(vectorFile('rfc9421-appendix-b.json'), 'utf8')) as Vectors;
const digests = JSON.parse(readFileSync(vectorFile('rfc9530-content-digest.json'), 'utf8')) as {
  examples: { section: string; content: string; field: string }[];
};

const keyOf = (keyid: string) => {
  const k = v.keys[keyid];
  assert.ok(k, keyid);
  return importKey(k.algorithm, k.publicKeyPem, k.secret);
};
const sigOf = (label: string, header: string): Buffer => {
  const m = parseDictionary(header).get(label);
  assert.ok(m && m.kind === 'item' && m.value.type === 'bytes');
  return m.value.value;
};
const rfcRequest = () =>
  viewOf(v.request.method, v.request.scheme, v.request.target, v.request.headers.flat());

describe('RFC 9421 Appendix B test vectors', () => {
  it('imports every B.1 key for its algorithm', () => {
    for (const keyid of Object.keys(v.keys)) assert.equal(keyOf(keyid).algorithm, v.keys[keyid]?.algorithm);
  });

  for (const ex of v.examples) {
    it(`${ex.section}: the published signature verifies over the published base`, () => {
      const key = keyOf(ex.keyid);
      const sig = sigOf(ex.label, ex.signature);
      assert.equal(verifySignature(key, Buffer.from(ex.base), sig), true);
      // One flipped bit in the base or the signature breaks it.
      const tampered = Buffer.from(ex.base);
      tampered[tampered.length - 2] ^= 1;
      assert.equal(verifySignature(key, tampered, sig), false);
      const badSig = Buffer.from(sig);
      badSig[0] ^= 1;
      assert.equal(verifySignature(key, Buffer.from(ex.base), badSig), false);
    });

    if (ex.message === 'request') {
      it(`${ex.section}: our signature-base builder produces exactly the RFC's base`, () => {
        const covered = parseDictionary(ex.signatureInput).get(ex.label);
        assert.ok(covered && covered.kind === 'inner-list');
        assert.equal(buildSignatureBase(covered, rfcRequest()).toString('latin1'), ex.base);
      });

      it(`${ex.section}: the whole verifier accepts the RFC request at its creation time`, async () => {
        const k = v.keys[ex.keyid];
        assert.ok(k);
        const verify = createVerifier(
          {
            keys: {
              [ex.keyid]: {
                algorithm: k.algorithm,
                publicKey: k.publicKeyPem,
                secret: k.secret,
                consumer: 'rfc',
                roles: [],
                scopes: [],
              },
            },
            requiredComponents: [],
            maxAgeSeconds: 300,
            clockSkewSeconds: 30,
            requireNonce: false,
            label: '',
            digestAlgorithms: ['sha-256', 'sha-512'],
          },
          {
            now: () => 1618884473_000 + 5_000,
            replay: (): ReplayCache => ({ claim: async () => true, close: async () => {} }),
          },
        );
        const outcome = await verify({
          view: rfcRequest(),
          signatureInput: ex.signatureInput,
          signature: ex.signature,
          hasBody: true,
          readBody: async () => Buffer.from(v.request.body),
        });
        assert.equal(outcome.ok, true, JSON.stringify(outcome));
      });
    }

    if (ex.deterministic) {
      it(`${ex.section}: signing the base again gives the published signature`, () => {
        const k = v.keys[ex.keyid];
        assert.ok(k);
        const key =
          k.algorithm === 'hmac-sha256'
            ? Buffer.from(k.secret as string, 'base64')
            : createPrivateKey(k.privateKeyPem as string);
        const sig = signatureBytes(k.algorithm, key, Buffer.from(ex.base));
        assert.deepEqual(sig, sigOf(ex.label, ex.signature));
      });
    }
  }

  it('the RFC test request carries the right Content-Digest for its body', () => {
    const field = v.request.headers.find(([n]) => n === 'Content-Digest')?.[1] ?? '';
    assert.equal(checkContentDigest(field, Buffer.from(v.request.body), ['sha-512']), 'ok');
  });
});

describe('RFC 9530 Content-Digest vectors', () => {
  for (const ex of digests.examples) {
    it(`${ex.section}: ${ex.field.slice(0, 24)}…`, () => {
      const body = Buffer.from(ex.content);
      assert.equal(checkContentDigest(ex.field, body, ['sha-256', 'sha-512']), 'ok');
      assert.equal(
        checkContentDigest(ex.field, Buffer.from(`${ex.content} `), ['sha-256', 'sha-512']),
        'mismatch',
      );
      for (const member of ex.field.split(', ')) {
        const alg = member.slice(0, member.indexOf('=')) as 'sha-256' | 'sha-512';
        assert.equal(contentDigest(body, alg), member);
      }
    });
  }
});
