import type { Kill } from '../../control/kill-switch.js';
import type { Grant } from '../../control/grants.js';
import { apiClient, SERVER_FLAGS_HELP, serverFlags } from '../api-client.js';
import { parseFlags, UsageError, type Command } from '../args.js';

const SCOPES = ['environment', 'agent', 'role', 'tool', 'session'] as const;

const describeKill = (k: Kill) =>
  `${k.id}  ${k.state}  ${k.scope.kind === 'global' ? 'everything' : `${k.scope.kind}=${k.scope.value}`}  by ${k.by} at ${k.at}${k.persisted === false ? '  (not stored yet: holds on this server, retried)' : ''}  "${k.reason}"`;

export const killCommand: Command = {
  name: 'kill',
  summary: 'stop agents now: everything, an environment, agent, role, tool or session',
  help: `Usage: governor kill --global --reason TEXT
       governor kill --agent ID | --environment ENV | --role ROLE | --tool TOOL | --session ID --reason TEXT
       governor kill --list [--all]
       (each with [--url URL] [--token TOKEN] [--json])

From the moment this returns, every new decision in scope is a deny with code
KILLED; held actions in scope are cancelled; agent credentials and grants in
scope are revoked (a still-unexpired token is refused); proxied sessions in
scope are closed. The kill holds until an operator lifts it (governor resume
ID) and survives restarts. It is never gated by policy, only by the operator
credential.

  --list            the active kills (--all: lifted ones too)
${SERVER_FLAGS_HELP}`,
  async run(argv, io) {
    const { values } = parseFlags(argv, {
      ...serverFlags,
      global: { type: 'boolean', default: false },
      environment: { type: 'string' },
      agent: { type: 'string' },
      role: { type: 'string' },
      tool: { type: 'string' },
      session: { type: 'string' },
      reason: { type: 'string' },
      list: { type: 'boolean', default: false },
      all: { type: 'boolean', default: false },
    });
    const api = apiClient(values, io);
    if (values.list) {
      const { kills } = await api.call<{ kills: Kill[] }>('GET', `/v1/kill${values.all ? '?all=true' : ''}`);
      if (values.json) io.out(JSON.stringify(kills, null, 2));
      else if (kills.length === 0) io.out('no active kills');
      else kills.forEach((k) => io.out(describeKill(k)));
      return 0;
    }
    const given = SCOPES.filter((s) => values[s] !== undefined);
    if (given.length + (values.global ? 1 : 0) !== 1) throw new UsageError('give exactly one scope: --global, --environment, --agent, --role, --tool or --session');
    if (!values.reason?.trim()) throw new UsageError('--reason is required');
    const kind = given[0];
    const scope = kind === undefined ? { kind: 'global' } : { kind, value: values[kind] };
    const kill = await api.call<Kill>('POST', '/v1/kill', { scope, reason: values.reason });
    io.out(values.json ? JSON.stringify(kill, null, 2) : `killed: ${describeKill(kill)}\nlift it with: governor resume ${kill.id} --reason TEXT`);
    return 0;
  },
};

export const resumeCommand: Command = {
  name: 'resume',
  summary: 'lift a kill (a tripped circuit breaker too)',
  help: `Usage: governor resume ID --reason TEXT [--url URL] [--token TOKEN] [--json]

Lifts kill ID: decisions in its scope are evaluated again. Credentials issued
before the kill stay revoked: agents need new ones.

${SERVER_FLAGS_HELP}`,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { ...serverFlags, reason: { type: 'string' } }, 1);
    const id = positionals[0];
    if (!id) throw new UsageError('missing the kill ID (see governor kill --list)');
    if (!values.reason?.trim()) throw new UsageError('--reason is required');
    const kill = await apiClient(values, io).call<Kill>('POST', `/v1/kill/${encodeURIComponent(id)}/lift`, { reason: values.reason });
    io.out(values.json ? JSON.stringify(kill, null, 2) : `lifted: ${describeKill(kill)}`);
    return 0;
  },
};

export const grantsCommand: Command = {
  name: 'grants',
  summary: 'sandbox grants: scoped, time-limited, single-task permissions',
  help: `Usage: governor grants create --agent ID --task ID --environments E1,E2 --tools T1,T2 [--targets X,Y] --ttl DURATION --max-uses N [--reason TEXT]
       governor grants list [--agent ID]
       governor grants revoke ID --reason TEXT
       (each with [--url URL] [--token TOKEN] [--json])

An agent whose trust level does not cover an environment (a new agent: none)
acts there only under a grant bound to its credential's task, within the
grant's environments, tools and targets, until it expires or its uses run out.

${SERVER_FLAGS_HELP}`,
  async run(argv, io) {
    const sub = argv[0];
    const { values, positionals } = parseFlags(
      argv.slice(1),
      {
        ...serverFlags,
        agent: { type: 'string' },
        task: { type: 'string' },
        environments: { type: 'string' },
        tools: { type: 'string' },
        targets: { type: 'string' },
        ttl: { type: 'string' },
        'max-uses': { type: 'string' },
        reason: { type: 'string' },
      },
      1,
    );
    const api = apiClient(values, io);
    const list = (text: string | undefined) => (text ?? '').split(',').map((t) => t.trim()).filter(Boolean);
    const show = (g: Grant) => `${g.id}  ${g.state}  agent ${g.agent} task ${g.taskId}  ${g.scope.tools.join(',')} in ${g.scope.environments.join(',')}${g.scope.targets.length ? ` on ${g.scope.targets.join(',')}` : ''}  uses ${g.uses}/${g.maxUses}  until ${g.expiresAt}`;
    if (sub === 'create') {
      if (!values.agent || !values.task || !values.environments || !values.tools || !values.ttl || !values['max-uses']) {
        throw new UsageError('--agent, --task, --environments, --tools, --ttl and --max-uses are required');
      }
      const maxUses = Number(values['max-uses']);
      if (!Number.isSafeInteger(maxUses) || maxUses < 1) throw new UsageError('--max-uses must be a positive integer');
      const grant = await api.call<Grant>('POST', '/v1/grants', {
        agent: values.agent,
        taskId: values.task,
        scope: { environments: list(values.environments), tools: list(values.tools), targets: list(values.targets) },
        ttl: values.ttl,
        maxUses,
        ...(values.reason ? { reason: values.reason } : {}),
      });
      io.out(values.json ? JSON.stringify(grant, null, 2) : show(grant));
      return 0;
    }
    if (sub === 'list') {
      const { grants } = await api.call<{ grants: Grant[] }>('GET', `/v1/grants${values.agent ? `?agent=${encodeURIComponent(values.agent)}` : ''}`);
      if (values.json) io.out(JSON.stringify(grants, null, 2));
      else if (grants.length === 0) io.out('no grants');
      else grants.forEach((g) => io.out(show(g)));
      return 0;
    }
    if (sub === 'revoke') {
      const id = positionals[0];
      if (!id || !values.reason?.trim()) throw new UsageError('usage: governor grants revoke ID --reason TEXT');
      io.out(show(await api.call<Grant>('POST', `/v1/grants/${encodeURIComponent(id)}/revoke`, { reason: values.reason })));
      return 0;
    }
    throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'missing subcommand: create, list or revoke');
  },
};
