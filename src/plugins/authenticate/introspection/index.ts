import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../../core/plugin.js';

// Placeholder: replaced by the real authenticator while issue 4 is built.
export default definePlugin({
  name: 'introspection',
  phase: 'authenticate',
  priority: 400,
  description: 'Authenticates opaque OAuth2 access tokens by RFC 7662 introspection.',
  schema: Type.Object({}, { additionalProperties: false }),
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create() {
    return { onRequest() {} };
  },
});
