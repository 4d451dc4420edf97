import type { Action, EndpointImpact, Impact, ResourceImpact } from '../core/types.js';
import type { ToolSpec } from '../policy/policy.js';
import type { Inventory, InventoryNode } from './inventory.js';
import { normalizeEndpoint } from './network/index.js';

/**
 * Predicts the blast radius of a normalized action: the replicas it touches,
 * the traffic they serve, every service that depends on them (transitively),
 * the zones of its endpoints and whether it can be undone. Pure and total:
 * anything it cannot account for makes the impact `known: false`, which every
 * ceiling treats as over the limit.
 */
export function predictImpact(action: Action, tool: ToolSpec | undefined, inventory: Inventory, problems: readonly string[] = []): Impact {
  const unknown = [...problems];
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

  const reversible = action.reversible === true;
  const irreversibleBecause = reversible
    ? undefined
    : !tool
      ? `tool "${action.tool}" is not in the catalog, so it counts as irreversible`
      : !tool.reversible
        ? `the catalog marks tool "${tool.name}" irreversible`
        : 'the agent declared the action irreversible';

  return {
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
}

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
