import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../../core/plugin.js';

export default definePlugin({
  name: 'authentication',
  phase: 'authenticate',
  priority: 0,
  description:
    'Decides authentication for the route: a principal from an authenticator, anonymous where allowed, or one uniform 401; passes the verified identity to the upstream.',
  schema: Type.Object({}, { additionalProperties: false }),
  enabledByDefault: false,
  enforcing: false,
  optional: true,
  create() {
    return { onRequest() {} };
  },
});
