import type { ParseResult } from '../core/errors.js';
import { IDENTIFIER, IDENTIFIER_NAME, Reader, type YamlSource } from '../policy/yaml-source.js';
import { compileZones, type ZoneIndex, type ZoneSpec } from './network/index.js';

/** A service as the inventory describes it. */
export interface ServiceSpec {
  readonly id: string;
  readonly environment: string;
  readonly replicas: number;
  /** Share of its environment's traffic the service serves, in [0, 1]. */
  readonly traffic: number;
  /** Services (same environment) this one calls. */
  readonly dependsOn: readonly string[];
  /** Data stores (same environment) this one uses. */
  readonly dataStores: readonly string[];
  readonly owners: readonly string[];
}

/** A data store (database, cache, queue). */
export interface DataStoreSpec {
  readonly id: string;
  readonly environment: string;
  readonly engine: string;
  readonly owners: readonly string[];
  /** The id its schema baselines are stored under (`<dataDir>/baselines/<id>/`); default the store's id. */
  readonly baseline?: string;
  /**
   * A read-only connection for row estimates (EXPLAIN, never executed): the
   * name of the environment variable holding its URL, so no secret is in the file.
   */
  readonly explain?: { readonly urlEnv: string };
}

/** The inventory file as written. */
export interface InventorySpec {
  readonly services: readonly ServiceSpec[];
  readonly dataStores: readonly DataStoreSpec[];
  readonly zones: readonly ZoneSpec[];
}

/** One node of the dependency graph: a service or a data store in one environment. */
export interface InventoryNode {
  readonly kind: 'service' | 'database';
  readonly id: string;
  readonly environment: string;
  readonly replicas: number;
  readonly traffic: number;
  /** Who owns the resource (teams or groups), notified of held actions on it. */
  readonly owners: readonly string[];
  /** Nodes that depend directly on this one (reverse edges). */
  readonly dependents: readonly InventoryNode[];
}

/** The inventory compiled for O(1) lookups on the decision path. */
export interface Inventory {
  readonly spec: InventorySpec;
  readonly zones: ZoneIndex;
  readonly environments: ReadonlySet<string>;
  /** The node for (environment, kind, id), if the inventory has it. */
  find(environment: string, kind: string, id: string): InventoryNode | undefined;
}

const MAX_REPLICAS = 1_000_000;

/** Validates an inventory document and compiles its dependency graph and zones. */
export function parseInventory(source: YamlSource): ParseResult<Inventory> {
  const r = new Reader(source);
  const root = r.object([], source.value ?? {}, ['services', 'dataStores', 'zones']);
  if (!root) return { ok: false, issues: r.issues };

  const services: ServiceSpec[] = [];
  (r.array(['services'], root.services ?? []) ?? []).forEach((raw, i) => {
    const p = ['services', i];
    const o = r.object(p, raw, ['id', 'environment', 'replicas', 'traffic', 'dependsOn', 'dataStores', 'owners', 'description']);
    if (!o) return;
    const id = r.string([...p, 'id'], o.id, { pattern: IDENTIFIER, patternName: IDENTIFIER_NAME });
    const environment = r.string([...p, 'environment'], o.environment, { pattern: IDENTIFIER, patternName: IDENTIFIER_NAME });
    const replicas = r.number([...p, 'replicas'], o.replicas, { min: 0, max: MAX_REPLICAS, integer: true });
    const traffic = r.number([...p, 'traffic'], o.traffic ?? 0, { min: 0, max: 1 });
    const dependsOn = r.stringList([...p, 'dependsOn'], o.dependsOn ?? [], { pattern: IDENTIFIER, patternName: IDENTIFIER_NAME });
    const dataStores = r.stringList([...p, 'dataStores'], o.dataStores ?? [], { pattern: IDENTIFIER, patternName: IDENTIFIER_NAME });
    const owners = r.stringList([...p, 'owners'], o.owners ?? []);
    if (id && environment && replicas !== undefined && traffic !== undefined && dependsOn && dataStores && owners) {
      services.push({ id, environment, replicas, traffic, dependsOn, dataStores, owners });
    }
  });

  const dataStores: DataStoreSpec[] = [];
  (r.array(['dataStores'], root.dataStores ?? []) ?? []).forEach((raw, i) => {
    const p = ['dataStores', i];
    const o = r.object(p, raw, ['id', 'environment', 'engine', 'owners', 'description', 'baseline', 'explain']);
    if (!o) return;
    const before = r.issues.length;
    const id = r.string([...p, 'id'], o.id, { pattern: IDENTIFIER, patternName: IDENTIFIER_NAME });
    const environment = r.string([...p, 'environment'], o.environment, { pattern: IDENTIFIER, patternName: IDENTIFIER_NAME });
    const engine = r.string([...p, 'engine'], o.engine ?? 'postgres');
    const owners = r.stringList([...p, 'owners'], o.owners ?? []);
    // Baseline ids name directories: the baseline store's rule (letters, digits, _ and -).
    const baselineId = { pattern: /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, patternName: 'a baseline id (letters, digits, _ and -, at most 63)' };
    const baseline = o.baseline === undefined ? undefined : r.string([...p, 'baseline'], o.baseline, baselineId);
    let explain: DataStoreSpec['explain'];
    if (o.explain !== undefined) {
      const e = r.object([...p, 'explain'], o.explain, ['urlEnv']);
      const urlEnv = e && r.string([...p, 'explain', 'urlEnv'], e.urlEnv, { pattern: /^[A-Za-z_][A-Za-z0-9_]{0,127}$/, patternName: 'an environment variable name' });
      if (urlEnv) explain = { urlEnv };
    }
    if (id && environment && engine && owners && r.issues.length === before) dataStores.push({ id, environment, engine, owners, ...(baseline ? { baseline } : {}), ...(explain ? { explain } : {}) });
  });

  const zoneSpecs: ZoneSpec[] = [];
  (r.array(['zones'], root.zones ?? []) ?? []).forEach((raw, i) => {
    const p = ['zones', i];
    const o = r.object(p, raw, ['name', 'environment', 'cidrs', 'hosts', 'description']);
    if (!o) return;
    const name = r.string([...p, 'name'], o.name, { pattern: IDENTIFIER, patternName: IDENTIFIER_NAME });
    const environment = o.environment === undefined ? undefined : r.string([...p, 'environment'], o.environment, { pattern: IDENTIFIER, patternName: IDENTIFIER_NAME });
    const cidrs = r.stringList([...p, 'cidrs'], o.cidrs ?? []);
    const hosts = r.stringList([...p, 'hosts'], o.hosts ?? []);
    if (name && cidrs && hosts) zoneSpecs.push({ name, ...(environment ? { environment } : {}), cidrs, hosts });
  });

  // Graph: unique ids per environment, references resolve within the environment.
  const nodes = new Map<string, { node: InventoryNode & { dependents: InventoryNode[] } }>();
  const key = (environment: string, kind: string, id: string) => `${environment}\u0000${kind}\u0000${id}`;
  const add = (kind: 'service' | 'database', id: string, environment: string, replicas: number, traffic: number, owners: readonly string[], path: (string | number)[]) => {
    const k = key(environment, kind, id);
    if (nodes.has(k)) return r.fail(path, `duplicate ${kind} "${id}" in environment "${environment}"`);
    nodes.set(k, { node: { kind, id, environment, replicas, traffic, owners, dependents: [] } });
    return undefined;
  };
  services.forEach((s, i) => add('service', s.id, s.environment, s.replicas, s.traffic, s.owners, ['services', i, 'id']));
  dataStores.forEach((d, i) => add('database', d.id, d.environment, 1, 0, d.owners, ['dataStores', i, 'id']));
  services.forEach((s, i) => {
    const self = nodes.get(key(s.environment, 'service', s.id))?.node;
    if (!self) return;
    const link = (kind: 'service' | 'database', ref: string, path: (string | number)[]) => {
      const target = nodes.get(key(s.environment, kind, ref))?.node;
      if (!target) return r.fail(path, `unknown ${kind} "${ref}" in environment "${s.environment}"`);
      (target.dependents as InventoryNode[]).push(self);
      return undefined;
    };
    s.dependsOn.forEach((ref, j) => link('service', ref, ['services', i, 'dependsOn', j]));
    s.dataStores.forEach((ref, j) => link('database', ref, ['services', i, 'dataStores', j]));
  });

  const zones = compileZones(zoneSpecs);
  if (!zones.ok) {
    for (const issue of zones.issues) r.fail(issue.path.split(/[.[\]]+/).filter(Boolean).map((s) => (/^\d+$/.test(s) ? Number(s) : s)), issue.message);
  }
  if (r.issues.length > 0 || !zones.ok) return { ok: false, issues: r.issues };

  const environments = new Set<string>([...services.map((s) => s.environment), ...dataStores.map((d) => d.environment)]);
  for (const z of zoneSpecs) if (z.environment) environments.add(z.environment);
  const index = new Map<string, InventoryNode>();
  for (const [k, v] of nodes) index.set(k, v.node);
  return {
    ok: true,
    value: {
      spec: { services, dataStores, zones: zoneSpecs },
      zones: zones.value,
      environments,
      find: (environment, kind, id) => index.get(key(environment, kind, id)),
    },
  };
}
