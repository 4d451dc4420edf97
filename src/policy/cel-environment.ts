import { Environment } from '@marcbachmann/cel-js';
import type { Action, Impact, Principal } from '../core/types.js';

/*
 * The typed CEL environment rule conditions are checked against. Each variable is
 * a registered type with declared fields, so `action.envirnoment` or
 * `impact.replicas == "3"` is rejected when the policy loads, not at decision time.
 * The context objects are built once per decision and shared by every rule.
 */

class CelPrincipal {
  constructor(
    readonly agent: string,
    readonly instance: string,
    readonly role: string,
    readonly session: string,
    readonly task: string,
  ) {}
}

class CelAction {
  constructor(
    readonly tool: string,
    readonly operation: string,
    readonly environment: string,
    readonly targets: readonly string[],
    readonly endpoints: readonly string[],
    readonly params: Readonly<Record<string, unknown>>,
    readonly sql: string,
    readonly taskId: string,
    readonly intent: string,
  ) {}
}

class CelImpactSql {
  // `class` cannot name a constructor parameter, so it is assigned in the body.
  readonly class: string;
  constructor(
    cls: string,
    readonly destructive: boolean,
    readonly writes: boolean,
    readonly ddl: boolean,
  ) {
    this.class = cls;
  }
}

class CelImpactDrift {
  constructor(readonly drifting: boolean) {}
}

class CelImpact {
  constructor(
    readonly known: boolean,
    readonly replicas: number,
    readonly trafficFraction: number,
    readonly totalTrafficFraction: number,
    readonly dependents: readonly string[],
    readonly reversible: boolean,
    readonly zones: readonly string[],
    readonly rows: number,
    readonly rowFraction: number,
    readonly sql: CelImpactSql,
    readonly drift: CelImpactDrift,
  ) {}
}

// What an action without SQL or a configuration document shows: nothing written, nothing drifting.
const NO_SQL = new CelImpactSql('', false, false, false);
const NO_DRIFT = new CelImpactDrift(false);
const DRIFTING = new CelImpactDrift(true);

/** The variables a condition sees, documented in docs/policy.md. */
export interface CelContext {
  readonly principal: CelPrincipal;
  readonly action: CelAction;
  readonly impact: CelImpact;
}

/** Creates the CEL environment with Governor's typed variables and parse-time limits. */
export function createCelEnvironment(): Environment {
  return new Environment({ limits: { maxAstNodes: 500, maxDepth: 32, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 16 } })
    .registerType('Principal', { ctor: CelPrincipal, fields: { agent: 'string', instance: 'string', role: 'string', session: 'string', task: 'string' } })
    .registerType('Action', {
      ctor: CelAction,
      fields: {
        tool: 'string',
        operation: 'string',
        environment: 'string',
        targets: 'list<string>',
        endpoints: 'list<string>',
        params: 'map<string, dyn>',
        sql: 'string',
        taskId: 'string',
        intent: 'string',
      },
    })
    .registerType('ImpactSql', { ctor: CelImpactSql, fields: { class: 'string', destructive: 'bool', writes: 'bool', ddl: 'bool' } })
    .registerType('ImpactDrift', { ctor: CelImpactDrift, fields: { drifting: 'bool' } })
    .registerType('Impact', {
      ctor: CelImpact,
      fields: {
        known: 'bool',
        replicas: 'double',
        trafficFraction: 'double',
        totalTrafficFraction: 'double',
        dependents: 'list<string>',
        reversible: 'bool',
        zones: 'list<string>',
        rows: 'double',
        rowFraction: 'double',
        sql: 'ImpactSql',
        drift: 'ImpactDrift',
      },
    })
    .registerVariable('principal', 'Principal')
    .registerVariable('action', 'Action')
    .registerVariable('impact', 'Impact');
}

/** Builds the context for one decision. `action.targets` are the target ids. */
export function createCelContext(principal: Principal, action: Action, impact: Impact): CelContext {
  return {
    principal: new CelPrincipal(principal.agent, principal.instance, principal.role, principal.session, principal.task ?? ''),
    action: new CelAction(
      action.tool,
      action.operation ?? '',
      action.environment,
      (action.targets ?? []).map((t) => t.id),
      action.endpoints ?? [],
      action.params ?? {},
      action.sql ?? '',
      action.taskId ?? '',
      action.intent ?? '',
    ),
    impact: new CelImpact(
      impact.known,
      impact.replicas,
      impact.trafficFraction,
      impact.totalTrafficFraction,
      impact.dependents,
      impact.reversible,
      impact.endpoints.map((e) => e.zone ?? ''),
      // An unknown row estimate is over every ceiling: Infinity rows, the whole table.
      impact.rowEstimate ? (impact.rowEstimate.known ? (impact.rows ?? 0) : Infinity) : 0,
      impact.rowEstimate ? (impact.rowEstimate.known ? (impact.rowFraction ?? 0) : 1) : 0,
      impact.sql ? new CelImpactSql(impact.sql.class, impact.sql.destructive, impact.sql.writes, impact.sql.ddl) : NO_SQL,
      impact.drift ? (impact.drift.drifting ? DRIFTING : NO_DRIFT) : NO_DRIFT,
    ),
  };
}
