import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { loadSpec, type Obj } from '../../openapi/load.js';
import type { Finding } from '../types.js';
import { lintSpecDetailed } from './spec.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-lint-spec-'));
let n = 0;

async function lint(doc: Obj | string): Promise<{ findings: Finding[]; notes: string[]; text: string }> {
  const text = typeof doc === 'string' ? doc : stringify(doc);
  const file = join(dir, `spec-${n++}.yaml`);
  writeFileSync(file, text);
  const spec = await loadSpec(file);
  return { ...lintSpecDetailed(spec, text), text };
}

const ids = (findings: readonly Finding[]): string[] => findings.map((f) => f.id).sort();
const of = (findings: readonly Finding[], rule: string): Finding[] =>
  findings.filter((f) => f.rule.id === rule);

const inlineErrors = {
  '401': { description: 'no credential' },
  '403': { description: 'not allowed' },
  '429': { description: 'slow down' },
};
const errors = {
  '401': { $ref: '#/components/responses/Problem' },
  '403': { $ref: '#/components/responses/Problem' },
  '429': { $ref: '#/components/responses/Problem' },
};

/** A description that breaks no rule: every bad example below is one change away from it. */
function good(): Obj {
  return {
    openapi: '3.0.3',
    info: { title: 'users', version: '1' },
    servers: [{ url: 'https://api.example.com' }, { url: 'http://localhost:8080' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      responses: { Problem: { description: 'refused' } },
      parameters: {
        Limit: { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100 } },
      },
      schemas: {
        User: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' },
            name: { type: 'string' }, // response only: no bound needed
            passwordChangedAt: { type: 'string', format: 'date-time' },
            commitHash: { type: 'string' },
            nextPageToken: { type: 'string' },
          },
        },
        NewUser: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: { type: 'string', maxLength: 100 },
            nick: { type: 'string', pattern: '^[a-z]{1,20}$' },
            role: { type: 'string', enum: ['user', 'viewer'] },
            password: { type: 'string', maxLength: 128, writeOnly: true },
            tags: { type: 'array', maxItems: 10, items: { type: 'string', maxLength: 20 } },
            age: { type: 'integer', minimum: 0, maximum: 150 },
            labels: { type: 'object', additionalProperties: { type: 'string', maxLength: 50 } },
          },
        },
      },
    },
    paths: {
      '/users': {
        get: {
          parameters: [{ $ref: '#/components/parameters/Limit' }],
          responses: {
            '200': {
              description: 'ok',
              content: {
                'application/json': {
                  schema: { type: 'array', maxItems: 100, items: { $ref: '#/components/schemas/User' } },
                },
              },
            },
            ...errors,
          },
        },
        post: {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/NewUser' } } },
          },
          responses: {
            '201': {
              description: 'created',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/User' } } },
            },
            ...errors,
          },
        },
      },
      '/users/{userId}': {
        parameters: [
          { name: 'userId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
        ],
        get: {
          responses: {
            '200': {
              description: 'ok',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/User' } } },
            },
            ...errors,
          },
        },
      },
      '/login': {
        post: {
          security: [],
          requestBody: {
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    username: { type: 'string', maxLength: 64 },
                    password: { type: 'string', maxLength: 128 },
                  },
                },
              },
            },
          },
          responses: {
            '200': {
              description: 'signed in',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: { accessToken: { type: 'string' }, tokenType: { type: 'string' } },
                  },
                },
              },
            },
            '429': { $ref: '#/components/responses/Problem' },
          },
        },
      },
    },
  };
}

type Doc = Obj;

type Segment = string | number;
/** The object at a path inside a test document (throws when there is none): typed edits without casts. */
function obj(root: unknown, ...path: Segment[]): Record<string, unknown> {
  let node: unknown = root;
  for (const seg of path) node = (node as Record<string, unknown>)[seg];
  assert.ok(node !== null && typeof node === 'object', `no object at ${path.join('.')}`);
  return node as Record<string, unknown>;
}
function list(root: unknown, ...path: Segment[]): unknown[] {
  const node = path.reduce<unknown>((n, seg) => (n as Record<string, unknown>)[seg], root);
  assert.ok(Array.isArray(node), `no array at ${path.join('.')}`);
  return node;
}
const variant = (change: (d: Doc) => void): Doc => {
  const d = structuredClone(good());
  change(d);
  return d;
};

describe('lint spec: the good twin breaks no rule', () => {
  it('has no findings and no notes', async () => {
    const { findings, notes } = await lint(good());
    assert.deepEqual(ids(findings), []);
    assert.deepEqual(notes, []);
  });
});

describe('lint spec: each rule fires on a minimal bad example', () => {
  it('lint-spec-no-security: nothing declared, or credentials made optional', async () => {
    const { findings } = await lint(
      variant((d) => {
        delete d.security;
        obj(d, 'paths', '/users', 'post').security = [{}, { bearer: [] }];
      }),
    );
    assert.deepEqual(ids(of(findings, 'lint-spec-no-security')), [
      'lint-spec-no-security:paths./users.get',
      'lint-spec-no-security:paths./users.post',
      'lint-spec-no-security:paths./users/{userId}.get',
    ]);
    const optional = await lint(
      variant((d) => (obj(d, 'paths', '/users', 'post').security = [{}, { bearer: [] }])),
    );
    const f = of(optional.findings, 'lint-spec-no-security');
    assert.deepEqual(ids(f), ['lint-spec-no-security:paths./users.post']);
    assert.match(f[0]?.message ?? '', /optional/);
  });

  it('lint-spec-no-security: a document-wide empty requirement is not a deliberate opt-out', async () => {
    const { findings } = await lint(variant((d) => (d.security = [])));
    assert.equal(of(findings, 'lint-spec-no-security').length, 3);
  });

  it('lint-spec-plain-http-server: http:// beyond loopback, with server variables filled', async () => {
    const { findings } = await lint(
      variant((d) => {
        list(d, 'servers').push({
          url: 'http://{host}/v1',
          variables: { host: { default: 'api.example.com' } },
        });
        obj(d, 'paths', '/users', 'get').servers = [
          { url: 'http://127.0.0.1:3000' },
          { url: 'http://10.0.0.5' },
        ];
      }),
    );
    assert.deepEqual(ids(of(findings, 'lint-spec-plain-http-server')), [
      'lint-spec-plain-http-server:paths./users.get.servers.1',
      'lint-spec-plain-http-server:servers.2',
    ]);
  });

  it('lint-spec-string-unbounded: request strings without a bound, reported once at the component', async () => {
    const { findings } = await lint(
      variant((d) => {
        delete obj(d, 'components', 'schemas', 'NewUser', 'properties', 'name').maxLength;
        obj(d, 'components', 'schemas', 'NewUser', 'properties', 'nick').pattern = '^.*$';
        list(d, 'paths', '/users', 'get', 'parameters').push({
          name: 'q',
          in: 'query',
          schema: { type: 'string' },
        });
        // A second operation using NewUser: still one finding per field.
        obj(d, 'paths', '/users/{userId}').put = {
          requestBody: {
            content: { 'application/json': { schema: { $ref: '#/components/schemas/NewUser' } } },
          },
          responses: { '204': { description: 'ok' }, ...errors },
        };
      }),
    );
    assert.deepEqual(ids(of(findings, 'lint-spec-string-unbounded')), [
      'lint-spec-string-unbounded:components.schemas.NewUser.properties.name',
      'lint-spec-string-unbounded:components.schemas.NewUser.properties.nick',
      'lint-spec-string-unbounded:paths./users.get.parameters.q',
    ]);
  });

  it('lint-spec-open-object: request objects without additionalProperties: false', async () => {
    const { findings } = await lint(
      variant((d) => {
        delete obj(d, 'components', 'schemas', 'NewUser').additionalProperties;
        obj(d, 'components', 'schemas', 'NewUser', 'properties').meta = {
          type: 'object',
          additionalProperties: true,
        };
      }),
    );
    assert.deepEqual(ids(of(findings, 'lint-spec-open-object')), [
      'lint-spec-open-object:components.schemas.NewUser',
      'lint-spec-open-object:components.schemas.NewUser.properties.meta',
    ]);
  });

  it('lint-spec-open-object: a composition is judged by its inline parts, a referenced part at its component', async () => {
    const closed = variant((d) => {
      obj(d, 'components', 'schemas').Base = {
        type: 'object',
        additionalProperties: false,
        properties: { a: { type: 'string', maxLength: 5 } },
      };
      obj(d, 'paths', '/users', 'post', 'requestBody', 'content', 'application/json').schema = {
        allOf: [{ $ref: '#/components/schemas/Base' }, { $ref: '#/components/schemas/NewUser' }],
      };
    });
    assert.deepEqual(ids(of((await lint(closed)).findings, 'lint-spec-open-object')), []);
    delete obj(closed, 'components', 'schemas', 'Base').additionalProperties;
    assert.deepEqual(ids(of((await lint(closed)).findings, 'lint-spec-open-object')), [
      'lint-spec-open-object:components.schemas.Base',
    ]);
    const inline = variant((d) => {
      obj(d, 'paths', '/users', 'post', 'requestBody', 'content', 'application/json').schema = {
        allOf: [
          { $ref: '#/components/schemas/NewUser' },
          { type: 'object', properties: { extra: { type: 'boolean' } } },
        ],
      };
    });
    assert.deepEqual(ids(of((await lint(inline)).findings, 'lint-spec-open-object')), [
      'lint-spec-open-object:paths./users.post.requestBody.content.application/json.schema',
    ]);
  });

  it('lint-spec-integer-unbounded: says which bound is missing', async () => {
    const { findings } = await lint(
      variant((d) => delete obj(d, 'components', 'parameters', 'Limit', 'schema').maximum),
    );
    const f = of(findings, 'lint-spec-integer-unbounded');
    assert.deepEqual(ids(f), ['lint-spec-integer-unbounded:components.parameters.Limit']);
    assert.match(f[0]?.message ?? '', /without maximum/);
  });

  it('lint-spec-array-unbounded: request arrays without maxItems', async () => {
    const { findings } = await lint(
      variant((d) => delete obj(d, 'components', 'schemas', 'NewUser', 'properties', 'tags').maxItems),
    );
    assert.deepEqual(ids(of(findings, 'lint-spec-array-unbounded')), [
      'lint-spec-array-unbounded:components.schemas.NewUser.properties.tags',
    ]);
  });

  it('lint-spec-array-unbounded: a successful list answer without maxItems (not nested arrays)', async () => {
    const { findings } = await lint(
      variant((d) => {
        obj(d, 'components', 'schemas', 'User', 'properties').roles = {
          type: 'array',
          items: { type: 'string' },
        };
        obj(d, 'components', 'schemas').Users = {
          type: 'array',
          items: { $ref: '#/components/schemas/User' },
        };
        obj(d, 'paths', '/users', 'get', 'responses', '200', 'content', 'application/json').schema = {
          $ref: '#/components/schemas/Users',
        };
        obj(d, 'paths', '/users', 'get', 'responses')['401'] = {
          description: 'no',
          content: { 'application/json': { schema: { type: 'array', items: { type: 'string' } } } },
        };
      }),
    );
    assert.deepEqual(ids(of(findings, 'lint-spec-array-unbounded')), [
      'lint-spec-array-unbounded:components.schemas.Users',
    ]);
  });

  it('lint-spec-sequential-id: integer id path parameters', async () => {
    const { findings } = await lint(
      variant((d) => {
        obj(d, 'paths', '/users/{userId}', 'parameters', 0).schema = {
          type: 'integer',
          minimum: 1,
          maximum: 1e9,
        };
        obj(d, 'paths')['/users/{userId}/orders/{order_id}'] = {
          get: {
            parameters: [
              { name: 'userId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
              { name: 'order_id', in: 'path', required: true, schema: { type: 'string', pattern: '^\\d+$' } },
            ],
            responses: { '200': { description: 'ok' }, ...errors },
          },
          put: {
            parameters: [
              { name: 'userId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
              { name: 'order_id', in: 'path', required: true, schema: { type: 'string', maxLength: 30 } },
            ],
            responses: { '204': { description: 'ok' }, ...errors },
          },
        };
      }),
    );
    assert.deepEqual(ids(of(findings, 'lint-spec-sequential-id')), [
      'lint-spec-sequential-id:paths./users/{userId}.parameters.userId',
      'lint-spec-sequential-id:paths./users/{userId}/orders/{order_id}.get.parameters.order_id',
    ]);
  });

  it('lint-spec-sensitive-field: secrets in responses; tokens only outside credential operations', async () => {
    const { findings } = await lint(
      variant((d) => {
        Object.assign(obj(d, 'components', 'schemas', 'User', 'properties'), {
          passwordHash: { type: 'string' },
          ssn: { type: 'string' },
          apiKey: { type: 'string' },
          resetToken: { type: 'string' },
          card: { type: 'object', properties: { cardNumber: { type: 'string' }, last4: { type: 'string' } } },
        });
      }),
    );
    assert.deepEqual(ids(of(findings, 'lint-spec-sensitive-field')), [
      'lint-spec-sensitive-field:components.schemas.User.properties.apiKey',
      'lint-spec-sensitive-field:components.schemas.User.properties.card.properties.cardNumber',
      'lint-spec-sensitive-field:components.schemas.User.properties.passwordHash',
      'lint-spec-sensitive-field:components.schemas.User.properties.resetToken',
      'lint-spec-sensitive-field:components.schemas.User.properties.ssn',
    ]);
    // The password a client sends (writeOnly) and the token a login returns are not leaks.
    const login = await lint(
      variant((d) => {
        const schema = obj(
          d,
          'paths',
          '/login',
          'post',
          'responses',
          '200',
          'content',
          'application/json',
          'schema',
        );
        obj(schema, 'properties').password = { type: 'string' };
      }),
    );
    assert.deepEqual(ids(of(login.findings, 'lint-spec-sensitive-field')), [
      'lint-spec-sensitive-field:paths./login.post.responses.200.content.application/json.schema.properties.password',
    ]);
  });

  it('lint-spec-missing-401-403 and lint-spec-missing-429', async () => {
    const { findings } = await lint(
      variant((d) => {
        obj(d, 'paths', '/users', 'get').responses = { '200': { description: 'ok' } };
        obj(d, 'paths', '/users', 'post').responses = {
          '201': { description: 'ok' },
          '4XX': { description: 'no' },
        };
      }),
    );
    assert.deepEqual(ids(of(findings, 'lint-spec-missing-401-403')), [
      'lint-spec-missing-401-403:paths./users.get',
    ]);
    assert.deepEqual(ids(of(findings, 'lint-spec-missing-429')), ['lint-spec-missing-429:paths./users.get']);
  });
});

describe('lint spec: findings carry what a reader and SARIF need', () => {
  it('every finding has its rule, file and the line of the key', async () => {
    const { findings, text } = await lint(
      variant((d) => delete obj(d, 'components', 'schemas', 'NewUser', 'properties', 'name').maxLength),
    );
    const f = of(findings, 'lint-spec-string-unbounded')[0];
    assert.ok(f);
    assert.equal(f.severity, 'low');
    assert.ok(f.rule.why && f.rule.fix && f.rule.portcullis.includes('contract'));
    assert.match(f.location?.file ?? '', /spec-\d+\.yaml$/);
    const lines = text.split('\n');
    const line = f.location?.line ?? 0;
    assert.match(lines[line - 1] ?? '', /^\s+name:/);
    // The line is inside NewUser, not User's "name".
    const newUserLine = lines.findIndex((l) => /^\s+NewUser:/.test(l)) + 1;
    assert.ok(line > newUserLine);
  });
});

describe('lint spec: hostile and incomplete descriptions', () => {
  it('cyclic $refs end, and each problem is reported once at its component', async () => {
    const { findings } = await lint(
      variant((d) => {
        obj(d, 'components', 'schemas').Node = {
          type: 'object',
          properties: {
            label: { type: 'string' },
            secret: { type: 'string' },
            parent: { $ref: '#/components/schemas/Node' },
            children: { type: 'array', items: { $ref: '#/components/schemas/Node' } },
            wrapped: { allOf: [{ $ref: '#/components/schemas/Node' }] },
          },
        };
        obj(d, 'paths')['/nodes'] = {
          post: {
            requestBody: {
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Node' } } },
            },
            responses: {
              '200': {
                description: 'ok',
                content: { 'application/json': { schema: { $ref: '#/components/schemas/Node' } } },
              },
              ...errors,
            },
          },
        };
      }),
    );
    assert.deepEqual(ids(findings.filter((f) => f.where.startsWith('components.schemas.Node'))), [
      'lint-spec-array-unbounded:components.schemas.Node.properties.children',
      'lint-spec-open-object:components.schemas.Node',
      'lint-spec-sensitive-field:components.schemas.Node.properties.secret',
      'lint-spec-string-unbounded:components.schemas.Node.properties.label',
      'lint-spec-string-unbounded:components.schemas.Node.properties.secret',
    ]);
  });

  it('a huge description is linted in bounded time', async () => {
    const doc = good();
    const props: Obj = {};
    for (let p = 0; p < 100; p++) props[`f${p}`] = { type: 'string' };
    for (let s = 0; s < 300; s++) {
      obj(doc, 'components', 'schemas')[`S${s}`] = { type: 'object', properties: props };
      obj(doc, 'paths')[`/s${s}`] = {
        post: {
          requestBody: {
            content: { 'application/json': { schema: { $ref: `#/components/schemas/S${s}` } } },
          },
          responses: { '204': { description: 'ok' }, ...errors },
        },
      };
    }
    const text = JSON.stringify(doc, null, 1);
    const file = join(dir, 'huge.json');
    writeFileSync(file, text);
    const spec = await loadSpec(file);
    const started = performance.now();
    const { findings } = lintSpecDetailed(spec, text);
    const ms = performance.now() - started;
    // 300 open objects and 30,000 unbounded strings, each once.
    assert.equal(of(findings, 'lint-spec-string-unbounded').length, 300 * 100);
    assert.equal(of(findings, 'lint-spec-open-object').length, 300);
    assert.ok(ms < 5000, `took ${ms} ms`);
    // JSON is located by its own linear scan: the line of the key, as for YAML.
    const f = findings.find((x) => x.where === 'components.schemas.S7.properties.f42');
    assert.match(text.split('\n')[(f?.location?.line ?? 0) - 1] ?? '', /"f42"/);
  });

  it('a description with no operations, and parts left out, lints without error', async () => {
    const empty = await lint({
      openapi: '3.1.0',
      info: { title: 'x', version: '1' },
      components: { schemas: { A: { type: 'string' } } },
    });
    assert.deepEqual(ids(empty.findings), []);
    assert.match(empty.notes.join('\n'), /no operations/);
    const sparse = await lint({
      openapi: '3.1.0',
      info: { title: 'x', version: '1' },
      security: [{ key: [] }],
      components: { securitySchemes: { key: { type: 'apiKey', in: 'header', name: 'x-key' } } },
      paths: {
        '/a': {
          post: {
            parameters: [{ name: 'f', in: 'query', content: { 'application/json': {} } }],
            requestBody: { content: { 'application/json': {} } },
            responses: { '200': { description: 'ok', content: { 'application/json': {} } }, ...inlineErrors },
          },
        },
        '/b': {},
      },
      // Not followed: a reference to nowhere is someone else's problem (the validator's).
    });
    assert.deepEqual(ids(sparse.findings), []);
  });

  it('a path item given by $ref (3.1 components.pathItems) is linted, shown under its path', async () => {
    const { findings } = await lint({
      openapi: '3.1.0',
      info: { title: 'x', version: '1' },
      security: [{ key: [] }],
      components: {
        securitySchemes: { key: { type: 'apiKey', in: 'header', name: 'x-key' } },
        pathItems: {
          Things: {
            get: {
              parameters: [{ name: 'q', in: 'query', schema: { type: 'string' } }],
              responses: { '200': { description: 'ok' }, '401': { description: 'no' } },
            },
          },
        },
      },
      paths: { '/things': { $ref: '#/components/pathItems/Things' } },
    });
    assert.deepEqual(ids(findings), [
      'lint-spec-missing-429:paths./things.get',
      'lint-spec-string-unbounded:paths./things.get.parameters.q',
    ]);
    assert.ok(findings.every((f) => (f.location?.line ?? 0) > 0));
  });

  it('3.1 type arrays and unevaluatedProperties are understood', async () => {
    const { findings } = await lint({
      openapi: '3.1.0',
      info: { title: 'x', version: '1' },
      security: [{ key: [] }],
      components: { securitySchemes: { key: { type: 'apiKey', in: 'header', name: 'x-key' } } },
      paths: {
        '/a': {
          post: {
            requestBody: {
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    unevaluatedProperties: false,
                    properties: {
                      n: { type: ['integer', 'null'], exclusiveMinimum: 0, maximum: 9 },
                      s: { type: ['string', 'null'] },
                    },
                  },
                },
              },
            },
            responses: { '204': { description: 'ok' }, ...inlineErrors },
          },
        },
      },
    });
    assert.deepEqual(ids(findings), [
      'lint-spec-string-unbounded:paths./a.post.requestBody.content.application/json.schema.properties.s',
    ]);
  });
});
