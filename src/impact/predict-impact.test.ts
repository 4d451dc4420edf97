import { describe, expect, it } from 'vitest';
import type { ToolSpec } from '../policy/policy.js';
import { parseYamlSource } from '../policy/yaml-source.js';
import { parseInventory, type Inventory } from './inventory.js';
import { normalizeAction } from './normalize-action.js';
import { predictImpact } from './predict-impact.js';

function inventory(text: string): Inventory {
  const source = parseYamlSource(text, 'inventory.yaml');
  if (!source.ok) throw new Error(JSON.stringify(source.issues));
  const inv = parseInventory(source.value);
  if (!inv.ok) throw new Error(JSON.stringify(inv.issues));
  return inv.value;
}

const INV = inventory(`
services:
  - { id: edge, environment: prod, replicas: 4, traffic: 1.0, dependsOn: [api] }
  - { id: api, environment: prod, replicas: 10, traffic: 0.6, dependsOn: [auth], dataStores: [db] }
  - { id: auth, environment: prod, replicas: 5, traffic: 0.2 }
  - { id: batch, environment: prod, replicas: 3, traffic: 0.0, dataStores: [db] }
dataStores:
  - { id: db, environment: prod }
zones:
  - { name: prod-net, environment: prod, cidrs: [10.0.0.0/8], hosts: [prod.internal] }
`);
const restart: ToolSpec = { name: 'restart', operation: 'restart', reversible: true, batchable: true, targets: { param: 'service', kind: 'service', fractionParam: 'fraction', countParam: 'count' } };
const predict = (params: Record<string, unknown>, tool: ToolSpec | undefined = restart, extra: object = {}) => {
  const n = normalizeAction({ tool: tool?.name ?? 'mystery', environment: 'prod', params, ...extra }, tool);
  return predictImpact(n.action, tool, INV, n.problems);
};

describe('predictImpact', () => {
  it('counts replicas and traffic from a fraction, rounding replicas up', () => {
    const i = predict({ service: 'auth', fraction: 0.3 });
    expect(i.known).toBe(true);
    expect(i.replicas).toBe(2); // ceil(0.3 * 5)
    expect(i.trafficFraction).toBeCloseTo(0.2 * 0.4);
  });

  it('counts replicas from a count, capped at the service size', () => {
    expect(predict({ service: 'auth', count: 2 }).replicas).toBe(2);
    expect(predict({ service: 'auth', count: 50 }).replicas).toBe(5);
  });

  it('takes the whole service when no share is given', () => {
    const i = predict({ service: 'api' });
    expect(i.replicas).toBe(10);
    expect(i.trafficFraction).toBeCloseTo(0.6);
  });

  it('walks dependents transitively, each exposed to the share of the target it reaches', () => {
    const i = predict({ service: 'auth', fraction: 0.2 });
    expect(new Set(i.dependents)).toEqual(new Set(['api', 'edge']));
    const edge = i.resources.find((r) => r.id === 'edge');
    expect(edge).toMatchObject({ relation: 'dependent', fraction: 0.2, affectedReplicas: 0 });
    expect(i.totalTrafficFraction).toBeCloseTo(0.2 * 0.2 + 0.6 * 0.2 + 1.0 * 0.2);
  });

  it('reaches the users of a data store', () => {
    const tool: ToolSpec = { name: 'sql', operation: 'sql', reversible: false, batchable: false, targets: { param: 'database', kind: 'database' } };
    const i = predict({ database: 'db' }, tool);
    expect(new Set(i.dependents)).toEqual(new Set(['api', 'batch', 'edge']));
    expect(i.reversible).toBe(false);
    expect(i.irreversibleBecause).toMatch(/catalog marks tool "sql" irreversible/);
  });

  it('is unknown for a target not in the inventory, or in another environment', () => {
    expect(predict({ service: 'ghost' }).known).toBe(false);
    const n = normalizeAction({ tool: 'restart', environment: 'staging', params: { service: 'api' } }, restart);
    const i = predictImpact(n.action, restart, INV, n.problems);
    expect(i.known).toBe(false);
    expect(i.unknown.join()).toMatch(/environment "staging" is not in the inventory/);
  });

  it('is unknown for malformed shares and missing targets', () => {
    expect(predict({ service: 'api', fraction: 2 }).known).toBe(false);
    expect(predict({ service: 'api', fraction: '0.1' }).known).toBe(false);
    expect(predict({ service: 'api', count: 0 }).known).toBe(false);
    expect(predict({}).unknown.join()).toMatch(/missing/);
    expect(predict({ service: 'x'.repeat(500) }).known).toBe(false);
  });

  it('is unknown and irreversible for a tool not in the catalog', () => {
    const n = normalizeAction({ tool: 'mystery', environment: 'prod', reversible: true }, undefined);
    const i = predictImpact(n.action, undefined, INV, n.problems);
    expect(i.known).toBe(false);
    expect(i.reversible).toBe(false);
  });

  it('classifies endpoints into zones and leaves the unclassifiable outside', () => {
    const i = predict({ service: 'api', count: 1 }, restart, { endpoints: ['http://10.1.2.3/', 'https://db.prod.internal:5432', 'http://evil.example/', 'http://[::1'] });
    expect(i.endpoints.map((e) => e.zone)).toEqual(['prod-net', 'prod-net', null, null]);
    expect(i.endpoints[3]?.host).toBeNull();
  });

  it('merges a target declared twice, keeping the larger share', () => {
    const n = normalizeAction({ tool: 'restart', environment: 'prod', targets: [{ kind: 'service', id: 'api', fraction: 0.5 }], params: { service: 'api', fraction: 0.1 } }, restart);
    expect(n.action.targets).toEqual([{ kind: 'service', id: 'api', fraction: 0.5 }]);
  });
});

describe('parseInventory', () => {
  it('rejects references to unknown services and duplicates, with lines', () => {
    const source = parseYamlSource(`services:\n  - { id: a, environment: prod, replicas: 1, dependsOn: [b] }\n  - { id: a, environment: prod, replicas: 1 }\n`, 'inv.yaml');
    if (!source.ok) throw new Error('yaml');
    const inv = parseInventory(source.value);
    expect(inv.ok).toBe(false);
    if (inv.ok) return;
    expect(inv.issues.map((i) => i.message)).toEqual(expect.arrayContaining([expect.stringMatching(/duplicate service "a"/), expect.stringMatching(/unknown service "b"/)]));
    expect(inv.issues.every((i) => typeof i.line === 'number')).toBe(true);
  });
});
