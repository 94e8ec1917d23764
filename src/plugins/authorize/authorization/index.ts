import { Type } from '@sinclair/typebox';
import type { Chain } from '../../../core/plan.js';
import { definePlugin } from '../../../core/plugin.js';

export const authorizationSchema = Type.Object(
  {
    allow: Type.Union([Type.Literal('rules'), Type.Literal('authenticated')], {
      description:
        'rules: a route that authenticates must name at least one authorization rule (rbac, policy), or the config is refused (deny by default). authenticated: every authenticated caller may call the route, said in so many words.',
      default: 'rules',
    }),
  },
  { additionalProperties: false },
);

/** The authorize-phase plugins that decide; the gate itself only checks that one is there. */
function ruleStages(chain: Chain): string[] {
  return chain.stages
    .filter((s) => s.phase === 'authorize' && s.plugin !== 'authorization')
    .map((s) => s.plugin);
}

export default definePlugin({
  name: 'authorization',
  phase: 'authorize',
  priority: 0,
  description:
    'Deny by default: a route that authenticates must name an authorization rule (rbac, policy) or say allow: authenticated. Checked when the config is compiled; nothing runs per request.',
  schema: authorizationSchema,
  enabledByDefault: true,
  enforcing: false,
  optional: false,
  create(config) {
    return {
      checkChain(chain: Chain): string | undefined {
        const authenticates = chain.challenges.length > 0;
        if (!authenticates || config.allow === 'authenticated' || ruleStages(chain).length > 0)
          return undefined;
        return 'the route authenticates but names no authorization rule; add rbac or policy settings, or set plugins.authorization.allow: authenticated to let every authenticated caller in';
      },
      // The decision was made at compile time; the stage is a no-op on the hot path.
      onRequest() {},
    };
  },
});
