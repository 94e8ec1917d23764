import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../../core/plugin.js';

// Placeholder: replaced by the real authenticator while issue 4 is built.
export default definePlugin({
  name: 'http-signature',
  phase: 'authenticate',
  priority: 700,
  description: 'Authenticates HTTP Message Signatures (RFC 9421) from registered client keys.',
  schema: Type.Object({}, { additionalProperties: false }),
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create() {
    return { onRequest() {} };
  },
});
