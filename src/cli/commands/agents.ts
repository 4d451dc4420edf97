import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { nodeAuditCrypto } from '../../audit/node-crypto.js';
import { createAgentRegistry, TRUST_LEVELS, type AgentCard, type AgentRegistry } from '../../control/agents.js';
import { openStore } from '../../main.js';
import type { Store } from '../../store/store.js';
import { apiClient, SERVER_FLAGS_HELP, serverFlags } from '../api-client.js';
import { configFlag, parseFlags, UsageError, type Command, type Io } from '../args.js';

/** Opens the store a policy's data dir (or --database-url) holds, with an agent registry on it. */
export async function openAgentRegistry(values: { config: string; 'data-dir'?: string | undefined; 'database-url'?: string | undefined }, io: Io): Promise<{ registry: AgentRegistry; store: Store }> {
  const dataDir = values['data-dir'] ? resolve(io.cwd, values['data-dir']) : join(dirname(resolve(io.cwd, values.config)), '.governor');
  const databaseUrl = values['database-url'] ?? io.env.GOVERNOR_DATABASE_URL;
  const store = await openStore({ dataDir, ...(databaseUrl ? { databaseUrl } : {}) });
  const registry = createAgentRegistry({
    store,
    clock: Date.now,
    crypto: nodeAuditCrypto,
    // The server signs checkpoints over these leaves when it next runs.
    audit: { appended: () => undefined },
    trust: () => {
      throw new UsageError('promotion goes through the server: governor agents promote ID --url URL');
    },
  });
  return { registry, store };
}

const storeFlags = { ...configFlag, 'data-dir': { type: 'string' }, 'database-url': { type: 'string' } } as const;

export const agentsCommand: Command = {
  name: 'agents',
  summary: 'register, list and promote agents (agent cards, trust levels)',
  help: `Usage: governor agents register ID --owner TEAM --purpose TEXT [--tools T1,T2] [--data-access D1,D2]
                       [--autonomy suggest|supervised|autonomous] [--risk-tier low|medium|high]
                       [--trust new|sandbox|staging|production] [--config FILE] [--data-dir DIR] [--database-url URL]
       governor agents list [--config FILE] [--data-dir DIR] [--database-url URL] [--json]
       governor agents show ID [--url URL] [--token TOKEN]
       governor agents promote ID --reason TEXT [--url URL] [--token TOKEN]

An agent card says who owns an agent, what it is for, which tools and data it
may touch, how autonomous it is and how far it is trusted. An agent without a
card gets no credential and its actions are denied. New agents start at trust
level new: they act only under sandbox grants (POST /v1/grants) until an
operator promotes them (new -> sandbox -> staging -> production) once they meet
the policy's criteria; a tripped circuit breaker demotes them one level.

register and list work on the store directly (like token issue, they need the
data dir); show and promote go through the server with an operator credential.

  --trust LEVEL     the level to start at (default new)
${SERVER_FLAGS_HELP}`,
  async run(argv, io) {
    const sub = argv[0];
    const rest = argv.slice(1);
    if (sub === 'register') {
      const { values, positionals } = parseFlags(
        rest,
        {
          ...storeFlags,
          owner: { type: 'string' },
          purpose: { type: 'string' },
          tools: { type: 'string' },
          'data-access': { type: 'string' },
          autonomy: { type: 'string' },
          'risk-tier': { type: 'string' },
          trust: { type: 'string' },
          json: { type: 'boolean', default: false },
        },
        1,
      );
      const id = positionals[0];
      if (!id) throw new UsageError('missing the agent ID');
      if (!values.owner || !values.purpose) throw new UsageError('--owner and --purpose are required');
      if (values.trust !== undefined && !(TRUST_LEVELS as readonly string[]).includes(values.trust)) throw new UsageError(`--trust must be one of ${TRUST_LEVELS.join(', ')}`);
      const list = (text: string | undefined) => (text ?? '').split(',').map((t) => t.trim()).filter(Boolean);
      const { registry, store } = await openAgentRegistry(values, io);
      try {
        const card = await registry.register(
          { name: `cli:${userInfo().username}`, groups: [] },
          {
            id,
            owner: values.owner,
            purpose: values.purpose,
            tools: list(values.tools),
            dataAccess: list(values['data-access']),
            ...(values.autonomy ? { autonomy: values.autonomy as AgentCard['autonomy'] } : {}),
            ...(values['risk-tier'] ? { riskTier: values['risk-tier'] as AgentCard['riskTier'] } : {}),
            ...(values.trust ? { trust: values.trust as AgentCard['trust'] } : {}),
          },
        );
        io.out(values.json ? JSON.stringify(card, null, 2) : `registered agent ${card.id} (owner ${card.owner}, trust ${card.trust})`);
      } finally {
        await store.close();
      }
      return 0;
    }
    if (sub === 'list') {
      const { values } = parseFlags(rest, { ...storeFlags, json: { type: 'boolean', default: false } });
      const { registry, store } = await openAgentRegistry(values, io);
      try {
        const cards = await registry.list();
        if (values.json) io.out(JSON.stringify(cards, null, 2));
        else if (cards.length === 0) io.out('no agents registered');
        else for (const c of cards) io.out(`${c.id}  trust ${c.trust}  owner ${c.owner}  ${c.purpose}`);
      } finally {
        await store.close();
      }
      return 0;
    }
    if (sub === 'show' || sub === 'promote') {
      const { values, positionals } = parseFlags(rest, { ...serverFlags, reason: { type: 'string' } }, 1);
      const id = positionals[0];
      if (!id) throw new UsageError('missing the agent ID');
      const api = apiClient(values, io);
      if (sub === 'show') {
        io.out(JSON.stringify(await api.call('GET', `/v1/agents/${encodeURIComponent(id)}`), null, 2));
        return 0;
      }
      if (!values.reason?.trim()) throw new UsageError('--reason is required');
      const card = await api.call<AgentCard>('POST', `/v1/agents/${encodeURIComponent(id)}/promote`, { reason: values.reason });
      io.out(values.json ? JSON.stringify(card, null, 2) : `agent ${card.id} is now at trust level ${card.trust}`);
      return 0;
    }
    throw new UsageError(sub ? `unknown subcommand "${sub}"` : 'missing subcommand: register, list, show or promote');
  },
};
