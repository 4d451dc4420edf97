import { describe, expect, it } from 'vitest';
import { configDrift, MAX_CONFIG_DEPTH, MAX_CONFIG_NODES, type ConfigChange, type JsonSchema } from './config-drift.js';

const schema = {
  type: 'object',
  required: ['service', 'replicas', 'timeouts', 'tls'],
  additionalProperties: false,
  properties: {
    service: { type: 'string', pattern: '^[a-z][a-z0-9-]*$' },
    replicas: { type: 'integer', minimum: 2, maximum: 50 },
    logLevel: { enum: ['debug', 'info', 'warn', 'error'] },
    timeouts: {
      type: 'object',
      additionalProperties: false,
      required: ['connectMs', 'requestMs'],
      properties: {
        connectMs: { type: 'integer', minimum: 100, maximum: 10_000 },
        requestMs: { type: 'integer', exclusiveMinimum: 0, maximum: 60_000 },
        idleMs: { type: 'integer', minimum: 0 },
      },
    },
    features: { type: 'object', additionalProperties: { type: 'boolean' } },
    tls: {
      type: 'object',
      required: ['enabled', 'minVersion'],
      properties: {
        enabled: { type: 'boolean' },
        minVersion: { enum: ['TLSv1.2', 'TLSv1.3'] },
        ciphers: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
      },
    },
    upstreams: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'hosts'],
        properties: {
          name: { type: 'string' },
          hosts: { type: 'array', items: { type: 'array', items: [{ type: 'string' }, { type: 'integer', minimum: 1, maximum: 65_535 }], minItems: 2, additionalItems: false } },
          weight: { type: 'number', minimum: 0, maximum: 1 },
        },
      },
    },
  },
} as const satisfies JsonSchema;

function baseline() {
  return {
    service: 'checkout',
    replicas: 6,
    logLevel: 'info',
    timeouts: { connectMs: 500, requestMs: 5_000 },
    features: { newPricing: false, fastCheckout: true },
    tls: { enabled: true, minVersion: 'TLSv1.3', ciphers: ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384'] },
    upstreams: [
      { name: 'payments', hosts: [['pay-1.internal', 8443], ['pay-2.internal', 8443]], weight: 1 },
      { name: 'inventory', hosts: [['inv-1.internal', 9000]], weight: 0.5 },
    ],
  };
}

type Config = ReturnType<typeof baseline>;

/** Edits a copy of the baseline and compares; `null` compares without a schema. */
function drift(edit: (config: Config) => void, withSchema: JsonSchema | null = schema) {
  const proposed = baseline();
  edit(proposed);
  return configDrift(withSchema === null ? { baseline: baseline(), proposed } : { baseline: baseline(), proposed, schema: withSchema });
}

const shape = (changes: readonly ConfigChange[]) => changes.map(({ kind, path, breaking }) => ({ kind, path, breaking }));

describe('configDrift', () => {
  it('finds nothing when nothing changed, and the baseline is valid', () => {
    expect(configDrift({ baseline: baseline(), proposed: baseline(), schema })).toEqual({ drifting: false, valid: true, changes: [] });
  });

  it('reports a changed value the schema accepts, without drift', () => {
    const result = drift((config) => void (config.replicas = 8));
    expect(result).toMatchObject({ drifting: false, valid: true });
    expect(result.changes).toEqual([{ kind: 'value-changed', path: '/replicas', from: 6, to: 8, breaking: false, message: '"/replicas" changed from 6 to 8' }]);
  });

  it('treats a removed key as breaking, and says when the schema requires it', () => {
    const optional = drift((config) => void delete (config as Partial<Config>).logLevel);
    expect(optional).toMatchObject({ drifting: true, valid: true });
    expect(optional.changes).toEqual([{ kind: 'key-removed', path: '/logLevel', from: 'info', breaking: true, message: '"/logLevel" was removed (it was "info")' }]);

    const required = drift((config) => void delete (config.timeouts as Partial<Config['timeouts']>).requestMs);
    expect(required).toMatchObject({ drifting: true, valid: false });
    expect(shape(required.changes)).toEqual([{ kind: 'key-removed', path: '/timeouts/requestMs', breaking: true }]);
    expect(required.changes[0]?.message).toMatch(/schema: must have required property 'requestMs'/);
  });

  it('treats a number turned into a string as a breaking type change, with or without a schema', () => {
    const edit = (config: Config) => void ((config as Record<string, unknown>)['replicas'] = '6');
    const checked = drift(edit);
    expect(checked).toMatchObject({ drifting: true, valid: false });
    expect(checked.changes).toEqual([
      { kind: 'type-changed', path: '/replicas', from: 6, to: '6', breaking: true, message: '"/replicas" changed from number to string (schema: must be integer)' },
    ]);
    const unchecked = drift(edit, null);
    expect(unchecked).toMatchObject({ drifting: true, valid: true });
    expect(shape(unchecked.changes)).toEqual([{ kind: 'type-changed', path: '/replicas', breaking: true }]);
  });

  it('turns a changed value the schema rejects into a breaking out-of-range change', () => {
    const result = drift((config) => void (config.timeouts.requestMs = 120_000));
    expect(result).toMatchObject({ drifting: true, valid: false });
    expect(result.changes).toEqual([
      { kind: 'out-of-range', path: '/timeouts/requestMs', from: 5_000, to: 120_000, breaking: true, message: '"/timeouts/requestMs" must be <= 60000' },
    ]);
    const zero = drift((config) => void (config.timeouts.requestMs = 0));
    expect(shape(zero.changes)).toEqual([{ kind: 'out-of-range', path: '/timeouts/requestMs', breaking: true }]);
    expect(shape(drift((config) => void (config.replicas = 1)).changes)).toEqual([{ kind: 'out-of-range', path: '/replicas', breaking: true }]);
  });

  it('names the allowed values of an enum it rejects', () => {
    const result = drift((config) => void (config.tls.minVersion = 'TLSv1.0'));
    expect(result.drifting).toBe(true);
    expect(result.changes).toEqual([
      {
        kind: 'out-of-range',
        path: '/tls/minVersion',
        from: 'TLSv1.3',
        to: 'TLSv1.0',
        breaking: true,
        message: '"/tls/minVersion" must be equal to one of the allowed values: "TLSv1.2", "TLSv1.3"',
      },
    ]);
  });

  it('maps a pattern violation to out-of-range', () => {
    expect(shape(drift((config) => void (config.service = 'Checkout_v2')).changes)).toEqual([{ kind: 'out-of-range', path: '/service', breaking: true }]);
  });

  it('accepts an added optional key as no drift', () => {
    const result = drift((config) => void Object.assign(config.timeouts, { idleMs: 30_000 }));
    expect(result).toMatchObject({ drifting: false, valid: true });
    expect(result.changes).toEqual([{ kind: 'key-added', path: '/timeouts/idleMs', to: 30_000, breaking: false, message: '"/timeouts/idleMs" was added (30000)' }]);
    expect(drift((config) => void Object.assign(config.features, { darkLaunch: true })).drifting).toBe(false);
  });

  it('refuses an added key the schema does not allow', () => {
    const result = drift((config) => void Object.assign(config.timeouts, { retryMs: 10 }));
    expect(result).toMatchObject({ drifting: true, valid: false });
    expect(result.changes).toEqual([
      { kind: 'schema-violation', path: '/timeouts/retryMs', to: 10, breaking: true, message: '"/timeouts/retryMs" must NOT have additional properties' },
    ]);
  });

  it('compares nested arrays by position, and arrays of named objects by name', () => {
    const port = drift((config) => void ((config.upstreams[0]?.hosts[1] as [string, number])[1] = 70_000));
    expect(shape(port.changes)).toEqual([{ kind: 'out-of-range', path: '/upstreams/0/hosts/1/1', breaking: true }]);

    const host = drift((config) => void config.upstreams[0]?.hosts.pop());
    expect(host.changes).toEqual([
      { kind: 'key-removed', path: '/upstreams/0/hosts/1', from: ['pay-2.internal', 8443], breaking: true, message: '"/upstreams/0/hosts/1" was removed (it was ["pay-2.internal",8443])' },
    ]);

    // A new upstream first: paired by name, the others are unchanged (by position, every one would differ).
    const inserted = drift((config) => void config.upstreams.unshift({ name: 'fraud', hosts: [['fraud-1.internal', 7000]], weight: 0.1 }));
    expect(inserted).toMatchObject({ drifting: false, valid: true });
    expect(shape(inserted.changes)).toEqual([{ kind: 'key-added', path: '/upstreams/0', breaking: false }]);

    const reweighted = drift((config) => {
      config.upstreams.reverse();
      (config.upstreams[0] as { weight: number }).weight = 0.25;
    });
    expect(reweighted.changes).toEqual([{ kind: 'value-changed', path: '/upstreams/0/weight', from: 0.5, to: 0.25, breaking: false, message: '"/upstreams/0/weight" changed from 0.5 to 0.25' }]);

    const dropped = drift((config) => void config.upstreams.splice(0, 1));
    expect(shape(dropped.changes)).toEqual([{ kind: 'key-removed', path: '/upstreams/0', breaking: true }]);
  });

  it('reports a violation below an added key as well as the key', () => {
    const result = drift((config) => void Object.assign(config.tls, { ciphers: [] }));
    expect(result.drifting).toBe(true);
    expect(shape(result.changes)).toContainEqual({ kind: 'out-of-range', path: '/tls/ciphers', breaking: true });
  });

  it('escapes keys in JSON pointers', () => {
    const result = configDrift({ baseline: { 'a/b': { '~c': 1 } }, proposed: { 'a/b': { '~c': 2 } } });
    expect(shape(result.changes)).toEqual([{ kind: 'value-changed', path: '/a~1b/~0c', breaking: false }]);
  });

  it('treats a change of the whole document’s type as breaking', () => {
    const result = configDrift({ baseline: { replicas: 3 }, proposed: [3] });
    expect(result).toMatchObject({ drifting: true, valid: true });
    expect(shape(result.changes)).toEqual([{ kind: 'type-changed', path: '', breaking: true }]);
  });

  it('refuses documents nested deeper than the limit, and accepts one at the limit', () => {
    const nest = (levels: number): unknown => {
      let value: unknown = 'leaf';
      for (let level = 0; level < levels; level += 1) value = { next: value };
      return value;
    };
    expect(configDrift({ baseline: nest(MAX_CONFIG_DEPTH), proposed: nest(MAX_CONFIG_DEPTH) })).toEqual({ drifting: false, valid: true, changes: [] });
    const deep = configDrift({ baseline: nest(MAX_CONFIG_DEPTH), proposed: nest(MAX_CONFIG_DEPTH + 1) });
    expect(deep).toEqual({
      drifting: true,
      valid: false,
      changes: [{ kind: 'schema-violation', path: '', breaking: true, message: `the proposed document is nested deeper than ${MAX_CONFIG_DEPTH} levels` }],
    });
    // Deep enough to overflow a recursive walk, were the limit not checked first.
    expect(configDrift({ baseline: nest(100_000), proposed: {} }).drifting).toBe(true);
  });

  it('refuses documents with too many values, and cyclic ones', () => {
    const wide = { items: Array.from({ length: MAX_CONFIG_NODES }, (_, index) => index) };
    expect(configDrift({ baseline: {}, proposed: wide }).changes[0]?.message).toBe(`the proposed document holds more than ${MAX_CONFIG_NODES} values`);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(configDrift({ baseline: cyclic, proposed: {} }).drifting).toBe(true);
  });

  it('refuses values that are not JSON', () => {
    const result = configDrift({ baseline: { at: '2024-01-01' }, proposed: { at: new Date(0) } });
    expect(result).toMatchObject({ drifting: true, valid: false });
    expect(result.changes[0]?.message).toMatch(/not JSON/);
  });

  it('fails closed on a schema that does not compile', () => {
    for (const invalid of [{ type: 'object', properties: { replicas: { type: 'integr' } } }, { type: 'object', propertiez: {} }, { $ref: 'https://example.com/elsewhere.json' }]) {
      const result = configDrift({ baseline: baseline(), proposed: baseline(), schema: invalid });
      expect(result.drifting).toBe(true);
      expect(result.valid).toBe(false);
      expect(result.changes).toHaveLength(1);
      expect(result.changes[0]).toMatchObject({ kind: 'schema-violation', path: '', breaking: true, message: expect.stringMatching(/^the schema does not compile: /) });
    }
  });

  it('compiles each schema object once', () => {
    let reads = 0;
    const counted = new Proxy({ type: 'object' }, { get: (target, key) => ((reads += 1), Reflect.get(target, key)) });
    configDrift({ baseline: {}, proposed: {}, schema: counted });
    const afterFirst = reads;
    expect(afterFirst).toBeGreaterThan(0);
    for (let run = 0; run < 5; run += 1) configDrift({ baseline: {}, proposed: { a: 1 }, schema: counted });
    expect(reads).toBe(afterFirst);
  });

  it('follows the dialect the schema names', () => {
    const draft2020 = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { hosts: { type: 'array', prefixItems: [{ type: 'string' }], minItems: 1, items: false } },
    };
    expect(configDrift({ baseline: { hosts: ['a'] }, proposed: { hosts: ['a'] }, schema: draft2020 }).valid).toBe(true);
    const result = configDrift({ baseline: { hosts: ['a'] }, proposed: { hosts: ['a', 'b'] }, schema: draft2020 });
    expect(result).toMatchObject({ drifting: true, valid: false });
  });

  it('accepts a boolean schema', () => {
    expect(configDrift({ baseline: {}, proposed: { a: 1 }, schema: false })).toMatchObject({ drifting: true, valid: false });
    expect(configDrift({ baseline: {}, proposed: { a: 1 }, schema: true })).toMatchObject({ drifting: false, valid: true });
  });
});
