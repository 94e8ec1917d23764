import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../../core/plugin.js';

// Placeholder: replaced by the real authenticator while issue 4 is built.
export default definePlugin({
  name: 'api-key',
  phase: 'authenticate',
  priority: 600,
  description: 'Authenticates API keys (pcl_ format) against the key store.',
  schema: Type.Object({}, { additionalProperties: false }),
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create() {
    return { onRequest() {} };
  },
});
