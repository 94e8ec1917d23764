/**
 * A synthetic API description of any size, for the start-up compile benchmark and its test: every
 * operation has path, query and header parameters, a JSON body on writes and JSON answers, over a
 * shared set of component schemas (as real descriptions reuse theirs).
 */
export function syntheticSpec(operations: number): Record<string, unknown> {
  const schemas: Record<string, unknown> = {};
  const resources = Math.max(1, Math.ceil(operations / 5));
  for (let r = 0; r < resources; r++) {
    schemas[`Resource${r}`] = {
      type: 'object',
      required: ['name'],
      properties: {
        id: { type: 'string', format: 'uuid', readOnly: true },
        name: { type: 'string', maxLength: 100 },
        count: { type: 'integer', minimum: 0 },
        tags: { type: 'array', items: { type: 'string' } },
        owner: { $ref: '#/components/schemas/Owner' },
        createdAt: { type: 'string', format: 'date-time', readOnly: true },
      },
    };
  }
  schemas.Owner = {
    type: 'object',
    properties: { id: { type: 'integer' }, email: { type: 'string', format: 'email' } },
  };
  schemas.Error = { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } };
  const paths: Record<string, Record<string, unknown>> = {};
  let made = 0;
  for (let r = 0; made < operations; r++) {
    const ref = { $ref: `#/components/schemas/Resource${r}` };
    const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
    const list = `/resources${r}`;
    const item = `/resources${r}/{id}`;
    const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
    const ops: [string, string, Record<string, unknown>][] = [
      [
        list,
        'get',
        {
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer', maximum: 100 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: { 200: { description: 'ok', ...json({ type: 'array', items: ref }) } },
        },
      ],
      [
        list,
        'post',
        {
          requestBody: { required: true, ...json(ref) },
          responses: {
            201: { description: 'created', ...json(ref) },
            400: { description: 'bad', ...json({ $ref: '#/components/schemas/Error' }) },
          },
        },
      ],
      [
        item,
        'get',
        {
          parameters: [idParam, { name: 'X-Request-Tag', in: 'header', schema: { type: 'string' } }],
          responses: { 200: { description: 'ok', ...json(ref) }, 404: { description: 'missing' } },
        },
      ],
      [
        item,
        'put',
        {
          parameters: [idParam],
          requestBody: { required: true, ...json(ref) },
          responses: { 200: { description: 'ok', ...json(ref) } },
        },
      ],
      [item, 'delete', { parameters: [idParam], responses: { 204: { description: 'gone' } } }],
    ];
    for (const [path, method, op] of ops) {
      if (made >= operations) break;
      paths[path] ??= {};
      (paths[path] as Record<string, unknown>)[method] = {
        operationId: `${method}${path.replace(/[^A-Za-z0-9]/g, '_')}`,
        ...op,
      };
      made++;
    }
  }
  return {
    openapi: '3.0.3',
    info: { title: `synthetic ${operations}`, version: '1.0.0' },
    paths,
    components: { schemas },
  };
}
