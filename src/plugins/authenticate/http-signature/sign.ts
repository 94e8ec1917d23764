/**
 * A reference signer for RFC 9421 requests: what a client of the gateway does. Used by the tests
 * and as a worked example in docs/authentication/http-signatures.md; never on the hot path.
 */
import { constants, createHmac, type KeyObject, sign } from 'node:crypto';
import type { Algorithm } from './algorithms.js';
import { buildSignatureBase, type MessageView } from './base.js';
import {
  type BareItem,
  type InnerList,
  type Item,
  parseItem,
  serializeBareItem,
  serializeInnerList,
} from './structured.js';

export interface SignOptions {
  readonly label?: string;
  readonly keyid: string;
  readonly algorithm: Algorithm;
  /** Private key (asymmetric algorithms) or the shared secret bytes (hmac-sha256). */
  readonly key: KeyObject | Buffer;
  /**
   * Covered components: names ("@method", "content-digest") or serialized identifiers
   * ('"@query-param";name="id"').
   */
  readonly components: readonly string[];
  /** Unix seconds. */
  readonly created: number;
  readonly expires?: number;
  readonly nonce?: string;
  /** Put an "alg" parameter in (any value: tests use it to lie). */
  readonly alg?: string;
  readonly tag?: string;
}

export interface SignedHeaders {
  readonly signatureInput: string;
  readonly signature: string;
}

function componentItem(c: string): Item {
  return c.startsWith('"')
    ? parseItem(c)
    : { kind: 'item', value: { type: 'string', value: c }, params: new Map() };
}

export function signatureBytes(algorithm: Algorithm, key: KeyObject | Buffer, base: Buffer): Buffer {
  switch (algorithm) {
    case 'hmac-sha256':
      return createHmac('sha256', key as Buffer)
        .update(base)
        .digest();
    case 'ed25519':
      return sign(null, base, key as KeyObject);
    case 'ecdsa-p256-sha256':
      return sign('sha256', base, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
    case 'rsa-pss-sha512':
      return sign('sha512', base, {
        key: key as KeyObject,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 64,
      });
    case 'rsa-v1_5-sha256':
      return sign('sha256', base, { key: key as KeyObject, padding: constants.RSA_PKCS1_PADDING });
  }
}

/** Signs `msg` and returns the Signature-Input and Signature header values. */
export function signRequest(msg: MessageView, opts: SignOptions): SignedHeaders {
  const params = new Map<string, BareItem>();
  params.set('created', { type: 'integer', value: opts.created });
  params.set('keyid', { type: 'string', value: opts.keyid });
  if (opts.alg !== undefined) params.set('alg', { type: 'string', value: opts.alg });
  if (opts.expires !== undefined) params.set('expires', { type: 'integer', value: opts.expires });
  if (opts.nonce !== undefined) params.set('nonce', { type: 'string', value: opts.nonce });
  if (opts.tag !== undefined) params.set('tag', { type: 'string', value: opts.tag });
  const covered: InnerList = { kind: 'inner-list', items: opts.components.map(componentItem), params };
  const base = buildSignatureBase(covered, msg);
  const label = opts.label ?? 'sig1';
  const sig = signatureBytes(opts.algorithm, opts.key, base);
  return {
    signatureInput: `${label}=${serializeInnerList(covered)}`,
    signature: `${label}=${serializeBareItem({ type: 'bytes', value: sig })}`,
  };
}
