import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../../core/plugin.js';

// Placeholder: replaced while issue 5 is built.
export default definePlugin({
  name: 'policy',
  phase: 'authorize',
  priority: 200,
  description:
    'CEL policies over principal, request and route: attribute rules and object-level (BOLA) checks such as params.userId == principal.subject.',
  schema: Type.Object({}, { additionalProperties: false }),
  enabledByDefault: false,
  enforcing: true,
  optional: true,
  create() {
    return { onRequest() {} };
  },
});
