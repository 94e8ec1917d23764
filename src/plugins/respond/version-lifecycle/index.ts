import { Type } from '@sinclair/typebox';
import type { RequestContext, ResponseHead } from '../../../core/context.js';
import { definePlugin } from '../../../core/plugin.js';
import { consumerOf } from '../../../versioning/usage.js';

export const versionLifecycleSchema = Type.Object({}, { additionalProperties: false });

/** Appends to a Link field the upstream may have set (RFC 8288 allows one field with several links). */
function appendLink(head: ResponseHead, links: string): void {
  const current = head.headers.link;
  head.headers.link =
    current === undefined
      ? links
      : `${Array.isArray(current) ? current.join(', ') : String(current)}, ${links}`;
}

export default definePlugin({
  name: 'version-lifecycle',
  phase: 'respond',
  priority: 0,
  description:
    'Marks answers of deprecated API versions (Deprecation, Sunset, Link), names the version served, and counts requests per version and consumer. Configured by the versioning section; does nothing when no versions are declared.',
  schema: versionLifecycleSchema,
  enabledByDefault: true,
  enforcing: false,
  optional: true,
  create(_config, { deps }) {
    const catalog = deps.versioning;
    const usage = deps.versionUsage;
    const header = catalog.config.responseHeader.toLowerCase();
    return {
      summary: catalog.enabled
        ? `versions ${catalog.versions.map((v) => `${v.name} (${v.status})`).join(', ')}`
        : 'off',
      onResponse: function versionHeaders(ctx: RequestContext, head: ResponseHead): void {
        const v = ctx.apiVersion;
        if (v === undefined) return;
        if (header !== '') head.headers[header] = v.name;
        const lifecycle = v.lifecycleHeaders;
        if (lifecycle !== undefined) {
          if (lifecycle.deprecation !== undefined) head.headers.deprecation = lifecycle.deprecation;
          if (lifecycle.sunset !== undefined) head.headers.sunset = lifecycle.sunset;
          if (lifecycle.link !== undefined) appendLink(head, lifecycle.link);
        }
        usage?.count(v.name, consumerOf(ctx.principal));
      },
    };
  },
});
