import type { Action, EndpointImpact, Impact, ResourceImpact } from '../core/types.js';
import type { ToolSpec } from '../policy/policy.js';
import { dataImpact, type ActionFacts } from './action-facts.js';
import type { Inventory, InventoryNode } from './inventory.js';
import { normalizeEndpoint } from './network/index.js';

/**
 * Predicts the blast radius of a normalized action: the replicas it touches,
 * the traffic they serve, every service that depends on them (transitively),
 * the zones of its endpoints and whether it can be undone. Pure and total:
 * anything it cannot account for makes the impact `known: false`, which every
 * ceiling treats as over the limit.
 *
 * With `facts` from the analyzers, the impact also says what the action's SQL
 * does (statements, rows, drift) and whether its configuration document
 * drifts; SQL without facts counts as the worst SQL. An analyzer failure makes
 * the impact unknown.
 */
export function predictImpact(action: Action, tool: ToolSpec | undefined, inventory: Inventory, problems: readonly string[] = [], facts?: ActionFacts): Impact {
  const unknown = [...problems];
  if (facts?.failure !== undefined) unknown.push(facts.failure);
  if (!tool) unknown.push(`tool "${action.tool}" is not in the catalog`);
  if (!inventory.environments.has(action.environment)) unknown.push(`environment "${action.environment}" is not in the inventory`);

  const resources: ResourceImpact[] = [];
  const exposure = new Map<InventoryNode, number>();
  const targetNodes = new Set<InventoryNode>();
  let replicas = 0;
  let trafficFraction = 0;

  for (const target of action.targets ?? []) {
    const node = inventory.find(action.environment, target.kind, target.id);
    if (!node) {
      unknown.push(`${target.kind} "${target.id}" is not in the inventory of environment "${action.environment}"`);
      continue;
    }
    const affected =
      target.count !== undefined
        ? Math.min(target.count, node.replicas)
        : target.fraction !== undefined
          ? Math.min(node.replicas, Math.ceil(target.fraction * node.replicas - 1e-9))
          : node.replicas;
    const fraction = node.replicas === 0 ? 0 : affected / node.replicas;
    if (targetNodes.has(node)) continue;
    targetNodes.add(node);
    replicas += affected;
    trafficFraction += node.traffic * fraction;
    resources.push(resource(node, 'target', affected, fraction));
    exposure.set(node, Math.max(exposure.get(node) ?? 0, fraction));
  }

  // Transitive dependents inherit the largest share of any target they reach.
  const queue = [...targetNodes];
  while (queue.length > 0) {
    const node = queue.shift() as InventoryNode;
    const share = exposure.get(node) ?? 0;
    for (const dependent of node.dependents) {
      if ((exposure.get(dependent) ?? -1) >= share) continue;
      exposure.set(dependent, share);
      queue.push(dependent);
    }
  }
  const dependents: string[] = [];
  for (const [node, share] of exposure) {
    if (targetNodes.has(node)) continue;
    dependents.push(node.id);
    resources.push(resource(node, 'dependent', 0, share));
  }
  const totalTrafficFraction = Math.min(1, resources.reduce((sum, r) => sum + r.trafficFraction, 0));

  const endpoints: EndpointImpact[] = (action.endpoints ?? []).map((input) => {
    const parsed = normalizeEndpoint(input);
    if (!parsed.ok) return { input, host: null, port: null, zone: null, zoneEnvironment: null };
    const zone = inventory.zones.classify(parsed.value);
    return { input, host: parsed.value.host, port: parsed.value.port, zone: zone?.name ?? null, zoneEnvironment: zone?.environment ?? null };
  });

  // Only the analyzers' data facts are looked at when there is SQL or a configuration document to look at.
  const data = action.sql !== undefined || tool?.config ? dataImpact(action, tool, facts) : undefined;
  // SQL that cannot be undone makes the action irreversible, unless the tool snapshots what it changes first.
  const dataIrreversible = tool?.snapshot ? undefined : data?.irreversibleBecause;
  const reversible = action.reversible === true && dataIrreversible === undefined;
  const irreversibleBecause = reversible
    ? undefined
    : dataIrreversible !== undefined
      ? dataIrreversible
      : !tool
        ? `tool "${action.tool}" is not in the catalog, so it counts as irreversible`
        : !tool.reversible
          ? `the catalog marks tool "${tool.name}" irreversible`
          : 'the agent declared the action irreversible';

  const impact: Mutable<Impact> = {
    known: unknown.length === 0,
    unknown,
    replicas,
    trafficFraction: Math.min(1, trafficFraction),
    totalTrafficFraction,
    dependents,
    reversible,
    ...(irreversibleBecause ? { irreversibleBecause } : {}),
    ...(action.inverse ? { inverse: action.inverse } : {}),
    resources,
    endpoints,
  };
  if (data) {
    if (data.sql) impact.sql = data.sql;
    if (data.rows !== undefined) impact.rows = data.rows;
    if (data.rowFraction !== undefined) impact.rowFraction = data.rowFraction;
    if (data.rowEstimate) impact.rowEstimate = data.rowEstimate;
    if (data.drift) impact.drift = data.drift;
  }
  return impact;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function resource(node: InventoryNode, relation: 'target' | 'dependent', affectedReplicas: number, fraction: number): ResourceImpact {
  return {
    kind: node.kind,
    id: node.id,
    environment: node.environment,
    relation,
    replicas: node.replicas,
    affectedReplicas,
    fraction,
    traffic: node.traffic,
    trafficFraction: node.traffic * fraction,
  };
}
