import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../../core/plugin.js';

export default definePlugin({
  name: 'auth-lockout',
  phase: 'authenticate',
  priority: 1000,
  description:
    'Refuses clients and credentials with too many failed authentications, before any check runs (brute force).',
  schema: Type.Object({}, { additionalProperties: false }),
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create() {
    return { onRequest() {} };
  },
});
