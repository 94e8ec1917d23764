import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../../core/plugin.js';

// Placeholder: replaced by the real authenticator while issue 4 is built.
export default definePlugin({
  name: 'mtls',
  phase: 'authenticate',
  priority: 300,
  description: 'Authenticates the verified TLS client certificate of the connection.',
  schema: Type.Object({}, { additionalProperties: false }),
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create() {
    return { onRequest() {} };
  },
});
