import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../../core/plugin.js';

// Placeholder: replaced while issue 5 is built.
export default definePlugin({
  name: 'rbac',
  phase: 'authorize',
  priority: 300,
  description:
    'Role-based access control: roles with permissions and inheritance; a route requires permissions or OAuth scopes (any-of or all-of).',
  schema: Type.Object({}, { additionalProperties: false }),
  enabledByDefault: false,
  enforcing: true,
  optional: true,
  create() {
    return { onRequest() {} };
  },
});
