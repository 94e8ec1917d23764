import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../../core/plugin.js';

// Placeholder: replaced by the real authenticator while issue 4 is built.
export default definePlugin({
  name: 'token-binding',
  phase: 'authenticate',
  priority: 50,
  description:
    'Checks that a sender-constrained access token is used by its holder: DPoP proofs (RFC 9449) and certificate-bound tokens (RFC 8705).',
  schema: Type.Object({}, { additionalProperties: false }),
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create() {
    return { onRequest() {} };
  },
});
