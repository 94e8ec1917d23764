/**
 * The verification flow of the http-signature authenticator, apart from the plugin wiring so
 * that tests can drive it with a fake clock and their own replay cache.
 */
import type { Principal } from '../../../core/principal.js';
import type { ReplayCache } from '../../../stores/types.js';
import { type Algorithm, importKey, type VerificationKey, verifySignature } from './algorithms.js';
import { buildSignatureBase, checkComponent, DERIVED, type MessageView, SignatureBaseError } from './base.js';
import { checkContentDigest, type DigestAlgorithm } from './digest.js';
import {
  type BareItem,
  type InnerList,
  type Limits,
  parseDictionary,
  StructuredFieldError,
  serializeItem,
} from './structured.js';

/** A key as registered in the settings. */
export interface KeySettings {
  readonly algorithm: Algorithm;
  readonly publicKey?: string | Readonly<Record<string, unknown>> | undefined;
  readonly secret?: string | undefined;
  readonly consumer?: string | undefined;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  readonly tenant?: string | undefined;
}

export interface VerifierSettings {
  readonly keys: Readonly<Record<string, KeySettings>>;
  readonly requiredComponents: readonly string[];
  readonly maxAgeSeconds: number;
  readonly clockSkewSeconds: number;
  readonly requireNonce: boolean;
  readonly label: string;
  readonly digestAlgorithms: readonly DigestAlgorithm[];
}

export interface VerifierDeps {
  /** The replay cache, asked for only when a nonce is presented (it may not exist otherwise). */
  readonly replay: () => ReplayCache;
  /** Wall clock in milliseconds (Date.now); tests pass a fake one. */
  readonly now?: () => number;
}

/** What the flow needs from one request. */
export interface SignedRequest {
  readonly view: MessageView;
  /** Signature-Input lines combined with ", " (undefined when absent). */
  readonly signatureInput: string | undefined;
  /** Signature lines combined with ", " (undefined when absent). */
  readonly signature: string | undefined;
  /** The request has content (Content-Length > 0 or a Transfer-Encoding). */
  readonly hasBody: boolean;
  /** Reads the whole body (bounded by the caller). */
  readonly readBody: () => Promise<Buffer>;
}

export type FailureReason =
  | 'malformed'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'too_old'
  | 'future_created'
  | 'missing_component'
  | 'digest_mismatch'
  | 'replayed_nonce'
  | 'replay_unavailable';

export type Outcome =
  | { readonly ok: true; readonly principal: Principal; readonly keyid: string }
  | {
      readonly ok: false;
      readonly reason: FailureReason;
      /** The keyid, only when it names a registered key. */
      readonly keyid?: string;
      readonly unavailable?: boolean;
    };

/** Upper bounds on what a client may send; beyond them the request is malformed. */
export const SIGNATURE_INPUT_LIMITS: Limits = Object.freeze({
  maxLength: 4096,
  maxMembers: 8,
  maxInnerItems: 32,
  maxParams: 8,
  maxKeyLength: 64,
});
export const SIGNATURE_LIMITS: Limits = Object.freeze({
  maxLength: 8192,
  maxMembers: 8,
  maxInnerItems: 0,
  maxParams: 4,
  maxKeyLength: 64,
});
const MAX_PARAM_STRING = 256;

interface CompiledKey {
  readonly keyid: string;
  readonly verification: VerificationKey;
  readonly principal: Principal;
}

const PLUGIN = 'http-signature';

function compileKeys(keys: Readonly<Record<string, KeySettings>>): Map<string, CompiledKey> {
  const out = new Map<string, CompiledKey>();
  for (const [keyid, k] of Object.entries(keys)) {
    let verification: VerificationKey;
    try {
      verification = importKey(k.algorithm, k.publicKey as string | Record<string, unknown>, k.secret);
    } catch (err) {
      throw new Error(`keys["${keyid}"]: ${(err as Error).message}`);
    }
    const principal: Principal = Object.freeze({
      id: `sig:${keyid}`,
      kind: 'service',
      subject: k.consumer ?? keyid,
      ...(k.consumer === undefined ? {} : { consumer: k.consumer }),
      ...(k.tenant === undefined ? {} : { tenant: k.tenant }),
      roles: Object.freeze([...k.roles]),
      scopes: Object.freeze([...k.scopes]),
      claims: Object.freeze({ keyid, alg: k.algorithm }),
      credentialId: keyid,
      method: PLUGIN,
    });
    out.set(keyid, { keyid, verification, principal });
  }
  return out;
}

interface Required {
  readonly all: readonly string[];
  readonly digest: boolean;
}

function compileRequired(list: readonly string[]): Required {
  for (const name of list) {
    if (name !== name.toLowerCase()) throw new Error(`requiredComponents: "${name}" must be lower case`);
    if (name.startsWith('@') && !DERIVED.has(name))
      throw new Error(`requiredComponents: "${name}" is not a derived component this verifier supports`);
  }
  return { all: list.filter((n) => n !== 'content-digest'), digest: list.includes('content-digest') };
}

/** Is `name` covered, counting @target-uri as covering @authority, @path and @scheme? */
function covers(names: ReadonlySet<string>, name: string): boolean {
  if (names.has(name)) return true;
  if ((name === '@authority' || name === '@path' || name === '@scheme') && names.has('@target-uri'))
    return true;
  return false;
}

type Param = BareItem | undefined;
const asInt = (p: Param): number | undefined | null =>
  p === undefined ? undefined : p.type === 'integer' ? p.value : null;
const asString = (p: Param): string | undefined | null =>
  p === undefined
    ? undefined
    : p.type === 'string' && p.value.length > 0 && p.value.length <= MAX_PARAM_STRING
      ? p.value
      : null;

/** Compiles the settings once; the returned function verifies one request. */
export function createVerifier(
  settings: VerifierSettings,
  deps: VerifierDeps,
): (req: SignedRequest) => Outcome | Promise<Outcome> {
  const keys = compileKeys(settings.keys);
  const required = compileRequired(settings.requiredComponents);
  const now = deps.now ?? Date.now;
  const maxAge = settings.maxAgeSeconds;
  const skew = settings.clockSkewSeconds;
  const replayTtlMs = (maxAge + skew) * 1000;
  const digestAlgorithms = settings.digestAlgorithms;

  const fail = (reason: FailureReason, keyid?: string): Outcome =>
    keyid === undefined ? { ok: false, reason } : { ok: false, reason, keyid };

  return function verifyRequest(req: SignedRequest): Outcome | Promise<Outcome> {
    if (req.signatureInput === undefined || req.signature === undefined) return fail('malformed');
    let inputs: ReturnType<typeof parseDictionary>;
    let signatures: ReturnType<typeof parseDictionary>;
    try {
      inputs = parseDictionary(req.signatureInput, SIGNATURE_INPUT_LIMITS);
      signatures = parseDictionary(req.signature, SIGNATURE_LIMITS);
    } catch (err) {
      if (err instanceof StructuredFieldError) return fail('malformed');
      throw err;
    }

    // Pick the signature: the configured label, or the first whose keyid is registered.
    let label: string | undefined;
    let covered: InnerList | undefined;
    let key: CompiledKey | undefined;
    for (const [l, member] of inputs) {
      if (settings.label !== '' && l !== settings.label) continue;
      if (member.kind !== 'inner-list') return fail('malformed');
      const keyid = asString(member.params.get('keyid'));
      if (keyid === null) return fail('malformed');
      const k = keyid === undefined ? undefined : keys.get(keyid);
      if (k === undefined) {
        if (settings.label !== '') return fail('unknown_key');
        continue;
      }
      label = l;
      covered = member;
      key = k;
      break;
    }
    if (label === undefined || covered === undefined || key === undefined)
      return fail(settings.label !== '' ? 'malformed' : 'unknown_key');
    const keyid = key.keyid;

    const sigMember = signatures.get(label);
    if (sigMember === undefined || sigMember.kind !== 'item' || sigMember.value.type !== 'bytes')
      return fail('malformed', keyid);
    const signature = sigMember.value.value;
    if (signature.length === 0) return fail('malformed', keyid);

    // Signature parameters (RFC 9421 §2.3).
    const params = covered.params;
    const created = asInt(params.get('created'));
    const expires = asInt(params.get('expires'));
    const nonce = asString(params.get('nonce'));
    const alg = asString(params.get('alg'));
    if (created === null || expires === null || nonce === null || alg === null)
      return fail('malformed', keyid);
    if (params.has('tag') && asString(params.get('tag')) === null) return fail('malformed', keyid);
    if (created === undefined || created < 0) return fail('malformed', keyid);
    if (expires !== undefined && expires < created) return fail('malformed', keyid);
    if (alg !== undefined && alg !== key.verification.algorithm) return fail('bad_signature', keyid);

    // Covered components: well-formed, and the required ones present.
    const names = new Set<string>();
    const ids = new Set<string>();
    try {
      for (const item of covered.items) {
        names.add(checkComponent(item));
        const id = serializeItem(item);
        if (ids.has(id)) return fail('malformed', keyid);
        ids.add(id);
      }
    } catch (err) {
      if (err instanceof SignatureBaseError) return fail(err.reason, keyid);
      throw err;
    }
    for (const name of required.all) if (!covers(names, name)) return fail('missing_component', keyid);
    const digestCovered = names.has('content-digest');
    if (required.digest && req.hasBody && !digestCovered) return fail('missing_component', keyid);
    if (settings.requireNonce && nonce === undefined) return fail('missing_component', keyid);

    // Time window.
    const nowSeconds = Math.floor(now() / 1000);
    if (created > nowSeconds + skew) return fail('future_created', keyid);
    if (expires !== undefined && nowSeconds > expires + skew) return fail('expired', keyid);
    if (nowSeconds - created > maxAge) return fail('too_old', keyid);

    let base: Buffer;
    try {
      base = buildSignatureBase(covered, req.view);
    } catch (err) {
      if (err instanceof SignatureBaseError) return fail(err.reason, keyid);
      throw err;
    }
    if (!verifySignature(key.verification, base, signature)) return fail('bad_signature', keyid);

    const claimNonce = (): Outcome | Promise<Outcome> => {
      if (nonce === undefined) return { ok: true, principal: key.principal, keyid };
      let cache: ReplayCache;
      try {
        cache = deps.replay();
      } catch {
        return { ok: false, reason: 'replay_unavailable', keyid, unavailable: true };
      }
      return cache.claim(`sig:${keyid}:${nonce}`, replayTtlMs).then(
        (first): Outcome =>
          first ? { ok: true, principal: key.principal, keyid } : fail('replayed_nonce', keyid),
        (): Outcome => ({ ok: false, reason: 'replay_unavailable', keyid, unavailable: true }),
      );
    };

    if (!digestCovered) return claimNonce();
    // The digest header itself is covered, so it is the signer's; now check it against the body.
    const digestLines = req.view.field('content-digest');
    const digestHeader = digestLines === undefined ? '' : digestLines.join(', ');
    return req.readBody().then((body) => {
      const check = checkContentDigest(digestHeader, body, digestAlgorithms);
      if (check === 'malformed') return fail('malformed', keyid);
      if (check !== 'ok') return fail('digest_mismatch', keyid);
      return claimNonce();
    });
  };
}
